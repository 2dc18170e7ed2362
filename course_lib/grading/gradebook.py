"""The gradebook: `gradebook.json` and `gradebook.csv` in `--out`, rewritten atomically after each row.

A row's `flags` (last column) are what the grader saw in the solution cells but did not score
(`course_lib.grading.flags`), for a person to review; names are stored as `submission.printable`
wrote them.

Rows are keyed by the submission's path relative to where the grader runs, so re-grading replaces
a row and keeps the others; a gradebook.json this grader did not write is refused, never overwritten.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import asdict
from pathlib import Path

from course_lib.grading.judge import Row, TestResult


def atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _row_from_dict(d: dict) -> Row:
    tests = [TestResult(**t) for t in d.get("tests", [])]
    return Row(**{k: v for k, v in d.items() if k in Row.__dataclass_fields__ and k != "tests"}, tests=tests)


def read_gradebook(out: Path) -> dict[str, Row]:
    """The rows of out/gradebook.json by key (empty when there is none yet)."""
    path = Path(out) / "gradebook.json"
    if not path.exists():
        return {}
    try:
        return {d["key"]: _row_from_dict(d) for d in json.loads(path.read_text())["rows"]}
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path} is not a gradebook this grader wrote ({type(e).__name__}: {e}); "
                         f"move it away or choose another --out") from None


def write_gradebook(out: Path, rows: dict[str, Row]) -> None:
    """gradebook.json and gradebook.csv (one row per submission, one column per test), atomically."""
    ordered = [rows[k] for k in sorted(rows)]
    atomic_write(Path(out) / "gradebook.json", json.dumps(
        {"rows": [asdict(r) for r in ordered]}, indent=1) + "\n")
    columns = list(dict.fromkeys(f"{r.chapter}.{t.grade_id}" for r in ordered for t in r.tests))
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["key", "student", "file", "chapter", *columns, "total", "max", "status", "complete", "isolation",
                     "reason", "flags"])
    for r in ordered:
        points = {f"{r.chapter}.{t.grade_id}": f"{t.points:g}" for t in r.tests}
        writer.writerow([r.key, r.student, r.file, r.chapter, *(points.get(c, "") for c in columns),
                         f"{r.total:g}", f"{r.max:g}", r.status, r.complete, r.isolation, r.reason, "; ".join(r.flags)])
    atomic_write(Path(out) / "gradebook.csv", buf.getvalue())
