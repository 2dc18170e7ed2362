"""Exercises of the chapter "E(n)- and O(3)-equivariant networks" (solutions/egnn.ipynb)."""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn

from course_lib.checks import Case, Exercise, by_short_name, call, input_gradient, parameter_gradient
from course_lib.egnn import EGNN, PairEnergy, coordinate_update, forces, linear_time, rigid_motion
from course_lib.equivariance import equivariance_error
from course_lib.groups import O3
from course_lib.nbody import charged_nbody, coulomb_energy, initial_states


def _points(seed: int, b: int = 3, n: int = 5) -> Tensor:
    return torch.randn(b, n, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _pair_energy(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return PairEnergy(hidden=8).double()


class _Coulomb(nn.Module):
    """The Coulomb energy of fixed charges at rest, as a batch energy x (B, n, 3) -> (B,)."""

    def __init__(self, charges: Tensor):
        super().__init__()
        self.register_buffer("charges", charges)

    def forward(self, x: Tensor) -> Tensor:
        return coulomb_energy(x, torch.zeros_like(x), self.charges)


def _forces_cases() -> list[Case]:
    x, _, q = initial_states(3, seed=4)
    return [
        Case("two unlike charges at rest one unit apart (they attract: the forces point at each "
             "other, size 1)", (_Coulomb(torch.tensor([[1.0, -1.0]], dtype=torch.float64)),
                                torch.tensor([[[0.0, 0, 0], [1.0, 0, 0]]], dtype=torch.float64))),
        Case("the Coulomb energy of 3 random systems of 5 charges", (_Coulomb(q), x)),
        Case("a small PairEnergy network on 3 systems of 5 points (the answer and its gradient "
             "with respect to the network's weights)", (_pair_energy(0), _points(0))),
        Case("another PairEnergy on one system of 4 points", (_pair_energy(1), _points(1, b=1, n=4))),
    ]


def _update_cases() -> list[Case]:
    g = torch.Generator().manual_seed(5)
    x = torch.tensor([[[0.0, 0, 0], [1.0, 0, 0], [0.0, 2, 0]]], dtype=torch.float64)
    return [
        Case("3 points, every weight 1", (x, torch.ones(1, 3, 3, dtype=torch.float64))),
        Case("3 points, weights w_01 = 2 and all others 0 (only point 0 moves)",
             (x, torch.tensor([[[0.0, 2, 0], [0, 0, 0], [0, 0, 0]]], dtype=torch.float64))),
        Case("2 systems of 5 random points with random, non-symmetric weights",
             (torch.randn(2, 5, 3, generator=g, dtype=torch.float64),
              torch.randn(2, 5, 5, generator=g, dtype=torch.float64))),
        Case("4 points in 2D with random weights",
             (torch.randn(1, 4, 2, generator=g, dtype=torch.float64),
              torch.randn(1, 4, 4, generator=g, dtype=torch.float64))),
        Case("3 systems of 7 points in 5D with random weights",
             (torch.randn(3, 7, 5, generator=g, dtype=torch.float64),
              torch.randn(3, 7, 7, generator=g, dtype=torch.float64))),
        Case("2 systems of 2 points in 3D (n − 1 = 1) with random weights",
             (torch.randn(2, 2, 3, generator=g, dtype=torch.float64),
              torch.randn(2, 2, 2, generator=g, dtype=torch.float64))),
    ]


def _equivariance_reference(f: Callable[[Tensor], Tensor], x: Tensor, rotation: Tensor,
                            shift: Tensor) -> float:
    return equivariance_error(f, lambda g, y: rigid_motion(y, *g), lambda g, y: rigid_motion(y, *g),
                              x, [(rotation, shift)])


def _stretch(x: Tensor) -> Tensor:
    """Not equivariant: stretches the first axis."""
    return x * torch.tensor([2.0, 1.0, 1.0], dtype=x.dtype)


def _towards_mean(x: Tensor) -> Tensor:
    """Equivariant: halfway to the centre of each system."""
    return 0.5 * (x + x.mean(1, keepdim=True))


def _egnn_positions(seed: int) -> Callable[[Tensor], Tensor]:
    torch.manual_seed(seed)
    model = EGNN(hidden=8, layers=2).double()
    for layer in model.layers:
        with torch.no_grad():
            layer.phi_x[-1].weight.normal_()
    v = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    q = torch.tensor([[1.0, -1, 1, 1, -1]] * 2, dtype=torch.float64)

    def positions(x: Tensor) -> Tensor:
        """An EGNN's predicted positions with the velocities held fixed: not equivariant,
        since the velocities do not turn with x."""
        with torch.no_grad():
            return model(x, v, q)
    return positions


def _equivariance_cases() -> list[Case]:
    g = torch.Generator().manual_seed(6)
    qs = O3().sample(4, g)
    reflection = qs[0] if torch.linalg.det(qs[0]) < 0 else -qs[0]
    x = torch.randn(2, 5, 3, generator=g, dtype=torch.float64)
    shift = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    return [
        Case("f(x) = halfway to each system's centre (equivariant: the answer is ~1e-16), a "
             "rotation and a shift", (_towards_mean, x, qs[1], shift)),
        Case("f stretches the first axis, a rotation, no shift",
             (_stretch, x, qs[2], torch.zeros(3, dtype=torch.float64))),
        Case("f stretches the first axis, a reflection and a shift", (_stretch, x, reflection, shift)),
        Case("f = an EGNN's positions with the velocities held fixed (they do not turn with x), "
             "a rotation and a shift", (_egnn_positions(0), x, qs[3], shift)),
    ]


def _linear_time_cases() -> list[Case]:
    data = charged_nbody(20, seed=7, start_step=300, steps_ahead=500)
    g = torch.Generator().manual_seed(8)
    x, v = torch.randn(4, 2, 3, generator=g), torch.randn(4, 2, 3, generator=g)
    return [
        Case("targets exactly x + 0.5·v", (x, v, x + 0.5 * v)),
        Case("targets x + 2·v plus noise", (x, v, x + 2 * v + 0.1 * torch.randn(4, 2, 3, generator=g))),
        Case("20 simulated charged systems, 500 steps ahead", (data.x, data.v, data.target)),
    ]


def _forces_run(fn: Callable, case: Case) -> Tensor:
    return fn(*case.args)


EXERCISES = by_short_name(
    Exercise(
        name="egnn.forces",
        reference=forces,
        cases=_forces_cases,
        run=parameter_gradient(_forces_run),
        hint="the force is minus the gradient of the energy with respect to the positions: make x "
             "a leaf that requires grad, sum the energies of the batch (each system's energy "
             "depends only on its own points) and use torch.autograd.grad with create_graph=True, "
             "so that a loss on the forces can train the energy's weights.",
        rtol=1e-6, atol=1e-9,
    ),
    Exercise(
        name="egnn.coordinate_update",
        reference=coordinate_update,
        cases=_update_cases,
        hint="x_i moves along the differences x_i − x_j (from j towards i), each weighted by w_ij "
             "(row i of the weights), and the sum over the n − 1 other points is averaged: divide "
             "by n − 1. Return the new positions, not the step. It is a layer of the EGNN: stay with "
             "torch operations, so that gradients reach x and the weights (the check compares them).",
        rtol=1e-9, atol=1e-12,
        run=input_gradient(),
    ),
    Exercise(
        name="egnn.equivariance_error",
        reference=_equivariance_reference,
        cases=_equivariance_cases,
        hint="a point is a row of x, so the motion is x @ Q.T + t (for a non-symmetric Q, x @ Q is "
             "the inverse rotation); move the input, apply f; apply f, move the output the same "
             "way (shift included); divide the norm of the difference by the norm of f(x).",
        rtol=1e-6, atol=1e-6,  # round-off of an equivariant float32 map is ~1e-7
    ),
    Exercise(
        name="egnn.linear_time",
        reference=linear_time,
        cases=_linear_time_cases,
        hint="minimise Σ |x + t·v − target|² over the single number t: the derivative in t is "
             "linear in t; sum over every particle and coordinate of every system at once.",
        rtol=1e-5, atol=1e-7,
    ),
)
