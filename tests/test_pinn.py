"""Tests of course_lib.pinn: derivatives against analytic ones, samplers, losses and training."""

import math

import pytest
import torch
from torch import nn

from course_lib import burgers, pinn

METHODS = ["autograd", "func"]


def u_known(x):
    """sin(x) cos(2y) + x³ y: ∇u = (cos x cos 2y + 3x² y, −2 sin x sin 2y + x³), Δu = −5 sin x cos 2y + 6xy."""
    return torch.sin(x[:, 0]) * torch.cos(2 * x[:, 1]) + x[:, 0] ** 3 * x[:, 1]


def points(n=50, d=2, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("method", METHODS)
def test_gradient_and_laplacian_match_analytic(method):
    x = points()
    d = pinn.derivatives(u_known, x, second=(0, 1), method=method)
    a, b = x[:, 0], x[:, 1]
    grad = torch.stack([torch.cos(a) * torch.cos(2 * b) + 3 * a**2 * b, -2 * torch.sin(a) * torch.sin(2 * b) + a**3], 1)
    lap = -5 * torch.sin(a) * torch.cos(2 * b) + 6 * a * b
    assert torch.allclose(d.u, u_known(x), atol=1e-12)
    assert torch.allclose(d.grad, grad, atol=1e-10)
    assert torch.allclose(d.second.sum(1), lap, atol=1e-10)
    assert torch.allclose(pinn.laplacian(u_known, x), lap, atol=1e-10)
    assert torch.allclose(pinn.gradient(u_known, x), grad, atol=1e-10)


def test_time_derivative_and_3d_laplacian():
    xt = points(d=2)
    u = lambda p: torch.exp(-p[:, 1]) * torch.sin(p[:, 0])  # noqa: E731
    assert torch.allclose(pinn.time_derivative(u, xt), -u(xt), atol=1e-12)
    x3 = points(d=3)
    r2 = lambda p: (p**2).sum(1)  # noqa: E731  Δ|x|² = 2d
    assert torch.allclose(pinn.laplacian(r2, x3), torch.full((50,), 6.0, dtype=torch.float64))


@pytest.mark.parametrize("method", METHODS)
def test_derivatives_of_a_network_agree_and_backpropagate(method):
    torch.manual_seed(0)
    net = pinn.MLP(2, 8, 2).double()
    x = points(20)
    lap = pinn.derivatives(net, x, second=(0, 1), method=method).second.sum(1)
    ref = pinn.derivatives(net, x, second=(0, 1), method="autograd").second.sum(1)
    assert torch.allclose(lap, ref, atol=1e-12)
    lap.pow(2).mean().backward()
    grad = net.net[0].weight.grad  # (the output bias does not change Δu: its grad stays None)
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_relu_network_has_zero_laplacian():
    torch.manual_seed(0)
    net = pinn.MLP(2, 32, 3, activation=nn.ReLU).double()
    lap = pinn.laplacian(net, points(200))
    assert lap.abs().max() == 0.0
    tanh_lap = pinn.laplacian(pinn.MLP(2, 32, 3).double(), points(200))
    assert tanh_lap.abs().max() > 1e-3


def test_derivatives_of_linear_and_constant_functions_are_zero():
    x = points(10)
    assert torch.equal(pinn.laplacian(lambda p: 3 * p[:, 0] - p[:, 1], x), torch.zeros(10, dtype=torch.float64))
    assert torch.equal(pinn.gradient(lambda p: torch.ones(len(p), dtype=p.dtype), x), torch.zeros_like(x))


def test_derivative_errors():
    with pytest.raises(ValueError, match="shape"):
        pinn.laplacian(u_known, torch.zeros(5))
    with pytest.raises(ValueError, match="method"):
        pinn.derivatives(u_known, points(), method="finite differences")
    with pytest.raises(ValueError, match="coordinates"):
        pinn.derivatives(u_known, points(), second=(2,))
    with pytest.raises(ValueError, match="values"):
        pinn.gradient(lambda x: x, points())


@pytest.mark.parametrize("low,high", [((0, 0), (1, 1)), ((-1, 0), (1, 0.5)), ((0, 0, 0), (1, 2, 3))])
def test_box_samplers_lie_where_they_claim(low, high):
    gen = torch.Generator().manual_seed(1)
    lo, hi = torch.tensor(low, dtype=torch.float64), torch.tensor(high, dtype=torch.float64)
    inside = pinn.box_interior(2000, low, high, generator=gen, dtype=torch.float64)
    assert ((inside > lo) & (inside < hi)).all()
    edge = pinn.box_boundary(4000, low, high, generator=gen, dtype=torch.float64)
    assert ((edge >= lo) & (edge <= hi)).all()
    on_face = (edge == lo) | (edge == hi)  # exactly on a face
    assert on_face.any(1).all()
    # faces are drawn by their area
    side = hi - lo
    areas = torch.stack([side.prod() / side[i] for i in range(len(side))])
    frac = torch.stack([on_face[:, i].double().mean() for i in range(len(side))])
    assert torch.allclose(frac, areas / areas.sum(), atol=0.03)
    # both faces of each axis get points
    assert all(((edge[:, i] == lo[i]).any() and (edge[:, i] == hi[i]).any()) for i in range(len(side)))


def test_disk_samplers():
    gen = torch.Generator().manual_seed(2)
    c = torch.tensor([0.5, -1.0], dtype=torch.float64)
    ring = pinn.disk_boundary(1000, (0.5, -1.0), 2.0, generator=gen, dtype=torch.float64)
    assert torch.allclose((ring - c).norm(dim=1), torch.full((1000,), 2.0, dtype=torch.float64), atol=1e-12)
    disk = pinn.disk_interior(20000, (0.5, -1.0), 2.0, generator=gen, dtype=torch.float64)
    r = (disk - c).norm(dim=1)
    assert (r < 2.0).all()
    assert abs(float((r < 2.0 / math.sqrt(2)).double().mean()) - 0.5) < 0.02  # uniform in area
    angles = torch.atan2(disk[:, 1] - c[1], disk[:, 0] - c[0])
    assert abs(float((angles > 0).double().mean()) - 0.5) < 0.02


def test_sampler_errors_and_determinism():
    with pytest.raises(ValueError, match="high > low"):
        pinn.box_interior(5, (0, 1), (1, 0))
    with pytest.raises(ValueError, match="number of points"):
        pinn.box_boundary(0, (0, 0), (1, 1))
    with pytest.raises(ValueError, match="radius"):
        pinn.disk_boundary(5, radius=-1.0)
    a = pinn.box_boundary(10, (0, 0), (1, 1), generator=torch.Generator().manual_seed(3))
    b = pinn.box_boundary(10, (0, 0), (1, 1), generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_hard_constraint_vanishes_on_the_boundary():
    torch.manual_seed(0)
    u = pinn.HardConstraint(pinn.MLP(2, 16, 2, low=(0, 0), high=(1, 1)).double(), pinn.square_distance)
    edge = pinn.box_boundary(500, (0, 0), (1, 1), dtype=torch.float64)
    assert u(edge).abs().max() == 0.0
    assert u(pinn.box_interior(100, (0, 0), (1, 1), dtype=torch.float64)).abs().max() > 0


def test_poisson_exact_solution_has_zero_loss_and_zero_has_known_loss():
    gen = torch.Generator().manual_seed(0)
    xi = pinn.box_interior(300, *pinn.UNIT_SQUARE, generator=gen, dtype=torch.float64)
    xb = pinn.box_boundary(100, *pinn.UNIT_SQUARE, generator=gen, dtype=torch.float64)
    terms = pinn.pinn_loss(pinn.poisson_exact, xi, xb, pinn.poisson_source)
    assert terms["pde"] < 1e-20 and terms["boundary"] < 1e-28
    one = lambda x: torch.ones(len(x), dtype=x.dtype)  # noqa: E731
    terms = pinn.pinn_loss(one, xi, xb, pinn.poisson_source, boundary_weight=10.0)
    assert torch.isclose(terms["pde"], pinn.poisson_source(xi).pow(2).mean())
    assert torch.isclose(terms["boundary"], torch.tensor(10.0, dtype=torch.float64))
    assert set(pinn.pinn_loss(one, xi, None, pinn.poisson_source)) == {"pde"}


def test_relative_l2_and_grid():
    ref = torch.tensor([3.0, 4.0])
    assert pinn.relative_l2(torch.tensor([3.0, 4.5]), ref) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="same shape"):
        pinn.relative_l2(torch.zeros(3), ref)
    g = pinn.grid(5)
    assert g.shape == (25, 2) and torch.equal(g[:5, 1], torch.zeros(5)) and torch.equal(g[:5, 0], torch.linspace(0, 1, 5))


def test_training_solves_poisson_with_a_hard_constraint(one_thread):
    torch.manual_seed(0)
    u = pinn.HardConstraint(pinn.MLP(2, 12, 2, low=(0, 0), high=(1, 1)), pinn.square_distance).double()
    x = pinn.box_interior(100, *pinn.UNIT_SQUARE, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    test = pinn.grid(21, dtype=torch.float64)
    err = lambda m: pinn.relative_l2(m(test).detach(), pinn.poisson_exact(test))  # noqa: E731
    resampled = []
    h = pinn.train_pinn(u, lambda m: pinn.pinn_loss(m, x, None, pinn.poisson_source),
                        adam_steps=50, lbfgs_steps=60, lr=1e-2, error_fn=err, every=30, seed=0,
                        resample=lambda m: resampled.append(1))
    assert len(h.loss) >= 110 and h.loss[-1] < 1e-2 * h.loss[0]
    assert [s for s, _ in h.error] == [30, 80, 110] and len(resampled) == 2
    assert h.final_error < 2e-2 and h.seconds > 0


def test_mlp_maps_its_box_to_the_unit_cube_and_checks_arguments():
    net = pinn.MLP(2, 4, 1, low=(-1, 0), high=(1, 1))
    assert torch.equal(net.center, torch.tensor([0.0, 0.5])) and torch.equal(net.half_width, torch.tensor([1.0, 0.5]))
    assert net(torch.zeros(7, 2)).shape == (7,)
    with pytest.raises(ValueError, match="both low and high"):
        pinn.MLP(2, low=(0, 0))
    with pytest.raises(ValueError, match="in_dim=3"):
        pinn.MLP(3, low=(0, 0), high=(1, 1))


def test_train_pinn_errors():
    net = pinn.MLP(2)
    with pytest.raises(ValueError, match="adam_steps"):
        pinn.train_pinn(net, lambda m: {}, adam_steps=0, lbfgs_steps=0)
    with pytest.raises(ValueError, match="schedule"):
        pinn.train_pinn(net, lambda m: {}, schedule="step")
    with pytest.raises(ValueError, match="history_size.*got \\['lr'\\]"):
        pinn.train_pinn(net, lambda m: {}, lbfgs_steps=1, lbfgs_options={"lr": 0.1})


def test_train_pinn_passes_lbfgs_options_and_keeps_its_defaults(monkeypatch):
    made = []

    class Recording(torch.optim.LBFGS):
        def __init__(self, params, **kwargs):
            made.append(kwargs)
            super().__init__(params, **kwargs)

    monkeypatch.setattr(torch.optim, "LBFGS", Recording)
    net = pinn.MLP(2, 8, 1).double()
    x = pinn.box_interior(20, *pinn.UNIT_SQUARE, dtype=torch.float64)
    loss = lambda m: {"fit": m(x).pow(2).mean()}  # noqa: E731
    pinn.train_pinn(net, loss, adam_steps=0, lbfgs_steps=2)
    pinn.train_pinn(net, loss, adam_steps=0, lbfgs_steps=2, lbfgs_options={"history_size": 100})
    assert made[0]["history_size"] == 50 and made[0]["line_search_fn"] == "strong_wolfe"
    assert made[1]["history_size"] == 100 and made[1]["tolerance_grad"] == made[0]["tolerance_grad"]


def test_exercises_pass_with_the_reference_and_catch_the_recipes_mistakes():
    from course_lib.checks import verify, verify_reference
    from course_lib.checks.pinn import EXERCISES

    for short in EXERCISES:
        assert verify_reference(f"pinn.{short}").passed, short
    inside = lambda n, generator: torch.rand(n, 2, generator=generator)  # noqa: E731  the recipe's sampler
    assert verify("pinn.square_boundary", inside).status == "fail"
    one_side_twice = lambda n, generator: torch.stack([torch.zeros(n), torch.rand(n, generator=generator)], 1)  # noqa: E731
    assert verify("pinn.square_boundary", one_side_twice).status == "fail"
    first_only = lambda u_fn, x: pinn.derivatives(u_fn, x, second=(0,)).second[:, 0]  # noqa: E731
    assert verify("pinn.laplacian", first_only).status == "fail"


def _second_without_graph(u_fn, x):
    """∇u (with its graph) and the pure second derivatives computed WITHOUT create_graph."""
    x = x.detach().requires_grad_(True)
    u = u_fn(x)
    g = torch.autograd.grad(u.sum(), x, create_graph=True)[0]
    second = [torch.autograd.grad(g[:, i].sum(), x, retain_graph=True, allow_unused=True,
                                  materialize_grads=True)[0][:, i] for i in range(x.shape[1])]
    return u, g, torch.stack(second, 1)


def test_derivative_checks_reject_answers_a_network_cannot_be_trained_through():
    from course_lib.checks import verify

    def laplacian_no_graph(u_fn, x):
        return _second_without_graph(u_fn, x)[2].sum(1)

    def residual_no_graph(u_fn, xt, nu):
        u, g, second = _second_without_graph(u_fn, xt)
        return g[:, 1] + u * g[:, 0] - nu * second[:, 0]

    def laplacian_detached(u_fn, x):
        return pinn.laplacian(u_fn, x).detach()

    # the values are right: only differentiability tells these apart from the reference
    torch.manual_seed(0)
    net, x = pinn.MLP(2, 8, 2).double(), torch.rand(5, 2, dtype=torch.float64)
    assert torch.allclose(laplacian_no_graph(net, x), pinn.laplacian(net, x))
    assert torch.allclose(residual_no_graph(net, x, 0.1), burgers.residual(net, x, 0.1))
    for name, bad in [("laplacian", laplacian_no_graph), ("laplacian", laplacian_detached),
                      ("burgers_residual", residual_no_graph)]:
        assert verify(f"pinn.{name}", bad).status == "fail", (name, bad.__name__)


def _uniform_on_sides(n, generator=None):  # written out: pinn.box_boundary is the answer, not to be called
    side, t = torch.randint(0, 4, (n,), generator=generator), torch.rand(n, generator=generator)
    x = torch.stack([t, t], 1)
    x[side == 0, 0], x[side == 1, 0], x[side == 2, 1], x[side == 3, 1] = 0.0, 1.0, 0.0, 1.0
    return x


def _ignores_generator(n, generator):
    return _uniform_on_sides(n)  # the global random state, not `generator`


def _snapped_to_nearest_side(n, generator):
    x = torch.rand(n, 2, generator=generator)
    side = torch.stack([x[:, 0], 1 - x[:, 0], x[:, 1], 1 - x[:, 1]], 1).argmin(1)
    x[side == 0, 0], x[side == 1, 0], x[side == 2, 1], x[side == 3, 1] = 0.0, 1.0, 0.0, 1.0
    return x


def _fixed_seed(n, generator):
    return _uniform_on_sides(n, torch.Generator().manual_seed(0))


def test_boundary_check_rejects_samplers_that_are_not_reproducible_or_not_uniform():
    from course_lib.checks import verify

    # the snapped sampler's points lie on the boundary, a quarter per side, but few near corners
    x = _snapped_to_nearest_side(4000, torch.Generator().manual_seed(0))
    along = torch.cat([x[x[:, 0] == 0, 1], x[x[:, 0] == 1, 1], x[x[:, 1] == 0, 0], x[x[:, 1] == 1, 0]])
    near_corner = float(((along < 0.1) | (along > 0.9)).double().mean())
    assert near_corner < 0.08
    uniform = pinn.box_boundary(4000, *pinn.UNIT_SQUARE, generator=torch.Generator().manual_seed(0))
    u_along = torch.where((uniform[:, 0] == 0) | (uniform[:, 0] == 1), uniform[:, 1], uniform[:, 0])
    assert abs(float(((u_along < 0.1) | (u_along > 0.9)).double().mean()) - 0.2) < 0.03
    for bad, fragment in [(_ignores_generator, "same seed"), (_fixed_seed, "another seed"),
                          (_snapped_to_nearest_side, "uniform along it")]:
        verdict = verify("pinn.square_boundary", bad)
        assert verdict.status == "fail", bad.__name__
        assert fragment in verdict.message, (bad.__name__, verdict.message)
