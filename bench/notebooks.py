"""Seconds to execute every notebook on this machine: `make bench` (writes bench/notebooks.json).

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


def budget(key: str, folder: str) -> float:
    """Seconds a notebook may take in `make bench`."""
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
    parser.add_argument("folders", nargs="*", default=["book", "solutions", "exercises"])
    args = parser.parse_args()
    load_before = round(os.getloadavg()[0], 2)  # a busy machine inflates every figure
    seconds: dict[str, float] = {}
    for folder in args.folders:
        for path in sorted((REPO / folder).glob("*.ipynb")):
            key = str(path.relative_to(REPO))
            seconds[key] = round(execute(path), 1)
            over = " OVER BUDGET" if seconds[key] > budget(key, folder) else ""
            print(f"{key:<40} {seconds[key]:>7.1f} s{over}", flush=True)
    total = round(sum(seconds.values()), 1)
    print(f"{'total':<40} {total:>7.1f} s")
    budgets = {key: budget(key, key.split("/")[0]) for key in seconds}
    report = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
              "load_average_before": load_before, "seconds": seconds, "total_seconds": total,
              "budget_seconds": budgets, "over_budget": [k for k in seconds if seconds[k] > budgets[k]]}
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
