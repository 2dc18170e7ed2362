"""Stage 5: judging, in the grader's process, and the row of one submission.

Each test cell is `check("<chapter>.<exercise>", fn)`, which under the grader writes the answers
as JSON numbers to `$COURSE_RECORD_DIR/<chapter>.<exercise>.json`. This process reads that file
(nothing is unpickled, nothing the kernel wrote can run) and calls `checks.judge` with its own
reference. A missing or malformed record fails the test with the reason; whatever the kernel did to
`torch.allclose`, `assert` or `__eq__` is irrelevant. Warnings and stderr are never looked at.

A row's status is one of `STATUSES`, with the reason; `complete` says whether every test ran;
`isolation` how its kernel was isolated.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from course_lib import checks
from course_lib.grading import sandbox
from course_lib.grading.flags import flags_of
from course_lib.grading import reference_free
from course_lib.grading.kernel import Limits, Run, cell_name, execute
from course_lib.grading.rebuild import rebuild
from course_lib.grading.sources import Source, TestCell
from course_lib.grading.submission import Ungradable, identify_chapter, read_submission, student_of

# Submission statuses. A row is `complete` when every test ran: never for the first four, and not
# for a 'timeout' whose kernel had to be killed.
# 'regrade': graded while course_lib or a source notebook changed (see `grade`).
STATUSES = ("invalid", "wrong chapter", "error", "kernel died", "timeout", "memory", "not attempted", "graded",
            "regrade")


@dataclass
class TestResult:
    """One graded cell's outcome: status is 'pass', 'fail' or 'not attempted'."""

    grade_id: str
    status: str
    points: float
    max_points: float
    message: str


@dataclass
class Row:
    """One submission's line in the gradebook."""

    key: str
    student: str
    file: str
    chapter: str = ""
    status: str = "error"
    reason: str = ""
    total: float = 0.0
    max: float = 0.0
    complete: bool = False  # every test ran: no verdict rests on a kernel that was stopped
    isolation: str = ""  # how its kernel was isolated: 'bubblewrap' or 'none'
    tests: list[TestResult] = field(default_factory=list)
    cell_errors: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)  # seen, not scored: `flags.flags_of`, for review


# Python 3.13 raises a private subclass of SyntaxError for code that stops mid-statement.
PUBLIC_ERROR_NAMES = {"_IncompleteInputError": "SyntaxError"}


def error_of(cell: nbformat.NotebookNode) -> str | None:
    """'SyntaxError: ...' for the cell's first error output (a private error class by its public
    name, as on every Python), or None."""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            name = PUBLIC_ERROR_NAMES.get(out.get("ename"), out.get("ename"))
            return f"{name}: {str(out.get('evalue'))[:200]}"
    return None


def judge_test(test: TestCell, run: Run, found: dict[str, str], source: Source, limits: Limits) -> TestResult:
    """A test cell's verdict from the recorded answers, judged against this process's reference."""
    def result(status: str, message: str) -> TestResult:
        return TestResult(test.grade_id, status, test.points if status == "pass" else 0.0, test.points, message)

    verdicts = []
    for name in test.exercises:
        text = run.records.get(name)
        if text is None:
            mine = [g for g in source.solutions if set(source.defined_names(g)) & set(test.functions)]
            if mine and all(found[g] in ("untouched", "missing") for g in mine):
                return result("not attempted", "the solution cell is still the exercise's stub.")
            cell = run.notebook.cells[test.index]
            if run.stopped_at is not None and test.index >= run.stopped_at:
                why = f"did not run: {run.stop_reason}"
            elif test.index in run.timed_out:
                why = f"timed out after {limits.cell_timeout:g} s and was interrupted"
            elif (err := error_of(cell)) is not None:
                why = f"the test cell raised {err}"
            else:
                why = "no answers were recorded"
            return result("fail", f"{name}: {why}.")
        try:
            verdicts.append(checks.judge(checks.exercise(name), checks.answers_from_json(text.decode("utf-8"))))
        except Exception as e:  # anything the kernel wrote that is not answers fails cleanly
            return result("fail", f"{name}: the recorded answers are malformed ({type(e).__name__}).")
    statuses = {v.status for v in verdicts}
    status = "pass" if statuses == {"pass"} else "fail" if "fail" in statuses else "not attempted"
    return result(status, " ".join(v.message if len(verdicts) == 1 else str(v) for v in verdicts))


def _over_limit(said: list[str], limits: Limits) -> str | None:
    """Why a cell hit the process or disk limit, from the errors it raised (None when none did)."""
    if any("BlockingIOError" in m or "Resource temporarily unavailable" in m for m in said):
        return f"a cell ran into the limit of {limits.processes} processes"
    if any("No space left on device" in m or "File too large" in m for m in said):
        return f"a cell ran out of disk (at most {limits.disk_mb} MB in its folder, /tmp and /dev/shm {limits.tmpfs_mb} MB)"
    return None


def hidden_folders(sources: dict[str, Source]) -> list[Path]:
    """What a kernel must not read: the source notebooks' folders and the project folder that holds
    course_lib (its .git, book/, solutions/), and the real course_lib (the kernel imports a copy
    without the answers, `reference_free`); the Python environment is shown again, read-only, where
    it lies inside (see sandbox.bubblewrap_argv)."""
    lib = sandbox.library_folder()
    hide = {lib} | {s.path.resolve().parent for s in sources.values()}
    if (lib.parent / "pyproject.toml").exists():
        hide.add(lib.parent)
    return sorted(hide)


def grade_notebook(path: Path, key: str, sources: dict[str, Source], limits: Limits,
                   expected: str | None = None, scratch_root: Path | None = None,
                   isolation: sandbox.Isolation | None = None) -> Row:
    """Grade one submitted notebook: read, rebuild, run in a kernel isolated as `isolation` says
    (default: `sandbox.isolation()`), judge."""
    path = Path(path)
    isolation = isolation or sandbox.isolation()
    row = Row(key=key, student=student_of(path, sources), file=path.name, isolation=isolation.name)
    try:
        nb = read_submission(path)
        row.chapter, note = identify_chapter(nb, path, sources, expected)
    except Ungradable as e:
        row.status, row.reason = e.status, e.reason
        return row
    source = sources[row.chapter]
    row.max = source.max_points
    rebuilt, found = rebuild(source, nb)
    row.flags = flags_of((g, rebuilt.cells[i].source) for g, i in source.solutions.items()
                         if found[g] not in ("untouched", "missing"))
    if all(how in ("untouched", "missing") for how in found.values()):
        row.tests = [TestResult(t.grade_id, "not attempted", 0.0, t.points, "the solution cell is still the exercise's stub.")
                     for t in source.tests]
        row.status, row.complete = "not attempted", True
        row.reason = "; ".join(s for s in ["no solution cell differs from the exercise's stub", note] if s)
        return row
    private = [Path(h) for h in isolation.hidden if Path(h).is_dir()]  # the submissions, the gradebook
    runs = run_without_answers(rebuilt, source, limits, scratch_root, isolation, hidden_folders(sources) + private)
    records = {n: r.records[n] for n, r in runs.items() if n in r.records}  # each exercise's from its own run
    row.tests = [judge_test(t, dataclasses.replace(runs.get(t.exercises[0] if t.exercises else "",
                                                            next(iter(runs.values()))), records=records),
                            found, source, limits) for t in source.tests]
    row.total = sum(t.points for t in row.tests)
    for grade_id, index in source.solutions.items():
        errors = dict.fromkeys(e for r in runs.values() if (e := error_of(r.notebook.cells[index])) is not None)
        row.cell_errors += [f"your cell {grade_id!r} raised {e}" for e in errors]
    run = next((r for r in runs.values() if r.stop_status), None) or \
        next((r for r in runs.values() if r.timed_out), next(iter(runs.values())))
    notes = [note] + [f"solution {g!r} found by {h}" for g, h in found.items() if h in ("content", "position", "missing")]
    said = row.cell_errors + [t.message for t in row.tests]
    memory = any("MemoryError" in m for m in said)
    over = _over_limit(said, limits)
    if run.stop_status:
        row.status, reason = run.stop_status, run.stop_reason
    elif over:
        row.status, reason = "error", over
    elif run.timed_out:
        row.status = "timeout"
        cells = ", ".join(cell_name(run.notebook, i) for i in sorted(run.timed_out))
        reason = f"{cells} ran past {limits.cell_timeout:g} s and was interrupted"
    elif memory:
        row.status, reason = "memory", f"a cell ran out of the {limits.memory_mb} MB memory limit"
    elif all(t.status == "not attempted" for t in row.tests):
        row.status, reason = "not attempted", "no exercise attempted"
    else:
        row.status, reason = "graded", ""
    row.reason = "; ".join(s for s in [reason] + notes if s)
    row.complete = all(r.stopped_at is None for r in runs.values())
    return row


def run_without_answers(rebuilt: nbformat.NotebookNode, source: Source, limits: Limits, scratch_root: Path | None,
                        isolation: sandbox.Isolation, hide: list[Path]) -> dict[str, Run]:
    """The rebuilt notebook run once per exercise, each time in a fresh kernel that imports a
    course_lib without that exercise's answers (`reference_free`), within one total time limit;
    each run holds the records of every exercise (judged from their own run only, see `judge_test`)."""
    names = list(dict.fromkeys(n for t in source.tests for n in t.exercises))
    deadline = time.monotonic() + limits.timeout
    runs: dict[str, Run] = {}
    for name in names or [""]:
        lib = reference_free.library_without((name,), scratch_root) if name else None
        runs[name] = execute(rebuilt, limits, [name] if name else [], scratch_root, isolation, hide=hide, lib=lib,
                             deadline=deadline)
    return runs

