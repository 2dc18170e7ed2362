"""The instructors' grader: `course grade SUBMISSIONS... --out DIR` (DESIGN.md section 5).

No chapter of its own: the introduction, section "How the exercises work", introduces it.

A submission is untrusted code. It passes through one module per stage:

1. `sources`: the trusted source of each chapter (`solutions/<chapter>.ipynb`, stubbed);
2. `submission`: the file read as data only, its chapter and student identified;
3. `rebuild`: the notebook to run, the source with the learner's solution cells put in;
4. `kernel`: run in a fresh kernel sandboxed by `sandbox`, within `Limits`;
5. `judge`: each test judged in the grader's process from the answers `check()` recorded;
6. `batch`: many submissions in worker processes, with tamper evidence (`tamper`), into
7. `gradebook` (gradebook.csv / .json, atomic) and `feedback` (one Markdown file per student);

and `nbgrader_compat` checks that the sources are valid nbgrader source notebooks.
"""

import importlib
import sys
import types

# Where each public name lives. Loaded on first use (PEP 562), so that `course_lib.checks`, which
# the kernel imports, can use `course_lib.grading.library_answer` without importing the grader.
_WHERE = {
    "collect": "batch", "grade": "batch",
    "feedback_markdown": "feedback", "feedback_path": "feedback", "score_table": "feedback",
    "read_gradebook": "gradebook", "write_gradebook": "gradebook",
    "STATUSES": "judge", "Row": "judge", "TestResult": "judge", "grade_notebook": "judge", "judge_test": "judge",
    "Limits": "kernel", "Run": "kernel", "execute": "kernel",
    "nbgrader_problems": "nbgrader_compat",
    "rebuild": "rebuild",
    "Source": "sources", "TestCell": "sources", "default_source_dirs": "sources", "find_sources": "sources",
    "load_source": "sources",
    "Ungradable": "submission", "identify_chapter": "submission", "read_submission": "submission",
    "student_of": "submission",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(f"course_lib.grading.{_WHERE[name]}"), name)
    else:
        try:
            value = importlib.import_module(f"course_lib.grading.{name}")  # a submodule: grading.report
        except ModuleNotFoundError:
            raise AttributeError(f"module 'course_lib.grading' has no attribute {name!r}") from None
    globals()[name] = value
    return value


class _Grading(types.ModuleType):
    """`rebuild` names both a submodule and its function. Importing the submodule (judge does) would
    bind the package's attribute to the module (the import system sets it), after which PEP 562's
    __getattr__ is never asked; so that binding is refused and `grading.rebuild` stays the function,
    loaded on first use like every other name: importing `course_lib.grading` imports neither
    nbformat nor jsonschema (0.8 s in each grading kernel, which imports course_lib.checks)."""

    def __setattr__(self, name: str, value) -> None:
        if name in _WHERE and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Grading
