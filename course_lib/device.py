"""GPU-optional device choice and seeding: every chapter starts with these two calls."""

from __future__ import annotations

import random

import numpy as np
import torch

from course_lib.arguments import require_int


def device() -> torch.device:
    """CUDA when it is present, the CPU otherwise; nothing in the course needs a GPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and PyTorch (CPU and CUDA) and return a torch generator seeded the same.

    Raises ValueError for a seed that is not a non-negative int.
    """
    require_int(seed, "seed", minimum=0)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)
