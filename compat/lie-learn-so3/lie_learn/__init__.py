"""Not lie-learn: the course's pure-Python stand-in for the one function escnn imports from it.

Installed only where lie-learn cannot be (Python >= 3.13): see compat/lie-learn-so3/pyproject.toml."""
