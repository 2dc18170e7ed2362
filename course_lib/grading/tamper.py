"""Tamper evidence: hashes of the files that decide a grade, taken before a batch, compared after each submission.

The grader's second line of defence behind the sandbox (course_lib/grading/sandbox.py): if a kernel did
change `course_lib` (the references every later grade is judged with) or a source notebook, the
batch must stop and say so. `Fingerprint.take` hashes every file under the given folders, byte
code included (a forged `.pyc` beside an unchanged source would be imported just the same);
`watched` first compiles the library's byte code, so that nothing legitimate writes there during
the batch (the kernels run with PYTHONDONTWRITEBYTECODE).
"""

from __future__ import annotations

import compileall
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import course_lib


def _file_hash(path: Path) -> str:
    if path.is_symlink():
        return "link:" + os.readlink(path)
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Fingerprint:
    """SHA-256 of every file under `roots` (files or folders), by path."""

    roots: tuple[Path, ...]
    hashes: dict[str, str]

    @classmethod
    def take(cls, roots: Iterable[Path]) -> Fingerprint:
        roots = tuple(Path(r).resolve() for r in roots)
        hashes = {}
        for root in roots:
            files = [root] if not root.is_dir() else \
                [Path(d, f) for d, _, names in os.walk(root) for f in names]
            for path in files:
                try:
                    hashes[str(path)] = _file_hash(path)
                except OSError as e:  # missing or unreadable: recorded as such
                    hashes[str(path)] = f"unreadable: {type(e).__name__}"
        return cls(roots, hashes)

    def changes(self) -> list[str]:
        """The paths added, removed or changed since this fingerprint was taken (sorted)."""
        now = Fingerprint.take(self.roots).hashes
        return sorted(p for p in self.hashes.keys() | now.keys() if self.hashes.get(p) != now.get(p))


def library_folder() -> Path:
    """The course_lib that kernels import (this interpreter's)."""
    return Path(course_lib.__file__).resolve().parent


def watched(notebooks: Iterable[Path]) -> Fingerprint:
    """The fingerprint of course_lib (its byte code compiled first) and of the given source notebooks."""
    compileall.compile_dir(library_folder(), quiet=2)
    return Fingerprint.take([library_folder(), *notebooks])


def some_paths(paths: list[str], at_most: int = 3) -> str:
    """'a, b, c and 2 more files', relative to the working directory where they are under it."""
    cwd = Path.cwd().resolve()
    shown = [Path(p).relative_to(cwd).as_posix() if Path(p).is_relative_to(cwd) else p for p in paths[:at_most]]
    more = f" and {len(paths) - at_most} more files" if len(paths) > at_most else ""
    return ", ".join(shown) + more
