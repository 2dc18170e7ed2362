"""course_lib.pde_data: the Burgers solver agrees with Cole–Hopf and with a finer grid, the
random fields are seeded and resolution-consistent, and the Darcy solver converges to a
manufactured solution at second order."""

import math

import numpy as np
import pytest

from course_lib import burgers, pde_data as d


def test_periodic_burgers_is_the_cole_hopf_solution():
    x = -1 + 2 * np.arange(256) / 256  # the period-2 domain of course_lib.burgers
    for t in (0.25, 1.0):
        u = d.burgers_periodic(-np.sin(np.pi * x)[None], t=t, nu=0.1, dt=1e-3, length=2.0)[0]
        assert np.abs(u - burgers.cole_hopf(x, np.full_like(x, t), nu=0.1)).max() < 1e-9


def test_periodic_burgers_agrees_with_a_finer_grid_and_smaller_steps():
    fine = d.burgers_periodic(d.grf_1d(4, 1024, seed=3), dt=2.5e-4)[:, ::4]
    coarse = d.burgers_periodic(d.grf_1d(4, 256, seed=3), dt=5e-3)
    assert np.abs(coarse - fine).max() < 1e-5 * np.abs(fine).max()
    too_coarse = d.burgers_periodic(d.grf_1d(4, 64, seed=3), dt=5e-2)
    assert np.abs(too_coarse - fine[:, ::4]).max() > 10 * np.abs(coarse - fine).max()


def test_burgers_conserves_the_mean_and_dissipates_energy():
    u0 = d.grf_1d(3, 128, seed=1) + 0.3
    u1 = d.burgers_periodic(u0)
    assert np.allclose(u1.mean(1), u0.mean(1), atol=1e-12)
    assert np.all((u1**2).mean(1) < (u0**2).mean(1))


def test_grf_is_seeded_and_the_same_function_on_finer_grids():
    a, b = d.grf_1d(5, 64, seed=2), d.grf_1d(5, 256, seed=2)
    assert np.allclose(a, b[:, ::4], atol=1e-12)
    assert not np.allclose(a, d.grf_1d(5, 64, seed=3))
    assert 0.2 < d.grf_1d(200, 64).std() < 1.0
    with pytest.raises(ValueError, match="even grid size"):
        d.grf_1d(2, 63)


def test_burgers_dataset_shares_one_solve_across_resolutions():
    x64, y64 = d.burgers_dataset(3, 64, seed=4, solve_s=256)
    x256, y256 = d.burgers_dataset(3, 256, seed=4)
    assert np.array_equal(x64, x256[:, ::4]) and np.array_equal(y64, y256[:, ::4])
    with pytest.raises(ValueError, match="multiple"):
        d.burgers_dataset(2, 64, solve_s=100)


def test_burgers_rejects_bad_input():
    with pytest.raises(ValueError, match="even s"):
        d.burgers_periodic(np.zeros((2, 7)))
    with pytest.raises(ValueError, match="dt > 0"):
        d.burgers_periodic(np.zeros((2, 8)), dt=0.0)


def _manufactured(s):
    """u = sin(πx) sin(πy), a = 1 + x y²: f = −∇·(a∇u) computed by hand."""
    x = np.linspace(0, 1, s)
    xx, yy = np.meshgrid(x, x, indexing="ij")
    a = 1 + xx * yy**2
    u = np.sin(np.pi * xx) * np.sin(np.pi * yy)
    ux, uy = np.pi * np.cos(np.pi * xx) * np.sin(np.pi * yy), np.pi * np.sin(np.pi * xx) * np.cos(np.pi * yy)
    f = -(yy**2 * ux + 2 * xx * yy * uy) + a * 2 * np.pi**2 * u
    return a, f, u


def test_darcy_solver_converges_at_second_order_to_a_manufactured_solution():
    errors = []
    for s in (17, 33, 65):
        a, f, u = _manufactured(s)
        errors.append(np.abs(d.darcy_solve(a, f) - u).max())
    assert errors[-1] < 2e-3
    for coarse, fine in zip(errors[:-1], errors[1:]):
        assert 3.5 < coarse / fine < 4.5


def test_darcy_flux_is_balanced_and_the_solution_positive():
    a = d.darcy_coefficient(d.grf_2d(1, 33, seed=5))[0]
    u = d.darcy_solve(a)
    assert set(np.unique(a)) == {3.0, 12.0}
    assert np.all(u[1:-1, 1:-1] > 0) and np.all(u[0] == 0) and np.all(u[:, -1] == 0)
    # the flux out of the square equals the source inside it (f = 1, discretely)
    h = 1 / 32
    flux = sum(np.sum(2 * a[1:-1, i] * a[1:-1, j] / (a[1:-1, i] + a[1:-1, j]) * u[1:-1, j] / h)
               for i, j in ((0, 1), (-1, -2))) + \
        sum(np.sum(2 * a[i, 1:-1] * a[j, 1:-1] / (a[i, 1:-1] + a[j, 1:-1]) * u[j, 1:-1] / h)
            for i, j in ((0, 1), (-1, -2)))
    assert math.isclose(flux * h, 31**2 * h * h, rel_tol=1e-9)


def test_darcy_rejects_bad_coefficients():
    with pytest.raises(ValueError, match="positive"):
        d.darcy_solve(np.zeros((5, 5)))
    with pytest.raises(ValueError, match=r"\(s, s\)"):
        d.darcy_solve(np.ones((5, 4)))


def test_rougher_fields_hold_energy_a_coarse_grid_cannot_and_defaults_are_unchanged():
    default = d.grf_1d(4, 256, seed=3)
    assert np.array_equal(default, d.grf_1d(4, 256, seed=3, modes=31))
    spectrum = lambda u: np.abs(np.fft.rfft(u)) ** 2  # noqa: E731
    above = lambda u: spectrum(u)[:, 33:].sum() / spectrum(u).sum()  # noqa: E731
    rough = d.grf_1d(4, 256, seed=3, alpha=1.0, sigma=6.0, modes=127)
    assert above(default) < 1e-12 and above(rough) > 1e-3
    with pytest.raises(ValueError, match="modes"):
        d.grf_1d(2, 64, modes=0)


def test_burgers_dataset_passes_viscosity_time_and_field_on():
    u0, u1 = d.burgers_dataset(3, 64, seed=2, dt=1e-3, nu=0.02, t=0.3, alpha=1.5, modes=20)
    assert np.array_equal(u0, d.grf_1d(3, 64, seed=2, alpha=1.5, modes=20))
    assert np.allclose(u1, d.burgers_periodic(u0, t=0.3, nu=0.02, dt=1e-3), atol=1e-14)
