"""The `course` command (also `python -m course_lib`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="course", description="Chasing Symmetries course tools.")
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("exercises", help="generate exercises/ from solutions/")
    ex.add_argument("--check", action="store_true", help="only check that exercises/ is up to date")
    ex.add_argument("--solutions", default="solutions", help="folder of solution notebooks")
    ex.add_argument("--exercises", default="exercises", help="folder of exercise notebooks")
    ex.set_defaults(func=_exercises)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
