"""exercises/ is generated from solutions/, stays in sync, and runs up to its stubs."""

import shutil
import subprocess
import sys

import nbformat
import pytest
from nbclient import NotebookClient

from course_lib import exercises
from conftest import REPO

SOLUTIONS = sorted((REPO / "solutions").glob("*.ipynb"))
EXERCISES = sorted((REPO / "exercises").glob("*.ipynb"))


def solution_cells(nb):
    return [c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("solution")]


def test_stub_replaces_each_region_at_its_indentation():
    source = "def f(x):\n    '''doc'''\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n\ny = 1\n"
    assert exercises.stub_source(source) == f"def f(x):\n    '''doc'''\n    {exercises.STUB}\n\ny = 1\n"
    with pytest.raises(ValueError, match="unbalanced"):
        exercises.stub_source("### BEGIN SOLUTION\nx = 1\n")


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_generated_exercise_has_a_stub_for_every_solution_region(path):
    solution = nbformat.read(path, as_version=4)
    exercise = exercises.make_exercise(solution)
    nbformat.validate(exercise)
    cells = solution_cells(solution)
    assert cells, f"{path.name} has no solution cells"
    for src, out in zip(solution.cells, exercise.cells):
        assert exercises.BEGIN not in out.source and exercises.END not in out.source
        assert out.source.count(exercises.STUB) == src.source.count(exercises.BEGIN)
        if out.cell_type == "code":
            assert out.outputs == [] and out.execution_count is None


def test_committed_exercises_are_in_sync_with_solutions():
    diffs = exercises.generate(REPO / "solutions", REPO / "exercises", check=True)
    assert not diffs, "\n".join(map(str, diffs))


def test_check_fails_naming_notebook_and_cell_when_a_solution_changes(tmp_path):
    shutil.copytree(REPO / "solutions", tmp_path / "solutions")
    shutil.copytree(REPO / "exercises", tmp_path / "exercises")
    path = tmp_path / "solutions" / "groups.ipynb"
    nb = nbformat.read(path, as_version=4)
    index = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and i > 0)
    nb.cells[index].source += "\n\nA new sentence."
    nbformat.write(nb, path)
    cmd = [sys.executable, "-m", "course_lib", "exercises", "--check",
           "--solutions", str(tmp_path / "solutions"), "--exercises", str(tmp_path / "exercises")]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 1
    assert f"groups.ipynb: cell {index} (id {nb.cells[index].id}) differs in its source" in result.stderr
    subprocess.run(cmd[:4] + cmd[5:], check=True, capture_output=True)  # regenerate ...
    assert subprocess.run(cmd, capture_output=True).returncode == 0  # ... and it is in sync again


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.name)
def test_exercise_notebook_runs_up_to_its_stubs(path):
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert all(e.ename == "NotImplementedError" for e in errors), [f"{e.ename}: {e.evalue}" for e in errors]
    check_cells = [c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")]
    assert check_cells, f"{path.name} has no graded check cells"
    for cell in check_cells:
        text = "".join(o.get("text", "") for o in cell.outputs)
        assert text.startswith("[NOT DONE YET]"), f"{cell.source!r} printed {text!r}"
