"""A comparison with a field library runs, or fails loudly: course_lib.optional.require, and every
book cell that compares with one goes through it and ran its comparison in the stored outputs."""

import re

import nbformat
import pytest

from conftest import BOOK, output_text
from course_lib import optional

# A cell handles a missing library by hand when it says "not installed ... skipped" itself or
# catches the ImportError; only course_lib.optional.require may do that.
BY_HAND = re.compile(r"not installed.*skipped|except\s*\(?\s*(ImportError|ModuleNotFoundError)",
                     re.IGNORECASE | re.DOTALL)
REQUIRE = re.compile(r"\brequire\(\s*['\"]")
SKIPPED = re.compile(r"not installed|comparison skipped", re.IGNORECASE)


def book_code_cells():
    for path in sorted(BOOK.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                yield path.name, i, cell


def test_require_returns_the_module_when_installed():
    assert optional.require("json", "json").dumps([1]) == "[1]"


def test_a_missing_library_raises_in_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(optional.MissingComparison, match="no-such-lib-xyz is not installed"):
        optional.require("no_such_lib_xyz", "no-such-lib-xyz")


def test_a_missing_library_raises_under_pytest_even_without_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    assert optional.strict()  # this very run
    with pytest.raises(ImportError, match="comparison skipped"):
        optional.require("no_such_lib_xyz", "no-such-lib-xyz")


def test_outside_ci_a_missing_library_is_announced_and_skipped(monkeypatch, capsys):
    monkeypatch.setattr(optional, "strict", lambda: False)
    assert optional.require("no_such_lib_xyz", "no-such-lib-xyz") is None
    printed = capsys.readouterr().out
    assert "no-such-lib-xyz is not installed" in printed and "comparison skipped" in printed
    assert printed.count("!" * 78) == 2


@pytest.mark.parametrize("module, pip_name", [("", "x"), ("x", ""), (None, "x"), ("x", 3)])
def test_bad_names_are_rejected(module, pip_name):
    with pytest.raises(ValueError, match="must be a non-empty str, got"):
        optional.require(module, pip_name)


def test_no_book_cell_handles_a_missing_library_by_hand():
    by_hand = [f"{name} cell {i}" for name, i, cell in book_code_cells()
               if BY_HAND.search(cell.source) and not REQUIRE.search(cell.source)]
    assert not by_hand, ("these cells skip a comparison by hand; use "
                         f"course_lib.optional.require: {by_hand}")


def test_every_comparison_in_the_book_ran_in_the_stored_outputs():
    comparisons = [(name, i, cell) for name, i, cell in book_code_cells()
                   if REQUIRE.search(cell.source)]
    assert comparisons, "no book cell calls course_lib.optional.require"
    not_run = [f"{name} cell {i}" for name, i, cell in comparisons
               if not cell.get("outputs") or SKIPPED.search(output_text(cell))
               or any(o.get("output_type") == "error" for o in cell.get("outputs", []))]
    assert not not_run, f"these comparisons did not run when the notebook was stored: {not_run}"
    skipped_anywhere = [f"{name} cell {i}" for name, i, cell in book_code_cells()
                        if "comparison skipped" in output_text(cell).lower()]
    assert not skipped_anywhere, f"stored outputs show a skipped comparison: {skipped_anywhere}"
