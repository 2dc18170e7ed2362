"""What the browser tests need besides the browser: Chromium found, a loopback web server for the
built book, a JupyterLab server started and stopped, and a watch on everything a page asks for."""

import functools
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from conftest import REPO

SCREENSHOTS = REPO / "book" / "_build" / "screenshots"
LAB_CONFIG = REPO / "scripts" / "jupyter"  # what `make lab` puts on JUPYTER_CONFIG_PATH

# Headless, and nothing of Chromium's own that calls home (updates, sync, field trials).
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
HOW_TO_GET_CHROMIUM = ("the browser tests need Debian's Chromium (`sudo apt-get install chromium`) "
                       "and Playwright for Python (`make setup`); CHROMIUM=/path/to/chromium picks "
                       "another build")


def find_chromium() -> str | None:
    """The Chromium executable: $CHROMIUM, else `chromium` (Debian) or `chromium-browser` on PATH."""
    if os.environ.get("CHROMIUM"):
        return shutil.which(os.environ["CHROMIUM"])
    return shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on at the moment of asking."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the standard library's name
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        """A browser that drops a request it no longer needs (a page left, a load cancelled) is no
        error of the site: only other errors print their traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):  # BrokenPipe, ConnectionReset, ...
            super().handle_error(request, client_address)


class StaticSite:
    """A folder served on 127.0.0.1 at a port the system picks, in a thread, as `with` block."""

    def __init__(self, folder: Path):
        handler = functools.partial(_QuietHandler, directory=str(folder))
        self.server = _QuietServer(("127.0.0.1", 0), handler)
        self.base = f"http://127.0.0.1:{self.server.server_port}/"

    def __enter__(self) -> "StaticSite":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class PageWatch:
    """Everything a page did wrong while it was watched: console errors, uncaught exceptions,
    failed or refused requests (HTTP >= 400), and requests outside `allowed` (aborted)."""

    allowed: str
    problems: list[str] = field(default_factory=list)
    requests: int = 0

    def attach(self, page) -> None:
        page.on("console", lambda m: m.type == "error" and self.problems.append(
            f"console error: {m.text} ({m.location.get('url')})"))
        page.on("pageerror", lambda e: self.problems.append(f"uncaught exception: {e}"))
        page.on("requestfailed", self._failed)
        page.on("response", lambda r: r.status >= 400 and self.problems.append(
            f"HTTP {r.status}: {r.url}"))
        page.route("**/*", self._only_allowed)

    def _failed(self, request) -> None:
        # ERR_ABORTED: cancelled by the page going elsewhere (or by _only_allowed, which reports
        # it itself); a missing file answers 404 and is reported by the "response" handler.
        if request.url.startswith(self.allowed) and request.failure != "net::ERR_ABORTED":
            self.problems.append(f"request failed: {request.url} ({request.failure})")

    def _only_allowed(self, route) -> None:
        self.requests += 1
        url = route.request.url
        if url.startswith(self.allowed) or url.startswith("data:"):
            route.continue_()
        else:
            self.problems.append(f"request outside {self.allowed}: {url}")
            route.abort()


class LabFailed(RuntimeError):
    """JupyterLab did not start (or died); the message ends with its log."""


class JupyterLab:
    """A real `jupyter lab` on 127.0.0.1, set up as `make lab` sets it up (no news pop-up), with
    a token, no browser, `root` as its folder, and its own settings, workspaces and runtime
    folders under `state` (so a learner's own JupyterLab settings cannot change what is tested).

    `port` is only asked for: when it is taken, the server tries the next ones (--port-retries),
    and `self.port` is the one it got, read from the server's own runtime file."""

    def __init__(self, root: Path, state: Path, port: int, token: str, timeout: float = 120.0):
        self.root, self.state, self.token, self.timeout = root, state, token, timeout
        self.port: int | None = None
        self.log_path = state / "jupyterlab.log"
        runtime = state / "runtime"
        runtime.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, JUPYTER_CONFIG_PATH=str(LAB_CONFIG), JUPYTER_RUNTIME_DIR=str(runtime),
                   JUPYTERLAB_SETTINGS_DIR=str(state / "settings"),
                   JUPYTERLAB_WORKSPACES_DIR=str(state / "workspaces"))
        command = [str(Path(sys.executable).with_name("jupyter")), "lab", "--no-browser",
                   "--ip=127.0.0.1", f"--port={port}", "--port-retries=50",
                   f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}"]
        if os.getuid() == 0:
            command.append("--allow-root")
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT,
                                        env=env, cwd=root, start_new_session=True)
        self._runtime = runtime

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def wait_until_ready(self) -> None:
        """Wait for the server to answer /api/status; LabFailed with the log if it dies or is late."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise LabFailed(f"JupyterLab exited with {self.process.returncode}:\n{self.log()}")
            if self.port is None:
                info = list(self._runtime.glob(f"jpserver-{self.process.pid}.json"))
                if info:
                    self.port = json.loads(info[0].read_text())["port"]
            if self.port is not None:
                try:
                    with urllib.request.urlopen(self.url(f"api/status?token={self.token}"),
                                                timeout=5) as answer:
                        if answer.status == 200:
                            return
                except OSError:
                    pass
            time.sleep(0.5)
        raise LabFailed(f"JupyterLab did not answer within {self.timeout:.0f} s:\n{self.log()}")

    def stop(self) -> None:
        """Shut the kernels down through the API, then end the server's process group, then any
        kernel of this server that is left (found by its connection file in our runtime folder).
        Safe to call whatever state the server is in."""
        if self.process.poll() is None and self.port is not None:
            try:
                self._delete_every("api/sessions")
            except OSError:
                pass
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if self.process.poll() is not None:
                break
            try:
                os.killpg(self.process.pid, sig)
                self.process.wait(timeout=15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        for pid in self.kernels():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._log.close()

    def kernels(self) -> list[int]:
        """Process ids of the kernels this server started and that still run."""
        pids = []
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                if str(self._runtime).encode() in cmdline.read_bytes():
                    pids.append(int(cmdline.parent.name))
            except OSError:
                pass
        return pids

    def _delete_every(self, path: str) -> None:
        """DELETE each item that GET `path` of the server's REST API lists."""
        headers = {"Authorization": f"token {self.token}"}
        with urllib.request.urlopen(urllib.request.Request(self.url(path), headers=headers),
                                    timeout=10) as answer:
            items = json.load(answer)
        for item in items:
            request = urllib.request.Request(self.url(f"{path}/{item['id']}"), method="DELETE",
                                             headers=headers)
            urllib.request.urlopen(request, timeout=20).close()
