"""The charged-particle n-body system of Kipf et al. (2018), as used by Satorras et al. (2021)
(chapter "E(n)- and O(3)-equivariant networks").

Five particles in 3D, each with a charge ±1, pull (unlike charges) or push (like charges) each other
with the Coulomb force  F_i = k Σ_j q_i q_j (x_i − x_j) / |x_i − x_j|³,  each component clipped at
±0.1/dt as in the original simulator (it only acts at near-collisions). The integrator is the
original's semi-implicit (symplectic) Euler with dt = 0.001: v += dt·F(x), then x += dt·v. No box:
like the EGNN paper, the particles move freely.

The learning task: from the positions, velocities and charges at simulator step 3000, predict the
positions 1000 steps later. Everything is simulated here from a seed; nothing is downloaded.

Frames of the original data set. The EGNN paper's generator (Kipf et al.'s `sample_trajectory`,
sample_freq 100) stores the initial state in slot 0 and then overwrites it: at step i = 100 the
state goes to slot 0, at i = 200 to slot 1, and so on, so its frame k is simulator step
100·(k + 1) (`original_frame_step`). The paper's input and target, frames 30 and 40, are steps
3100 and 4100: the same 1000 steps ahead, started 100 steps later than the default here
(`charged_nbody(start_step=3100)` gives the original's frames exactly).

The original data set itself (`original_dataset`): its generator was run once, with numpy's legacy
generator seeded 43 (`generate_dataset.py --num-train 10000 --seed 43 --sufix small`); drawing its
initial conditions again in the same order and integrating them here gives its systems, so a
result can be compared with the paper's on the paper's own draw, not only on one of ours.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

DT = 0.001


def _check_state(x: Tensor, v: Tensor, charges: Tensor) -> None:
    if x.dim() != 3 or x.shape != v.shape:
        raise ValueError(f"positions and velocities are (B, n, d) of one shape, got {tuple(x.shape)} "
                         f"and {tuple(v.shape)}")
    if charges.shape != x.shape[:2]:
        raise ValueError(f"charges are (B, n) = {tuple(x.shape[:2])}, got {tuple(charges.shape)}")


def coulomb_forces(x: Tensor, charges: Tensor, strength: float = 1.0,
                   max_force: float | None = 0.1 / DT) -> Tensor:
    """F_i = strength Σ_{j≠i} q_i q_j (x_i − x_j) / |x_i − x_j|³, each component clipped at
    ±max_force (None: no clipping).  x (B, n, d), charges (B, n) -> forces (B, n, d)."""
    if x.dim() != 3 or charges.shape != x.shape[:2]:
        raise ValueError(f"expected x (B, n, d) and charges (B, n), got {tuple(x.shape)} and "
                         f"{tuple(charges.shape)}")
    i, j = torch.triu_indices(x.shape[1], x.shape[1], 1, device=x.device)    # each pair once
    diff = x[:, i] - x[:, j]                                          # (B, pairs, d): x_i − x_j
    r2 = (diff**2).sum(-1)
    push = (strength * charges[:, i] * charges[:, j] / (r2 * r2.sqrt()))[..., None] * diff
    forces = torch.zeros_like(x).index_add_(1, i, push).index_add_(1, j, -push)  # Newton's third law
    return forces if max_force is None else forces.clamp(-max_force, max_force)


def coulomb_energy(x: Tensor, v: Tensor, charges: Tensor, strength: float = 1.0) -> Tensor:
    """Total energy Σ_i |v_i|²/2 + strength Σ_{i<j} q_i q_j / |x_i − x_j| (unit masses).
    x, v (B, n, d), charges (B, n) -> (B,)."""
    _check_state(x, v, charges)
    r = torch.cdist(x, x)
    pairs = torch.triu(torch.ones_like(r[0], dtype=torch.bool), diagonal=1)
    potential = (strength * charges[:, :, None] * charges[:, None] / r)[:, pairs].sum(-1)
    return 0.5 * (v**2).sum((-1, -2)) + potential


@dataclass(frozen=True)
class Trajectory:
    """Recorded states: positions and velocities (B, T, n, d), and the charges (B, n)."""

    x: Tensor
    v: Tensor
    charges: Tensor


def simulate(x0: Tensor, v0: Tensor, charges: Tensor, n_steps: int, dt: float = DT,
             record_every: int = 100, strength: float = 1.0, clip: bool = True) -> Trajectory:
    """Integrate the charged system for n_steps of symplectic Euler, the original simulator's
    order (v += dt·F(x) before the first step; then x += dt·v, record, v += dt·F(x)).

    x0, v0 (B, n, d), charges (B, n) -> Trajectory with the states at steps 0, record_every,
    2·record_every, ... ≤ n_steps: (B, n_steps // record_every + 1, n, d)."""
    _check_state(x0, v0, charges)
    if n_steps < 1 or record_every < 1:
        raise ValueError(f"n_steps and record_every are positive, got {n_steps} and {record_every}")
    max_force = 0.1 / dt if clip else None
    x, v = x0.clone(), v0.clone()
    xs, vs = [x.clone()], [v.clone()]
    v = v + dt * coulomb_forces(x, charges, strength, max_force)
    for step in range(1, n_steps + 1):
        x = x + dt * v
        if step % record_every == 0:
            xs.append(x.clone())
            vs.append(v.clone())
        v = v + dt * coulomb_forces(x, charges, strength, max_force)
    return Trajectory(torch.stack(xs, 1), torch.stack(vs, 1), charges)


def initial_states(n_systems: int, n_particles: int = 5, dim: int = 3, seed: int = 0,
                   loc_std: float = 1.0, speed: float = 0.5) -> tuple[Tensor, Tensor, Tensor]:
    """The original's initial conditions, float64: positions N(0, loc_std²) per coordinate,
    velocities in random directions with |v_i| = speed, charges ±1 with probability ½ each.
    -> x0, v0 (n_systems, n_particles, dim), charges (n_systems, n_particles)."""
    if n_systems < 1 or n_particles < 2 or dim < 1:
        raise ValueError(f"need n_systems >= 1, n_particles >= 2, dim >= 1, got {n_systems}, "
                         f"{n_particles}, {dim}")
    g = torch.Generator().manual_seed(seed)
    x0 = loc_std * torch.randn(n_systems, n_particles, dim, generator=g, dtype=torch.float64)
    v0 = torch.randn(n_systems, n_particles, dim, generator=g, dtype=torch.float64)
    v0 = speed * v0 / v0.norm(dim=-1, keepdim=True)
    charges = torch.where(torch.rand(n_systems, n_particles, generator=g) < 0.5, -1.0, 1.0)
    return x0, v0, charges.to(torch.float64)


def original_frame_step(frame: int, sample_freq: int = 100) -> int:
    """The simulator step of frame `frame` in the original generator's saved trajectories:
    100·(frame + 1) at its sample_freq of 100 (slot 0 holds step sample_freq, not step 0)."""
    if frame < 0 or sample_freq < 1:
        raise ValueError(f"frame >= 0 and sample_freq >= 1 expected, got {frame} and {sample_freq}")
    return sample_freq * (frame + 1)


def original_initial_states(counts: tuple[int, ...] = (10000, 2000, 2000), seed: int = 43,
                            n_particles: int = 5, dim: int = 3, length: int = 5000,
                            sample_freq: int = 100) -> list[tuple[Tensor, Tensor, Tensor]]:
    """The initial conditions of the EGNN paper's data set, drawn again (float64): numpy's legacy
    generator seeded `seed`, consumed in the order of the original `sample_trajectory` for each
    system (charges, positions, velocities, then two noise arrays of shape
    (length/sample_freq − 1, dim, n) that are drawn although their variance is 0), for the
    training, validation and test systems in turn (`counts`), as `generate_dataset.py` draws them.
    Positions beyond the original's box (±5) are reflected into it and their velocities turned
    inwards, as its `_clamp` does once at the start. -> [(x0, v0 (N, n, dim), charges (N, n))] per
    split."""
    if seed < 0 or min(counts, default=0) < 1 or n_particles < 2 or length % sample_freq:
        raise ValueError(f"need seed >= 0, counts >= 1, n_particles >= 2 and length a multiple of "
                         f"sample_freq, got {seed}, {counts}, {n_particles}, {length}, {sample_freq}")
    rng, box, saved = np.random.RandomState(seed), 5.0, length // sample_freq - 1
    splits = []
    for count in counts:
        xs, vs, qs = [], [], []
        for _ in range(count):
            q = rng.choice(np.array([-1.0, 0.0, 1.0]), size=(n_particles, 1), p=[0.5, 0.0, 0.5])[:, 0]
            x, v = rng.randn(dim, n_particles), rng.randn(dim, n_particles)
            v = v * 0.5 / np.sqrt((v ** 2).sum(axis=0, keepdims=True))
            over, under = x > box, x < -box
            x[over], v[over] = 2 * box - x[over], -np.abs(v[over])
            x[under], v[under] = -2 * box - x[under], np.abs(v[under])
            rng.randn(saved, dim, n_particles), rng.randn(saved, dim, n_particles)  # the noise
            xs.append(x.T), vs.append(v.T), qs.append(q)
        splits.append(tuple(torch.tensor(np.stack(a), dtype=torch.float64) for a in (xs, vs, qs)))
    return splits


def original_dataset(n_train: int = 3000, n_valid: int = 2000, n_test: int = 2000
                     ) -> tuple[NBodyData, NBodyData, NBodyData]:
    """The EGNN paper's training, validation and test systems (the first n of each of its splits,
    as its loader takes them), simulated here: input at frame 30 (step 3100), target at frame 40
    (step 4100). -> (train, valid, test)."""
    limits = (10000, 2000, 2000)
    if not all(1 <= n <= m for n, m in zip((n_train, n_valid, n_test), limits)):
        raise ValueError(f"the original splits hold {limits} systems, got {(n_train, n_valid, n_test)}")
    return tuple(benchmark_split(x0[:n], v0[:n], q[:n], original_frame_step(30), 1000)
                 for (x0, v0, q), n in zip(original_initial_states(), (n_train, n_valid, n_test)))


@dataclass(frozen=True)
class NBodyData:
    """One split of the benchmark, float32: positions x, velocities v (N, n, 3) and charges (N, n)
    at the input step, and the positions `target` (N, n, 3) `steps_ahead` steps later."""

    x: Tensor
    v: Tensor
    charges: Tensor
    target: Tensor
    steps_ahead: int

    def __len__(self) -> int:
        return len(self.x)

    def transformed(self, rotation: Tensor, shift: Tensor) -> "NBodyData":
        """The same systems moved rigidly: x -> x Rᵀ + shift, v -> v Rᵀ, target -> target Rᵀ +
        shift (rotation (3, 3) orthogonal, shift (3,)). The physics is the same."""
        r, s = rotation.to(self.x), shift.to(self.x)
        return NBodyData(self.x @ r.T + s, self.v @ r.T, self.charges, self.target @ r.T + s,
                         self.steps_ahead)


def charged_nbody(n_samples: int, seed: int, start_step: int = 3000, steps_ahead: int = 1000,
                  n_particles: int = 5) -> NBodyData:
    """`n_samples` systems simulated from `initial_states(seed=seed)` to start_step + steps_ahead:
    the input is the state at start_step, the target the positions steps_ahead later. The
    default (3000 -> 4000) starts 100 steps earlier than the EGNN paper's frames 30 and 40, which
    are steps 3100 and 4100 (`original_frame_step`); start_step=3100 gives those."""
    return benchmark_split(*initial_states(n_samples, n_particles, seed=seed), start_step, steps_ahead)


def benchmark_split(x0: Tensor, v0: Tensor, charges: Tensor, start_step: int, steps_ahead: int) -> NBodyData:
    """Systems started at x0, v0 (N, n, d) with charges (N, n), simulated to start_step +
    steps_ahead: the input is the state at start_step, the target the positions steps_ahead later."""
    if start_step < 0 or steps_ahead < 1:
        raise ValueError(f"start_step >= 0 and steps_ahead >= 1 expected, got {start_step}, {steps_ahead}")
    if start_step > 0:
        early = simulate(x0, v0, charges, start_step, record_every=start_step)
        x0, v0 = early.x[:, -1], early.v[:, -1]
    later = simulate(x0, v0, charges, steps_ahead, record_every=steps_ahead)
    f = torch.float32
    return NBodyData(x0.to(f), v0.to(f), charges.to(f), later.x[:, -1].to(f), steps_ahead)


__all__ = ["DT", "coulomb_forces", "coulomb_energy", "Trajectory", "simulate", "initial_states",
           "original_frame_step", "NBodyData", "charged_nbody", "benchmark_split", "original_initial_states",
           "original_dataset"]
