"""Seconds to execute every notebook on this machine: `make bench` (writes bench/notebooks.json).

`--quick` runs the book's chapters in quick mode (COURSE_QUICK=1, `course_lib.quick`) against
QUICK_BUDGET_S: `make bench-quick` (writes bench/notebooks_quick.json).

Each notebook runs top to bottom in a fresh kernel, as nbval runs it in `make test`. Exercise
notebooks run up to their stubs (NotImplementedError is allowed there, nothing else).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
BUDGET_S = {"book": 120, "solutions": 60, "exercises": 60}
# The chapters whose issues allow three minutes (heavier training); every other chapter keeps
# two, so that a learner's 1.7x slower laptop stays near three minutes.
CHAPTER_BUDGET_S = {f"book/{name}.ipynb": 180 for name in
                    ("operators", "permutation", "egnn", "gauge", "lie", "uncertainty", "frontier")}


# Quick mode promises a chapter in about a minute on a slow CPU; learners' machines measured
# 2.1-3.6x slower than this one (issue 29), so a chapter gets 25 s here, kernel start included.
QUICK_BUDGET_S = 25


def budget(key: str, folder: str, quick: bool = False) -> float:
    """Seconds a notebook may take in `make bench` (or in quick mode)."""
    if quick:
        return QUICK_BUDGET_S
    return CHAPTER_BUDGET_S.get(key, BUDGET_S.get(folder, float("inf")))


def execute(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=900, kernel_name="python3", allow_errors=path.parent.name == "exercises",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(REPO / "bench" / "notebooks.json"))
    parser.add_argument("--quick", action="store_true", help="the book's chapters in quick mode (COURSE_QUICK=1)")
    parser.add_argument("folders", nargs="*", default=["book", "solutions", "exercises"])
    args = parser.parse_args()
    if args.quick:
        os.environ["COURSE_QUICK"] = "1"  # the kernels inherit it
        args.folders = ["book"]
    load_before = round(os.getloadavg()[0], 2)  # a busy machine inflates every figure
    seconds: dict[str, float] = {}
    for folder in args.folders:
        for path in sorted((REPO / folder).glob("*.ipynb")):
            key = str(path.relative_to(REPO))
            seconds[key] = round(execute(path), 1)
            over = " OVER BUDGET" if seconds[key] > budget(key, folder, args.quick) else ""
            print(f"{key:<40} {seconds[key]:>7.1f} s{over}", flush=True)
    total = round(sum(seconds.values()), 1)
    print(f"{'total':<40} {total:>7.1f} s")
    budgets = {key: budget(key, key.split("/")[0], args.quick) for key in seconds}
    report = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
              "mode": "quick (COURSE_QUICK=1)" if args.quick else "full",
              "load_average_before": load_before, "seconds": seconds, "total_seconds": total,
              "budget_seconds": budgets, "over_budget": [k for k in seconds if seconds[k] > budgets[k]]}
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
