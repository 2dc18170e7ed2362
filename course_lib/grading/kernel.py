"""Stage 4: running the rebuilt notebook in a fresh, sandboxed kernel (nbclient + course_lib.grading.sandbox).

The kernel runs in a scratch folder under the system's temp directory, isolated by
`course_lib.grading.sandbox` (bubblewrap where it works), with RLIMIT_AS, RLIMIT_FSIZE, no core files and
an allow-listed environment, in a session of its own so that every process it starts is killed
afterwards. Errors do not stop the run; a cell past `cell_timeout` is interrupted, and killed with
its kernel when it ignores the interrupt; the kernel is also killed at the total `timeout`. What
comes back: the outputs, the answers `check()` recorded (bytes, read as data), how the kernel ended.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
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
        kill_group(getattr(getattr(client.km, "provisioner", None), "pid", None) or client.kernel_pid)
        log.close()
        run.timed_out = client.timed_out
        for name in record_names:
            path = records / f"{name}.json"
            if path.is_file() and not path.is_symlink() and path.stat().st_size <= MAX_RECORD_BYTES:
                run.records[name] = path.read_bytes()
        shutil.rmtree(scratch, ignore_errors=True)
    return run


def cell_name(nb: nbformat.NotebookNode, index: int) -> str:
    """'cell 6 (homomorphism_error)': a cell by its position and, when it has one, its grade_id."""
    grade_id = nbgrader_meta(nb.cells[index]).get("grade_id")
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
                kill_group(self.pid)
                return

    def stop(self) -> None:
        self._done.set()
