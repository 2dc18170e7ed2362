"""Quick mode (COURSE_QUICK=1, `course_lib.quick`): each chapter runs with fewer seeds and shorter
training, says so in a banner, and keeps the full run's structure: the same figures, glued numbers
and verdict lines in the same cells. Its run time is measured by `python bench/notebooks.py --quick`,
not here."""

from __future__ import annotations

import re

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import BOOK, book_chapters, output_text
from course_lib import quick

CHAPTERS = [f for f in book_chapters() if (BOOK / f"{f}.ipynb").exists()]
VERDICT = re.compile(r"noise\s+threshold|\(no\s+noise\)")  # every spread.compare verdict says one (wrapped or not)


def structure(nb) -> list[dict]:
    """Per code cell: its figures, the names it glues and its number of verdict lines."""
    cells = []
    for cell in (c for c in nb.cells if c.cell_type == "code"):
        outputs = cell.get("outputs", [])
        cells.append({
            "figures": sum("image/png" in o.get("data", {}) or "image/svg+xml" in o.get("data", {})
                           for o in outputs if o.output_type in ("display_data", "execute_result")
                           and "scrapbook" not in o.get("metadata", {})),
            "glued": sorted(o["metadata"]["scrapbook"]["name"] for o in outputs
                            if "scrapbook" in o.get("metadata", {})),
            "verdicts": len(VERDICT.findall(output_text(cell))),
        })
    return cells


def differences(full: list[dict], fast: list[dict]) -> list[str]:
    """Cells whose structure differs, as readable lines."""
    if len(full) != len(fast):
        return [f"{len(full)} code cells in the full run, {len(fast)} in quick mode"]
    return [f"code cell {i}: full run {a}, quick mode {b}" for i, (a, b) in enumerate(zip(full, fast)) if a != b]


def test_quick_mode_reads_its_variable(monkeypatch):
    monkeypatch.delenv(quick.ENV, raising=False)
    assert quick.choose(full=1000, quick=100) == 1000 and not quick.active()
    for on in ("1", "true", "YES", " on "):
        monkeypatch.setenv(quick.ENV, on)
        assert quick.active() and quick.choose(full=1000, quick=100) == 100
    for off in ("0", "false", "no", ""):
        monkeypatch.setenv(quick.ENV, off)
        assert not quick.active()
    monkeypatch.setenv(quick.ENV, "fast please")
    with pytest.raises(ValueError, match="COURSE_QUICK must be one of .* got 'fast please'"):
        quick.active()
    quick.enable()
    assert quick.active()
    quick.disable()
    assert not quick.active()


def test_the_banner_prints_only_in_quick_mode(monkeypatch, capsys):
    monkeypatch.delenv(quick.ENV, raising=False)
    quick.banner()
    assert capsys.readouterr().out == ""
    monkeypatch.setenv(quick.ENV, "1")
    quick.banner()
    assert "QUICK MODE" in capsys.readouterr().out


def test_the_structure_comparison_sees_a_missing_figure_glue_or_verdict():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x")])
    nb.cells[0].outputs = [
        nbformat.v4.new_output("display_data", data={"image/png": "iVBOR"}),
        nbformat.v4.new_output("display_data", data={"text/plain": "0.5"}, metadata={"scrapbook": {"name": "acc"}}),
        nbformat.v4.new_output("stream", text="CNN is better than MLP (gap 3.1x the noise threshold)\n"),
    ]
    full = structure(nb)
    assert full == [{"figures": 1, "glued": ["acc"], "verdicts": 1}]
    for drop in range(3):
        fewer = nbformat.from_dict(nb)
        fewer.cells[0].outputs = [o for i, o in enumerate(nb.cells[0].outputs) if i != drop]
        assert differences(full, structure(fewer))


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_chapter_offers_quick_mode_and_stores_the_full_run(name):
    nb = nbformat.read(BOOK / f"{name}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert any("quick.banner()" in c.source for c in code[:3]), "call quick.banner() in the imports cell"
    stored = "".join(output_text(c) for c in code)
    assert "QUICK MODE" not in stored, "the stored outputs must be the full run's"


@pytest.mark.parametrize("name", CHAPTERS)
def test_a_chapter_in_quick_mode_keeps_the_full_runs_structure(name, monkeypatch):
    full = nbformat.read(BOOK / f"{name}.ipynb", as_version=4)
    fast = nbformat.from_dict(full)
    for cell in fast.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    monkeypatch.setenv(quick.ENV, "1")  # the kernel inherits it
    NotebookClient(fast, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(BOOK)}}).execute()
    printed = "".join(output_text(c) for c in fast.cells if c.cell_type == "code")
    assert "QUICK MODE" in printed
    assert not differences(structure(full), structure(fast)), "\n".join(differences(structure(full), structure(fast)))
