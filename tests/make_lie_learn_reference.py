"""lie-learn's own Wigner D-matrices, for tests/test_packaging.py to hold compat/lie-learn-so3 to.

escnn 1.0.11 calls lie-learn in one place (escnn/group/groups/so3_utils.py, `_wigner_d_matrix`):
`wigner_D_matrix(l, alpha, beta, gamma, field="real")`, the other arguments left at their defaults,
with ZYZ Euler angles from scipy (alpha, gamma in [-pi, pi], beta in [0, pi]). This script makes
exactly those calls for l = 0..12 at a few seeded angle triples (and the two poles of beta, where
ZYZ angles are degenerate) and writes tests/lie_learn_wigner_d.npz:

    angles (k, 3)                the triples, float64
    D_<l> (k, 2l+1, 2l+1)        lie-learn's wigner_D_matrix(l, *angles[i], field="real")
    versions ()                  "lie-learn X numpy Y python Z", the environment that made them

lie-learn is compiled for numpy<2 and has no wheel for Python 3.13, so it runs in a scratch
environment outside the repository. To rerun (about a minute, most of it pip):

    /root/.pyenv/versions/3.11.7/bin/python3 -m venv /tmp/ll
    /tmp/ll/bin/pip install "numpy<2" lie-learn==0.0.2
    /tmp/ll/bin/python tests/make_lie_learn_reference.py
"""

import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
from lie_learn.representations.SO3.wigner_d import wigner_D_matrix

DEGREES = range(0, 13)
OUT = Path(__file__).resolve().parent / "lie_learn_wigner_d.npz"


def angle_triples(seed: int = 2026, k: int = 3) -> np.ndarray:
    """(k + 2, 3): k random ZYZ triples in escnn's ranges, then beta = 0 and beta = pi."""
    rng = np.random.default_rng(seed)
    random = np.stack([rng.uniform(-np.pi, np.pi, k), rng.uniform(0, np.pi, k), rng.uniform(-np.pi, np.pi, k)], 1)
    poles = np.array([[0.7, 0.0, -1.9], [-2.3, np.pi, 0.4]])
    return np.concatenate([random, poles])


def main() -> None:
    angles = angle_triples()
    tables = {f"D_{l}": np.stack([wigner_D_matrix(l, *a, field="real") for a in angles]) for l in DEGREES}
    made_by = (f"lie-learn {version('lie-learn')} numpy {np.__version__} "
               f"python {sys.version_info.major}.{sys.version_info.minor}")
    np.savez_compressed(OUT, angles=angles, versions=np.array(made_by), **tables)
    print(f"wrote {OUT} ({OUT.stat().st_size // 1024} KB): l = {DEGREES.start}..{DEGREES.stop - 1}, "
          f"{len(angles)} angle triples, {made_by}")


if __name__ == "__main__":
    main()
