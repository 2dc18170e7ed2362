"""The instructors' grader (course_lib/grading/): a corpus of good, broken and hostile submissions.

The corpus is built from the pattern chapter's notebooks (solutions/groups.ipynb, 8 points:
dihedral_compose 2, homomorphism_error 3, rotation_about 3) and graded in ONE batch with two
workers; each test then asserts one submission's exact points and status. A few unit tests
need no kernel.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import copy
import csv
import io
import json
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import nbformat
import pytest

from course_lib import checks, cli, grading
from course_lib.grading import batch as batch_module, sandbox, tamper

REPO = Path(__file__).resolve().parents[1]
SOLUTION = REPO / "solutions" / "groups.ipynb"
EXERCISE = REPO / "exercises" / "groups.ipynb"
# timeout: the whole submission, whose exercises each run in a kernel of their own (three for groups)
# cell_timeout: the corpus's three endless loops each run to it in all three kernels of their
# submission (nine waits), so it sets most of the corpus's time; the slowest honest cell (the
# imports) takes about 3 s alone, and a correct submission still grades 8/8 at --cell-timeout 3
LIMITS = dict(cell_timeout=15, timeout=300, memory=2500)  # 15 s: room for a CI machine at twice its cores

WRONG = {  # a wrong body for each solution cell, keeping its signature
    "dihedral_compose": "def dihedral_compose(a, b, n):\n    return a\n",
    "homomorphism_error": "def homomorphism_error(rho, group):\n    return 0.0\n",
    "rotation_about": "def rotation_about(axis, angle):\n    return torch.eye(3, dtype=torch.float64)\n",
}


def solution_nb() -> nbformat.NotebookNode:
    return nbformat.read(SOLUTION, as_version=4)


def cell_of(nb: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def with_cells(**sources: str) -> nbformat.NotebookNode:
    """The solution notebook with some solution cells' source replaced."""
    nb = solution_nb()
    for grade_id, src in sources.items():
        cell_of(nb, grade_id).source = src
    return nb


def prefixed(grade_id: str, prefix: str) -> nbformat.NotebookNode:
    nb = solution_nb()
    cell_of(nb, grade_id).source = prefix + cell_of(nb, grade_id).source
    return nb


def edit_tests() -> nbformat.NotebookNode:
    nb = with_cells(homomorphism_error=WRONG["homomorphism_error"], rotation_about=WRONG["rotation_about"])
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("grade"):
            c.source = 'print("[PASS] all cases agree")'
    # and one re-pointed at the library's own function
    cell_of(nb, "check_rotation_about").source = 'check("groups.rotation_about", groups.rotation_about)'
    return nb


def delete_tests() -> nbformat.NotebookNode:
    nb = solution_nb()
    nb.cells = [c for c in nb.cells if not c.metadata.get("nbgrader", {}).get("grade")]
    return nb


def duplicate_tests() -> nbformat.NotebookNode:
    nb = with_cells(rotation_about=WRONG["rotation_about"])
    out = []
    for c in nb.cells:
        out.append(c)
        if c.metadata.get("nbgrader", {}).get("grade"):
            dup = copy.deepcopy(c)
            dup.id = c.id + "-dup"
            out.append(dup)
    nb.cells = out
    return nb


def metadata_changed() -> nbformat.NotebookNode:
    nb = with_cells(rotation_about=WRONG["rotation_about"])
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("grade"):
            c.metadata.nbgrader.update(points=100, locked=False)
    return nb


def stripped() -> nbformat.NotebookNode:
    nb = solution_nb()
    nb.metadata = {"kernelspec": nb.metadata.kernelspec}
    for c in nb.cells:
        c.metadata = {}
    return nb


def wrong_chapter_cells() -> nbformat.NotebookNode:
    """Claims chapter 'groups' but its cells are those of the fixture chapter 'twin'."""
    nb = solution_nb()
    for c in nb.cells:
        if "nbgrader" in c.metadata:
            c.metadata.nbgrader.grade_id = "twin_" + c.metadata.nbgrader.grade_id
    return nb


def unknown_chapter() -> nbformat.NotebookNode:
    nb = solution_nb()
    nb.metadata.course.chapter = "quantum_gravity"
    return nb


PATCH_COMPARISONS = '''import numpy, torch, builtins
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
numpy.allclose = lambda *a, **k: True
numpy.testing.assert_allclose = lambda *a, **k: None
import course_lib.checks as _c
_c.mismatch = lambda *a, **k: None
_c.judge = lambda ex, answers: _c.Verdict(ex.name, "pass", "patched", 1)
'''

ALWAYS_EQUAL = '''class Anything:
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __array__(self, *a, **k): raise TypeError("no")

def rotation_about(axis, angle):
    return Anything()
'''

WRITE_EVERYWHERE = '''import os, pathlib
pathlib.Path("junk.txt").write_text("x" * 1000)
pathlib.Path("gradebook.csv").write_text("HACKED")
for name in ("gradebook.csv", "gradebook.json", "feedback/submitted__correct.md"):
    try:
        pathlib.Path(OUT, name).write_text("HACKED")
    except OSError:
        pass
'''

# Hostile kernels: each tries something outside its scratch folder, and raises when it got through
# (so its dihedral_compose is never defined and it gets 6/8 instead of 8/8). The fixture fills in
# REPO (found from course_lib's __file__, as a student would), OUT, SOURCES, HOME, PORT and MARK.
TRY_WRITES = '''import os, pathlib, course_lib
REPO = pathlib.Path(course_lib.__file__).parents[1]
written = []
for target in TARGETS:
    try:
        with open(target, "a") as f:
            f.write("# a student was here\\n")
        written.append(str(target))
    except OSError:
        pass
if written:
    raise RuntimeError(f"wrote {written}")
'''

# The attack of issue 17: make every later grade of dihedral_compose expect (0, 0).
POISON_REFERENCE = '''import course_lib.checks.groups as target
try:
    with open(target.__file__, "a") as f:
        f.write("\\nimport dataclasses\\nEXERCISES['dihedral_compose'] = dataclasses.replace("
                "EXERCISES['dihedral_compose'], reference=lambda a, b, n: (0, 0))\\n")
except OSError:
    pass

def dihedral_compose(a, b, n):
    return (0, 0)
'''

OPEN_NETWORK = '''import socket
reached = []
for address in [("127.0.0.1", PORT), ("1.1.1.1", 53), ("pypi.org", 443)]:
    try:
        with socket.create_connection(address, timeout=3) as s:
            s.sendall(b"the solutions")
        reached.append(address)
    except OSError:
        pass
if reached:
    raise RuntimeError(f"reached {reached}")
'''

READ_OTHER_SCRATCH = '''import os, pathlib
mine = pathlib.Path.cwd().parent  # this kernel's scratch folder; the others would be beside it
siblings = [p for p in mine.parent.iterdir() if p != mine]
# the one sibling it may see is its own course_lib copy (read-only, without this exercise's answers)
libraries = [p for p in siblings if p.name.startswith("course-lib-")]
seen = [p for p in siblings if p not in libraries]
for other in seen:  # read their answers and forge them
    for record in other.glob("records/*.json"):
        print(record.read_text()[:100])
        record.write_text("[]")
if seen or len(libraries) > 1:
    raise RuntimeError(f"saw {siblings}")
for library in libraries:
    try:
        (library / "course_lib" / "__init__.py").write_text("")
    except OSError:
        continue
    raise RuntimeError(f"wrote into {library}")
'''

OUTLIVE = '''import subprocess, sys
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", MARK], start_new_session=True,
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
'''

KILL_PARENT = "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n"

FORGED_RECORD = '''import course_lib.checks as _c
_c.answers_to_json = lambda answers: '[{"value": {"dtype": "float64", "shape": [1000000000], "data": [1]}, "error": null}]'
'''

# Issue 16: the answer is in the library. Solution cells that only call course_lib, by name, by
# getattr, importlib, an alias or a fresh copy of the module, in a thread, or with the watch turned off: each such
# test earns 0 with the reason (course_lib/library_answer.py watches while check() runs them).
LIBRARY_ANSWER = {
    "dihedral_compose": "from course_lib import groups\n\ndef dihedral_compose(a, b, n):\n"
                        "    return groups.DihedralGroup(n).compose(a, b)\n",
    "homomorphism_error": "from course_lib.checks import exercise\n\n"
                          "homomorphism_error = exercise('groups.homomorphism_error').reference\n",
    "rotation_about": "from course_lib import groups\n\ndef rotation_about(axis, angle):\n"
                      "    return groups.rotation_about(axis, angle)\n",
}
LIBRARY_ANSWER_EVADED = {
    "dihedral_compose": "import importlib\n\ndef dihedral_compose(a, b, n):\n"
                        "    group = getattr(importlib.import_module('course_lib.' + 'groups'), 'Dihedral' + 'Group')(n)\n"
                        "    return tuple(int(v) for v in getattr(group, 'com' + 'pose')(a, b))\n",
    "homomorphism_error": "from course_lib.groups import Representation, element_pairs, homomorphism_error as h\n\n"
                          "def homomorphism_error(rho, group):\n"
                          "    return h(Representation(group, rho, dim=0), element_pairs(group))\n",
    "rotation_about": "import importlib.util, sys\nimport course_lib.groups\n\n"  # a fresh copy, as a reload makes
                      "spec = importlib.util.spec_from_file_location('my_groups', course_lib.groups.__file__)\n"
                      "mine = sys.modules['my_groups'] = importlib.util.module_from_spec(spec)\n"
                      "spec.loader.exec_module(mine)\n\n"
                      "def rotation_about(axis, angle):\n    return mine.rotation_about(axis, angle)\n",
}
IN_A_THREAD = '''import threading
from course_lib import groups

def rotation_about(axis, angle):
    out = []
    worker = threading.Thread(target=lambda: out.append(groups.rotation_about(axis, angle)))
    worker.start()
    worker.join()
    return out[0]
'''
WATCH_OFF = '''import sys
from course_lib import groups

def rotation_about(axis, angle):
    sys.setprofile(None)
    return groups.rotation_about(axis, angle)
'''

# name -> (how to build it, expected points, expected status); the README's table comes from here.
CORPUS = {
    "correct": (solution_nb, 8, "graded"),
    "partial": (lambda: with_cells(rotation_about=WRONG["rotation_about"]), 5, "graded"),
    "untouched": (lambda: nbformat.read(EXERCISE, as_version=4), 0, "not attempted"),
    "invalid_json": ('{"cells": [', 0, "invalid"),
    "not_a_notebook": ("import os\nprint('I am a script')\n", 0, "invalid"),
    "empty": (lambda: nbformat.v4.new_notebook(), 0, "invalid"),
    "syntax_error": (lambda: with_cells(dihedral_compose="def dihedral_compose(a, b, n):\n    return (a +\n"), 6, "graded"),
    "exception_in_cell": (lambda: prefixed("homomorphism_error", "raise RuntimeError('oops')\n"), 5, "graded"),
    "silent_loop": (lambda: with_cells(rotation_about="def rotation_about(axis, angle):\n    while True:\n        pass\n"),
                    5, "timeout"),
    "printing_loop": (lambda: with_cells(dihedral_compose="def dihedral_compose(a, b, n):\n    while True:\n"
                                                          "        print('spam ' * 20)\n"), 6, "timeout"),
    "stubborn_loop": (lambda: prefixed("rotation_about", "while True:\n    try:\n        while True:\n            pass\n"
                                                          "    except KeyboardInterrupt:\n        pass\n"), 5, "timeout"),
    "memory_hog": (lambda: prefixed("rotation_about", "import numpy\nblob = []\nwhile True:\n"
                                                       "    blob.append(numpy.empty(100_000_000))\n"),
                   5, "memory"),
    "os_exit": (lambda: prefixed("rotation_about", "import os\nos._exit(1)\n"), 5, "kernel died"),
    "segfault": (lambda: prefixed("homomorphism_error", "import ctypes\nctypes.string_at(0)\n"), 2, "kernel died"),
    # under bubblewrap its parent is the sandbox's init, which ignores the signal; see also
    # test_a_kernel_that_kills_its_worker_costs_only_its_row
    "kills_grader": (lambda: prefixed("rotation_about", KILL_PARENT), 8, "graded"),
    "sys_exit": (lambda: prefixed("dihedral_compose", "import sys\nsys.exit(0)\n"), 6, "graded"),
    "warnings": (lambda: prefixed("dihedral_compose", "import sys, warnings\nwarnings.warn('deprecated!')\n"
                                                      "print('noise on stderr', file=sys.stderr)\n"), 8, "graded"),
    "tests_edited": (edit_tests, 2, "graded"),
    "tests_deleted": (delete_tests, 8, "graded"),
    "tests_duplicated": (duplicate_tests, 5, "graded"),
    "metadata_changed": (metadata_changed, 5, "graded"),
    "stripped": (stripped, 8, "graded"),
    "patched_comparisons": (lambda: with_cells(homomorphism_error=PATCH_COMPARISONS + WRONG["homomorphism_error"],
                                               rotation_about=WRONG["rotation_about"]), 2, "graded"),
    "always_equal": (lambda: with_cells(rotation_about=ALWAYS_EQUAL), 5, "graded"),
    "writes_files": (None, 8, "graded"),  # built in the fixture: it needs the gradebook's path
    # built in the fixture (they need paths): each gets 6/8 where its attack works
    "writes_course_lib": (None, 8, "graded"),
    "poisons_reference": (None, 6, "graded"),  # issue 17's attack; its own answer (0, 0) is wrong
    "writes_solutions": (None, 8, "graded"),
    "writes_gradebook": (None, 8, "graded"),
    "writes_home": (None, 8, "graded"),
    "opens_network": (None, 8, "graded"),
    "reads_other_scratch": (None, 8, "graded"),
    "outlives_kernel": (None, 8, "graded"),
    "forged_record": (lambda: prefixed("rotation_about", FORGED_RECORD), 5, "graded"),
    "wrong_chapter_cells": (wrong_chapter_cells, 0, "wrong chapter"),
    "unknown_chapter": (unknown_chapter, 0, "wrong chapter"),
    "named_twin": (None, 8, "graded"),  # file named for chapter 'twin', metadata and cells of 'groups'
    "library_answer": (lambda: with_cells(**LIBRARY_ANSWER), 0, "graded"),
    "library_answer_evaded": (lambda: with_cells(**LIBRARY_ANSWER_EVADED), 0, "graded"),
    "library_answer_in_thread": (lambda: with_cells(rotation_about=IN_A_THREAD), 5, "graded"),
    "library_answer_watch_off": (lambda: with_cells(rotation_about=WATCH_OFF), 5, "graded"),
}


def write(path: Path, nb_or_text) -> None:
    path.write_text(nb_or_text if isinstance(nb_or_text, str) else nbformat.writes(nb_or_text))


ATTACKS = {"writes_course_lib", "poisons_reference", "writes_solutions", "writes_gradebook", "writes_home",
           "opens_network", "reads_other_scratch", "outlives_kernel"}
ISOLATION = sandbox.isolation()
needs_isolation = pytest.mark.skipif(not ISOLATION.isolated, reason=f"no sandbox here: {ISOLATION.detail}")


@dataclass
class Batch:
    out: Path  # the --out folder
    rows: dict  # gradebook.json's rows by submission name
    code: int  # the exit code of `course grade`
    stdout: str
    submitted: Path
    leftovers: set  # scratch folders left in the temp directory
    scratch: Path  # that temp directory
    changed: list  # files changed outside the scratch folders: course_lib, solutions/, sources, home
    received: list  # what reached the test's listening socket
    survivors: list  # processes of the 'outlives_kernel' submission still alive after the batch


def attacks(root: Path, out: Path, sources: Path, port: int, mark: str) -> dict[str, nbformat.NotebookNode]:
    """The hostile submissions, each with the paths it goes after."""
    home = Path.home()
    targets = {
        "writes_course_lib": 'REPO / "course_lib" / "checks" / "groups.py", REPO / "course_lib" / "student.py"',
        "writes_solutions": f'REPO / "solutions" / "groups.ipynb", REPO / "solutions" / "student.txt", '
                            f'{str(sources / "groups.ipynb")!r}',
        "writes_gradebook": ", ".join(repr(str(out / n)) for n in ("gradebook.csv", "feedback/student.md", "student.txt")),
        "writes_home": f'{str(home / ".course-grade-student")!r}, {str(home / ".bashrc")!r}',
    }
    built = {name: prefixed("dihedral_compose", TRY_WRITES.replace("written = []", f"TARGETS = [{t}]\nwritten = []"))
             for name, t in targets.items()}
    built["poisons_reference"] = with_cells(dihedral_compose=POISON_REFERENCE)
    built["opens_network"] = prefixed("dihedral_compose", f"PORT = {port}\n" + OPEN_NETWORK)
    built["reads_other_scratch"] = prefixed("dihedral_compose", READ_OTHER_SCRATCH)
    built["outlives_kernel"] = prefixed("dihedral_compose", f"MARK = {mark!r}\n" + OUTLIVE)
    return built


def home_targets() -> list[Path]:
    return [Path.home() / ".course-grade-student", Path.home() / ".bashrc"]


@contextlib.contextmanager
def restored(paths: list[Path]):
    """Put the files back as they were, should an attack get through (the test fails anyway)."""
    saved = {p: p.read_bytes() if p.exists() else None for p in paths}
    try:
        yield
    finally:
        for p, data in saved.items():
            if data is None:
                p.unlink(missing_ok=True)
            elif p.read_bytes() != data:
                p.write_bytes(data)


def processes_with(mark: str) -> list[int]:
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if mark.encode() in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
    return found


@contextlib.contextmanager
def listening():
    """A TCP socket on the loopback, and the list of what reaches it."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    received, done = [], threading.Event()

    def serve():
        while not done.is_set():
            with contextlib.suppress(OSError):
                conn, _ = server.accept()
                with conn:
                    conn.settimeout(2)
                    received.append(conn.recv(100))
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], received
    finally:
        done.set()
        thread.join()
        server.close()


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Batch:
    """The whole corpus graded in one run of `course grade -j 2`."""
    root = tmp_path_factory.mktemp("grading")
    sources = root / "sources"
    sources.mkdir()
    write(sources / "groups.ipynb", solution_nb())
    twin = wrong_chapter_cells()  # the fixture chapter 'twin': the same exercises under other grade_ids
    twin.metadata.course.chapter = "twin"
    write(sources / "twin.ipynb", twin)
    subs, out = root / "submitted", root / "out"
    subs.mkdir()
    for name, (build, _, _) in CORPUS.items():
        if build is not None:
            write(subs / f"{name}.ipynb", build() if callable(build) else build)
    write(subs / "writes_files.ipynb", prefixed("dihedral_compose", f"OUT = {str(out)!r}\n" + WRITE_EVERYWHERE))
    write(subs / "named_twin.ipynb", solution_nb())
    mark = f"course-grade-outlives-{os.getpid()}-{time.time_ns()}"
    stdout = io.StringIO()
    scratch = root / "tmp"  # the grader's temp directory for this batch, to see that it is left empty
    scratch.mkdir()
    guarded = [REPO / "course_lib" / "checks" / "groups.py", REPO / "course_lib" / "student.py",
               REPO / "solutions" / "groups.ipynb", REPO / "solutions" / "student.txt", *home_targets()]
    saved, tempfile.tempdir = tempfile.tempdir, str(scratch)
    try:
        with listening() as (port, received), restored(guarded):
            if ISOLATION.isolated:
                for name, nb in attacks(root, out, sources, port, mark).items():
                    write(subs / f"{name}.ipynb", nb)
            before = tamper.watched([REPO / "solutions", sources, *home_targets()])
            with contextlib.redirect_stdout(stdout), contextlib.chdir(root):
                code = cli.main(["grade", "submitted", "--out", "out", "-j", "2", "--source", "sources",
                                 "--cell-timeout", str(LIMITS["cell_timeout"]), "--timeout", str(LIMITS["timeout"]),
                                 "--memory", str(LIMITS["memory"])])
            changed = before.changes()
            survivors = processes_with(mark)
    finally:
        tempfile.tempdir = saved
        for pid in processes_with(mark):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
    rows = {Path(r["key"]).stem: r for r in json.loads((out / "gradebook.json").read_text())["rows"]}
    leftovers = set(scratch.iterdir())
    return Batch(out, rows, code, stdout.getvalue(), subs, leftovers, scratch, changed, received, survivors)


@pytest.mark.parametrize("name", list(CORPUS))
def test_corpus_verdict(batch, name):
    if name in ATTACKS and not ISOLATION.isolated:
        pytest.skip(f"no sandbox here ({ISOLATION.detail}): the attacks are not graded")
    rows = batch.rows
    _, points, status = CORPUS[name]
    if name == "kills_grader" and not ISOLATION.isolated:  # it reaches its worker
        points, status = 0, "error"
    row = rows[name]
    assert (row["total"], row["status"]) == (points, status), row
    assert row["max"] == (8 if row["chapter"] else 0)
    assert row["status"] == "graded" or row["reason"]


def test_batch_graded_every_submission_once(batch):
    out, rows, code, stdout = batch.out, batch.rows, batch.code, batch.stdout
    assert sorted(rows) == sorted(n for n in CORPUS if ISOLATION.isolated or n not in ATTACKS)
    with open(out / "gradebook.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert sorted(Path(r["key"]).stem for r in table) == sorted(rows)
    assert {r["key"]: float(r["total"]) for r in table} == {r["key"]: r["total"] for r in rows.values()}
    assert code == 1  # some submissions could not be graded completely
    assert all(name in stdout for name in rows)
    assert stdout.splitlines()[0].startswith(f"isolation: {ISOLATION.name}")
    assert {r["isolation"] for r in rows.values()} == {r["isolation"] for r in table} == {ISOLATION.name}
    solution_lines = {line.strip() for c in solution_nb().cells if "### BEGIN SOLUTION" in c.source
                      for line in c.source.split("### BEGIN SOLUTION")[1].splitlines() if len(line.strip()) > 12}
    for name in rows:  # a readable feedback file each, without the reference solution
        text = grading.feedback_path(out, f"submitted/{name}.ipynb").read_text()
        assert f"/ {rows[name]['max']:g}**" in text and "HACKED" not in text
        assert not [line for line in solution_lines if line in text]


def test_reasons_say_what_happened(batch):
    rows = batch.rows
    assert "SIGSEGV" in rows["segfault"]["reason"]
    assert "exited with code 1" in rows["os_exit"]["reason"]
    assert "ignored the interrupt" in rows["stubborn_loop"]["reason"]
    assert "interrupted" in rows["silent_loop"]["reason"]
    assert "found by content" in rows["stripped"]["reason"]
    assert "'twin'" in rows["wrong_chapter_cells"]["reason"]
    assert "the content decides" in rows["named_twin"]["reason"]
    assert any("SyntaxError" in e for e in rows["syntax_error"]["cell_errors"])
    assert "malformed" in rows["forged_record"]["tests"][2]["message"]
    assert [t["status"] for t in rows["untouched"]["tests"]] == ["not attempted"] * 3
    for name in ("library_answer", "library_answer_evaded"):
        assert all("the library's own answer to this exercise" in t["message"] for t in rows[name]["tests"]), name
    assert "DihedralGroup.compose" in rows["library_answer_evaded"]["tests"][0]["message"]
    assert "homomorphism_error" in rows["library_answer_evaded"]["tests"][1]["message"]
    assert "turns off the watch" in rows["library_answer_watch_off"]["tests"][2]["message"]
    incomplete = {n for n, r in rows.items() if not r["complete"]}
    assert incomplete == {"invalid_json", "not_a_notebook", "empty", "os_exit", "segfault", "stubborn_loop",
                          "wrong_chapter_cells", "unknown_chapter"} | (set() if ISOLATION.isolated else {"kills_grader"})


def test_hostile_writes_stay_in_the_scratch_folder(batch):
    out, subs = batch.out, batch.submitted
    assert not batch.leftovers  # every scratch folder is gone, even those of killed workers
    assert not processes_in(batch.scratch)  # and so is every kernel
    assert sorted(p.name for p in out.iterdir()) == ["feedback", "gradebook.csv", "gradebook.json", "report.html"]
    assert "HACKED" not in (out / "gradebook.csv").read_text()
    assert not (subs / "junk.txt").exists() and not (REPO / "junk.txt").exists()
    assert not (subs.parent / "junk.txt").exists()


@needs_isolation
def test_hostile_kernels_change_nothing_outside_their_scratch_folders(batch):
    """course_lib, solutions/, the source notebooks and the home files hash as before; nothing
    reached the loopback; no process of a kernel outlived it (every attack's verdict is in the corpus)."""
    assert batch.changed == []
    assert batch.received == []
    assert batch.survivors == []


@needs_isolation
def test_the_poisoned_reference_harms_no_later_grade(batch, tmp_path):
    """Issue 17: graded again after the attack, the correct submission gets full marks and the
    accomplice that answers (0, 0) does not."""
    (tmp_path / "correct.ipynb").write_text(nbformat.writes(solution_nb()))
    (tmp_path / "accomplice.ipynb").write_text(nbformat.writes(
        with_cells(dihedral_compose="def dihedral_compose(a, b, n):\n    return (0, 0)\n")))
    sources = grading.find_sources([batch.submitted.parent / "sources"])
    rows = {Path(r.key).stem: r for r in grading.grade([tmp_path], tmp_path / "out", sources, jobs=2)}
    assert (rows["correct"].total, rows["accomplice"].total) == (8, 6)
    assert "a student was here" not in (REPO / "course_lib" / "checks" / "groups.py").read_text()


def processes_in(folder: Path) -> list[int]:
    """The processes whose working directory is under `folder`."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if os.readlink(proc / "cwd").startswith(str(folder)):
                found.append(int(proc.name))
    return found


def test_rerun_replaces_a_row_and_keeps_the_others(batch, tmp_path):
    out, subs = batch.out, batch.submitted
    before = json.loads((out / "gradebook.json").read_text())["rows"]
    write(subs / "untouched.ipynb", "not json any more")
    sources = grading.find_sources([subs.parent / "sources"])
    with contextlib.chdir(subs.parent):
        grading.grade([Path("submitted/untouched.ipynb")], Path("out"), sources, jobs=1)
    after = json.loads((out / "gradebook.json").read_text())["rows"]
    assert [r["key"] for r in after] == [r["key"] for r in before]
    changed = [(b, a) for b, a in zip(before, after) if a != b]
    assert len(changed) == 1 and changed[0][1]["key"] == "submitted/untouched.ipynb"
    assert changed[0][1]["status"] == "invalid"


def solution_cells_run_here(nb: nbformat.NotebookNode) -> dict:
    """The namespace after running a notebook's first code cell and its solution cells in this process."""
    namespace: dict = {}
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    for c in nb.cells:
        if c is first_code or c.metadata.get("nbgrader", {}).get("solution"):
            exec(c.source, namespace)
    return namespace


@pytest.mark.parametrize("name, statuses", [("partial", ["pass", "pass", "fail"]),
                                            ("library_answer", ["fail"] * 3),
                                            ("library_answer_evaded", ["fail"] * 3),
                                            ("library_answer_watch_off", ["pass", "pass", "fail"])])
def test_self_check_gives_the_graders_verdicts(batch, name, statuses):
    """What check() says in the learner's own notebook is what the grader gives, message included."""
    namespace = solution_cells_run_here(CORPUS[name][0]())
    mine = [checks.verify(f"groups.{f}", namespace[f]) for f in WRONG]
    assert [v.status for v in mine] == [t["status"] for t in batch.rows[name]["tests"]] == statuses
    assert [v.message for v in mine] == [t["message"] for t in batch.rows[name]["tests"]]


TAMPER = '''import pathlib, time
with open(SOURCE, "a") as f:
    f.write(" ")
time.sleep(4)
'''


def test_a_change_to_the_sources_stops_the_batch(tmp_path, monkeypatch):
    """Without bubblewrap (here: not found), the output and every row say 'isolation: none'; a
    kernel that changes a source notebook stops the batch: it is named, every row graded after the
    change is marked 'regrade', and the submissions still queued are not graded."""
    monkeypatch.setattr(sandbox, "BWRAP", str(tmp_path / "no-bwrap"))
    (tmp_path / "sources").mkdir()
    source = tmp_path / "sources" / "groups.ipynb"
    write(source, solution_nb())
    (tmp_path / "submitted").mkdir()
    write(tmp_path / "submitted" / "a_tamperer.ipynb", prefixed("dihedral_compose", f"SOURCE = {str(source)!r}\n" + TAMPER))
    for name in ("b_correct", "c_correct", "d_correct"):
        write(tmp_path / "submitted" / f"{name}.ipynb", solution_nb())
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr), contextlib.chdir(tmp_path):
        code = cli.main(["grade", "submitted", "--out", "out", "-j", "2", "--source", "sources"])
    assert code == 3
    assert stdout.getvalue().startswith("isolation: none (no ") and "WARNING: isolation: none" in stderr.getvalue()
    stopped = [line for line in stderr.getvalue().splitlines() if "STOPPED" in line]
    assert len(stopped) == 1 and "sources/groups.ipynb changed" in stopped[0] and "a_tamperer" in stopped[0]
    rows = {Path(r["key"]).stem: r for r in json.loads((tmp_path / "out" / "gradebook.json").read_text())["rows"]}
    assert rows["a_tamperer"]["status"] == "regrade" and not rows["a_tamperer"]["complete"]
    assert {r["isolation"] for r in rows.values()} == {"none"}
    finished = [line.split(", ")[-1] for line in stderr.getvalue().splitlines() if ": chapter groups, " in line]
    first = finished.index("regrade")
    assert finished[first:] == ["regrade"] * (len(finished) - first) and len(finished) == len(rows) < 4


def test_a_kernel_that_kills_its_worker_costs_only_its_row(tmp_path):
    """Without isolation a kernel can kill its parent, the worker: the others are graded again."""
    write(tmp_path / "killer.ipynb", prefixed("rotation_about", KILL_PARENT))
    write(tmp_path / "correct.ipynb", solution_nb())
    rows = {Path(r.key).stem: r for r in grading.grade([tmp_path], tmp_path / "out", grading.find_sources(
        [REPO / "solutions"], problems=[]), jobs=2, isolation=sandbox.NO_ISOLATION)}
    assert (rows["killer"].total, rows["killer"].status, rows["correct"].total) == (0, "error", 8)
    assert "killed the grading process" in rows["killer"].reason


# Without a sandbox a kernel can signal the grader's workers: its own (its parent), or the others
# (children of its parent's parent), here with the signal the grader stops a busy worker with.
SIGNAL_OWN_WORKER = "import os, signal, time\nos.kill(os.getppid(), signal.SIGUSR1)\ntime.sleep(1)\n"
SIGNAL_OTHER_WORKERS = '''import os, signal, time

def parent_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])

mine = os.getppid()
grader = parent_of(mine)
end = time.monotonic() + 4
while time.monotonic() < end:
    for pid in map(int, filter(str.isdigit, os.listdir("/proc"))):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if pid != mine and parent_of(pid) == grader and b"spawn_main" in f.read():
                    os.kill(pid, signal.SIGUSR1)
        except OSError:
            pass
    time.sleep(0.1)
'''


def test_a_kernel_that_signals_a_worker_costs_only_its_own_row(tmp_path):
    """Without isolation a kernel can send a worker the grader's stop signal: the submission it
    interrupts (here a slow one, graded beside it) is graded again alone and gets its row; one
    whose kernel interrupts its own worker, alone too, gets an 'error' row. Before, each lost its
    row (helper-76: exit 3, the victim named)."""
    write(tmp_path / "a_signals_others.ipynb", prefixed("rotation_about", SIGNAL_OTHER_WORKERS))
    write(tmp_path / "b_slow.ipynb", prefixed("rotation_about", "import time\ntime.sleep(2)\n"))
    write(tmp_path / "c_signals_itself.ipynb", prefixed("rotation_about", SIGNAL_OWN_WORKER))
    rows = {Path(r.key).stem: r for r in grading.grade([tmp_path], tmp_path / "out", grading.find_sources(
        [REPO / "solutions"], problems=[]), jobs=2, isolation=sandbox.NO_ISOLATION)}
    assert {n: (r.total, r.status) for n, r in rows.items()} == \
        {"a_signals_others": (8, "graded"), "b_slow": (8, "graded"), "c_signals_itself": (0, "error")}, rows
    assert "a signal the grader did not send interrupted grading it when it was graded alone" \
        in rows["c_signals_itself"].reason


def grader_processes(scratch: Path) -> dict[int, str]:
    """pid: command line of the processes of a grader run with TMPDIR=`scratch` (itself, its
    workers, their kernels)."""
    found = {}
    for proc in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if str(scratch).encode() in (proc / "environ").read_bytes():
                found[int(proc.name)] = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    return found


@contextlib.contextmanager
def started_grader(folder: Path, *args: str, sigint=signal.SIG_DFL) -> Iterator[tuple[subprocess.Popen, Path]]:
    """`course grade ARGS` run in `folder` as a command in a session of its own, with SIGINT at
    `sigint` (a terminal leaves it at its default; an xdist worker ignores it, and a child inherits
    that), and the temp directory that tags its processes (`grader_processes`; not under tmp_path,
    which kernels of a uid of their own cannot pass); whatever of it is left is killed afterwards."""
    scratch = Path(tempfile.mkdtemp(prefix="course-ctrl-c-"))
    scratch.chmod(0o711)
    grader = subprocess.Popen([sys.executable, "-m", "course_lib", "grade", *args, "--source", str(REPO / "solutions")],
                              cwd=folder, text=True, env=dict(os.environ, TMPDIR=str(scratch)), start_new_session=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=lambda: signal.signal(signal.SIGINT, sigint))
    try:
        yield grader, scratch
    finally:
        for pid in grader_processes(scratch):  # none when it works
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(scratch, ignore_errors=True)


def wait_for_a_row_and_a_kernel(grader: subprocess.Popen, scratch: Path, gradebook: Path) -> None:
    """Until `gradebook` holds a row and a kernel of the grader (`started_grader`) runs."""
    start = time.monotonic()
    while not (gradebook.exists() and any("ipykernel_launcher" in p for p in grader_processes(scratch).values())):
        assert grader.poll() is None and time.monotonic() - start < 120, \
            f"the first row and a kernel never came: {grader.communicate()[1][-3000:] if grader.poll() else ''}"
        time.sleep(0.2)


@pytest.mark.parametrize("how", ["ctrl-c", "sigint", "sigterm", "sigterm-group"])
def test_ctrl_c_stops_the_batch_at_once_and_leaves_no_kernel(tmp_path, how):
    """Ctrl-C as a terminal sends it (SIGINT to the process group: the workers get it too), SIGINT to
    the grader alone, SIGTERM to it alone (`timeout`, `kill`; here followed by more signals while
    it cleans up, which it ignores), or SIGTERM to the group (`kill -TERM -GROUP`): `course grade`
    stops at once with 130 (SIGTERM: 143) and says so; the row finished before stays, no queued
    submission starts, the one being graded gets no row, and no worker, kernel or batch folder is
    left. Before, the pool's exit waited for every queued submission (5 s per kernel here); then,
    for the one being graded (20 s) unless the workers got the signal too; SIGTERM or a second
    SIGINT to the grader left its workers grading; SIGTERM to the group killed the workers and
    the grader hung (a cancelled future broke Python 3.11's pool; red team helpers 74 and 75)."""
    subs = tmp_path / "submitted"
    subs.mkdir()
    write(subs / "a_correct.ipynb", solution_nb())
    for name in ("b_slow", "c_slow", "d_slow"):
        write(subs / f"{name}.ipynb", prefixed("rotation_about", "import time\ntime.sleep(5)\n"))
    gradebook = tmp_path / "out" / "gradebook.json"
    with started_grader(tmp_path, "submitted", "--out", "out", "-j", "1") as (grader, scratch):
        wait_for_a_row_and_a_kernel(grader, scratch, gradebook)
        if how in ("ctrl-c", "sigterm-group"):
            os.killpg(grader.pid, signal.SIGINT if how == "ctrl-c" else signal.SIGTERM)
        elif how == "sigint":
            grader.send_signal(signal.SIGINT)
        else:
            grader.send_signal(signal.SIGTERM)
            for again in (signal.SIGINT, signal.SIGTERM):  # while it stops its workers and kernels
                time.sleep(0.05)
                with contextlib.suppress(ProcessLookupError):
                    grader.send_signal(again)
        _, stderr = grader.communicate(timeout=10)
        time.sleep(1)
        left = list(grader_processes(scratch).values()), list(scratch.iterdir())
    term = how.startswith("sigterm")
    said = "course grade: terminated (SIGTERM), every row" if term else "course grade: interrupted, every row"
    assert grader.returncode == (143 if term else 130) and said in stderr, stderr[-2000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    rows = {Path(r["key"]).stem: r for r in json.loads(gradebook.read_text())["rows"]}
    assert list(rows) == ["a_correct"] and rows["a_correct"]["total"] == 8
    assert left == ([], [])


def test_a_grader_that_ignores_ctrl_c_grades_on(tmp_path):
    """Started with SIGINT ignored (nohup, a background job), a Ctrl-C to its group changes nothing:
    its workers inherit the ignoring, the batch ends whole (red team helper-74: the workers' own
    handler stopped the batch)."""
    write(tmp_path / "correct.ipynb", solution_nb())
    with started_grader(tmp_path, "correct.ipynb", "--out", "out", sigint=signal.SIG_IGN) as (grader, scratch):
        start = time.monotonic()
        while not any("ipykernel_launcher" in p for p in grader_processes(scratch).values()):
            assert grader.poll() is None and time.monotonic() - start < 120, "no kernel came"
            time.sleep(0.2)
        os.killpg(grader.pid, signal.SIGINT)
        _, stderr = grader.communicate(timeout=120)
    [row] = json.loads((tmp_path / "out" / "gradebook.json").read_text())["rows"]
    assert grader.returncode == 0 and (row["total"], row["status"]) == (8, "graded"), stderr[-2000:]


def test_a_grader_killed_outright_leaves_no_worker_kernel_or_batch_folder(tmp_path):
    """SIGKILL (`kill -9`, the OOM killer; without a sandbox, a kernel) gives the grader no way out:
    its workers see it gone, interrupt the submission being graded (its kernel is killed), start no
    other and exit, and the batch folder goes with them; so the grader's output pipes close. Before,
    the workers graded on and then waited forever for work (each holds both ends of the pool's
    pipes), holding the pipes of whatever started the grader (a CI job hung)."""
    write(tmp_path / "a_slow.ipynb", prefixed("rotation_about", "import time\ntime.sleep(60)\n"))
    for name in ("b_correct", "c_correct", "d_correct", "e_correct"):
        write(tmp_path / f"{name}.ipynb", solution_nb())
    gradebook = tmp_path / "out" / "gradebook.json"
    with started_grader(tmp_path, ".", "--out", "out", "-j", "2") as (grader, scratch):
        start = time.monotonic()
        wait_for_a_row_and_a_kernel(grader, scratch, gradebook)
        grader.kill()
        grader.communicate(timeout=30)  # (TimeoutExpired before: the workers held its pipes)
        while grader_processes(scratch) and time.monotonic() - start < 150:
            time.sleep(0.2)
        left = list(grader_processes(scratch).values()), list(scratch.iterdir())
    assert left == ([], [])


def test_a_dead_workers_kernel_is_killed_though_pid_files_go_meanwhile(tmp_path):
    """`_kill_orphans` kills the kernel (its process group) of a worker that died, found by its pid
    file, and passes over a pid file gone since it listed them (its worker cleaned up, or an orphaned
    sibling removed it): that crashed an orphaned worker's watch, and the worker stayed (red team
    helper-81), and turned a Ctrl-C's exit into a traceback."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    kernel = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "ipykernel_launcher"],
                              start_new_session=True)
    try:
        start = time.monotonic()  # (just after exec its command line can still read empty)
        while b"ipykernel_launcher" not in Path(f"/proc/{kernel.pid}/cmdline").read_bytes():
            assert time.monotonic() - start < 10, "the stand-in kernel never showed its command line"
            time.sleep(0.01)
        (scratch / "a.pid").write_text(str(kernel.pid))
        (scratch / "b.pid").symlink_to(scratch / "gone")  # listed, then unreadable: as if removed meanwhile
        batch_module._kill_orphans(str(tmp_path))
        assert kernel.wait(timeout=10) == -signal.SIGKILL
        assert not (scratch / "a.pid").exists()
    finally:
        kernel.kill()
        kernel.wait()


def test_a_ctrl_c_between_a_rows_files_leaves_the_gradebook_whole(tmp_path, monkeypatch):
    """Ctrl-C after gradebook.json got a row but before gradebook.csv did (red team helper-73: a
    SIGINT as the first row was written left no gradebook.csv, which the interrupted command names,
    and a stray .gradebook.csv.PID.tmp): on the way out the rows finished are written again."""
    write(tmp_path / "correct.ipynb", solution_nb())
    real, cut = grading.gradebook.atomic_write, []

    def cut_before_the_csv(path: Path, text: str) -> None:
        if path.name == "gradebook.csv" and not cut:
            cut.append(path)
            raise KeyboardInterrupt
        real(path, text)

    monkeypatch.setattr(grading.gradebook, "atomic_write", cut_before_the_csv)
    with pytest.raises(KeyboardInterrupt):
        grading.grade([tmp_path / "correct.ipynb"], tmp_path / "out", grading.find_sources(
            [REPO / "solutions"], problems=[]), isolation=sandbox.NO_ISOLATION)
    assert cut, "the gradebook was never written"
    with open(tmp_path / "out" / "gradebook.csv", newline="") as f:
        [row] = list(csv.DictReader(f))
    assert (Path(row["key"]).stem, row["total"]) == ("correct", "8")
    assert [r["key"] for r in json.loads((tmp_path / "out" / "gradebook.json").read_text())["rows"]] == [row["key"]]


def test_an_interrupted_worker_returns_no_row_and_leaves_the_stopping_to_the_grader(tmp_path, monkeypatch):
    """A worker whose submission is interrupted returns no row, removes its busy marker and takes its
    next submission: the grader alone stops a batch. (The worker used to set the stop flag, and a
    worker terminated by a pool that another's death broke then stopped the whole batch: every later
    row was lost.) Interrupted after the grader set the stop flag it returns None; before it (a
    signal the grader did not send), `Interrupted`, and the grader grades that submission again."""
    (tmp_path / "control").mkdir()
    (tmp_path / "scratch").mkdir()
    calls = []

    def interrupted_on_a_and_c(path, key, *args, **kwargs):
        calls.append(key)
        if key in ("a", "c"):
            if key == "c":
                (tmp_path / "control" / "stopped").touch()  # as the grader's `_stop_now` does, first
            raise KeyboardInterrupt
        return grading.Row(key=key, student="b", file="b.ipynb")

    monkeypatch.setattr(batch_module, "grade_notebook", interrupted_on_a_and_c)
    args = ((), grading.Limits(), None, str(tmp_path), sandbox.NO_ISOLATION)
    with pytest.raises(batch_module.Interrupted, match="grading a"):
        batch_module._grade_in_worker(tmp_path / "a.ipynb", "a", *args)
    assert not (tmp_path / "control" / "stopped").exists() and not list((tmp_path / "control").glob("*.busy"))
    assert batch_module._grade_in_worker(tmp_path / "b.ipynb", "b", *args).key == "b"
    assert batch_module._grade_in_worker(tmp_path / "c.ipynb", "c", *args) is None
    assert not list((tmp_path / "control").glob("*.busy"))
    assert batch_module._grade_in_worker(tmp_path / "d.ipynb", "d", *args) is None and calls == ["a", "b", "c"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, batch_module._STOP_WORKER])
def test_a_worker_takes_a_stop_only_while_grading_and_only_once(sig):
    """An idle worker ignores Ctrl-C (it printed a traceback beside the grader's message) and SIGTERM
    (one that died of it broke the pool: the grader hung); a busy one is interrupted once: a second
    signal must not cut short its kernel's clean-up. A signal the grader ignores (nohup) is left
    alone: the worker inherited SIG_IGN, which stays."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, batch_module._STOP_WORKER)}
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        batch_module._worker_started((signal.SIGTERM,))
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        if sig == signal.SIGINT:
            return
        os.kill(os.getpid(), sig)  # idle: nothing happens
        batch_module._GRADING.set()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), sig)
            time.sleep(1)  # the handler runs before this ends
        os.kill(os.getpid(), sig)  # cleaning up: nothing happens
    finally:
        batch_module._GRADING.clear()
        for s, handler in saved.items():
            signal.signal(s, handler)


def test_a_worker_starts_with_the_stopping_signals_blocked():
    """A worker still starting (importing torch) holds SIGINT, SIGTERM and SIGUSR1 until its handlers
    are in (`_worker_started`): a Ctrl-C there printed its traceback, and SIGUSR1's default action
    killed it (red team helper-77: a process left by a kernel, signalling workers as they started,
    cost innocent submissions their rows). The grader's own mask is back afterwards. (As in
    `_pool_round`, the pool is made first: making it may start multiprocessing's resource tracker,
    which unblocks SIGINT and SIGTERM in the thread that starts it.)"""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        with batch_module._spawning():
            started = pool.submit(signal.pthread_sigmask, signal.SIG_BLOCK, [])
        blocked = started.result()
    assert {signal.SIGINT, signal.SIGTERM, batch_module._STOP_WORKER} <= blocked
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == before


def test_the_first_signal_stops_the_batch_and_the_rest_are_ignored():
    """Within a batch the first SIGTERM raises Terminated (a KeyboardInterrupt: the batch stops as on
    Ctrl-C), later SIGINT and SIGTERM are ignored until the batch has cleaned up; the handlers are
    put back afterwards, and a signal ignored before (nohup, an xdist worker's SIGINT) stays ignored."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for before in (signal.default_int_handler, signal.SIG_IGN):
            signal.signal(signal.SIGINT, before)
            with pytest.raises(batch_module.Terminated):
                with batch_module._stopped_by_signals():
                    try:
                        os.kill(os.getpid(), signal.SIGTERM)
                        time.sleep(1)
                    finally:  # the way out
                        os.kill(os.getpid(), signal.SIGINT)
                        os.kill(os.getpid(), signal.SIGTERM)
                        time.sleep(0.1)
            assert signal.getsignal(signal.SIGINT) is before and signal.getsignal(signal.SIGTERM) is saved[signal.SIGTERM]
            with batch_module._stopped_by_signals(), \
                    contextlib.nullcontext() if before is signal.SIG_IGN else pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.5)  # ignored before: nothing happens
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


@pytest.mark.parametrize("when", ["loading", "grading"])
def test_an_interrupted_grade_says_what_it_left(tmp_path, monkeypatch, when):
    """Ctrl-C while the sources load gave a bare traceback (exit -2); one before any row finished
    named a gradebook.csv that did not exist."""
    write(tmp_path / "hw.ipynb", solution_nb())

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(grading, "find_sources" if when == "loading" else "grade", interrupted)
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            code = cli.main(["grade", str(tmp_path / "hw.ipynb"), "--out", str(tmp_path / "out"), "--no-isolation"])
    except KeyboardInterrupt:  # not the test session's to end
        pytest.fail("course grade let the KeyboardInterrupt out")
    said = {"loading": "course grade: interrupted before grading began; nothing was written",
            "grading": f"course grade: interrupted, no row was finished, so there is no {tmp_path / 'out' / 'gradebook.csv'}"}
    assert code == 130 and said[when] in stderr.getvalue(), stderr.getvalue()


def test_require_isolation_refuses_to_grade_without_it(tmp_path, monkeypatch):
    monkeypatch.setattr(sandbox, "BWRAP", str(tmp_path / "no-bwrap"))
    write(tmp_path / "hw.ipynb", solution_nb())
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        code = cli.main(["grade", str(tmp_path / "hw.ipynb"), "--out", str(tmp_path / "out"), "--require-isolation"])
    assert code == 2 and "refusing to grade" in stderr.getvalue() and "no-bwrap" in stderr.getvalue()
    assert not (tmp_path / "out").exists()


def test_the_sandbox_never_hides_python_itself():
    with pytest.raises(ValueError, match="outside the Python installation"):
        sandbox.bubblewrap_argv(Path(sys.prefix) / "scratch", ["true"])
    argv = sandbox.bubblewrap_argv(Path("/tmp/batch/k1"), ["true"])
    assert argv[argv.index("--tmpfs", argv.index("/run")):][:2] == ["--tmpfs", "/tmp/batch"]
    assert {"--unshare-all", "--die-with-parent"} <= set(argv) and argv[-2:] == ["--", "true"]


def test_a_clone_under_tmp_stays_visible_to_its_kernels():
    """A library under the hidden /tmp (a clone in /tmp) is bound back, read-only, after the tmpfs."""
    argv = sandbox.bubblewrap_argv(Path("/tmp/batch/k1"), ["true"], needed=[Path("/tmp/clone/course_lib")])
    shown = argv.index("--ro-bind", 2)
    assert argv[shown:shown + 3] == ["--ro-bind", "/tmp/clone/course_lib", "/tmp/clone/course_lib"]
    assert shown > argv.index("/tmp/batch") and shown < argv.index("--bind")
    outside = sandbox.bubblewrap_argv(Path("/tmp/batch/k1"), ["true"], needed=[Path("/opt/venv")])
    assert "/opt/venv" not in outside


def test_fingerprint_sees_a_change_an_addition_and_a_removal(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "b.py").write_text("y = 2\n")
    before = tamper.Fingerprint.take([tmp_path, tmp_path / "missing.ipynb"])
    assert before.changes() == []
    (tmp_path / "a.py").write_text("x = 2\n")
    (tmp_path / "b.py").unlink()
    (tmp_path / "missing.ipynb").write_text("{}")
    assert before.changes() == [str(tmp_path / n) for n in ("a.py", "b.py", "missing.ipynb")]


# --------------------------------------------------------------------------------------------
# Without a kernel
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted((REPO / "solutions").glob("*.ipynb")) + sorted((REPO / "exercises").glob("*.ipynb")),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_notebooks_are_valid_nbgrader_sources(path):
    nb = nbformat.read(path, as_version=4)
    assert grading.nbgrader_problems(nb) == []
    source = grading.load_source(path)
    assert source.tests and source.max_points > 0
    graded = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert len(graded) == len(source.tests)


@pytest.mark.parametrize("edit, problem", [
    (lambda m: m.update(grade_id="check_dihedral_compose"), "duplicate grade_id"),
    (lambda m: m.pop("points"), "needs points"),
    (lambda m: m.update(points=-1), "needs points"),
    (lambda m: m.update(schema_version=2), "schema_version"),
    (lambda m: m.update(locked="yes"), "locked must be"),
    (lambda m: m.update(grade_id="has space"), "grade_id must be"),
    (lambda m: m.update(colour="red"), "unknown nbgrader keys"),
    (lambda m: m.update(locked=False), "must be locked"),
])
def test_nbgrader_validator_catches(edit, problem):
    nb = solution_nb()
    edit(cell_of(nb, "check_homomorphism_error").metadata.nbgrader)
    assert any(problem in p for p in grading.nbgrader_problems(nb))


def test_points_only_on_graded_cells():
    nb = solution_nb()
    cell_of(nb, "dihedral_compose").metadata.nbgrader["points"] = 3
    assert any("points on a cell that is not graded" in p for p in grading.nbgrader_problems(nb))


def test_rebuild_takes_only_solution_cells():
    source = grading.load_source(SOLUTION)
    nb = edit_tests()
    rebuilt, found = grading.rebuild(source, nb)
    assert found == {"dihedral_compose": "grade_id", "homomorphism_error": "grade_id", "rotation_about": "grade_id"}
    assert [c.source for c in rebuilt.cells if c.metadata.get("nbgrader", {}).get("grade")] == \
        [f'check("groups.{f}", {f})' for f in WRONG]
    assert rebuilt.cells[2].source == nb.cells[2].source and not any(c.get("outputs") for c in rebuilt.cells)
    _, found = grading.rebuild(source, nbformat.read(EXERCISE, as_version=4))
    assert set(found.values()) == {"untouched"}


def test_rebuild_by_content_and_by_position():
    source = grading.load_source(SOLUTION)
    nb = stripped()
    _, found = grading.rebuild(source, nb)
    assert set(found.values()) == {"content"}
    for c in nb.cells:  # no function names to go by: the same layout still matches by position
        c.source = c.source.replace("def ", "def renamed_")
    _, found = grading.rebuild(source, nb)
    assert set(found.values()) == {"position"}


@pytest.mark.parametrize("record", [b"garbage", b"[1, 2]", b'{"a": 1}', b"[" * 100_000,
                                    b'[{"value": {"dtype": "float64", "shape": [2], "data": ["x", 1]}, "error": null}]'])
def test_malformed_record_fails_cleanly(record):
    source = grading.load_source(SOLUTION)
    run = grading.Run(source.notebook, {"groups.dihedral_compose": record})
    result = grading.judge_test(source.tests[0], run, {g: "grade_id" for g in source.solutions}, source, grading.Limits())
    assert (result.status, result.points) == ("fail", 0.0) and "malformed" in result.message


@pytest.mark.parametrize("text, why", [("{", "not readable JSON"), ("[]", "no list of cells"),
                                       ('{"cells": [{"source": "x"}]}', "no list of cells"),
                                       ('{"cells": []}', "no cells")])
def test_read_submission_rejects(tmp_path, text, why):
    (tmp_path / "s.ipynb").write_text(text)
    with pytest.raises(grading.Ungradable, match=why):
        grading.read_submission(tmp_path / "s.ipynb")


def test_a_foreign_gradebook_is_not_overwritten(tmp_path):
    (tmp_path / "gradebook.json").write_text("my own notes")
    with pytest.raises(ValueError, match="not a gradebook this grader wrote"):
        grading.grade([], tmp_path, grading.find_sources([REPO / "solutions"], problems=[]))
    assert (tmp_path / "gradebook.json").read_text() == "my own notes"


def test_limits_reject_nonsense():
    with pytest.raises(ValueError, match="timeouts must be positive"):
        grading.Limits(cell_timeout=0)
    with pytest.raises(ValueError, match="threads"):
        grading.Limits(threads=0)


def test_total_timeout_kills_the_kernel_and_its_children(tmp_path):
    """A kernel past the total time is killed with every process it started; nothing is left in the scratch folder."""
    nb = nbformat.v4.new_notebook()
    mark = f"course-grade-child-{os.getpid()}-{time.time_ns()}"
    nb.cells = [nbformat.v4.new_code_cell(s) for s in [
        f"import os, subprocess, sys\nchild = subprocess.Popen([sys.executable, '-c', 'import time; "
        f"time.sleep(300)', {mark!r}])\nprint(os.getcwd())",
        "import time\ntime.sleep(300)",
        "print('never')",
    ]]
    run = grading.execute(nb, grading.Limits(cell_timeout=100, timeout=8), [])
    assert (run.stop_status, run.stopped_at) == ("timeout", 1) and "total time limit" in run.stop_reason
    cwd = run.notebook.cells[0].outputs[0]["text"].strip()
    assert not [pid for pid in processes_with(mark) if "zombie" not in Path(f"/proc/{pid}/status").read_text()]
    assert not Path(cwd).exists() and not run.notebook.cells[2].outputs


def test_a_kernel_that_cannot_start_is_reported():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("print(1)")]
    run = grading.execute(nb, grading.Limits(memory_mb=30, timeout=30), [])
    assert (run.stop_status, run.stopped_at) == ("kernel died", 0) and "did not start" in run.stop_reason


def test_another_chapters_notebook_is_the_wrong_chapter():
    """Every other chapter's exercise notebook, handed in as 'groups' (by --chapter or by its metadata)."""
    sources = grading.find_sources([REPO / "solutions"], problems=[])
    others = sorted(c for c in sources if c != "groups")
    if not others:
        pytest.skip("only the groups chapter has a solution notebook yet")
    for other in others:
        nb = copy.deepcopy(sources[other].notebook)
        assert grading.identify_chapter(nb, Path("hw.ipynb"), sources)[0] == other
        with pytest.raises(grading.Ungradable, match=f"chapter '{other}', not of 'groups'"):
            grading.identify_chapter(nb, Path("hw.ipynb"), sources, expected="groups")
        nb.metadata.course.chapter = "groups"
        with pytest.raises(grading.Ungradable, match=f"those of '{other}'"):
            grading.identify_chapter(nb, Path("hw.ipynb"), sources)


def test_check_raises_only_under_nbgrader(monkeypatch, capsys):
    """nbgrader scores a test cell by whether it raised: under nbgrader a failing check() raises."""
    wrong, right = (lambda a, b, n: a), solution_cells_run_here(solution_nb())["dihedral_compose"]
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    checks.check("groups.dihedral_compose", wrong)
    assert "[FAIL]" in capsys.readouterr().out
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    with pytest.raises(AssertionError, match="FAIL"):
        checks.check("groups.dihedral_compose", wrong)
    checks.check("groups.dihedral_compose", right)
    assert "[PASS]" in capsys.readouterr().out


@pytest.mark.parametrize("ename, shown", [("_IncompleteInputError", "SyntaxError"), ("SyntaxError", "SyntaxError"),
                                          ("ValueError", "ValueError")])
def test_a_cells_error_is_named_by_its_public_class(ename, shown):
    """Python 3.13 reports `def f(:` cut off mid-statement as _IncompleteInputError, a private
    subclass of SyntaxError; the learner reads SyntaxError on every Python."""
    from course_lib.grading.judge import error_of
    cell = nbformat.v4.new_code_cell("def f(a,\n")
    cell.outputs = [nbformat.v4.new_output("error", ename=ename, evalue="incomplete input (x.py, line 2)",
                                           traceback=[])]
    assert error_of(cell) == f"{shown}: incomplete input (x.py, line 2)"
    assert error_of(nbformat.v4.new_code_cell("1")) is None


def test_a_kernel_importing_the_checks_does_not_import_the_grader():
    """Every grading kernel imports course_lib.checks (which uses grading.library_answer); the
    grader's nbformat and jsonschema (0.8 s of imports) stay out of it, and `grading.rebuild`
    stays the function once the submodule of that name is imported."""
    probe = ("import sys, course_lib.checks\n"
             "print(sorted(m for m in ('nbformat', 'jsonschema', 'course_lib.grading.judge') if m in sys.modules))\n"
             "from course_lib import grading\n"
             "import course_lib.grading.judge\n"
             "print(callable(grading.rebuild) and grading.rebuild.__module__)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.stdout.split("\n")[:2] == ["[]", "course_lib.grading.rebuild"], done.stdout + done.stderr
