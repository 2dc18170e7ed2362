"""Stage 6: the batch. `grade()` grades many submissions in worker processes and keeps the gradebook.

Each worker drives its own kernel; a kernel that kills its worker costs only its own row (the
others are graded again). After each submission the client (this process, the only writer) writes
its feedback file and the whole gradebook atomically, replacing earlier rows with the same key.

Tamper evidence (`course_lib.grading.tamper`): course_lib and the source notebooks are hashed before a batch
and after every submission; a change stops the batch, and the rows graded since get status
`regrade`. Limits: POSIX only (`resource`, process groups); without bubblewrap the kernel runs as the
grader's user with an allow-listed environment, and could change that user's files.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import hashlib
import multiprocessing
import os
import shutil
import signal
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Callable, Iterable, Iterator

from course_lib.grading import sandbox, tamper
from course_lib.grading import cluster
from course_lib.grading.feedback import feedback_markdown, feedback_path
from course_lib.grading.gradebook import atomic_write, read_gradebook, write_gradebook
from course_lib.grading.judge import Row, grade_notebook
from course_lib.grading.kernel import Limits, kill_group
from course_lib.grading.report import write_class_report
from course_lib.grading.sources import Source, load_source
from course_lib.grading import submission
from course_lib.grading.submission import student_of


def collect(paths: Iterable[Path]) -> list[tuple[Path, str]]:
    """(notebook, key) for every file given and every *.ipynb under every folder given
    (`submission.collect`: keys relative to the working directory, symbolic links not resolved)."""
    return [(s.path, s.key) for s in submission.collect(paths)]


_WORKER_SOURCES: dict[tuple, dict[str, Source]] = {}


# The batch folder holds `control/` (the stop flag and the busy markers: mode 0700, the grader's)
# and `scratch/` (the kernels' scratch folders, and beside each its kernel's pid file: mode 0711,
# so that a kernel's user can reach its own folder and list nothing). Inside a sandbox the whole
# batch folder is hidden; without one nothing is out of a kernel's reach.


def _control(batch: str) -> Path:
    return Path(batch, "control")


def _scratch_root(batch: str) -> Path:
    return Path(batch, "scratch")


def _busy_marker(batch: str, key: str) -> Path:
    return _control(batch) / (hashlib.sha1(key.encode()).hexdigest() + ".busy")


def _busy(marker: Path) -> tuple[int, str]:
    """(the worker's pid, the submission's key) from a busy marker; (0, '') when it just went."""
    try:
        pid, _, key = marker.read_text().partition(" ")
    except OSError:
        return 0, ""
    return (int(pid) if pid.isdigit() else 0), key


_GRADING = threading.Event()  # in a worker: set while it grades a submission
_BUSY = threading.Event()  # in a worker: set from the start of a submission to its end (clean-up included)
_ORPHANED = threading.Event()  # in a worker: set once the grader is gone (`_exit_when_orphaned`)
_STARTING = threading.Lock()  # a submission starts before the worker is orphaned, or not at all


_STOPPING = (signal.SIGINT, signal.SIGTERM)  # what stops a batch (a terminal's Ctrl-C, `kill`, `timeout`)
_STOP_WORKER = signal.SIGUSR1  # what the grader sends a busy worker when the batch stops


def _worker_started(handled: tuple[int, ...]) -> None:
    """In a new worker: `_STOP_WORKER`, and those of `_STOPPING` in `handled` (those the grader does
    not ignore; a terminal's Ctrl-C and `kill -TERM -GROUP` reach every worker, and a broken pool
    terminates the others) interrupt the submission being graded, once, which then ends with its
    kernel killed; an idle worker ignores them (a worker that died of SIGTERM broke the pool). The
    worker was started with them and `_STOP_WORKER` blocked (`_spawning`): they are unblocked now."""
    def interrupted(signum, frame):
        if _GRADING.is_set():
            _GRADING.clear()  # a second one must not cut short the kernel's clean-up
            raise KeyboardInterrupt
    for s in (_STOP_WORKER, *handled):
        signal.signal(s, interrupted)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, (*_STOPPING, _STOP_WORKER))


def _exit_when_orphaned(batch: str, grader: int) -> None:
    """In a worker, a thread: once the `grader` process is gone without stopping the batch (killed
    outright: SIGKILL, the OOM killer), interrupt the submission being graded (its kernel is killed),
    start no other, kill what kernels of the batch are left, remove the batch folder and exit.
    Otherwise a worker, which holds both ends of the pool's pipes, graded on what was queued and
    then waited forever, holding the pipes of whoever started the grader."""
    while os.getppid() == grader:
        time.sleep(0.5)
    try:
        with _STARTING:
            _ORPHANED.set()
        deadline = time.monotonic() + 30
        while _BUSY.is_set() and time.monotonic() < deadline:
            if _GRADING.is_set():  # (the interruption clears it)
                signal.pthread_kill(threading.main_thread().ident, _STOP_WORKER)
            time.sleep(0.1)
        _kill_orphans(batch)
        shutil.rmtree(batch, ignore_errors=True)
    finally:  # whatever failed above (siblings remove the same files), the worker must not stay
        os._exit(1)


def _worker_init(handled: tuple[int, ...], batch: str, grader: int) -> None:
    """A new worker's initializer: its signal handlers (`_worker_started`), and its watch on the
    `grader` process (`_exit_when_orphaned`)."""
    _worker_started(handled)
    threading.Thread(target=_exit_when_orphaned, args=(batch, grader), name="orphan-watch", daemon=True).start()


@contextlib.contextmanager
def _spawning() -> Iterator[None]:
    """Within (where the pool starts its workers): SIGINT, SIGTERM and `_STOP_WORKER` blocked, so that
    a worker still starting holds them (a Ctrl-C there printed its traceback; SIGUSR1 killed it)
    until `_worker_started`; one that came meanwhile is delivered here on the way out."""
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, (*_STOPPING, _STOP_WORKER))
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


class Interrupted(Exception):
    """Raised in the grader by a worker's future: a signal that the grader did not send interrupted
    the submission (without a sandbox a kernel can signal the workers), which is graded again alone."""


def _grade_in_worker(path: Path, key: str, source_paths: tuple[str, ...], limits: Limits,
                     expected: str | None, batch: str, isolation: sandbox.Isolation) -> Row | None:
    """In a worker process: grade one submission, with a marker (holding this worker's pid and the
    key) in the `batch` folder while at it (kernels' scratch folders go there too, so that a killed
    worker leaves nothing behind); None, without grading, once the batch has stopped, and when
    interrupted (`_worker_started`) once it has; `Interrupted` when interrupted before (the grader
    sets the stop flag before it signals a worker); None, without grading, once the grader is gone."""
    with _STARTING:
        if _ORPHANED.is_set() or (_control(batch) / "stopped").exists():
            return None
        _BUSY.set()
    marker = _busy_marker(batch, key)
    try:  # (a stopping signal raises KeyboardInterrupt only while _GRADING is set: here, in the try)
        marker.write_text(f"{os.getpid()} {key}")  # (the grader's `_stop_now` signals it, until it has ended)
        _GRADING.set()
        try:
            if source_paths not in _WORKER_SOURCES:
                _WORKER_SOURCES[source_paths] = {s.chapter: s for s in map(load_source, map(Path, source_paths))}
            row = grade_notebook(path, key, _WORKER_SOURCES[source_paths], limits, expected, _scratch_root(batch),
                                 isolation)
        except Exception as e:  # a grader bug must cost one row, not the batch
            last = traceback.format_exception_only(type(e), e)[-1].strip()
            row = Row(key=key, student=student_of(path), file=Path(path).name, status="error",
                      reason=f"the grader failed: {last[:300]}", isolation=isolation.name)
        finally:
            _GRADING.clear()
        return row
    except KeyboardInterrupt:  # the batch stops (the grader decides), or the pool, broken by another
        if (_control(batch) / "stopped").exists():  # worker's death, terminates this one (its
            return None  # submission is graded again): no row
        raise Interrupted(f"a signal interrupted grading {key}") from None  # not the grader's
    finally:
        marker.unlink(missing_ok=True)
        _BUSY.clear()


def _kill_orphans(batch: str) -> None:
    """Kill the kernels (and their process groups) of workers that died before cleaning up."""
    for pidfile in _scratch_root(batch).glob("*.pid"):
        try:
            text = pidfile.read_text().strip()
        except OSError:  # gone since the glob: its worker cleaned up (or a sibling's `_kill_orphans`)
            continue
        pid = int(text) if text.isdigit() else 0  # (without a sandbox a kernel could write anything here)
        try:
            if b"ipykernel_launcher" in Path(f"/proc/{pid}/cmdline").read_bytes():
                kill_group(pid)
        except OSError:
            pass
        pidfile.unlink(missing_ok=True)


def _child_of_mine(pid: int) -> bool:
    try:  # /proc/PID/stat: "pid (comm) state ppid ...", comm may hold spaces and parentheses
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]) == os.getpid()
    except (OSError, IndexError, ValueError):
        return False


def _stop_now(futures: Iterable[concurrent.futures.Future], batch: str) -> None:
    """Stop the batch at once: no queued submission is graded (its worker sees the stop flag), and
    each being graded is interrupted (its worker gets `_STOP_WORKER`; kernels left by a dead worker
    are killed), until every one has ended. No future is cancelled: Python 3.11's pool, when a worker
    then dies, fails on a cancelled one and never finishes the others (helper-75: a hang)."""
    (_control(batch) / "stopped").touch()
    futures = list(futures)
    while concurrent.futures.wait(futures, timeout=0.2).not_done:  # one may have started after the flag
        for marker in _control(batch).glob("*.busy"):
            if _child_of_mine(pid := _busy(marker)[0]):
                with contextlib.suppress(OSError):
                    os.kill(pid, _STOP_WORKER)
        _kill_orphans(batch)
    _kill_orphans(batch)  # those of workers killed with the grader's process group (SIGTERM to it)


def _pool_round(subs: list[tuple[Path, str]], jobs: int, args: tuple, finish: Callable[[Row | None], bool]
                ) -> tuple[list[tuple[Path, str]], list[tuple[Path, str]]]:
    """Grade `subs` in a pool of `jobs` workers, until the end or until `finish` says stop (then
    only the submissions being graded finish; on Ctrl-C or SIGTERM not even those); the submissions
    left unfinished when a worker died, and those a signal not from the grader interrupted
    (`Interrupted`). `args`: those of `_grade_in_worker` after the key."""
    batch = args[3]
    lost, interrupted = [], []
    handled = tuple(s for s in _STOPPING if signal.getsignal(s) is not signal.SIG_IGN)  # nohup: SIGINT stays ignored
    with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                                                initializer=_worker_init, initargs=(handled, batch, os.getpid())) as pool:
        futures = {}
        try:
            # the pool starts a worker in `submit` while it has fewer than `jobs`; it is made before
            # `_spawning`, as making it may start multiprocessing's resource tracker, which unblocks
            # SIGINT and SIGTERM in this thread
            with _spawning():
                for p, k in subs:
                    futures[pool.submit(_grade_in_worker, p, k, *args)] = (p, k)
            for fut in concurrent.futures.as_completed(futures):
                try:
                    finish(fut.result())  # when it says stop, the stop flag is set: workers take no more
                except concurrent.futures.BrokenExecutor:  # a worker process died
                    lost.append(futures[fut])
                except Interrupted:
                    interrupted.append(futures[fut])
        except BaseException:  # Ctrl-C or SIGTERM (the pool's exit would wait for every queued submission)
            _stop_now(futures, batch)
            raise
    return lost, interrupted


def _write_rows(out: Path, rows: list[Row], book: dict[str, Row]) -> None:
    """The feedback files of `rows` and the whole gradebook `book` (json and csv), each atomically."""
    for row in rows:
        atomic_write(feedback_path(out, row.key), feedback_markdown(row))
    write_gradebook(out, book)


@contextlib.contextmanager
def _rewritten(out: Path, rows: list[Row], book: dict[str, Row]) -> Iterator[None]:
    """On the way out, once every kernel is gone, `rows` and `book` written again: what a kernel wrote
    into `out` is overwritten, and a Ctrl-C that cut a row's files short (gradebook.json written,
    not yet the csv) leaves none half done."""
    try:
        yield
    except BaseException:
        if rows:
            _write_rows(out, rows, book)
        raise
    _write_rows(out, rows, book)


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`, `timeout`, `docker stop`) reached the grader: the batch stopped as on Ctrl-C."""


@contextlib.contextmanager
def _stopped_by_signals() -> Iterator[None]:
    """Within: the first SIGINT raises KeyboardInterrupt and the first SIGTERM `Terminated`; those
    after it are ignored, so that nothing cuts short the way out (workers stopped, kernels killed,
    rows written, the batch folder removed). A signal ignored before stays ignored (`nohup`, a
    background job). Only in the main thread, the only one signals reach; elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {s: signal.getsignal(s) for s in _STOPPING}
    saved = {s: signal.SIG_DFL if before is None else before for s, before in saved.items()}  # None: not Python's

    def stop(signum, frame):
        for s in saved:
            signal.signal(s, signal.SIG_IGN)
        raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
    try:
        for s, before in saved.items():
            if before is not signal.SIG_IGN:
                signal.signal(s, stop)
        yield
    finally:
        for s, before in saved.items():
            signal.signal(s, before)


def missing(submissions: Iterable[tuple[Path, str]], rows: Iterable[Row]) -> list[str]:
    """The keys of the submissions that got no row (in the order given)."""
    graded = {r.key for r in rows}
    return [key for _, key in submissions if key not in graded]


def private_folders(paths: Iterable[Path], out: Path) -> tuple[str, ...]:
    """The folders no kernel may read, besides the project and the sources: each folder of
    submissions given (a file's own folder) and the gradebook's, resolved."""
    folders = [p if p.is_dir() else p.parent for p in paths] + [out]
    return tuple(sorted({str(f.resolve()) for f in folders}))


def grade(paths: Iterable[Path], out: Path, sources: dict[str, Source], limits: Limits = Limits(),
          jobs: int = 1, expected: str | None = None, on_row: Callable[[Row], None] | None = None,
          isolation: sandbox.Isolation | None = None, scheduler: str | None = None) -> list[Row]:
    """Grade every submission under `paths` into `out` with `jobs` worker processes; the new rows.

    With `scheduler` ('local', or a Dask scheduler's address such as tcp://host:8786) the submissions
    are graded as tasks on a Dask cluster instead (`course_lib.grading.cluster`; 'local' starts `jobs`
    workers), with the same verdicts; this process still writes every row.

    Kernels are isolated as `isolation` says (default: `sandbox.isolation()`, bubblewrap where it
    works), recorded in every row. After each submission its feedback file and the whole gradebook
    are rewritten atomically, so an interrupted batch keeps every finished row; rows of earlier
    runs with other keys are kept. Tamper evidence: course_lib and the source notebooks are hashed
    before the batch and after every submission; when they changed, the batch stops (queued
    submissions are not graded), and the submission just finished, with those graded at the same
    time, gets status 'regrade' with the changed files and the suspects in its reason.

    Ctrl-C (SIGINT) or SIGTERM stops the batch at once (in the main thread): no queued submission
    starts, those being graded are interrupted and get no row, the rows finished stay written, and
    no worker or kernel is left; KeyboardInterrupt is raised (for SIGTERM, its subclass `Terminated`).
    """
    if jobs < 1:
        raise ValueError(f"expected jobs >= 1, got {jobs}")
    paths, out = [Path(p) for p in paths], Path(out)
    isolation = dataclasses.replace(isolation or sandbox.isolation(), hidden=private_folders(paths, out))
    found = submission.collect(paths, sources)
    subs = [(s.path, s.key) for s in found]
    names = {s.key: (s.student, s.file) for s in found}  # printable; the student from the folder given
    book = read_gradebook(out)
    connection = contextlib.ExitStack()
    client = connection.enter_context(cluster.connect(scheduler, jobs)) if scheduler is not None else None
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    source_paths = tuple(str(s.path.resolve()) for s in sources.values())
    fingerprint = tamper.watched(map(Path, source_paths))
    rows: list[Row] = []
    tampered: list[str] = []  # once a change is seen: what changed, while grading which submissions

    def finish(row: Row | None) -> bool:
        if row is None:  # not graded: the batch stopped
            return False
        row.student, row.file = names.get(row.key, (row.student, row.file))
        if not tampered and (changed := fingerprint.changes()):
            suspects = [row.key] + sorted(filter(None, (_busy(m)[1] for m in _control(batch).glob("*.busy"))))
            tampered.append(f"{tamper.some_paths(changed)} changed while this batch graded {', '.join(suspects)} "
                            f"(isolation: {isolation.name}); the batch stopped")
            (_control(batch) / "stopped").touch()
        if tampered:
            was = f"{row.status}, {row.total:g}/{row.max:g}"
            row.status, row.complete = "regrade", False
            row.reason = f"{tampered[0]}: restore them, then grade this again (it was {was})"
        book[row.key] = row
        rows.append(row)  # before its files, which `_rewritten` finishes when Ctrl-C cut them short
        _write_rows(out, [row], book)
        if on_row:
            on_row(row)
        return not tampered

    # Workers are processes, so that a kernel which kills its parent takes down a worker, not the batch.
    # Then every unfinished submission is graded again: those queued as before, those that were being
    # graded (or that a signal not from the grader interrupted) one at a time; one that takes down or
    # interrupts its worker when alone gets an 'error' row.
    with _stopped_by_signals(), _rewritten(out, rows, book), connection, \
            tempfile.TemporaryDirectory(prefix="course-grade-batch-", ignore_cleanup_errors=True) as batch:
        os.chmod(batch, 0o711)
        _control(batch).mkdir(mode=0o700)
        _scratch_root(batch).mkdir(mode=0o711)
        _scratch_root(batch).chmod(0o711)  # whatever the umask
        if client is not None:
            cluster.grade_on_dask(client, subs, sources, limits, expected, isolation, finish)
        args = (source_paths, limits, expected, batch, isolation)
        queued, suspects = (subs if client is None else []), []
        while (queued or suspects) and not tampered:
            alone = not queued
            round_subs = [suspects.pop(0)] if alone else queued
            lost, interrupted = _pool_round(round_subs, 1 if alone else jobs, args, finish)
            _kill_orphans(batch)
            queued = []
            for (path, key), why in [(s, "grading it killed the grading process") for s in lost] + \
                                    [(s, "a signal the grader did not send interrupted grading it") for s in interrupted]:
                was_busy = _busy_marker(batch, key).exists() or (path, key) in interrupted
                _busy_marker(batch, key).unlink(missing_ok=True)
                if alone:
                    finish(Row(key=key, student=student_of(path, sources), file=path.name, status="error",
                               reason=f"{why} when it was graded alone (its first try did not finish either)",
                               isolation=isolation.name))
                else:
                    (suspects if was_busy else queued).append((path, key))
    write_class_report(out)  # report.html, from the whole gradebook
    return rows
