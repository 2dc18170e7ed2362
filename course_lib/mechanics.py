"""Classical mechanics with a symplectic integrator (chapter "What do we mean by symmetry?").

A system of n particles in d dimensions has positions q and momenta p, tensors of shape (..., n, d)
(a single particle may drop the n axis: (..., d)). Newton's law dq/dt = p/m, dp/dt = F(q) is
integrated with velocity Verlet (the "leapfrog"): half a kick, a drift, half a kick. Each of the
three sub-steps is exactly the flow of a simple Hamiltonian, so the method is symplectic; when the
force respects a symmetry, so does every sub-step, and the quantity that Noether's theorem attaches
to that symmetry is kept up to round-off {Hairer et al., Geometric Numerical Integration, ch. VI}:

    rotations    -> angular momentum   L = q × p
    translations -> total momentum     P = Σ_i p_i
    time shifts  -> energy             E = Σ_i |p_i|²/2m_i + V(q)   (Verlet: bounded error, O(dt²))

Forces are plain functions of the positions; `functools.partial` fixes their parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

Force = Callable[[Tensor], Tensor]  # positions (..., d) -> forces (..., d)


def _check_vectors(q: Tensor, what: str, min_dim: int = 1) -> None:
    if not isinstance(q, Tensor) or q.dim() < min_dim or q.shape[-1] < 1:
        got = tuple(q.shape) if isinstance(q, Tensor) else type(q).__name__
        raise ValueError(f"{what} must be a tensor of shape {'(..., n, d)' if min_dim == 2 else '(..., d)'}, got {got}")


# --------------------------------------------------------------------------------------------
# Forces and potentials
# --------------------------------------------------------------------------------------------


def central_force(q: Tensor, strength: float = 1.0) -> Tensor:
    """Newtonian attraction to the origin, F = −k q / |q|³.  q (..., d) -> (..., d).

    It points along q, so it exerts no torque: rotations about the origin are a symmetry.
    """
    _check_vectors(q, "positions q")
    return -strength * q / q.norm(dim=-1, keepdim=True) ** 3


def central_potential(q: Tensor, strength: float = 1.0) -> Tensor:
    """The potential of `central_force`, V = −k / |q|.  q (..., d) -> (...)."""
    _check_vectors(q, "positions q")
    return -strength / q.norm(dim=-1)


def harmonic_force(q: Tensor, stiffness: float = 1.0) -> Tensor:
    """A spring to the origin, F = −κ q (each particle separately).  q (..., d) -> (..., d)."""
    _check_vectors(q, "positions q")
    return -stiffness * q


def uniform_force(q: Tensor, field: Tensor) -> Tensor:
    """The same force `field` (d,) on every particle, e.g. gravity near the ground.  q (..., d) -> (..., d)."""
    _check_vectors(q, "positions q")
    if field.shape != q.shape[-1:]:
        raise ValueError(f"the field must have shape ({q.shape[-1]},) like one position, got {tuple(field.shape)}")
    return field.to(q).expand_as(q)


def pairwise_gravity(q: Tensor, masses: Tensor, g: float = 1.0) -> Tensor:
    """Newton's gravitation between n bodies, F_i = Σ_{j≠i} G m_i m_j (q_j − q_i) / |q_j − q_i|³.

    q (..., n, d), masses (n,) -> forces (..., n, d). F_ij = −F_ji exactly (Newton's third law), so
    the forces add up to zero: translations are a symmetry and total momentum is conserved.
    """
    _check_vectors(q, "positions q", min_dim=2)
    n = q.shape[-2]
    if masses.shape != (n,):
        raise ValueError(f"masses must have shape ({n},), one per body, got {tuple(masses.shape)}")
    diff = q[..., None, :, :] - q[..., :, None, :]  # [i, j] = q_j − q_i: (..., n, n, d)
    self_pair = torch.eye(n, dtype=torch.bool, device=q.device)[..., None]
    dist = diff.norm(dim=-1, keepdim=True).masked_fill(self_pair, torch.inf)  # no self-force
    mm = (masses[:, None] * masses[None, :]).to(q)[..., None]
    return (g * mm * diff / dist**3).sum(dim=-2)


def gravity_potential(q: Tensor, masses: Tensor, g: float = 1.0) -> Tensor:
    """The potential of `pairwise_gravity`, V = −Σ_{i<j} G m_i m_j / |q_i − q_j|.  q (..., n, d) -> (...)."""
    _check_vectors(q, "positions q", min_dim=2)
    n = q.shape[-2]
    if masses.shape != (n,):
        raise ValueError(f"masses must have shape ({n},), one per body, got {tuple(masses.shape)}")
    i, j = torch.triu_indices(n, n, offset=1, device=q.device)
    masses = masses.to(q)
    dist = (q[..., i, :] - q[..., j, :]).norm(dim=-1)
    return -(g * masses[i] * masses[j] / dist).sum(-1)


# --------------------------------------------------------------------------------------------
# Conserved quantities
# --------------------------------------------------------------------------------------------


def angular_momentum(q: Tensor, p: Tensor) -> Tensor:
    """L = q × p of each particle: (..., 2) -> (...) (the z-component, x p_y − y p_x); (..., 3) -> (..., 3)."""
    if q.shape != p.shape or q.shape[-1:] not in ((2,), (3,)):
        raise ValueError(f"q and p must have the same shape (..., 2) or (..., 3), got {tuple(q.shape)} and {tuple(p.shape)}")
    if q.shape[-1] == 2:
        return q[..., 0] * p[..., 1] - q[..., 1] * p[..., 0]
    return torch.linalg.cross(q, p, dim=-1)


def total_momentum(p: Tensor) -> Tensor:
    """P = Σ_i p_i over the n bodies.  p (..., n, d) -> (..., d)."""
    _check_vectors(p, "momenta p", min_dim=2)
    return p.sum(dim=-2)


def kinetic_energy(p: Tensor, mass: float | Tensor = 1.0) -> Tensor:
    """|p|² / 2m of each particle.  p (..., d), mass a number or broadcastable to (..., 1) -> (...)."""
    _check_vectors(p, "momenta p")
    return (p**2 / (2 * torch.as_tensor(mass).to(p))).sum(-1)


def relative_drift(values: Tensor) -> Tensor:
    """How far a quantity has moved from its start: |x(t) − x(0)| / |x(0)|.  (T, ...) -> (T,)."""
    if values.dim() < 1 or len(values) == 0:
        raise ValueError(f"values must have a time axis first, (T, ...), got shape {tuple(values.shape)}")
    v = values.reshape(len(values), -1)
    return (v - v[0]).norm(dim=-1) / v[0].norm().clamp_min(torch.finfo(v.dtype).tiny)


# --------------------------------------------------------------------------------------------
# Velocity Verlet
# --------------------------------------------------------------------------------------------


def velocity_verlet_step(q: Tensor, p: Tensor, force: Force, dt: float, mass: float | Tensor = 1.0) -> tuple[Tensor, Tensor]:
    """One step of velocity Verlet: p ← p + dt/2 F(q);  q ← q + dt p/m;  p ← p + dt/2 F(q).

    q, p (..., d) (or (..., n, d) with mass (n, 1)); returns the new (q, p) of the same shapes.
    """
    if q.shape != p.shape:
        raise ValueError(f"q and p must have the same shape, got {tuple(q.shape)} and {tuple(p.shape)}")
    p_half = p + 0.5 * dt * force(q)
    q_new = q + dt * p_half / mass
    return q_new, p_half + 0.5 * dt * force(q_new)


@dataclass
class Trajectory:
    """A simulated motion: times t (T+1,), positions q and momenta p (T+1, *state shape)."""

    t: Tensor
    q: Tensor
    p: Tensor


def simulate(q0: Tensor, p0: Tensor, force: Force, dt: float, n_steps: int, mass: float | Tensor = 1.0) -> Trajectory:
    """Integrate dq/dt = p/m, dp/dt = force(q) from (q0, p0) with `n_steps` velocity-Verlet steps of size dt.

    q0, p0 (*shape) (float64 recommended: conservation is then visible down to ~1e-13).
    """
    if q0.shape != p0.shape:
        raise ValueError(f"q0 and p0 must have the same shape, got {tuple(q0.shape)} and {tuple(p0.shape)}")
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1 or not dt > 0:
        raise ValueError(f"need an int n_steps >= 1 and dt > 0, got n_steps={n_steps!r}, dt={dt!r}")
    if force(q0).shape != q0.shape:
        raise ValueError(f"force(q) must have the shape of q, {tuple(q0.shape)}, got {tuple(force(q0).shape)}")
    qs, ps = [q0], [p0]
    for _ in range(n_steps):
        q, p = velocity_verlet_step(qs[-1], ps[-1], force, dt, mass)
        qs.append(q)
        ps.append(p)
    t = dt * torch.arange(n_steps + 1, dtype=q0.dtype, device=q0.device)
    return Trajectory(t, torch.stack(qs), torch.stack(ps))
