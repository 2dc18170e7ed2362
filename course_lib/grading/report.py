"""The class report: `DIR/report.html`, how the class did at a glance, from `DIR/gradebook.json`.

One self-contained page that reads offline (the charts are PNGs from matplotlib inlined as base64
`data:` URLs; a Content-Security-Policy lets the page load nothing else): the count of each status,
and for each chapter the histogram of scores and each test cell's pass rate, hardest first, each
chart with a table of its numbers; then the submissions to look at (a status that says something
went wrong) and those "to review": whose solution cells hold what the grader sees but does not score
(`course_lib.grading.flags`: the check machinery, hooks, ctypes, code objects, subprocesses, reading
notebooks, code built at run time), with their score and flags. `grade()` rewrites it at the end of
every batch. Every text cell is HTML-escaped, with control characters escaped (`submission.shown`).

Scores and pass rates count the rows that ran the chapter's tests (status 'regrade' left out: those
verdicts are not trusted); a test's pass rate is the share of those rows in which it passed.
"""

from __future__ import annotations

import base64
import html
import io
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

import numpy as np

from course_lib.grading.gradebook import atomic_write, read_gradebook
from course_lib.grading.judge import STATUSES, Row
from course_lib.grading.submission import shown

REPORT_NAME = "report.html"
MAX_POINT_BINS = 40  # scores up to this many whole points get one bar per point, else ten bins
ATTENTION = ("invalid", "wrong chapter", "error", "kernel died", "timeout", "memory", "regrade")


@dataclass(frozen=True)
class PassRate:
    """How many of the rows that ran a test cell passed it."""

    grade_id: str
    points: float
    passed: int
    of: int

    @property
    def rate(self) -> float:
        return self.passed / self.of


@dataclass(frozen=True)
class ChapterSummary:
    """A chapter's scores (one per row that ran its tests) and its tests' pass rates, hardest first."""

    chapter: str
    max_points: float
    totals: tuple[float, ...]
    tests: tuple[PassRate, ...]

    def histogram(self) -> list[tuple[str, int]]:
        """(bin label, number of scores in it): one bin per point, or ten equal bins of [0, max]."""
        totals = np.asarray(self.totals, dtype=float)
        whole = self.max_points == int(self.max_points) and np.all(totals == np.round(totals))
        if whole and self.max_points <= MAX_POINT_BINS:
            counts = Counter(int(t) for t in totals)
            return [(f"{p}", counts[p]) for p in range(int(self.max_points) + 1)]
        counts, edges = np.histogram(totals, bins=10, range=(0.0, self.max_points or 1.0))
        return [(f"{lo:g}\u2013{hi:g}", int(c)) for lo, hi, c in zip(edges[:-1], edges[1:], counts)]


@dataclass(frozen=True)
class ClassSummary:
    """Everything the report shows."""

    rows: int
    statuses: tuple[tuple[str, int], ...]  # (status, count), in the order of STATUSES
    chapters: tuple[ChapterSummary, ...]
    attention: tuple[Row, ...]  # rows whose status says something went wrong
    review: tuple[Row, ...] = ()  # rows with flags: seen in their solution cells, not scored


def summarise(rows: Iterable[Row]) -> ClassSummary:
    """The numbers of the report, from gradebook rows."""
    rows = sorted(rows, key=lambda r: r.key)
    counts = Counter(r.status for r in rows)
    statuses = tuple((s, counts[s]) for s in [*STATUSES, *sorted(set(counts) - set(STATUSES))] if counts[s])
    chapters = []
    for chapter in sorted({r.chapter for r in rows if r.chapter}):
        ran = [r for r in rows if r.chapter == chapter and r.tests and r.status != "regrade"]
        if not ran:
            continue
        tests: dict[str, list] = {}  # grade_id -> [points, passed, of], in the source's order
        for r in ran:
            for t in r.tests:
                entry = tests.setdefault(t.grade_id, [t.max_points, 0, 0])
                entry[1] += t.status == "pass"
                entry[2] += 1
        rates = sorted((PassRate(g, *entry) for g, entry in tests.items()), key=lambda p: p.rate)
        chapters.append(ChapterSummary(chapter, max(r.max for r in ran), tuple(r.total for r in ran), tuple(rates)))
    return ClassSummary(len(rows), statuses, tuple(chapters), tuple(r for r in rows if r.status in ATTENTION),
                        tuple(r for r in rows if r.flags))


# --------------------------------------------------------------------------------------------
# Charts: matplotlib figures (no pyplot, no global state) as inline PNG
# --------------------------------------------------------------------------------------------


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _bars(labels: list[str], values: list[float], notes: list[str], xlabel: str, title: str,
          xmax: float | None = None) -> str:
    """A horizontal bar chart, the first label on top, each bar annotated with its note."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.0, 1.2 + 0.4 * len(labels)), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(len(labels))
    ax.barh(y, values, color="#4c72b0")
    for yi, v, note in zip(y, values, notes):
        ax.annotate(note, (v, yi), xytext=(4, 0), textcoords="offset points", va="center", fontsize=9)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlim(0, (xmax if xmax is not None else max(values, default=1) or 1) * 1.15)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    return _png(fig)


def _histogram_chart(chapter: ChapterSummary) -> str:
    from matplotlib.figure import Figure

    bins = chapter.histogram()
    fig = Figure(figsize=(7.0, 3.2), layout="constrained")
    ax = fig.add_subplot()
    ax.bar(range(len(bins)), [c for _, c in bins], color="#4c72b0")
    ax.set_xticks(range(len(bins)), [label for label, _ in bins], rotation=0 if len(bins) <= 20 else 90)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel(f"score (points out of {chapter.max_points:g})")
    ax.set_ylabel("submissions")
    ax.set_title(f"{chapter.chapter}: scores of {len(chapter.totals)} submission(s)")
    return _png(fig)


# --------------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------------

_STYLE = """body { font-family: sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
td, th { border: 1px solid #ccc; padding: 0.2rem 0.6rem; text-align: left; }
td.n { text-align: right; } img { max-width: 100%; display: block; }"""
# Nothing but this page and its data: URLs: a request to anywhere else is refused by the browser.
_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _table(table_id: str, header: list[str], rows: list[list[object]]) -> str:
    def cell(v: object) -> str:
        numeric = isinstance(v, (int, float))
        return f"<td class=\"n\">{v:g}</td>" if numeric else f"<td>{html.escape(shown(str(v)))}</td>"

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(v) for v in r) + "</tr>\n" for r in rows)
    return f'<table id="{html.escape(table_id)}">\n<tr>{head}</tr>\n{body}</table>\n'


def _img(src: str, alt: str, chart_id: str) -> str:
    return f'<img id="{html.escape(chart_id)}" src="{src}" alt="{html.escape(alt)}">\n'


def class_report_html(summary: ClassSummary) -> str:
    """The report page for `summary`."""
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
             f"<meta http-equiv=\"Content-Security-Policy\" content=\"{_POLICY}\">\n"
             f"<title>Class report</title>\n<style>\n{_STYLE}\n</style>\n</head>\n<body>\n"
             f"<h1>Class report</h1>\n<p>{summary.rows} submission(s) in gradebook.json, "
             f"written {when}.</p>\n"]
    if not summary.rows:
        parts.append("<p>No submissions in the gradebook yet.</p>\n")
    else:
        labels, counts = [s for s, _ in summary.statuses], [c for _, c in summary.statuses]
        parts += ["<h2>Status of each submission</h2>\n",
                  _img(_bars(labels, counts, [f"{c}" for c in counts], "submissions", "status counts"),
                       "bar chart of the number of submissions with each status", "chart-status-counts"),
                  _table("status-counts", ["status", "submissions"], [list(s) for s in summary.statuses])]
    for ch in summary.chapters:
        name = ch.chapter
        rates = [[p.grade_id, p.points, p.passed, p.of, round(100 * p.rate, 1)] for p in ch.tests]
        parts += [f"<h2>Chapter {html.escape(name)}</h2>\n",
                  f"<p>{len(ch.totals)} submission(s) ran its tests; mean score {np.mean(ch.totals):.3g}, "
                  f"median {np.median(ch.totals):.3g} of {ch.max_points:g} points.</p>\n",
                  _img(_histogram_chart(ch), f"histogram of the scores in chapter {name}", f"chart-scores-{name}"),
                  _table(f"scores-{name}", ["score", "submissions"], [list(b) for b in ch.histogram()]),
                  "<p>Each test's pass rate, the hardest first:</p>\n",
                  _img(_bars([p.grade_id for p in ch.tests], [100 * p.rate for p in ch.tests],
                             [f"{p.passed}/{p.of}" for p in ch.tests], "passed (% of the submissions that ran it)",
                             f"{name}: which test the class found hardest (top)", xmax=100),
                       f"bar chart of each test's pass rate in chapter {name}", f"chart-pass-rates-{name}"),
                  _table(f"pass-rates-{name}", ["test", "points", "passed", "of", "pass rate (%)"], rates)]
    if summary.attention:
        parts += ["<h2>Submissions to look at</h2>\n",
                  _table("attention", ["submission", "status", "reason"],
                         [[r.key, r.status, r.reason[:300]] for r in summary.attention])]
    if summary.review:
        parts += ["<h2>To review</h2>\n",
                  "<p>What the grader saw in these solution cells but did not score: code a solution has no "
                  "need of, which could be aimed at the grader. Read the cells named.</p>\n",
                  _table("review", ["submission", "student", "score", "status", "flags (solution cells)"],
                         [[r.key, r.student, f"{r.total:g}/{r.max:g}", r.status, "; ".join(r.flags)]
                          for r in summary.review])]
    parts.append("</body>\n</html>\n")
    return "".join(parts)


def write_class_report(out: Path) -> Path:
    """Rewrite out/report.html (atomically) from out/gradebook.json; its path."""
    path = Path(out) / REPORT_NAME
    atomic_write(path, class_report_html(summarise(read_gradebook(out).values())))
    return path
