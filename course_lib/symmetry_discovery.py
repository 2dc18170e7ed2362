"""Discovering a symmetry's generator from a function or from data (chapter "The frontier").

A one-parameter group x ↦ exp(tL) x leaves f: Rⁿ → R invariant exactly when the derivative along
its orbits vanishes, ∇f(x) · (L x) = 0 for every x. The condition is linear in the n × n matrix L:
each sample x gives one equation ⟨∇f(x) xᵀ, L⟩ = 0. Stacked over samples these form a matrix A
(N, n²) whose null space holds the generators; the right singular vector of A with the smallest
singular value is the best single one (unit Frobenius norm, sign arbitrary). For a data set of
points on level sets of an unknown f, `fit_quadratic_invariant` first fits f(x) = xᵀQx.

Two things the plain method cannot do, and what this module adds for them:
- *Data with no symmetry*: every quadric has a symmetry, so the second step always returns a
  generator at round-off, even for a Gaussian cloud. Whether the data lie on a level set at all is
  asked of the first step: `quadric_test` compares how well a quadric fits the points with how well
  it fits the same points with their coordinates shuffled independently (no joint structure, same
  marginals), a permutation test.
- *Orbits not centred at the origin*: a linear generator fixes the origin, so it cannot rotate about
  another centre. Affine generators x ↦ A x + t include translations; `fit_quadric` fits
  xᵀQx + b·x = c and `discover_affine_generator` solves ∇f(x)·(A x + t) = 0 for [A | t].
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


def _quadric_design(x: Tensor, affine: bool) -> Tensor:
    n = x.shape[1]
    i, j = torch.triu_indices(n, n)
    columns = [x[:, i] * x[:, j]] + ([x] if affine else []) + [torch.ones(len(x), 1, dtype=x.dtype)]
    return torch.cat(columns, 1)


def fit_quadric(x: Tensor) -> tuple[Tensor, Tensor]:
    """The quadric xᵀQx + b·x = c that best fits the points x (N, n) (least-squares algebraic fit, as
    `fit_quadratic_invariant` but with the linear terms, so its centre may lie anywhere): Q (n, n)
    symmetric and b (n,), scaled so that (Q, b) has unit norm. ∇f(x) = 2 Q x + b."""
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"expected points (N, n) with N >= 2, got shape {tuple(x.shape)}")
    n = x.shape[1]
    x = x.double()
    coef = torch.linalg.svd(_quadric_design(x, True), full_matrices=False)[2][-1]
    i, j = torch.triu_indices(n, n)
    q = torch.zeros(n, n, dtype=x.dtype)
    q[i, j] = coef[: len(i)]
    q = (q + q.T) / 2
    b = coef[len(i): len(i) + n]
    scale = torch.cat([q.reshape(-1), b]).norm()
    return q / scale, b / scale


def discover_affine_generator(grad_f: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
    """The affine generator v(x) = A x + t that best satisfies ∇f(x_k)·(A x_k + t) = 0, as the
    (n, n + 1) matrix [A | t] of unit norm, and the constraints' singular values (n² + n,), largest
    first. A rotation about the centre c is [J | −J c]."""
    _check_pair(grad_f, x)
    a = torch.cat([invariance_constraints(grad_f, x), grad_f], 1).double()
    _, s, vh = torch.linalg.svd(a, full_matrices=True)
    n = x.shape[1]
    s = torch.cat([s, s.new_zeros(n * n + n - len(s))])
    v = vh[-1]
    return torch.cat([v[: n * n].reshape(n, n), v[n * n:, None]], 1), s


def _whiten(x: Tensor) -> Tensor:
    """x (N, n) moved to mean 0 and mapped by Σ^(-1/2) (the symmetric root) to covariance I. The
    symmetric root turns the axes as little as possible: a box stays axis-aligned, whereas
    whitening along the principal axes would turn it by an arbitrary angle and make its
    coordinates dependent."""
    centred = x - x.mean(0)
    evals, evecs = torch.linalg.eigh(centred.T @ centred / (len(x) - 1))
    return centred @ (evecs / evals.clamp_min(1e-300).sqrt()) @ evecs.T


def quadric_test(x: Tensor, trials: int = 99, seed: int = 0) -> tuple[float, float]:
    """Do the points x (N, n) lie near a level set of a quadric, beyond what a cloud of points gives?

    The points are whitened (mean 0, covariance I: an affine map, which keeps quadrics quadrics and
    makes the test blind to scale and linear correlation), and the statistic is the smallest over the
    largest singular value of the affine quadric fit's design (`fit_quadric`): near the noise level
    when one quadric fits, of order 0.1 when none does. It is compared with the same statistic for
    `trials` copies of the whitened points with each coordinate permuted independently (a cloud with
    the same marginals and no joint structure). Returns (statistic, p-value), p = (1 + #copies at
    or below the statistic) / (1 + trials): a small p says "a quadric, hence a symmetry", a large
    one "no symmetry found". The null assumes that a structureless cloud has independent
    coordinates after whitening (true of a Gaussian and of an axis-aligned box, not of a box
    turned by 30°).
    """
    if x.ndim != 2 or len(x) < 2 * x.shape[1] ** 2 or trials < 1:
        raise ValueError(f"expected points (N, n) with N >= 2n² and trials >= 1, got shape "
                         f"{tuple(x.shape)} and trials={trials}")
    x = x.double()

    def statistic(points: Tensor) -> float:
        s = torch.linalg.svdvals(_quadric_design(_whiten(points), True))
        return float(s[-1] / s[0])

    observed = statistic(x)
    gen = torch.Generator().manual_seed(seed)
    white = _whiten(x)
    null = [statistic(torch.stack([c[torch.randperm(len(x), generator=gen)] for c in white.T], 1))
            for _ in range(trials)]
    return observed, (1 + sum(v <= observed for v in null)) / (1 + trials)


QUADRIC_BOUND = 0.1  # set by hand: noisy circles give <= 0.05 at noise 0.05 of the radius, about 0.09
# at 0.1 of it (near the bound); clouds off any one level set (a filled disc, an L-shaped or tilted box,
# a trapezoid) about 0.15 or more. Outlines of regular polygons (a discrete symmetry only) give 0.02-0.07.


def finds_symmetry(statistic: float, p: float, alpha: float = 0.01, bound: float = QUADRIC_BOUND) -> bool:
    """The verdict on `quadric_test`'s (statistic, p): a quadric, hence a symmetry, only when the
    fit beats the shuffled copies (p <= alpha) AND fits well in itself (statistic <= bound). The
    p-value alone detects dependent coordinates, not a level set: a filled disc or an L-shaped
    cloud has dependent coordinates but lies on no one level set, and p alone calls them symmetric.
    So True means "near one conic" (a single orbit), not "invariant as a set"."""
    if not 0 < alpha < 1 or bound <= 0:
        raise ValueError(f"expected 0 < alpha < 1 and bound > 0, got alpha={alpha}, bound={bound}")
    return p <= alpha and statistic <= bound


def generator_angle(a: Tensor, b: Tensor) -> float:
    """The angle in degrees (0 to 90) between two generators (n, n) (or affine ones [A | t],
    (n, n + 1)) as vectors, ignoring scale and sign (L and −2L generate the same group)."""
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"expected two matrices of the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    a, b = a.double().reshape(-1), b.double().reshape(-1)
    cos = (a @ b).abs() / (a.norm() * b.norm())
    return math.degrees(math.acos(min(1.0, float(cos))))
