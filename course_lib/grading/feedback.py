"""What people read: the student's feedback file (no reference code) and the instructor's score table.

Everything printed goes through `submission.shown` (no newline or other control character from
a file name, a kernel's error message or a reason can forge a line). Each key has its own feedback
file: `feedback_path` is injective (`zoë`/`zoé`, `x y`/`x__y`, `Alice`/`alice` get different files,
on a case-insensitive file system too).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable

from course_lib.grading.judge import Row
from course_lib.grading.submission import shown

MAX_FEEDBACK_NAME = 200  # characters of a feedback file's name before '.md' (file systems allow 255 bytes)


def feedback_markdown(row: Row) -> str:
    """What the student reads: each test, pass/fail, points and the message (no reference code)."""
    def cell(s: str) -> str:
        return shown(s.replace("\n", " ")).replace("|", "\\|")

    lines = [f"# Feedback on `{shown(row.file).replace('`', chr(39))}`", "",
             f"- chapter: {row.chapter or 'unknown'}",
             f"- score: **{row.total:g} / {row.max:g}**",
             f"- status: {row.status}" + (f" ({shown(row.reason)})" if row.reason else ""), ""]
    if row.tests:
        lines += ["| test | result | points | message |", "|---|---|---|---|"]
        lines += [f"| {cell(t.grade_id)} | {t.status} | {t.points:g} / {t.max_points:g} | {cell(t.message)} |" for t in row.tests]
    if row.cell_errors:
        lines += ["", "## Errors in your cells", ""] + [f"- {cell(e)}" for e in row.cell_errors]
    return "\n".join(lines) + "\n"


def feedback_name(key: str) -> str:
    """The feedback file's name for `key`, one to one, also where case does not count: '.ipynb' is
    dropped (a key without it ends in '_'); a-z, 0-9, '.' and '-' stay, '/' becomes '__', a capital
    letter '+' and the letter, every other byte of its UTF-8 '_' and two capital hex digits ('_'
    itself '_5F'). A name over MAX_FEEDBACK_NAME characters is cut and ends with the SHA-256 of the
    key (one to one up to a hash collision)."""
    out = []
    for ch in key.removesuffix(".ipynb"):
        if ch.isascii() and (ch.islower() or ch.isdigit() or ch in ".-"):
            out.append(ch)
        elif ch == "/":
            out.append("__")
        elif ch.isascii() and ch.isupper():
            out.append("+" + ch.lower())
        else:
            out.append("".join(f"_{b:02X}" for b in ch.encode("utf-8", "surrogatepass")))
    name = "".join(out) + ("" if key.endswith(".ipynb") else "_")
    if len(name) > MAX_FEEDBACK_NAME:
        name = name[:MAX_FEEDBACK_NAME - 65] + "-" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return name


def feedback_path(out: Path, key: str) -> Path:
    """Where the student of `key` reads their feedback: out/feedback/<feedback_name(key)>.md."""
    return Path(out) / "feedback" / (feedback_name(key) + ".md")


def score_table(rows: Iterable[Row]) -> str:
    """The rows as a plain-text table: key, chapter, points, status, reason."""
    rows = sorted(rows, key=lambda r: r.key)
    width = max([len(shown(r.key)) for r in rows] + [10])
    lines = [f"{'submission':<{width}}  {'chapter':<10} {'points':>9}  {'status':<14} reason"]
    for r in rows:
        lines.append(f"{shown(r.key):<{width}}  {shown(r.chapter):<10} {f'{r.total:g}/{r.max:g}':>9}  "
                     f"{shown(r.status):<14} {shown(r.reason[:100])}")
    return "\n".join(lines)
