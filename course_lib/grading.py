"""The instructors' grader: `course grade SUBMISSIONS... --out DIR` (DESIGN.md section 5).

A submission is untrusted code, so grading one goes like this:

1. **Read** it as JSON, never executing anything; a file that is not a notebook gets status
   `invalid`. Its chapter comes from its metadata (`course.chapter`), else from the `grade_id`s or
   the function names of its cells, else from its file name; `wrong chapter` when its metadata and
   its cells disagree, when the chapter has no source here, or when it is not the `--chapter`
   being graded. When the file name names another chapter, the notebook's content wins and the
   reason says so.
2. **Rebuild** the notebook from the trusted source (`solutions/<chapter>.ipynb`, stubbed as in
   `exercises/`): every cell comes from the source except the solution cells (nbgrader
   `solution: true`), which are the learner's, matched by `grade_id` (the last one when the learner
   duplicated it). A cell without its `grade_id` (an editor stripped the metadata) is matched by
   content: the learner's last code cell that defines, at top level, the first function or class
   the source cell defines; failing that,
   by position when the learner kept the source's number of code cells. An unmatched solution
   cell stays the stub. Edited, deleted, duplicated or re-pointed test cells change nothing.
3. **Run** it in a fresh kernel (nbclient) in a scratch folder under the system's temp directory,
   isolated by `course_lib.sandbox` (bubblewrap: the file system read-only except that folder, no
   network, no view of other kernels; where bwrap does not work, 'none', said in every row), with
   `RLIMIT_AS` (the memory limit), `RLIMIT_FSIZE` and no core files, in a session of its own so
   that every process it starts is killed afterwards. Errors do not stop the run (one broken cell
   fails only the tests that need it). A cell past `cell_timeout` is interrupted, and killed with
   its kernel when it ignores the interrupt; the kernel is also killed at the total `timeout`.
4. **Judge** outside the kernel: each test cell is `check("<chapter>.<exercise>", fn)`, which under
   the grader writes the answers as JSON numbers to `$COURSE_RECORD_DIR/<chapter>.<exercise>.json`. This
   process reads that file (nothing is unpickled, nothing the kernel wrote can run) and calls
   `checks.judge` with its own reference. A missing or malformed record fails the test with the
   reason; whatever the kernel did to `torch.allclose`, `assert` or `__eq__` is irrelevant.
   Warnings and stderr are never looked at.

A row's status is one of `graded`, `not attempted`, `timeout`, `memory`, `kernel died`,
`invalid`, `wrong chapter`, `error` or `regrade`, with the reason; `complete` says whether every
test ran; `isolation` how its kernel was isolated.

`grade()` grades many submissions in worker processes (each drives its own kernel; a kernel that
kills its worker costs only its own row: the others are graded again) and rewrites `gradebook.csv`
and `gradebook.json` atomically after each one, replacing earlier rows with the same key.
`nbgrader_problems()` checks that a source notebook is a valid nbgrader (schema version 3) source
notebook, so instructors can use nbgrader instead.

Tamper evidence (`course_lib.tamper`): course_lib and the source notebooks are hashed before a
batch and after every submission; a change stops the batch, and the rows graded since get status
`regrade`. Limits: POSIX only (`resource`, process groups); without bubblewrap the kernel runs as
the grader's user with an allow-listed environment, and could change that user's files.
"""

from __future__ import annotations

import ast
import concurrent.futures
import copy
import csv
import hashlib
import io
import json
import multiprocessing
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from course_lib import checks, exercises, sandbox, tamper

MAX_NOTEBOOK_BYTES = 50_000_000
MAX_RECORD_BYTES = 20_000_000
OUTPUT_CHARS_PER_CELL = 20_000
KILL_GRACE_S = 5.0  # how long an interrupted cell may take to stop before its kernel is killed

# Submission statuses. A row is `complete` when every test ran: never for the first four, and not
# for a 'timeout' whose kernel had to be killed.
# 'regrade': graded while course_lib or a source notebook changed (see `grade`).
STATUSES = ("invalid", "wrong chapter", "error", "kernel died", "timeout", "memory", "not attempted", "graded",
            "regrade")


@dataclass(frozen=True)
class Limits:
    """What one submission may use: seconds per cell, seconds in all, address space in MB."""

    cell_timeout: float = 60.0
    timeout: float = 600.0
    memory_mb: int = 4096
    file_mb: int = 256
    threads: int = 1  # torch/BLAS threads in the kernel

    def __post_init__(self) -> None:
        if self.cell_timeout <= 0 or self.timeout <= 0:
            raise ValueError(f"timeouts must be positive, got cell {self.cell_timeout} s, total {self.timeout} s")
        if self.memory_mb < 0 or self.file_mb < 0 or self.threads < 1:
            raise ValueError(f"expected memory_mb >= 0, file_mb >= 0, threads >= 1, got {self}")


# --------------------------------------------------------------------------------------------
# The trusted source
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TestCell:
    """A graded cell of the source: its grade_id, points and the exercises its check() calls name."""

    grade_id: str
    points: float
    exercises: tuple[str, ...]
    functions: tuple[str, ...]  # the names passed to check(), to find their solution cells
    index: int


@dataclass(frozen=True)
class Source:
    """A chapter's source notebook, stubbed: what every submission of that chapter is rebuilt from."""

    chapter: str
    path: Path
    notebook: nbformat.NotebookNode
    solutions: dict[str, int]  # grade_id -> cell index
    tests: tuple[TestCell, ...]

    @property
    def max_points(self) -> float:
        return sum(t.points for t in self.tests)

    def defined_names(self, grade_id: str) -> list[str]:
        return _top_level_names(self.notebook.cells[self.solutions[grade_id]].source)


def _nbgrader(cell: dict) -> dict:
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    nbg = meta.get("nbgrader") if isinstance(meta, dict) else None
    return nbg if isinstance(nbg, dict) else {}


def _top_level_names(source: str) -> list[str]:
    return re.findall(r"^(?:async\s+)?(?:def|class)\s+([A-Za-z_]\w*)", source, re.M)


def _check_calls(source: str) -> list[tuple[str, str | None]]:
    """(exercise name, function name) of every `check("<name>", fn)` call in a test cell."""
    calls = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "check" and node.args \
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            fn = node.args[1].id if len(node.args) > 1 and isinstance(node.args[1], ast.Name) else None
            calls.append((node.args[0].value, fn))
    return calls


def load_source(path: Path) -> Source:
    """Read solutions/<chapter>.ipynb (or its exercise version) as the source for grading.

    ValueError when it has no `course.chapter` metadata, when a graded cell has no
    `check("<chapter>.<exercise>", fn)` call, or when an exercise it names does not exist.
    """
    nb = exercises.make_exercise(nbformat.read(path, as_version=4))
    chapter = nb.metadata.get("course", {}).get("chapter")
    if not isinstance(chapter, str):
        raise ValueError(f"{path}: expected notebook metadata course.chapter, got {nb.metadata.get('course')!r}")
    solutions, tests = {}, []
    for i, cell in enumerate(nb.cells):
        meta = _nbgrader(cell)
        if meta.get("solution"):
            solutions[meta["grade_id"]] = i
        elif meta.get("grade"):
            calls = _check_calls(cell.source)
            if not calls:
                raise ValueError(f"{path}: graded cell {meta['grade_id']!r} has no check(\"{chapter}.<exercise>\", fn) call")
            for name, _ in calls:
                checks.exercise(name)  # ValueError for an exercise that does not exist
            tests.append(TestCell(meta["grade_id"], float(meta.get("points", 0)), tuple(n for n, _ in calls),
                                  tuple(f for _, f in calls if f), i))
    return Source(chapter, Path(path), nb, solutions, tuple(tests))


def default_source_dirs() -> list[Path]:
    """Where sources are looked for: ./solutions, ./exercises, then the repo's own folders."""
    repo = Path(__file__).resolve().parents[1]
    return [Path("solutions"), Path("exercises"), repo / "solutions", repo / "exercises"]


def find_sources(folders: Iterable[Path], problems: list[str] | None = None) -> dict[str, Source]:
    """Every chapter's source, from the first folder that has it (solutions before exercises).

    A source that does not load raises its ValueError, or, when a `problems` list is given, is
    skipped with its reason appended there (so that one broken chapter does not stop the others).
    """
    sources: dict[str, Source] = {}
    for folder in folders:
        for path in sorted(Path(folder).glob("*.ipynb")):
            try:
                src = load_source(path)
            except (ValueError, SyntaxError, OSError, nbformat.ValidationError) as e:
                if problems is None:
                    raise
                problems.append(f"{path}: {e}")
                continue
            sources.setdefault(src.chapter, src)
    if not sources:
        raise ValueError(f"no source notebooks found in {[str(f) for f in folders]}")
    return sources


# --------------------------------------------------------------------------------------------
# Reading a submission and finding its chapter
# --------------------------------------------------------------------------------------------


class Ungradable(Exception):
    """A submission that cannot be run: `status` (invalid, wrong chapter) and the reason."""

    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


def read_submission(path: Path) -> nbformat.NotebookNode:
    """The submission as a notebook, read as data only; Ungradable('invalid', why) otherwise."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_NOTEBOOK_BYTES:
            raise Ungradable("invalid", f"the file is larger than {MAX_NOTEBOOK_BYTES // 1_000_000} MB")
        raw = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        why = f"{type(e).__name__}: {str(e)[:120]}"
        raise Ungradable("invalid", f"not a notebook: the file is not readable JSON ({why})") from None
    cells = raw.get("cells") if isinstance(raw, dict) else None
    if not isinstance(cells, list) or not all(
            isinstance(c, dict) and isinstance(c.get("cell_type"), str) and isinstance(c.get("source", ""), (str, list))
            for c in cells):
        raise Ungradable("invalid", "not a notebook: the JSON has no list of cells with cell_type and source")
    if not cells:
        raise Ungradable("invalid", "the notebook has no cells")
    for c in cells:
        if isinstance(c.get("source"), list):
            c["source"] = "".join(str(s) for s in c["source"])
        c.setdefault("source", "")
        if not isinstance(c.get("metadata"), dict):
            c["metadata"] = {}
    if not isinstance(raw.get("metadata"), dict):
        raw["metadata"] = {}
    return nbformat.from_dict(raw)


def _chapter_in_name(path: Path, chapters: Iterable[str]) -> str | None:
    stem = path.stem.lower()
    hits = [c for c in chapters if re.search(rf"(?<![a-z0-9]){re.escape(c.lower())}(?![a-z0-9])", stem)]
    return max(hits, key=len) if hits else None


def _chapter_by_content(nb: nbformat.NotebookNode, sources: dict[str, Source]) -> str | None:
    """The chapter whose solution grade_ids (else defined function names) the notebook has most of."""
    ids = {_nbgrader(c).get("grade_id") for c in nb.cells}
    names = {n for c in nb.cells if c.cell_type == "code" for n in _top_level_names(c.source)}
    for score in (lambda s: len(ids & set(s.solutions)),
                  lambda s: len(names & {n for g in s.solutions for n in s.defined_names(g)})):
        best = max(sources.values(), key=score)
        if score(best) > 0:
            return best.chapter
    return None


def identify_chapter(nb: nbformat.NotebookNode, path: Path, sources: dict[str, Source],
                     expected: str | None = None) -> tuple[str, str]:
    """(chapter, note): from metadata, else content, else file name; Ungradable('wrong chapter') otherwise."""
    known = ", ".join(sorted(sources))
    course = nb.metadata.get("course")
    claimed = course.get("chapter") if isinstance(course, dict) else None
    by_content = _chapter_by_content(nb, sources)
    by_name = _chapter_in_name(path, sources)
    if claimed is not None and claimed not in sources:
        raise Ungradable("wrong chapter", f"its metadata names chapter {claimed!r}, which has no source here (known: {known})")
    if claimed is not None and by_content not in (None, claimed):
        raise Ungradable("wrong chapter",
                         f"its metadata says chapter {claimed!r} but its exercise cells are those of {by_content!r}")
    chapter = claimed or by_content or by_name
    if chapter is None:
        raise Ungradable("wrong chapter", f"no chapter found in its metadata, cells or file name (known: {known})")
    if expected is not None and chapter != expected:
        raise Ungradable("wrong chapter", f"this is the notebook of chapter {chapter!r}, not of {expected!r}")
    how = "metadata" if claimed else "cells" if by_content else "file name"
    note = "" if how == "metadata" else f"chapter {chapter!r} found from its {how}"
    if by_name not in (None, chapter):
        says = "say" if how == "cells" else "says"
        note = f"its file name suggests chapter {by_name!r}, its {how} {says} {chapter!r}: the content decides"
    return chapter, note


# --------------------------------------------------------------------------------------------
# Rebuilding the notebook from the source
# --------------------------------------------------------------------------------------------


def _same_code(a: str, b: str) -> bool:
    def norm(s: str) -> str:
        return "\n".join(line.rstrip() for line in s.strip().splitlines())
    return norm(a) == norm(b)


def rebuild(source: Source, submission: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, dict[str, str]]:
    """The notebook to run: the source with the learner's solution cells put in.

    Returns it and, per solution grade_id, how the learner's cell was found: 'grade_id',
    'content', 'position', or 'missing' (the stub stays); 'untouched' when the cell found is the stub.
    """
    nb = copy.deepcopy(source.notebook)
    code = [c for c in submission.cells if c.cell_type == "code"]
    source_ids = set(source.solutions) | {t.grade_id for t in source.tests}
    by_id = {_nbgrader(c).get("grade_id"): c for c in code}  # the last cell with an id wins
    free = [c for c in code if _nbgrader(c).get("grade_id") not in source_ids]
    same_layout = len(code) == sum(c.cell_type == "code" for c in nb.cells)
    code_index = {i: k for k, i in enumerate(i for i, c in enumerate(nb.cells) if c.cell_type == "code")}
    found: dict[str, str] = {}
    for grade_id, index in source.solutions.items():
        names = source.defined_names(grade_id)
        if grade_id in by_id:
            cell, how = by_id[grade_id], "grade_id"
        elif names and (defining := [c for c in free if names[0] in _top_level_names(c.source)]):
            cell, how = defining[-1], "content"
        elif same_layout and not _nbgrader(code[code_index[index]]).get("grade_id"):
            cell, how = code[code_index[index]], "position"
        else:
            cell, how = None, "missing"
        if cell is not None:
            if _same_code(cell.source, nb.cells[index].source):
                how = "untouched"
            nb.cells[index].source = cell.source
        found[grade_id] = how
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb, found


# --------------------------------------------------------------------------------------------
# Running it: a sandboxed kernel
# --------------------------------------------------------------------------------------------

class _GradingClient(NotebookClient):
    """nbclient with outputs capped per cell and timed-out cells remembered."""

    def __init__(self, nb: nbformat.NotebookNode, place: tuple[Path, tuple[int, int], sandbox.Isolation], **kw):
        super().__init__(nb, **kw)
        self.place = place  # the arguments of sandbox.KernelManager.place
        self.timed_out: set[int] = set()
        self.current = -1  # the index of the cell being executed
        self.kernel_pid: int | None = None
        self._chars: dict[int, int] = {}

    def create_kernel_manager(self) -> sandbox.KernelManager:
        self.km = sandbox.KernelManager(kernel_name="python3")
        self.km.place(*self.place)
        return self.km

    async def _async_handle_timeout(self, timeout, cell=None):
        self.timed_out.add(self.current)
        return await super()._async_handle_timeout(timeout, cell)

    def output(self, outs, msg, display_id, cell_index):
        size = len(json.dumps(msg.get("content", {}), default=str))
        used = self._chars.get(cell_index, 0)
        self._chars[cell_index] = used + size
        if used + size <= OUTPUT_CHARS_PER_CELL:
            return super().output(outs, msg, display_id, cell_index)
        if used <= OUTPUT_CHARS_PER_CELL:
            outs.append(nbformat.v4.new_output("stream", name="stderr", text="[grader: output truncated]\n"))
        return None


@dataclass
class Run:
    """What happened to the rebuilt notebook: its outputs, the records, and how the kernel ended."""

    notebook: nbformat.NotebookNode
    records: dict[str, bytes]
    stopped_at: int | None = None  # index of the cell during which the kernel died or was killed
    stop_reason: str = ""
    stop_status: str = ""  # 'kernel died' or 'timeout'
    timed_out: set[int] = field(default_factory=set)


def _kill_group(pid: int | None) -> None:
    if pid:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _exit_description(returncode: int | None) -> str:
    if returncode is None:
        return "the kernel stopped answering"
    # bwrap reports a kernel killed by signal N as its exit code 128 + N
    if returncode > 128 and returncode - 128 in signal.valid_signals():
        returncode = 128 - returncode
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        extra = " (likely out of memory)" if -returncode == signal.SIGKILL else ""
        return f"the kernel was killed by {name}{extra}"
    return f"the kernel exited with code {returncode}"


def _returncode(process) -> int | None:
    try:
        return process.wait(5)
    except Exception:
        return None


# The only variables of the grader's environment the kernel sees (no tokens, no credentials).
_KERNEL_ENV = {"PATH", "HOME", "USER", "LOGNAME", "LANG", "TZ", "TERM", "SHELL", "VIRTUAL_ENV", "CONDA_PREFIX",
               "LD_LIBRARY_PATH", "PYTHONPATH", "JUPYTER_PATH", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR"}


def execute(nb: nbformat.NotebookNode, limits: Limits, record_names: Iterable[str],
            scratch_root: Path | None = None, isolation: sandbox.Isolation | None = None) -> Run:
    """Run `nb` in a fresh kernel in a new scratch folder (under `scratch_root`, else the system's
    temp directory), isolated as `isolation` says (default: `sandbox.isolation()`), and collect the
    records; the scratch folder is removed afterwards."""
    isolation = isolation or sandbox.isolation()
    scratch = Path(tempfile.mkdtemp(prefix="course-grade-", dir=scratch_root))
    work, records = scratch / "work", scratch / "records"
    work.mkdir()
    records.mkdir()
    threads = str(limits.threads)
    env = {k: v for k, v in os.environ.items() if k in _KERNEL_ENV or k.startswith("LC_")}
    env.update({checks.RECORD_DIR_ENV: str(records), "MPLBACKEND": "Agg", "TMPDIR": str(work),
                "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads,
                "PYDEVD_DISABLE_FILE_VALIDATION": "1", "PYTHONDONTWRITEBYTECODE": "1"})
    client = _GradingClient(nb, (scratch, (limits.memory_mb << 20, limits.file_mb << 20), isolation),
                            timeout=int(max(1, limits.cell_timeout)), allow_errors=True,
                            interrupt_on_timeout=True, shutdown_kernel="immediate", record_timing=False,
                            startup_timeout=120, resources={"metadata": {"path": str(work)}})
    run = Run(nb, {})
    log = open(scratch / "kernel.log", "wb")
    try:
        with client.setup_kernel(cwd=str(work), env=env, stdout=log, stderr=log):
            (scratch / "kernel.pid").write_text(str(client.km.provisioner.pid))  # for _kill_orphans
            _run_cells(client, run, limits)
    except (RuntimeError, TimeoutError, ValueError) as e:  # raised only while starting the kernel
        run.stopped_at, run.stop_status = 0, "kernel died"
        run.stop_reason = f"the kernel did not start ({type(e).__name__}: {e})"
    finally:
        _kill_group(getattr(getattr(client.km, "provisioner", None), "pid", None) or client.kernel_pid)
        log.close()
        run.timed_out = client.timed_out
        for name in record_names:
            path = records / f"{name}.json"
            if path.is_file() and not path.is_symlink() and path.stat().st_size <= MAX_RECORD_BYTES:
                run.records[name] = path.read_bytes()
        shutil.rmtree(scratch, ignore_errors=True)
    return run


def _where(nb: nbformat.NotebookNode, index: int) -> str:
    """'cell 6 (homomorphism_error)': a cell by its position and, when it has one, its grade_id."""
    grade_id = _nbgrader(nb.cells[index]).get("grade_id")
    return f"cell {index} ({grade_id})" if grade_id else f"cell {index}"


def _run_cells(client: _GradingClient, run: Run, limits: Limits) -> None:
    """Execute the cells in order, within the time limits, until the end or until the kernel is gone."""
    deadline = time.monotonic() + limits.timeout
    process = client.km.provisioner.process
    client.kernel_pid = process.pid
    watchdog = _Watchdog(process.pid)
    watchdog.start()
    try:
        for index, cell in enumerate(run.notebook.cells):
            if cell.cell_type != "code":
                continue
            now, where = time.monotonic(), _where(run.notebook, index)
            if now >= deadline:
                run.stopped_at, run.stop_status = index, "timeout"
                run.stop_reason = f"the total time limit of {limits.timeout:g} s was reached before {where}"
                return
            watchdog.deadline = min(deadline, now + limits.cell_timeout + KILL_GRACE_S)
            client.current = index
            try:
                client.execute_cell(cell, index)
            except (DeadKernelError, CellTimeoutError, RuntimeError) as e:
                run.stopped_at = index
                if watchdog.fired:
                    run.stop_status = "timeout"
                    run.stop_reason = (f"{where} ran past the total time limit of {limits.timeout:g} s"
                                       if watchdog.deadline >= deadline else
                                       f"{where} ran past {limits.cell_timeout:g} s and ignored the interrupt")
                else:
                    run.stop_status = "kernel died"
                    run.stop_reason = f"{_exit_description(_returncode(process))} in {where}" \
                        if isinstance(e, DeadKernelError) else f"{where}: {type(e).__name__}: {e}"
                return
    finally:
        watchdog.stop()


class _Watchdog(threading.Thread):
    """Kills the kernel's process group when `deadline` (time.monotonic) passes."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.deadline, self.fired = pid, float("inf"), False
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.2):
            if time.monotonic() > self.deadline:
                self.fired = True
                _kill_group(self.pid)
                return

    def stop(self) -> None:
        self._done.set()


# --------------------------------------------------------------------------------------------
# Judging, in this process
# --------------------------------------------------------------------------------------------


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


def _error_of(cell: nbformat.NotebookNode) -> str | None:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return f"{out.get('ename')}: {str(out.get('evalue'))[:200]}"
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
            elif (err := _error_of(cell)) is not None:
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
    if all(how in ("untouched", "missing") for how in found.values()):
        row.tests = [TestResult(t.grade_id, "not attempted", 0.0, t.points, "the solution cell is still the exercise's stub.")
                     for t in source.tests]
        row.status, row.complete = "not attempted", True
        row.reason = "; ".join(s for s in ["no solution cell differs from the exercise's stub", note] if s)
        return row
    run = execute(rebuilt, limits, [n for t in source.tests for n in t.exercises], scratch_root, isolation)
    row.tests = [judge_test(t, run, found, source, limits) for t in source.tests]
    row.total = sum(t.points for t in row.tests)
    for grade_id, index in source.solutions.items():
        if (err := _error_of(run.notebook.cells[index])) is not None:
            row.cell_errors.append(f"your cell {grade_id!r} raised {err}")
    notes = [note] + [f"solution {g!r} found by {h}" for g, h in found.items() if h in ("content", "position", "missing")]
    memory = any("MemoryError" in m for m in row.cell_errors + [t.message for t in row.tests])
    if run.stop_status:
        row.status, reason = run.stop_status, run.stop_reason
    elif run.timed_out:
        row.status = "timeout"
        cells = ", ".join(_where(run.notebook, i) for i in sorted(run.timed_out))
        reason = f"{cells} ran past {limits.cell_timeout:g} s and was interrupted"
    elif memory:
        row.status, reason = "memory", f"a cell ran out of the {limits.memory_mb} MB memory limit"
    elif all(t.status == "not attempted" for t in row.tests):
        row.status, reason = "not attempted", "no exercise attempted"
    else:
        row.status, reason = "graded", ""
    row.reason = "; ".join(s for s in [reason] + notes if s)
    row.complete = run.stopped_at is None
    return row


# --------------------------------------------------------------------------------------------
# Many submissions: keys, workers, gradebook and feedback
# --------------------------------------------------------------------------------------------


def student_of(path: Path, sources: Iterable[str] = ()) -> str:
    """The file's stem, or, when the stem is just a chapter's name, the nearest folder that is not."""
    names = {c.lower() for c in sources}
    for part in [Path(path).stem, *(p.name for p in Path(path).resolve().parents)]:
        if part and part.lower() not in names:
            return part
    return Path(path).stem


def collect(paths: Iterable[Path]) -> list[tuple[Path, str]]:
    """(notebook, key) for every file given and every *.ipynb under every folder given.

    The key is the path relative to the working directory (absolute when outside it), so that
    grading a folder and re-grading one file of it address the same row.
    """
    found: dict[str, Path] = {}
    cwd = Path.cwd().resolve()
    for p in map(Path, paths):
        if p.is_dir():
            files = sorted(f for f in p.rglob("*.ipynb") if ".ipynb_checkpoints" not in f.parts)
        elif p.exists():
            files = [p]
        else:
            raise ValueError(f"no such submission file or folder: {p}")
        for f in files:
            full = f.resolve()
            key = full.relative_to(cwd).as_posix() if full.is_relative_to(cwd) else full.as_posix()
            found.setdefault(key, f)
    return [(f, k) for k, f in found.items()]


_WORKER_SOURCES: dict[tuple, dict[str, Source]] = {}


def _busy_marker(batch: str, key: str) -> Path:
    return Path(batch, hashlib.sha1(key.encode()).hexdigest() + ".busy")


def _grade_in_worker(path: Path, key: str, source_paths: tuple[str, ...], limits: Limits,
                     expected: str | None, batch: str, isolation: sandbox.Isolation) -> Row | None:
    """In a worker process: grade one submission, with a marker (holding its key) in the `batch`
    folder while at it (kernels' scratch folders go there too, so that a killed worker leaves
    nothing behind); None, without grading, once the batch has stopped."""
    if Path(batch, "stopped").exists():
        return None
    marker = _busy_marker(batch, key)
    marker.write_text(key)
    try:
        if source_paths not in _WORKER_SOURCES:
            _WORKER_SOURCES[source_paths] = {s.chapter: s for s in map(load_source, map(Path, source_paths))}
        return grade_notebook(path, key, _WORKER_SOURCES[source_paths], limits, expected, Path(batch), isolation)
    except Exception as e:  # a grader bug must cost one row, not the batch
        last = traceback.format_exception_only(type(e), e)[-1].strip()
        return Row(key=key, student=student_of(path), file=Path(path).name, status="error",
                   reason=f"the grader failed: {last[:300]}", isolation=isolation.name)
    finally:
        marker.unlink(missing_ok=True)


def _kill_orphans(batch: str) -> None:
    """Kill the kernels (and their process groups) of workers that died before cleaning up."""
    for pidfile in Path(batch).glob("*/kernel.pid"):
        pid = int(pidfile.read_text() or 0)
        try:
            if b"ipykernel_launcher" in Path(f"/proc/{pid}/cmdline").read_bytes():
                _kill_group(pid)
        except OSError:
            pass
        pidfile.unlink(missing_ok=True)


def _pool_round(subs: list[tuple[Path, str]], jobs: int, args: tuple,
                finish: Callable[[Row | None], bool]) -> list[tuple[Path, str]]:
    """Grade `subs` in a pool of `jobs` workers, until the end or until `finish` says stop (then
    only the submissions being graded finish); the submissions left unfinished when a worker died."""
    lost = []
    with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(_grade_in_worker, p, k, *args): (p, k) for p, k in subs}
        for fut in concurrent.futures.as_completed(futures):
            try:
                go_on = finish(fut.result())
            except concurrent.futures.CancelledError:
                continue
            except concurrent.futures.BrokenExecutor:  # a worker process died
                lost.append(futures[fut])
                continue
            if not go_on:
                for other in futures:
                    other.cancel()
    return lost


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _row_from_dict(d: dict) -> Row:
    tests = [TestResult(**t) for t in d.get("tests", [])]
    return Row(**{k: v for k, v in d.items() if k in Row.__dataclass_fields__ and k != "tests"}, tests=tests)


def read_gradebook(out: Path) -> dict[str, Row]:
    """The rows of out/gradebook.json by key (empty when there is none yet)."""
    path = Path(out) / "gradebook.json"
    if not path.exists():
        return {}
    try:
        return {d["key"]: _row_from_dict(d) for d in json.loads(path.read_text())["rows"]}
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path} is not a gradebook this grader wrote ({type(e).__name__}: {e}); "
                         f"move it away or choose another --out") from None


def write_gradebook(out: Path, rows: dict[str, Row]) -> None:
    """gradebook.json and gradebook.csv (one row per submission, one column per test), atomically."""
    ordered = [rows[k] for k in sorted(rows)]
    _atomic_write(Path(out) / "gradebook.json", json.dumps(
        {"rows": [asdict(r) for r in ordered]}, indent=1) + "\n")
    columns = list(dict.fromkeys(f"{r.chapter}.{t.grade_id}" for r in ordered for t in r.tests))
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["key", "student", "file", "chapter", *columns, "total", "max", "status", "complete", "isolation",
                     "reason"])
    for r in ordered:
        points = {f"{r.chapter}.{t.grade_id}": f"{t.points:g}" for t in r.tests}
        writer.writerow([r.key, r.student, r.file, r.chapter, *(points.get(c, "") for c in columns),
                         f"{r.total:g}", f"{r.max:g}", r.status, r.complete, r.isolation, r.reason])
    _atomic_write(Path(out) / "gradebook.csv", buf.getvalue())


def feedback_markdown(row: Row) -> str:
    """What the student reads: each test, pass/fail, points and the message (no reference code)."""
    def cell(s: str) -> str:
        return s.replace("|", "\\|").replace("\n", " ")

    lines = [f"# Feedback on `{row.file}`", "",
             f"- chapter: {row.chapter or 'unknown'}",
             f"- score: **{row.total:g} / {row.max:g}**",
             f"- status: {row.status}" + (f" ({row.reason})" if row.reason else ""), ""]
    if row.tests:
        lines += ["| test | result | points | message |", "|---|---|---|---|"]
        lines += [f"| {t.grade_id} | {t.status} | {t.points:g} / {t.max_points:g} | {cell(t.message)} |" for t in row.tests]
    if row.cell_errors:
        lines += ["", "## Errors in your cells", ""] + [f"- {cell(e)}" for e in row.cell_errors]
    return "\n".join(lines) + "\n"


def feedback_path(out: Path, key: str) -> Path:
    return Path(out) / "feedback" / (re.sub(r"[^A-Za-z0-9._-]+", "__", key.removesuffix(".ipynb")) + ".md")


def grade(paths: Iterable[Path], out: Path, sources: dict[str, Source], limits: Limits = Limits(),
          jobs: int = 1, expected: str | None = None, on_row: Callable[[Row], None] | None = None,
          isolation: sandbox.Isolation | None = None) -> list[Row]:
    """Grade every submission under `paths` into `out` with `jobs` worker processes; the new rows.

    Kernels are isolated as `isolation` says (default: `sandbox.isolation()`, bubblewrap where it
    works), recorded in every row. After each submission its feedback file and the whole gradebook
    are rewritten atomically, so an interrupted batch keeps every finished row; rows of earlier
    runs with other keys are kept. Tamper evidence: course_lib and the source notebooks are hashed
    before the batch and after every submission; when they changed, the batch stops (queued
    submissions are not graded), and the submission just finished, with those graded at the same
    time, gets status 'regrade' with the changed files and the suspects in its reason.
    """
    if jobs < 1:
        raise ValueError(f"expected jobs >= 1, got {jobs}")
    isolation = isolation or sandbox.isolation()
    subs = collect(paths)
    out = Path(out)
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    book = read_gradebook(out)
    source_paths = tuple(str(s.path.resolve()) for s in sources.values())
    fingerprint = tamper.watched(map(Path, source_paths))
    rows: list[Row] = []
    tampered: list[str] = []  # once a change is seen: what changed, while grading which submissions

    def finish(row: Row | None) -> bool:
        if row is None:  # not graded: the batch stopped
            return False
        if not tampered and (changed := fingerprint.changes()):
            suspects = [row.key] + sorted(m.read_text() for m in Path(batch).glob("*.busy"))
            tampered.append(f"{tamper.some_paths(changed)} changed while this batch graded {', '.join(suspects)} "
                            f"(isolation: {isolation.name}); the batch stopped")
            Path(batch, "stopped").touch()
        if tampered:
            was = f"{row.status}, {row.total:g}/{row.max:g}"
            row.status, row.complete = "regrade", False
            row.reason = f"{tampered[0]}: restore them, then grade this again (it was {was})"
        book[row.key] = row
        _atomic_write(feedback_path(out, row.key), feedback_markdown(row))
        write_gradebook(out, book)
        rows.append(row)
        if on_row:
            on_row(row)
        return not tampered

    # Workers are processes, so that a kernel which kills its parent takes down a worker, not the batch.
    # Then every unfinished submission is graded again: those queued as before, those that were being
    # graded one at a time; one that takes down its worker when alone gets an 'error' row.
    with tempfile.TemporaryDirectory(prefix="course-grade-batch-", ignore_cleanup_errors=True) as batch:
        args = (source_paths, limits, expected, batch, isolation)
        queued, suspects = subs, []
        while (queued or suspects) and not tampered:
            alone = not queued
            round_subs = [suspects.pop(0)] if alone else queued
            lost = _pool_round(round_subs, 1 if alone else jobs, args, finish)
            _kill_orphans(batch)
            queued = []
            for path, key in lost:
                was_busy = _busy_marker(batch, key).exists()
                _busy_marker(batch, key).unlink(missing_ok=True)
                if alone:
                    finish(Row(key=key, student=student_of(path, sources), file=path.name, status="error",
                               reason="grading it killed the grading process (twice)", isolation=isolation.name))
                else:
                    (suspects if was_busy else queued).append((path, key))
    # once every kernel is gone, write it all again: what a kernel wrote into `out` is overwritten
    for row in rows:
        _atomic_write(feedback_path(out, row.key), feedback_markdown(row))
    write_gradebook(out, book)
    return rows


def score_table(rows: Iterable[Row]) -> str:
    """The rows as a plain-text table: key, chapter, points, status, reason."""
    rows = sorted(rows, key=lambda r: r.key)
    width = max([len(r.key) for r in rows] + [10])
    lines = [f"{'submission':<{width}}  {'chapter':<10} {'points':>9}  {'status':<14} reason"]
    for r in rows:
        lines.append(f"{r.key:<{width}}  {r.chapter:<10} {f'{r.total:g}/{r.max:g}':>9}  {r.status:<14} {r.reason[:100]}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# nbgrader compatibility
# --------------------------------------------------------------------------------------------

_NBGRADER_KEYS = {"schema_version", "grade", "solution", "locked", "grade_id", "points", "cell_type", "task"}


def nbgrader_problems(nb: nbformat.NotebookNode) -> list[str]:
    """Why `nb` is not a valid nbgrader source notebook (cell metadata schema version 3); [] when it is.

    Checks what nbgrader's schema and its validator check: the required keys and their types, no
    unknown keys, a non-empty grade_id of letters, digits, '_' and '-' on every nbgrader cell,
    unique grade_ids, non-negative points on (and only on) graded cells, markdown cells that are
    graded exactly when they are solutions; and ours: solution regions balanced, test cells locked.
    """
    problems, seen = [], set()
    for i, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get("nbgrader")
        if meta is None:
            continue
        where = f"cell {i}"
        if not isinstance(meta, dict):
            problems.append(f"{where}: nbgrader metadata is not an object")
            continue
        if unknown := set(meta) - _NBGRADER_KEYS:
            problems.append(f"{where}: unknown nbgrader keys {sorted(unknown)}")
        for key in ("grade", "solution", "locked"):
            if not isinstance(meta.get(key), bool):
                problems.append(f"{where}: {key} must be true or false, got {meta.get(key)!r}")
        if meta.get("schema_version") != 3:
            problems.append(f"{where}: schema_version must be 3, got {meta.get('schema_version')!r}")
        grade_id = meta.get("grade_id")
        if not isinstance(grade_id, str) or not re.fullmatch(r"[A-Za-z0-9_\-]+", grade_id):
            problems.append(f"{where}: grade_id must be a non-empty string of letters, digits, _ and -, got {grade_id!r}")
        elif grade_id in seen:
            problems.append(f"{where}: duplicate grade_id {grade_id!r}")
        seen.add(grade_id)
        if "cell_type" in meta and meta["cell_type"] != cell.cell_type:
            problems.append(f"{where}: metadata cell_type {meta['cell_type']!r} is not the cell's {cell.cell_type!r}")
        points = meta.get("points")
        if meta.get("grade") is True:
            if isinstance(points, bool) or not isinstance(points, (int, float)) or points < 0:
                problems.append(f"{where}: a graded cell needs points >= 0, got {points!r}")
            if cell.cell_type == "code" and not meta.get("solution") and not meta.get("locked"):
                problems.append(f"{where}: a test cell must be locked")
        elif points not in (None, 0):
            problems.append(f"{where}: points on a cell that is not graded")
        if cell.cell_type == "markdown" and bool(meta.get("grade")) != bool(meta.get("solution")):
            problems.append(f"{where}: a markdown cell must be graded exactly when it is a solution")
        if meta.get("solution") and cell.cell_type == "code":
            if cell.source.count(exercises.BEGIN) != cell.source.count(exercises.END):
                problems.append(f"{where}: unbalanced {exercises.BEGIN!r} / {exercises.END!r} markers")
        elif exercises.BEGIN in cell.source:
            problems.append(f"{where}: solution markers in a cell that is not a solution cell")
    return problems
