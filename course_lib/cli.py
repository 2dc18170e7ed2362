"""The `course` command (also `python -m course_lib`).

No chapter of its own: the introduction, section "How the exercises work", introduces it
(`course exercises`, `course grade`)."""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
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


GRADE_REQUIREMENT = "ipykernel>=6.29,<8"  # what `course grade` needs beyond the core


def _grade(args: argparse.Namespace) -> int:
    try:
        return _grade_batch(args)
    except KeyboardInterrupt as e:  # Ctrl-C before the batch began (the batch's own is caught inside)
        return _interrupted(e, Path(args.out), begun=False)


def _grade_batch(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("ipykernel") is None:  # not a core dependency: Colab pins its own
        # the grade extra of pyproject.toml (tests/test_packaging.py keeps the two equal)
        print(f"course grade: ipykernel is not installed, and every submission runs in an ipykernel on this "
              f"Python: {sys.executable} -m pip install '{GRADE_REQUIREMENT}' (in a clone of the course: "
              f"{sys.executable} -m pip install -e '.[grade]')", file=sys.stderr)
        return 2
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
    line = isolation.describe()
    if args.require_isolation:
        try:
            results = sandbox.prove(isolation, grading.judge.hidden_folders(sources), [s.path for s in sources.values()])
        except (RuntimeError, OSError, ValueError) as e:
            results = {"the self-test": f"DONE: it could not run ({e})"}
        if escaped := [k for k, v in results.items() if not v.startswith("refused")]:
            print(f"course grade: refusing to grade (--require-isolation): from inside the sandbox these "
                  f"succeeded: {'; '.join(f'{k} ({results[k]})' for k in escaped)}", file=sys.stderr)
            return 2
        line += "; " + sandbox.proven(results)
    print(line, flush=True)
    if not isolation.isolated:
        print(f"WARNING: {isolation.describe()}", file=sys.stderr)
    at_once = min(args.jobs, len(submissions))
    limits = grading.Limits(cell_timeout=args.cell_timeout, timeout=args.timeout, memory_mb=args.memory,
                            threads=max(1, (os.cpu_count() or 1) // max(1, at_once)), disk_mb=args.disk,
                            processes=args.processes, tmpfs_mb=args.tmpfs)
    for problem in problems:
        print(f"skipping a source notebook: {problem}", file=sys.stderr)
    where = f" on the Dask cluster at {args.scheduler}" if args.scheduler not in (None, "local") else \
        " on a local Dask cluster" if args.scheduler == "local" else ""
    print(f"grading against {', '.join(f'{c} ({s.path})' for c, s in sorted(sources.items()))}; "
          f"{len(submissions)} submission(s), {at_once} at a time{where}", file=sys.stderr)

    def progress(row: grading.Row) -> None:
        print(f"{row.key}: chapter {row.chapter or '?'}, {row.total:g}/{row.max:g}, {row.status}", file=sys.stderr)

    try:
        rows = grading.grade(args.submissions, Path(args.out), sources, limits, jobs=args.jobs,
                             expected=args.chapter, on_row=progress, isolation=isolation, scheduler=args.scheduler)
    except ValueError as e:
        print(f"course grade: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        return _interrupted(e, Path(args.out), begun=True)
    print(grading.score_table(rows))
    print(f"gradebook: {Path(args.out) / 'gradebook.csv'}, feedback in {Path(args.out) / 'feedback'}/, "
          f"class report: {Path(args.out) / grading.report.REPORT_NAME}")
    lost = grading.batch.missing(submissions, rows)
    if regrade := [r for r in rows if r.status == "regrade"]:
        print(f"course grade: STOPPED, {len(lost)} submission(s) not graded{_named(lost)}, "
              f"{len(regrade)} to grade again: {regrade[0].reason}", file=sys.stderr)
        return 3
    if lost:
        print(f"course grade: {len(lost)} of {len(submissions)} submission(s) got no row{_named(lost)}",
              file=sys.stderr)
        return 3
    failed = [r for r in rows if not r.complete]
    if failed:
        print(f"{len(failed)} submission(s) could not be graded completely: see their status and reason",
              file=sys.stderr)
    return 1 if failed else 0


def _interrupted(e: KeyboardInterrupt, out: Path, begun: bool) -> int:
    """Say how `course grade` was stopped and what it left; the exit code, a shell's (128 + signal)."""
    if not begun:  # (SIGTERM is caught only once the batch has begun)
        print("course grade: interrupted before grading began; nothing was written", file=sys.stderr)
        return 130
    from course_lib.grading.batch import Terminated

    how = "terminated (SIGTERM)" if isinstance(e, Terminated) else "interrupted"
    book = out / "gradebook.csv"
    if book.exists():
        left = f"every row finished before is in {book}; the same command again grades every submission given anew"
    else:
        left = f"no row was finished, so there is no {book}"
    print(f"course grade: {how}, {left}", file=sys.stderr)
    return 143 if isinstance(e, Terminated) else 130


def _named(keys: list[str]) -> str:
    return ": " + ", ".join(map(ascii, keys)) if keys else ""


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
    gr.add_argument("--memory", type=_positive(int), default=4096,
                    help="MB of memory per kernel process: its heap and private writable mappings (RLIMIT_DATA, "
                    "not the address space; each process of a kernel that forks has its own) plus, in the sandbox, "
                    "its /tmp and /dev/shm (default 4096)")
    gr.add_argument("--tmpfs", type=_positive(int), default=256,
                    help="MB of --memory that the sandbox's /tmp (3/4) and /dev/shm (1/4) may fill, at most a "
                    "quarter of --memory; a write past it fails with 'No space left' (default 256)")
    gr.add_argument("--disk", type=_positive(int), default=512,
                    help="MB of disk a kernel may fill in its scratch folder (its working directory): no file "
                    "above it, and the kernel is killed (status 'error') when its folder passes it, checked every "
                    "0.2 s; a file deleted while held open is not seen (default 512)")
    gr.add_argument("--processes", type=_positive(int), default=256,
                    help="processes and threads a kernel may run at once, in the sandbox (RLIMIT_NPROC in its own "
                    "user namespace); a fork past it fails, status 'error' (default 256)")
    gr.add_argument("--chapter", help="the chapter being graded: other chapters' notebooks get 'wrong chapter'")
    gr.add_argument("--source", help="folder of source notebooks (default: solutions/, then exercises/)")
    gr.add_argument("--scheduler", help="grade on a Dask cluster: 'local' (an embedded LocalCluster of -j workers) "
                    "or a running scheduler's address, e.g. tcp://HOST:8786 (needs the 'cluster' extra)")
    gr.add_argument("--require-isolation", action="store_true",
                    help="before grading, try from inside a sandbox built like a kernel's to remount /, unmount "
                    "/tmp, write outside its scratch folder, connect to a socket of the grader, read the source "
                    "notebooks, create a user namespace, and check it has no capabilities; refuse to grade "
                    "(exit 2) when bubblewrap is missing or any of these succeeds")
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
    code = args.func(args)
    if argv is None and code in (130, 143):  # the command, stopped by a signal, is ending: a burst's later
        for s in (signal.SIGINT, signal.SIGTERM):  # signals must not kill it in its exit (red team helper-75)
            signal.signal(s, signal.SIG_IGN)
    return code
