"""Self-checks for exercises: `check("groups.dihedral_compose", dihedral_compose)`.

No chapter of its own: the introduction, section "How the exercises work", describes the check;
each chapter's exercises are specified in course_lib/checks/<chapter>.py.

An exercise is specified once, in `course_lib/checks/<chapter>.py`, as an `Exercise`: the cases
(inputs) to run, the library's reference function, tolerances and a hint. The same specification
serves the learner and the instructor:

* in a notebook, `check(name, fn)` runs `fn` on every case, compares each answer with the
  reference and prints a pass, a fail with a hint, or "not done yet" for an untouched stub;
* under the grader, the kernel only *records* the answers, as plain JSON (`answers_to_json`), and
  the grader decides pass/fail in its own process with the same `judge`. Nothing the learner's code
  does to `torch.allclose`, `assert` or `__eq__` can change a verdict, since answers are turned into
  plain numbers before anything compares them.

The answer is not in the library: while the learner's function runs, `course_lib.grading.library_answer`
watches for the callables that are the exercise's answer (`Exercise.library_answers`: the reference,
and what it stands for, `answer_in_library`); reaching one fails that case, in the learner's own
`check()` and under the grader alike. A new chapter's exercise gets its reference watched with no
declaration; one whose reference wraps a library function names that function.
"""

from __future__ import annotations

import importlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from course_lib.grading import library_answer

RECORD_DIR_ENV = "COURSE_RECORD_DIR"  # set by the grader: check() then writes the answers there


@dataclass(frozen=True)
class Case:
    """One input to the learner's function, described in words a learner can act on."""

    describe: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)


def call(fn: Callable, case: Case) -> Any:
    """The default way to get an answer: fn(*args, **kwargs)."""
    return fn(*case.args, **case.kwargs)


@dataclass(frozen=True)
class Exercise:
    """An exercise: its cases, the reference function and how closely answers must match it.

    `run(fn, case)` turns a function and a case into an answer (numbers, arrays or tensors, or
    tuples and lists of them); the default calls fn(*case.args, **case.kwargs).
    `answer_in_library`: the library callables the reference stands for (when it wraps them, e.g.
    `groups.DihedralGroup.compose`); with the reference, the learner's function must not reach them.
    """

    name: str
    reference: Callable
    cases: Callable[[], list[Case]]
    hint: str
    rtol: float = 1e-5
    atol: float = 1e-6
    run: Callable[[Callable, Case], Any] = call
    answer_in_library: tuple[Callable, ...] = ()

    @property
    def library_answers(self) -> tuple[Callable, ...]:
        """What the learner's function must not call: the reference and what it stands for."""
        return (self.reference, *self.answer_in_library)


class NotDifferentiable(ValueError):
    """An answer that a network could not be trained through: no graph back to what it is made from."""


def _weighted_sum(value: torch.Tensor) -> torch.Tensor:
    """A fixed, position-dependent weighting of every entry: a gradient that tells entries apart."""
    weights = torch.linspace(1.0, 2.0, value.numel(), dtype=value.real.dtype).reshape(value.shape)
    return (value * weights).real.sum() if value.is_complex() else (value * weights).sum()


def _real_flat(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """t as a flat real tensor: a complex gradient keeps its imaginary part (as (re, im) pairs)."""
    return (torch.view_as_real(t) if t.is_complex() else t).reshape(-1).to(dtype)


def input_gradient(run: Callable[[Callable, Case], Any] = call) -> Callable[[Callable, Case], Any]:
    """A `run` that returns [answer, gradient]: the gradient of a fixed weighted sum of the answer with
    respect to every floating-point tensor among the case's arguments and the parameters of every
    `torch.nn.Module` among them (one flat vector).

    For exercises whose answer is a layer, a loss or a residual: an answer built with numpy, returned
    as a float, detached, or rebuilt from numbers has no such gradient and fails with a reason
    (`NotDifferentiable`); one whose gradient differs from the reference's (an integer or rounding
    step, a `.detach()` on one term) fails on the gradient. The learner's function receives copies of
    the tensors that require grad, so a case's tensors are never changed.
    """

    def run_and_differentiate(fn: Callable, case: Case) -> Any:
        args = tuple(a.detach().clone().requires_grad_(True)
                     if isinstance(a, torch.Tensor) and (a.is_floating_point() or a.is_complex()) else a
                     for a in case.args)
        leaves = [a for a in args if isinstance(a, torch.Tensor) and a.requires_grad]
        leaves += [p for a in args if isinstance(a, torch.nn.Module) for p in a.parameters()]
        value = run(fn, Case(case.describe, args, case.kwargs))
        if not isinstance(value, torch.Tensor) or not value.requires_grad:
            raise NotDifferentiable(
                f"returned {'a ' + type(value).__name__ if not isinstance(value, torch.Tensor) else 'a tensor'} "
                "with no gradient back to its inputs (numpy, a float, .item(), .detach() or a new tensor "
                "built from numbers cut the graph), so a network could not be trained through it: stay "
                "with torch operations on the tensors you are given")
        grads = torch.autograd.grad(_weighted_sum(value), leaves, allow_unused=True)
        real = torch.float64 if value.dtype in (torch.float64, torch.complex128) else torch.float32
        flat = torch.cat([_real_flat(torch.zeros_like(leaf) if g is None else g, real)
                          for leaf, g in zip(leaves, grads)])
        return [value.detach(), flat]

    run_and_differentiate.differentiates = "its inputs"  # read by `judge` to say which part disagrees
    return run_and_differentiate


def parameter_gradient(run: Callable[[Callable, Case], Any] = call) -> Callable[[Callable, Case], Any]:
    """A `run` that returns (answer, gradient): the gradient of a fixed weighted sum of the answer
    with respect to the parameters of every `torch.nn.Module` among the case's arguments (flat).

    An answer that a network could not be trained through (computed without `create_graph=True`,
    detached, or rebuilt from numbers) has no such gradient and raises ValueError, so that a check
    built on it rejects the answer. Cases without a network return the answer alone.
    """

    def run_and_differentiate(fn: Callable, case: Case) -> Any:
        value = run(fn, case)
        params = [p for a in case.args if isinstance(a, torch.nn.Module) for p in a.parameters()]
        if not params:
            return value
        if not isinstance(value, torch.Tensor) or not value.requires_grad:
            raise NotDifferentiable("returned an answer that is not differentiable with respect to the "
                                    "network's parameters, so a network could not be trained through it")
        weights = torch.linspace(1.0, 2.0, value.numel(), dtype=value.dtype).reshape(value.shape)
        grads = torch.autograd.grad((value * weights).sum(), params, allow_unused=True)
        flat = torch.cat([torch.zeros(p.numel(), dtype=value.dtype) if g is None else g.reshape(-1).to(value.dtype)
                          for p, g in zip(params, grads)])
        return [value.detach(), flat]

    run_and_differentiate.differentiates = "the network's parameters"
    return run_and_differentiate


def by_short_name(*exercises: Exercise) -> dict[str, Exercise]:
    """A chapter's EXERCISES table: {"dihedral_compose": <Exercise groups.dihedral_compose>, ...}."""
    return {ex.name.split(".", 1)[1]: ex for ex in exercises}


# --------------------------------------------------------------------------------------------
# Answers as plain data
# --------------------------------------------------------------------------------------------


class NotPlain(ValueError):
    """An answer that is not numbers, arrays or tensors (or tuples/lists of them)."""


def to_plain(x: Any) -> Any:
    """A numeric answer as a numpy array, or a list of them for a tuple/list of differently shaped parts."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().resolve_conj().numpy().copy()
    if isinstance(x, (np.ndarray, bool, int, float, complex, np.number, np.bool_)):
        arr = np.asarray(x)
        if arr.dtype.kind not in "biufc":
            raise NotPlain(f"an array of {arr.dtype}, not of numbers")
        return arr
    if isinstance(x, (tuple, list)):
        parts = [to_plain(p) for p in x]
        if parts and all(p.shape == parts[0].shape for p in parts if isinstance(p, np.ndarray)) \
                and all(isinstance(p, np.ndarray) for p in parts):
            return np.stack(parts)
        return parts
    raise NotPlain(f"a {type(x).__name__}, not numbers, arrays or tensors")


@dataclass(frozen=True)
class Answer:
    """What one case gave: a plain value, or the error it raised (`error` is 'NotImplementedError' for a stub)."""

    value: Any = None
    error: str | None = None
    message: str = ""


def answer(ex: Exercise, fn: Callable, case: Case) -> Answer:
    """`fn`'s answer to `case`, watched: error 'LibraryAnswer' when it reached the library's answer."""
    watch = library_answer.Watch(ex.library_answers)
    try:
        with watch.watching():
            value = ex.run(fn, case)
        got = Answer(value=to_plain(value))
    except NotPlain as e:
        got = Answer(error="WrongType", message=f"returned {e}")
    except NotDifferentiable as e:
        got = Answer(error="NotDifferentiable", message=str(e))
    except NotImplementedError:
        got = Answer(error="NotImplementedError")
    except Exception as e:  # the learner's bug, reported as the hint's context
        got = Answer(error=type(e).__name__, message=str(e)[:300])
    if (objection := watch.objection()) is not None:
        return Answer(error="LibraryAnswer", message=objection)
    return got


def _encode(v: Any) -> Any:
    if isinstance(v, list):
        return {"list": [_encode(p) for p in v]}
    flat = v.reshape(-1)
    if v.dtype.kind == "c":
        dtype = "complex64" if v.dtype.itemsize <= 8 else "complex128"
        return {"dtype": dtype, "shape": list(v.shape), "re": flat.real.tolist(), "im": flat.imag.tolist()}
    dtype = {"b": "bool", "i": "int64", "u": "int64", "f": "float32" if v.dtype.itemsize <= 4 else "float64"}[v.dtype.kind]
    return {"dtype": dtype, "shape": list(v.shape), "data": flat.astype(dtype).tolist()}


def _decode(d: Any) -> Any:
    if not isinstance(d, dict):
        raise ValueError(f"a recorded answer is a JSON object, got {type(d).__name__}")
    if "list" in d:
        return [_decode(p) for p in d["list"]]
    shape = tuple(int(s) for s in d["shape"])
    if d["dtype"] in ("complex64", "complex128"):
        flat = (np.asarray(d["re"], dtype=np.float64) + 1j * np.asarray(d["im"], dtype=np.float64)).astype(d["dtype"])
    else:
        dtypes = {"bool": bool, "int64": np.int64, "float32": np.float32, "float64": np.float64}
        if d["dtype"] not in dtypes:
            raise ValueError(f"a recorded answer's dtype is one of {sorted(dtypes)} or complex, got {d['dtype']!r}")
        flat = np.asarray(d["data"], dtype=dtypes[d["dtype"]])
    return flat.reshape(shape)


def answers_to_json(answers: list[Answer]) -> str:
    """Answers as JSON text: numbers only, nothing that can run code when read."""
    return json.dumps([{"value": None if a.error else _encode(a.value), "error": a.error, "message": a.message}
                       for a in answers])


def answers_from_json(text: str) -> list[Answer]:
    """Read answers written by `answers_to_json`; ValueError for anything else."""
    raw = json.loads(text)
    if not isinstance(raw, list):
        raise ValueError(f"recorded answers are a JSON list, got {type(raw).__name__}")
    return [Answer(value=None if r.get("error") else _decode(r["value"]),
                   error=None if r.get("error") is None else str(r["error"]), message=str(r.get("message", "")))
            for r in raw]


# --------------------------------------------------------------------------------------------
# Verdicts
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """The outcome of one exercise: status is 'pass', 'fail' or 'not attempted'."""

    name: str
    status: str
    message: str
    n_cases: int

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    def __str__(self) -> str:
        mark = {"pass": "PASS", "fail": "FAIL", "not attempted": "NOT DONE YET"}[self.status]
        return f"[{mark}] {self.name}: {self.message}"


def _show(v: Any, precision: int = 4) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(_show(p, precision) for p in v) + "]"
    if np.ndim(v) == 0 and np.asarray(v).dtype.kind == "f":  # a number reads as 2, 0.6931, not "2."
        return np.format_float_positional(np.asarray(v).item(), precision=precision, trim="-")
    return np.array2string(np.asarray(v), precision=precision, threshold=12,
                           suppress_small=precision <= 4).replace("\n", "")


def _expected_got(expected: Any, got: Any) -> str:
    """'expected ..., got ...' with as many digits as it takes for the two to read differently."""
    for precision in (4, 6, 8, 10, 12, 14, 17):
        e, g = _show(expected, precision), _show(got, precision)
        if _unsigned_zeros(e) != _unsigned_zeros(g):  # "0." against "-0." shows no difference
            break
    return f"expected {e}, got {g}"


def _unsigned_zeros(text: str) -> list[str]:
    """The numbers and brackets of a printed answer, numbers printed as zero (-0, -0., -0.000) unsigned."""
    tokens = text.replace("[", " [ ").replace("]", " ] ").split()
    return [t[1:] if re.fullmatch(r"-0(\.0*)?", t) else t for t in tokens]


# A single-precision answer carries ~1e-7 relative round-off per operation: a correct float32 answer is
# judged within at least these tolerances (atol relative to the largest expected entry, at least 1).
SINGLE_RTOL = 1e-5
SINGLE_ATOL = 1e-5


def _single(a: np.ndarray) -> bool:
    return a.dtype.kind in "fc" and a.dtype.itemsize <= (4 if a.dtype.kind == "f" else 8)


def mismatch(expected: Any, got: Any, rtol: float, atol: float) -> str | None:
    """Why `got` is not `expected` (None when it is), comparing shapes, then values within tolerance.

    Both are compared at the lower precision of the two (a float32 answer against the reference cast to
    float32), so a correct float32 answer passes: an exact exercise (rtol = atol = 0) stays exact after
    the cast, any other is judged within at least SINGLE_RTOL and SINGLE_ATOL. The message prints as
    many digits as it takes to show the difference.
    """
    if isinstance(expected, list) or isinstance(got, list):
        if not (isinstance(expected, list) and isinstance(got, list)) or len(expected) != len(got):
            return _expected_got(expected, got)
        return next((m for e, g in zip(expected, got) if (m := mismatch(e, g, rtol, atol))), None)
    if expected.shape != got.shape:
        return f"expected shape {expected.shape}, got shape {got.shape}"
    complex_ = expected.dtype.kind == "c" or got.dtype.kind == "c"
    if _single(expected) or _single(got):
        dtype = np.complex64 if complex_ else np.float32
        e, g = expected.astype(dtype), got.astype(dtype)
        if rtol or atol:
            scale = max(1.0, float(np.abs(expected).max())) if expected.size else 1.0
            rtol, atol = max(rtol, SINGLE_RTOL), max(atol, SINGLE_ATOL * scale)
    else:
        dtype = complex if complex_ else float
        e, g = expected.astype(dtype), got.astype(dtype)
    ok = np.allclose(g, e, rtol=rtol, atol=atol, equal_nan=False)
    return None if ok else _expected_got(expected, got)


def _gradient_only(ex: Exercise, case: Case, expected: Any, got: Any) -> str | None:
    """For an answer checked with its gradient ([value, gradient]): a message when the values agree and
    only the gradient does not (None otherwise)."""
    wrt = getattr(ex.run, "differentiates", None)
    if wrt is None or (wrt == "the network's parameters"
                       and not any(isinstance(arg, torch.nn.Module) for arg in case.args)):
        return None
    def pair(v: Any) -> bool:
        return len(v) == 2 if isinstance(v, list) else (v.ndim >= 1 and v.shape[0] == 2)

    if not (pair(expected) and pair(got)) or mismatch(expected[0], got[0], ex.rtol, ex.atol) is not None:
        return None
    return (f"your answer's values agree with the reference's but not its gradient with respect to {wrt} "
            f"({mismatch(expected[1], got[1], ex.rtol, ex.atol)}): something cut or bent the graph "
            "(.detach(), numpy, rounding, an integer step)")


_EXPLAINED = ("WrongType", "LibraryAnswer", "NotDifferentiable")  # errors whose message says what went wrong


def judge(ex: Exercise, answers: list[Answer]) -> Verdict:
    """Compare the learner's answers with the reference, case by case, in this process."""
    cases = ex.cases()
    if len(answers) != len(cases):
        return Verdict(ex.name, "fail", f"expected answers to {len(cases)} cases, got {len(answers)}", len(cases))
    if any(a.error == "NotImplementedError" for a in answers):
        return Verdict(ex.name, "not attempted",
                       "replace `raise NotImplementedError` with your code, run that cell, then this one.",
                       len(cases))
    for case, a in zip(cases, answers):
        if a.error:
            why = a.message if a.error in _EXPLAINED else f"raised {a.error}: {a.message}"
            return Verdict(ex.name, "fail", f"on {case.describe}, your function {why}. Hint: {ex.hint}", len(cases))
        expected = to_plain(ex.run(ex.reference, case))
        if (why := mismatch(expected, a.value, ex.rtol, ex.atol)) is not None:
            why = _gradient_only(ex, case, expected, a.value) or why
            return Verdict(ex.name, "fail", f"on {case.describe}, {why}. Hint: {ex.hint}", len(cases))
    return Verdict(ex.name, "pass", f"all {len(cases)} cases agree with the reference.", len(cases))


def exercise(name: str) -> Exercise:
    """Look up an exercise by its name '<chapter>.<exercise>' (in course_lib/checks/<chapter>.py)."""
    chapter, _, short = name.partition(".")
    try:
        module = importlib.import_module(f"course_lib.checks.{chapter}")
    except ModuleNotFoundError:
        raise ValueError(f"no chapter {chapter!r} has exercises (expected '<chapter>.<exercise>', got {name!r})") from None
    exercises: dict[str, Exercise] = module.EXERCISES
    if short not in exercises:
        raise ValueError(f"chapter {chapter!r} has no exercise {short!r}; it has {sorted(exercises)}")
    return exercises[short]


def verify(name: str, fn: Callable) -> Verdict:
    """Run `fn` on every case of exercise `name` and judge the answers.

    Under the grader (the environment variable COURSE_RECORD_DIR is set) the answers are also
    written to COURSE_RECORD_DIR/<name>.json, for the grader to judge in its own process.
    """
    ex = exercise(name)
    answers = [answer(ex, fn, case) for case in ex.cases()]
    if record_dir := os.environ.get(RECORD_DIR_ENV):
        Path(record_dir, f"{name}.json").write_text(answers_to_json(answers))
    return judge(ex, answers)


def verify_reference(name: str) -> Verdict:
    """The reference's own answers judged, unwatched and unrecorded: for the library's tests, that an
    exercise's cases run and its answers are plain (a learner's function that calls it fails)."""
    ex = exercise(name)
    return judge(ex, [Answer(value=to_plain(ex.run(ex.reference, case))) for case in ex.cases()])


def check(name: str, fn: Callable) -> None:
    """The learner's self-check: print PASS, FAIL with a hint, or NOT DONE YET for exercise `name`.

    Under nbgrader (which sets NBGRADER_EXECUTION to 'autograde' or 'validate') anything but a
    pass also raises AssertionError, since nbgrader scores a test cell by whether it raised.
    """
    verdict = verify(name, fn)
    print(verdict)
    if not verdict.passed and os.environ.get("NBGRADER_EXECUTION") in ("autograde", "validate"):
        raise AssertionError(str(verdict))
