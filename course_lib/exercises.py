"""Exercise notebooks generated from solution notebooks: `course exercises [--check]`.

No chapter of its own: the introduction, section "How the exercises work", describes the exercises.

`solutions/<chapter>.ipynb` is the single source. In it, the code a learner writes sits between
`### BEGIN SOLUTION` and `### END SOLUTION` (nbgrader's markers) in cells whose nbgrader metadata
says `solution: true`. The generator replaces each such region by a stub that raises
NotImplementedError, clears every output, and writes `exercises/<chapter>.ipynb`. The output is
deterministic, so `--check` can compare it byte for byte with what is committed.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STUB = 'raise NotImplementedError("Exercise: replace this line with your code.")'
_REGION = re.compile(rf"^([ \t]*){re.escape(BEGIN)}[^\n]*\n.*?^[ \t]*{re.escape(END)}[^\n]*(\n|$)", re.S | re.M)


def stub_source(source: str) -> str:
    """Replace every BEGIN/END SOLUTION region by a stub at the region's indentation."""
    if source.count(BEGIN) != source.count(END):
        raise ValueError(f"unbalanced solution markers: {source.count(BEGIN)} BEGIN vs {source.count(END)} END")
    return _REGION.sub(lambda m: f"{m.group(1)}{STUB}{m.group(2)}", source)


def make_exercise(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The learner's notebook: solution regions stubbed, outputs and execution counts cleared."""
    nb = copy.deepcopy(solution)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        if BEGIN in cell.source:
            cell.source = stub_source(cell.source)
    nb.metadata.pop("widgets", None)
    return nb


def render(nb: nbformat.NotebookNode) -> str:
    """The notebook as the exact text written to disk."""
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


@dataclass(frozen=True)
class Difference:
    notebook: Path
    detail: str

    def __str__(self) -> str:
        return f"{self.notebook}: {self.detail}"


def _first_difference(expected: nbformat.NotebookNode, committed: nbformat.NotebookNode) -> str:
    if len(expected.cells) != len(committed.cells):
        return f"has {len(committed.cells)} cells, the generator makes {len(expected.cells)}"
    for i, (e, c) in enumerate(zip(expected.cells, committed.cells)):
        if e != c:
            where = "source" if e.get("source") != c.get("source") else "outputs or metadata"
            return f"cell {i} (id {c.get('id', '?')}) differs in its {where}"
    return "differs in notebook metadata or formatting"


def generate(solutions: Path, exercises: Path, check: bool = False) -> list[Difference]:
    """Write exercises/ from solutions/ (or, with check=True, only report where they differ)."""
    sources = sorted(Path(solutions).glob("*.ipynb"))
    if not sources:
        raise ValueError(f"no solution notebooks (*.ipynb) in {solutions}")
    diffs: list[Difference] = []
    wanted = {src.name for src in sources}
    for src in sources:
        expected = render(make_exercise(nbformat.read(src, as_version=4)))
        target = Path(exercises) / src.name
        if not check:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(expected)
        elif not target.exists():
            diffs.append(Difference(target, "missing: run `course exercises`"))
        elif target.read_text() != expected:
            detail = _first_difference(nbformat.reads(expected, as_version=4), nbformat.read(target, as_version=4))
            diffs.append(Difference(target, detail + ": run `course exercises`"))
    for extra in sorted(Path(exercises).glob("*.ipynb")):
        if extra.name not in wanted:
            diffs.append(Difference(extra, f"has no source in {solutions}/ (delete it, or add the solution)"))
    return diffs
