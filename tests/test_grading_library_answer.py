"""The answer is not in the library (course_lib/library_answer.py): the learner's own check() side.

The grader's side (the same verdicts from a sandboxed kernel) is in tests/test_grading.py's corpus.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pkgutil
import sys
from pathlib import Path

import nbformat
import pytest

import course_lib.checks
from course_lib import checks
from course_lib.grading import library_answer

REPO = Path(__file__).resolve().parents[1]
# the chapters whose checks modules declare what their references stand for (issue 16)
DECLARED = ["symmetry", "why_symmetry", "groups", "invariance", "pinn", "gcnn", "uncertainty"]


def chapter_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(course_lib.checks.__path__))


def solution_functions(chapter: str) -> tuple[dict, list[tuple[str, str]]]:
    """The solution notebook's functions (its import cell and solution cells run here) and its checks."""
    nb = nbformat.read(REPO / "solutions" / f"{chapter}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    namespace: dict = {}
    exec(next(c for c in code if "import" in c.source and "course_lib" in c.source).source, namespace)
    calls = []
    for cell in code:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            exec(cell.source, namespace)
        elif meta.get("grade"):
            calls += [(n.args[0].value, n.args[1].id) for n in ast.walk(ast.parse(cell.source))
                      if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "check"]
    return namespace, calls


@pytest.mark.parametrize("chapter", chapter_modules())
def test_every_declared_library_answer_is_watchable_python(chapter):
    """Every chapter, new ones included with no declaration: the reference is watched when it is Python
    code, and what a reference stands for must be Python code (a builtin could not be watched)."""
    for ex in importlib.import_module(f"course_lib.checks.{chapter}").EXERCISES.values():
        for fn in ex.answer_in_library:
            assert library_answer.code_of(fn).co_filename.startswith(str(REPO / "course_lib"))
        assert library_answer.Watch(ex.library_answers).names or not callable(getattr(ex.reference, "__code__", None))


@pytest.mark.parametrize("chapter", DECLARED)
def test_the_solutions_building_blocks_stay_allowed(chapter):
    """Each solution, which builds on the library (pinn.laplacian, group.compose, groups.hat, ...), passes
    under the watch: nothing declared is a building block the course teaches with."""
    namespace, calls = solution_functions(chapter)
    assert calls
    assert {name: checks.verify(name, namespace[fn]).status for name, fn in calls} == \
        {name: "pass" for name, _ in calls}


def _via_thread(axis, angle):
    import threading

    from course_lib import groups
    out = []
    thread = threading.Thread(target=lambda: out.append(groups.rotation_about(axis, angle)))
    thread.start()
    thread.join()
    return out[0]


def _reloaded(axis, angle):
    """What importlib.reload does (new function objects from the same file), without disturbing the
    course_lib.groups that the rest of this test session uses."""
    spec = importlib.util.spec_from_file_location("my_groups", importlib.import_module("course_lib.groups").__file__)
    mine = sys.modules["my_groups"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mine)
    return mine.rotation_about(axis, angle)


def _watch_off(axis, angle):
    import sys

    from course_lib import groups
    sys.setprofile(None)
    return groups.rotation_about(axis, angle)


def _copied(a, b, n):
    from course_lib import groups
    k, f = groups.DihedralGroup(n).compose(a, b)
    return (int(k), int(f))  # a plain copy of the library's answer


EVASIONS = {  # exercise -> how a learner's function reaches the library's answer
    "alias": ("groups.rotation_about", lambda axis, angle: __import__("course_lib.groups").groups.rotation_about(axis, angle)),
    "getattr": ("groups.dihedral_compose",
                lambda a, b, n: getattr(importlib.import_module("course_lib.groups").DihedralGroup(n), "comp" + "ose")(a, b)),
    "unbound method": ("groups.dihedral_compose",
                       lambda a, b, n: importlib.import_module("course_lib.groups").DihedralGroup.compose(
                           importlib.import_module("course_lib.groups").DihedralGroup(n), a, b)),
    "the reference": ("groups.homomorphism_error", checks.exercise("groups.homomorphism_error").reference),
    "what it stands for": ("groups.homomorphism_error", lambda rho, group: __import__(
        "course_lib.groups").groups.homomorphism_error(
        __import__("course_lib.groups").groups.Representation(group, rho, dim=0),
        __import__("course_lib.groups").groups.element_pairs(group))),
    "reload": ("groups.rotation_about", _reloaded),
    "thread": ("groups.rotation_about", _via_thread),
    "watch off": ("groups.rotation_about", _watch_off),
    "copied result": ("groups.dihedral_compose", _copied),
}


@pytest.mark.parametrize("how", list(EVASIONS))
def test_reaching_the_library_answer_fails_whatever_the_route(how, capsys):
    name, fn = EVASIONS[how]
    verdict = checks.verify(name, fn)
    assert verdict.status == "fail"
    assert ("library's own answer" in verdict.message) != (how == "watch off")
    assert how != "watch off" or "turns off the watch" in verdict.message
    checks.check(name, fn)  # what the learner reads says the same
    assert verdict.message in capsys.readouterr().out


def test_the_watch_is_gone_after_the_check():
    import sys
    import threading
    checks.verify("groups.rotation_about", EVASIONS["alias"][1])
    assert sys.getprofile() is None and threading.getprofile() is None


def test_code_of_refuses_a_builtin():
    with pytest.raises(ValueError, match="expected a Python function"):
        library_answer.code_of(len)
