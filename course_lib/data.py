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


def place_on_canvas(x: Tensor, size: int, positions: Tensor) -> Tensor:
    """Paste images x (N, C, h, w) into blank canvases (N, C, size, size), image n with its top-left
    corner at positions[n] = (row, col) (chapter "Why symmetry matters in machine learning").

    Raises ValueError when positions is not (N, 2) or an image would stick out of the canvas.
    """
    if x.dim() != 4 or positions.shape != (len(x), 2):
        raise ValueError(f"expected images (N, C, h, w) and positions (N, 2), got {tuple(x.shape)} and "
                         f"{tuple(positions.shape)}")
    h, w = x.shape[-2:]
    if positions.numel() and (positions.min() < 0 or positions[:, 0].max() > size - h or positions[:, 1].max() > size - w):
        raise ValueError(f"a {h}×{w} image fits a {size}×{size} canvas at rows 0..{size - h}, columns 0..{size - w}; "
                         f"got positions from {positions.min().item()} to {positions.max().item()}")
    canvas = x.new_zeros(len(x), x.shape[1], size, size)
    for n, (r, c) in enumerate(positions.tolist()):
        canvas[n, :, r:r + h, c:c + w] = x[n]
    return canvas


def random_shifts(x: Tensor, generator: torch.Generator, max_shift: int) -> Tensor:
    """Data augmentation: shift each image of x (N, C, H, W) circularly by its own random (dy, dx),
    each uniform in -max_shift..max_shift. The signature fits `train.fit(augment=...)` via
    functools.partial(random_shifts, max_shift=...).
    """
    if x.dim() != 4:
        raise ValueError(f"random_shifts expects images (N, C, H, W), got shape {tuple(x.shape)}")
    if max_shift < 0:
        raise ValueError(f"max_shift must be >= 0, got {max_shift}")
    n, _, height, width = x.shape
    dy, dx = torch.randint(-max_shift, max_shift + 1, (2, n, 1, 1), generator=generator)
    rows = (torch.arange(height).view(1, -1, 1) - dy) % height  # (N, H, 1): output row i reads row i - dy
    cols = (torch.arange(width).view(1, 1, -1) - dx) % width    # (N, 1, W)
    return x[torch.arange(n).view(-1, 1, 1), :, rows, cols].permute(0, 3, 1, 2)
