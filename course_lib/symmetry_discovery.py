"""Discovering a symmetry's generator from a function or from data (chapter "The frontier").

A one-parameter group x ↦ exp(tL) x leaves f: Rⁿ → R invariant exactly when the derivative along
its orbits vanishes, ∇f(x) · (L x) = 0 for every x. The condition is linear in the n × n matrix L:
each sample x gives one equation ⟨∇f(x) xᵀ, L⟩ = 0. Stacked over samples these form a matrix A
(N, n²) whose null space holds the generators; the right singular vector of A with the smallest
singular value is the best single one (unit Frobenius norm, sign arbitrary). For a data set of
points on level sets of an unknown f, `fit_quadratic_invariant` first fits f(x) = xᵀQx.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from course_lib.pinn import Field, gradient


def _check_pair(grad_f: Tensor, x: Tensor) -> None:
    if x.ndim != 2 or grad_f.shape != x.shape:
        raise ValueError(f"expected gradients and points of the same shape (N, n), got "
                         f"{tuple(grad_f.shape)} and {tuple(x.shape)}")


def invariance_constraints(grad_f: Tensor, x: Tensor) -> Tensor:
    """The rows vec(∇f(x_k) x_kᵀ) (N, n²), row-major: entry i·n + j multiplies L_ij in ∇f·(Lx) = 0."""
    _check_pair(grad_f, x)
    return (grad_f[:, :, None] * x[:, None, :]).reshape(len(x), -1)


def discover_generator(grad_f: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
    """The generator L (n, n), unit Frobenius norm, that best satisfies ∇f(x_k)·(L x_k) = 0 at the
    points x (N, n) with gradients grad_f (N, n); and the singular values of the constraints (n²,),
    largest first: a near-zero last one says a symmetry exists, a second near zero says more do."""
    a = invariance_constraints(grad_f, x).double()
    _, s, vh = torch.linalg.svd(a, full_matrices=True)
    n = x.shape[1]
    s = torch.cat([s, s.new_zeros(n * n - len(s))])  # fewer samples than unknowns: extra zeros
    return vh[-1].reshape(n, n), s


def generator_of_function(f: Field, x: Tensor) -> tuple[Tensor, Tensor]:
    """`discover_generator` with ∇f taken by autograd (course_lib.pinn.gradient) at x (N, n)."""
    return discover_generator(gradient(f, x).detach(), x.detach())


def fit_quadratic_invariant(x: Tensor) -> Tensor:
    """The symmetric Q (n, n), unit norm, of the quadric xᵀQx = c that best fits the points x (N, n):
    the least-squares algebraic fit, the smallest right singular vector of [x_i x_j (i ≤ j), 1]."""
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"expected points (N, n) with N >= 2, got shape {tuple(x.shape)}")
    n = x.shape[1]
    i, j = torch.triu_indices(n, n)
    x = x.double()
    design = torch.cat([x[:, i] * x[:, j], torch.ones(len(x), 1, dtype=x.dtype)], 1)
    coef = torch.linalg.svd(design, full_matrices=False)[2][-1][:-1]
    q = torch.zeros(n, n, dtype=x.dtype)
    q[i, j] = coef
    q = (q + q.T) / 2  # the off-diagonal coefficient multiplies x_i x_j once: split it evenly
    return q / q.norm()


def generator_angle(a: Tensor, b: Tensor) -> float:
    """The angle in degrees (0 to 90) between two generators (n, n) as vectors, ignoring scale and
    sign (L and −2L generate the same group)."""
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"expected two matrices of the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    a, b = a.double().reshape(-1), b.double().reshape(-1)
    cos = (a @ b).abs() / (a.norm() * b.norm())
    return math.degrees(math.acos(min(1.0, float(cos))))
