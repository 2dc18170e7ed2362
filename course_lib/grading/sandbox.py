"""Kernels that cannot touch the grader's files or the network: bubblewrap around each kernel.

Every kernel the grader starts goes through `KernelManager` (whichever worker starts it: the
grader's process pool, or any other pool of workers), which runs it under bubblewrap (`bwrap`,
Debian's package `bubblewrap`, unprivileged through user namespaces, or as root):

- the whole file system read-only (`--ro-bind / /`), with a fresh `/tmp`, `/dev`, `/proc` and
  `/run` (where system services keep their sockets);
- writable: only the kernel's own scratch folder, at its own path; the folder that holds it (and
  the scratch folders of the other kernels of the batch) is hidden behind an empty tmpfs; the
  Python environment and course_lib stay visible (read-only) even where they lie under /tmp;
- no network (`--unshare-net`: a loopback of its own). The grader talks to the kernel over
  ZeroMQ's `ipc` transport, Unix sockets in the scratch folder, which another network namespace
  does not cut (TCP on the loopback would be);
- its own process, IPC and host-name namespaces: the kernel sees no other process, and when the
  sandbox dies every process the kernel started dies with it (`--die-with-parent`);
- inside, before ipykernel starts: the memory and file-size limits (RLIMIT_AS, RLIMIT_FSIZE) and
  no core files.

An interrupt goes as a message on the kernel's control channel (a SIGINT to the process group
would end bwrap, not interrupt the cell). `isolation()` runs `bwrap ... true` once; where bwrap is
missing or does not work (macOS, a kernel without user namespaces) it says 'none' and why, and
kernels run with the limits only.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from jupyter_client.manager import AsyncKernelManager

BWRAP = "bwrap"  # the command looked up on PATH
SOCKET_PATH_MAX = 107  # a Unix socket's path fits in 108 bytes; the kernel's are '<scratch>/k-<1 to 5>'


@dataclass(frozen=True)
class Isolation:
    """How kernels are isolated: `name` is 'bubblewrap' (`detail`: the command) or 'none' (`detail`: why)."""

    name: str
    detail: str = ""

    @property
    def isolated(self) -> bool:
        return self.name != "none"

    def describe(self) -> str:
        if self.isolated:
            return (f"isolation: {self.name} ({self.detail}): each kernel sees the file system read-only "
                    f"except its own scratch folder, and no network")
        return (f"isolation: none ({self.detail}): kernels run as your user and can change your files "
                f"and use the network; grade only trusted notebooks, or install bubblewrap")


NO_ISOLATION = Isolation("none", "turned off")


def python_folders() -> tuple[Path, ...]:
    """What a kernel needs to start: the environment, the Python it is built on, and course_lib."""
    folders = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), Path(__file__).resolve().parents[1]}
    return tuple(sorted(folders))


def bubblewrap_argv(scratch: Path, command: Sequence[str], bwrap: str = BWRAP,
                    needed: Sequence[Path] | None = None) -> list[str]:
    """`command` wrapped in bwrap: read-only everything, `scratch` writable, its parent hidden, no network.

    The folders Python needs (`python_folders()`) stay visible, read-only, even when they lie under a
    hidden folder (a clone in /tmp, say). ValueError when `scratch` lies inside one of them, since
    the other kernels' scratch folders next to it could then not be hidden.
    """
    scratch = Path(scratch).resolve()
    hidden = scratch.parent
    needed = [Path(p).resolve() for p in (python_folders() if needed is None else needed)]
    for folder in needed:
        if scratch.is_relative_to(folder):
            raise ValueError(f"expected a scratch folder outside the Python installation's folders, got "
                             f"{scratch} (inside {folder}): set TMPDIR elsewhere")
    covered = [Path("/tmp"), Path("/run"), hidden]
    shown = [arg for folder in needed if any(folder.is_relative_to(c) for c in covered)
             for arg in ("--ro-bind", str(folder), str(folder))]
    return [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--tmpfs", "/tmp", "--tmpfs", "/run", "--tmpfs", str(hidden), *shown, "--bind", str(scratch), str(scratch),
            "--unshare-all", "--die-with-parent", "--unsetenv", "JPY_PARENT_PID",  # pid 1 is bwrap's: no poller
            "--", *command]


@functools.cache
def _probe(bwrap: str) -> Isolation:
    path = shutil.which(bwrap)
    if path is None:
        return Isolation("none", f"no {bwrap} command (Debian: apt-get install bubblewrap)")
    with tempfile.TemporaryDirectory(prefix="course-sandbox-") as parent:
        scratch = Path(parent, "probe")
        scratch.mkdir()
        try:
            done = subprocess.run(bubblewrap_argv(scratch, ["true"], path), capture_output=True, timeout=60)
        except (OSError, ValueError, subprocess.TimeoutExpired) as e:
            return Isolation("none", f"`{path} ... true` failed: {type(e).__name__}: {e}")
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        return Isolation("none", f"`{path} ... true` failed: {said[-1] if said else f'exit code {done.returncode}'}")
    return Isolation("bubblewrap", path)


def isolation(bwrap: str | None = None) -> Isolation:
    """Whether kernels can run under bubblewrap here: tried once (per command) by running `bwrap ... true`."""
    return _probe(bwrap or BWRAP)


# Runs in the new kernel process before ipykernel: set the limits, then become the kernel.
_LIMITS_THEN_EXEC = (
    "import os, resource, sys\n"
    "mem, fsize = int(sys.argv[1]), int(sys.argv[2])\n"
    "if mem: resource.setrlimit(resource.RLIMIT_AS, (mem, mem))\n"
    "if fsize: resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))\n"
    "resource.setrlimit(resource.RLIMIT_CORE, (0, 0))\n"
    "os.execv(sys.argv[3], sys.argv[3:])\n"
)


class KernelManager(AsyncKernelManager):
    """An ipykernel on this interpreter under `rlimits` = (address space, file size) in bytes, its
    connection file in `scratch`, and, when `isolation` is bubblewrap, in a sandbox around `scratch`."""

    scratch: Path
    rlimits: tuple[int, int] = (0, 0)
    isolation: Isolation = NO_ISOLATION

    def place(self, scratch: Path, rlimits: tuple[int, int], isolation: Isolation) -> None:
        """Set where the kernel lives and how it is confined (before it starts)."""
        self.scratch, self.rlimits, self.isolation = Path(scratch).resolve(), rlimits, isolation
        self.connection_file = str(self.scratch / "kernel.json")
        if isolation.isolated:
            socket = self.scratch / "k"
            if len(str(socket)) + 3 > SOCKET_PATH_MAX:
                raise ValueError(f"expected a scratch folder path of at most {SOCKET_PATH_MAX - 5} characters "
                                 f"(the kernel's sockets live there), got {self.scratch}: set TMPDIR shorter")
            self.transport, self.ip = "ipc", str(socket)

    @property
    def kernel_spec(self):
        spec = super().kernel_spec
        if spec is not None and self.isolation.isolated:
            spec.interrupt_mode = "message"  # SIGINT to the process group would end bwrap itself
        return spec

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        mem, fsize = self.rlimits
        kernel = [sys.executable, "-c", _LIMITS_THEN_EXEC, str(mem), str(fsize),
                  sys.executable, "-m", "ipykernel_launcher", "-f", self.connection_file, *(extra_arguments or [])]
        if not self.isolation.isolated:
            return kernel
        return bubblewrap_argv(self.scratch, kernel, self.isolation.detail)
