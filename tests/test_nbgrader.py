"""nbgrader, proven: `solutions/*.ipynb` are nbgrader source notebooks (README, "With nbgrader instead").

In a temporary nbgrader course, real nbgrader (the `compare` extra) runs `generate_assignment` on
every solution notebook: with the course's stub as `ClearSolutions.code_stub`, the student version
it releases has exactly the cells of `exercises/`. Three submissions of the groups chapter, made
from that release (correct, partly correct, untouched), are then graded twice: by
`nbgrader autograde`, whose points are read back from its gradebook database, and by
`course grade`; the two agree on every test cell.

Without nbgrader the tests are skipped with how to get it; in CI (CI=true), where `make setup`
installs the compare extra, they fail instead.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from course_lib import cli, exercises
from conftest import REPO

ASSIGNMENT = "ps1"
CHAPTER = "groups"  # the pattern chapter: 8 points in three test cells
SOLUTIONS = sorted((REPO / "solutions").glob("*.ipynb"))
WRONG = {"homomorphism_error": "def homomorphism_error(rho, group) -> float:\n    return 0.0\n"}
STUDENTS = ("correct", "partly", "untouched")

@dataclass
class Course:
    """The temporary nbgrader course after both graders ran."""

    root: Path
    nbgrader: dict[str, dict[str, float]]  # student -> grade_id -> points, from gradebook.db
    course_grade: dict[str, dict[str, float]]  # student -> grade_id -> points, from gradebook.json
    statuses: dict[str, str]  # student -> course grade's status
    max_points: dict[str, float]  # grade_id -> points of the test cell


def nbgrader_cli(root: Path, *args: str) -> None:
    """Run `nbgrader ARGS` in the course folder, with no Jupyter config but the course's own
    (and this Python's scripts first on PATH: nbgrader runs `alembic` to make its database)."""
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(root.parent / "jupyter-config"),
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{done.stdout}\n{done.stderr[-6000:]}"


def grade_id(cell: nbformat.NotebookNode) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def submission(release: nbformat.NotebookNode, student: str) -> nbformat.NotebookNode:
    """The released notebook with its solution cells as `student` hands them in."""
    solution = {grade_id(c): c.source for c in nbformat.read(REPO / "solutions" / f"{CHAPTER}.ipynb", 4).cells}
    nb = copy.deepcopy(release)
    for cell in nb.cells:
        if student != "untouched" and cell.metadata.get("nbgrader", {}).get("solution"):
            wrong = WRONG.get(grade_id(cell)) if student == "partly" else None
            cell.source = wrong or solution[grade_id(cell)]
    return nb


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Course:
    try:
        from nbgrader.api import Gradebook
    except ImportError:
        message = "nbgrader not found: `make setup` installs it (the compare extra of pyproject.toml)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI installs the compare extra, yet {message}")
        pytest.skip(message)
    root = tmp_path_factory.mktemp("nbgrader") / "course"
    (root / "source" / ASSIGNMENT).mkdir(parents=True)
    (root / "nbgrader_config.py").write_text("\n".join([
        "c = get_config()",
        f"c.CourseDirectory.root = {str(root)!r}",
        f"c.ClearSolutions.code_stub = {{'python': {exercises.STUB!r}}}",  # the course's stub
        "c.Execute.timeout = 120",  # seconds per cell, on a busy machine
    ]) + "\n")
    for path in SOLUTIONS:
        (root / "source" / ASSIGNMENT / path.name).write_bytes(path.read_bytes())
    nbgrader_cli(root, "generate_assignment", ASSIGNMENT, "--force")

    release = nbformat.read(root / "release" / ASSIGNMENT / f"{CHAPTER}.ipynb", as_version=4)
    for student in STUDENTS:
        folder = root / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(submission(release, student), folder / f"{CHAPTER}.ipynb")
    nbgrader_cli(root, "autograde", ASSIGNMENT, "--create", "--force")
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as book:
        by_nbgrader = {s: {g.name: g.score for g in book.find_submission_notebook(CHAPTER, ASSIGNMENT, s).grades}
                       for s in STUDENTS}
        max_points = {g.name: g.max_score for g in book.find_submission_notebook(CHAPTER, ASSIGNMENT, "correct").grades}

    out = root.parent / "course-grade"
    chapter_files = [str(root / "submitted" / s / ASSIGNMENT / f"{CHAPTER}.ipynb") for s in STUDENTS]
    with contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(["grade", *chapter_files, "--out", str(out), "-j", "2", "--chapter", CHAPTER,
                         "--source", str(REPO / "solutions"), "--cell-timeout", "60", "--timeout", "300"])
    assert code == 0
    rows = {Path(r["key"]).parent.parent.name: r for r in json.loads((out / "gradebook.json").read_text())["rows"]}
    by_course = {s: {t["grade_id"]: t["points"] for t in rows[s]["tests"]} for s in STUDENTS}
    return Course(root, by_nbgrader, by_course, {s: rows[s]["status"] for s in STUDENTS}, max_points)


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_generate_assignment_releases_the_exercise_notebook(course, path):
    released = nbformat.read(course.root / "release" / ASSIGNMENT / path.name, as_version=4)
    exercise = nbformat.read(REPO / "exercises" / path.name, as_version=4)
    assert [(c.cell_type, c.source) for c in released.cells] == [(c.cell_type, c.source) for c in exercise.cells]
    assert any(exercises.STUB in c.source for c in released.cells)
    assert not any(exercises.BEGIN in c.source for c in released.cells)


@pytest.mark.parametrize("student", STUDENTS)
def test_autograde_and_course_grade_give_the_same_points(course, student):
    assert course.nbgrader[student] == course.course_grade[student]


def test_the_three_submissions_score_what_they_should(course):
    """So that the agreement above cannot be two graders failing alike."""
    full = sum(course.max_points.values())
    totals = {s: sum(course.nbgrader[s].values()) for s in STUDENTS}
    assert full == 8
    assert totals == {"correct": full, "partly": full - course.max_points["check_homomorphism_error"],
                      "untouched": 0}
    assert course.statuses == {"correct": "graded", "partly": "graded", "untouched": "not attempted"}
