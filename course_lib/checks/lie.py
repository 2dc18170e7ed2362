"""Exercises of the chapter "Lie groups" (solutions/lie.ipynb)."""

from __future__ import annotations

import torch

from course_lib import emlp, lieconv
from course_lib.checks import Case, Exercise, by_short_name


def _t(x) -> torch.Tensor:
    return torch.as_tensor(x, dtype=torch.float64)


def _tensor_generator_reference(a: torch.Tensor, k: int) -> torch.Tensor:
    return _t(emlp.tensor_generator(a.numpy(), k))


def _tensor_generator_cases() -> list[Case]:
    gen = torch.Generator().manual_seed(0)
    so3 = emlp.so3().lie
    boost = emlp.lorentz().lie[3]
    return [
        Case("L_z of so(3) on T(1) = V (the answer is L_z itself)", (_t(so3[2]), 1)),
        Case("L_x of so(3) on T(2)", (_t(so3[0]), 2)),
        Case("the so(2) generator on T(3)", (_t(emlp.so2().lie[0]), 3)),
        Case("a boost of o(1,3) (symmetric, not antisymmetric) on T(2)", (_t(boost), 2)),
        Case("a random 2×2 matrix on T(3)", (torch.randn(2, 2, generator=gen, dtype=torch.float64), 3)),
        Case("L_y of so(3) on T(0), the scalars (the answer is the 1×1 zero matrix)", (_t(so3[1]), 0)),
    ]


def _constraint_reference(a_in: torch.Tensor, a_out: torch.Tensor) -> torch.Tensor:
    eye_in, eye_out = torch.eye(len(a_in), dtype=a_in.dtype), torch.eye(len(a_out), dtype=a_out.dtype)
    return torch.kron(a_out, eye_in) - torch.kron(eye_out, a_in.T.contiguous())


def _constraint_cases() -> list[Case]:
    gen = torch.Generator().manual_seed(1)
    so3 = emlp.so3().lie
    return [
        Case("L_z on V -> V (3×3 maps)", (_t(so3[2]), _t(so3[2]))),
        Case("L_x on T(2) -> V (maps from 9 to 3 numbers)",
             (_t(emlp.tensor_generator(so3[0], 2)), _t(so3[0]))),
        Case("the so(2) generator on scalars -> T(2) (A acts as 0 on scalars)",
             (torch.zeros(1, 1, dtype=torch.float64), _t(emlp.tensor_generator(emlp.so2().lie[0], 2)))),
        Case("random 2×2 dρ_in and 3×3 dρ_out (neither (anti)symmetric)",
             (torch.randn(2, 2, generator=gen, dtype=torch.float64),
              torch.randn(3, 3, generator=gen, dtype=torch.float64))),
    ]


def _discrete_reference(r_in: torch.Tensor, r_out: torch.Tensor) -> torch.Tensor:
    return _t(emlp.discrete_block(r_in.numpy(), r_out.numpy()))


def _boost(rapidity: float) -> torch.Tensor:
    """A Lorentz boost along x: a group element that is symmetric, not orthogonal (Λ⁻¹ ≠ Λᵀ)."""
    return torch.linalg.matrix_exp(rapidity * _t(emlp.lorentz().lie[3]))


def _discrete_cases() -> list[Case]:
    gen = torch.Generator().manual_seed(6)
    o3_flip = emlp.o3().discrete[0]
    swap, cycle = emlp.symmetric(3).discrete
    shear = _t([[1.0, 0.7], [0.0, 1.0]])  # invertible, neither orthogonal nor symmetric
    return [
        Case("the reflection of O(3) on maps V -> V", (_t(o3_flip), _t(o3_flip))),
        Case("the 3-cycle of S_3 on maps T(2) -> V (9 numbers in, 3 out)",
             (_t(emlp.tensor_power(cycle, 2)), _t(cycle))),
        Case("the swap of S_3 on maps V -> scalars (ρ_out(h) = 1)", (_t(swap), torch.ones(1, 1, dtype=torch.float64))),
        Case("a boost Λ of O(1,3) on maps V -> V (Λ⁻¹ is not Λᵀ)", (_boost(0.8), _boost(0.8))),
        Case("ρ_in(h) a 2×2 shear, ρ_out(h) a random invertible 3×3 (neither orthogonal)",
             (shear, torch.eye(3, dtype=torch.float64) + 0.3 * torch.randn(3, 3, generator=gen, dtype=torch.float64))),
    ]


def _floating(x) -> torch.Tensor:
    """An answer as a tensor in its own floating precision (float32 stays float32, so that it is judged
    at single precision); integers and booleans become float64."""
    t = torch.as_tensor(x)
    return t if t.is_floating_point() else t.to(torch.float64)


def _null_space_run(fn, case: Case) -> list[torch.Tensor]:
    """[number of columns, QᵀQ, ‖C Q‖ / ‖C‖]: the same for every orthonormal basis Q of C's null space.

    The residual ‖C Q‖ is judged relative to ‖C‖ (its largest singular value), so a basis is judged
    at its own precision: in float32 a null space next to a singular value 1e-3 of the largest tilts
    by ~1e-4 from round-off alone, which a comparison of projectors would reject."""
    c = case.args[0]
    q = _floating(fn(*case.args))
    if q.dim() != 2 or q.shape[0] != c.shape[1]:
        raise ValueError(f"expected a basis as columns, shape (D, n) with D = {c.shape[1]}, "
                         f"got shape {tuple(q.shape)}")
    residual = torch.linalg.matrix_norm(c.to(q.dtype) @ q) / torch.linalg.matrix_norm(c.to(q.dtype), ord=2)
    return [torch.tensor(float(q.shape[1]), dtype=q.dtype), q.T @ q, residual]


def _null_space_reference(c: torch.Tensor) -> torch.Tensor:
    return _t(emlp.null_space(c.numpy()))


def _with_singular_values(rows: int, values: list[float], seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    cols = len(values)
    u, _ = torch.linalg.qr(torch.randn(rows, rows, generator=gen, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(cols, cols, generator=gen, dtype=torch.float64))
    s = torch.zeros(rows, cols, dtype=torch.float64)
    s[range(min(rows, cols)), range(min(rows, cols))] = torch.tensor(values[:min(rows, cols)], dtype=torch.float64)
    return u @ s @ v.T


def _null_space_cases() -> list[Case]:
    return [
        Case("the constraint matrix of SO(2) on maps V -> V (a 2-dimensional null space)",
             (_t(emlp.constraint_matrix(emlp.so2(), 1, 1)),)),
        Case("the constraints of O(3) on maps T(2) -> scalars (one invariant, δ_ij)",
             (_t(emlp.constraint_matrix(emlp.o3(), 2, 0)),)),
        Case("a 6×5 matrix with singular values (3, 1, 1e-3, 0, 0): 1e-3 is small but not zero",
             (_with_singular_values(6, [3.0, 1.0, 1e-3, 0.0, 0.0], 2),)),
        Case("a 5×5 matrix of rank 3 that is not symmetric (its null space is not that of Cᵀ)",
             (_with_singular_values(5, [2.0, 1.0, 0.5, 0.0, 0.0], 8),)),
        Case("a 4×4 matrix of full rank (the null space is {0}: a basis of 0 columns)",
             (_with_singular_values(4, [2.0, 1.0, 0.5, 0.1], 3),)),
        Case("a 3×6 matrix (more unknowns than equations)",
             (torch.randn(3, 6, generator=torch.Generator().manual_seed(4), dtype=torch.float64),)),
        Case("a 6×5 matrix with singular values (3e8, 2e8, 1e8, 0, 0): at this scale round-off leaves "
             "'zero' singular values far above 1e-10", (_with_singular_values(6, [3e8, 2e8, 1e8, 0.0, 0.0], 6),)),
        Case("a 6×5 matrix with singular values (3e-13, 2e-13, 1e-13, 0, 0): genuine singular values far "
             "below 1e-10", (_with_singular_values(6, [3e-13, 2e-13, 1e-13, 0.0, 0.0], 7),)),
    ]


def _se2_run(fn, case: Case) -> torch.Tensor:
    """u⁻¹v as (x, y, cos θ, sin θ), so that θ and θ + 2π agree."""
    out = _floating(fn(*case.args))
    return torch.cat([out[..., :2], torch.cos(out[..., 2:]), torch.sin(out[..., 2:])], -1)


def _se2_relative_reference(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return lieconv.se2_compose(lieconv.se2_inverse(u), v)


def _se2_cases() -> list[Case]:
    gen = torch.Generator().manual_seed(5)
    u, v = lieconv.random_se2(6, gen).double(), lieconv.random_se2(6, gen).double()
    return [
        Case("u = (0, 0, 0), v = (1, 2, 0.5): u is the identity", (_t([0.0, 0.0, 0.0]), _t([1.0, 2.0, 0.5]))),
        Case("u = (1, 0, 0), v = (3, 1, 0): translations only", (_t([1.0, 0.0, 0.0]), _t([3.0, 1.0, 0.0]))),
        Case("u = (0, 0, π/2), v = (1, 0, π/2): a rotated frame", (_t([0.0, 0.0, 1.5707963267948966]),
                                                                    _t([1.0, 0.0, 1.5707963267948966]))),
        Case("6 random pairs, as batches (6, 3)", (u, v)),
        Case("2 × 4 random pairs, as batches (2, 4, 3)",
             (lieconv.random_se2(8, gen).double().reshape(2, 4, 3), lieconv.random_se2(8, gen).double().reshape(2, 4, 3))),
    ]


EXERCISES = by_short_name(
    Exercise(
        name="lie.tensor_generator",
        reference=_tensor_generator_reference,
        cases=_tensor_generator_cases,
        hint="differentiate ρ(exp(tA)) = exp(tA) ⊗ ... ⊗ exp(tA) at t = 0: the product rule gives one "
             "term per factor, A in that slot and identities elsewhere (torch.kron builds the terms). "
             "It is a sum, not A ⊗ A; T(0) is 1-dimensional.",
        rtol=1e-10, atol=1e-12,
        answer_in_library=(emlp.tensor_generator,),
    ),
    Exercise(
        name="lie.generator_constraint",
        reference=_constraint_reference,
        cases=_constraint_cases,
        hint="W is read row by row into vec(W) (W.reshape(-1)). Work out which Kronecker product sends "
             "vec(W) to vec(A W) and which to vec(W B) for that ordering (check one on a small random "
             "example); one factor needs a transpose (torch.kron wants it contiguous: .T.contiguous()).",
        rtol=1e-10, atol=1e-12,
        answer_in_library=(emlp.constraint_matrix,),
    ),
    Exercise(
        name="lie.discrete_constraint",
        reference=_discrete_reference,
        cases=_discrete_cases,
        hint="the condition is ρ_out(h) W ρ_in(h)⁻¹ = W, so C vec(W) is vec(ρ_out(h) W ρ_in(h)⁻¹ − W): "
             "do not forget the − W (it is what makes the fixed points the solutions), and that the "
             "inverse is an inverse (torch.linalg.inv), not a transpose, for a boost. With W read row by "
             "row, vec(A W B) = (A ⊗ Bᵀ) vec(W): check the order of the Kronecker factors on a small "
             "random W with different input and output sizes.",
        # float32 round-off (1e-7), also in a float64 answer computed from float32 pieces, passes;
        # every likely wrong answer is off by more than 0.1 in some entry
        rtol=1e-6, atol=1e-6,
        answer_in_library=(emlp.discrete_block, emlp.constraint_matrix),
    ),
    Exercise(
        name="lie.null_space_basis",
        reference=_null_space_reference,
        cases=_null_space_cases,
        run=_null_space_run,
        hint="the right-singular vectors whose singular values are zero span the null space; call a "
             "value zero when it is at most max(m, D) · eps · the largest (eps = torch.finfo(c.dtype).eps: "
             "the SVD's own round-off, the cut the library uses too), whatever the scale of C, and remember that C can have "
             "fewer rows than columns. In float32 use the SVD of C rather than the eigenvectors of CᵀC: "
             "its eigenvalues are the squared singular values, which takes a small one (3e-4 of the "
             "largest) down to float32's round-off. "
             "The check compares [the number of columns, QᵀQ (the identity: orthonormal columns), "
             "‖C Q‖ / ‖C‖ (zero up to round-off)], with room for a basis computed in float32.",
        rtol=1e-6, atol=1e-6,
        answer_in_library=(emlp.null_space, emlp.equivariant_basis),
    ),
    Exercise(
        name="lie.se2_relative",
        reference=_se2_relative_reference,
        cases=_se2_cases,
        run=_se2_run,
        hint="u = (t_u, θ_u) acts as p -> R(θ_u) p + t_u. Invert it (what undoes a rotation then a "
             "translation?) and apply the inverse after v; the translation of u⁻¹v lives in u's frame.",
        rtol=1e-9, atol=1e-10,
        answer_in_library=(lieconv.se2_inverse, lieconv.relative_elements),
    ),
)
