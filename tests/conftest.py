"""Shared test set-up."""

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def one_thread():
    """Tiny networks train as fast on one thread, and do not crawl when the other core is busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


BOOK = REPO / "book"


def book_chapters() -> list[str]:
    """The pages of book/_toc.yml after the root page, in reading order."""
    toc = yaml.safe_load((BOOK / "_toc.yml").read_text())
    return [c["file"] for part in toc["parts"] for c in part["chapters"]]


def book_pages() -> list[str]:
    """Every page a reader reaches from the table of contents: the root page, then the chapters."""
    return [yaml.safe_load((BOOK / "_toc.yml").read_text())["root"], *book_chapters()]


@dataclass
class BuiltBook:
    """One `jupyter-book build` of book/: its exit code, its log and its HTML folder."""

    returncode: int
    log: str
    html: Path


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> BuiltBook:
    """The book built once per test session (Sphinx warnings are errors), shared by test_book.py
    and test_browser.py. COURSE_BUILT_BOOK=<folder with index.html> reuses a finished build."""
    if os.environ.get("COURSE_BUILT_BOOK"):
        return BuiltBook(0, "reused COURSE_BUILT_BOOK", Path(os.environ["COURSE_BUILT_BOOK"]))
    out = tmp_path_factory.mktemp("book")
    jb = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run([str(jb), "build", str(BOOK), "--path-output", str(out),
                             "--warningiserror", "--keep-going"], capture_output=True, text=True)
    return BuiltBook(result.returncode, result.stdout + result.stderr, out / "_build" / "html")


@pytest.fixture(scope="session")
def browser():
    """Chromium under Playwright, one for the whole session (Playwright's sync API cannot start a
    second one inside the first): skipped when missing, failed in CI."""
    from browser import CHROMIUM_FLAGS, HOW_TO_GET_CHROMIUM, SCREENSHOTS, find_chromium

    chromium = find_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if chromium is None or sync_playwright is None:
        missing = "Chromium" if chromium is None else "Playwright for Python"
        message = f"{missing} not found: {HOW_TO_GET_CHROMIUM}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI installs Chromium (.ci/run), yet {message}")
        pytest.skip(message)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()
    finally:
        playwright.stop()
