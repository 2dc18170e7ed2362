"""course_lib.hnn: Hamilton's equations by autograd, the spring data, and an HNN that conserves its own H."""

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
    x = torch.randn(5, 2, dtype=F64, requires_grad=True)
    field = model(x)
    div = sum(torch.autograd.grad(field[:, i].sum(), x, retain_graph=True)[0][:, i] for i in range(2))
    assert div.abs().max() < 1e-12  # Hamiltonian flows preserve phase-space area
    model.float()
    x0 = torch.tensor([0.5, 0.1], dtype=F64)
    path = hnn.rollout(model, x0, torch.linspace(0, 5, 50, dtype=F64))
    with torch.no_grad():
        h = model.hamiltonian(path.float())
    assert (h - h[0]).abs().max() < 1e-4  # float32 network, RK45 at rtol 1e-9


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
    assert (hnn.rollout(true_field, x0, t) - exact).abs().max() < 1e-6
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
        hnn.rollout(hnn.HNN(), torch.zeros(4, 3, 2), torch.linspace(0, 1, 5))
