"""Shared test set-up."""

import contextlib
import fcntl
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

# Notebook kernels inherit this. Under `make test` both cores are busy, and a torch cell on two
# threads (the gcnn chapter's reproducibility check) waits for its second thread: OpenMP's default
# is to spin while waiting, which took that cell 2-3x as long here; passive waiting changes no number.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402 - after OMP_WAIT_POLICY, which OpenMP reads when torch loads it
import yaml  # noqa: E402

# Under pytest-xdist (`make test`: -n auto --dist loadgroup) each notebook, each test file, and
# test_book.py with test_browser.py run whole on one worker, longest first: tests/parallel_plan.py.
from parallel_plan import pytest_runtest_logreport, pytest_xdist_make_scheduler  # noqa: F401 - hooks

REPO = Path(__file__).resolve().parents[1]

# `make test-fast` (pytest -m "not slow") leaves out what starts a browser, builds the book, runs
# notebooks or a graded corpus in kernels, or starts a cluster: those tests are marked slow here,
# by the fixtures they use or by their file or name. `make test` runs them all.
SLOW_FIXTURES = {"built_book", "browser", "lab", "site"}
SLOW_FILE_FIXTURES = {("test_grading.py", "batch"),  # the graded corpora
                      ("test_grading_trust.py", "corpus"), ("test_grading_trust.py", "forgers"),
                      ("test_grading_submissions.py", "graded")}
SLOW_FILES = {"test_nbgrader.py", "test_grading_cluster.py"}
SLOW_TESTS = {"test_exercise_notebook_runs_up_to_its_stubs", "test_a_kernel_that_kills_its_worker_costs_only_its_row",
              "test_total_timeout_kills_the_kernel_and_its_children",
              "test_two_workers_run_two_notebooks_each_whole_on_one_worker",
              "test_a_huge_print_does_not_grow_the_grader", "test_ctrl_c_stops_the_batch_at_once_and_leaves_no_kernel",
              "test_a_grader_that_ignores_ctrl_c_grades_on", "test_a_grader_killed_outright_leaves_no_worker_kernel_or_batch_folder",
              "test_a_kernel_that_signals_a_worker_costs_only_its_own_row",
              "test_a_chapter_in_quick_mode_keeps_the_full_runs_structure"}  # runs every chapter


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: left out by `make test-fast` (tests/conftest.py says which)")


def is_slow(item) -> bool:
    fixtures = set(getattr(item, "fixturenames", ()))
    return bool(fixtures & SLOW_FIXTURES or item.path.name in SLOW_FILES
                or any(item.path.name == f and name in fixtures for f, name in SLOW_FILE_FIXTURES)
                or getattr(item, "originalname", item.name) in SLOW_TESTS)


def pytest_collection_modifyitems(items):
    for item in items:
        if item.path.parent.name == "tests" and is_slow(item):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def one_thread():
    """Tiny networks train as fast on one thread, and do not crawl when the other core is busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


BOOK = REPO / "book"


def output_text(cell) -> str:
    """Everything a notebook cell printed or displayed as text (streams, text/plain, errors)."""
    parts = []
    for out in cell.get("outputs", []):
        parts.append(out.get("text", "") if isinstance(out.get("text", ""), str) else "".join(out["text"]))
        parts.append(str(out.get("data", {}).get("text/plain", "")))
        if out.get("output_type") == "error":
            parts.append(f"{out.get('ename')}: {out.get('evalue')}")
    return "\n".join(parts)


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


@contextlib.contextmanager
def locked(path: Path):
    """An exclusive lock on the file `path` (created if missing), held for the `with` block."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def session_folder(tmp_path_factory) -> Path:
    """A folder of this test session that all its pytest-xdist workers share (each worker's own
    base temp folder lies in it), or the base temp folder of a session without workers."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> BuiltBook:
    """The book built once per test session (Sphinx warnings are errors), shared by test_book.py
    and test_browser.py. COURSE_BUILT_BOOK=<folder with index.html> reuses a finished build.

    Under pytest-xdist a session fixture runs once per worker: the first worker to need the book
    builds it under a lock in a folder the workers share, and the others read that build
    (tests/parallel_plan.py also puts both files in one group, so that one worker needs it)."""
    if os.environ.get("COURSE_BUILT_BOOK"):
        return BuiltBook(0, "reused COURSE_BUILT_BOOK", Path(os.environ["COURSE_BUILT_BOOK"]))
    shared = session_folder(tmp_path_factory)
    out, record = shared / "book", shared / "book.json"
    with locked(shared / "book.lock"):
        if record.exists():
            done = json.loads(record.read_text())
            return BuiltBook(done["returncode"], done["log"], Path(done["html"]))
        jb = Path(sys.executable).with_name("jupyter-book")
        result = subprocess.run([str(jb), "build", str(BOOK), "--path-output", str(out),
                                 "--warningiserror", "--keep-going"], capture_output=True, text=True)
        book = BuiltBook(result.returncode, result.stdout + result.stderr, out / "_build" / "html")
        record.write_text(json.dumps(asdict(book) | {"html": str(book.html)}))
        return book


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
