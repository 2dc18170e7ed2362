"""Stage 2: reading a submission as data (nothing runs) and finding its chapter and its student.

A file that is not a notebook is `invalid`. The chapter comes from the notebook's metadata
(`course.chapter`), else from the grade_ids or the function names of its cells, else from its file
name; `wrong chapter` when metadata and cells disagree, when the chapter has no source here, or when
it is not the `--chapter` being graded. When the file name names another chapter, the content wins.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterable

import nbformat

from course_lib.grading.sources import Source, nbgrader_meta, top_level_names

MAX_NOTEBOOK_BYTES = 50_000_000


class Ungradable(Exception):
    """A submission that cannot be run: `status` (invalid, wrong chapter) and the reason."""

    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


def read_submission(path: Path) -> nbformat.NotebookNode:
    """The submission as a notebook, read as data only; Ungradable('invalid', why) otherwise."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_NOTEBOOK_BYTES:
            raise Ungradable("invalid", f"the file is larger than {MAX_NOTEBOOK_BYTES // 1_000_000} MB")
        raw = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        why = f"{type(e).__name__}: {str(e)[:120]}"
        raise Ungradable("invalid", f"not a notebook: the file is not readable JSON ({why})") from None
    cells = raw.get("cells") if isinstance(raw, dict) else None
    if not isinstance(cells, list) or not all(
            isinstance(c, dict) and isinstance(c.get("cell_type"), str) and isinstance(c.get("source", ""), (str, list))
            for c in cells):
        raise Ungradable("invalid", "not a notebook: the JSON has no list of cells with cell_type and source")
    if not cells:
        raise Ungradable("invalid", "the notebook has no cells")
    for c in cells:
        if isinstance(c.get("source"), list):
            c["source"] = "".join(str(s) for s in c["source"])
        c.setdefault("source", "")
        if not isinstance(c.get("metadata"), dict):
            c["metadata"] = {}
    if not isinstance(raw.get("metadata"), dict):
        raw["metadata"] = {}
    return nbformat.from_dict(raw)


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



def student_of(path: Path, sources: Iterable[str] = ()) -> str:
    """The file's stem, or, when the stem is just a chapter's name, the nearest folder that is not."""
    names = {c.lower() for c in sources}
    for part in [Path(path).stem, *(p.name for p in Path(path).resolve().parents)]:
        if part and part.lower() not in names:
            return part
    return Path(path).stem
