"""Tests of course_lib.burgers: two independent reference solutions agree; residual and ansatz."""

import math

import numpy as np
import pytest
import torch

from course_lib import burgers, pinn


def test_cole_hopf_initial_condition_symmetry_and_boundary():
    x = np.linspace(-1, 1, 201)
    assert np.abs(burgers.cole_hopf(x, 0.0) + np.sin(np.pi * x)).max() < 1e-14
    for t in (0.1, 0.5, 1.0):
        u = burgers.cole_hopf(x, t)
        assert np.abs(u + u[::-1]).max() < 1e-12  # odd in x
        assert abs(u[0]) < 1e-12 and abs(u[-1]) < 1e-12  # u(±1, t) = 0


def test_cole_hopf_has_converged_in_the_number_of_nodes():
    x, t = np.linspace(-1, 1, 301), np.array([0.3, 0.6, 1.0])[:, None]
    assert np.abs(burgers.cole_hopf(x, t, nodes=100) - burgers.cole_hopf(x, t, nodes=400)).max() < 1e-10


def test_cole_hopf_agrees_with_the_spectral_solver():
    times = np.array([0.2, 0.5, 1.0])
    x, u = burgers.spectral(2048, times, dt=2e-4)
    exact = burgers.cole_hopf(x[None, :], times[:, None])
    assert np.abs(u - exact).max() < 1e-6
    assert np.abs(exact[-1]).max() > 0.6  # a real shock: the jump at x = 0 is large


def test_cole_hopf_satisfies_burgers_by_finite_differences():
    """Central differences of the exact solution, away from the shock, give a tiny residual."""
    x, t, h = np.linspace(-0.9, -0.2, 50), 0.5, 1e-4
    u = lambda x, t: burgers.cole_hopf(x, t)  # noqa: E731
    u_t = (u(x, t + h) - u(x, t - h)) / (2 * h)
    u_x = (u(x + h, t) - u(x - h, t)) / (2 * h)
    u_xx = (u(x + h, t) - 2 * u(x, t) + u(x - h, t)) / h**2
    assert np.abs(u_t + u(x, t) * u_x - burgers.NU * u_xx).max() < 1e-5


def test_reference_grid_layout():
    points, u = burgers.reference_grid(nx=8, nt=5)
    assert points.shape == (40, 2) and u.shape == (5, 8)
    assert torch.allclose(u[0], -torch.sin(math.pi * points[:8, 0]), atol=1e-14)
    assert torch.equal(points[:8, 1], torch.zeros(8, dtype=torch.float64))


def test_residual_of_known_functions():
    xt = pinn.box_interior(20, *burgers.DOMAIN, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x, t = xt[:, 0], xt[:, 1]
    r = burgers.residual(lambda p: p[:, 0] * p[:, 1], xt, nu=0.3)  # u = x t
    assert torch.allclose(r, x + x * t**2, atol=1e-12)
    u = lambda p: torch.sin(math.pi * p[:, 0]) * torch.exp(-p[:, 1])  # noqa: E731
    expected = -u(xt) + u(xt) * math.pi * torch.cos(math.pi * x) * torch.exp(-t) + 0.2 * math.pi**2 * u(xt)
    for method in ("autograd", "func"):
        assert torch.allclose(burgers.residual(u, xt, nu=0.2, method=method), expected, atol=1e-11)


@pytest.mark.parametrize("odd", [False, True])
def test_hard_ansatz_meets_initial_and_boundary_conditions(odd):
    torch.manual_seed(0)
    u = burgers.hard_ansatz(pinn.MLP(2, 16, 2, low=burgers.DOMAIN[0], high=burgers.DOMAIN[1]).double(), odd=odd)
    x = torch.linspace(-1, 1, 50, dtype=torch.float64)
    t = torch.rand(50, dtype=torch.float64)
    initial = torch.stack([x, torch.zeros_like(x)], 1)
    assert torch.allclose(u(initial), -torch.sin(math.pi * x), atol=1e-14)
    for side in (-1.0, 1.0):
        edge = torch.stack([torch.full_like(t, side), t], 1)
        assert u(edge).abs().max() < 1e-14
    inner = torch.stack([x, t], 1)
    mirrored = torch.stack([-x, t], 1)
    odd_error = (u(inner) + u(mirrored)).abs().max()
    assert (odd_error < 1e-14) if odd else (odd_error > 1e-3)


def test_spectral_errors():
    with pytest.raises(ValueError, match="even n"):
        burgers.spectral(15)
    with pytest.raises(ValueError, match="ascending"):
        burgers.spectral(64, np.array([0.5, 0.2]))
    with pytest.raises(ValueError, match="nu"):
        burgers.cole_hopf(np.zeros(3), 0.1, nu=0.0)


def test_rad_points_gather_where_the_residual_is_large():
    # u = t exp(-x²/0.01): its residual is ~0 for |x| > 0.3, so RAD with c = 0 puts (nearly) every
    # point in |x| < 0.2, a tenth of the domain; with a large c the draw is close to uniform.
    u = lambda p: p[:, 1] * torch.exp(-p[:, 0] ** 2 / 0.01)  # noqa: E731
    near = {}
    for c in (0.0, 1.0, 1e6):
        xt = burgers.rad_points(u, 500, pool=5000, c=c, generator=torch.Generator().manual_seed(0))
        assert xt.shape == (500, 2) and xt.dtype == torch.float64
        assert (xt[:, 0].abs() <= 1).all() and (xt[:, 1] >= 0).all() and (xt[:, 1] <= 1).all()
        assert len(torch.unique(xt, dim=0)) == 500  # drawn without replacement
        near[c] = (xt[:, 0].abs() < 0.2).double().mean().item()
    assert near[0.0] > 0.9 and 0.2 < near[1.0] < 0.9 and near[1e6] < 0.2
    again = burgers.rad_points(u, 500, pool=5000, c=1.0, generator=torch.Generator().manual_seed(0))
    half = burgers.rad_points(u, 100, low=(0.0, 0.0), pool=1000, generator=torch.Generator().manual_seed(0))
    assert torch.equal(again, burgers.rad_points(u, 500, pool=5000, c=1.0, generator=torch.Generator().manual_seed(0)))
    assert (half[:, 0] >= 0).all()
    with pytest.raises(ValueError, match="n <= pool"):
        burgers.rad_points(u, 20, pool=10)
    with pytest.raises(ValueError, match="c >= 0"):
        burgers.rad_points(u, 5, pool=10, c=-1.0)


def test_cole_hopf_has_the_published_steepest_slope():
    """Basdevant et al. (1986), the benchmark's reference: the slope at x = 0 is steepest at
    t = 1.6037/π, where ∂u/∂x = −152.00516 (here a central difference with step 1e-7)."""
    def slope_at_zero(t: float, h: float = 1e-7) -> float:
        return float((burgers.cole_hopf(np.array(h), np.array(t))
                      - burgers.cole_hopf(np.array(-h), np.array(t))) / (2 * h))

    steepest = slope_at_zero(1.6037 / np.pi)
    assert steepest == pytest.approx(-152.00516, abs=5e-4)
    assert slope_at_zero(1.5 / np.pi) > steepest < slope_at_zero(1.7 / np.pi)
