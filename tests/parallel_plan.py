"""How `make test` shares one pytest session among pytest-xdist workers (`-n N --dist loadgroup`).

A work unit, a *group*, runs whole on one worker, in collection order:

- a notebook: every nbval cell of `book/x.ipynb` (the cells share one kernel, so they cannot be
  split);
- a test file: its module-scoped fixtures (a graded corpus, an nbgrader course) are built once;
- files that share an expensive session fixture, as one group (SHARED): tests/test_book.py and
  tests/test_browser.py share the built book, which is then built once and on one worker;
- each chapter's quick-mode run in tests/test_quick.py (PER_ITEM): independent kernels of 10-50 s,
  which fill the gaps between the long groups.

Groups are handed out longest first (seconds from bench/notebooks.json for notebooks, from
tests/group_seconds.json for test files; others by their number of items), so that the short ones
fill the gaps at the end instead of a long notebook starting last.

pytest-xdist's own `loadgroup` reads `xdist_group` marks by rewriting `item._nodeid`, which
pytest 9.2 no longer reads (its node ids come from `item._id`): the marks would be ignored and a
notebook's cells spread over workers. So the groups are made here, from node ids, by a scheduler
that the hook `pytest_xdist_make_scheduler` below returns (tests/conftest.py imports the hook).

Refresh tests/group_seconds.json from a run's junit report (serial, or `make test` itself: the
seconds of a group are those of its tests, wherever they ran):
    PYTEST_ADDOPTS=--junitxml=run.xml make test && python tests/parallel_plan.py run.xml

Where the time went, worker by worker: `COURSE_TIMELINE=t.jsonl make test` appends one line per
test phase (worker, node id, set-up/call/tear-down, start and stop in seconds since the epoch);
`python tests/parallel_plan.py --timeline t.jsonl` prints each worker's busy and idle seconds
and its groups in order.
"""

from __future__ import annotations

import json
import os
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = {"tests/test_book.py": "the built book", "tests/test_browser.py": "the built book"}
PER_ITEM = {"tests/test_quick.py"}  # every parametrized item is a group of its own
GROUP_SECONDS = Path(__file__).with_name("group_seconds.json")
SECONDS_PER_UNKNOWN_ITEM = 1.0


def group_of(nodeid: str) -> str:
    """The group of a test: its file (a notebook or a test module), or SHARED's name for it.

    `book/egnn.ipynb::Cell 3` -> `book/egnn.ipynb`; `tests/test_browser.py::test_x[a]` -> `the built book`;
    `tests/test_quick.py::test_y[egnn]` -> itself.
    """
    path = nodeid.split("::", 1)[0]
    if path in PER_ITEM and nodeid.endswith("]"):
        return nodeid
    return SHARED.get(path, path)


def expected_seconds() -> dict[str, float]:
    """Seconds a group is expected to take alone: notebooks from bench/notebooks.json (`make bench`),
    test files from tests/group_seconds.json (a measured serial run). Missing files give {}."""
    seconds: dict[str, float] = {}
    for path, key in ((REPO / "bench" / "notebooks.json", "seconds"), (GROUP_SECONDS, "seconds")):
        try:
            seconds.update(json.loads(path.read_text())[key])
        except (OSError, ValueError, KeyError):
            pass
    return seconds


def longest_first(groups: dict[str, int], seconds: dict[str, float]) -> list[str]:
    """Group names, longest expected first; `groups` maps a name to its number of items (the
    estimate, SECONDS_PER_UNKNOWN_ITEM each, of a group missing from `seconds`). Ties keep order."""
    estimate = {g: seconds.get(g, SECONDS_PER_UNKNOWN_ITEM * n) for g, n in groups.items()}
    return sorted(groups, key=lambda g: -estimate[g])


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """The scheduler below for `--dist loadgroup`, and for `--dist load` (what plain `-n N` means),
    which would split a notebook's cells over the workers; other modes are left to pytest-xdist.
    tests/conftest.py imports this hook; `-p parallel_plan` loads it elsewhere."""
    if config.getvalue("dist") in ("load", "loadgroup"):
        return make_scheduler(config, log)
    return None


def pytest_runtest_logreport(report) -> None:
    """With COURSE_TIMELINE=path, one JSON line per test phase (on the controller under xdist)."""
    path = os.environ.get("COURSE_TIMELINE")
    if path and "PYTEST_XDIST_WORKER" not in os.environ:  # a worker's reports reach the controller
        node = getattr(report, "node", None)
        line = {"session": os.getpid(), "worker": node.gateway.id if node is not None else "main",
                "nodeid": report.nodeid, "when": report.when,
                "start": round(report.start, 3), "stop": round(report.stop, 3)}
        with open(path, "a") as f:
            f.write(json.dumps(line) + "\n")


def timeline_summary(path: Path) -> str:
    """Per pytest session in a COURSE_TIMELINE file (CI's later jobs append to it) and per worker:
    when it finished, the seconds its tests took and the gaps, and its groups in order, each with
    its start and the seconds of its phases (a module's tear-down runs late, with the next test)."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not rows:
        return f"{path}: no tests recorded"
    lines = []
    for session in dict.fromkeys(r.get("session") for r in rows):
        ran = [r for r in rows if r.get("session") == session]
        t0 = min(r["start"] for r in ran)
        end = max(r["stop"] for r in ran) - t0
        if session is not None:
            lines.append(f"session {session}: {end:.0f} s")
        for worker in sorted({str(r["worker"]) for r in ran}):
            mine = sorted((r for r in ran if str(r["worker"]) == worker), key=lambda r: r["start"])
            busy = sum(r["stop"] - r["start"] for r in mine)
            span = max(r["stop"] for r in mine) - t0
            lines.append(f"{worker}: ends at {span:.0f} s, tests {busy:.0f} s, between tests {span - busy:.0f} s")
            groups: dict[str, list[float]] = {}
            for r in mine:
                start_seconds = groups.setdefault(group_of(r["nodeid"]), [r["start"], 0.0])
                start_seconds[1] += r["stop"] - r["start"]
            for group, (start, seconds) in groups.items():
                lines.append(f"  {start - t0:7.0f} {seconds:7.0f} s  {group}")
    return "\n".join(lines)


def make_scheduler(config, log):
    """pytest-xdist's scope scheduler with the groups and order above."""
    from xdist.scheduler import LoadScopeScheduling

    class CourseScheduling(LoadScopeScheduling):
        seconds = expected_seconds()

        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

        def _assign_work_unit(self, node) -> None:
            order = longest_first({g: len(items) for g, items in self.workqueue.items()}, self.seconds)
            self.workqueue.move_to_end(order[0], last=False)  # the parent hands out the first
            super()._assign_work_unit(node)

    return CourseScheduling(config, log)


def group_seconds_from_junit(xml: Path) -> dict[str, float]:
    """Seconds per group of test files (notebooks left out: bench/notebooks.json has them), and
    per item of PER_ITEM's files, from a pytest --junitxml report, whose testcase classname is the
    dotted module path and name the test's name with its parameters."""
    seconds: dict[str, float] = defaultdict(float)
    for case in ET.parse(xml).iter("testcase"):
        module = case.get("classname", "")
        if not module.startswith("tests."):
            continue
        path = module.split(".")[:2]  # tests.test_x(.Class) -> tests/test_x.py
        seconds[group_of(f"{path[0]}/{path[1]}.py::{case.get('name', '')}")] += float(case.get("time", 0))
    return {g: round(s, 1) for g, s in sorted(seconds.items(), key=lambda kv: -kv[1])}


if __name__ == "__main__":
    if sys.argv[1:2] == ["--timeline"]:
        print(timeline_summary(Path(sys.argv[2])))
        sys.exit(0)
    table = group_seconds_from_junit(Path(sys.argv[1]))
    GROUP_SECONDS.write_text(json.dumps({"source": sys.argv[2] if len(sys.argv) > 2 else sys.argv[1],
                                         "seconds": table}, indent=2) + "\n")
    print(json.dumps(table, indent=2))
