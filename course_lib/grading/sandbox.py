"""Kernels that cannot touch the grader's files or the network: bubblewrap around each kernel.

Every kernel the grader starts goes through `KernelManager` (whichever worker starts it: the
grader's process pool, or any other pool of workers), which runs it under bubblewrap (`bwrap`,
Debian's package `bubblewrap`, unprivileged through user namespaces, or as root):

- no capabilities (`--cap-drop ALL`), nested user namespaces disabled (`--disable-userns`, where
  bwrap has it), and, when the grader is root, the kernel's user is `nobody` (uid/gid 65534 or the
  system's `nobody`): bwrap is started after dropping to that user, so that even a file the sandbox
  left writable would be written as nobody, never as root;
- the whole file system read-only (`--ro-bind / /`), with a fresh `/dev`, `/proc`, a `/tmp` and a
  `/dev/shm` of capped size (`tmpfs_mb`, counted against the memory limit), and `/run`, `/dev` and
  the hidden folders read-only;
- hidden (an empty read-only tmpfs over them): the folders in `hide` (the grader passes the project
  folder, the real course_lib and the source notebooks' folders), so that the kernel can neither
  import nor read the references; the library it imports is the copy given in `lib`;
- writable: only the kernel's own scratch folder, at its own path; the folder that holds it (and
  the scratch folders of the other kernels of the batch) is hidden behind an empty tmpfs; the
  Python environment and course_lib stay visible (read-only) even where they lie under /tmp;
- no network (`--unshare-net`: a loopback of its own). The grader talks to the kernel over
  ZeroMQ's `ipc` transport, Unix sockets in the scratch folder, which another network namespace
  does not cut (TCP on the loopback would be);
- its own process, IPC and host-name namespaces: the kernel sees no other process, and when the
  sandbox dies every process the kernel started dies with it (`--die-with-parent`);
- inside, before ipykernel starts: the memory, file-size and process-count limits (RLIMIT_DATA,
  RLIMIT_FSIZE, RLIMIT_NPROC: in its own user namespace it counts only the sandbox's processes) and
  no core files. Memory is RLIMIT_DATA (the heap and private writable mappings, Linux >= 4.7), not
  RLIMIT_AS: the address space also counts what a library only reserves or maps read-only, and
  PyTorch's CUDA build reserves 3.2 GB of it on import (0.6 GB for the CPU build), so under an
  address-space limit a correct notebook could not import torch.

The grader's end of the kernel's sockets refuses any message over `MAX_MESSAGE_BYTES` (ZeroMQ's
MAXMSGSIZE drops it before it is read), so no print can make the grader's process hold more.

An interrupt goes as a message on the kernel's control channel (a SIGINT to the process group
would end bwrap, not interrupt the cell). `isolation()` runs `bwrap ... true` once; where bwrap is
missing or does not work (macOS, a kernel without user namespaces) it says 'none' and why, and
kernels run with the limits only.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import zmq
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager

BWRAP = "bwrap"  # the command looked up on PATH
SOCKET_PATH_MAX = 107  # a Unix socket's path fits in 108 bytes; the kernel's are '<scratch>/k-<1 to 5>'
MAX_MESSAGE_BYTES = 32 << 20  # the largest message the grader accepts from a kernel
SHM_SHARE = 4  # /dev/shm gets 1/SHM_SHARE of the tmpfs allowance, /tmp the rest


@dataclass(frozen=True)
class Isolation:
    """How kernels are isolated: `name` is 'bubblewrap' (`detail`: the command) or 'none' (`detail`: why)."""

    name: str
    detail: str = ""
    hidden: tuple[str, ...] = ()  # hidden from every kernel too: the submissions' and the gradebook's folders

    @property
    def isolated(self) -> bool:
        return self.name != "none"

    def describe(self) -> str:
        if self.isolated:
            root = " as a uid of its own (the grader is root)," if os.geteuid() == 0 else ""
            return (f"isolation: {self.name} ({self.detail}): each kernel runs{root} with no capabilities, "
                    f"sees the file system read-only except its own scratch folder, does not see the project "
                    f"folder, the source notebooks, the submissions or the gradebook, and has no network")
        return (f"isolation: none ({self.detail}): kernels run as your user and can change your files "
                f"and use the network; grade only trusted notebooks, or install bubblewrap")


NO_ISOLATION = Isolation("none", "turned off")


def library_folder() -> Path:
    """The course_lib this grader runs (the real one, with the references)."""
    return Path(__file__).resolve().parents[1]


def python_folders(lib: Path | None = None) -> tuple[Path, ...]:
    """What a kernel needs to start: the environment, the Python it is built on, and the library
    it imports (`lib`, the folder that holds a course_lib; default: the real course_lib)."""
    folders = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(),
               Path(lib).resolve() if lib is not None else library_folder()}
    return tuple(sorted(folders))


KERNEL_IDS = (1_000_000, 1_000_000_000)  # the range of a kernel's own uid/gid when the grader is root


def kernel_ids() -> tuple[int, int] | None:
    """A fresh, unprivileged (uid, gid), the same number, for one kernel when the grader is root (None
    otherwise): no account has it, so the kernel owns no file but its scratch folder's, and its
    process count (RLIMIT_NPROC, counted per uid) is its own."""
    if os.geteuid() != 0:
        return None
    number = KERNEL_IDS[0] + secrets.randbelow(KERNEL_IDS[1] - KERNEL_IDS[0])
    return number, number


@functools.cache
def bwrap_options(bwrap: str) -> frozenset[str]:
    """The options this bwrap knows, from its --help ('--disable-userns' needs bubblewrap 0.8)."""
    try:
        text = subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    return frozenset(w for line in text.splitlines() for w in line.split()[:1] if w.startswith("--"))


def _closed_ancestor(folder: Path) -> Path | None:
    """The highest folder above `folder` (or itself) that others may not pass through (no o+x)."""
    for parent in [*reversed(folder.parents), folder][1:]:
        try:
            if not os.stat(parent).st_mode & 0o001:
                return parent
        except OSError:
            return parent
    return None


def bubblewrap_argv(scratch: Path, command: Sequence[str], bwrap: str = BWRAP,
                    needed: Sequence[Path] | None = None, *, tmpfs_mb: int = 0,
                    hide: Sequence[Path] = (), lib: Path | None = None,
                    ids: tuple[int, int] | None = None) -> list[str]:
    """`command` wrapped in bwrap: read-only everything, `scratch` writable, its parent and `hide`
    hidden, no network, no capabilities; as user `ids` (uid, gid) when given (the grader is root).

    The folders Python needs (`needed`, default `python_folders(lib)`) stay visible, read-only, even
    when they lie under a hidden folder. `tmpfs_mb` > 0 caps /tmp and /dev/shm (together) at that
    many MB. ValueError when `scratch` lies inside a needed folder, since the other kernels'
    scratch folders next to it could then not be hidden.
    """
    scratch = Path(scratch).resolve()
    hidden = scratch.parent
    needed = [Path(p).resolve() for p in (python_folders(lib) if needed is None else needed)]
    for folder in needed:
        if scratch.is_relative_to(folder):
            raise ValueError(f"expected a scratch folder outside the Python installation's folders, got "
                             f"{scratch} (inside {folder}): set TMPDIR elsewhere")
    hide = sorted({Path(h).resolve() for h in hide} - set(needed))
    hide = [h for h in hide if not scratch.is_relative_to(h) and not any(h != o and h.is_relative_to(o) for o in hide)]
    inner = [h for h in hide if any(h.is_relative_to(n) for n in needed)]  # hidden after the binds: a
    hide = [h for h in hide if h not in inner]  # course_lib installed inside the environment
    covered = [Path("/tmp"), Path("/run"), hidden, *hide]
    under = [folder for folder in needed if any(folder.is_relative_to(c) for c in covered)]
    shown = [arg for folder in under for arg in ("--ro-bind", str(folder), str(folder))]
    known = bwrap_options(shutil.which(bwrap) or bwrap)
    sized = tmpfs_mb > 0 and "--size" in known

    def size(mb: float) -> list[str]:
        return ["--size", str(max(1 << 20, int(mb * (1 << 20))))] if sized else []

    argv = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            *size(tmpfs_mb - tmpfs_mb / SHM_SHARE), "--tmpfs", "/tmp", *size(tmpfs_mb / SHM_SHARE), "--tmpfs", "/dev/shm",
            "--tmpfs", "/run", "--tmpfs", str(hidden), *[a for h in hide for a in ("--tmpfs", str(h))],
            *shown, *[a for h in inner for a in ("--tmpfs", str(h))], "--bind", str(scratch), str(scratch),
            *[a for ro in ["/run", "/dev", str(hidden), *map(str, hide + inner)] for a in ("--remount-ro", ro)],
            "--unshare-all", "--unshare-user", *(["--disable-userns"] if "--disable-userns" in known else []),
            "--cap-drop", "ALL", "--die-with-parent", "--unsetenv", "JPY_PARENT_PID",  # pid 1 is bwrap's: no poller
            "--", *command]
    if ids is None:
        return argv
    # the scratch folder (the kernel's own) too, when it lies under a folder others cannot pass
    # (pytest's /tmp/pytest-of-root is 0700): bound back into the cover, then bwrap binds it writable
    closed = {_closed_ancestor(folder) for folder in needed} | {_closed_ancestor(scratch.parent)}
    cover = sorted(c for c in closed if c is not None)
    cover = [c for c in cover if not any(c != o and c.is_relative_to(o) for o in cover)]
    show = [str(folder) for folder in [*needed, scratch] if any(folder.is_relative_to(c) for c in cover)]
    spec = {"uid": ids[0], "gid": ids[1], "cover": list(map(str, cover)), "show": show}
    return [sys.executable, "-c", _PREPARE_THEN_EXEC, json.dumps(spec), shutil.which(bwrap) or bwrap, *argv[1:]]


# When the grader is root: prepare, as root, a mount namespace of the kernel's own in which the
# folders its user could not pass (a Python under /root) are covered by a small tmpfs with only the
# folders it needs bound back in, then become the kernel's (uid, gid) with no groups, no
# capabilities and no_new_privs, and run bwrap unprivileged from there (a user namespace mapping
# only that uid, nested ones disabled). argv[1]: {"uid", "gid", "cover": [...], "show": [...]}.
_PREPARE_THEN_EXEC = """\
import ctypes, json, os, sys
libc = ctypes.CDLL(None, use_errno=True)
spec = json.loads(sys.argv[1])
def check(result, what):
    if result != 0:
        raise SystemExit(f"course sandbox: {what} failed: {os.strerror(ctypes.get_errno())}")
check(libc.unshare(0x20000), "unshare(CLONE_NEWNS)")
check(libc.mount(b"none", b"/", None, 0x4000 | 0x40000, None), "making / private")
fds = [os.open(p, os.O_PATH | os.O_DIRECTORY) for p in spec["show"]]
for folder in spec["cover"]:
    check(libc.mount(b"tmpfs", folder.encode(), b"tmpfs", 0, b"mode=0755,size=1m"), f"covering {folder}")
for folder, fd in zip(spec["show"], fds):
    os.makedirs(folder, exist_ok=True)
    check(libc.mount(f"/proc/self/fd/{fd}".encode(), folder.encode(), None, 0x1000 | 0x4000, None), f"showing {folder}")
    os.close(fd)
os.setgroups([])
os.setgid(spec["gid"])
os.setuid(spec["uid"])
check(libc.prctl(4, 1, 0, 0, 0), "PR_SET_DUMPABLE")
check(libc.prctl(38, 1, 0, 0, 0), "PR_SET_NO_NEW_PRIVS")
os.execv(sys.argv[2], sys.argv[2:])
"""


@functools.cache
def _probe(bwrap: str) -> Isolation:
    path = shutil.which(bwrap)
    if path is None:
        return Isolation("none", f"no {bwrap} command (Debian: apt-get install bubblewrap)")
    with tempfile.TemporaryDirectory(prefix="course-sandbox-") as parent:
        scratch = Path(parent, "probe")
        scratch.mkdir()
        if (ids := kernel_ids()) is not None:
            os.chmod(parent, 0o711)
            os.chown(scratch, *ids)
        try:
            done = subprocess.run(bubblewrap_argv(scratch, ["true"], path, ids=ids),
                                  capture_output=True, timeout=60)
        except (OSError, ValueError, subprocess.TimeoutExpired) as e:
            return Isolation("none", f"`{path} ... true` failed: {type(e).__name__}: {e}")
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        return Isolation("none", f"`{path} ... true` failed: {said[-1] if said else f'exit code {done.returncode}'}")
    return Isolation("bubblewrap", path)


def isolation(bwrap: str | None = None) -> Isolation:
    """Whether kernels can run under bubblewrap here: tried once (per command) by running `bwrap ... true`."""
    return _probe(bwrap or BWRAP)


# Runs in the new kernel process before ipykernel: leave the grader's session keyring for a new,
# empty one (keyrings are in no namespace bwrap makes: a kernel that possesses the grader's could
# pass the references' answers to the next kernel), set the limits, then become the kernel.
KEYCTL_SYSCALL = {"x86_64": 250, "aarch64": 219}  # keyctl(2)'s number; others: no keyring calls made
_LIMITS_THEN_EXEC = (
    "import ctypes, errno, os, platform, resource, sys\n"
    f"number = {KEYCTL_SYSCALL!r}.get(platform.machine())\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "if number and libc.syscall(number, 1, None) < 0 and ctypes.get_errno() != errno.ENOSYS:\n"
    "    sys.exit(f'cannot leave the grader\\'s session keyring: {os.strerror(ctypes.get_errno())}')\n"
    "mem, fsize, nproc = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])\n"
    "if mem: resource.setrlimit(resource.RLIMIT_DATA, (mem, mem))\n"
    "if fsize: resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))\n"
    "if nproc: resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))\n"
    "resource.setrlimit(resource.RLIMIT_CORE, (0, 0))\n"
    "os.execv(sys.argv[4], sys.argv[4:])\n"
)


class BoundedClient(AsyncKernelClient):
    """A kernel client whose sockets drop any message over MAX_MESSAGE_BYTES before reading it."""

    def _create_connected_socket(self, channel: str, identity: bytes | None = None) -> zmq.Socket:
        url = self._make_url(channel)
        sock = self.context.socket(__import__("jupyter_client.connect", fromlist=["x"]).channel_socket_types[channel])
        sock.linger = 1000
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        sock.setsockopt(zmq.RECONNECT_IVL, 20)  # after a dropped message: back within 20 ms
        if identity:
            sock.identity = identity
        sock.connect(url)
        return sock


@dataclass(frozen=True)
class Confinement:
    """What confines one kernel: rlimits in bytes / processes (0: none), the tmpfs allowance in MB,
    the folders hidden from it and the folder holding the course_lib it imports (None: the real one)."""

    memory: int = 0  # RLIMIT_DATA: the writable private memory (heap, anonymous mmap), not the address space
    file_size: int = 0  # RLIMIT_FSIZE
    processes: int = 0  # RLIMIT_NPROC, applied only in a sandbox (its own user namespace)
    tmpfs_mb: int = 0
    hide: tuple[Path, ...] = ()
    lib: Path | None = None
    ids: tuple[int, int] | None = None  # (uid, gid) in a sandbox when the grader is root: `kernel_ids()`


class KernelManager(AsyncKernelManager):
    """An ipykernel on this interpreter, confined as `confinement` says, its connection file in
    `scratch`, and, when `isolation` is bubblewrap, in a sandbox around `scratch` (as `nobody` when
    the grader is root)."""

    scratch: Path
    confinement: Confinement = Confinement()
    isolation: Isolation = NO_ISOLATION
    ids: tuple[int, int] | None = None
    client_class = "course_lib.grading.sandbox.BoundedClient"

    def place(self, scratch: Path, confinement: Confinement, isolation: Isolation) -> None:
        """Set where the kernel lives and how it is confined (before it starts)."""
        self.scratch, self.confinement, self.isolation = Path(scratch).resolve(), confinement, isolation
        self.client_factory = BoundedClient
        self.connection_file = str(self.scratch / "kernel.json")
        if isolation.isolated:
            self.ids = confinement.ids
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
        c = self.confinement
        kernel = [sys.executable, "-c", _LIMITS_THEN_EXEC, str(c.memory), str(c.file_size),
                  str(c.processes if self.isolation.isolated else 0),
                  sys.executable, "-m", "ipykernel_launcher", "-f", self.connection_file, *(extra_arguments or [])]
        if not self.isolation.isolated:
            return kernel
        if self.ids is not None:  # the connection file (0600, the grader's) must be readable by the kernel
            os.chown(self.connection_file, *self.ids)
        return bubblewrap_argv(self.scratch, kernel, self.isolation.detail, tmpfs_mb=c.tmpfs_mb,
                               hide=c.hide, lib=c.lib, ids=self.ids)


# Runs inside a sandbox built like a kernel's: tries what a kernel must not be able to do, and
# prints, as JSON, {attempt: what happened} ("refused: <error>" or "DONE").
_ATTEMPTS = r'''
import ctypes, json, os, socket, sys
spec = json.loads(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
out = {}
def attempt(name, fn):
    try:
        result = fn()
    except OSError as e:
        out[name] = f"refused: {e.strerror or e}"
        return
    out[name] = "DONE" if result is None or result == 0 else f"refused: {os.strerror(ctypes.get_errno())}"
attempt("remount / writable", lambda: libc.mount(None, b"/", None, 32 | 4096, None))
attempt("unmount /tmp", lambda: libc.umount2(b"/tmp", 2))
for path in spec["write"]:
    attempt(f"write {path}", lambda: open(path, "w").close())
attempt(f"connect to the grader's {spec['host']}:{spec['port']}",
        lambda: socket.create_connection((spec["host"], spec["port"]), timeout=5).close())
for path in spec["read"]:
    attempt(f"read {path}", lambda: open(path, "rb").close())
attempt("create a user namespace", lambda: libc.unshare(0x10000000))
caps = [l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff:")][0]
out["capabilities (CapEff)"] = "DONE: " + caps if int(caps, 16) else "refused: CapEff 0"
print(json.dumps(out))
'''


def prove(isolation: Isolation, hide: Sequence[Path] = (), trusted: Sequence[Path] = (),
          tmpfs_mb: int = 64) -> dict[str, str]:
    """Try, from inside a sandbox built like a kernel's (as the kernel's user), each escape the
    grader relies on being impossible: {attempt: 'refused: <why>' or 'DONE...'}. Writes are tried
    at /etc, the grader's HOME, the folder above the scratch folder, the Python environment and the
    `trusted` files' folders; reads at the `trusted` files; a connection to a socket this process listens on."""
    import socket
    with tempfile.TemporaryDirectory(prefix="course-prove-") as parent, \
            socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        scratch = Path(parent, "probe")
        scratch.mkdir()
        ids = kernel_ids()
        if ids is not None:
            os.chmod(parent, 0o711)
            os.chown(scratch, *ids)
        home = Path(os.environ.get("HOME", "/root"))
        spec = {"write": [str(p / "course-probe") for p in [Path("/etc"), home, Path(parent), *python_folders()[:2],
                                                             *{Path(t).resolve().parent for t in trusted}]],
                "read": [str(Path(t).resolve()) for t in trusted], "host": "127.0.0.1",
                "port": listener.getsockname()[1]}
        command = [sys.executable, "-c", _ATTEMPTS, json.dumps(spec)]
        argv = bubblewrap_argv(scratch, command, isolation.detail, tmpfs_mb=tmpfs_mb, hide=hide, ids=ids)
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=scratch)
        for path in spec["write"]:
            if Path(path).exists() and Path(path).parent != scratch:
                Path(path).unlink()  # written after all: the result already says so
    if done.returncode != 0:
        raise RuntimeError(f"the sandbox's self-test did not run: {done.stderr.strip()[-300:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def proven(results: dict[str, str]) -> str:
    """The isolation line's account of `prove`: what was refused."""
    return "proven from inside before grading: " + "; ".join(f"{k}: {v}" for k, v in results.items())
