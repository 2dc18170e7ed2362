"""Shared test set-up: a non-interactive matplotlib backend for library code and notebook kernels."""

import os
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")

REPO = Path(__file__).resolve().parents[1]
