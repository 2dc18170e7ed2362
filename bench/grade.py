"""Benchmark of `course grade`: N submissions of the pattern chapter, one at a time vs -j JOBS, and
the cost of isolating kernels (bubblewrap) against none, in the same run.

    .venv/bin/python bench/grade.py [--n 40] [--jobs 2] [--reps 5] [--dask 40 200] [--only-dask]
                                    [--out bench/grade.json]

The submissions cycle through correct, partly correct and broken (a syntax error, an exception)
copies of solutions/groups.ipynb. Three batches: one at a time isolated, one at a time without
isolation, -j JOBS isolated. Then a one-cell notebook is run REPS times each way, alternating, to
time a kernel's start and stop with and without the sandbox (medians). Prints wall times,
submissions per minute, the speed-up and the isolation cost, and writes them (with the machine's
load average, since other work on the machine inflates them) to the JSON file.

`--dask 40 200`: for each size, the same submissions through the built-in pool (-j JOBS) and through
Dask (`--scheduler local` with JOBS workers, its start-up included), one after the other: Dask's
overhead and the seconds one worker spends per submission, under "dask" in the JSON
(`--only-dask` measures only that, keeping the file's other entries).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Callable

import nbformat

from course_lib import grading
from course_lib.grading import sandbox

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


def timed_batch(folder: Path, out: Path, jobs: int, sources: dict,
                isolation: sandbox.Isolation) -> tuple[float, list[grading.Row]]:
    limits = grading.Limits(threads=max(1, (os.cpu_count() or 1) // jobs))
    start = time.perf_counter()
    rows = grading.grade([folder], out, sources, limits, jobs=jobs, isolation=isolation)
    return time.perf_counter() - start, rows


def dask_against_builtin(tmp: Path, sizes: list[int], jobs: int, sources: dict,
                         isolation: sandbox.Isolation, save: Callable[[dict], None]) -> dict:
    """Per size: seconds with the built-in pool and with a local Dask cluster, both with `jobs` workers
    (`save` gets the results so far after each size)."""
    found = {"jobs": jobs, "cores": os.cpu_count()}
    for n in sizes:
        folder = Path(tmp, f"dask_{n}")
        folder.mkdir()
        make_submissions(folder, n)
        limits = grading.Limits(threads=max(1, (os.cpu_count() or 1) // jobs))
        entry = {"load_average_before": [round(x, 2) for x in os.getloadavg()]}
        for label, scheduler in [("builtin", None), ("dask_local", "local")]:
            start = time.perf_counter()
            rows = grading.grade([folder], Path(tmp, f"out_{label}_{n}"), sources, limits, jobs=jobs,
                                 isolation=isolation, scheduler=scheduler)
            seconds = time.perf_counter() - start
            entry[label] = {"seconds": round(seconds, 1), "per_minute": round(60 * n / seconds, 1),
                            "points": dict(Counter(f"{r.total:g}/{r.max:g}" for r in rows))}
        if entry["builtin"]["points"] != entry["dask_local"]["points"]:
            raise RuntimeError(f"Dask and the built-in pool disagree on {n} submissions: {entry}")
        entry["dask_overhead"] = round(entry["dask_local"]["seconds"] / entry["builtin"]["seconds"] - 1, 3)
        entry["worker_seconds_per_submission"] = round(jobs * entry["builtin"]["seconds"] / n, 2)
        print(f"{n} submissions, {jobs} workers: built-in {entry['builtin']['seconds']} s, Dask local "
              f"{entry['dask_local']['seconds']} s (overhead {100 * entry['dask_overhead']:+.1f}%); "
              f"{entry['worker_seconds_per_submission']} worker-seconds per submission; load average before "
              f"{entry['load_average_before']}")
        found[str(n)] = entry
        save(found)
    return found


def kernel_seconds(isolations: dict[str, sandbox.Isolation], reps: int) -> dict[str, float]:
    """Median seconds to start a kernel, run `pass` and stop it, per isolation (runs alternate)."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("pass")]
    times: dict[str, list[float]] = {name: [] for name in isolations}
    for _ in range(reps):
        for name, isolation in isolations.items():
            start = time.perf_counter()
            run = grading.execute(nb, grading.Limits(), [], isolation=isolation)
            times[name].append(time.perf_counter() - start)
            if run.stop_status:
                raise RuntimeError(f"the kernel ({name}) failed: {run.stop_reason}")
    return {name: round(statistics.median(t), 3) for name, t in times.items()}


def sandbox_seconds(reps: int) -> float:
    """Median seconds of `bwrap <the kernel's sandbox> true`: the sandbox's own set-up and tear-down."""
    times = []
    with tempfile.TemporaryDirectory(prefix="bench-bwrap-") as parent:
        scratch = Path(parent, "k")
        scratch.mkdir()
        for _ in range(reps):
            start = time.perf_counter()
            subprocess.run(sandbox.bubblewrap_argv(scratch, ["true"]), check=True)
            times.append(time.perf_counter() - start)
    return round(statistics.median(times), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--dask", type=int, nargs="*", default=[], help="sizes to grade with Dask and without")
    parser.add_argument("--only-dask", action="store_true", help="measure only --dask, keep the rest of --out")
    parser.add_argument("--out", default=str(REPO / "bench" / "grade.json"))
    args = parser.parse_args()
    isolated = sandbox.isolation()
    if not isolated.isolated:
        raise SystemExit(f"bench/grade.py measures the sandbox, which does not work here: {isolated.detail}")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-grade-") as tmp:
        folder, source = Path(tmp, "submitted"), Path(tmp, "source")
        folder.mkdir()
        source.mkdir()
        shutil.copy(REPO / "solutions" / "groups.ipynb", source)  # the batch's own copy of its source
        sources = grading.find_sources([source])
        def save_dask(found: dict) -> None:
            if args.only_dask:  # into the existing file, after each size
                report = json.loads(Path(args.out).read_text())
                Path(args.out).write_text(json.dumps({**report, "dask": found}, indent=1) + "\n")

        dask = dask_against_builtin(Path(tmp), args.dask, args.jobs, sources, isolated, save_dask)
        if args.only_dask:
            return
        make_submissions(folder, args.n)
        results = {}
        for label, jobs, isolation in [("one_at_a_time", 1, isolated),
                                       ("one_at_a_time_without_isolation", 1, sandbox.NO_ISOLATION),
                                       (f"jobs_{args.jobs}", args.jobs, isolated)]:
            seconds, rows = timed_batch(folder, Path(tmp, label), jobs, sources, isolation)
            results[label] = {"seconds": round(seconds, 1), "per_minute": round(60 * args.n / seconds, 1),
                              "isolation": isolation.name, "statuses": dict(Counter(r.status for r in rows)),
                              "points": dict(Counter(f"{r.total:g}/{r.max:g}" for r in rows))}
            print(f"{label} (-j {jobs}, isolation {isolation.name}): {args.n} submissions in {seconds:.1f} s = "
                  f"{60 * args.n / seconds:.1f} per minute; {results[label]['points']}")
    kernel = kernel_seconds({"bubblewrap": isolated, "none": sandbox.NO_ISOLATION}, args.reps)
    bare = sandbox_seconds(4 * args.reps)
    speedup = results["one_at_a_time"]["seconds"] / results[f"jobs_{args.jobs}"]["seconds"]
    per_submission = (results["one_at_a_time"]["seconds"] - results["one_at_a_time_without_isolation"]["seconds"]) / args.n
    print(f"speed-up with -j {args.jobs}: {speedup:.2f}x (target 1.7x); load average before: "
          f"{', '.join(f'{x:.1f}' for x in load_before)} on {os.cpu_count()} cores")
    print(f"isolation: {per_submission:+.2f} s per submission in the batches; a one-cell kernel takes "
          f"{kernel['bubblewrap']:.2f} s isolated, {kernel['none']:.2f} s not (medians of {args.reps}); "
          f"`bwrap ... true` alone {1000 * bare:.0f} ms")
    report = {"submissions": args.n, "cores": os.cpu_count(), "load_average_before": [round(x, 2) for x in load_before],
              **results, "speedup": round(speedup, 2),
              "isolation_cost": {"per_submission_s": round(per_submission, 2), "kernel_start_stop_median_s": kernel,
                                 "kernel_reps": args.reps, "bwrap_true_median_s": bare, "bwrap": isolated.detail},
              "dask": dask}
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
