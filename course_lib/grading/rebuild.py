"""Stage 3: the notebook to run, rebuilt from the trusted source with the learner's solution cells put in.

Every cell comes from the source except the solution cells, which are the learner's, matched by
grade_id (the last one when duplicated); a cell without its grade_id (an editor stripped the
metadata) by content (the learner's last code cell that defines, at top level, the first function
or class the source cell defines), failing that by position when the learner kept the source's
number of code cells. An unmatched solution cell stays the stub; edited, deleted, duplicated or
re-pointed test cells change nothing.
"""

from __future__ import annotations

import copy

import nbformat

from course_lib.grading.sources import Source, nbgrader_meta, top_level_names


def _same_code(a: str, b: str) -> bool:
    def norm(s: str) -> str:
        return "\n".join(line.rstrip() for line in s.strip().splitlines())
    return norm(a) == norm(b)


def rebuild(source: Source, submission: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, dict[str, str]]:
    """The notebook to run: the source with the learner's solution cells put in.

    Returns it and, per solution grade_id, how the learner's cell was found: 'grade_id',
    'content', 'position', or 'missing' (the stub stays); 'untouched' when the cell found is the stub.
    """
    nb = copy.deepcopy(source.notebook)
    code = [c for c in submission.cells if c.cell_type == "code"]
    source_ids = set(source.solutions) | {t.grade_id for t in source.tests}
    by_id = {nbgrader_meta(c).get("grade_id"): c for c in code}  # the last cell with an id wins
    free = [c for c in code if nbgrader_meta(c).get("grade_id") not in source_ids]
    same_layout = len(code) == sum(c.cell_type == "code" for c in nb.cells)
    code_index = {i: k for k, i in enumerate(i for i, c in enumerate(nb.cells) if c.cell_type == "code")}
    found: dict[str, str] = {}
    for grade_id, index in source.solutions.items():
        names = source.defined_names(grade_id)
        if grade_id in by_id:
            cell, how = by_id[grade_id], "grade_id"
        elif names and (defining := [c for c in free if names[0] in top_level_names(c.source)]):
            cell, how = defining[-1], "content"
        elif same_layout and not nbgrader_meta(code[code_index[index]]).get("grade_id"):
            cell, how = code[code_index[index]], "position"
        else:
            cell, how = None, "missing"
        if cell is not None:
            if _same_code(cell.source, nb.cells[index].source):
                how = "untouched"
            nb.cells[index].source = cell.source
        found[grade_id] = how
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb, found
