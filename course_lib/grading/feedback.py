"""What people read: the student's feedback file (no reference code) and the instructor's score table."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

from course_lib.grading.judge import Row


def feedback_markdown(row: Row) -> str:
    """What the student reads: each test, pass/fail, points and the message (no reference code)."""
    def cell(s: str) -> str:
        return s.replace("|", "\\|").replace("\n", " ")

    lines = [f"# Feedback on `{row.file}`", "",
             f"- chapter: {row.chapter or 'unknown'}",
             f"- score: **{row.total:g} / {row.max:g}**",
             f"- status: {row.status}" + (f" ({row.reason})" if row.reason else ""), ""]
    if row.tests:
        lines += ["| test | result | points | message |", "|---|---|---|---|"]
        lines += [f"| {t.grade_id} | {t.status} | {t.points:g} / {t.max_points:g} | {cell(t.message)} |" for t in row.tests]
    if row.cell_errors:
        lines += ["", "## Errors in your cells", ""] + [f"- {cell(e)}" for e in row.cell_errors]
    return "\n".join(lines) + "\n"


def feedback_path(out: Path, key: str) -> Path:
    return Path(out) / "feedback" / (re.sub(r"[^A-Za-z0-9._-]+", "__", key.removesuffix(".ipynb")) + ".md")



def score_table(rows: Iterable[Row]) -> str:
    """The rows as a plain-text table: key, chapter, points, status, reason."""
    rows = sorted(rows, key=lambda r: r.key)
    width = max([len(r.key) for r in rows] + [10])
    lines = [f"{'submission':<{width}}  {'chapter':<10} {'points':>9}  {'status':<14} reason"]
    for r in rows:
        lines.append(f"{r.key:<{width}}  {r.chapter:<10} {f'{r.total:g}/{r.max:g}':>9}  {r.status:<14} {r.reason[:100]}")
    return "\n".join(lines)
