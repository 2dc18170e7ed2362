"""Exercises of the chapter "Invariance and equivariance" (solutions/invariance.ipynb)."""

from __future__ import annotations

import torch
from torch import nn

from course_lib.checks import Case, Exercise, input_gradient
from course_lib.equivariance import all_shifts, equivariance_error, shift_action
from course_lib.groups import translate_grid
from course_lib.models import global_pool


def _shift_cases() -> list[Case]:
    grid = torch.arange(20.0).reshape(1, 1, 4, 5)
    batch = torch.rand(2, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(4)
    return [Case(f"the 4×5 grid 0..19, shift {s}", (grid, s)) for s in [(1, 0), (0, 2), (-1, 3), (5, 7)]] + \
        [Case("a random batch (2, 3, 6, 6), shift (2, -4)", (batch, (2, -4))),
         Case("a single 3×7 image with no batch or channel axis, shape (3, 7), shift (1, 2): the last two "
              "axes are H and W whatever the rank", (torch.arange(21.0).reshape(3, 7), (1, 2))),
         Case("one image with channels, shape (2, 5, 3), shift (-2, 1)",
              (torch.rand(2, 5, 3, generator=gen), (-2, 1))),
         Case("a batch of videos, shape (2, 3, 2, 4, 6), shift (3, -5)",
              (torch.rand(2, 3, 2, 4, 6, generator=gen), (3, -5)))]


def _layer_error_reference(layer: nn.Module, x: torch.Tensor) -> float:
    return equivariance_error(layer, shift_action, shift_action, x, all_shifts(x))


class _AddPosition(nn.Module):
    """Adds a fixed pattern that depends on the position: not equivariant."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.linspace(0, 1, x.shape[-1])


class _AddRowRamp(nn.Module):
    """Adds a ramp down the rows (height): not equivariant, its worst shift is about half the height."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.linspace(0, 1, x.shape[-2])[:, None]


def _layer_cases() -> list[Case]:
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 2, 6, 6, generator=gen)
    layers = [
        ("Conv2d(2, 3, 3) with circular padding", nn.Conv2d(2, 3, 3, padding=1, padding_mode="circular")),
        ("Conv2d(2, 3, 3) with zero padding", nn.Conv2d(2, 3, 3, padding=1)),
        ("Conv2d(2, 3, 5) with reflect padding", nn.Conv2d(2, 3, 5, padding=2, padding_mode="reflect")),
        ("circular Conv2d(2, 4, 3) then ReLU", nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, padding_mode="circular"),
                                                              nn.ReLU())),
        ("a layer that adds a position-dependent ramp", _AddPosition()),
    ]
    return [Case(f"{name} on a random (2, 2, 6, 6) batch", (layer.eval(), x)) for name, layer in layers] + [
        Case("a layer that adds a ramp down the rows, on a random (2, 2, 9, 4) batch (H ≠ W: its worst "
             "shift moves the rows by about half the height)", (_AddRowRamp(), torch.randn(2, 2, 9, 4, generator=gen))),
        Case("the same ramp layer on a random (1, 2, 14, 3) batch (its worst shift moves the rows by 7: the "
             "shifts depend on x's size, not on the 6×6 of the other cases)",
             (_AddRowRamp(), torch.randn(1, 2, 14, 3, generator=gen)))]


def _head_reference(features: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    return global_pool(features, "mean") @ weight.T + bias


def _head_cases() -> list[Case]:
    gen = torch.Generator().manual_seed(2)
    features = torch.randn(3, 4, 5, 6, generator=gen)
    weight, bias = torch.randn(10, 4, generator=gen), torch.randn(10, generator=gen)
    return [
        Case("features (3, 4, 5, 6), 10 classes", (features, weight, bias)),
        Case("the same features shifted by (2, 3): the logits must not change",
             (translate_grid(features, (2, 3)), weight, bias)),
        Case("features (1, 2, 1, 1), 3 classes", (torch.ones(1, 2, 1, 1), torch.eye(3, 2), torch.zeros(3))),
        Case("features (2, 3, 7, 5) (H ≠ W, neither a multiple of 4), 6 classes",
             (torch.randn(2, 3, 7, 5, generator=gen), torch.randn(6, 3, generator=gen), torch.randn(6, generator=gen))),
    ]


def _set_pool_reference(x: torch.Tensor) -> torch.Tensor:
    return torch.cat([x.mean(dim=1), x.amax(dim=1)], dim=-1)


def _set_pool_cases() -> list[Case]:
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 5, 3, generator=gen)
    return [
        Case("a batch of 2 sets of 5 points in 3-D", (x,)),
        Case("the same sets with their points in another order", (x[:, [3, 0, 4, 1, 2]],)),
        Case("one set of a single point (1, 1, 4)", (torch.arange(4.0).reshape(1, 1, 4),)),
        Case("3 sets of 7 points in 2-D", (torch.randn(3, 7, 2, generator=gen),)),
    ]


EXERCISES = {
    ex.name.split(".", 1)[1]: ex
    for ex in [
        Exercise(
            name="invariance.circular_shift",
            reference=translate_grid,
            cases=_shift_cases,
            hint="entry [i, j] must land at [(i + dy) mod H, (j + dx) mod W]; torch can roll a "
                 "tensor along chosen dimensions.",
            rtol=0, atol=0,
        ),
        Exercise(
            name="invariance.layer_shift_error",
            reference=_layer_error_reference,
            cases=_layer_cases,
            hint="the same shift acts on the input and on the output; an action takes the group "
                 "element first; 'all shifts' means every (dy, dx) of the H×W grid.",
            rtol=1e-3, atol=1e-5,
        ),
        Exercise(
            name="invariance.invariant_head",
            reference=_head_reference,
            cases=_head_cases,
            hint="an average over all positions does not depend on where a feature sits; pool "
                 "first, then apply the affine map. It is a layer: stay with torch operations, so that "
                 "gradients reach the features, the weight and the bias (the check compares them too).",
            rtol=1e-5, atol=1e-5,
            run=input_gradient(),
            answer_in_library=(global_pool,),
        ),
        Exercise(
            name="invariance.set_pool",
            reference=_set_pool_reference,
            cases=_set_pool_cases,
            hint="a reduction over the points' dimension ignores their order; the answer holds "
                 "the mean first, then the maximum. It is a layer: stay with torch operations, so that "
                 "gradients reach the points (the check compares them too).",
            rtol=1e-6, atol=1e-6,
            run=input_gradient(),
        ),
    ]
}
