"""Exercises of the chapter "Physics-informed neural networks" (solutions/pinn.ipynb)."""

from __future__ import annotations

import math

import torch

from course_lib import burgers, pinn
from course_lib.checks import Case, Exercise


def _points(n: int, d: int, seed: int, low: float = -1.0, high: float = 1.0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return low + (high - low) * torch.rand(n, d, generator=gen, dtype=torch.float64)


def _small_net(seed: int, d: int = 2) -> torch.nn.Module:
    torch.manual_seed(seed)
    return pinn.MLP(d, 8, 2).double()


def _laplacian_cases() -> list[Case]:
    return [
        Case("u = x² + y² at 5 points (Δu = 4)", (lambda x: (x**2).sum(1), _points(5, 2, 0))),
        Case("u = eˣ sin(y), a harmonic function (Δu = 0), at 6 points",
             (lambda x: torch.exp(x[:, 0]) * torch.sin(x[:, 1]), _points(6, 2, 1))),
        Case("u = sin(x) cos(2y) + x³y at 8 points",
             (lambda x: torch.sin(x[:, 0]) * torch.cos(2 * x[:, 1]) + x[:, 0] ** 3 * x[:, 1], _points(8, 2, 2))),
        Case("u = x y z + z⁴ in 3D at 4 points", (lambda x: x.prod(1) + x[:, 2] ** 4, _points(4, 3, 3))),
        Case("u = a small tanh network with output shape (N,) at 5 points", (_small_net(0), _points(5, 2, 4))),
    ]


def _boundary_facts(fn, case: Case) -> list[float]:
    """Facts any correct sampler of the unit square's boundary shows (n = 4000): shape, the largest
    distance to the boundary, whether every point is in the square, and whether each of the four
    sides, and each half of every side, gets its share of the points (within 5 %)."""
    n, seed = case.args
    x = fn(n, torch.Generator().manual_seed(seed))
    if not isinstance(x, torch.Tensor) or x.shape != (n, 2):
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"expected a tensor of shape ({n}, 2), got {shape}")
    x = x.double()
    distance = torch.stack([x[:, 0], 1 - x[:, 0], x[:, 1], 1 - x[:, 1]], 1).abs().min(1).values
    inside = float(((x >= 0) & (x <= 1)).all())
    sides = [x[:, 0] == 0, x[:, 0] == 1, x[:, 1] == 0, x[:, 1] == 1]
    fair = [float(abs(float(s.double().mean()) - 0.25) < 0.05) for s in sides]
    along = [x[s][:, 1 if i < 2 else 0] for i, s in enumerate(sides)]
    spread = [float(len(a) > 0 and abs(float((a < 0.5).double().mean()) - 0.5) < 0.1) for a in along]
    return [float(distance.max()), inside, *fair, *spread]


def _boundary_cases() -> list[Case]:
    facts = ("the answer lists [largest distance to the boundary, 1 if all points are in the square, "
             "1 per side (left, right, bottom, top) that gets about a quarter of the points, "
             "1 per side whose two halves get about half each]")
    return [Case(f"n = 4000 points, generator seeded with {s} ({facts})", (4000, s)) for s in (0, 1)]


def _loss_reference(u_fn, x_interior, x_boundary, source, boundary_weight):
    return sum(pinn.pinn_loss(u_fn, x_interior, x_boundary, source, boundary_weight=boundary_weight).values())


def _loss_cases() -> list[Case]:
    xi = _points(6, 2, 10, 0.0, 1.0)
    xb = pinn.box_boundary(4, *pinn.UNIT_SQUARE, generator=torch.Generator().manual_seed(11), dtype=torch.float64)
    return [
        Case("the exact solution sin(πx) sin(πy) (both terms vanish)",
             (pinn.poisson_exact, xi, xb, pinn.poisson_source, 1.0)),
        Case("u = x(1−x)y(1−y), zero on the boundary, with f = 2π² sin(πx) sin(πy)",
             (pinn.square_distance, xi, xb, pinn.poisson_source, 1.0)),
        Case("u = x² + y², f = 1, boundary weight 10",
             (lambda x: (x**2).sum(1), xi, xb, lambda x: torch.ones(len(x), dtype=x.dtype), 10.0)),
        Case("a small tanh network, f = 2π² sin(πx) sin(πy), boundary weight 0.5",
             (_small_net(1), xi, xb, pinn.poisson_source, 0.5)),
    ]


def _ansatz_run(fn, case: Case) -> torch.Tensor:
    net, xt = case.args
    return fn(net, xt)


def _ansatz_cases() -> list[Case]:
    xt = torch.cat([_points(4, 1, 20), _points(4, 1, 21, 0.0, 1.0)], 1)
    corners = torch.tensor([[-1.0, 0.3], [1.0, 0.7], [0.25, 0.0], [-0.5, 0.0]], dtype=torch.float64)
    return [
        Case("N = 0 (u must be the initial condition −sin(πx))",
             (lambda p: torch.zeros(len(p), dtype=p.dtype), xt)),
        Case("N = 1 at 4 points", (lambda p: torch.ones(len(p), dtype=p.dtype), xt)),
        Case("N = x + t at points on the boundary x = ±1 and at t = 0", (lambda p: p[:, 0] + p[:, 1], corners)),
        Case("N = a small tanh network at 4 points", (_small_net(2), xt)),
    ]


def _ansatz_reference(net, xt):
    return burgers.hard_ansatz(net)(xt)


def _residual_cases() -> list[Case]:
    xt = torch.cat([_points(5, 1, 30), _points(5, 1, 31, 0.0, 1.0)], 1)
    return [
        Case("u = x t, ν = 0.1 (residual x + x t²)", (lambda p: p[:, 0] * p[:, 1], xt, 0.1)),
        Case("u = sin(πx) e^{−t}, ν = 0.01/π",
             (lambda p: torch.sin(math.pi * p[:, 0]) * torch.exp(-p[:, 1]), xt, burgers.NU)),
        Case("u = a small tanh network, ν = 0.05", (_small_net(3), xt, 0.05)),
    ]


EXERCISES = {
    ex.name.split(".", 1)[1]: ex
    for ex in [
        Exercise(
            name="pinn.laplacian",
            reference=pinn.laplacian,
            cases=_laplacian_cases,
            hint="make x require grad, u = u_fn(x); g = torch.autograd.grad(u.sum(), x, create_graph=True)[0] "
                 "is ∇u (N, d); then add up, for each i, torch.autograd.grad(g[:, i].sum(), x, "
                 "create_graph=True)[0][:, i].",
            rtol=1e-8, atol=1e-10,
        ),
        Exercise(
            name="pinn.square_boundary",
            reference=lambda n, generator: pinn.box_boundary(n, *pinn.UNIT_SQUARE, generator=generator),
            cases=_boundary_cases,
            run=_boundary_facts,
            hint="draw a side for each point (torch.randint(4, ...)) and a position t = torch.rand along it; "
                 "a point on the left side is (0, t), on the right (1, t), bottom (t, 0), top (t, 1). "
                 "torch.rand(n, 2) gives points *inside* the square.",
            rtol=0, atol=1e-12,
        ),
        Exercise(
            name="pinn.poisson_loss",
            reference=_loss_reference,
            cases=_loss_cases,
            hint="mean((−Δu − f)²) over x_interior plus boundary_weight · mean(u²) over x_boundary "
                 "(u = 0 on the boundary); use your laplacian.",
            rtol=1e-8, atol=1e-10,
        ),
        Exercise(
            name="pinn.burgers_ansatz",
            reference=_ansatz_reference,
            cases=_ansatz_cases,
            run=_ansatz_run,
            hint="u(x, t) = −sin(πx) + t (1 − x²) N(x, t), with x = xt[:, 0], t = xt[:, 1].",
            rtol=1e-10, atol=1e-12,
        ),
        Exercise(
            name="pinn.burgers_residual",
            reference=burgers.residual,
            cases=_residual_cases,
            hint="u_t + u u_x − ν u_xx: one torch.autograd.grad of u.sum() gives (u_x, u_t) as columns; "
                 "a second one, of u_x.sum(), gives u_xx in its column 0. Keep create_graph=True.",
            rtol=1e-8, atol=1e-10,
        ),
    ]
}
