"""Issue 22: the submissions folder decides nothing about who gets which grade, and flags for review.

One `course grade` batch (two kernels: the others never reach one) of a folder that tries to confuse
the grader: symbolic links to the solution and to another student's notebook, a file name that is
not UTF-8, names whose feedback files used to collide, a newline in a name, nbgrader's
`submitted/<student>/<assignment>/groups.ipynb` layout, a grade_id that is a list, metadata nested
500 deep, and a correct notebook whose solution cell imports ctypes (flagged, not scored). Then unit
tests of the pieces, each of which failed before the fix.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import random
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from test_grading import EXERCISE, REPO, SOLUTION, cell_of, prefixed, solution_nb, write

from course_lib import cli
from course_lib.grading import flags
from course_lib.grading.feedback import feedback_name, feedback_path, score_table
from course_lib.grading.judge import Row
from course_lib.grading.submission import (MAX_JSON_DEPTH, Ungradable, collect, printable, read_submission,
                                           shown, unprintable)

ZOE_NFC, ZOE_OTHER = "zo\u00eb", "zo\u00e9"  # zoë, zoé
LATIN1_NAME = b"caf\xe9.ipynb"  # 'café' from a zip made on Windows: not UTF-8
NEWLINE_NAME = "evil\nforged.ipynb  groups   8 of 8  graded.ipynb"


def untouched() -> nbformat.NotebookNode:
    return nbformat.read(EXERCISE, as_version=4)


def grade_id_list() -> nbformat.NotebookNode:
    nb = solution_nb()
    cell_of(nb, "dihedral_compose").metadata.nbgrader.grade_id = ["dihedral_compose"]
    return nb


def deep_metadata(levels: int = 500) -> str:
    nb = json.loads(nbformat.writes(solution_nb()))
    deep: dict = {}
    for _ in range(levels):
        deep = {"a": deep}
    nb["cells"][0]["metadata"]["deep"] = deep
    return json.dumps(nb)


@dataclass
class Graded:
    root: Path
    out: Path
    code: int
    stdout: str
    rows: dict  # gradebook.json's rows by key
    csv: list  # gradebook.csv's rows


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Graded:
    root = tmp_path_factory.mktemp("submissions")
    subs = root / "submitted"
    for student in ("alice", "bob"):
        (subs / student / "ps1").mkdir(parents=True)
    write(subs / "alice" / "ps1" / "groups.ipynb", solution_nb())  # kernel 1
    write(subs / "bob" / "ps1" / "groups.ipynb", untouched())
    (subs / "aaa.ipynb").symlink_to(Path("bob", "ps1", "groups.ipynb"))  # sorts before bob's
    (subs / "solution.ipynb").symlink_to(SOLUTION)
    write(subs / f"{ZOE_NFC}.ipynb", nbformat.v4.new_notebook())  # invalid: no cells
    write(subs / f"{ZOE_OTHER}.ipynb", untouched())
    write(subs / "x y.ipynb", '{"cells": [')
    write(subs / "x__y.ipynb", untouched())
    (subs / os.fsdecode(LATIN1_NAME)).write_text(nbformat.writes(untouched()))
    write(subs / NEWLINE_NAME, untouched())
    write(subs / "grade_id_list.ipynb", grade_id_list())
    write(subs / "deep_metadata.ipynb", deep_metadata())
    write(subs / "flagged.ipynb", prefixed("rotation_about", "import ctypes\n"))  # kernel 2
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(io.StringIO()), contextlib.chdir(root):
        code = cli.main(["grade", "submitted", "--out", "out", "-j", "2", "--source", str(REPO / "solutions"),
                         "--cell-timeout", "20", "--timeout", "120"])
    out = root / "out"
    rows = {r["key"]: r for r in json.loads((out / "gradebook.json").read_text())["rows"]}
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    return Graded(root, out, code, stdout.getvalue(), rows, table)


def row(graded: Graded, name: str) -> dict:
    return graded.rows[printable(f"submitted/{name}")]


def test_every_submission_has_its_row_and_the_batch_finishes(graded):
    files = sorted(os.fsencode(p.relative_to(graded.root)) for p in (graded.root / "submitted").rglob("*.ipynb"))
    assert sorted(os.fsencode(unprintable(k)) for k in graded.rows) == files  # keys give the names back
    assert len(graded.csv) == len(files) and graded.code == 1  # 1: some could not be graded completely
    assert all(k.isprintable() for k in graded.rows)


def test_a_symlink_is_invalid_and_takes_nobodys_row(graded):
    for name in ("aaa.ipynb", "solution.ipynb"):
        r = row(graded, name)
        assert (r["status"], r["total"]) == ("invalid", 0) and "symbolic link" in r["reason"], r
    bob = row(graded, "bob/ps1/groups.ipynb")
    assert (bob["student"], bob["status"]) == ("bob", "not attempted")
    assert str(SOLUTION) in row(graded, "solution.ipynb")["reason"]


def test_nbgrader_layout_attributes_the_student_folder(graded):
    alice = row(graded, "alice/ps1/groups.ipynb")
    assert (alice["student"], alice["total"], alice["status"]) == ("alice", 8, "graded")


def test_a_name_that_is_not_utf8_is_graded_and_stored_printable(graded):
    key = "submitted/" + printable(os.fsdecode(LATIN1_NAME))
    assert key == "submitted/caf\\xe9.ipynb"
    r = graded.rows[key]
    assert (r["status"], r["student"], r["file"]) == ("not attempted", "caf\\xe9", "caf\\xe9.ipynb")
    assert feedback_path(graded.out, key).exists()


def test_each_student_reads_their_own_feedback(graded):
    for a, b in [(ZOE_NFC, ZOE_OTHER), ("x y", "x__y")]:
        fa, fb = (feedback_path(graded.out, f"submitted/{n}.ipynb") for n in (a, b))
        assert fa != fb and fa.exists() and fb.exists()
        assert "status: invalid" in fa.read_text() and "status: not attempted" in fb.read_text()
    assert len(list((graded.out / "feedback").iterdir())) == len(graded.rows)


def test_a_newline_in_a_name_forges_no_line(graded):
    lines = graded.stdout.splitlines()
    table = lines[lines.index(next(s for s in lines if s.startswith("submission "))):]
    assert not any(s.startswith("forged") for s in lines)
    assert sum(s.startswith("submitted/") for s in table) == len(graded.rows)
    assert "submitted/evil\\x0aforged.ipynb" in graded.stdout
    assert "\n" not in "".join(shown(r["reason"]) for r in graded.rows.values())


def test_bad_metadata_is_invalid_with_the_reason(graded):
    r = row(graded, "grade_id_list.ipynb")
    assert r["status"] == "invalid" and "grade_id is a list" in r["reason"], r
    r = row(graded, "deep_metadata.ipynb")
    assert r["status"] == "invalid" and f"more than {MAX_JSON_DEPTH} levels" in r["reason"], r


def test_flags_reach_the_gradebook_and_the_report(graded):
    flagged, alice = row(graded, "flagged.ipynb"), row(graded, "alice/ps1/groups.ipynb")
    assert (flagged["total"], flagged["status"], flagged["flags"]) == (8, "graded", ["ctypes (rotation_about)"])
    assert alice["flags"] == [] and all(r["flags"] == [] for r in graded.rows.values() if r is not flagged)
    by_key = {r["key"]: r for r in graded.csv}
    assert by_key["submitted/flagged.ipynb"]["flags"] == "ctypes (rotation_about)"
    report = (graded.out / "report.html").read_text()
    review = report[report.index("<h2>To review</h2>"):]
    assert "submitted/flagged.ipynb" in review and "ctypes (rotation_about)" in review
    assert "alice" not in review


# ------------------------------------------------------------------------------------------------
# The pieces, without kernels
# ------------------------------------------------------------------------------------------------


def test_printable_is_one_printable_line_and_reversible():
    rng = random.Random(0)
    alphabet = [0x5C, 0x78, 0x75, 0x0A, 0x0D, 0x1B, 0x7F, 0xFF, 0xC3, 0xA9, 0xE2, 0x80, 0xAE, 0x41, 0x20]
    for _ in range(5000):
        raw = bytes(rng.choice(alphabet + [rng.randrange(1, 256)]) for _ in range(rng.randrange(12)))
        text = printable(os.fsdecode(raw))
        assert text.isprintable() and os.fsencode(unprintable(text)) == raw, (raw, text)
    assert printable("a\nb\u202ec\\") == "a\\x0ab\\u202ec\\\\" and shown("a\\x") == "a\\x"


def test_feedback_names_are_one_to_one_even_where_case_does_not_count():
    keys = ["submitted/zo\u00eb.ipynb", "submitted/zo\u00e9.ipynb", unicodedata.normalize("NFD", "submitted/zo\u00eb.ipynb"),
            "x y.ipynb", "x__y.ipynb", "x_y.ipynb", "x/y.ipynb", "Alice.ipynb", "alice.ipynb", "x.ipynb", "x",
            "x+y.ipynb", "x_2By.ipynb", "caf\\xe9.ipynb", "a" * 300 + ".ipynb", "a" * 301 + ".ipynb"]
    rng = random.Random(1)
    keys += ["".join(rng.choice("aA_/ .+-\u00e9x2B") for _ in range(rng.randrange(1, 8))) for _ in range(3000)]
    keys = list(dict.fromkeys(keys))
    names = [feedback_name(k) for k in keys]
    assert len({n.lower() for n in names}) == len(keys)
    assert all(len(n) <= 200 and "/" not in n for n in names)
    assert feedback_name("submitted/correct.ipynb") == "submitted__correct"


def test_collect_keeps_a_links_own_key_follows_no_folder_link_and_names_the_student_folder(tmp_path):
    subs = tmp_path / "submitted"
    (subs / "bob" / "ps1").mkdir(parents=True)
    write(subs / "bob" / "ps1" / "groups.ipynb", untouched())
    (subs / "aaa.ipynb").symlink_to(subs / "bob" / "ps1" / "groups.ipynb")
    write(subs / "carol.ipynb", untouched())
    (subs / "dave").symlink_to(REPO / "solutions", target_is_directory=True)  # a folder link is not followed
    with contextlib.chdir(tmp_path):
        found = {s.key: s.student for s in collect(["submitted"], ["groups"])}
    assert found == {"submitted/aaa.ipynb": "aaa", "submitted/bob/ps1/groups.ipynb": "bob",
                     "submitted/carol.ipynb": "carol"}


def test_read_submission_refuses_links_fifos_bad_grade_ids_and_deep_json(tmp_path):
    (tmp_path / "link.ipynb").symlink_to(SOLUTION)
    os.mkfifo(tmp_path / "fifo.ipynb")  # reading it must not wait for a writer
    write(tmp_path / "gid.ipynb", grade_id_list())
    write(tmp_path / "deep.ipynb", deep_metadata())
    write(tmp_path / "shallow.ipynb", deep_metadata(MAX_JSON_DEPTH - 10))
    for name, why in [("link", "symbolic link"), ("fifo", "not a regular file"), ("gid", "grade_id is a list"),
                      ("deep", "levels deep")]:
        with pytest.raises(Ungradable, match=why) as e:
            read_submission(tmp_path / f"{name}.ipynb")
        assert e.value.status == "invalid"
    assert read_submission(tmp_path / "shallow.ipynb").cells


def test_score_table_escapes_control_characters():
    rows = [Row(key="a\nb  groups  8/8  graded", student="a", file="a", status="invalid", reason="x\ry\n\x1b[2J"),
            Row(key="c.ipynb", student="c", file="c", status="graded")]
    lines = score_table(rows).splitlines()
    assert len(lines) == 3 and all(s.isprintable() for s in lines)


FLAGGED = {  # flag -> solution cells that must raise it
    "check machinery": ["def check(name, fn):\n    pass\n", "import course_lib.checks as c\n",
                        "from course_lib import checks\n", "import os\nos.environ['COURSE_RECORD_DIR']\n"],
    "hooks": ["get_ipython().events.register('post_run_cell', print)\n", "import sys\nsys.settrace(None)\n"],
    "ctypes": ["import ctypes\nctypes.pythonapi.PyEval_SetProfile(None, None)\n"],
    "code objects": ["def f(): pass\ndef g(): pass\nf.__code__ = g.__code__\n",
                     "import types\nh = types.FunctionType(f.__code__.replace(co_name='x'), {})\n"],
    "subprocess": ["import subprocess\nsubprocess.run(['ls'])\n", "import os\nos.system('ls')\n", "!ls\n",
                   "%%bash\nls\n"],
    "reads notebooks": ["text = open('groups.ipynb').read()\n", "import nbformat\n"],
    "dynamic code": ["exec('x = 1')\n", "os = __import__('os')\n", "import importlib\nimportlib.import_module('os')\n"],
}


@pytest.mark.parametrize("flag, source", [(f, s) for f, sources in FLAGGED.items() for s in sources])
def test_each_flag_fires(flag, source):
    assert flag in flags.scan(source)


def test_every_solution_and_everyday_code_has_no_flag():
    clean = 0
    for path in sorted((REPO / "solutions").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.get("metadata", {}).get("nbgrader", {}).get("solution") and cell.cell_type == "code":
                assert flags.scan(cell.source) == [], (path.name, cell.source[:200])
                clean += 1
    assert clean >= 20
    assert flags.scan("model.eval()\nimport torch, platform\nf = torch.compile(f)\nplatform.system()\n"
                      "check('groups.dihedral_compose', dihedral_compose)\n") == []


def test_odd_metadata_types_are_invalid_not_a_grader_failure():
    """A fuzz of the solution notebook (values swapped for lists, dicts, numbers, ...) through
    reading, chapter finding and rebuilding: every outcome is a rebuilt notebook or Ungradable."""
    from course_lib.grading.rebuild import rebuild
    from course_lib.grading.sources import find_sources
    from course_lib.grading.submission import identify_chapter, parse_submission

    sources = find_sources([REPO / "solutions"], [])
    nb = solution_nb()
    nb.metadata.course.chapter = ["groups"]
    with pytest.raises(Ungradable, match="course.chapter is a list") as e:
        identify_chapter(parse_submission(nbformat.writes(nb).encode()), Path("x.ipynb"), sources)
    assert e.value.status == "invalid"
    base, rng = json.loads(nbformat.writes(solution_nb())), random.Random(0)
    odd = [None, 1, 1.5, True, [], {}, ["x"], {"a": 1}, "", [[]]]

    def mutate(obj, depth=0):
        keys = list(obj) if isinstance(obj, dict) else range(len(obj)) if isinstance(obj, list) else []
        if keys:
            k = rng.choice(list(keys))
            if rng.random() < 0.4 or depth > 6:
                obj[k] = json.loads(json.dumps(rng.choice(odd)))
            else:
                mutate(obj[k], depth + 1)

    for _ in range(500):
        raw = json.loads(json.dumps(base))
        for _ in range(rng.randrange(1, 4)):
            mutate(raw)
        try:
            parsed = parse_submission(json.dumps(raw).encode())
            chapter, _ = identify_chapter(parsed, Path("x.ipynb"), sources)
            rebuild(sources[chapter], parsed)
        except Ungradable:
            pass
