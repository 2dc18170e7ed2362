"""Data sets made on the spot or shipped inside installed packages: never a network download."""

from __future__ import annotations

import torch
from torch import Tensor


def digits() -> tuple[Tensor, Tensor]:
    """scikit-learn's 1,797 handwritten digits (ships with the package): images (N, 1, 8, 8) in [0, 1], labels (N,)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    return x, torch.tensor(bunch.target, dtype=torch.long)
