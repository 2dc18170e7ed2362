"""Exercises of the chapter "The frontier" (solutions/frontier.ipynb)."""

from __future__ import annotations

import math

import torch

from course_lib.augerino import rotation_angles
from course_lib.checks import Case, Exercise, NotDifferentiable, by_short_name, call, input_gradient
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


_fold_gradient = input_gradient()


def _fold_run(fn, case: Case):
    """[the images, their gradient with respect to the points]: the invariant PINN differentiates the
    network through the fold (its Laplacian), so a fold built outside torch's graph cannot train it.
    The gradient is compared only at points off the mirrors (|x| ≠ |y|, x ≠ 0, y ≠ 0), where it does
    not depend on how ties are broken."""
    value, grad = _fold_gradient(fn, case)
    (points,) = case.args
    a = points.abs()
    on_mirror = (a[:, 0] == a[:, 1]) | (a == 0).any(1)
    return [value, grad.reshape(points.shape).masked_fill(on_mirror[:, None], 0.0).reshape(-1)]


_fold_run.differentiates = _fold_gradient.differentiates


def _angles_run(fn, case: Case):
    """[the angles, d(Σ_k w_k θ_k)/d width for fixed weights w]: the width must get a gradient. The
    angles keep their shape (u's) and the gradient the angles' precision."""
    width, u = case.args
    width = width.clone().requires_grad_(True)
    theta = fn(width, u)
    if not isinstance(theta, torch.Tensor) or not theta.requires_grad:
        raise NotDifferentiable(
            f"returned {'a ' + type(theta).__name__ if not isinstance(theta, torch.Tensor) else 'a tensor'} "
            "with no gradient back to `width` (numpy, a float, .item(), .detach() or a new tensor built from "
            "numbers cut the graph), so Augerino could not learn the width: stay with torch operations")
    weights = torch.linspace(1.0, 2.0, theta.numel(), dtype=theta.dtype).reshape(theta.shape)
    (grad,) = torch.autograd.grad((theta * weights).sum(), width, allow_unused=True)
    grad = torch.zeros_like(width) if grad is None else grad
    return [theta.detach(), grad.reshape(1).to(theta.dtype)]


_angles_run.differentiates = "the width"


def _angles_cases() -> list[Case]:
    gen = torch.Generator().manual_seed(1)
    return [
        Case("width π/4, u = [0, 0.5, 1] (the ends and the middle of the range)",
             (torch.tensor(math.pi / 4, dtype=torch.float64), _double([0.0, 0.5, 1.0]))),
        Case("width 1, u = [0.1, 0.25, 0.9]", (torch.tensor(1.0, dtype=torch.float64), _double([0.1, 0.25, 0.9]))),
        Case("width 2.5, 30 uniform u", (torch.tensor(2.5, dtype=torch.float64),
                                        torch.rand(30, generator=gen, dtype=torch.float64))),
        Case("width 0.7, u of shape (4, 5) (the answer keeps u's shape)",
             (torch.tensor(0.7, dtype=torch.float64), torch.rand(4, 5, generator=gen, dtype=torch.float64))),
        Case("width 1.5, u = 0.2 as a 0-d tensor (the answer is 0-d too)",
             (torch.tensor(1.5, dtype=torch.float64), torch.tensor(0.2, dtype=torch.float64))),
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
        run=_fold_run,
        hint="the reflections in the axes change signs and the reflection in the diagonal swaps the "
             "coordinates; in the domain 0 ≤ y ≤ x both coordinates are non-negative and the first "
             "is the larger. Stay with torch operations on the points (abs, max and min, stack): the "
             "invariant PINN differentiates the network through your fold, and so does the check.",
        rtol=1e-12, atol=1e-12,
    ),
    Exercise(
        name="frontier.rotation_angles",
        reference=rotation_angles,
        cases=_angles_cases,
        run=_angles_run,
        hint="map u ∈ [0, 1] onto [−width, width] (both signs!) by an affine map, and build the "
             "angles from `width` with torch operations so that the gradient reaches it. u can have "
             "any shape, a 0-d tensor included; the angles have u's shape.",
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
        # degrees: near 0 the arccosine turns one rounding step of the cosine into about 1e-6 degrees in
        # float64 and 0.02 degrees in float32, so a correct single-precision answer is within 0.05
        rtol=1e-7, atol=0.05,
    ),
)
