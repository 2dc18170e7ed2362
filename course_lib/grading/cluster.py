"""Grading on a Dask cluster: `course grade ... --scheduler tcp://HOST:8786` (or `--scheduler local`).

Each submission becomes one task on the cluster's workers (machines with course_lib installed;
`distributed` is imported only here, only when a scheduler is given). A task carries everything it
grades with: the submission's bytes under its file name, and the source notebooks' text (compressed,
about 30 kB for the whole course; not scattered: a scattered copy dies with the workers that hold
it, and with it every task that needs it). It also carries the SHA-256 of the client's course_lib (which holds the
references answers are judged with): a worker whose course_lib differs refuses, and the row says so,
instead of grading with other references. A worker grades exactly as the built-in pool does
(`judge.grade_notebook`: the same rebuild, sandbox, limits and judging) and returns the row; the
client, the only writer, keeps the gradebook.

Faults: a task whose worker dies is run again on another worker by Dask; a task the cluster
cancels gets an `error` row with the reason (never no row); one that killed
`ALLOWED_FAILURES` workers (with `--scheduler local`; a running cluster uses its own
`distributed.scheduler.allowed-failures`), or that is left without any worker for `NO_WORKER_S`
seconds, gets an `error` row with the reason. An unreachable scheduler fails at once, before
anything is graded, naming the address and what to run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import tempfile
import time
import zlib
from pathlib import Path
from typing import Callable, Iterator

from course_lib.grading import sandbox, tamper
from course_lib.grading.judge import Row, grade_notebook
from course_lib.grading.kernel import Limits
from course_lib.grading.sources import Source, load_source
from course_lib.grading.submission import Ungradable, student_of, submission_bytes

CONNECT_TIMEOUT_S = 10
NO_WORKER_S = 60.0
ALLOWED_FAILURES = 1  # with --scheduler local: a task is run again once after its worker died


def library_hash() -> str:
    """SHA-256 over course_lib's Python files (path and content): what a worker must have too."""
    digest = hashlib.sha256()
    root = tamper.library_folder()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@contextlib.contextmanager
def local_cluster(workers: int) -> Iterator:
    """An embedded Dask LocalCluster of `workers` one-thread worker processes that may start
    kernels, with the grader's failure budget. This process's environment is put back when it
    closes: the cluster's nannies write their workers' settings into it (MALLOC_TRIM_THRESHOLD_,
    OMP_NUM_THREADS=1, ...) and leave them, and every process started afterwards inherits them;
    the malloc setting alone made a torch notebook's kernel 3-4x slower (heap trimming).
    The workers' temp directory (their copies of the sources, a killed task's scratch folder, Dask's
    own scratch space) is a folder of its own, removed when the cluster has closed."""
    import dask
    from distributed import LocalCluster

    tempfile.gettempdir()  # this process's own stays where it was
    saved = dict(os.environ)
    try:
        with tempfile.TemporaryDirectory(prefix="course-grade-dask-", ignore_cleanup_errors=True) as folder:
            os.chmod(folder, 0o711)  # passable to kernels of a uid of their own (their scratch lies below)
            os.environ["TMPDIR"] = folder  # the workers', who inherit it
            with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
                                  "distributed.worker.daemon": False, "temporary-directory": folder}), \
                    LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, memory_limit=0,
                                 dashboard_address=None) as cluster:
                yield cluster
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def connect(scheduler: str, workers: int) -> Iterator:
    """A Dask client: an embedded LocalCluster of `workers` one-thread processes for 'local', else the
    running scheduler at `scheduler`. ValueError at once when it cannot be reached or has no worker."""
    try:
        from distributed import Client
    except ImportError:
        raise ValueError("--scheduler needs Dask's distributed: pip install 'course-lib[cluster]'") from None
    with contextlib.ExitStack() as stack:
        if scheduler == "local":
            client = stack.enter_context(Client(stack.enter_context(local_cluster(workers))))
        else:
            try:
                client = stack.enter_context(Client(scheduler, timeout=CONNECT_TIMEOUT_S))
            except (OSError, TimeoutError, ValueError) as e:
                raise ValueError(f"cannot reach a Dask scheduler at {scheduler} ({type(e).__name__}: {e}); start one "
                                 f"there with `dask scheduler` and workers with `dask worker {scheduler}`, or "
                                 f"use --scheduler local") from None
            try:
                client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
            except (OSError, TimeoutError) as e:
                raise ValueError(f"the Dask scheduler at {scheduler} has no worker ({type(e).__name__}); start "
                                 f"some with `dask worker {scheduler}`") from None
        yield client


_SOURCES: dict[str, dict[str, Source]] = {}  # per worker process: the sources received, by their hash


def _packed(sources: dict[str, Source]) -> bytes:
    """The source notebooks' texts (file name -> text) as compressed JSON, to travel with each task."""
    return zlib.compress(json.dumps({s.path.name: s.path.read_text() for s in sources.values()}).encode(), 9)


def _sources_from(texts: dict[str, str] | bytes) -> dict[str, Source]:
    """The Source of each notebook text (file name -> text, or `_packed`), loaded once per worker process."""
    if isinstance(texts, bytes):
        texts = json.loads(zlib.decompress(texts))
    digest = hashlib.sha256(repr(sorted(texts.items())).encode()).hexdigest()
    if digest not in _SOURCES:
        folder = Path(tempfile.mkdtemp(prefix="course-grade-sources-"))
        for name, text in texts.items():
            (folder / name).write_text(text)
        _SOURCES[digest] = {s.chapter: s for s in map(load_source, sorted(folder.glob("*.ipynb")))}
    return _SOURCES[digest]


def grade_task(name: str, notebook: bytes, key: str, sources: dict[str, str] | bytes, library: str, limits: Limits,
               expected: str | None, isolated: bool, hidden: tuple[str, ...] = ()) -> Row:
    """On a worker: grade one submission (its file `name` and bytes) as the built-in pool would,
    the client's folders `hidden` hidden from its kernels where they exist on the worker too."""
    isolation = dataclasses.replace(sandbox.isolation() if isolated else sandbox.NO_ISOLATION, hidden=hidden)
    if (mine := library_hash()) != library:
        return Row(key=key, student="", file=name, status="error", isolation=isolation.name,
                   reason=f"the worker refused: its course_lib (sha256 {mine[:12]}) is not the client's "
                          f"({library[:12]}); install the same version on every worker")
    if isolated and not isolation.isolated:
        return Row(key=key, student="", file=name, status="error", isolation=isolation.name,
                   reason=f"the worker refused: it cannot isolate kernels ({isolation.detail})")
    with tempfile.TemporaryDirectory(prefix="course-grade-task-", ignore_cleanup_errors=True) as scratch:
        path = Path(scratch, "submission", name)
        path.parent.mkdir()
        path.write_bytes(notebook)
        return grade_notebook(path, key, _sources_from(sources), limits, expected, Path(scratch), isolation)


def grade_on_dask(client, subs: list[tuple[Path, str]], sources: dict[str, Source], limits: Limits,
                  expected: str | None, isolation: sandbox.Isolation,
                  finish: Callable[[Row], bool]) -> None:
    """Grade `subs` as tasks on `client`'s cluster, calling `finish` with each row as it comes (in this
    process), until the end or until `finish` says stop (the tasks not started are cancelled)."""
    from distributed import as_completed
    from distributed.client import FutureCancelledError
    from distributed.scheduler import KilledWorker

    texts = _packed(sources)
    library = library_hash()
    futures = {}
    for path, key in subs:
        try:  # read here, as the built-in pool's worker would: never through a symbolic link
            data = submission_bytes(path)
        except Ungradable as e:
            if not finish(Row(key=key, student=student_of(path, sources), file=path.name, status=e.status,
                              reason=e.reason, isolation=isolation.name)):
                return
            continue
        futures[client.submit(grade_task, path.name, data, key, texts, library, limits, expected, isolation.isolated,
                              isolation.hidden, key=f"grade-{hashlib.sha1(key.encode()).hexdigest()}", pure=False)] = (path, key)
    pending, alone_since = as_completed(futures, with_results=False), None
    left = set(futures)
    while left:
        batch = pending.next_batch(block=False)
        if not batch:
            if not client.scheduler_info().get("workers"):
                alone_since = alone_since or time.monotonic()
                if time.monotonic() - alone_since > NO_WORKER_S:
                    for fut in list(left):
                        path, key = futures[fut]
                        fut.cancel()
                        left.discard(fut)
                        finish(_error_row(path, key, sources, isolation, f"no Dask worker was left for "
                                                                          f"{NO_WORKER_S:g} s"))
                    return
            else:
                alone_since = None
            time.sleep(0.05)
            continue
        for fut in batch:
            left.discard(fut)
            path, key = futures[fut]
            try:
                row = fut.result()  # the client's `finish` names its student and file
            except KilledWorker:
                row = _error_row(path, key, sources, isolation, "grading it killed the Dask worker, each time it "
                                                                "was tried")
            except FutureCancelledError as e:  # not by us: we return as soon as we cancel
                row = _error_row(path, key, sources, isolation, f"the Dask cluster cancelled its task ({e}); "
                                                                f"grade it again")
            except Exception as e:  # a grader bug on the worker must cost one row, not the batch
                row = _error_row(path, key, sources, isolation, f"the grader failed on a worker: "
                                                                f"{type(e).__name__}: {str(e)[:300]}")
            if not finish(row):
                for other in left:
                    other.cancel()
                return


def _error_row(path: Path, key: str, sources: dict[str, Source], isolation: sandbox.Isolation, why: str) -> Row:
    return Row(key=key, student=student_of(path, sources), file=path.name, status="error", reason=why,
               isolation=isolation.name)
