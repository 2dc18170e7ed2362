"""Hamiltonian neural networks (chapter "What do we mean by symmetry?"), after Greydanus et al. 2019.

A plain network learns the time derivative dx/dt = f_θ(x) of a state x = (q, p) directly. A
Hamiltonian neural network learns a scalar H_θ(q, p) instead and takes the derivative from it,

    dq/dt = ∂H_θ/∂p,    dp/dt = −∂H_θ/∂q,

so that whatever it learns, the flow it defines conserves H_θ exactly (time-shift symmetry, by
construction). The data: a mass on a spring, H = (q² + p²)/2 (unit mass and stiffness), observed
with noise. Both models are rolled out with the same ODE solver (scipy's solve_ivp) and compared by
how well they keep the true energy.

States are tensors (..., 2n): the n positions first, then the n momenta.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from scipy.integrate import solve_ivp
from torch import Tensor, nn

from course_lib.train import History, fit

VectorField = Callable[[Tensor], Tensor]  # states (N, 2n) -> time derivatives (N, 2n)


def _check_states(x: Tensor, what: str = "states x") -> None:
    if not isinstance(x, Tensor) or x.dim() < 1 or x.shape[-1] < 2 or x.shape[-1] % 2:
        got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{what} must have shape (..., 2n) = (positions, momenta), got {got}")


def hamiltonian_vector_field(hamiltonian: Callable[[Tensor], Tensor], x: Tensor, create_graph: bool = False) -> Tensor:
    """Hamilton's equations by autograd: x (N, 2n) = (q, p) -> (N, 2n) = (∂H/∂p, −∂H/∂q).

    `hamiltonian` maps (N, 2n) to (N,) (or (N, 1)). With create_graph=True the result can be
    differentiated again, e.g. with respect to the parameters of a network H_θ.
    """
    _check_states(x)
    if x.dim() != 2:
        raise ValueError(f"states x must have shape (N, 2n), got {tuple(x.shape)}")
    with torch.enable_grad():
        x = x if x.requires_grad else x.detach().requires_grad_(True)
        h = hamiltonian(x)
        if h.shape not in ((len(x),), (len(x), 1)):
            raise ValueError(f"the Hamiltonian must map (N, 2n) states to (N,) values, got shape {tuple(h.shape)}")
        dh = torch.autograd.grad(h.sum(), x, create_graph=create_graph)[0]
    dh_dq, dh_dp = dh.chunk(2, dim=-1)
    return torch.cat([dh_dp, -dh_dq], dim=-1)


# --------------------------------------------------------------------------------------------
# The mass–spring system
# --------------------------------------------------------------------------------------------


def mass_spring_energy(x: Tensor) -> Tensor:
    """H = (q² + p²)/2.  x (..., 2) -> (...)."""
    _check_states(x)
    return 0.5 * (x**2).sum(-1)


def mass_spring_solution(x0: Tensor, t: Tensor) -> Tensor:
    """The exact motion from x0 (..., 2): q(t) = q0 cos t + p0 sin t, p(t) = p0 cos t − q0 sin t.  -> (T, ..., 2)."""
    _check_states(x0, "the initial state x0")
    c, s = torch.cos(t), torch.sin(t)
    c, s = c.reshape(-1, *[1] * (x0.dim() - 1)), s.reshape(-1, *[1] * (x0.dim() - 1))
    q0, p0 = x0[..., 0], x0[..., 1]
    return torch.stack([q0 * c + p0 * s, p0 * c - q0 * s], dim=-1)


def mass_spring_data(
    n_trajectories: int = 25, n_points: int = 30, t_max: float = 3.0, noise: float = 0.1, seed: int = 0
) -> tuple[Tensor, Tensor]:
    """Training pairs (x, dx/dt), each (n_trajectories·n_points, 2), float32, as in Greydanus et al.

    Each trajectory starts on a random circle of radius in [0.1, 1] and is sampled at n_points
    times in [0, t_max]; Gaussian noise (std `noise`) is added to the states, not to the derivatives.
    """
    if min(n_trajectories, n_points) < 1 or noise < 0:
        raise ValueError(f"need n_trajectories, n_points >= 1 and noise >= 0, got {n_trajectories}, {n_points}, {noise}")
    gen = torch.Generator().manual_seed(seed)
    angle = 2 * torch.pi * torch.rand(n_trajectories, generator=gen, dtype=torch.float64)
    radius = 0.1 + 0.9 * torch.rand(n_trajectories, generator=gen, dtype=torch.float64)
    x0 = radius[:, None] * torch.stack([torch.cos(angle), torch.sin(angle)], -1)
    t = torch.linspace(0, t_max, n_points, dtype=torch.float64)
    x = mass_spring_solution(x0, t).reshape(-1, 2)
    dxdt = torch.stack([x[:, 1], -x[:, 0]], -1)  # (p, −q)
    x = x + noise * torch.randn(x.shape, generator=gen, dtype=torch.float64)
    return x.float(), dxdt.float()


# --------------------------------------------------------------------------------------------
# The two models
# --------------------------------------------------------------------------------------------


def mlp(n_in: int, n_out: int, hidden: int = 200) -> nn.Sequential:
    """Two hidden layers of `hidden` tanh units (tanh: smooth, so H_θ has smooth derivatives)."""
    return nn.Sequential(nn.Linear(n_in, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                         nn.Linear(hidden, n_out))


class HNN(nn.Module):
    """A Hamiltonian neural network: an MLP H_θ(q, p) -> (N,), whose forward pass is its vector field."""

    def __init__(self, n_dof: int = 1, hidden: int = 200):
        super().__init__()
        self.net = mlp(2 * n_dof, 1, hidden)

    def hamiltonian(self, x: Tensor) -> Tensor:
        """H_θ(x): (N, 2n) -> (N,)."""
        return self.net(x).squeeze(-1)

    def forward(self, x: Tensor) -> Tensor:
        """(∂H_θ/∂p, −∂H_θ/∂q): (N, 2n) -> (N, 2n); differentiable in θ whenever grad mode is on."""
        return hamiltonian_vector_field(self.hamiltonian, x, create_graph=torch.is_grad_enabled())


class DerivativeNet(nn.Module):
    """The baseline: an MLP of the same size that predicts dx/dt directly, (N, 2n) -> (N, 2n)."""

    def __init__(self, n_dof: int = 1, hidden: int = 200):
        super().__init__()
        self.net = mlp(2 * n_dof, 2 * n_dof, hidden)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def train_vector_field(model: nn.Module, x: Tensor, dxdt: Tensor, steps: int = 2000, lr: float = 1e-3,
                       seed: int = 0) -> History:
    """Fit model(x) ≈ dx/dt (both (N, 2n)) by mean squared error with Adam (`train.fit`), each step on
    N examples drawn at random with replacement.

    Trains on `device()` (CUDA when present), then leaves the model on the CPU, ready for `rollout`.
    Returns the History, with the final training MSE in history.metrics["train_mse"].
    """
    _check_states(x)
    if x.shape != dxdt.shape:
        raise ValueError(f"x and dxdt must have the same shape, got {tuple(x.shape)} and {tuple(dxdt.shape)}")
    history = fit(model, x, dxdt, loss_fn=nn.functional.mse_loss, steps=steps, batch_size=len(x), lr=lr, seed=seed)
    model.cpu()
    with torch.no_grad():
        history.metrics["train_mse"] = float(nn.functional.mse_loss(model(x), dxdt))
    return history


# --------------------------------------------------------------------------------------------
# Rolling out
# --------------------------------------------------------------------------------------------


def rollout(vector_field: VectorField, x0: Tensor, t: Tensor, rtol: float = 1e-7) -> Tensor:
    """Integrate dx/dt = vector_field(x) from the states x0 (B, 2n) with scipy's RK45, reporting at times t (T,).

    All B trajectories are integrated together as one system, so the field is called on (B, 2n)
    float32 states (a trained network's dtype). Returns (T, B, 2n) float64 ((T, 2n) for x0 of shape (2n,)).
    """
    _check_states(x0, "the initial states x0")
    if x0.dim() > 2 or t.dim() != 1:
        raise ValueError(f"x0 must be states (B, 2n) or one state (2n,) and t a vector (T,), "
                         f"got {tuple(x0.shape)} and {tuple(t.shape)}")
    batch = x0.reshape(-1, x0.shape[-1])

    def rhs(_, y: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            states = torch.as_tensor(y, dtype=torch.float32).reshape(batch.shape)
            return vector_field(states).double().reshape(-1).numpy()

    t_np = t.double().numpy()
    sol = solve_ivp(rhs, (t_np[0], t_np[-1]), batch.double().reshape(-1).numpy(), t_eval=t_np, rtol=rtol, atol=rtol)
    if not sol.success:
        raise RuntimeError(f"the rollout failed: {sol.message}")
    return torch.from_numpy(sol.y.T.copy()).reshape(len(t), *x0.shape)


def energy_mse(trajectory: Tensor, energy: Callable[[Tensor], Tensor], true_energy: float | Tensor) -> float:
    """Mean over time (and trajectories) of (energy(x(t)) − true energy)²: trajectory (T, ..., 2n),
    true_energy a number or a tensor broadcastable to (T, ...) (e.g. (B,): each trajectory's energy)."""
    _check_states(trajectory, "the trajectory")
    return float(((energy(trajectory) - true_energy) ** 2).mean())
