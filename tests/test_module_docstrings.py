"""book/intro.md promises that each module's docstring names the chapter that builds it."""

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INTRO_SECTION = 'the introduction, section "How the exercises work"'


def _chapter_titles() -> set[str]:
    titles = set()
    for path in (ROOT / "book").glob("*.ipynb"):
        cells = json.loads(path.read_text())["cells"]
        text = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
        titles.update(re.findall(r"^# (.+)$", text, re.M)[:1])
    for path in (ROOT / "book").glob("*.md"):
        titles.update(re.findall(r"^# (.+)$", path.read_text(), re.M)[:1])
    return titles


TITLES = _chapter_titles()
TITLES |= {t.split(":")[0] for t in TITLES}  # "Lie groups" for "Lie groups: equivariant MLPs and ..."


def test_the_book_has_its_chapter_titles():
    assert {"Why symmetry matters in machine learning", "Groups for machine learning",
            "Reproducibility: what is exact and what is not"} <= TITLES


def test_the_claim_is_in_the_introduction():
    assert "each module's docstring\nnames the chapter that builds it" in (ROOT / "book" / "intro.md").read_text()


MODULES = sorted(p for p in (ROOT / "course_lib").glob("*.py") if p.name != "__init__.py") + \
    sorted((ROOT / "course_lib").glob("*/__init__.py")) + sorted((ROOT / "course_lib" / "checks").glob("*.py"))


GRADER_MODULES = sorted(p for p in (ROOT / "course_lib" / "grading").glob("*.py") if p.name != "__init__.py")


@pytest.mark.parametrize("path", GRADER_MODULES, ids=lambda p: p.name)
def test_each_grader_module_says_what_it_does_for_the_grader(path):
    # intro.md: the grader's modules belong to no chapter; the package docstring names the section
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    assert len(doc.split()) >= 8, f"grading/{path.name}: say in its docstring what it does for the grader"
    package = ast.get_docstring(ast.parse((ROOT / "course_lib" / "grading" / "__init__.py").read_text()))
    assert INTRO_SECTION in " ".join(package.split())


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT / "course_lib")))
def test_each_module_names_its_chapter(path):
    doc = " ".join((ast.get_docstring(ast.parse(path.read_text())) or "").split())
    named = {t for t in re.findall(r'[Cc]hapters? "([^"]+)"', doc)}
    named |= {t for t in re.findall(r'" and "([^"]+)"', doc)}
    assert (named & TITLES) or INTRO_SECTION in doc, \
        f"{path.name}: the docstring names no chapter of the book ({sorted(TITLES)}) nor {INTRO_SECTION}"
