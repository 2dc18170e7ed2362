"""The instructors' grader: `course grade SUBMISSIONS... --out DIR` (DESIGN.md section 5).

A submission is untrusted code. It passes through one module per stage:

1. `sources`: the trusted source of each chapter (`solutions/<chapter>.ipynb`, stubbed);
2. `submission`: the file read as data only, its chapter and student identified;
3. `rebuild`: the notebook to run, the source with the learner's solution cells put in;
4. `kernel`: run in a fresh kernel sandboxed by `course_lib.sandbox`, within `Limits`;
5. `judge`: each test judged in the grader's process from the answers `check()` recorded;
6. `batch`: many submissions in worker processes, with tamper evidence, into
7. `gradebook` (gradebook.csv / .json, atomic) and `feedback` (one Markdown file per student);

and `nbgrader_compat` checks that the sources are valid nbgrader source notebooks.
"""

from course_lib.grading.batch import collect, grade
from course_lib.grading.feedback import feedback_markdown, feedback_path, score_table
from course_lib.grading.gradebook import read_gradebook, write_gradebook
from course_lib.grading.judge import STATUSES, Row, TestResult, grade_notebook, judge_test
from course_lib.grading.kernel import Limits, Run, execute
from course_lib.grading.nbgrader_compat import nbgrader_problems
from course_lib.grading.rebuild import rebuild
from course_lib.grading.sources import Source, TestCell, default_source_dirs, find_sources, load_source
from course_lib.grading.submission import Ungradable, identify_chapter, read_submission, student_of

__all__ = ["STATUSES", "Limits", "Row", "Run", "Source", "TestCell", "TestResult", "Ungradable", "collect",
           "default_source_dirs", "execute", "feedback_markdown", "feedback_path", "find_sources", "grade",
           "grade_notebook", "identify_chapter", "judge_test", "load_source", "nbgrader_problems",
           "read_gradebook", "read_submission", "rebuild", "score_table", "student_of", "write_gradebook"]
