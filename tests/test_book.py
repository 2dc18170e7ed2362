"""The book builds with Jupyter Book 1.x with Sphinx warnings as errors, from stored outputs."""

import nbformat
import pytest

from conftest import BOOK, book_chapters


@pytest.mark.parametrize("name", [f for f in book_chapters() if (BOOK / f"{f}.ipynb").exists()])
def test_book_notebooks_store_outputs_and_start_as_designed(name):
    nb = nbformat.read(BOOK / f"{name}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), "execute the notebook top to bottom before committing"
    assert not any(o.output_type == "error" for c in code for o in c.outputs)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith(f"(chapter-{name})=")
    # The first code cell is the Colab/Binder install cell (tests/test_notebook_style.py checks it
    # word for word); the one after it imports the course's library and seeds.
    imports = next((c for c in code if "remove-cell" not in c.metadata.get("tags", [])), None)
    assert imports is not None and "course_lib" in imports.source and "seed_everything(" in imports.source


def test_every_chapter_notebook_is_in_the_toc():
    listed = set(book_chapters())
    chapters = {p.stem for p in BOOK.glob("*.ipynb")}
    assert chapters <= listed, f"not in book/_toc.yml: {sorted(chapters - listed)}"


def test_book_builds_without_warnings(built_book):
    assert built_book.returncode == 0, built_book.log[-6000:]
    for name in book_chapters():
        assert (built_book.html / f"{name}.html").exists()
    groups = (built_book.html / "groups.html").read_text()
    assert "colab.research.google.com" in groups and "mybinder.org" in groups  # launch buttons


def test_the_built_book_serves_its_own_mathjax(built_book):
    """Formulas typeset with no network: MathJax is copied into the book, not loaded from a CDN."""
    pinn = (built_book.html / "pinn.html").read_text()
    assert 'src="_static/mathjax/' in pinn and "cdn.jsdelivr.net" not in pinn
    assert (built_book.html / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()
