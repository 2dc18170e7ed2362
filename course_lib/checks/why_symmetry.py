"""Exercises of the chapter "Why symmetry matters in machine learning" (solutions/why_symmetry.ipynb)."""

from __future__ import annotations

import torch

from course_lib.checks import Case, Exercise
from course_lib.data import place_on_canvas, random_shifts
from course_lib.models import MLP, ConvNet, count_parameters


def _mlp_reference(widths: list[int]) -> int:
    return count_parameters(MLP(widths[0], widths[1:-1], widths[-1]))


def _mlp_cases() -> list[Case]:
    return [Case(f"widths {w}", (w,)) for w in ([64, 10], [400, 128, 128, 10], [784, 256, 10], [3, 5, 7, 2])]


def _cnn_reference(in_channels: int, channels: list[int], kernel_size: int, n_classes: int) -> int:
    return count_parameters(ConvNet(in_channels, channels, n_classes, kernel_size))


def _cnn_cases() -> list[Case]:
    return [Case(f"in_channels={c}, channels={ch}, kernel_size={k}, n_classes={n}", (c, ch, k, n))
            for c, ch, k, n in [(1, [8, 16], 3, 10), (1, [8, 16, 32], 3, 10), (3, [4], 5, 2), (2, [6, 6, 6], 1, 7)]]


def _place_reference(digit: torch.Tensor, size: int, row: int, col: int) -> torch.Tensor:
    return place_on_canvas(digit[None, None], size, torch.tensor([[row, col]]))[0, 0]


def _place_cases() -> list[Case]:
    digit = torch.arange(1.0, 13.0).reshape(3, 4)
    return [Case(f"a 3×4 digit on a {s}×{s} canvas at row {r}, column {c}", (digit, s, r, c))
            for s, r, c in [(6, 0, 0), (6, 3, 2), (8, 1, 4), (4, 1, 0)]]


def _shift_cases() -> list[Case]:
    gen = torch.Generator().manual_seed(0)
    return [
        Case("32 random 2-channel 6×7 images, max_shift = 2", ("shifts", torch.rand(32, 2, 6, 7, generator=gen), 2)),
        Case("400 random 5×5 images, max_shift = 1 (every one of the 9 shifts should occur)",
             ("shifts", torch.rand(400, 1, 5, 5, generator=gen), 1)),
        Case("8 random 8×8 images, max_shift = 0 (nothing moves)", ("shifts", torch.rand(8, 1, 8, 8, generator=gen), 0)),
        Case("32 random 3-channel 5×9 images, max_shift = 3, called twice with one generator (seed 3), then "
             "with a fresh generator seeded 3, then seeded 4: the answer lists [1 if the two calls with one "
             "generator shift differently, 1 if the same seed shifts the same, 1 if another seed shifts "
             "differently, 1 if torch's global random state is left alone]",
             ("generator", torch.rand(32, 3, 5, 9, generator=gen), 3)),
        Case("1800 random 3×3 images, max_shift = 1: the answer lists, for each of the 9 shifts (dy, dx), 1 if "
             "it moved between 120 and 280 of them (each shift equally likely: 200 ± 6 standard deviations)",
             ("uniform", torch.rand(1800, 1, 3, 3, generator=gen), 1)),
    ]


def _shift_properties(fn, case: Case) -> list:
    """Facts any correct function shows, whatever order it draws its random numbers in.

    "shifts": [output shape, fraction of images that are a circular shift of their input by at most
    max_shift along each axis, 1 if at least min(9, number of allowed shifts) different shifts occur].
    "generator": [1 if two calls with one generator differ, 1 if the same seed gives the same images,
    1 if another seed gives other images, 1 if the global RNG is untouched]: a function that draws
    from the global RNG (seeded from generator.initial_seed() or not) fails.
    "uniform": 1 per allowed shift if its count is within 6 standard deviations of an equal share
    (a correct function fails with probability below 1e-7; one that favours some shifts fails).
    """
    fact, x, m = case.args
    if fact == "generator":
        global_state = torch.random.get_rng_state()
        one = torch.Generator().manual_seed(3)
        first, second = fn(x, one, m), fn(x, one, m)
        same = fn(x, torch.Generator().manual_seed(3), m)
        other = fn(x, torch.Generator().manual_seed(4), m)
        untouched = torch.equal(torch.random.get_rng_state(), global_state)
        torch.random.set_rng_state(global_state)
        return torch.tensor([float(not torch.equal(first, second)), float(torch.equal(first, same)),
                             float(not torch.equal(first, other)), float(untouched)])
    out = fn(x, torch.Generator().manual_seed(1), m)
    if not isinstance(out, torch.Tensor) or out.shape != x.shape:
        return [torch.tensor(getattr(out, "shape", ())), torch.tensor(0.0), torch.tensor(0.0)]
    allowed = [(dy, dx) for dy in range(-m, m + 1) for dx in range(-m, m + 1)]
    used: dict = {}
    valid = 0
    for xi, oi in zip(x, out):
        match = next((s for s in allowed if torch.equal(torch.roll(xi, s, dims=(-2, -1)), oi)), None)
        if match is not None:
            valid += 1
            used[match] = used.get(match, 0) + 1
    if fact == "uniform":  # a count of Binomial(n, 1/k) lies within 6 standard deviations of n/k
        k = len(allowed)
        spread = 6 * (len(x) * (1 / k) * (1 - 1 / k)) ** 0.5
        return torch.tensor([float(abs(used.get(s, 0) - len(x) / k) <= spread) for s in allowed])
    return [torch.tensor(out.shape), torch.tensor(valid / len(x)), torch.tensor(float(len(used) >= min(9, len(allowed))))]


EXERCISES = {
    ex.name.split(".", 1)[1]: ex
    for ex in [
        Exercise(
            name="why_symmetry.mlp_parameters",
            reference=_mlp_reference,
            cases=_mlp_cases,
            hint="a Linear(a, b) layer has a·b weights and b biases; sum over consecutive widths.",
            rtol=0, atol=0,
            answer_in_library=(count_parameters, MLP),
        ),
        Exercise(
            name="why_symmetry.cnn_parameters",
            reference=_cnn_reference,
            cases=_cnn_cases,
            hint="a Conv2d(a, b, k) has a·b·k² weights and b biases, whatever the image size; "
                 "the final Linear maps channels[-1] pooled features to n_classes.",
            rtol=0, atol=0,
            answer_in_library=(count_parameters, ConvNet),
        ),
        Exercise(
            name="why_symmetry.place_digit",
            reference=_place_reference,
            cases=_place_cases,
            hint="the canvas is blank (zeros) except for one h×w block whose top-left entry "
                 "is [row, col]; a pair of slices selects such a block.",
            rtol=0, atol=0,
            answer_in_library=(place_on_canvas,),
        ),
        Exercise(
            name="why_symmetry.random_shifts",
            reference=random_shifts,
            cases=_shift_cases,
            hint="each image needs its own (dy, dx), drawn with the given generator (pass "
                 "generator= to every random draw; never seed or use torch's global random state), so "
                 "that two calls with one generator differ and the same seed repeats; every (dy, dx) is "
                 "equally likely, and both ends, -max_shift and max_shift, are allowed.",
            rtol=0, atol=1e-9,
            run=_shift_properties,
        ),
    ]
}
