"""Exercises of the chapter "Groups for machine learning" (solutions/groups.ipynb)."""

from __future__ import annotations

import math

import torch

from course_lib import groups
from course_lib.checks import Case, Exercise, by_short_name


def _dihedral_cases() -> list[Case]:
    return [
        Case(f"a = {a}, b = {b} in D_{n}", (a, b, n))
        for n in (3, 4, 6)
        for a in groups.DihedralGroup(n).elements()
        for b in groups.DihedralGroup(n).elements()
    ]


def _wrong_dihedral_rep(g: tuple[int, int]) -> torch.Tensor:
    """Rotation then reflection in the wrong order: looks like D_4 but is not a homomorphism."""
    k, f = g
    reflect = torch.diag(torch.tensor([1.0, -1.0 if f else 1.0], dtype=torch.float64))
    return reflect @ groups.rotation_2d(math.pi * k / 2)


def _random_map(group: groups.FiniteGroup, seed: int) -> dict:
    """A random 2×2 matrix per element, the identity at e: not a homomorphism."""
    gen = torch.Generator().manual_seed(seed)
    images = {g: torch.randn(2, 2, generator=gen, dtype=torch.float64) for g in group.elements()}
    images[group.identity] = torch.eye(2, dtype=torch.float64)
    return images


def _homomorphism_cases() -> list[Case]:
    c2, c4, d4, s3 = groups.CyclicGroup(2), groups.CyclicGroup(4), groups.DihedralGroup(4), groups.SymmetricGroup(3)
    random_images = _random_map(d4, seed=1)
    return [
        Case("the regular representation of C_4", (groups.regular_representation(c4).rho, c4)),
        Case("the standard 2×2 representation of D_4", (groups.standard_representation(d4).rho, d4)),
        Case("the regular representation of D_4", (groups.regular_representation(d4).rho, d4)),
        Case("ρ(k, f) = rotation by k·90° with f ignored, on D_4",
             (lambda g: groups.rotation_2d(math.pi * g[0] / 2), d4)),
        Case("a map on D_4 that applies the reflection on the wrong side", (_wrong_dihedral_rep, d4)),
        Case("ρ(k) = rotation by k·60° on C_4 (the wrong angle)", (lambda k: groups.rotation_2d(math.pi * k / 3), c4)),
        Case("the sign of a permutation in S_3 as a 1×1 matrix",
             (lambda p: torch.tensor([[float(torch.linalg.det(torch.eye(3, dtype=torch.float64)[list(p)]))]]), s3)),
        Case("ρ(k) = rotation by k·90° on C_2: every pair but (1, 1) holds, since ρ(1)ρ(1) is a half "
             "turn and ρ(1·1) = ρ(0) is the identity", (lambda k: groups.rotation_2d(math.pi * k / 2), c2)),
        Case("a random 2×2 matrix for each element of D_4 (the identity for e): its largest gap is on a "
             "pair (a, b) with a listed after b", (random_images.__getitem__, d4)),
        Case("another random 2×2 matrix for each element of D_4: its largest gap is on a pair (a, b) with a "
             "listed before b", (_random_map(d4, seed=5).__getitem__, d4)),
        Case("ρ(0) = 2·I, ρ(1) = √2·I on C_2: ρ(e) is not I, so only the pairs with the identity fail",
             (lambda k: (2.0 if k == 0 else math.sqrt(2)) * torch.eye(2, dtype=torch.float64), c2)),
    ]


def _homomorphism_reference(rho, group) -> float:
    rep = groups.Representation(group, rho, dim=0)
    return groups.homomorphism_error(rep, groups.element_pairs(group))


def _rotation_cases() -> list[Case]:
    gen = torch.Generator().manual_seed(0)
    cases = [
        Case("axis (0, 0, 1), angle π/2", (torch.tensor([0.0, 0.0, 1.0]), math.pi / 2)),
        Case("axis (1, 0, 0), angle π", (torch.tensor([1.0, 0.0, 0.0]), math.pi)),
        Case("axis (0, 2, 0) (not unit length), angle π/3", (torch.tensor([0.0, 2.0, 0.0]), math.pi / 3)),
        Case("axis (1, 1, 1), angle 0", (torch.tensor([1.0, 1.0, 1.0]), 0.0)),
    ]
    for i in range(4):
        axis = torch.randn(3, generator=gen, dtype=torch.float64)
        angle = float(2 * math.pi * torch.rand(1, generator=gen))
        cases.append(Case(f"random axis {[round(a, 3) for a in axis.tolist()]}, angle {angle:.3f}", (axis, angle)))
    return cases


EXERCISES = by_short_name(
    Exercise(
        name="groups.dihedral_compose",
        reference=lambda a, b, n: groups.DihedralGroup(n).compose(a, b),
        cases=_dihedral_cases,
        hint="write a·b as r^k1 s^f1 r^k2 s^f2 and move s^f1 to the right past r^k2 with s r = r^-1 s: "
        "what does a reflection do to the direction of the rotation after it? Two reflections cancel.",
        rtol=0, atol=0,
        answer_in_library=(groups.DihedralGroup.compose,),
    ),
    Exercise(
        name="groups.homomorphism_error",
        reference=_homomorphism_reference,
        cases=_homomorphism_cases,
        hint="ρ(a·b) = ρ(a) ρ(b) must hold for every ordered pair (a, b), a = b included: compose the "
        "elements with the group, multiply the matrices; report the largest entry of the gap, as a float.",
        rtol=1e-6, atol=1e-9,
        answer_in_library=(groups.homomorphism_error,),
    ),
    Exercise(
        name="groups.rotation_about",
        reference=groups.rotation_about,
        cases=_rotation_cases,
        hint="the angle is the size of the Lie algebra element only for a unit axis; check the axis's "
        "length and that the result is float64 (3, 3).",
        rtol=1e-6, atol=1e-9,
    ),
)
