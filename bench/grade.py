"""Benchmark of `course grade`: N submissions of the pattern chapter, one at a time vs -j JOBS.

    .venv/bin/python bench/grade.py [--n 40] [--jobs 2] [--out bench/grade.json]

The submissions cycle through correct, partly correct and broken (a syntax error, an exception)
copies of solutions/groups.ipynb. Prints wall times, submissions per minute and the speed-up, and
writes them (with the machine's load average, since other work on the machine inflates them) to
the JSON file.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

import nbformat

from course_lib import grading

REPO = Path(__file__).resolve().parents[1]

VARIANTS = {
    "correct": {},
    "partial": {"rotation_about": "def rotation_about(axis, angle):\n    return torch.eye(3, dtype=torch.float64)\n"},
    "syntax_error": {"dihedral_compose": "def dihedral_compose(a, b, n):\n    return (a +\n"},
    "exception": {"homomorphism_error": "raise RuntimeError('oops')\n"},
}


def make_submissions(folder: Path, n: int) -> None:
    names = list(VARIANTS)
    for i in range(n):
        kind = names[i % len(names)]
        nb = nbformat.read(REPO / "solutions" / "groups.ipynb", as_version=4)
        for cell in nb.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id in VARIANTS[kind]:
                cell.source = VARIANTS[kind][grade_id]
        (folder / f"student{i:02d}_{kind}.ipynb").write_text(nbformat.writes(nb))


def timed_batch(folder: Path, out: Path, jobs: int, sources: dict) -> tuple[float, list[grading.Row]]:
    limits = grading.Limits(threads=max(1, (os.cpu_count() or 1) // jobs))
    start = time.perf_counter()
    rows = grading.grade([folder], out, sources, limits, jobs=jobs)
    return time.perf_counter() - start, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default=str(REPO / "bench" / "grade.json"))
    args = parser.parse_args()
    sources = grading.find_sources([REPO / "solutions"])
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-grade-") as tmp:
        folder = Path(tmp, "submitted")
        folder.mkdir()
        make_submissions(folder, args.n)
        results = {}
        for jobs in (1, args.jobs):
            seconds, rows = timed_batch(folder, Path(tmp, f"out{jobs}"), jobs, sources)
            results[jobs] = {"seconds": round(seconds, 1), "per_minute": round(60 * args.n / seconds, 1),
                             "statuses": dict(Counter(r.status for r in rows)),
                             "points": dict(Counter(f"{r.total:g}/{r.max:g}" for r in rows))}
            print(f"-j {jobs}: {args.n} submissions in {seconds:.1f} s = {60 * args.n / seconds:.1f} per minute; "
                  f"{results[jobs]['points']}")
    speedup = results[1]["seconds"] / results[args.jobs]["seconds"]
    print(f"speed-up with -j {args.jobs}: {speedup:.2f}x (target 1.7x); load average before: "
          f"{', '.join(f'{x:.1f}' for x in load_before)} on {os.cpu_count()} cores")
    report = {"submissions": args.n, "cores": os.cpu_count(), "load_average_before": [round(x, 2) for x in load_before],
              "one_at_a_time": results[1], f"jobs_{args.jobs}": results[args.jobs], "speedup": round(speedup, 2)}
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
