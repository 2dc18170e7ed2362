"""Not lie-learn: the course's pure-Python stand-in for the one function escnn imports from it.

The set-up installs it in every fresh environment, and the book's Colab install cell wherever it
runs: lie-learn has no wheel for Python >= 3.13 and its compiled modules fail under numpy 2. An
environment that already has lie-learn keeps it. See compat/lie-learn-so3/pyproject.toml."""
