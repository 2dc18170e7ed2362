"""Wigner D-matrices of SO(3) in lie-learn's default basis (real, quantum-normalised, centred,
Condon-Shortley phase): the function escnn 1.0.11 imports, `wigner_D_matrix`.

lie-learn (MIT, (c) 2017 Taco Cohen) evaluates D^l(alpha, beta, gamma) = X(alpha) J X(beta) J X(gamma)
(Pinchon and Hoggan, J. Phys. A 40, 1597 (2007)), where X(theta) rotates about z and J^l is the
matrix of the reflection that swaps the y and z axes; it loads J^l from a data file and needs
compiled modules. Here J^l is computed once per degree: the real spherical harmonics of degree l
(scipy's complex ones, which carry the Condon-Shortley phase, combined as sqrt(2) Re / Im) are
evaluated at fixed points x_i and at their images, and J^l solves Y(P x_i) = J^l Y(x_i) by least
squares (exact: the 2l+1 harmonics span the space the swap acts on).

z_rot_mat and rot_mat are adapted from lie-learn 0.0.2 (pinchon_hoggan_dense.py), Copyright (c) 2017,
Taco Cohen, under the MIT licence whose notice is compat/lie-learn-so3/LICENSE-lie-learn.
"""

from functools import lru_cache

import numpy as np
from scipy.special import sph_harm_y

_SWAP_YZ = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])


def real_spherical_harmonics(l: int, points: np.ndarray) -> np.ndarray:
    """Degree-l real harmonics at unit vectors `points` (n, 3): shape (n, 2l+1), m = -l..l."""
    theta = np.arccos(np.clip(points[:, 2], -1.0, 1.0))
    phi = np.arctan2(points[:, 1], points[:, 0])
    columns = []
    for m in range(-l, l + 1):
        y = sph_harm_y(l, abs(m), theta, phi)
        columns.append(np.sqrt(2) * y.imag if m < 0 else (y.real if m == 0 else np.sqrt(2) * y.real))
    return np.stack(columns, axis=1)


@lru_cache(maxsize=None)
def swap_matrix(l: int) -> np.ndarray:
    """J^l, (2l+1, 2l+1): the action of swapping y and z on the degree-l harmonics."""
    if l < 0:
        raise ValueError(f"the degree l must be >= 0, got {l}")
    rng = np.random.default_rng(0)
    points = rng.normal(size=(4 * (2 * l + 1) + 64, 3))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    before = real_spherical_harmonics(l, points)
    after = real_spherical_harmonics(l, points @ _SWAP_YZ)
    J = np.linalg.lstsq(before, after, rcond=None)[0].T
    J = np.where(np.abs(J) < 1e-12, 0.0, J)
    J.setflags(write=False)
    return J


def z_rot_mat(angle, l):
    """lie-learn's rotation by `angle` about z on the degree-l harmonics, (2l+1, 2l+1)."""
    M = np.zeros((2 * l + 1, 2 * l + 1))
    inds = np.arange(0, 2 * l + 1, 1)
    reversed_inds = np.arange(2 * l, -1, -1)
    frequencies = np.arange(l, -l - 1, -1)
    M[inds, reversed_inds] = np.sin(frequencies * angle)
    M[inds, inds] = np.cos(frequencies * angle)
    return M


def rot_mat(alpha, beta, gamma, l, J):
    """X(alpha) J X(beta) J X(gamma)."""
    return z_rot_mat(alpha, l).dot(J).dot(z_rot_mat(beta, l)).dot(J).dot(z_rot_mat(gamma, l))


def wigner_D_matrix(l, alpha, beta, gamma, field="real", normalization="quantum",
                    order="centered", condon_shortley="cs"):
    """D^l(alpha, beta, gamma) (ZYZ Euler angles), (2l+1, 2l+1), in lie-learn's default basis.

    Only that basis is provided (the one escnn uses); any other raises NotImplementedError."""
    basis = (field, normalization, order, condon_shortley)
    if basis != ("real", "quantum", "centered", "cs"):
        raise NotImplementedError(f"only the basis ('real', 'quantum', 'centered', 'cs') is "
                                  f"provided by this stand-in for lie-learn, got {basis}")
    return rot_mat(alpha, beta, gamma, l, swap_matrix(l))
