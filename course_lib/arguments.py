"""Argument checks shared by the library: a clear ValueError that says what was expected and what came.

No chapter of its own: the modules of every chapter call it, from chapter "What do we mean by symmetry?" on."""

from __future__ import annotations

from typing import Any


def require_int(value: Any, what: str, minimum: int = 1) -> int:
    """Return `value` if it is an int >= minimum (bools excluded), else raise ValueError naming `what`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{what} must be an int >= {minimum}, got {value!r}")
    return value
