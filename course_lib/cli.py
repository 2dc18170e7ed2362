"""The `course` command (also `python -m course_lib`)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable

from course_lib import exercises


def _exercises(args: argparse.Namespace) -> int:
    diffs = exercises.generate(Path(args.solutions), Path(args.exercises), check=args.check)
    for d in diffs:
        print(d, file=sys.stderr)
    if args.check:
        print("exercises/ is out of sync with solutions/" if diffs else "exercises/ matches solutions/")
    else:
        print(f"wrote exercise notebooks to {args.exercises}/")
    return 1 if diffs else 0


def _grade(args: argparse.Namespace) -> int:
    from course_lib import grading  # imports torch: only for this command
    from course_lib.grading import sandbox

    if args.no_isolation and args.require_isolation:
        print("course grade: --no-isolation and --require-isolation contradict each other", file=sys.stderr)
        return 2
    isolation = sandbox.NO_ISOLATION if args.no_isolation else sandbox.isolation()
    if args.require_isolation and not isolation.isolated:
        print(f"course grade: refusing to grade (--require-isolation): kernels cannot be isolated here: "
              f"{isolation.detail}", file=sys.stderr)
        return 2
    print(isolation.describe(), flush=True)
    if not isolation.isolated:
        print(f"WARNING: {isolation.describe()}", file=sys.stderr)
    folders = [Path(args.source)] if args.source else grading.default_source_dirs()
    problems: list[str] = []
    try:
        sources = grading.find_sources([f for f in folders if f.is_dir()], problems)
        if args.chapter is not None and args.chapter not in sources:
            raise ValueError(f"--chapter {args.chapter!r} has no source; known: {', '.join(sorted(sources))}")
        submissions = grading.collect(args.submissions)
    except ValueError as e:
        print(f"course grade: {e}", file=sys.stderr)
        return 2
    at_once = min(args.jobs, len(submissions))
    limits = grading.Limits(cell_timeout=args.cell_timeout, timeout=args.timeout, memory_mb=args.memory,
                            threads=max(1, (os.cpu_count() or 1) // max(1, at_once)))
    for problem in problems:
        print(f"skipping a source notebook: {problem}", file=sys.stderr)
    where = f" on the Dask cluster at {args.scheduler}" if args.scheduler not in (None, "local") else \
        " on a local Dask cluster" if args.scheduler == "local" else ""
    print(f"grading against {', '.join(f'{c} ({s.path})' for c, s in sorted(sources.items()))}; "
          f"{len(submissions)} submission(s), {at_once} at a time{where}", file=sys.stderr)

    def progress(row: grading.Row) -> None:
        print(f"{row.key}: chapter {row.chapter or '?'}, {row.total:g}/{row.max:g}, {row.status}", file=sys.stderr)

    try:
        rows = grading.grade([path for path, _ in submissions], Path(args.out), sources, limits, jobs=args.jobs,
                             expected=args.chapter, on_row=progress, isolation=isolation, scheduler=args.scheduler)
    except ValueError as e:
        print(f"course grade: {e}", file=sys.stderr)
        return 2
    print(grading.score_table(rows))
    print(f"gradebook: {Path(args.out) / 'gradebook.csv'}, feedback in {Path(args.out) / 'feedback'}/, "
          f"class report: {Path(args.out) / grading.report.REPORT_NAME}")
    if regrade := [r for r in rows if r.status == "regrade"]:
        print(f"course grade: STOPPED, {len(submissions) - len(rows)} submission(s) not graded, "
              f"{len(regrade)} to grade again: {regrade[0].reason}", file=sys.stderr)
        return 3
    failed = [r for r in rows if not r.complete]
    if failed:
        print(f"{len(failed)} submission(s) could not be graded completely: see their status and reason",
              file=sys.stderr)
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="course", description="Chasing Symmetries course tools.")
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("exercises", help="generate exercises/ from solutions/")
    ex.add_argument("--check", action="store_true", help="only check that exercises/ is up to date")
    ex.add_argument("--solutions", default="solutions", help="folder of solution notebooks")
    ex.add_argument("--exercises", default="exercises", help="folder of exercise notebooks")
    ex.set_defaults(func=_exercises)
    gr = sub.add_parser("grade", help="grade submitted notebooks into a gradebook (and feedback)")
    gr.add_argument("submissions", nargs="+", type=Path, help="notebooks, or folders searched for *.ipynb")
    gr.add_argument("--out", default="grades", help="folder for gradebook.csv/.json and feedback/ (default: grades)")
    gr.add_argument("-j", "--jobs", type=_positive(int), default=os.cpu_count() or 1,
                    help="submissions graded at once (default: the number of cores)")
    gr.add_argument("--cell-timeout", type=_positive(float), default=60.0, help="seconds per cell (default 60)")
    gr.add_argument("--timeout", type=_positive(float), default=600.0, help="seconds per submission (default 600)")
    gr.add_argument("--memory", type=_positive(int), default=4096, help="MB of address space per kernel (default 4096)")
    gr.add_argument("--chapter", help="the chapter being graded: other chapters' notebooks get 'wrong chapter'")
    gr.add_argument("--source", help="folder of source notebooks (default: solutions/, then exercises/)")
    gr.add_argument("--scheduler", help="grade on a Dask cluster: 'local' (an embedded LocalCluster of -j workers) "
                    "or a running scheduler's address, e.g. tcp://HOST:8786 (needs the 'cluster' extra)")
    gr.add_argument("--require-isolation", action="store_true",
                    help="refuse to grade when kernels cannot run under bubblewrap")
    gr.add_argument("--no-isolation", action="store_true",
                    help="run kernels without bubblewrap (to compare; unsafe for untrusted notebooks)")
    gr.set_defaults(func=_grade)
    return parser


def _positive(kind: type) -> Callable[[str], float]:
    def parse(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
        return value
    return parse


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
