"""Data for neural operators, generated and verified here (chapter "Neural operators").

Two solution maps of Li et al. (2021), with solvers small enough to read:

* periodic viscous Burgers on [0, 1), u_t + (u²/2)_x = ν u_xx with ν = 0.1, from initial
  conditions drawn from the Gaussian random field N(0, 625 (−Δ + 25 I)^−2): the map
  u(x, 0) -> u(x, 1). `burgers_periodic` is a batched Fourier pseudo-spectral solver (2/3
  dealiasing, integrating-factor RK4: the diffusion is integrated exactly);
* 2D Darcy flow −∇·(a ∇u) = f on the unit square, u = 0 on the boundary, f = 1, with a
  piecewise-constant coefficient a (12 where a Gaussian random field is positive, 3 elsewhere):
  the map a -> u. `darcy_solve` is the 5-point finite-difference scheme with harmonic means of a
  on the cell faces, solved by a sparse LU factorisation.

The tests check the Burgers solver against the Cole–Hopf solution of `course_lib.burgers` and
against a finer grid, and the Darcy solver against a manufactured solution.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

NU = 0.1  # Burgers viscosity of Li et al. (2021)


def _grf_amplitude(k_squared: np.ndarray, alpha: float, tau: float, sigma: float) -> np.ndarray:
    """sqrt of the eigenvalues σ² (4π²|k|² + τ²)^−α of the GRF's covariance, mean mode removed."""
    amp = sigma * (4 * math.pi**2 * k_squared + tau**2) ** (-alpha / 2)
    amp.flat[0] = 0.0
    return amp


def grf_1d(n_samples: int, s: int, seed: int = 0, alpha: float = 2.0, tau: float = 5.0,
           sigma: float = 25.0, modes: int = 31) -> np.ndarray:
    """Samples (n_samples, s) of the periodic Gaussian random field N(0, σ² (−Δ + τ² I)^−α) on
    the grid x_j = j/s of [0, 1), mean zero, drawn in its Fourier modes 0..`modes`. With the
    defaults the same seed gives the same *function* at every even s ≥ 64: modes 0..31 carry all
    but a negligible part of the energy, so a finer grid samples the same field more finely
    (a band-limited input: 64 samples determine it). A rougher field (smaller alpha) with more
    modes, drawn on a fine grid and subsampled, holds energy a coarse grid cannot represent."""
    if s < 8 or s % 2:
        raise ValueError(f"need an even grid size s >= 8, got {s}")
    if modes < 1:
        raise ValueError(f"need modes >= 1, got {modes}")
    rng = np.random.default_rng(seed)
    k = np.arange(modes + 1)
    coeff = rng.standard_normal((n_samples, modes + 1)) + 1j * rng.standard_normal((n_samples, modes + 1))
    coeff *= _grf_amplitude(k.astype(float) ** 2, alpha, tau, sigma) / math.sqrt(2)
    spectrum = np.zeros((n_samples, s // 2 + 1), dtype=complex)
    keep = min(modes + 1, s // 2)  # below the Nyquist mode
    spectrum[:, :keep] = coeff[:, :keep]
    return np.fft.irfft(spectrum * s, n=s)


def burgers_periodic(u0: np.ndarray, t: float = 1.0, nu: float = NU, dt: float = 1e-3,
                     length: float = 1.0) -> np.ndarray:
    """Solve u_t + (u²/2)_x = ν u_xx on the periodic domain [0, length) from u0 (batch, s) at
    the grid points x_j = j·length/s to time t: (batch, s). Steps of at most dt."""
    u0 = np.atleast_2d(np.asarray(u0, dtype=np.float64))
    s = u0.shape[-1]
    if u0.ndim != 2 or s < 8 or s % 2:
        raise ValueError(f"u0 is (batch, s) with an even s >= 8, got shape {np.shape(u0)}")
    if t < 0 or dt <= 0 or nu <= 0:
        raise ValueError(f"need t >= 0, dt > 0 and nu > 0, got t={t}, dt={dt}, nu={nu}")
    k = 2 * math.pi / length * np.fft.rfftfreq(s, d=1 / s)
    keep = np.arange(len(k)) < s / 3  # 2/3 rule
    steps = max(1, math.ceil(t / dt - 1e-9))
    h = t / steps
    half = np.exp(-nu * k**2 * h / 2)
    full = half * half

    def nonlinear(v: np.ndarray) -> np.ndarray:  # −(u²/2)_x in Fourier space, dealiased
        u = np.fft.irfft(v * keep, s)
        return -0.5j * k * np.fft.rfft(u * u) * keep

    v = np.fft.rfft(u0)
    for _ in range(steps if t > 0 else 0):
        a = nonlinear(v)
        b = nonlinear(half * (v + h / 2 * a))
        c = nonlinear(half * v + h / 2 * b)
        d = nonlinear(full * v + h * half * c)
        v = full * v + h / 6 * (full * a + 2 * half * (b + c) + d)
    return np.fft.irfft(v, s)


def burgers_dataset(n_samples: int, s: int, seed: int = 0, solve_s: int | None = None,
                    dt: float = 1e-3, nu: float = NU, t: float = 1.0, **grf) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (u(x, 0), u(x, t)) of periodic Burgers with viscosity nu (defaults ν = 0.1, t = 1),
    each (n_samples, s), float64; `grf` are keyword arguments of `grf_1d` (alpha, tau, sigma, modes).

    Solved on a grid of solve_s points (default s, a multiple of s) and sampled every
    solve_s/s-th point, so that data at several resolutions can share one solve."""
    solve_s = solve_s or s
    if solve_s % s:
        raise ValueError(f"solve_s is a multiple of s, got solve_s={solve_s}, s={s}")
    u0 = grf_1d(n_samples, solve_s, seed, **grf)
    u1 = burgers_periodic(u0, t=t, dt=dt, nu=nu)
    step = solve_s // s
    return u0[:, ::step], u1[:, ::step]


# ----- 2D Darcy flow -----

def grf_2d(n_samples: int, s: int, seed: int = 0, alpha: float = 2.0, tau: float = 3.0) -> np.ndarray:
    """Samples (n_samples, s, s) of the Gaussian random field N(0, (−Δ + τ² I)^−α) on the grid
    of s × s points of [0, 1]² (built periodic on a grid twice as large and cropped, so the
    field does not wrap around the square), mean mode removed."""
    if s < 4:
        raise ValueError(f"need a grid size s >= 4, got {s}")
    rng = np.random.default_rng(seed)
    n = 2 * s
    k = np.fft.fftfreq(n, d=1 / n) / 2  # wavenumbers of the period-2 box
    k_squared = k[:, None] ** 2 + k[None, :] ** 2
    amp = _grf_amplitude(k_squared, alpha, tau, 1.0)
    noise = rng.standard_normal((n_samples, n, n)) + 1j * rng.standard_normal((n_samples, n, n))
    field = np.fft.ifft2(noise * amp).real * n * n
    return field[:, :s, :s]


def darcy_coefficient(field: np.ndarray, high: float = 12.0, low: float = 3.0) -> np.ndarray:
    """The thresholded coefficient of Li et al.: `high` where field >= 0, `low` elsewhere."""
    return np.where(np.asarray(field) >= 0, high, low)


def darcy_solve(a: np.ndarray, f: float | np.ndarray = 1.0) -> np.ndarray:
    """Solve −∇·(a ∇u) = f on [0, 1]² with u = 0 on the boundary.

    a (s, s) are the coefficient's values at the grid points x_i = i/(s − 1) (boundary
    included), f a number or an (s, s) array at the same points. Five-point finite differences
    on the interior points, with the harmonic mean of a on each face between two points (the
    flux through a face between regions of different a stays continuous); sparse LU. Returns u
    (s, s), zero on the boundary."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] < 3 or (a <= 0).any():
        raise ValueError(f"a is a positive (s, s) array with s >= 3, got shape {a.shape}")
    s = a.shape[0]
    m, h = s - 2, 1.0 / (s - 1)
    f_inner = np.broadcast_to(np.asarray(f, dtype=np.float64), (s, s))[1:-1, 1:-1].ravel()

    def face(p: np.ndarray, q: np.ndarray) -> np.ndarray:
        return 2 * p * q / (p + q)

    inner = a[1:-1, 1:-1]
    west, east = face(inner, a[:-2, 1:-1]), face(inner, a[2:, 1:-1])
    south, north = face(inner, a[1:-1, :-2]), face(inner, a[1:-1, 2:])
    index = np.arange(m * m).reshape(m, m)
    rows, cols, vals = [index.ravel()], [index.ravel()], [(west + east + south + north).ravel()]
    for coeff, di, dj in ((west, -1, 0), (east, 1, 0), (south, 0, -1), (north, 0, 1)):
        i, j = np.meshgrid(np.arange(m), np.arange(m), indexing="ij")
        ok = (0 <= i + di) & (i + di < m) & (0 <= j + dj) & (j + dj < m)
        rows.append(index[ok])
        cols.append(index[i[ok] + di, j[ok] + dj])
        vals.append(-coeff[ok])
    matrix = sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                           shape=(m * m, m * m))
    u = np.zeros((s, s))
    u[1:-1, 1:-1] = spla.splu(matrix).solve(f_inner * h * h).reshape(m, m)
    return u


def darcy_dataset(n_samples: int, s: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (a, u) of Darcy flow with f = 1, each (n_samples, s, s), float64."""
    a = darcy_coefficient(grf_2d(n_samples, s, seed))
    return a, np.stack([darcy_solve(ai) for ai in a])
