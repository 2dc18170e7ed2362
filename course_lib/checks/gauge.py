"""Exercises of the chapter "Gauge-equivariant networks" (solutions/gauge.ipynb)."""

from __future__ import annotations

import math

import torch

from course_lib.checks import Case, Exercise, by_short_name
from course_lib.lattice import gauge_transform as _gauge_transform
from course_lib.lattice import (plaquettes, random_gauge, random_links, topological_charge,
                                u1_links, wilson_loops)


def plaquette(theta: torch.Tensor) -> torch.Tensor:
    """U(1) link angles theta (2, L, L) -> the plaquette exp(i θ_P(x)) at every site, complex (L, L)."""
    return plaquettes(u1_links(theta[None]))[0, ..., 0, 0]


def gauge_transform(links: torch.Tensor, omega: torch.Tensor) -> torch.Tensor:
    """links (2, L, L, N, N), omega (L, L, N, N) -> Ω(x) U_mu(x) Ω(x + mu)†, (2, L, L, N, N)."""
    return _gauge_transform(links[None], omega[None])[0]


def wilson_loop(theta: torch.Tensor, a: int, b: int) -> torch.Tensor:
    """U(1) link angles theta (2, L, L) -> the a×b Wilson loop at every site, complex (L, L)."""
    return wilson_loops(u1_links(theta[None]), a, b)[0, ..., 0, 0]


def charge(theta: torch.Tensor) -> torch.Tensor:
    """U(1) link angles theta (2, L, L) -> the topological charge Q, a scalar."""
    return topological_charge(u1_links(theta[None]))[0]


def _angles(size: int, seed: int, scale: float = math.pi) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return scale * (2 * torch.rand(2, size, size, generator=gen, dtype=torch.float64) - 1)


def _one_link(size: int, mu: int, x: tuple[int, int], angle: float) -> torch.Tensor:
    theta = torch.zeros(2, size, size, dtype=torch.float64)
    theta[mu, x[0], x[1]] = angle
    return theta


def _plaquette_cases() -> list[Case]:
    return [
        Case("a 4×4 lattice whose only non-zero angle is θ_0 at site (1, 2), 0.5",
             (_one_link(4, 0, (1, 2), 0.5),)),
        Case("a 4×4 lattice whose only non-zero angle is θ_1 at site (2, 1), 0.7",
             (_one_link(4, 1, (2, 1), 0.7),)),
        Case("random angles on a 5×5 lattice", (_angles(5, 0),)),
        Case("random angles on a 6×6 lattice", (_angles(6, 1),)),
    ]


def _gauge_cases() -> list[Case]:
    gen = torch.Generator().manual_seed(2)
    return [
        Case("U(1) links (N = 1) on a 4×4 lattice and a random U(1) gauge transformation",
             (random_links(1, 4, "U(1)", gen)[0], random_gauge(1, 4, "U(1)", gen)[0])),
        Case("random SU(2) links on a 4×4 lattice and the identity at every site (nothing changes)",
             (random_links(1, 4, "SU(2)", gen)[0], torch.eye(2, dtype=torch.complex128).expand(4, 4, 2, 2))),
        Case("random SU(2) links and a random SU(2) gauge transformation on a 4×4 lattice",
             (random_links(1, 4, "SU(2)", gen)[0], random_gauge(1, 4, "SU(2)", gen)[0])),
        Case("random SU(2) links and a random SU(2) gauge transformation on a 5×5 lattice",
             (random_links(1, 5, "SU(2)", gen)[0], random_gauge(1, 5, "SU(2)", gen)[0])),
    ]


def _loop_cases() -> list[Case]:
    return [
        Case("a = b = 1 (the plaquette) on random angles, 5×5 lattice", (_angles(5, 3), 1, 1)),
        Case("a 2×1 loop on a 6×6 lattice whose only non-zero angle is θ_1 at site (2, 0), 0.4",
             (_one_link(6, 1, (2, 0), 0.4), 2, 1)),
        Case("a 2×3 loop (a = 2 along direction 0, b = 3 along 1) on random angles, 6×6 lattice",
             (_angles(6, 4), 2, 3)),
        Case("a 3×3 loop on random angles, 7×7 lattice", (_angles(7, 5), 3, 3)),
    ]


def _charge_cases() -> list[Case]:
    return [
        Case("all angles 0 on a 4×4 lattice (Q = 0)", (torch.zeros(2, 4, 4, dtype=torch.float64),)),
        Case("small random angles (|θ| ≤ 0.3) on a 6×6 lattice", (_angles(6, 6, 0.3),)),
        Case("random angles on a 6×6 lattice", (_angles(6, 7),)),
        Case("random angles on an 8×8 lattice", (_angles(8, 8),)),
    ]


EXERCISES = by_short_name(
    Exercise(
        name="gauge.plaquette",
        reference=plaquette,
        cases=_plaquette_cases,
        hint="go once around the unit square counter-clockwise from x: out along direction 0, up along 1, "
             "back along 0 (a minus sign), down along 1 (a minus sign). Each link lives at the site it "
             "starts from; torch.roll(t, -1, dims=d) gives the value at the next site along d.",
        rtol=1e-9, atol=1e-10,
        answer_in_library=(plaquettes, wilson_loops),
    ),
    Exercise(
        name="gauge.gauge_transform",
        reference=gauge_transform,
        cases=_gauge_cases,
        hint="a link from x to x + mu picks up the group element of its start on the left and the inverse "
             "(conjugate transpose) of the element at its end on the right; matrices do not commute, so "
             "mind the order, and use the site the link ends at, not the one before it.",
        rtol=1e-9, atol=1e-10,
        answer_in_library=(_gauge_transform,),
    ),
    Exercise(
        name="gauge.wilson_loop",
        reference=wilson_loop,
        cases=_loop_cases,
        hint="the loop is a links along direction 0 and b links along direction 1, counter-clockwise from "
             "x; sum the angles of the links along the way, with a minus sign on the two sides walked "
             "backwards. For U(1) it is also the product of the a·b plaquettes it encloses.",
        rtol=1e-9, atol=1e-10,
        answer_in_library=(wilson_loops,),
    ),
    Exercise(
        name="gauge.topological_charge",
        reference=charge,
        cases=_charge_cases,
        hint="sum the plaquette angles after bringing each into (−π, π] and divide by 2π. The raw sums of "
             "link angles cancel on a periodic lattice, whatever the configuration.",
        rtol=1e-9, atol=1e-9,
        answer_in_library=(topological_charge,),
    ),
)
