"""Notebooks read well where people read them: lines that fit the book's code column (88
characters; tests/test_browser.py measures the column at 1280 px), and a first cell that lets a
book chapter launched on Colab or Binder install the course's library."""

import importlib.util
import re
import shutil
import tomllib

import nbformat
import pytest

from conftest import BOOK, REPO

spec = importlib.util.spec_from_file_location("colab_cell", REPO / "scripts" / "colab_cell.py")
colab_cell = importlib.util.module_from_spec(spec)
spec.loader.exec_module(colab_cell)

MAX = 88
NOTEBOOKS = sorted(p.relative_to(REPO).as_posix() for folder in ("book", "solutions", "exercises")
                   for p in (REPO / folder).glob("*.ipynb"))
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def code_cells(path: str):
    nb = nbformat.read(REPO / path, as_version=4)
    return [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]


def too_long(lines, where: str) -> list[str]:
    return [f"{where} line {n} ({len(line)} chars): {line[:50]}..."
            for n, line in enumerate(lines, 1) if len(line) > MAX]


def is_install_cell(cell) -> bool:
    """The Colab install cell, whose one long line holds the repository URL a fork sets."""
    return cell.source.startswith(colab_cell.FIRST_LINE)


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_code_lines_fit_the_books_column(path):
    long = [msg for i, cell in code_cells(path) if not is_install_cell(cell)
            for msg in too_long(cell.source.splitlines(), f"cell {i}")]
    assert not long, f"{path}: code lines over {MAX} characters:\n" + "\n".join(long)


def printed_text(output) -> str:
    """What an output shows as text: a stream, or a result with nothing richer than text/plain.
    Glued values (stored for the prose, not shown) are left out."""
    if output.output_type == "stream":
        return output.text
    if output.output_type in ("execute_result", "display_data"):
        data = output.get("data", {})
        if set(data) == {"text/plain"} and "scrapbook" not in output.get("metadata", {}):
            return data["text/plain"]
    return ""


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_printed_lines_fit_the_books_column(path):
    long = [msg for i, cell in code_cells(path) for o in cell.outputs
            for msg in too_long(ANSI.sub("", printed_text(o)).splitlines(), f"cell {i} output")]
    assert not long, f"{path}: printed lines over {MAX} characters:\n" + "\n".join(long)


@pytest.mark.parametrize("name", sorted(p.name for p in BOOK.glob("*.ipynb")))
def test_book_notebook_starts_with_the_colab_install_cell(name):
    """Word for word the cell of scripts/colab_cell.py, with book/_config.yml's repository.url
    (after a fork changes it: `python scripts/colab_cell.py` rewrites every first cell)."""
    nb = nbformat.read(BOOK / name, as_version=4)
    first = colab_cell.first_code_cell(nb)
    wanted = colab_cell.install_cell_source(colab_cell.repository_url())
    assert first is not None and first.source == wanted, (
        f"the first code cell of book/{name} is not the install cell:\n{wanted}\n"
        "(run `python scripts/colab_cell.py` once the cell is there to fix its URL)")
    assert colab_cell.TAG in first.metadata.get("tags", []), "tag it remove-cell: hidden in the book"
    assert not first.outputs, "locally the cell is a no-op and prints nothing"


def test_colab_and_binder_install_escnn_as_the_set_up_does():
    """Colab runs the install cell; Binder builds environment.yml, then runs postBuild."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    for package in pyproject["tool"]["course"]["no-deps"]["packages"]:
        assert f'"{package}"' in colab_cell.TEMPLATE
        assert f"pip install --no-deps {package}" in (REPO / "postBuild").read_text()


def test_a_fork_changes_the_url_in_one_place_and_the_script_rewrites_every_cell(tmp_path):
    book = tmp_path / "book"
    book.mkdir()
    config = (BOOK / "_config.yml").read_text()
    old = colab_cell.repository_url()
    (book / "_config.yml").write_text(config.replace(old, "https://gitlab.com/a-fork/course"))
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("(chapter-x)=\n# X"),
        nbformat.v4.new_code_cell(colab_cell.install_cell_source(old),
                                  metadata={"tags": ["remove-cell"]}),
        nbformat.v4.new_code_cell("import course_lib")])
    nbformat.write(nb, book / "x.ipynb")
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]),
                   book / "bare.ipynb")

    assert colab_cell.main(["--book", str(book), "--check"]) == 1
    assert colab_cell.main(["--book", str(book)]) == 1  # bare.ipynb has no install cell
    source = colab_cell.first_code_cell(nbformat.read(book / "x.ipynb", as_version=4)).source
    assert "git+https://gitlab.com/a-fork/course\"" in source and old not in source
    assert colab_cell.rewrite(book / "x.ipynb", "https://gitlab.com/a-fork/course") == "ok"
    assert colab_cell.rewrite(book / "bare.ipynb", "https://gitlab.com/a-fork/course") == "missing"
    shutil.rmtree(book)
