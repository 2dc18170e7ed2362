"""Stage 2: reading a submission as data (nothing runs) and finding its chapter and its student.

`collect` finds the submissions: every *.ipynb under each folder given (symlinked folders are not
followed) and each file given. A row's key is the submission's path relative to where the grader
runs, never resolved through a symbolic link, written `printable` (one line, no control character,
reversible: `unprintable` gives the file system's name back, bytes that are not UTF-8 included).
The student is the folder right under the folder given when the notebook is deeper (nbgrader's
`submitted/<student>/<assignment>/<notebook>.ipynb`), else the file's stem.

A file that is not a notebook is `invalid`, and so is a symbolic link (it could name the source
notebook or another student's work), anything that is not a regular file, a `grade_id` that is not
a string and JSON nested deeper than `MAX_JSON_DEPTH`. The chapter comes from the notebook's
metadata (`course.chapter`), else from the grade_ids or the function names of its cells, else from
its file name; `wrong chapter` when metadata and cells disagree, when the chapter has no source
here, or when it is not the `--chapter` being graded. When the file name names another chapter, the
content wins.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import nbformat

from course_lib.grading.sources import Source, nbgrader_meta, top_level_names

MAX_NOTEBOOK_BYTES = 50_000_000
MAX_JSON_DEPTH = 100  # real notebooks nest about 10 deep (widget state); nbformat recurses per level


class Ungradable(Exception):
    """A submission that cannot be run: `status` (invalid, wrong chapter) and the reason."""

    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


def printable(name: str, reversible: bool = True) -> str:
    """`name` as one printable line, reversibly: `\\` doubled, a byte that is not UTF-8 (a
    surrogate from `os.fsdecode`) as `\\xNN` (NN >= 80), any other character that is not printable
    (newline, tab, escape, right-to-left override, ...) as `\\xNN` (below 80), `\\uNNNN` or `\\UNNNNNNNN`.
    With `reversible=False` (for text shown to people, names already printable) `\\` stays single."""
    out = []
    for ch in name:
        code = ord(ch)
        if ch == "\\" and reversible:
            out.append("\\\\")
        elif 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
    return "".join(out)


_ESCAPE = re.compile(r"\\(\\|x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8})")


def shown(text: str) -> str:
    """Text as printed (score table, feedback, report): `printable`, backslashes left as they are."""
    return printable(text, reversible=False)


def unprintable(text: str) -> str:
    """The name `printable` wrote as `text` (`os.fsencode` of it gives the original bytes)."""
    def one(m: re.Match) -> str:
        esc = m.group(1)
        if esc == "\\":
            return "\\"
        code = int(esc[1:], 16)
        return chr(0xDC00 + code) if esc[0] == "x" and code >= 0x80 else chr(code)
    return _ESCAPE.sub(one, text)


@dataclass(frozen=True)
class Submitted:
    """A submission found by `collect`: its path as found, its key, student and file name (printable)."""

    path: Path
    key: str
    student: str
    file: str


def collect(paths: Iterable[Path], chapters: Iterable[str] = ()) -> list[Submitted]:
    """Every file given and every *.ipynb under every folder given, once per key.

    The key is the path relative to the working directory (absolute when outside it), made absolute
    without resolving symbolic links, so that grading a folder and re-grading one file of it address
    the same row, and a link never takes the key of the file it points to. ValueError for a path
    that does not exist.
    """
    chapters = list(chapters)
    found: dict[str, Submitted] = {}
    cwd = Path.cwd().resolve()
    for p in map(Path, paths):
        if p.is_dir():
            root = p
            files = sorted(f for f in p.rglob("*.ipynb") if ".ipynb_checkpoints" not in f.parts)
        elif p.exists() or p.is_symlink():
            root, files = None, [p]
        else:
            raise ValueError(f"no such submission file or folder: {printable(str(p))}")
        for f in files:
            full = Path(os.path.abspath(f))
            key = printable(full.relative_to(cwd).as_posix() if full.is_relative_to(cwd) else full.as_posix())
            found.setdefault(key, Submitted(f, key, student_of(f, chapters, root), printable(f.name)))
    return list(found.values())


def submission_bytes(path: Path) -> bytes:
    """The file's bytes; Ungradable('invalid', why) for a symbolic link (even to a file in the same
    folder: it could name the source notebook or another student's notebook), anything that is not
    a regular file (a folder, a FIFO), a file over MAX_NOTEBOOK_BYTES, or one that cannot be read."""
    path = Path(path)
    if path.is_symlink():
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        raise Ungradable("invalid", f"the file is a symbolic link (to {printable(target)}): only regular files "
                                    f"are graded, never what a link points to")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise Ungradable("invalid", "not a notebook: not a regular file")
            data = f.read(MAX_NOTEBOOK_BYTES + 1)
    except OSError as e:
        raise Ungradable("invalid", f"the file cannot be read ({type(e).__name__}: {printable(str(e))[:120]})") from None
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise Ungradable("invalid", f"the file is larger than {MAX_NOTEBOOK_BYTES // 1_000_000} MB")
    return data


def _depth(value: object) -> int:
    """How deep lists and dicts nest in a JSON value (without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, (dict, list)):
            deepest = max(deepest, d)
            if d <= MAX_JSON_DEPTH:
                stack.extend((x, d + 1) for x in (v.values() if isinstance(v, dict) else v))
    return deepest


def parse_submission(data: bytes) -> nbformat.NotebookNode:
    """The notebook in `data`, read as data only; Ungradable('invalid', why) otherwise."""
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        why = f"{type(e).__name__}: {printable(str(e))[:120]}"
        raise Ungradable("invalid", f"not a notebook: the file is not readable JSON ({why})") from None
    if _depth(raw) > MAX_JSON_DEPTH:
        raise Ungradable("invalid", f"its JSON nests more than {MAX_JSON_DEPTH} levels deep (a notebook nests about 10)")
    cells = raw.get("cells") if isinstance(raw, dict) else None
    if not isinstance(cells, list) or not all(
            isinstance(c, dict) and isinstance(c.get("cell_type"), str) and isinstance(c.get("source", ""), (str, list))
            for c in cells):
        raise Ungradable("invalid", "not a notebook: the JSON has no list of cells with cell_type and source")
    if not cells:
        raise Ungradable("invalid", "the notebook has no cells")
    for i, c in enumerate(cells):
        if isinstance(c.get("source"), list):
            c["source"] = "".join(str(s) for s in c["source"])
        c.setdefault("source", "")
        if not isinstance(c.get("metadata"), dict):
            c["metadata"] = {}
        grade_id = nbgrader_meta(c).get("grade_id")
        if grade_id is not None and not isinstance(grade_id, str):
            raise Ungradable("invalid", f"cell {i}: its nbgrader grade_id is a {type(grade_id).__name__}, "
                                        f"not a string")
    if not isinstance(raw.get("metadata"), dict):
        raw["metadata"] = {}
    return nbformat.from_dict(raw)


def read_submission(path: Path) -> nbformat.NotebookNode:
    """The submission as a notebook, read as data only; Ungradable('invalid', why) otherwise."""
    return parse_submission(submission_bytes(path))


def _chapter_in_name(path: Path, chapters: Iterable[str]) -> str | None:
    stem = path.stem.lower()
    hits = [c for c in chapters if re.search(rf"(?<![a-z0-9]){re.escape(c.lower())}(?![a-z0-9])", stem)]
    return max(hits, key=len) if hits else None


def _chapter_by_content(nb: nbformat.NotebookNode, sources: dict[str, Source]) -> str | None:
    """The chapter whose solution grade_ids (else defined function names) the notebook has most of."""
    ids = {nbgrader_meta(c).get("grade_id") for c in nb.cells}
    names = {n for c in nb.cells if c.cell_type == "code" for n in top_level_names(c.source)}
    for score in (lambda s: len(ids & set(s.solutions)),
                  lambda s: len(names & {n for g in s.solutions for n in s.defined_names(g)})):
        best = max(sources.values(), key=score)
        if score(best) > 0:
            return best.chapter
    return None


def identify_chapter(nb: nbformat.NotebookNode, path: Path, sources: dict[str, Source],
                     expected: str | None = None) -> tuple[str, str]:
    """(chapter, note): from metadata, else content, else file name; Ungradable('wrong chapter') otherwise."""
    known = ", ".join(sorted(sources))
    course = nb.metadata.get("course")
    claimed = course.get("chapter") if isinstance(course, dict) else None
    if claimed is not None and not isinstance(claimed, str):
        raise Ungradable("invalid", f"its metadata course.chapter is a {type(claimed).__name__}, not a string")
    if claimed is not None and len(claimed) > 100:
        raise Ungradable("wrong chapter", f"its metadata names a chapter of {len(claimed)} characters (known: {known})")
    by_content = _chapter_by_content(nb, sources)
    by_name = _chapter_in_name(path, sources)
    if claimed is not None and claimed not in sources:
        raise Ungradable("wrong chapter", f"its metadata names chapter {claimed!r}, which has no source here (known: {known})")
    if claimed is not None and by_content not in (None, claimed):
        raise Ungradable("wrong chapter",
                         f"its metadata says chapter {claimed!r} but its exercise cells are those of {by_content!r}")
    chapter = claimed or by_content or by_name
    if chapter is None:
        raise Ungradable("wrong chapter", f"no chapter found in its metadata, cells or file name (known: {known})")
    if expected is not None and chapter != expected:
        raise Ungradable("wrong chapter", f"this is the notebook of chapter {chapter!r}, not of {expected!r}")
    how = "metadata" if claimed else "cells" if by_content else "file name"
    note = "" if how == "metadata" else f"chapter {chapter!r} found from its {how}"
    if by_name not in (None, chapter):
        says = "say" if how == "cells" else "says"
        note = f"its file name suggests chapter {by_name!r}, its {how} {says} {chapter!r}: the content decides"
    return chapter, note


def student_of(path: Path, sources: Iterable[str] = (), root: Path | None = None) -> str:
    """Who handed the file in (printable): the folder right under `root` (the folder given) when the
    file is deeper (nbgrader's `submitted/<student>/<assignment>/<notebook>.ipynb`); else the file's
    stem, or, when the stem is just a chapter's name, the nearest folder that is not. Symbolic links
    are not resolved."""
    names = {c.lower() for c in sources}
    path = Path(os.path.abspath(path))
    if root is not None and path.is_relative_to(os.path.abspath(root)):
        parts = path.relative_to(os.path.abspath(root)).parts
        if len(parts) > 1:
            return printable(parts[0])
    for part in [path.stem, *(p.name for p in path.parents)]:
        if part and part.lower() not in names:
            return printable(part)
    return printable(path.stem)
