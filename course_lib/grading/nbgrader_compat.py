"""nbgrader compatibility: the source notebooks are valid nbgrader (schema version 3) source notebooks."""

from __future__ import annotations

import re

import nbformat

from course_lib import exercises

_NBGRADER_KEYS = {"schema_version", "grade", "solution", "locked", "grade_id", "points", "cell_type", "task"}


def nbgrader_problems(nb: nbformat.NotebookNode) -> list[str]:
    """Why `nb` is not a valid nbgrader source notebook (cell metadata schema version 3); [] when it is.

    Checks what nbgrader's schema and its validator check: the required keys and their types, no
    unknown keys, a non-empty grade_id of letters, digits, '_' and '-' on every nbgrader cell,
    unique grade_ids, non-negative points on (and only on) graded cells, markdown cells that are
    graded exactly when they are solutions; and ours: solution regions balanced, test cells locked.
    """
    problems, seen = [], set()
    for i, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get("nbgrader")
        if meta is None:
            continue
        where = f"cell {i}"
        if not isinstance(meta, dict):
            problems.append(f"{where}: nbgrader metadata is not an object")
            continue
        if unknown := set(meta) - _NBGRADER_KEYS:
            problems.append(f"{where}: unknown nbgrader keys {sorted(unknown)}")
        for key in ("grade", "solution", "locked"):
            if not isinstance(meta.get(key), bool):
                problems.append(f"{where}: {key} must be true or false, got {meta.get(key)!r}")
        if meta.get("schema_version") != 3:
            problems.append(f"{where}: schema_version must be 3, got {meta.get('schema_version')!r}")
        grade_id = meta.get("grade_id")
        if not isinstance(grade_id, str) or not re.fullmatch(r"[A-Za-z0-9_\-]+", grade_id):
            problems.append(f"{where}: grade_id must be a non-empty string of letters, digits, _ and -, got {grade_id!r}")
        elif grade_id in seen:
            problems.append(f"{where}: duplicate grade_id {grade_id!r}")
        seen.add(grade_id)
        if "cell_type" in meta and meta["cell_type"] != cell.cell_type:
            problems.append(f"{where}: metadata cell_type {meta['cell_type']!r} is not the cell's {cell.cell_type!r}")
        points = meta.get("points")
        if meta.get("grade") is True:
            if isinstance(points, bool) or not isinstance(points, (int, float)) or points < 0:
                problems.append(f"{where}: a graded cell needs points >= 0, got {points!r}")
            if cell.cell_type == "code" and not meta.get("solution") and not meta.get("locked"):
                problems.append(f"{where}: a test cell must be locked")
        elif points not in (None, 0):
            problems.append(f"{where}: points on a cell that is not graded")
        if cell.cell_type == "markdown" and bool(meta.get("grade")) != bool(meta.get("solution")):
            problems.append(f"{where}: a markdown cell must be graded exactly when it is a solution")
        if meta.get("solution") and cell.cell_type == "code":
            if cell.source.count(exercises.BEGIN) != cell.source.count(exercises.END):
                problems.append(f"{where}: unbalanced {exercises.BEGIN!r} / {exercises.END!r} markers")
        elif exercises.BEGIN in cell.source:
            problems.append(f"{where}: solution markers in a cell that is not a solution cell")
    return problems
