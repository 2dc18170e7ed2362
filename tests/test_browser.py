"""The course as a person meets it, in a real browser (Debian's Chromium driven by Playwright).

The built book: every page reads offline (no request leaves the book, formulas typeset by the
book's own MathJax, images loaded, no console error), code fits the column of a 1280 px window,
and search finds every chapter. JupyterLab: the exercises run, say NOT DONE YET, and say PASS or
FAIL with a hint for an answer typed in the page. Screenshots go to book/_build/screenshots/.

Without Chromium or Playwright these tests are skipped with a message saying how to get them;
in CI (CI=true), where .ci/run installs Chromium, they fail instead.
"""

import json
import os
import re
import secrets
import shutil
import socket
import subprocess

import nbformat
import pytest

from browser import LAB_CONFIG, SCREENSHOTS, JupyterLab, LabFailed, PageWatch, StaticSite, free_port
from conftest import REPO, book_chapters, book_pages

WIDTH, HEIGHT = 1280, 900
RAW_TEX = ["\\(", "\\)", "\\[", "\\]", "$$"]


@pytest.fixture(scope="session")
def site(built_book):
    """The built book, served on loopback (search loads pages by URL, which file:// refuses)."""
    if not (built_book.html / "index.html").exists():
        pytest.fail(f"the book did not build:\n{built_book.log[-6000:]}")
    with StaticSite(built_book.html) as served:
        yield served


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    yield context.new_page()
    context.close()


def settle(page) -> None:
    """Wait until the page has loaded, MathJax (where the page has it) has typeset, fonts have
    loaded and every image has either loaded or failed."""
    if page.locator("script[src*='mathjax']").count():
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        page.evaluate("() => MathJax.startup.promise")
    page.evaluate("""() => Promise.all([document.fonts.ready, ...[...document.images].map(i =>
        i.complete ? null : new Promise(done => { i.onload = i.onerror = done; }))])""")


def raw_tex(page) -> list[str]:
    """Snippets of the page's text (code and typeset math left out) around raw TeX delimiters."""
    text = page.evaluate("""() => {
        const copy = (document.querySelector('main') || document.body).cloneNode(true);
        copy.querySelectorAll('pre, code, script, style, mjx-container').forEach(e => e.remove());
        return copy.textContent; }""")
    return [text[max(0, i - 40):i + 40].strip() for d in RAW_TEX if (i := text.find(d)) >= 0]


def untypeset_math(page) -> dict:
    return page.evaluate("""() => {
        const math = [...document.querySelectorAll('.math')];
        return {math: math.length, typeset: document.querySelectorAll('mjx-container').length,
                missing: math.filter(e => !e.querySelector('mjx-container')).length,
                errors: [...document.querySelectorAll('mjx-merror')].map(e => e.textContent)}; }""")


def unloaded_images(page) -> list[str]:
    return page.evaluate("() => [...document.images].filter(i => !(i.naturalWidth > 0))"
                         ".map(i => i.getAttribute('src'))")


def code_wider_than_column(page) -> list[str]:
    """Every code block (cell source, printed output, markdown code) that scrolls sideways or
    sticks out of the article's column, with its longest line."""
    return page.evaluate("""() => {
        const article = document.querySelector('.bd-article') || document.body;
        const right = article.getBoundingClientRect().right;
        return [...article.querySelectorAll('pre')]
            .filter(e => e.scrollWidth > e.clientWidth + 1 || e.getBoundingClientRect().right > right + 1)
            .map(e => {
                const line = e.textContent.split('\\n').reduce((a, b) => b.length > a.length ? b : a, '');
                return `${e.scrollWidth} px in ${e.clientWidth} px, longest line `
                     + `(${line.length} chars): ${line.trim().slice(0, 60)}`; }); }""")


@pytest.mark.parametrize("name", book_pages())
def test_page_reads_offline_with_typeset_math_and_code_that_fits(name, browser, site, page):
    watch = PageWatch(allowed=site.base)
    watch.attach(page)
    page.goto(site.base + f"{name}.html", wait_until="load")
    settle(page)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    problems = list(watch.problems)
    problems += [f"raw TeX in the text: ...{s}..." for s in raw_tex(page)]
    math = untypeset_math(page)
    if math["missing"] or math["math"] > math["typeset"]:
        problems.append(f"{math['missing']} of {math['math']} formulas not typeset by MathJax")
    problems += [f"MathJax error: {e}" for e in math["errors"]]
    problems += [f"image did not load: {src}" for src in unloaded_images(page)]
    problems += [f"code wider than the column at {WIDTH} px: {w}" for w in code_wider_than_column(page)]
    assert watch.requests > 0
    assert not problems, f"{name}.html:\n" + "\n".join(problems)


def test_math_is_typeset_by_the_books_own_mathjax(browser, site, page):
    """The PINN page, whose formulas a reader without internet once saw as raw TeX."""
    watch = PageWatch(allowed=site.base)
    watch.attach(page)
    page.goto(site.base + "pinn.html", wait_until="load")
    settle(page)
    assert page.evaluate("() => MathJax.version").startswith("3.")
    assert untypeset_math(page)["typeset"] > 10
    assert page.locator("mjx-container").first.is_visible()
    assert not watch.problems, "\n".join(watch.problems)


def title_word(page) -> str:
    """The longest word of the page's title, a word the search must find the page by."""
    title = page.locator("main h1").first.inner_text()
    return max(re.findall(r"[A-Za-z]{4,}", title), key=len)


@pytest.mark.parametrize("name", book_chapters())
def test_search_finds_the_chapter_by_a_word_of_its_text(name, browser, site, page):
    watch = PageWatch(allowed=site.base)
    watch.attach(page)
    page.goto(site.base + f"{name}.html", wait_until="load")
    word = title_word(page)
    page.goto(site.base + f"search.html?q={word}", wait_until="load")
    page.wait_for_function("""() => (document.querySelector('#search-results .search-summary')
                                      || {}).textContent?.startsWith('Search finished')""")
    found = page.locator(f"#search-results ul.search a[href^='{name}.html']")
    assert found.count() >= 1, f"searching {word!r} does not list {name}.html"
    assert not watch.problems, "\n".join(watch.problems)


# --- JupyterLab, end to end ----------------------------------------------------------------

SOLUTION = REPO / "solutions" / "groups.ipynb"
EXERCISE = "dihedral_compose"


def solution_source(name: str) -> str:
    """The exercise cell `name` of the solutions, with its solution markers taken out."""
    cell = next(c for c in nbformat.read(SOLUTION, as_version=4).cells
                if c.metadata.get("nbgrader", {}).get("grade_id") == name)
    return "\n".join(line for line in cell.source.splitlines() if "### " not in line)


@pytest.fixture
def lab(tmp_path):
    """JupyterLab on a copy of exercises/, asked first for a port that is taken, so that it must
    move to another; stopped at the end whatever happened."""
    shutil.copytree(REPO / "exercises", tmp_path / "exercises")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        busy = taken.getsockname()[1]
        server = JupyterLab(tmp_path / "exercises", tmp_path / "lab", port=busy,
                            token=secrets.token_hex(16))
        try:
            server.wait_until_ready()
        except LabFailed as failure:
            server.stop()
            pytest.fail(str(failure))
    try:
        assert server.port != busy, f"JupyterLab got port {busy}, which was taken"
        yield server
    finally:
        server.stop()
        assert server.process.poll() is not None, "JupyterLab still runs after stop()"
        assert not server.kernels(), "a kernel of JupyterLab still runs after stop()"


def test_make_lab_opens_the_exercises_with_the_tested_no_popup_config():
    """`make lab` puts on JUPYTER_CONFIG_PATH the folder the JupyterLab test runs with."""
    dry_run = subprocess.run(["make", "-n", "lab"], cwd=REPO, capture_output=True, text=True)
    assert f"JUPYTER_CONFIG_PATH={LAB_CONFIG}" in dry_run.stdout, dry_run.stdout + dry_run.stderr
    assert "--notebook-dir=exercises" in dry_run.stdout
    page_config = json.loads((LAB_CONFIG / "labconfig" / "page_config.json").read_text())
    assert page_config["disabledExtensions"]["@jupyterlab/apputils-extension:announcements"]


def test_a_jupyterlab_that_does_not_answer_in_time_fails_with_its_log(tmp_path):
    server = JupyterLab(tmp_path, tmp_path / "lab", port=free_port(), token="t", timeout=0.2)
    try:
        with pytest.raises(LabFailed, match="did not answer within 0 s") as failure:
            server.wait_until_ready()
        log_in_message = str(failure.value).split(":\n", 1)[1]
        assert server.log().startswith(log_in_message)  # the log as it was when it failed
    finally:
        server.stop()
    assert server.process.poll() is not None and not server.kernels()


def cell_with(page, text: str):
    return page.locator(".jp-Notebook .jp-CodeCell").filter(has_text=text)


def wait_for_kernel_idle(page) -> None:
    """Until the status bar reads "<kernel> | Idle" ("No Kernel | Initializing" comes first, and
    Run All in that state asks which kernel to start)."""
    page.wait_for_function("""() => {
        const status = document.querySelector(".jp-StatusBar-TextItem[title^='Change kernel']");
        const text = status ? status.textContent.trim() : "";
        return text.endsWith("| Idle") && !text.startsWith("No Kernel"); }""", timeout=120_000)


def output_of(cell) -> str:
    return cell.locator(".jp-OutputArea").inner_text()


def run_exercise_and_check(page, source: str, verdict: str) -> str:
    """Replace the exercise cell's code with `source` through the editor, run it and its
    check cell (Shift+Enter twice, as a learner does) and wait for `verdict` in the check."""
    editor = cell_with(page, f"def {EXERCISE}").locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(source)
    page.keyboard.press("Shift+Enter")
    page.keyboard.press("Shift+Enter")
    check = cell_with(page, f'check("groups.{EXERCISE}"')
    check.locator(".jp-OutputArea", has_text=verdict).wait_for(timeout=120_000)
    return output_of(check)


def test_jupyterlab_runs_the_exercises_and_checks_an_answer_typed_in_the_page(browser, lab):
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    page = context.new_page()
    watch = PageWatch(allowed=lab.url(""))
    watch.attach(page)
    try:
        page.goto(lab.url(f"lab/tree/groups.ipynb?token={lab.token}"), wait_until="load")
        cells = len(nbformat.read(lab.root / "groups.ipynb", as_version=4).cells)
        page.wait_for_function(  # JupyterLab attaches the cells a few at a time
            f"() => document.querySelectorAll('.jp-Notebook .jp-Cell').length === {cells}",
            timeout=120_000)
        wait_for_kernel_idle(page)

        page.locator(".lm-MenuBar-item", has_text="Run").first.click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        checks = page.locator(".jp-Notebook .jp-CodeCell").filter(has_text='check("groups.')
        assert checks.count() == 3
        for i in range(checks.count()):
            checks.nth(i).locator(".jp-OutputArea", has_text="NOT DONE YET").wait_for(timeout=120_000)
        wait_for_kernel_idle(page)
        verdicts = [output_of(checks.nth(i)) for i in range(checks.count())]
        assert all("NOT DONE YET" in v and "PASS" not in v for v in verdicts), verdicts
        checks.first.scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / "jupyterlab-groups-not-done.png"))

        right = run_exercise_and_check(page, solution_source(EXERCISE), "[PASS]")
        assert "FAIL" not in right, right
        page.screenshot(path=str(SCREENSHOTS / "jupyterlab-groups-pass.png"))

        wrong = solution_source(EXERCISE).replace("(-1) ** f1 * k2", "k2")
        assert wrong != solution_source(EXERCISE)
        failed = run_exercise_and_check(page, wrong, "[FAIL]")
        assert "Hint:" in failed and "PASS" not in failed, failed
        page.screenshot(path=str(SCREENSHOTS / "jupyterlab-groups-fail.png"))

        assert page.get_by_text("official Jupyter news").count() == 0, "the news pop-up is back"
        assert page.locator(".jp-Dialog").count() == 0, "a dialog is open"
        assert not watch.problems, "\n".join(watch.problems)
    except BaseException:
        page.screenshot(path=str(SCREENSHOTS / "jupyterlab-groups-failed-test.png"))
        raise
    finally:
        context.close()
