"""Timing layers fairly on a shared CPU (chapter "Group-equivariant CNNs" and bench/gcnn_speed.py).

Two layers are timed *alternately*, one forward + backward pass of each in turn, and each is given
the median over the repeats: a machine that gets busier slows both alike, and the median ignores
the odd pass that the scheduler interrupted. `p4_layers_against_escnn` applies this to the three
layers of a `gcnn.GroupCNN` against escnn's `R2Conv` with the same field types (regular fields of
C4) and sizes; `seconds_to_build` times a constructor (escnn solves for its kernel bases there).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence, TypeVar

import torch
from torch import nn

from course_lib import gcnn
from course_lib.steerable import enn, rotation_gspace, steerable_conv

T = TypeVar("T")


def forward_backward_seconds(layer: Callable[[Any], Any], x: Any) -> float:
    """Seconds for one forward pass of `layer` on x and the backward pass of the sum of squares of
    its output (a plain tensor, or an escnn GeometricTensor's `.tensor`)."""
    start = time.perf_counter()
    out = layer(x)
    (out.tensor if hasattr(out, "tensor") else out).square().sum().backward()
    return time.perf_counter() - start


def alternating_medians(runs: Sequence[tuple[Callable[[Any], Any], Any]], repeats: int = 30,
                        warmup: int = 3) -> list[float]:
    """For each (layer, input) of `runs`, the median seconds of a forward + backward pass over
    `repeats` rounds, each round running every layer once in turn; the first `warmup` rounds
    (caches, allocator) are not counted."""
    if repeats < 1 or warmup < 0 or not runs:
        raise ValueError(f"need runs, repeats >= 1 and warmup >= 0, got {len(runs)} runs, "
                         f"repeats={repeats}, warmup={warmup}")
    times: list[list[float]] = [[] for _ in runs]
    for round_ in range(warmup + repeats):
        for per_layer, (layer, x) in zip(times, runs):
            seconds = forward_backward_seconds(layer, x)
            if round_ >= warmup:
                per_layer.append(seconds)
    return [statistics.median(t) for t in times]


def seconds_to_build(make: Callable[[], T]) -> tuple[T, float]:
    """`make()` and the wall-clock seconds it took."""
    start = time.perf_counter()
    made = make()
    return made, time.perf_counter() - start


@dataclass(frozen=True)
class LayerTiming:
    """Median milliseconds per forward + backward of our layer and escnn's, and their parameters."""

    name: str
    ours_ms: float
    escnn_ms: float
    ours_parameters: int
    escnn_parameters: int

    @property
    def ratio(self) -> float:
        """escnn's time over ours: above 1 means ours is faster."""
        return self.escnn_ms / self.ours_ms


def p4_layers_against_escnn(channels: tuple[int, int, int] = (8, 16, 16), size: int = 24, batch: int = 32,
                            repeats: int = 30, seed: int = 0) -> list[LayerTiming]:
    """Time the three layers of `gcnn.GroupCNN(channels)` on images (batch, 1, size, size) (lifting
    5×5 at size, group conv 5×5 at size/2, group conv 3×3 at size/4) against escnn `R2Conv`s between
    the same field types, alternating the two. size a multiple of 4."""
    if size % 4 or size < 4:
        raise ValueError(f"size is a positive multiple of 4 (GroupCNN pools twice), got {size}")
    c1, c2, c3 = channels
    layers = [(f"lift 1->{c1}, 5x5, {size}x{size}", 1, c1, 5, size),
              (f"group {c1}->{c2}, 5x5, {size // 2}x{size // 2}", c1, c2, 5, size // 2),
              (f"group {c2}->{c3}, 3x3, {size // 4}x{size // 4}", c2, c3, 3, size // 4)]
    gs = rotation_gspace(4)
    generator = torch.Generator().manual_seed(seed)
    timings = []
    for name, c_in, c_out, k, n in layers:
        lifting = c_in == 1
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            ours: nn.Module = (gcnn.LiftingConv(1, c_out, k, padding=k // 2) if lifting
                               else gcnn.GroupConv(c_in, c_out, k, padding=k // 2))
            t_in = enn.FieldType(gs, [gs.trivial_repr] if lifting else c_in * [gs.regular_repr])
            theirs = steerable_conv(t_in, enn.FieldType(gs, c_out * [gs.regular_repr]), k, padding=k // 2).train()
        shape = (batch, 1, n, n) if lifting else (batch, c_in, 4, n, n)
        # inside a network, group maps need their gradient; an input image does not
        x = torch.randn(shape, generator=generator).requires_grad_(not lifting)
        ours_s, theirs_s = alternating_medians([(ours, x), (theirs, t_in(x.flatten(1, 2) if not lifting else x))],
                                               repeats)
        timings.append(LayerTiming(name, 1e3 * ours_s, 1e3 * theirs_s, gcnn.n_parameters(ours),
                                   gcnn.n_parameters(theirs)))
    return timings
