"""Exercises of the chapter "Neural operators" (solutions/operators.ipynb).

spectral_conv is a layer and relative_l2 a loss: both are checked through their gradients too
(`checks.input_gradient`), so an answer a network could not be trained through (numpy, a float,
a detached tensor) fails. Tolerances accept a correct answer computed in float32 as well as float64.
"""

from __future__ import annotations

import math

import torch

from course_lib.checks import Case, Exercise, by_short_name, input_gradient
from course_lib.operators import fourier_resample, relative_l2, spectral_conv


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _complex(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    gen = _gen(seed)
    return torch.complex(torch.randn(shape, generator=gen, dtype=torch.float64),
                         torch.randn(shape, generator=gen, dtype=torch.float64))


def _spectral_cases() -> list[Case]:
    x = lambda shape, seed: torch.randn(shape, generator=_gen(seed), dtype=torch.float64)  # noqa: E731
    return [
        Case("one channel in and out, 16 points, 3 modes, weight 1 for every mode (a low-pass filter)",
             (x((1, 1, 16), 0), torch.ones(1, 1, 3, dtype=torch.complex128))),
        Case("a batch of 2, 3 channels in, 2 out, 16 points, 4 complex modes",
             (x((2, 3, 16), 1), _complex((3, 2, 4), 2))),
        Case("2 channels in, 2 out, 15 points (an odd grid), 5 complex modes",
             (x((3, 2, 15), 3), _complex((2, 2, 5), 4))),
        Case("1 channel in, 3 out, 8 points but 7 modes (more modes than the rfft of 8 points has)",
             (x((2, 1, 8), 5), _complex((1, 3, 7), 6))),
        Case("a batch of 3, 4 channels in, 5 out, 30 points, 6 complex modes",
             (x((3, 4, 30), 9), _complex((4, 5, 6), 10))),
    ]


def _relative_cases() -> list[Case]:
    gen = _gen(7)
    target = torch.randn(5, 1, 32, generator=gen, dtype=torch.float64) * torch.tensor([1, 2, 5, 0.5, 3],
                                                                                       dtype=torch.float64)[:, None, None]
    prediction = target + 0.1 * torch.randn(5, 1, 32, generator=gen, dtype=torch.float64)
    field = torch.randn(3, 2, 6, 6, generator=gen, dtype=torch.float64)
    return [
        Case("one sample: prediction [1, 2, 2], target [1, 2, 3] (answer 1/√14)",
             (torch.tensor([[1.0, 2.0, 2.0]], dtype=torch.float64), torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64))),
        Case("2 samples of very different size: predictions [[2, 0], [0, 101]], targets [[1, 0], [0, 100]]",
             (torch.tensor([[2.0, 0.0], [0.0, 101.0]], dtype=torch.float64),
              torch.tensor([[1.0, 0.0], [0.0, 100.0]], dtype=torch.float64))),
        Case("5 samples (5, 1, 32) of different amplitudes with 10% noise", (prediction, target)),
        Case("3 two-channel 6 × 6 fields (3, 2, 6, 6)", (field + 0.3 * torch.flip(field, (0,)), field)),
    ]


def _resample_cases() -> list[Case]:
    x8 = torch.arange(8, dtype=torch.float64) / 8
    smooth = torch.sin(2 * math.pi * x8) + 0.5 * torch.cos(4 * math.pi * x8)
    gen = _gen(8)
    return [
        Case("sin(2πx) + ½cos(4πx) at 8 points onto 32 points", (smooth, 32)),
        Case("a constant 3 at 4 points onto 12 points", (torch.full((4,), 3.0, dtype=torch.float64), 12)),
        Case("a batch (2, 1, 16) of random samples (their highest mode included) onto 64 points",
             (torch.randn(2, 1, 16, generator=gen, dtype=torch.float64), 64)),
        Case("7 random samples (an odd grid) onto 21 points", (torch.randn(7, generator=gen, dtype=torch.float64), 21)),
        Case("10 random samples onto the same 10 points", (torch.randn(10, generator=gen, dtype=torch.float64), 10)),
        Case("a batch (3, 2, 10) of random samples onto 30 points",
             (torch.randn(3, 2, 10, generator=gen, dtype=torch.float64), 30)),
    ]


EXERCISES = by_short_name(
    Exercise(
        name="operators.spectral_conv",
        reference=spectral_conv,
        cases=_spectral_cases,
        run=input_gradient(),
        hint="go to Fourier space along the grid with the real FFT, mix channels with the complex "
             "weights mode by mode for the lowest modes only (the others become zero, and a weight "
             "may have more modes than the grid has), and come back to exactly as many points as "
             "came in. Which index of the weight is the input channel? Stay in torch: it is a layer.",
        rtol=1e-5, atol=1e-6,
    ),
    Exercise(
        name="operators.relative_l2",
        reference=relative_l2,
        cases=_relative_cases,
        run=input_gradient(),
        hint="one ratio of norms per sample (the norm over everything but the batch axis), not "
             "squared, divided by the target's norm; then the mean of those ratios, as a torch scalar "
             "(it is a loss: it must be differentiable).",
        rtol=1e-5, atol=1e-7,
    ),
    Exercise(
        name="operators.fourier_resample",
        reference=fourier_resample,
        cases=_resample_cases,
        hint="zero-pad the spectrum, mind what the inverse transform divides by, and on an even grid "
             "the highest mode stands for both +s/2 and −s/2: on a finer grid they are two modes.",
        rtol=1e-5, atol=1e-6,
    ),
)
