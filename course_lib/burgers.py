"""The viscous Burgers benchmark of PINNs (chapter "Physics-informed neural networks").

    u_t + u u_x = ν u_xx,   x ∈ [−1, 1], t ∈ [0, 1],   u(x, 0) = −sin(πx),   u(±1, t) = 0,   ν = 0.01/π

(Raissi, Perdikaris & Karniadakis 2019). A shock forms at x = 0 near t ≈ 0.3 and steepens to a
width of a few ν. This module holds two independent reference solutions, computed here and never
downloaded, the PDE residual of a network, and the ansatz that builds the initial and boundary
conditions into the network:

* `cole_hopf`: the exact solution through the Cole–Hopf transform, the heat-kernel integral
  evaluated by Gauss–Hermite quadrature;
* `spectral`: a Fourier pseudo-spectral solver (the solution is odd and 2-periodic, so u(±1) = 0
  holds by symmetry), integrating-factor RK4 in time; the tests check the two against each other.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import roots_hermite
import torch
from torch import Tensor, nn

from course_lib import pinn
from course_lib.pinn import HardConstraint, derivatives

NU = 0.01 / math.pi
DOMAIN = ((-1.0, 0.0), (1.0, 1.0))  # (x, t) low and high


def cole_hopf(x: np.ndarray, t: np.ndarray, nu: float = NU, nodes: int = 400) -> np.ndarray:
    """The exact Burgers solution u(x, t) for u(x, 0) = −sin(πx), at arrays x, t (broadcast together).

    Cole–Hopf: u = −∫ sin(π(x−η)) f(x−η) e^{−η²/4νt} dη / ∫ f(x−η) e^{−η²/4νt} dη with
    f(y) = exp(−cos(πy)/(2πν)); with η = √(4νt) z both integrals are Gauss–Hermite integrals over z.
    The exponents are shifted by their maximum at each (x, t), since the ratio does not change and
    exp(1/(2πν)) = e^50 would otherwise lose digits. At t = 0 it returns −sin(πx).
    """
    if nu <= 0:
        raise ValueError(f"the viscosity nu must be > 0, got {nu}")
    x, t = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(t, dtype=np.float64))
    if (t < 0).any():
        raise ValueError("times t must be >= 0")
    z, w = roots_hermite(nodes)
    y = x[..., None] - np.sqrt(4 * nu * t)[..., None] * z  # (..., nodes)
    exponent = -np.cos(np.pi * y) / (2 * np.pi * nu)
    weights = w * np.exp(exponent - exponent.max(axis=-1, keepdims=True))
    return -(weights * np.sin(np.pi * y)).sum(-1) / weights.sum(-1)


def spectral(n: int = 2048, t_out: np.ndarray = np.linspace(0, 1, 11), nu: float = NU,
             dt: float = 2e-4) -> tuple[np.ndarray, np.ndarray]:
    """Solve Burgers with u(x, 0) = −sin(πx) on the periodic grid x_j = −1 + 2j/n, j = 0..n−1.

    Fourier pseudo-spectral in space (2/3 dealiasing), integrating-factor RK4 in time (the diffusion
    is integrated exactly). Returns x (n,) and u (len(t_out), n) at the times t_out (ascending, >= 0).
    """
    t_out = np.asarray(t_out, dtype=np.float64)
    if n < 16 or n % 2 or t_out.ndim != 1 or (np.diff(t_out) < 0).any() or (t_out < 0).any():
        raise ValueError(f"need an even n >= 16 and ascending times >= 0, got n={n}, t_out={t_out}")
    x = -1 + 2 * np.arange(n) / n
    k = np.pi * np.fft.rfftfreq(n, d=1 / n)  # wavenumbers of the period-2 grid
    keep = np.arange(len(k)) < n / 3  # 2/3 rule
    half = np.exp(-nu * k**2 * dt / 2)

    def nonlinear(v: np.ndarray) -> np.ndarray:  # −(u²/2)_x in Fourier space, dealiased
        u = np.fft.irfft(v * keep, n)
        return -0.5j * k * np.fft.rfft(u * u) * keep

    v, t, out = np.fft.rfft(-np.sin(np.pi * x)), 0.0, []
    for target in t_out:
        while t < target - 1e-12:
            h = min(dt, target - t)
            e_half = half if h == dt else np.exp(-nu * k**2 * h / 2)
            a = nonlinear(v)
            b = nonlinear(e_half * (v + h / 2 * a))
            c = nonlinear(e_half * v + h / 2 * b)
            d = nonlinear(e_half**2 * v + h * e_half * c)
            v = e_half**2 * v + h / 6 * (e_half**2 * a + 2 * e_half * (b + c) + d)
            t += h
        out.append(np.fft.irfft(v, n))
    return x, np.stack(out)


def reference_grid(nx: int = 256, nt: int = 100) -> tuple[Tensor, Tensor]:
    """The benchmark's evaluation grid and the exact solution on it: points (nt·nx, 2) as (x, t),
    with x in linspace(−1, 1, nx) and t in linspace(0, 0.99, nt) (Raissi et al.'s data layout),
    and u (nt, nx), float64."""
    x, t = np.linspace(-1, 1, nx), np.linspace(0, 0.99, nt)
    tt, xx = np.meshgrid(t, x, indexing="ij")
    points = torch.from_numpy(np.stack([xx.ravel(), tt.ravel()], axis=1))
    return points, torch.from_numpy(cole_hopf(xx, tt))


def residual(u_fn, xt: Tensor, nu: float = NU, method: str = "autograd") -> Tensor:
    """The Burgers residual u_t + u u_x − ν u_xx at space-time points xt (N, 2) = (x, t): (N,)."""
    d = derivatives(u_fn, xt, second=(0,), method=method)
    return d.grad[:, 1] + d.u * d.grad[:, 0] - nu * d.second[:, 0]


def rad_points(u_fn, n: int, low=DOMAIN[0], high=DOMAIN[1], pool: int = 10_000, k: float = 1.0,
               c: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
    """Residual-based adaptive distribution (RAD, Wu et al. 2023): n collocation points (n, 2).

    Draws `pool` points uniform in the box [low, high], then n of them without replacement with
    probability ∝ |r|^k / mean |r|^k + c, r the Burgers residual of u_fn there: points gather
    where the residual is large (the shock), and c > 0 keeps a share spread over the whole box.
    The points have u_fn's dtype.
    """
    if not 0 < n <= pool or k < 0 or c < 0:
        raise ValueError(f"need 0 < n <= pool, k >= 0 and c >= 0, got n={n}, pool={pool}, k={k}, c={c}")
    dtype = next(iter(u_fn.parameters())).dtype if isinstance(u_fn, nn.Module) else torch.float64
    candidates = pinn.box_interior(pool, low, high, generator=generator, dtype=dtype)
    r = residual(u_fn, candidates).detach().abs() ** k
    weights = r / r.mean() + c
    return candidates[torch.multinomial(weights, n, replacement=False, generator=generator)]


def initial_condition(xt: Tensor) -> Tensor:
    """−sin(πx) at points (N, 2): (N,)."""
    return -torch.sin(math.pi * xt[:, 0])


class OddInX(nn.Module):
    """N(x, t) − N(−x, t): a network that is odd in x by construction.

    Burgers is unchanged by (x, u) -> (−x, −u) and the initial condition −sin(πx) is odd, so the
    solution is odd in x: the shock sits at x = 0 for all t. This wrapper builds that symmetry in.
    """

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, xt: Tensor) -> Tensor:
        mirror = torch.stack([-xt[:, 0], xt[:, 1]], dim=1)
        return self.net(xt) - self.net(mirror)


def hard_ansatz(net: nn.Module, odd: bool = False) -> HardConstraint:
    """u(x, t) = −sin(πx) + t(1 − x²) N(x, t): the initial and boundary conditions hold for any N.

    With odd=True, N is replaced by `OddInX(N)`, so u is also odd in x, as the exact solution is.
    """
    return HardConstraint(OddInX(net) if odd else net, distance=lambda xt: xt[:, 1] * (1 - xt[:, 0] ** 2),
                          lift=initial_condition)
