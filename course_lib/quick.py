"""Quick mode: every chapter in about a minute on a slow CPU, with numbers that are not the book's.

A learner on a slow laptop or a free Colab CPU sets `COURSE_QUICK=1` before starting Jupyter (or
runs `quick.enable()` in a chapter's first code cell). Each chapter then trains with fewer seeds,
fewer steps and smaller data sets, and prints a banner saying so. The prose, the stored outputs and
CI describe the full run: a quick run's verdicts may be within noise, or marginal, where the
book's are decided. Used by every book chapter (chapter "Reproducibility: what is exact and what is
not" explains it to the reader).

    steps = quick.choose(full=2000, quick=200)   # 2000 unless quick mode is on
"""

from __future__ import annotations

import os
from typing import TypeVar

T = TypeVar("T")

ENV = "COURSE_QUICK"
_ON = ("1", "true", "yes", "on")
_OFF = ("", "0", "false", "no", "off")

BANNER = ("QUICK MODE ({env}={value}): fewer seeds, fewer steps and smaller data than the book. "
          "The numbers below are not the book's, and a verdict the text calls decided may come out "
          "within noise here. Unset {env} (or run quick.disable()) and restart the kernel for the "
          "full run.")


def active() -> bool:
    """True when `COURSE_QUICK` is set to 1/true/yes/on; False when unset or 0/false/no/off."""
    value = os.environ.get(ENV, "").strip().lower()
    if value in _ON:
        return True
    if value in _OFF:
        return False
    raise ValueError(f"{ENV} must be one of {', '.join(v for v in _ON + _OFF if v)} or unset, "
                     f"got {os.environ[ENV]!r}")


def enable() -> None:
    """Turn quick mode on for this process (the cells run after this call)."""
    os.environ[ENV] = "1"


def disable() -> None:
    """Turn quick mode off for this process."""
    os.environ.pop(ENV, None)


def choose(full: T, quick: T) -> T:
    """`quick` in quick mode, else `full` (returned as given: the full run is unchanged by this call)."""
    return quick if active() else full


def banner() -> None:
    """Print the quick-mode banner (nothing in a full run, so the book's outputs carry none)."""
    if active():
        print(BANNER.format(env=ENV, value=os.environ[ENV]))
