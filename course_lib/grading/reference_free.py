"""The library a kernel imports: a copy of course_lib without the exercise's answer (issue 22).

The grader judges answers in its own process, with its own references, so the kernel needs the
exercise's cases but never its reference. `library_without(names)` writes, once per process, a
copy of course_lib in which the code of each named exercise's library answers (`Exercise.
library_answers`: the reference and what it stands for, `answer_in_library`) is gone: each such
function's or method's body (every method, for a class; the expression, for a lambda) is replaced
by `raise RuntimeError(...)` (not NotImplementedError, which means an untouched stub), and no
byte code is copied. The sandbox shows the kernel only
this copy (the real course_lib, the project folder and the source notebooks are hidden), so no
code in the kernel can compute the expected answers but the learner's own.

Since one exercise's answer can be another's building block (a correct `homomorphism_error` composes
with `DihedralGroup.compose`, the answer of `dihedral_compose`), each exercise is graded in a kernel
of its own, with only its own answers removed (`judge.grade_notebook`).

Not removed: an answer that is not Python code in course_lib (a torch builtin), and the same
computation written elsewhere in course_lib under another name (listed by `unremovable`).
"""

from __future__ import annotations

import ast
import atexit
import functools
import inspect
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterable

from course_lib import checks
from course_lib.grading import library_answer, sandbox


def _targets(fn: Callable) -> tuple[str, int, str, bool] | None:
    """(file, first line, qualified name, whole class) of a library answer's code; None when it has none."""
    whole_class = inspect.isclass(fn)
    try:
        code = library_answer.code_of(fn)
    except ValueError:
        return None
    name = code.co_qualname.removesuffix(".__init__") if whole_class else code.co_qualname
    line = inspect.getsourcelines(fn)[1] if whole_class else code.co_firstlineno
    return os.path.realpath(code.co_filename), line, name, whole_class


def unremovable(names: Iterable[str]) -> list[str]:
    """The library answers of these exercises that cannot be removed (no Python code in course_lib)."""
    lib = str(sandbox.library_folder())
    out = []
    for name in names:
        for fn in checks.exercise(name).library_answers:
            target = _targets(fn)
            if target is None or not target[0].startswith(lib + os.sep):
                out.append(f"{name}: {fn!r}")
    return out


def _absent(what: str) -> ast.stmt:
    return ast.parse(f"raise RuntimeError({what!r} + ' is not available while grading: it is the "
                     f"answer to an exercise')").body[0]


class _Remove(ast.NodeTransformer):
    """Replace the bodies of the functions, classes and lambdas at `targets` {(line, qualname): whole class}."""

    def __init__(self, targets: dict[tuple[int, str], bool]):
        self.targets, self.stack, self.removed = targets, [], set()

    def _qualname(self, name: str) -> str:
        return ".".join([*self.stack, name])

    def _hit(self, node, name: str) -> bool | None:
        lines = {node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))}
        for (line, qualname), whole in self.targets.items():
            if qualname == self._qualname(name) and line in lines:
                self.removed.add((line, qualname))
                return whole
        return None

    def visit_FunctionDef(self, node):
        if self._hit(node, node.name) is not None:
            node.body = [_absent(self._qualname(node.name))]
            return node
        self.stack += [node.name, "<locals>"]
        self.generic_visit(node)
        del self.stack[-2:]
        return node

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):
        whole = self._hit(node, node.name)
        self.stack.append(node.name)
        if whole:
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    item.body = [_absent(self._qualname(item.name))]
        else:
            self.generic_visit(node)
        self.stack.pop()
        return node

    def visit_Lambda(self, node):
        if self._hit(node, "<lambda>") is not None:
            thrower = ast.parse("(_ for _ in ()).throw(RuntimeError('a reference is not available "
                                "while grading'))", mode="eval").body
            node.body = ast.copy_location(thrower, node.body)
            return node
        return self.generic_visit(node)


def strip(lib: Path, names: Iterable[str]) -> None:
    """Remove, in the course_lib copy at `lib`, the library answers of the exercises `names`."""
    real = sandbox.library_folder()
    by_file: dict[str, dict[tuple[int, str], bool]] = {}
    for name in names:
        for fn in checks.exercise(name).library_answers:
            target = _targets(fn)
            if target is not None and target[0].startswith(str(real) + os.sep):
                by_file.setdefault(target[0], {})[(target[1], target[2])] = target[3]
    for file, targets in by_file.items():
        copy = lib / Path(file).relative_to(real)
        tree = ast.parse(Path(file).read_text(), filename=file)
        remover = _Remove(targets)
        tree = ast.fix_missing_locations(remover.visit(tree))
        if missed := set(targets) - remover.removed:
            raise RuntimeError(f"could not find {sorted(missed)} in {file} to remove it")
        copy.write_text(ast.unparse(tree) + "\n")


@functools.cache
def library_without(names: tuple[str, ...], under: Path | None = None) -> Path:
    """A folder holding a course_lib copy without the answers of exercises `names`, made once per
    process and folder `under` (default: the system's temp directory; the batch gives its scratch folder,
    so that the copies go with it), world-readable: the kernel imports it."""
    top = Path(tempfile.mkdtemp(prefix="course-lib-", dir=under))
    shutil.copytree(sandbox.library_folder(), top / "course_lib",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    strip(top / "course_lib", names)
    for folder, dirs, files in os.walk(top):
        os.chmod(folder, 0o755)
        for f in files:
            os.chmod(os.path.join(folder, f), 0o644)
    if under is None:
        atexit.register(shutil.rmtree, top, ignore_errors=True)
    return top
