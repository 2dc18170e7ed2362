"""Exercises of the chapter "What do we mean by symmetry?" (solutions/symmetry.ipynb)."""

from __future__ import annotations

import functools

import torch

from course_lib import hnn, mechanics
from course_lib.checks import Case, Exercise, parameter_gradient
from course_lib.groups import DihedralGroup, dihedral_act_image
from course_lib.symmetry import d4_symmetry_mask

F64 = torch.float64


def _angular_momentum_cases() -> list[Case]:
    gen = torch.Generator().manual_seed(0)
    orbit = mechanics.simulate(torch.tensor([1.0, 0.0], dtype=F64), torch.tensor([0.0, 0.8], dtype=F64),
                               mechanics.central_force, dt=0.1, n_steps=20)
    clockwise = mechanics.simulate(torch.tensor([0.0, 2.0], dtype=F64), torch.tensor([0.5, 0.0], dtype=F64),
                                   mechanics.central_force, dt=0.1, n_steps=20)
    t = torch.linspace(0, 1, 6, dtype=F64)[:, None]
    line_q, line_p = torch.tensor([1.0, -1.0], dtype=F64) + t * torch.tensor([0.3, 0.2], dtype=F64), \
        torch.tensor([[0.3, 0.2]], dtype=F64).expand(6, 2)
    return [
        Case("a counter-clockwise orbit around the origin, q and p of shape (21, 2)", (orbit.q, orbit.p)),
        Case("a clockwise orbit (L < 0), q and p of shape (21, 2)", (clockwise.q, clockwise.p)),
        Case("a free particle moving on a straight line (L constant), shape (6, 2)", (line_q, line_p)),
        Case("random q and p of shape (5, 2)", (torch.randn(5, 2, generator=gen, dtype=F64),
                                                torch.randn(5, 2, generator=gen, dtype=F64))),
    ]


_SUBGROUPS = {  # name -> elements (k, f) of a subgroup of D4 that the pattern is made symmetric under
    "no symmetry but the identity": [(0, 0)],
    "the half turn r^2 only": [(0, 0), (2, 0)],
    "the quarter turns (C4), no mirror": [(0, 0), (1, 0), (2, 0), (3, 0)],
    "one mirror, s": [(0, 0), (0, 1)],
    "one diagonal mirror, r s": [(0, 0), (1, 1)],
    "the half turn and two mirrors (like a rectangle)": [(0, 0), (2, 0), (0, 1), (2, 1)],
    "all of D4 (like a square)": DihedralGroup(4).elements(),
}


def _pattern_cases() -> list[Case]:
    gen = torch.Generator().manual_seed(1)
    cases = []
    for i, (name, subgroup) in enumerate(_SUBGROUPS.items()):
        size = 5 + i % 3
        seed = torch.randint(0, 2, (size, size), generator=gen).to(F64)
        pattern = sum(dihedral_act_image(seed, g) for g in subgroup)  # symmetric under the subgroup, integers
        cases.append(Case(f"a {size}×{size} pattern with {name}", (pattern,)))
    # atol is part of the answer: a pattern symmetric only up to noise, with the default atol and a given one
    seed6, seed5 = torch.randint(0, 2, (6, 6), generator=gen).to(F64), torch.randint(0, 2, (5, 5), generator=gen).to(F64)
    square = sum(dihedral_act_image(seed6, g) for g in DihedralGroup(4).elements())
    mirror = sum(dihedral_act_image(seed5, g) for g in [(0, 0), (0, 1)])
    noise = (2 * torch.rand(6, 6, generator=gen, dtype=F64) - 1)
    return cases + [
        Case("a 6×6 pattern with all of D4 plus round-off of size 1e-9 (the default atol = 1e-6: every element "
             "leaves it unchanged within atol)", (square + 1e-9 * noise,)),
        Case("a 5×5 pattern with one mirror, s, plus noise of size 1e-3, atol = 1e-2 (the second argument: "
             "the identity and s leave it unchanged within atol)", (mirror + 1e-3 * noise[:5, :5], 1e-2)),
        Case("the same 5×5 pattern and noise with atol = 1e-4 (only the identity)", (mirror + 1e-3 * noise[:5, :5], 1e-4)),
        # the largest entry of the gap decides: not its mean, its norm or half of it
        Case("the 6×6 pattern with all of D4 and one entry raised by 0.3, atol = 0.2 (only the elements that "
             "leave that entry where it is)", (_raised(square, (0, 1), 0.3), 0.2)),
        Case("the 6×6 pattern with all of D4 plus ±0.09 on every entry, atol = 0.2 (every entry of every gap "
             "is at most 0.18, so all 8, although the norm of a gap is far above 0.2)",
             (square + 0.09 * torch.sign(noise), 0.2)),
        # the largest |entry|: a gap's signed max or -min misses a drop or a rise
        Case("a 6×6 of zeros with 0, 0.1, 0.2, 0.3 on the four points of one orbit of the quarter turn r, "
             "atol = 0.25 (the identity, gap 0, and r², gap 0.2 in size; every other element's is 0.3)",
             (_one_orbit(6), 0.25)),
    ]


def _one_orbit(size: int) -> torch.Tensor:
    """(size, size) zeros with 0, 0.1, 0.2, 0.3 at the images of the point (0, 1) under r^0..r^3."""
    point = torch.zeros(size, size, dtype=F64)
    point[0, 1] = 1.0
    return sum(v * dihedral_act_image(point, (k, 0)) for k, v in enumerate([0.0, 0.1, 0.2, 0.3]))


def _raised(pattern: torch.Tensor, at: tuple[int, int], by: float) -> torch.Tensor:
    out = pattern.clone()
    out[at] += by
    return out


def _verlet_cases() -> list[Case]:
    masses = torch.tensor([1.0, 0.5], dtype=F64)
    return [
        Case("a spring F = −q in 1D, q = [1], p = [0], dt = 0.1",
             (torch.tensor([1.0], dtype=F64), torch.tensor([0.0], dtype=F64), mechanics.harmonic_force, 0.1, 1.0)),
        Case("the central force F = −q/|q|³, q = [1, 0], p = [0, 0.8], dt = 0.05",
             (torch.tensor([1.0, 0.0], dtype=F64), torch.tensor([0.0, 0.8], dtype=F64),
              mechanics.central_force, 0.05, 1.0)),
        Case("a spring with mass m = 2 (q moves by dt·p/m), dt = 0.3",
             (torch.tensor([0.5, -1.0], dtype=F64), torch.tensor([1.0, 0.2], dtype=F64),
              mechanics.harmonic_force, 0.3, 2.0)),
        Case("two bodies under gravity, q, p of shape (2, 2), masses [1, 0.5] as mass of shape (2, 1)",
             (torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=F64), torch.tensor([[0.0, 0.3], [0.1, -0.4]], dtype=F64),
              functools.partial(mechanics.pairwise_gravity, masses=masses), 0.05, masses[:, None])),
    ]


def _hamiltonian_cases() -> list[Case]:
    gen = torch.Generator().manual_seed(2)
    x2 = torch.randn(6, 2, generator=gen, dtype=F64)
    x4 = torch.randn(5, 4, generator=gen, dtype=F64)
    torch.manual_seed(0)
    network = hnn.HNN(hidden=8).double().net  # an nn.Module: H_θ (N, 2) -> (N, 1)
    return [
        Case("the spring H = (q² + p²)/2 on 6 states (6, 2)", (hnn.mass_spring_energy, x2)),
        Case("the pendulum H = p²/2 + 1 − cos q on 6 states (6, 2)",
             (lambda x: 0.5 * x[:, 1] ** 2 + 1 - torch.cos(x[:, 0]), x2)),
        Case("H = q p² (mixes q and p) on 6 states (6, 2)", (lambda x: x[:, 0] * x[:, 1] ** 2, x2)),
        Case("two coupled oscillators H = (p1² + p2²)/2 + (q1² + q2²)/2 + q1 q2, states (5, 4) = (q1, q2, p1, p2)",
             (lambda x: 0.5 * (x[:, 2:] ** 2).sum(1) + 0.5 * (x[:, :2] ** 2).sum(1) + x[:, 0] * x[:, 1], x4)),
        Case("a small network H_θ (an nn.Module returning shape (N, 1)), states (6, 2); the answer must "
             "stay differentiable in the network's parameters, so that an HNN can be trained through it",
             (network, x2)),
    ]


EXERCISES = {
    ex.name.split(".", 1)[1]: ex
    for ex in [
        Exercise(
            name="symmetry.angular_momentum",
            reference=mechanics.angular_momentum,
            cases=_angular_momentum_cases,
            hint="L is the z-component of the cross product q × p, one number per time: check which "
                 "product comes first (a counter-clockwise orbit has L > 0) and that the shape is (T,).",
            rtol=1e-9, atol=1e-12,
        ),
        Exercise(
            name="symmetry.d4_symmetry_mask",
            reference=d4_symmetry_mask,
            cases=_pattern_cases,
            hint="transform the pattern by each element, in the order of DihedralGroup(4).elements(), and "
                 "ask whether it came back unchanged within atol (the largest |entry| of the difference at most "
                 "the atol you are given, not exact equality and not a tolerance of your own); the answer is "
                 "8 booleans.",
            rtol=0, atol=0,
        ),
        Exercise(
            name="symmetry.verlet_step",
            reference=mechanics.velocity_verlet_step,
            cases=_verlet_cases,
            hint="each half kick uses the force at the positions of that moment (old, then new), the drift "
                 "uses the momentum after the first half kick, and the mass divides momentum only in the drift.",
            rtol=1e-9, atol=1e-12,
        ),
        Exercise(
            name="symmetry.hamiltonian_vector_field",
            reference=hnn.hamiltonian_vector_field,
            cases=_hamiltonian_cases,
            hint="the gradient of H with respect to the states holds ∂H/∂q in its first half of the columns "
                 "and ∂H/∂p in the second: mind the order and the sign. To train a network through the "
                 "answer, autograd must keep the graph of that gradient (see torch.autograd.grad's options).",
            rtol=1e-7, atol=1e-10,
            run=parameter_gradient(),
        ),
    ]
}
