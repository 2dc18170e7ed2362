"""Results over several seeds, and verdicts that no CPU can flip, with their margin.

Stated in the back-matter chapter "Reproducibility: what is exact and what is not"; every chapter's
verdicts use it, from chapter "What do we mean by symmetry?" on.

A seeded run prints the same numbers on one machine but not on every machine: other CPUs take other
float paths (oneDNN/BLAS kernels), and the third digit moves. So a comparison the text leans on
("the G-CNN does better") is drawn from several seeds: `Spread` holds one metric over seeds, and
`compare` names a winner only when the gap between the means exceeds the **sum** of the two
standard deviations (the noise threshold); otherwise it says the difference is within noise.

Every verdict states its margin, gap ÷ threshold. A winner whose margin is below `MARGINAL` (1.5)
is called *marginally* better: one more seed or another CPU could undo it, so the prose may not
lean on it. Runs that are paired (the same data and seeds for both models) may be compared
`paired=True`: the threshold is then √2 × the standard deviation of the per-seed differences, which
equals the unpaired threshold when the pairs share no noise and is smaller when they share some.
Used by every chapter that compares models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

MARGINAL = 1.5  # a winner whose gap is less than 1.5x the noise threshold is 'marginal'


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


class Verdict(str):
    """The sentence `compare` returns, with the numbers behind it as attributes.

    It is a `str` ("A is better than B (gap 2.40x the noise threshold)"), so it prints and glues as
    before; `winner` / `loser` are names (None when within noise), `gap` the difference of the means
    in the better direction (>= 0), `threshold` the noise threshold, `margin` = gap / threshold,
    `marginal` True for a winner below `MARGINAL`, `decided` True for a winner that is not marginal,
    and `paired` whether the per-seed differences were used.
    """

    winner: str | None
    loser: str | None
    gap: float
    threshold: float
    margin: float
    marginal: bool
    paired: bool

    @property
    def decided(self) -> bool:
        return self.winner is not None and not self.marginal


def _threshold(a: Spread, b: Spread, paired: bool) -> float:
    if not paired:
        return a.std + b.std
    if len(a.values) != len(b.values):
        raise ValueError("a paired comparison needs one value per seed on both sides, got "
                         f"{len(a.values)} and {len(b.values)} values")
    return math.sqrt(2.0) * spread(x - y for x, y in zip(a.values, b.values)).std


def _shown(margin: float) -> str:
    """The margin with two decimals, never rounded across a cutoff: 1.4996 (marginal) reads 1.49,
    not 1.50, and 1.004 (a winner) reads 1.01, not 1.00 (within noise is <= 1)."""
    text = f"{margin:.2f}"
    if margin < MARGINAL <= float(text):
        return f"{math.floor(margin * 100) / 100:.2f}"
    if margin > 1.0 >= float(text):
        return f"{math.ceil(margin * 100) / 100:.2f}"
    return text


def compare(a: Spread, b: Spread, higher_is_better: bool = True, names: tuple[str, str] = ("A", "B"),
            paired: bool = False) -> Verdict:
    """'A is better than B (gap 2.40x the noise threshold)', 'B is marginally better than A (...)' or
    'A and B are within noise of each other (...)'.

    One is better only when the gap between the means exceeds the threshold: the sum of the two
    standard deviations (unpaired), or √2 × the standard deviation of the per-seed differences
    a_i - b_i (`paired=True`: the same data and seeds on both sides, values in the same order).
    A winner with gap < `MARGINAL` × threshold is 'marginally' better.
    """
    threshold = _threshold(a, b, paired)
    signed = a.mean - b.mean if higher_is_better else b.mean - a.mean
    gap = abs(signed)
    margin = gap / threshold if threshold > 0 else (math.inf if gap > 0 else 0.0)
    kind = "paired " if paired else ""
    note = f"gap {_shown(margin)}x the {kind}noise threshold" if math.isfinite(margin) else "no noise"
    if margin <= 1.0:
        text, winner, loser = f"{names[0]} and {names[1]} are within noise of each other ({note})", None, None
    else:
        winner, loser = names if signed > 0 else names[::-1]
        marginal = margin < MARGINAL
        how = "marginally better" if marginal else "better"
        text = f"{winner} is {how} than {loser} ({note}{f'; marginal below {MARGINAL}x' if marginal else ''})"
    verdict = Verdict(text)
    for key, value in dict(winner=winner, loser=loser, gap=gap, threshold=threshold, margin=margin,
                           marginal=winner is not None and margin < MARGINAL, paired=paired).items():
        object.__setattr__(verdict, key, value)
    return verdict
