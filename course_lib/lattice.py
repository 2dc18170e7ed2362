"""Lattice gauge fields on a periodic 2D lattice: U(1) and SU(2) links, gauge transformations,
plaquettes, Wilson loops, the topological charge and Metropolis sampling of the Wilson action
(chapter "Gauge-equivariant networks").

A configuration is a tensor of link matrices `links` of shape (B, 2, L, L, N, N): `links[b, mu, x0, x1]`
is the group element U_mu(x) on the link from site x = (x0, x1) to x + mu-hat, an N×N unitary matrix
(N = 1 for U(1), N = 2 for SU(2)). Fields that live on sites (a gauge transformation, a plaquette, a
Wilson loop) have shape (B, L, L, N, N), or (B, C, L, L, N, N) with C channels. The lattice axes are
always dims -4 and -3, so one `shift` serves links, sites and channels alike.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.special import ive
from torch import Tensor

from course_lib.groups import SU2

GROUPS = {"U(1)": 1, "SU(2)": 2}


def check_links(links: Tensor) -> None:
    if links.dim() != 6 or links.shape[1] != 2 or links.shape[2] != links.shape[3] \
            or links.shape[-1] != links.shape[-2] or links.shape[-1] not in (1, 2):
        raise ValueError(f"links are a (B, 2, L, L, N, N) tensor with N = 1 or 2, got {tuple(links.shape)}")


def _group_size(group: str) -> int:
    if group not in GROUPS:
        raise ValueError(f"group is one of {sorted(GROUPS)}, got {group!r}")
    return GROUPS[group]


def dagger(a: Tensor) -> Tensor:
    """The conjugate transpose of every matrix in a (..., N, N) tensor."""
    return a.mH


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """a @ b for (..., N, N) matrices; an elementwise product when N = 1 (U(1)), which is the same and faster."""
    return a * b if a.shape[-1] == 1 else a @ b


def shift(field: Tensor, mu: int, steps: int = 1) -> Tensor:
    """The field at x + steps·mu-hat, periodically: field (..., L, L, N, N) -> the same shape."""
    if mu not in (0, 1):
        raise ValueError(f"a direction mu is 0 or 1, got {mu}")
    return torch.roll(field, -steps, dims=-4 + mu)


def u1_links(angles: Tensor) -> Tensor:
    """U(1) links from their angles: (B, 2, L, L) -> (B, 2, L, L, 1, 1) complex128, U = exp(i·angle)."""
    if angles.dim() != 4 or angles.shape[1] != 2:
        raise ValueError(f"link angles are a (B, 2, L, L) tensor, got {tuple(angles.shape)}")
    return torch.polar(torch.ones_like(angles, dtype=torch.float64), angles.double())[..., None, None]


def link_angles(links: Tensor) -> Tensor:
    """The angles in (-π, π] of U(1) links: (B, 2, L, L, 1, 1) -> (B, 2, L, L)."""
    check_links(links)
    if links.shape[-1] != 1:
        raise ValueError(f"link angles exist for U(1) links (N = 1), got N = {links.shape[-1]}")
    return links[..., 0, 0].angle()


def random_elements(shape: tuple[int, ...], group: str, generator: torch.Generator | None = None) -> Tensor:
    """Haar-random elements of U(1) or SU(2): -> (*shape, N, N) complex128."""
    n = _group_size(group)
    if n == 1:
        angle = 2 * math.pi * torch.rand(shape, generator=generator, dtype=torch.float64)
        return torch.polar(torch.ones_like(angle), angle)[..., None, None]
    return SU2().sample(math.prod(shape), generator).reshape(*shape, 2, 2)


def random_links(batch: int, size: int, group: str = "U(1)", generator: torch.Generator | None = None) -> Tensor:
    """`batch` configurations with every link Haar-random (β = 0): -> (B, 2, L, L, N, N)."""
    return random_elements((batch, 2, size, size), group, generator)


def random_gauge(batch: int, size: int, group: str = "U(1)", generator: torch.Generator | None = None) -> Tensor:
    """A random gauge transformation, an independent group element at every site: -> (B, L, L, N, N)."""
    return random_elements((batch, size, size), group, generator)


def gauge_transform(links: Tensor, omega: Tensor) -> Tensor:
    """U_mu(x) -> Ω(x) U_mu(x) Ω(x + mu)†: links (B, 2, L, L, N, N), omega (B, L, L, N, N)."""
    check_links(links)
    if omega.shape != links[:, 0].shape:
        raise ValueError(f"omega is a (B, L, L, N, N) tensor {tuple(links[:, 0].shape)}, got {tuple(omega.shape)}")
    return torch.stack([matmul(matmul(omega, links[:, mu]), dagger(shift(omega, mu))) for mu in (0, 1)], 1)


def gauge_transform_sites(w: Tensor, omega: Tensor) -> Tensor:
    """W(x) -> Ω(x) W(x) Ω(x)†, how a plaquette or any closed loop at x transforms:
    w (B, C, L, L, N, N), omega (B, L, L, N, N)."""
    if w.dim() != 6 or w.shape[:1] + w.shape[2:] != omega.shape:
        raise ValueError(f"w is (B, C, L, L, N, N) and omega (B, L, L, N, N), got {tuple(w.shape)} and "
                         f"{tuple(omega.shape)}")
    return matmul(matmul(omega[:, None], w), dagger(omega[:, None]))


def transporter(links: Tensor, mu: int, steps: int) -> Tensor:
    """The product U_mu(x) U_mu(x + mu) ⋯ U_mu(x + (steps-1) mu), the parallel transporter along a straight
    line of `steps` links from every site x: -> (B, L, L, N, N)."""
    check_links(links)
    if steps < 1:
        raise ValueError(f"steps is at least 1, got {steps}")
    line = links[:, mu]
    for k in range(1, steps):
        line = matmul(line, shift(links[:, mu], mu, k))
    return line


def wilson_loops(links: Tensor, a: int, b: int) -> Tensor:
    """The a×b rectangular Wilson loop at every site, a links along direction 0 and b along 1,
    counter-clockwise from x: -> (B, L, L, N, N) (a 1×1 loop is the plaquette)."""
    forward = matmul(transporter(links, 0, a), shift(transporter(links, 1, b), 0, a))
    back = matmul(transporter(links, 1, b), shift(transporter(links, 0, a), 1, b))
    return matmul(forward, dagger(back))


def plaquettes(links: Tensor) -> Tensor:
    """U_0(x) U_1(x + 0-hat) U_0(x + 1-hat)† U_1(x)† at every site: -> (B, L, L, N, N), the 1×1 Wilson loop."""
    check_links(links)
    forward = matmul(links[:, 0], shift(links[:, 1], 0))
    return matmul(forward, dagger(matmul(links[:, 1], shift(links[:, 0], 1))))


def re_trace(w: Tensor) -> Tensor:
    """Re tr W / N of every matrix: (..., N, N) -> (...); 1 for the identity."""
    return w.diagonal(dim1=-2, dim2=-1).real.sum(-1) / w.shape[-1]


def average_plaquette(links: Tensor) -> Tensor:
    """The lattice average of Re tr P / N per configuration: -> (B,) float64."""
    return re_trace(plaquettes(links)).double().mean((-2, -1))


def wilson_action(links: Tensor, beta: float) -> Tensor:
    """S = β Σ_x (1 − Re tr P(x) / N) per configuration: -> (B,)."""
    return beta * (1 - re_trace(plaquettes(links)).double()).sum((-2, -1))


def topological_charge(links: Tensor) -> Tensor:
    """Q = Σ_x arg P(x) / 2π of U(1) configurations, arg in (-π, π]: -> (B,) float64, an integer on the
    periodic lattice (the plaquette angles themselves, unwrapped, would always sum to 0)."""
    check_links(links)
    if links.shape[-1] != 1:
        raise ValueError(f"this topological charge is defined for U(1) links (N = 1), got N = {links.shape[-1]}")
    return plaquettes(links)[..., 0, 0].angle().double().sum((-2, -1)) / (2 * math.pi)


def instantons(charges: Tensor, size: int) -> Tensor:
    """U(1) configurations of given topological charge, every plaquette angle 2πQ/L²: charges (B,)
    integers with |Q| < L²/2 -> links (B, 2, L, L, 1, 1). A sampler started from them begins in the
    charge sector it is given, which local Metropolis updates leave only slowly at large β."""
    if charges.dim() != 1 or bool((2 * charges.abs() >= size**2).any()):
        raise ValueError(f"expected charges (B,) with |Q| < L²/2 = {size**2 / 2:g}, got {charges.tolist()}")
    phi = 2 * math.pi * charges.double() / size**2
    x = torch.arange(size, dtype=torch.float64)
    theta = torch.zeros(len(charges), 2, size, size, dtype=torch.float64)
    theta[:, 1] = phi[:, None, None] * x[:, None]  # θ_1(x) = φ x_0
    theta[:, 0, -1] = -phi[:, None] * size * x     # θ_0(L − 1, x_1) = −φ L x_1: closes the torus
    return u1_links(theta)


def maximal_tree_gauge(links: Tensor) -> Tensor:
    """The gauge transformation Ω (B, L, L, N, N) that sets the links of a maximal tree to 1: U_1 along the
    line x0 = 0 and every U_0 except those leaving the last column x0 = L − 1 (axial gauge).

    Ω(x) is the transporter from the origin to x along the tree: Ω(x + mu) = Ω(x) U_mu(x).
    """
    check_links(links)
    size = links.shape[2]
    column = [torch.eye(links.shape[-1], dtype=links.dtype).expand_as(links[:, 0, 0, 0])]
    for x1 in range(size - 1):
        column.append(matmul(column[-1], links[:, 1, 0, x1]))
    rows = [torch.stack(column, 1)]  # Ω(0, x1): (B, L, N, N)
    for x0 in range(size - 1):
        rows.append(matmul(rows[-1], links[:, 0, x0]))
    return torch.stack(rows, 1)


def _near_identity(shape: tuple[int, ...], n: int, step: float, generator: torch.Generator) -> Tensor:
    """Random group elements exp(i·step·u·(n̂·σ)) with u uniform in (-1, 1): R and R† equally likely."""
    u = step * (2 * torch.rand(shape, generator=generator, dtype=torch.float64) - 1)
    if n == 1:
        return torch.polar(torch.ones_like(u), u)[..., None, None]
    axis = torch.randn(*shape, 3, generator=generator, dtype=torch.float64)
    axis = axis / axis.norm(dim=-1, keepdim=True)
    c, s = torch.cos(u), torch.sin(u)
    a, b, d = (s[..., None] * axis).unbind(-1)
    return torch.stack([torch.stack([torch.complex(c, d), torch.complex(b, a)], -1),
                        torch.stack([torch.complex(-b, a), torch.complex(c, -d)], -1)], -2)


def staples(links: Tensor, mu: int) -> Tensor:
    """The sum A of the two staples around every link U_mu(x), so that the plaquettes holding U_mu(x)
    have Re tr (U_mu(x) A) as the sum of their Re tr: -> (B, L, L, N, N)."""
    nu = 1 - mu
    u_mu, u_nu = links[:, mu], links[:, nu]
    up = matmul(matmul(shift(u_nu, mu), dagger(shift(u_mu, nu))), dagger(u_nu))
    down_nu = shift(u_nu, nu, -1)
    down = matmul(matmul(dagger(shift(down_nu, mu)), dagger(shift(u_mu, nu, -1))), down_nu)
    return up + down


def metropolis(links: Tensor, beta: float, sweeps: int, step: float = 1.0,
               generator: torch.Generator | None = None) -> tuple[Tensor, float]:
    """`sweeps` Metropolis sweeps of the Wilson action S = β Σ (1 − Re tr P / N), all configurations
    at once: -> (links, acceptance rate).

    Each sweep updates the links of one direction and one checkerboard parity at a time (links that share
    no plaquette), proposing U -> R U with R near the identity (`step`: the largest angle) and accepting
    with probability min(1, exp(−ΔS)). The lattice size must be even.
    """
    check_links(links)
    size, n = links.shape[2], links.shape[-1]
    if size % 2:
        raise ValueError(f"the checkerboard update needs an even lattice size, got {size}")
    if beta < 0 or sweeps < 0 or step <= 0:
        raise ValueError(f"beta >= 0, sweeps >= 0 and step > 0 expected, got {beta}, {sweeps}, {step}")
    gen = generator or torch.Generator().manual_seed(0)
    x0, x1 = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    parities = [(x0 + x1) % 2 == p for p in (0, 1)]
    links, accepted = links.clone(), 0.0
    for _ in range(sweeps):
        for mu in (0, 1):
            for parity in parities:
                old = links[:, mu]
                new = matmul(_near_identity(old.shape[:-2], n, step, gen).to(old.dtype), old)
                a = staples(links, mu)
                delta = -beta * (re_trace(matmul(new, a)) - re_trace(matmul(old, a)))
                accept = (torch.rand(delta.shape, generator=gen, dtype=torch.float64) < torch.exp(-delta)) & parity
                links[:, mu] = torch.where(accept[..., None, None], new, old)
                accepted += float(accept.double().sum()) / (accept.shape[0] * size * size / 2)
    return links, accepted / max(1, 4 * sweeps)


def exact_average_plaquette(beta: float, group: str = "U(1)", volume: int | None = None) -> float:
    """The exact ⟨Re tr P / N⟩ of 2D lattice gauge theory with the Wilson action.

    U(1): I_1(β)/I_0(β) in infinite volume; on a periodic lattice of `volume` sites, from the character
    expansion Z = Σ_n I_n(β)^V, ⟨P⟩ = Σ_n I_n' I_n^(V−1) / Σ_n I_n^V, whose n ≠ 0 terms are the finite-size
    correction, of order (I_1/I_0)^V. SU(2) (action β Σ (1 − ½ Re tr P)): I_2(β)/I_1(β), infinite volume.
    """
    _group_size(group)
    if beta < 0:
        raise ValueError(f"beta >= 0 expected, got {beta}")
    if group == "SU(2)":
        if volume is not None:
            raise ValueError("the SU(2) result here is the infinite-volume one: pass volume=None")
        return float(ive(2, beta) / ive(1, beta)) if beta > 0 else 0.0
    if volume is None:
        return float(ive(1, beta) / ive(0, beta))
    orders = np.arange(-40, 41)
    ratio = ive(orders, beta) / ive(0, beta)  # I_n / I_0, so that the powers neither overflow nor vanish
    derivative = (ive(orders - 1, beta) + ive(orders + 1, beta)) / (2 * ive(0, beta))
    return float((derivative * ratio ** (volume - 1)).sum() / (ratio**volume).sum())
