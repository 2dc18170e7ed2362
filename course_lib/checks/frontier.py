"""Exercises of the chapter "The frontier" (solutions/frontier.ipynb)."""

from __future__ import annotations

import math

import torch

from course_lib.augerino import rotation_angles
from course_lib.checks import Case, Exercise, by_short_name, call
from course_lib.pinn import fold_to_fundamental_domain
from course_lib.symmetry_discovery import generator_angle


def _double(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def _fold_cases() -> list[Case]:
    gen = torch.Generator().manual_seed(0)
    return [
        Case("the point (0.3, 0.7): above the diagonal", (_double([[0.3, 0.7]]),)),
        Case("the points (−0.5, 0.2), (0.1, −0.9), (−0.4, −0.6)", (_double([[-0.5, 0.2], [0.1, -0.9], [-0.4, -0.6]]),)),
        Case("a point already inside, (0.8, 0.1), and one on the diagonal, (−0.5, −0.5)",
             (_double([[0.8, 0.1], [-0.5, -0.5]]),)),
        Case("40 random points of [−1, 1]²", (2 * torch.rand(40, 2, generator=gen, dtype=torch.float64) - 1,)),
    ]


def _angles_run(fn, case: Case):
    """The angles and d(Σ_k w_k θ_k)/d width for fixed weights w: the width must get a gradient."""
    width, u = case.args
    width = width.clone().requires_grad_(True)
    theta = fn(width, u)
    if not isinstance(theta, torch.Tensor) or not theta.requires_grad:
        raise ValueError("the angles are not differentiable with respect to the width, so Augerino "
                         "could not learn it")
    weights = torch.linspace(1.0, 2.0, theta.numel(), dtype=theta.dtype).reshape(theta.shape)
    (grad,) = torch.autograd.grad((theta * weights).sum(), width)
    return [theta.detach().reshape(-1), grad.reshape(1)]


def _angles_cases() -> list[Case]:
    gen = torch.Generator().manual_seed(1)
    return [
        Case("width π/4, u = [0, 0.5, 1] (the ends and the middle of the range)",
             (torch.tensor(math.pi / 4, dtype=torch.float64), _double([0.0, 0.5, 1.0]))),
        Case("width 1, u = [0.1, 0.25, 0.9]", (torch.tensor(1.0, dtype=torch.float64), _double([0.1, 0.25, 0.9]))),
        Case("width 2.5, 30 uniform u", (torch.tensor(2.5, dtype=torch.float64),
                                        torch.rand(30, generator=gen, dtype=torch.float64))),
    ]


def _angle_cases() -> list[Case]:
    j = _double([[0, -1], [1, 0]])
    k = _double([[0, 1], [1, 0]])
    gen = torch.Generator().manual_seed(2)
    a, b = torch.randn(3, 3, generator=gen, dtype=torch.float64), torch.randn(3, 3, generator=gen, dtype=torch.float64)
    return [
        Case("a rotation generator against itself times 3", (j, 3 * j)),
        Case("a rotation generator against minus itself (the same group)", (j, -j)),
        Case("rotation against boost generators (perpendicular)", (j, k)),
        Case("[[0, −1], [1, 0]] against [[0, −1], [1.2, 0.3]]", (j, _double([[0, -1], [1.2, 0.3]]))),
        Case("two random 3×3 matrices", (a, b)),
        Case("a random 3×3 matrix against minus 2 times itself plus a small change", (a, -2 * a + 0.3 * b)),
    ]


EXERCISES = by_short_name(
    Exercise(
        name="frontier.fold_to_fundamental_domain",
        reference=fold_to_fundamental_domain,
        cases=_fold_cases,
        hint="the reflections in the axes change signs and the reflection in the diagonal swaps the "
             "coordinates; in the domain 0 ≤ y ≤ x both coordinates are non-negative and the first "
             "is the larger.",
        rtol=1e-12, atol=1e-12,
    ),
    Exercise(
        name="frontier.rotation_angles",
        reference=rotation_angles,
        cases=_angles_cases,
        run=_angles_run,
        hint="map u ∈ [0, 1] onto [−width, width] (both signs!) by an affine map, and build the "
             "angles from `width` with torch operations so that the gradient reaches it.",
        rtol=1e-10, atol=1e-12,
    ),
    Exercise(
        name="frontier.generator_angle",
        reference=generator_angle,
        cases=_angle_cases,
        run=lambda fn, case: float(call(fn, case)),
        hint="treat the matrices as vectors of n² entries; the cosine of their angle is the dot product "
             "over the product of the norms. L and −L generate the same group, so the answer lies "
             "between 0 and 90 degrees.",
        rtol=1e-7, atol=1e-6,
    ),
)
