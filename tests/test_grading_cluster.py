"""`course grade --scheduler`: grading on a Dask cluster (course_lib/grading/cluster.py).

One LocalCluster of two worker processes grades part of tests/test_grading.py's corpus while the
test kills the worker grading a slow submission: every row comes back with the built-in grader's
verdict. Then the same with `dask scheduler` and two `dask worker` started as separate processes
(as on real machines), one SIGKILLed mid-batch. Then the refusals and an unreachable scheduler.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import distributed  # the 'cluster' extra (make setup installs it)
from test_grading import CORPUS, REPO, prefixed, solution_nb, write

from course_lib import cli, grading
from course_lib.grading import sandbox
from course_lib.grading import cluster

SUBSET = ["correct", "partial", "untouched", "invalid_json", "syntax_error", "os_exit", "tests_edited",
          "library_answer", "kills_grader"]
# The submission whose worker the test kills: its three kernels (one per exercise) sleep 3 s each, so
# it is still being graded when the killer strikes, 1 s after Dask reports it running.
SLOW = "import time\ntime.sleep(3)\n"


def task_key(path: str) -> str:
    return f"grade-{hashlib.sha1(path.encode()).hexdigest()}"


def kill_the_worker_grading(client, key: str, killed: list, deadline: float) -> None:
    """Once the task `key` runs on a worker, SIGKILL that worker's process (its nanny starts another);
    `killed` gets (pid, whether `key` was still on that worker just before the kill)."""
    while time.monotonic() < deadline and not killed:
        for address, keys in client.processing().items():
            if key in keys:
                time.sleep(1.0)  # let it start its kernel
                pid = client.run(os.getpid, workers=[address])[address]
                still = key in client.processing().get(address, ())
                os.kill(pid, signal.SIGKILL)
                killed.append((pid, still))
                return
        time.sleep(0.1)


def test_dask_grades_like_the_builtin_pool_and_a_killed_worker_loses_no_row(tmp_path, monkeypatch):
    """... and leaves nothing in the temp directory (its workers' copies of the sources, Dask's
    scratch space and the killed task's folder were left there)."""
    temp = Path(tempfile.mkdtemp(prefix="cg-", dir="/tmp"))  # short: kernels' socket paths lie below
    monkeypatch.setenv("TMPDIR", str(temp))
    subs = tmp_path / "submitted"
    subs.mkdir()
    for name in SUBSET:
        build = CORPUS[name][0]
        write(subs / f"{name}.ipynb", build() if callable(build) else build)
    write(subs / "slow.ipynb", prefixed("rotation_about", SLOW))
    sources = grading.find_sources([REPO / "solutions"], problems=[])
    isolation = sandbox.isolation()
    with cluster.local_cluster(2) as local, distributed.Client(local) as watcher:
        killed: list[int] = []
        killer = threading.Thread(target=kill_the_worker_grading, daemon=True,
                                  args=(watcher, task_key("submitted/slow.ipynb"), killed, time.monotonic() + 240))
        killer.start()
        with contextlib.chdir(tmp_path):
            rows = {Path(r.key).stem: r for r in grading.grade(
                [subs], tmp_path / "out", sources, grading.Limits(cell_timeout=30, timeout=240, memory_mb=2500),
                jobs=2, isolation=isolation, scheduler=local.scheduler_address)}
        killer.join()
    assert killed, "the slow submission was never seen running on a worker"
    assert killed[0][1], "the slow submission was no longer on its worker when the worker was killed"
    assert sorted(rows) == sorted(SUBSET + ["slow"])
    for name in SUBSET:
        _, points, status = CORPUS[name]
        if name == "kills_grader" and not isolation.isolated:
            points, status = 0, "error"  # it kills its Dask worker, every time it is tried
        assert (rows[name].total, rows[name].status) == (points, status), rows[name]
        assert rows[name].isolation == isolation.name and rows[name].student == name
    assert (rows["slow"].total, rows["slow"].status) == (8, "graded")  # graded again on another worker
    book = json.loads((tmp_path / "out" / "gradebook.json").read_text())["rows"]
    assert sorted(Path(r["key"]).stem for r in book) == sorted(rows)
    assert not list(temp.iterdir())
    temp.rmdir()


def test_a_local_cluster_leaves_this_process_environment_as_it_found_it():
    """Dask's nannies write MALLOC_TRIM_THRESHOLD_ and OMP_NUM_THREADS=1 into the client's
    environment; every kernel started later (nbval's, in this very test session) would inherit a
    malloc setting that makes torch notebooks 3-4x slower."""
    before = dict(os.environ)
    with cluster.local_cluster(1) as local, distributed.Client(local) as client:
        assert client.run(lambda: os.environ.get("OMP_NUM_THREADS"))  # the workers keep theirs
    assert dict(os.environ) == before


def test_a_worker_with_another_course_lib_refuses(tmp_path):
    nb = tmp_path / "hw.ipynb"
    write(nb, solution_nb())
    texts = {"groups.ipynb": (REPO / "solutions" / "groups.ipynb").read_text()}
    row = cluster.grade_task("hw.ipynb", nb.read_bytes(), "hw.ipynb", texts, "0" * 64, grading.Limits(), None, False)
    assert (row.status, row.total) == ("error", 0) and "the worker refused: its course_lib" in row.reason
    assert cluster.library_hash() == cluster.library_hash() != "0" * 64


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_scheduler_fails_at_once_with_what_to_run(tmp_path):
    write(tmp_path / "hw.ipynb", solution_nb())
    address = f"tcp://127.0.0.1:{free_port()}"
    stderr = io.StringIO()
    start = time.monotonic()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(["grade", str(tmp_path / "hw.ipynb"), "--out", str(tmp_path / "out"), "--scheduler", address])
    assert code == 2 and time.monotonic() - start < cluster.CONNECT_TIMEOUT_S + 20
    assert address in stderr.getvalue() and "`dask scheduler`" in stderr.getvalue()
    assert not (tmp_path / "out" / "gradebook.json").exists()


def test_separate_scheduler_and_worker_processes_lose_no_row_when_a_worker_is_killed(tmp_path):
    """`dask scheduler` and two `dask worker --no-nanny` processes on 127.0.0.1 (nothing restarts a
    killed worker); the test SIGKILLs the worker process grading the slow submission mid-batch.
    Their temp directory is the test's own: the killed worker leaves its files there (its copy of
    the sources, its sandbox probe), which every `make test` used to leave in /tmp."""
    dask = str(Path(sys.executable).with_name("dask"))
    temp = Path(tempfile.mkdtemp(prefix="cg-", dir="/tmp"))  # short: kernels' socket paths lie below
    temp.chmod(0o711)
    address = f"tcp://127.0.0.1:{free_port()}"
    subs = tmp_path / "submitted"
    subs.mkdir()
    expected = {"correct": (solution_nb(), 8), "partial": (CORPUS["partial"][0](), 5),
                "slow": (prefixed("rotation_about", SLOW), 8)}
    for name, (nb, _) in expected.items():
        write(subs / f"{name}.ipynb", nb)
    sources = grading.find_sources([REPO / "solutions"], problems=[])
    common = ["--no-dashboard", "--host", "127.0.0.1"]
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, temp, ignore_errors=True)  # (called last: after the processes)
        def start(*args: str) -> subprocess.Popen:
            log = stack.enter_context(open(tmp_path / f"{args[0]}-{len(list(tmp_path.glob('*.log')))}.log", "w"))
            proc = subprocess.Popen([dask, *args, *common], stdout=log, stderr=subprocess.STDOUT,
                                    env=dict(os.environ, TMPDIR=str(temp)))
            stack.callback(lambda: proc.poll() is None and (proc.kill(), proc.wait()))
            return proc
        start("scheduler", "--port", address.rsplit(":", 1)[1])
        workers = [start("worker", address, "--nthreads", "1", "--no-nanny", "--name", f"w{i}") for i in range(2)]
        watcher = stack.enter_context(distributed.Client(address, timeout=60))
        watcher.wait_for_workers(2, timeout=120)
        killed: list[int] = []
        killer = threading.Thread(target=kill_the_worker_grading, daemon=True,
                                  args=(watcher, task_key("submitted/slow.ipynb"), killed, time.monotonic() + 240))
        killer.start()
        with contextlib.chdir(tmp_path):
            rows = {Path(r.key).stem: r for r in grading.grade(
                [subs], tmp_path / "out", sources, grading.Limits(cell_timeout=30, timeout=240, memory_mb=2500),
                jobs=2, scheduler=address)}
        killer.join()
        assert killed and killed[0][0] in [w.pid for w in workers]  # the `dask worker` process itself
        assert killed[0][1], "the slow submission was no longer on its worker when the worker was killed"
        victim = next(w for w in workers if w.pid == killed[0][0])
        assert victim.wait(10) == -signal.SIGKILL
    assert {n: (r.total, r.status) for n, r in rows.items()} == {n: (p, "graded") for n, (_, p) in expected.items()}
    book = json.loads((tmp_path / "out" / "gradebook.json").read_text())["rows"]
    assert sorted((r["key"], r["total"]) for r in book) == sorted((f"submitted/{n}.ipynb", p)
                                                                   for n, (_, p) in expected.items())
