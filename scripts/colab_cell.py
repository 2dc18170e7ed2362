"""The first code cell of every book notebook, which lets a Colab or Binder launch run the chapter:
it installs course_lib from the course's repository when it is missing (a no-op locally and in
CI). Its URL is `repository.url` of book/_config.yml, the one place a fork changes. After changing
it, rewrite the cell in every book notebook:

    .venv/bin/python scripts/colab_cell.py           # rewrite the first cell where it differs
    .venv/bin/python scripts/colab_cell.py --check   # only list the notebooks that differ

tests/test_notebook_style.py checks every book notebook against `install_cell_source()`.
"""

import argparse
import sys
import tomllib
from pathlib import Path

import nbformat
import yaml

BOOK = Path(__file__).resolve().parents[1] / "book"
TAG = "remove-cell"  # hidden in the built book
FIRST_LINE = "# On Colab or Binder: install the course's library when it is missing (a no-op here)."
# pip keeps the machine's PyTorch (and numpy) where they are inside course_lib's ranges, so Colab's
# own CUDA build stays. The packages of pyproject's [tool.course.no-deps] come without their
# declared requirements, as the set-up installs them, and compat/lie-learn-so3 stands in for
# lie-learn. (laplace-torch's own needs are in the `compare` extra, which the cell does not
# install: on Colab the uncertainty chapter says loudly that its comparison is skipped.)
# IPython expands {repo} in a %pip line. scripts/simulate_colab.sh runs this cell in a fresh
# Python 3.12 environment that already holds another torch.
_TEMPLATE = FIRST_LINE + """
import importlib.util

if importlib.util.find_spec("course_lib") is None:
    repo = "git+{url}"
    so3 = repo + "#subdirectory=compat/lie-learn-so3"
    no_deps = ({no_deps})
    %pip install --quiet "course-lib @ {{repo}}"
    %pip install --quiet --no-deps {{no_deps}} "course-lie-learn-so3 @ {{so3}}\""""


def no_deps_packages() -> list[str]:
    """pyproject.toml's [tool.course.no-deps] packages, and myst-nb with docutils (the cells'
    `glue`: myst_nb.core.loggers imports docutils; myst-parser's range for it)."""
    pyproject = tomllib.loads((BOOK.parent / "pyproject.toml").read_text())
    return [*pyproject["tool"]["course"]["no-deps"]["packages"], "myst-nb>=1,<2", "docutils>=0.18,<0.22"]


def _quoted_no_deps() -> str:
    quoted = [f"'\"{package}\" '" for package in no_deps_packages()]
    quoted[-1] = quoted[-1].replace(" '", "'")
    return ("\n" + " " * 15).join(quoted)


# The cell with pyproject's no-deps list filled in; {url} is left for install_cell_source.
TEMPLATE = _TEMPLATE.replace("({no_deps})", f"({_quoted_no_deps()})")


def repository_url(book: Path = BOOK) -> str:
    """`repository.url` of the book's _config.yml, without a trailing slash."""
    config = yaml.safe_load((book / "_config.yml").read_text())
    url = (config.get("repository") or {}).get("url")
    if not url:
        raise ValueError(f"{book / '_config.yml'} has no repository.url: set it to the course's "
                         "public repository")
    return url.rstrip("/")


def install_cell_source(url: str) -> str:
    """The install cell's source for the repository at `url`."""
    return TEMPLATE.format(url=url)


def first_code_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode | None:
    return next((c for c in nb.cells if c.cell_type == "code"), None)


def rewrite(path: Path, url: str, check: bool = False) -> str:
    """Make the first code cell of the notebook at `path` the install cell for `url`.

    Returns "ok" (already so), "rewritten" (its URL or text was changed; with `check`, "differs"),
    or "missing" (the first code cell is not an install cell: insert one by hand, as the first
    code cell, tagged remove-cell, then run this again)."""
    nb = nbformat.read(path, as_version=4)
    cell = first_code_cell(nb)
    if cell is None or not cell.source.startswith(FIRST_LINE):
        return "missing"
    wanted = install_cell_source(url)
    tags = cell.metadata.get("tags", [])
    if cell.source == wanted and TAG in tags:
        return "ok"
    if check:
        return "differs"
    cell.source = wanted
    cell.metadata["tags"] = [*tags, TAG] if TAG not in tags else tags
    nbformat.write(nb, path)
    return "rewritten"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if any differ")
    parser.add_argument("--book", type=Path, default=BOOK, help="the book folder (default: book/)")
    args = parser.parse_args(argv)
    url = repository_url(args.book)
    results = {p.name: rewrite(p, url, args.check) for p in sorted(args.book.glob("*.ipynb"))}
    for name, result in results.items():
        print(f"{result:10s} {name}")
    print(f"install cell URL: {url}")
    return 1 if any(r in ("missing", "differs") for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
