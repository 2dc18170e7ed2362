"""Exercises of the chapter "Physics-informed neural networks" (solutions/pinn.ipynb)."""

from __future__ import annotations

import math

import torch

from course_lib import burgers, pinn
from course_lib.checks import Case, Exercise, parameter_gradient


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


SIDES = ("left", "right", "bottom", "top")


def _sample(fn, n: int, seed: int) -> torch.Tensor:
    x = fn(n, torch.Generator().manual_seed(seed))
    if not isinstance(x, torch.Tensor) or x.shape != (n, 2):
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"expected a tensor of shape ({n}, 2), got {shape}")
    return x.detach().double()


def _along_sides(x: torch.Tensor) -> list[torch.Tensor]:
    """The position along each side (left, right, bottom, top) of the points that lie on it."""
    on = [x[:, 0] == 0, x[:, 0] == 1, x[:, 1] == 0, x[:, 1] == 1]
    return [x[s][:, 1 if i < 2 else 0] for i, s in enumerate(on)]


def _boundary_facts(fn, case: Case) -> list[float]:
    """Facts any correct sampler of the unit square's boundary shows; which ones, the case says.

    Points uniform on the boundary put a quarter of the points on each side, a fifth of each
    side's points in each fifth of it, and a fifth of all points within 0.1 of a corner (a sampler
    that snaps interior points to the nearest side puts about 5 % there). The tolerances are four
    to six standard deviations of a correct sampler's fluctuations at these n.
    """
    fact, n, seed = case.args
    global_state = torch.random.get_rng_state()
    x = _sample(fn, n, seed)
    if fact == "on the boundary":
        distance = torch.stack([x[:, 0], 1 - x[:, 0], x[:, 1], 1 - x[:, 1]], 1).abs().min(1).values
        return [float(distance.max()), float(((x >= 0) & (x <= 1)).all())]
    if fact == "reproducible":
        again, other = _sample(fn, n, seed), _sample(fn, n, seed + 1)
        one = torch.Generator().manual_seed(seed)
        first, second = fn(n, one), fn(n, one)
        untouched = torch.equal(torch.random.get_rng_state(), global_state)
        torch.random.set_rng_state(global_state)
        return [float(torch.equal(x, again)), float(not torch.equal(x, other)),
                float(not torch.equal(first, second)), float(untouched)]
    along = _along_sides(x)
    if fact == "sides":
        return [float(abs(len(a) / n - 0.25) < 0.05) for a in along]
    if fact == "along":
        fifths = [torch.histc(a, bins=5, min=0, max=1) / max(len(a), 1) for a in along]
        return [float(len(a) > 0 and bool(((f - 0.2).abs() < 0.06).all())) for a, f in zip(along, fifths)]
    if fact == "corners":
        near = sum(int(((a < 0.1) | (a > 0.9)).sum()) for a in along)
        return [float(abs(near / n - 0.2) < 0.04)]
    raise ValueError(f"unknown fact {fact!r}")


def _boundary_cases() -> list[Case]:
    n = 4000
    on_boundary = ("the answer lists [largest distance of a point to the boundary, 1 if every point lies "
                   "in the square]")
    return [
        Case(f"n = {n}, generator seeded with 0: {on_boundary}", ("on the boundary", n, 0)),
        Case(f"n = 4001 (not a multiple of 4: exactly n points, not 4·(n // 4)), seed 7: {on_boundary}",
             ("on the boundary", 4001, 7)),
        Case(f"n = 3 (fewer points than sides), seed 8: {on_boundary}", ("on the boundary", 3, 8)),
        Case("n = 1001, drawn twice with fresh generators seeded with 5, once with seed 6, then twice "
             "with one generator seeded with 5: the answer lists [1 if the same seed gives the same "
             "points, 1 if another seed gives other points, 1 if two calls with one generator give other "
             "points, 1 if torch's global random state is left alone]", ("reproducible", 1001, 5)),
        Case(f"n = {n}, seed 1: the answer lists 1 per side ({', '.join(SIDES)}) that holds a "
             "quarter of the points (± 0.05)", ("sides", n, 1)),
        Case(f"n = {n}, seed 2: the answer lists 1 per side ({', '.join(SIDES)}) whose points are "
             "uniform along it (each fifth of the side holds a fifth of them, ± 0.06)", ("along", n, 2)),
        Case(f"n = {n}, seed 3: the answer is 1 if the points within 0.1 of a corner are a fifth of "
             "all points (± 0.04), as for points uniform on the boundary", ("corners", n, 3)),
    ]


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
        Case("u = the odd hard ansatz around a small tanh network, ν = 0.01/π",
             (burgers.hard_ansatz(_small_net(4), odd=True), xt, burgers.NU)),
    ]


EXERCISES = {
    ex.name.split(".", 1)[1]: ex
    for ex in [
        Exercise(
            name="pinn.laplacian",
            reference=pinn.laplacian,
            cases=_laplacian_cases,
            run=parameter_gradient(),
            hint="the gradient of u.sum() with respect to x holds ∇u at every point at once; "
                 "differentiate each of its columns again for the diagonal of the Hessian. Every "
                 "derivative on the way must keep its graph (create_graph=True): the check "
                 "backpropagates through your answer to the network's weights, as training does.",
            rtol=1e-8, atol=1e-10,
        ),
        Exercise(
            name="pinn.square_boundary",
            reference=lambda n, generator: pinn.box_boundary(n, *pinn.UNIT_SQUARE, generator=generator),
            cases=_boundary_cases,
            run=_boundary_facts,
            hint="choose a side for each point, then a uniform position along that side, and pass "
                 "`generator` to every random draw (never seed or use torch's global random state). "
                 "Return exactly n points, whatever n is. torch.rand(n, 2) gives points inside the square, "
                 "and moving such points onto their nearest side leaves the corners nearly empty.",
            rtol=0, atol=1e-12,
            answer_in_library=(pinn.box_boundary,),
        ),
        Exercise(
            name="pinn.poisson_loss",
            reference=_loss_reference,
            cases=_loss_cases,
            run=parameter_gradient(),
            hint="the two terms of the formula above, each a mean over its own points (u = 0 on the "
                 "boundary); build it from a Laplacian that keeps its graph, so that the loss can be "
                 "backpropagated to the network's weights.",
            rtol=1e-8, atol=1e-10,
            answer_in_library=(pinn.pinn_loss,),
        ),
        Exercise(
            name="pinn.burgers_ansatz",
            reference=_ansatz_reference,
            cases=_ansatz_cases,
            run=parameter_gradient(_ansatz_run),
            hint="x and t are the columns of xt; whatever N returns, your u must equal −sin(πx) at "
                 "t = 0 and 0 at x = ±1 (try N = 1 by hand).",
            rtol=1e-10, atol=1e-12,
            answer_in_library=(burgers.hard_ansatz,),
        ),
        Exercise(
            name="pinn.burgers_residual",
            reference=burgers.residual,
            cases=_residual_cases,
            run=parameter_gradient(),
            hint="one gradient of u gives both first derivatives, as columns; u_xx is a derivative "
                 "of u_x. Each derivative must keep its graph (create_graph=True): the check "
                 "backpropagates through your residual to the network's weights, as training does.",
            rtol=1e-8, atol=1e-10,
        ),
    ]
}
