"""Stage 1: the trusted sources, `solutions/<chapter>.ipynb` stubbed as in `exercises/`.

A source says, per chapter, which cells are the learner's (nbgrader `solution: true`, by grade_id)
and which are tests (`grade: true`: their points and the exercises their `check(...)` calls name).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import nbformat

from course_lib import checks, exercises

@dataclass(frozen=True)
class TestCell:
    """A graded cell of the source: its grade_id, points and the exercises its check() calls name."""

    grade_id: str
    points: float
    exercises: tuple[str, ...]
    functions: tuple[str, ...]  # the names passed to check(), to find their solution cells
    index: int


@dataclass(frozen=True)
class Source:
    """A chapter's source notebook, stubbed: what every submission of that chapter is rebuilt from."""

    chapter: str
    path: Path
    notebook: nbformat.NotebookNode
    solutions: dict[str, int]  # grade_id -> cell index
    tests: tuple[TestCell, ...]

    @property
    def max_points(self) -> float:
        return sum(t.points for t in self.tests)

    def defined_names(self, grade_id: str) -> list[str]:
        return top_level_names(self.notebook.cells[self.solutions[grade_id]].source)


def nbgrader_meta(cell: dict) -> dict:
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    nbg = meta.get("nbgrader") if isinstance(meta, dict) else None
    return nbg if isinstance(nbg, dict) else {}


def top_level_names(source: str) -> list[str]:
    return re.findall(r"^(?:async\s+)?(?:def|class)\s+([A-Za-z_]\w*)", source, re.M)


def _check_calls(source: str) -> list[tuple[str, str | None]]:
    """(exercise name, function name) of every `check("<name>", fn)` call in a test cell."""
    calls = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "check" and node.args \
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            fn = node.args[1].id if len(node.args) > 1 and isinstance(node.args[1], ast.Name) else None
            calls.append((node.args[0].value, fn))
    return calls


def load_source(path: Path) -> Source:
    """Read solutions/<chapter>.ipynb (or its exercise version) as the source for grading.

    ValueError when it has no `course.chapter` metadata, when a graded cell has no
    `check("<chapter>.<exercise>", fn)` call, or when an exercise it names does not exist.
    """
    nb = exercises.make_exercise(nbformat.read(path, as_version=4))
    chapter = nb.metadata.get("course", {}).get("chapter")
    if not isinstance(chapter, str):
        raise ValueError(f"{path}: expected notebook metadata course.chapter, got {nb.metadata.get('course')!r}")
    solutions, tests = {}, []
    for i, cell in enumerate(nb.cells):
        meta = nbgrader_meta(cell)
        if meta.get("solution"):
            solutions[meta["grade_id"]] = i
        elif meta.get("grade"):
            calls = _check_calls(cell.source)
            if not calls:
                raise ValueError(f"{path}: graded cell {meta['grade_id']!r} has no check(\"{chapter}.<exercise>\", fn) call")
            for name, _ in calls:
                checks.exercise(name)  # ValueError for an exercise that does not exist
            tests.append(TestCell(meta["grade_id"], float(meta.get("points", 0)), tuple(n for n, _ in calls),
                                  tuple(f for _, f in calls if f), i))
    return Source(chapter, Path(path), nb, solutions, tuple(tests))


def default_source_dirs() -> list[Path]:
    """Where sources are looked for: ./solutions, ./exercises, then the repo's own folders."""
    repo = Path(__file__).resolve().parents[2]
    return [Path("solutions"), Path("exercises"), repo / "solutions", repo / "exercises"]


def find_sources(folders: Iterable[Path], problems: list[str] | None = None) -> dict[str, Source]:
    """Every chapter's source, from the first folder that has it (solutions before exercises).

    A source that does not load raises its ValueError, or, when a `problems` list is given, is
    skipped with its reason appended there (so that one broken chapter does not stop the others).
    """
    sources: dict[str, Source] = {}
    for folder in folders:
        for path in sorted(Path(folder).glob("*.ipynb")):
            try:
                src = load_source(path)
            except (ValueError, SyntaxError, OSError, nbformat.ValidationError) as e:
                if problems is None:
                    raise
                problems.append(f"{path}: {e}")
                continue
            sources.setdefault(src.chapter, src)
    if not sources:
        raise ValueError(f"no source notebooks found in {[str(f) for f in folders]}")
    return sources
