"""course_lib.hnn: Hamilton's equations by autograd, the spring data, and an HNN that conserves its own H."""

import math

import pytest
import torch

from course_lib import hnn

F64 = torch.float64


def test_vector_field_of_known_hamiltonians():
    x = torch.randn(7, 2, dtype=F64, generator=torch.Generator().manual_seed(0))
    spring = hnn.hamiltonian_vector_field(hnn.mass_spring_energy, x)
    assert torch.allclose(spring, torch.stack([x[:, 1], -x[:, 0]], 1), atol=1e-14)
    pendulum = hnn.hamiltonian_vector_field(lambda y: 0.5 * y[:, 1] ** 2 - torch.cos(y[:, 0]), x)
    assert torch.allclose(pendulum, torch.stack([x[:, 1], -torch.sin(x[:, 0])], 1), atol=1e-14)


def test_hnn_field_is_divergence_free_and_conserves_its_own_hamiltonian():
    torch.manual_seed(0)
    model = hnn.HNN(hidden=16).double()
    x = torch.randn(5, 2, dtype=F64)
    assert hnn.divergence(model, x).abs().max() < 1e-12  # Hamiltonian flows preserve phase-space area
    plain = hnn.DerivativeNet(hidden=16).double()
    assert hnn.divergence(plain, x).abs().min() > 1e-6  # a generic field does not
    x0 = torch.tensor([[0.5, 0.1], [-0.2, 0.7]], dtype=F64)
    with torch.no_grad():
        h = model.hamiltonian(hnn.rollout(model, x0, dt=0.05, n_steps=2000))
    gap = (h - h[0]).abs().max(dim=1).values
    assert gap.max() < 1e-4 * h[0].abs().max()
    assert gap.max() < 2 * gap[:200].max()  # bounded: no more after 2000 steps than after 200


def test_implicit_midpoint_keeps_energy_and_lags_by_the_known_phase():
    x0 = torch.tensor([[1.0, 0.0], [0.3, -0.4]], dtype=F64)
    spring = lambda y: torch.stack([y[:, 1], -y[:, 0]], 1)
    dt, n = 0.1, 1000
    path = hnn.rollout(spring, x0, dt, n)
    assert path.shape == (n + 1, 2, 2)
    energy = hnn.mass_spring_energy(path)
    assert (energy - energy[0]).abs().max() < 1e-11  # a quadratic H is kept, to the iterations' tol
    exact = hnn.mass_spring_solution(x0, dt * torch.arange(n + 1, dtype=F64))
    lag = hnn.phase_error(path, exact)[-1]  # each step turns by 2 atan(dt/2) instead of dt
    assert torch.allclose(lag, torch.full((2,), n * (2 * math.atan(dt / 2) - dt), dtype=F64), atol=1e-9)
    pendulum = lambda y: torch.stack([y[:, 1], -torch.sin(y[:, 0])], 1)
    h = lambda y: 0.5 * y[..., 1] ** 2 - torch.cos(y[..., 0])
    drift = (h(hnn.rollout(pendulum, x0, dt, 2000)) - h(x0)).abs()
    assert drift.max() < 2e-3 and drift.max() < 1.5 * drift[:200].max()  # bounded, O(dt²)


def test_phase_error_follows_the_timing_past_one_turn():
    x0, t = torch.tensor([0.6, 0.2], dtype=F64), torch.linspace(0, 50, 2001, dtype=F64)
    truth = hnn.mass_spring_solution(x0, t)
    slow = hnn.mass_spring_solution(x0, 0.9 * t)  # runs behind by 0.1 t
    assert torch.allclose(hnn.phase_error(slow, truth), -0.1 * t, atol=1e-9)
    assert torch.allclose(hnn.phase_error(truth, slow), 0.1 * t, atol=1e-9)


def test_mass_spring_data_and_solution():
    x, dxdt = hnn.mass_spring_data(n_trajectories=4, n_points=10, noise=0.0, seed=3)
    assert x.shape == dxdt.shape == (40, 2) and x.dtype == torch.float32
    assert torch.allclose(dxdt, torch.stack([x[:, 1], -x[:, 0]], 1))
    radius = x.norm(dim=1)
    assert radius.min() >= 0.1 - 1e-6 and radius.max() <= 1 + 1e-6
    noisy, _ = hnn.mass_spring_data(n_trajectories=4, n_points=10, noise=0.1, seed=3)
    assert 0.05 < (noisy - x).std() < 0.15
    x0, t = torch.tensor([0.3, -0.7], dtype=F64), torch.linspace(0, 6, 40, dtype=F64)
    exact = hnn.mass_spring_solution(x0, t)
    assert (hnn.mass_spring_energy(exact) - hnn.mass_spring_energy(x0)).abs().max() < 1e-14
    true_field = lambda y: torch.stack([y[:, 1], -y[:, 0]], 1)
    dt = 6 / 600
    fine = hnn.mass_spring_solution(x0, dt * torch.arange(601, dtype=F64))
    assert (hnn.rollout(true_field, x0, dt, 600) - fine).abs().max() < 1e-4  # phase error 600 dt³/12
    assert hnn.energy_mse(exact, hnn.mass_spring_energy, hnn.mass_spring_energy(x0)) < 1e-28


@pytest.mark.parametrize("model_class", [hnn.HNN, hnn.DerivativeNet])
def test_training_learns_the_spring_and_is_seeded(model_class, one_thread):
    x, dxdt = hnn.mass_spring_data(n_trajectories=5, n_points=8, noise=0.0)
    losses = []
    for _ in range(2):
        torch.manual_seed(0)
        history = hnn.train_vector_field(model_class(hidden=16), x, dxdt, steps=60, lr=1e-2, seed=0)
        losses.append(history.loss)
    assert losses[0] == losses[1]
    assert history.metrics["train_mse"] < history.loss[0] / 10


def test_clear_errors_on_wrong_input():
    with pytest.raises(ValueError, match=r"\(\.\.\., 2n\)"):
        hnn.hamiltonian_vector_field(hnn.mass_spring_energy, torch.zeros(4, 3))
    with pytest.raises(ValueError, match=r"\(N,\) values"):
        hnn.hamiltonian_vector_field(lambda y: y, torch.zeros(4, 2))
    with pytest.raises(ValueError, match="same shape"):
        hnn.train_vector_field(hnn.HNN(), torch.zeros(5, 2), torch.zeros(4, 2), steps=1)
    with pytest.raises(ValueError, match="one state"):
        hnn.rollout(hnn.HNN(), torch.zeros(4, 3, 2), 0.1, 5)
    with pytest.raises(ValueError, match="dt"):
        hnn.rollout(hnn.HNN(), torch.zeros(4, 2), 0.0, 5)
    with pytest.raises(ValueError, match="same shape"):
        hnn.phase_error(torch.zeros(5, 2), torch.zeros(4, 2))
    with pytest.raises(RuntimeError, match="smaller dt"):
        hnn.rollout(lambda y: 10 * y, torch.ones(1, 2), 1.0, 3)
