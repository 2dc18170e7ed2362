"""`python -m course_lib ...` is the `course` command (no chapter of its own: the introduction, section
"How the exercises work", introduces it)."""

from course_lib.cli import main

raise SystemExit(main())
