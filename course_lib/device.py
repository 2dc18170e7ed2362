"""GPU-optional device choice and seeding: every chapter starts with these two calls, from chapter
"What do we mean by symmetry?" on."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from course_lib.arguments import require_int


def device() -> torch.device:
    """CUDA when it is present, the CPU otherwise; nothing in the course needs a GPU.

    COURSE_DEVICE=cpu keeps a GPU machine on the CPU (the book's stored outputs were made there);
    COURSE_DEVICE=cuda insists on CUDA. Raises ValueError for another value, or for cuda where
    CUDA is absent."""
    wanted = os.environ.get("COURSE_DEVICE", "").strip().lower()
    if wanted not in ("", "cpu", "cuda"):
        raise ValueError(f"COURSE_DEVICE must be cpu or cuda (or unset), got {wanted!r}")
    if wanted == "cuda" and not torch.cuda.is_available():
        raise ValueError("COURSE_DEVICE=cuda, but torch sees no CUDA device "
                         f"(torch {torch.__version__}, built for CUDA {torch.version.cuda})")
    if wanted:
        return torch.device(wanted)
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
