"""Stage 4: running the rebuilt notebook in a fresh, sandboxed kernel (nbclient + course_lib.grading.sandbox).

The kernel runs in a scratch folder under the system's temp directory, isolated by
`course_lib.grading.sandbox` (bubblewrap where it works; as a uid of its own when the grader is
root), within `Limits` (memory with the tmpfs counted, file size, scratch disk watched every 0.2 s,
processes), no core files and an allow-listed environment, in a session of its own so that every
process it starts is killed afterwards. The pid file sits beside the scratch folder, where the
kernel cannot write. Errors do not stop the run; a cell past `cell_timeout` is interrupted, and killed with
its kernel when it ignores the interrupt; the kernel is also killed at the total `timeout`. What
comes back: the outputs, the answers `check()` recorded (bytes, read as data), how the kernel ended.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from course_lib import checks
from course_lib.grading import sandbox
from course_lib.grading.sources import nbgrader_meta

MAX_RECORD_BYTES = 20_000_000
OUTPUT_CHARS_PER_CELL = 20_000
KILL_GRACE_S = 5.0  # how long an interrupted cell may take to stop before its kernel is killed


@dataclass(frozen=True)
class Limits:
    """What one submission's kernel may use: seconds per cell, seconds in all, MB of memory (the
    data segment (RLIMIT_DATA) plus, in a sandbox, its /tmp and /dev/shm: at most `tmpfs_mb` of it, a quarter of
    `memory_mb` at most), MB per file, MB of disk in its scratch folder (checked every 0.2 s, and no
    single file above it), processes at once (in a sandbox) and torch/BLAS threads."""

    cell_timeout: float = 60.0
    timeout: float = 600.0
    memory_mb: int = 4096
    file_mb: int = 256
    threads: int = 1  # torch/BLAS threads in the kernel
    disk_mb: int = 512
    processes: int = 256
    tmpfs_mb: int = 256

    def __post_init__(self) -> None:
        if self.cell_timeout <= 0 or self.timeout <= 0:
            raise ValueError(f"timeouts must be positive, got cell {self.cell_timeout} s, total {self.timeout} s")
        if min(self.memory_mb, self.file_mb, self.tmpfs_mb) < 0 or self.threads < 1 or self.disk_mb < 1 \
                or self.processes < 1:
            raise ValueError(f"expected memory_mb, file_mb, tmpfs_mb >= 0, threads, disk_mb, processes >= 1, "
                             f"got {self}")

    def tmpfs(self, isolated: bool) -> int:
        """MB of the memory limit given to the sandbox's /tmp and /dev/shm (none without a sandbox)."""
        if not isolated:
            return 0
        return min(self.tmpfs_mb, self.memory_mb // 4) if self.memory_mb else self.tmpfs_mb

    def confinement(self, isolated: bool, hide: Iterable[Path] = (), lib: Path | None = None,
                    ids: tuple[int, int] | None = None) -> sandbox.Confinement:
        """The kernel's rlimits: the data limit is the memory limit less the tmpfs allowance."""
        tmpfs = self.tmpfs(isolated)
        return sandbox.Confinement(memory=max(0, self.memory_mb - tmpfs) << 20,
                                   file_size=min(self.file_mb or self.disk_mb, self.disk_mb) << 20,
                                   processes=self.processes, tmpfs_mb=tmpfs, hide=tuple(hide), lib=lib,
                                   ids=ids if isolated else None)



class _GradingClient(NotebookClient):
    """nbclient with outputs capped per cell and timed-out cells remembered."""

    def __init__(self, nb: nbformat.NotebookNode, place: tuple[Path, sandbox.Confinement, sandbox.Isolation], **kw):
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


def kill_group(pid: int | None) -> None:
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
            scratch_root: Path | None = None, isolation: sandbox.Isolation | None = None,
            hide: Iterable[Path] = (), lib: Path | None = None, deadline: float | None = None) -> Run:
    """Run `nb` in a fresh kernel in a new scratch folder (under `scratch_root`, else the system's
    temp directory), isolated as `isolation` says (default: `sandbox.isolation()`), with the folders
    `hide` hidden and the course_lib under `lib` imported (when given), and collect the records; the
    scratch folder is removed afterwards. `deadline` (time.monotonic) ends the run early."""
    isolation = isolation or sandbox.isolation()
    scratch = Path(tempfile.mkdtemp(prefix="course-grade-", dir=scratch_root))
    work, records = scratch / "work", scratch / "records"
    work.mkdir()
    records.mkdir()
    ids = sandbox.kernel_ids() if isolation.isolated else None
    if ids is not None:  # the kernel runs as nobody: its folders are its own, the one above only passable
        if scratch_root is not None:
            os.chmod(scratch_root, os.stat(scratch_root).st_mode & 0o7777 | 0o111)
        for folder in (scratch, work, records):
            os.chown(folder, *ids)
    pid_file = scratch.parent / f"{scratch.name}.pid"  # beside the scratch folder: out of the kernel's reach
    threads = str(limits.threads)
    env = {k: v for k, v in os.environ.items() if k in _KERNEL_ENV or k.startswith("LC_")}
    env.update({checks.RECORD_DIR_ENV: str(records), "MPLBACKEND": "Agg", "TMPDIR": str(work),
                "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads,
                "PYDEVD_DISABLE_FILE_VALIDATION": "1", "PYTHONDONTWRITEBYTECODE": "1"})
    if lib is not None:
        env["PYTHONPATH"] = str(Path(lib).resolve())
    if ids is not None:
        env.update({"HOME": str(work), "USER": f"kernel{ids[0]}", "LOGNAME": f"kernel{ids[0]}"})
    client = _GradingClient(nb, (scratch, limits.confinement(isolation.isolated, hide, lib, ids), isolation),
                            timeout=int(max(1, limits.cell_timeout)), allow_errors=True,
                            interrupt_on_timeout=True, shutdown_kernel="immediate", record_timing=False,
                            startup_timeout=120, resources={"metadata": {"path": str(work)}})
    run = Run(nb, {})
    log = open(scratch / "kernel.log", "wb")
    try:
        with client.setup_kernel(cwd=str(work), env=env, stdout=log, stderr=log):
            pid_file.write_text(str(client.km.provisioner.pid))  # for batch._kill_orphans
            _run_cells(client, run, limits, scratch, deadline)
    except (RuntimeError, TimeoutError, ValueError) as e:  # raised only while starting the kernel
        run.stopped_at, run.stop_status = 0, "kernel died"
        run.stop_reason = f"the kernel did not start ({type(e).__name__}: {e})"
    finally:
        kill_group(getattr(getattr(client.km, "provisioner", None), "pid", None) or client.kernel_pid)
        log.close()
        run.timed_out = client.timed_out
        for name in record_names:
            if (text := _read_record(scratch, f"{name}.json")) is not None:
                run.records[name] = text
        shutil.rmtree(scratch, ignore_errors=True)
        pid_file.unlink(missing_ok=True)
    return run


def _read_record(scratch: Path, name: str) -> bytes | None:
    """The bytes of `scratch`/records/`name`: a plain file (no link, no FIFO, and `records` not a
    link either: the kernel owns it) of at most MAX_RECORD_BYTES, else None."""
    try:
        folder = os.open(scratch / "records", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder)
    except OSError:
        return None
    finally:
        os.close(folder)
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_RECORD_BYTES:
            return None
        return f.read(MAX_RECORD_BYTES + 1)[:MAX_RECORD_BYTES]


def cell_name(nb: nbformat.NotebookNode, index: int) -> str:
    """'cell 6 (homomorphism_error)': a cell by its position and, when it has one, its grade_id."""
    grade_id = nbgrader_meta(nb.cells[index]).get("grade_id")
    return f"cell {index} ({grade_id})" if grade_id else f"cell {index}"


def _run_cells(client: _GradingClient, run: Run, limits: Limits, scratch: Path, end: float | None) -> None:
    """Execute the cells in order, within the time and disk limits, until the end or until the kernel is gone."""
    deadline = time.monotonic() + limits.timeout if end is None else end
    process = client.km.provisioner.process
    client.kernel_pid = process.pid
    watchdog = _Watchdog(process.pid, scratch, limits.disk_mb << 20)
    watchdog.start()
    try:
        for index, cell in enumerate(run.notebook.cells):
            if cell.cell_type != "code":
                continue
            now, where = time.monotonic(), cell_name(run.notebook, index)
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
                if watchdog.disk_full:
                    run.stop_status = "error"
                    run.stop_reason = f"{where} wrote more than the {limits.disk_mb} MB disk limit into its scratch folder"
                elif watchdog.fired:
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


def disk_usage(folder: Path, most: int) -> int:
    """Bytes of disk the files under `folder` take (st_blocks), counting stops once above `most`;
    each file or folder counts at least one 4 KiB block, so a million empty files count too."""
    used = 0
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            try:
                used += max(os.lstat(os.path.join(root, name)).st_blocks * 512, 4096)
            except OSError:
                continue
            if used > most:
                return used
    return used


class _Watchdog(threading.Thread):
    """Kills the kernel's process group when `deadline` (time.monotonic) passes, or when its scratch
    folder takes more than `disk` bytes (checked every 0.2 s)."""

    def __init__(self, pid: int, scratch: Path, disk: int):
        super().__init__(daemon=True)
        self.pid, self.deadline, self.fired, self.disk_full = pid, float("inf"), False, False
        self.scratch, self.disk = scratch, disk
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.2):
            if disk_usage(self.scratch, self.disk) > self.disk:
                self.disk_full = True
                kill_group(self.pid)
                return
            if time.monotonic() > self.deadline:
                self.fired = True
                kill_group(self.pid)
                return

    def stop(self) -> None:
        self._done.set()
