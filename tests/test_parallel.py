"""`make test` runs its one pytest session on pytest-xdist workers (tests/parallel_plan.py), and
that loosens nothing: the same items as a serial run, each notebook whole on one worker (its cells
share a kernel), the book built once."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import nbformat
import pytest

import parallel_plan
from conftest import REPO


def collected(args: list[str], cwd, tmp_path) -> list[str]:
    """The node ids `pytest ARGS --collect-only` lists, in order (its own junit file and temp
    folder, so that it cannot touch those of the session that runs it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_XDIST", "PYTEST_CURRENT"))}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *args, "--collect-only", "--verbosity=-1", "-p", "no:cacheprovider",
         f"--basetemp={tmp_path / 'collect'}", f"--junitxml={tmp_path / 'collect.xml'}"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return [line for line in done.stdout.splitlines() if "::" in line]


def test_a_parallel_session_collects_exactly_what_a_serial_one_does(request, tmp_path):
    """This session's own items against `pytest --collect-only` of the same command run the other
    way: serially when this session has workers, on two workers when it has none."""
    params = request.config.invocation_params
    here = [item.nodeid for item in request.session.items]
    if os.environ.get("PYTEST_XDIST_WORKER"):
        other = collected([*params.args, "-n", "0"], params.dir, tmp_path)
    else:
        pytest.importorskip("xdist", reason="pytest-xdist is in the test extra (make setup)")
        other = collected([*params.args, "-n", "2", "--dist", "loadgroup"], params.dir, tmp_path)
    assert request.node.nodeid in here and len(here) == len(set(here))
    assert other == here


def test_every_notebook_is_one_group_and_the_built_book_one_group(request):
    """Over this session's items: a notebook's cells all fall in the notebook's own group, and
    every test that uses the built book (a session fixture) in the one group of SHARED."""
    items = request.session.items
    for item in items:
        if item.nodeid.split("::")[0].endswith(".ipynb"):
            assert parallel_plan.group_of(item.nodeid) == item.nodeid.split("::")[0]
        if "built_book" in getattr(item, "fixturenames", ()):
            assert parallel_plan.group_of(item.nodeid) == "the built book", (
                f"{item.nodeid} uses built_book: add its file to parallel_plan.SHARED")
    assert parallel_plan.group_of("book/egnn.ipynb::Cell 12") == "book/egnn.ipynb"
    assert parallel_plan.group_of("tests/test_book.py::test_x") == parallel_plan.group_of(
        "tests/test_browser.py::test_y[a::b]") == "the built book"
    assert parallel_plan.group_of("tests/test_x.py::test_y[book/egnn.ipynb]") == "tests/test_x.py"
    quick_egnn = "tests/test_quick.py::test_a_chapter_in_quick_mode_keeps_the_full_runs_structure[egnn]"
    assert parallel_plan.group_of(quick_egnn) == quick_egnn  # each chapter's quick run fills a gap
    assert parallel_plan.group_of("tests/test_quick.py::test_quick_mode_reads_its_variable") == "tests/test_quick.py"


def test_groups_start_longest_first_and_unknown_ones_by_their_size():
    seconds = {"book/a.ipynb": 100.0, "tests/test_b.py": 300.0, "book/c.ipynb": 2.0}
    groups = {"book/a.ipynb": 20, "book/c.ipynb": 30, "tests/test_b.py": 5, "tests/test_new.py": 50}
    assert parallel_plan.longest_first(groups, seconds) == [
        "tests/test_b.py", "book/a.ipynb", "tests/test_new.py", "book/c.ipynb"]
    known = parallel_plan.expected_seconds()
    assert known["book/egnn.ipynb"] > 10 and known["the built book"] > 10  # both tables are read


def counting_notebook(cells: int) -> nbformat.NotebookNode:
    """A notebook whose every cell needs the one before it in the same kernel."""
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 0")] + [
        nbformat.v4.new_code_cell(f"x += 1\nassert x == {k}") for k in range(1, cells)])


def test_two_workers_run_two_notebooks_each_whole_on_one_worker(tmp_path):
    """The plan's scheduler (-p parallel_plan) under `-n 2`: every cell passes, which needs all
    cells of a notebook in one kernel, and the two notebooks run on different workers."""
    pytest.importorskip("xdist", reason="pytest-xdist is in the test extra (make setup)")
    (tmp_path / "book").mkdir()
    for name in ("a", "b"):
        nbformat.write(counting_notebook(5), tmp_path / "book" / f"{name}.ipynb")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "tests"), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "parallel_plan", "-p", "no:cacheprovider", "-n", "2",
         "--nbval-lax", "--nbval-current-env", "-v", "book", "--rootdir", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and "10 passed" in done.stdout, done.stdout[-4000:]
    workers = {}
    for name in ("a", "b"):
        # "[gw0] [ 10%] PASSED book/a.ipynb::Cell 0" (xdist 3.8 under pytest 9.2 shows book/a::ipynb)
        ran = [line for line in done.stdout.splitlines()
               if line.startswith("[gw") and " PASSED " in line and f"book/{name}" in line]
        workers[name] = {line.split("]")[0] for line in ran}
        assert len(ran) == 5, done.stdout[-4000:]
    assert all(len(w) == 1 for w in workers.values()) and workers["a"] != workers["b"], workers


def test_the_timeline_shows_each_workers_groups_and_its_idle_seconds(tmp_path):
    """COURSE_TIMELINE's lines, summed per worker and group (tests/parallel_plan.py --timeline)."""
    lines = [("gw0", "book/egnn.ipynb::Cell 1", 100.0, 110.0), ("gw0", "book/egnn.ipynb::Cell 2", 110.0, 130.0),
             ("gw0", "tests/test_book.py::test_a", 140.0, 145.0), ("gw1", "tests/test_quick.py::test_y[egnn]", 100.0, 102.0)]
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps({"worker": w, "nodeid": n, "when": "call", "start": a, "stop": b}) + "\n"
                            for w, n, a, b in lines))
    summary = parallel_plan.timeline_summary(path).splitlines()
    assert summary == ["gw0: ends at 45 s, tests 35 s, between tests 10 s",
                       "        0      30 s  book/egnn.ipynb",
                       "       40       5 s  the built book",
                       "gw1: ends at 2 s, tests 2 s, between tests 0 s",
                       "        0       2 s  tests/test_quick.py::test_y[egnn]"]
    two = tmp_path / "two.jsonl"
    two.write_text("".join(json.dumps({"session": s, "worker": "gw0", "nodeid": "tests/test_x.py::t", "when": "call",
                                       "start": a, "stop": a + 3.0}) + "\n" for s, a in ((7, 0.0), (9, 50.0))))
    summary = parallel_plan.timeline_summary(two).splitlines()
    assert [line for line in summary if line.startswith("session")] == ["session 7: 3 s", "session 9: 3 s"]


def test_measured_seconds_are_kept_per_file_and_per_quick_mode_chapter(tmp_path):
    """tests/group_seconds.json from a junit report: a file's tests add up to its group, the book's
    two files to 'the built book', and each quick-mode chapter (PER_ITEM) keeps its own seconds."""
    cases = [("tests.test_x", "test_a", 1.5), ("tests.test_x.TestY", "test_b[2]", 2.0),
             ("tests.test_book", "test_builds", 3.0), ("tests.test_browser", "test_page", 4.0),
             ("tests.test_quick", "test_banner", 0.5), ("tests.test_quick", "test_run[gcnn]", 50.0),
             ("book.gcnn.ipynb", "Cell 22", 100.0)]
    xml = tmp_path / "junit.xml"
    xml.write_text("<testsuites><testsuite>" + "".join(
        f'<testcase classname="{c}" name="{n}" time="{t}"/>' for c, n, t in cases) + "</testsuite></testsuites>")
    assert parallel_plan.group_seconds_from_junit(xml) == {
        "tests/test_quick.py::test_run[gcnn]": 50.0, "the built book": 7.0, "tests/test_x.py": 3.5,
        "tests/test_quick.py": 0.5}
