"""Results over several seeds, and verdicts that no CPU can flip.

A seeded run prints the same numbers on one machine but not on every machine: other CPUs take other
float paths (oneDNN/BLAS kernels), and the third digit moves. So a comparison the text leans on
("the G-CNN does better") is drawn from several seeds: `Spread` holds one metric over seeds, and
`compare` says which of two is better only when the gap exceeds both spreads; otherwise it says the
difference is within noise. Used by every chapter that compares models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class Spread:
    """One metric measured over several seeds: its values, mean and sample standard deviation."""

    values: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.values) < 2:
            raise ValueError(f"a spread needs values from at least 2 seeds, got {len(self.values)}")
        if not all(math.isfinite(v) for v in self.values):
            raise ValueError(f"a spread needs finite values, got {self.values}")

    @property
    def mean(self) -> float:
        return sum(self.values) / len(self.values)

    @property
    def std(self) -> float:
        m = self.mean
        return math.sqrt(sum((v - m) ** 2 for v in self.values) / (len(self.values) - 1))

    def format(self, spec: str = ".3f") -> str:
        """'0.612 ± 0.013' with the given format for both numbers."""
        return f"{self.mean:{spec}} ± {self.std:{spec}}"

    def __str__(self) -> str:
        return f"{self.format()} ({len(self.values)} seeds)"


def spread(values: Iterable[float]) -> Spread:
    """A `Spread` of the given per-seed values (at least two)."""
    return Spread(tuple(float(v) for v in values))


def compare(a: Spread, b: Spread, higher_is_better: bool = True, names: tuple[str, str] = ("A", "B")) -> str:
    """'A is better than B', 'B is better than A' or 'A and B are within noise'.

    One is better only when the gap between the means exceeds the sum of the two standard
    deviations, a margin a change of CPU (a few units in the third digit) does not cross.
    """
    gap = a.mean - b.mean if higher_is_better else b.mean - a.mean
    if abs(gap) <= a.std + b.std:
        return f"{names[0]} and {names[1]} are within noise of each other"
    first, second = names if gap > 0 else names[::-1]
    return f"{first} is better than {second}"
