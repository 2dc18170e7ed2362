"""Data sets made on the spot or shipped inside installed packages: never a network download.

Built in chapter "Why symmetry matters in machine learning" (digits on a canvas, random shifts), with
rotated images for chapter "Group-equivariant CNNs"."""

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


def rotate_images(x: Tensor, angle: float | Tensor) -> Tensor:
    """Rotate square images x (N, C, H, H) counter-clockwise (as displayed) by `angle` radians, a float
    or one angle per image (N,), about the image centre (chapter "Group-equivariant CNNs").

    Bilinear interpolation, zeros outside; multiples of 90° agree with torch.rot90 up to rounding.
    """
    if x.dim() != 4 or x.shape[-1] != x.shape[-2]:
        raise ValueError(f"rotate_images expects square images (N, C, H, H), got shape {tuple(x.shape)}")
    angle = torch.as_tensor(angle, dtype=torch.float64, device=x.device).expand(len(x))
    c, s, zero = torch.cos(angle), torch.sin(angle), torch.zeros_like(angle)
    # affine_grid maps output to input coordinates (x right, y down): sample the input at R(θ) p_out
    theta = torch.stack([torch.stack([c, -s, zero], -1), torch.stack([s, c, zero], -1)], -2).to(x.dtype)
    grid = torch.nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
    return torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def padded_digits(size: int = 24, digit_size: int = 16) -> tuple[Tensor, Tensor]:
    """The digits upsampled (bilinear) to digit_size² and centred on a blank size² canvas, so that
    rotations do not clip them when digit_size·√2 <= size: images (N, 1, size, size), labels (N,)."""
    if not 8 <= digit_size <= size:
        raise ValueError(f"need 8 <= digit_size <= size, got digit_size={digit_size}, size={size}")
    x, y = digits()
    x = torch.nn.functional.interpolate(x, size=(digit_size, digit_size), mode="bilinear", align_corners=False)
    pad = size - digit_size
    return torch.nn.functional.pad(x, (pad // 2, pad - pad // 2, pad // 2, pad - pad // 2)), y
