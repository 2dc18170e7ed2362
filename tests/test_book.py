"""The book builds with Jupyter Book 1.x with Sphinx warnings as errors, from stored outputs."""

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from conftest import REPO

BOOK = REPO / "book"


def toc_files():
    toc = yaml.safe_load((BOOK / "_toc.yml").read_text())
    return [c["file"] for part in toc["parts"] for c in part["chapters"]]


@pytest.mark.parametrize("name", [f for f in toc_files() if (BOOK / f"{f}.ipynb").exists()])
def test_book_notebooks_store_outputs_and_start_as_designed(name):
    nb = nbformat.read(BOOK / f"{name}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), "execute the notebook top to bottom before committing"
    assert not any(o.output_type == "error" for c in code for o in c.outputs)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith(f"(chapter-{name})=")
    assert "course_lib" in code[0].source and "seed_everything(" in code[0].source


def test_every_chapter_notebook_is_in_the_toc():
    listed = set(toc_files())
    chapters = {p.stem for p in BOOK.glob("*.ipynb")}
    assert chapters <= listed, f"not in book/_toc.yml: {sorted(chapters - listed)}"


def test_book_builds_without_warnings(tmp_path):
    jb = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run([str(jb), "build", str(BOOK), "--path-output", str(tmp_path),
                             "--warningiserror", "--keep-going"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    html = tmp_path / "_build" / "html"
    for name in toc_files():
        assert (html / f"{name}.html").exists()
    groups = (html / "groups.html").read_text()
    assert "colab.research.google.com" in groups and "mybinder.org" in groups  # launch buttons
