"""The answer is not in the library: a watch over the learner's function while `check()` runs it.

Every exercise names the library callables that *are* its answer (`Exercise.library_answers`: its
reference and what the reference stands for, e.g. `groups.DihedralGroup.compose` for
`groups.dihedral_compose`). While the learner's function runs on a case, a profile hook
(`sys.setprofile`, and `threading.setprofile` for threads it starts) looks at the code of every
Python function that starts: when it is the code of one of those callables, whatever name, alias,
`getattr`, `importlib` (or `importlib.reload`) reached it, the call is recorded (the answer it gave
then fails, whatever the function did next). Code is recognised by (file, first line, qualified name),
so a reloaded module or a function rebuilt from the same code object is the same code. Turning the
hook off (`sys.setprofile`, `threading.setprofile`) while it watches counts as reaching the answer.

Everything else the learner calls (the library's building blocks, torch) runs untouched. Limits:
the hook lives in the learner's process, so a copy of the library's source text under another file
name, a thread started before the check, or a subprocess is not seen.

This is advice for the learner's own `check()`; the grade does not rest on it. Under the grader the
answers are not in the kernel at all (`course_lib.grading.reference_free`): each exercise runs in a
kernel whose course_lib has that exercise's answers removed, which no hook, thread or copy evades.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import sys
import threading
from types import CodeType, FrameType
from typing import Any, Callable, Iterable, Iterator


def code_of(fn: Callable) -> CodeType:
    """The Python code that runs when `fn` is called: a function's, a method's, a partial's function's,
    a class's `__init__`, or a callable object's `__call__`; ValueError for a callable without any
    (a builtin)."""
    target: Any = inspect.unwrap(fn)
    while isinstance(target, functools.partial):
        target = target.func
    target = getattr(target, "__func__", target)  # bound methods, classmethods, staticmethods
    if inspect.isclass(target):
        target = target.__init__
    elif not inspect.isfunction(target) and hasattr(type(target), "__call__") and not inspect.isbuiltin(target):
        target = type(target).__call__
    target = getattr(target, "__func__", target)
    code = getattr(target, "__code__", None)
    if not isinstance(code, CodeType):
        raise ValueError(f"expected a Python function, method or class as a library answer, got {fn!r}")
    return code


def _has_code(fn: Callable) -> bool:
    try:
        code_of(fn)
    except ValueError:
        return False
    return True


def _key(code: CodeType) -> tuple[str, int, str]:
    return os.path.realpath(code.co_filename), code.co_firstlineno, code.co_qualname


def describe(fn: Callable) -> str:
    """'course_lib.groups.DihedralGroup.compose': where a library answer lives, for a message."""
    code = code_of(fn)
    module = getattr(inspect.unwrap(fn), "__module__", None) or os.path.basename(code.co_filename)
    name = code.co_qualname.removesuffix(".__init__")
    return f"{module}.{name}"


class Watch:
    """Which library answers the learner's code reached (`reached`, in order) while watched, and
    whether it tried to turn the watch off (`turned_off`)."""

    def __init__(self, answers: Iterable[Callable]):
        answers = [fn for fn in answers if _has_code(fn)]  # a builtin reference cannot be watched
        self.names = {_key(code_of(fn)): describe(fn) for fn in answers}
        self.files = {key[0] for key in self.names} | {code_of(fn).co_filename for fn in answers}
        self.reached: list[str] = []
        self.turned_off = False

    def _profile(self, frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            code = frame.f_code
            if code.co_filename in self.files and (name := self.names.get(_key(code))) is not None:
                self.reached.append(name)
            elif code is _THREADING_SETPROFILE and frame.f_back.f_code is not _WATCHING:
                self.turned_off = True
        elif event == "c_call" and arg is sys.setprofile and frame.f_code is not _WATCHING:
            self.turned_off = True

    @contextlib.contextmanager
    def watching(self) -> Iterator[Watch]:
        """Watch the code run inside the block (this thread and threads it starts)."""
        before, before_threads = sys.getprofile(), threading.getprofile()
        threading.setprofile(self._profile)
        sys.setprofile(self._profile)
        try:
            yield self
        finally:
            sys.setprofile(before)
            threading.setprofile(before_threads)

    def objection(self) -> str | None:
        """What the learner reads when their function reached the library's answer (None when not)."""
        if self.turned_off:
            return "turns off the watch for the library's answer (sys.setprofile), which earns nothing"
        if self.reached:
            return (f"calls {self.reached[0]}, which is the library's own answer to this exercise: write it "
                    f"yourself (the library's building blocks are fine)")
        return None


_WATCHING = Watch.watching.__wrapped__.__code__
_THREADING_SETPROFILE = threading.setprofile.__code__
