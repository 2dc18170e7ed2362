"""The class report (course_lib/grading/report.py): DIR/report.html from DIR/gradebook.json.

A seeded gradebook of two chapters and every status is written with the grader's own
`write_gradebook`; the numbers in the report's tables are then checked against counts made here
from gradebook.json, the page against any resource that is not inline, and, in Chromium, the page
against any request besides itself and for charts that are visible. One `course grade` run (no
kernel needed: an untouched notebook and files that are not notebooks) shows the report rewritten
on every run.
"""

from __future__ import annotations

import base64
import contextlib
import html.parser
import io
import json
import random
import re
from collections import Counter, defaultdict
from pathlib import Path

import nbformat
import pytest

from course_lib import cli, grading
from course_lib.grading.report import write_class_report
from conftest import REPO

HOSTILE = '<img src="http://evil.example/x.png"><script src="https://evil.example/x.js"></script>'
RESOURCE_ATTRIBUTES = {"src", "href", "srcset", "action", "formaction", "poster", "data", "background"}
CHAPTERS = {  # chapter -> its tests' (grade_id, points): whole points, and points that need ten bins
    "groups": [("check_dihedral_compose", 2), ("check_homomorphism_error", 3), ("check_rotation_about", 3)],
    "pinn": [("check_residual", 12.5), ("check_boundary", 20), ("check_train", 27.5)],
}


def seeded_rows(seed: int = 0) -> dict[str, grading.Row]:
    """60 submissions: each chapter's tests passed at different rates, and every status."""
    rng = random.Random(seed)
    rows = {}
    for i in range(60):
        chapter = "groups" if i % 3 else "pinn"
        status = "graded" if i % 7 else grading.STATUSES[i // 7]  # each status once, the rest graded
        row = grading.Row(key=f"submitted/s{i:02d}.ipynb", student=f"s{i:02d}", file=f"s{i:02d}.ipynb", status=status)
        if status not in ("invalid", "wrong chapter", "error"):
            row.chapter = chapter
            for k, (grade_id, points) in enumerate(CHAPTERS[chapter]):
                passed = status != "not attempted" and rng.random() < 0.9 - 0.3 * k
                row.tests.append(grading.TestResult(grade_id, "pass" if passed else "fail",
                                                    points if passed else 0.0, points, ""))
            row.total, row.max = sum(t.points for t in row.tests), sum(p for _, p in CHAPTERS[chapter])
        rows[row.key] = row
    hostile = grading.Row(key=f"submitted/{HOSTILE}.ipynb", student="x", file="x.ipynb", status="invalid",
                          reason=HOSTILE)
    rows[hostile.key] = hostile
    return rows


class Tables(html.parser.HTMLParser):
    """The text of every cell of every <table id=...>, by id, row by row (header row first), and
    every tag with its attributes."""

    def __init__(self, text: str):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.tags: list[tuple[str, dict]] = []
        self._table = self._cell = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "table":
            self._table = self.tables.setdefault(dict(attrs)["id"], [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = ""

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._table[-1].append(self._cell)
            self._cell = None
        elif tag == "table":
            self._table = None


def expected_from(gradebook: Path) -> dict:
    """The report's numbers, counted here from gradebook.json."""
    rows = json.loads(gradebook.read_text())["rows"]
    statuses = Counter(r["status"] for r in rows)
    totals, passed, ran = defaultdict(list), defaultdict(Counter), defaultdict(Counter)
    for r in rows:
        if r["chapter"] and r["tests"] and r["status"] != "regrade":
            totals[r["chapter"]].append(r["total"])
            for t in r["tests"]:
                ran[r["chapter"]][t["grade_id"]] += 1
                passed[r["chapter"]][t["grade_id"]] += t["status"] == "pass"
    return dict(statuses=statuses, totals=totals, passed=passed, ran=ran)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    grading.write_gradebook(out, seeded_rows())
    return write_class_report(out)


def test_status_counts_match_the_gradebook(report):
    want = expected_from(report.with_name("gradebook.json"))["statuses"]
    table = Tables(report.read_text()).tables["status-counts"]
    assert table[0] == ["status", "submissions"]
    assert {s: int(n) for s, n in table[1:]} == want
    assert set(want) == set(grading.STATUSES) and sum(want.values()) == 61


@pytest.mark.parametrize("chapter", list(CHAPTERS))
def test_pass_rates_match_the_gradebook_hardest_first(report, chapter):
    want = expected_from(report.with_name("gradebook.json"))
    table = Tables(report.read_text()).tables[f"pass-rates-{chapter}"]
    got = {g: (float(pts), int(p), int(of), float(rate)) for g, pts, p, of, rate in table[1:]}
    points = dict(CHAPTERS[chapter])
    assert got == {g: (points[g], want["passed"][chapter][g], n, round(100 * want["passed"][chapter][g] / n, 1))
                   for g, n in want["ran"][chapter].items()}
    rates = [rate for *_, rate in got.values()]
    assert rates == sorted(rates) and rates[0] < rates[-1]  # hardest first, and they differ


@pytest.mark.parametrize("chapter", list(CHAPTERS))
def test_score_histogram_matches_the_gradebook(report, chapter):
    totals = expected_from(report.with_name("gradebook.json"))["totals"][chapter]
    table = Tables(report.read_text()).tables[f"scores-{chapter}"]
    counts = [int(n) for _, n in table[1:]]
    assert sum(counts) == len(totals) > 10
    if chapter == "groups":  # whole points: one bin per point, 0..8
        assert [int(s) for s, _ in table[1:]] == list(range(9))
        assert counts == [totals.count(p) for p in range(9)]
    else:  # 60 points in ten bins of 6
        assert counts == [sum(6 * b <= t < 6 * (b + 1) or (b == 9 and t == 60) for t in totals) for b in range(10)]


def test_no_resource_leaves_the_page(report):
    text = report.read_text()
    tags = Tables(text).tags
    resources = [v for _, attrs in tags for k, v in attrs.items() if k in RESOURCE_ATTRIBUTES]
    assert resources and all(r.startswith("data:image/png;base64,") for r in resources), resources[:3]
    assert {tag for tag, _ in tags} <= {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "img",
                                        "table", "tr", "th", "td"}
    assert not re.search(r"(?:url\(|@import)", text, re.I)
    assert "&lt;img src=&quot;http://evil.example" in text  # the hostile name is shown, escaped
    for png in resources:
        assert base64.b64decode(png.split(",", 1)[1]).startswith(b"\x89PNG\r\n\x1a\n")


def test_an_empty_gradebook_gives_a_page_without_charts(tmp_path):
    text = write_class_report(tmp_path).read_text()
    assert "No submissions in the gradebook yet" in text and "<img" not in text


def test_course_grade_rewrites_the_report_on_every_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sources").mkdir()
    (tmp_path / "sources" / "groups.ipynb").write_bytes((REPO / "solutions" / "groups.ipynb").read_bytes())
    untouched = nbformat.read(REPO / "exercises" / "groups.ipynb", as_version=4)
    nbformat.write(untouched, tmp_path / "alice.ipynb")
    (tmp_path / "bob.ipynb").write_text("not a notebook")
    (tmp_path / "carol.ipynb").write_text("{}")
    counts = []
    for files in (["alice.ipynb", "bob.ipynb"], ["carol.ipynb"]):
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            cli.main(["grade", *files, "--out", "out", "-j", "1", "--source", "sources"])
        assert f"class report: {Path('out') / 'report.html'}" in printed.getvalue()  # told where
        counts.append({s: int(n) for s, n in Tables((tmp_path / "out" / "report.html").read_text())
                       .tables["status-counts"][1:]})
    assert counts == [{"invalid": 1, "not attempted": 1}, {"invalid": 2, "not attempted": 1}]


def test_the_report_in_chromium_asks_for_nothing_and_shows_its_charts(report, browser):
    from browser import SCREENSHOTS, PageWatch, StaticSite

    with StaticSite(report.parent) as site:
        url = site.base + report.name
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        watch = PageWatch(allowed=url)
        watch.attach(page)
        page.goto(url)
        page.evaluate("() => Promise.all([...document.images].map(i => i.decode()))")
        charts = page.evaluate("""() => [...document.images].map(i => {
            const box = i.getBoundingClientRect();
            return {id: i.id, natural: i.naturalWidth, width: box.width, height: box.height};
        })""")
        page.screenshot(path=str(SCREENSHOTS / "class-report.png"), full_page=True)
        context.close()
    assert watch.problems == [] and watch.requests == 1
    assert [c["id"] for c in charts] == ["chart-status-counts"] + [
        f"chart-{kind}-{ch}" for ch in CHAPTERS for kind in ("scores", "pass-rates")]
    assert all(c["natural"] >= 600 and c["width"] >= 600 and c["height"] >= 150 for c in charts), charts
