"""Symmetries of objects found by measurement (chapter "What do we mean by symmetry?").

A symmetry of an object is a transformation that leaves it unchanged. To find one, transform and
measure how much changed (`course_lib.equivariance.invariance_error` with f = identity). Rotations by
arbitrary angles use `course_lib.data.rotate_images` (bilinear interpolation).

Images are tensors (..., H, W) on the square [-1, 1]²; pixel centres sit at (2k + 1)/H − 1.
"""

from __future__ import annotations

from typing import Callable, Mapping

import torch
from torch import Tensor

from course_lib.data import rotate_images
from course_lib.equivariance import invariance_error
from course_lib.groups import DihedralGroup, dihedral_act_image

Transformation = Callable[[Tensor], Tensor]


def _check_square_images(x: Tensor, what: str = "images") -> None:
    if not isinstance(x, Tensor) or x.dim() < 2 or x.shape[-1] != x.shape[-2]:
        got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{what} must be square, shape (..., H, H), got {got}")


# --------------------------------------------------------------------------------------------
# Shapes drawn on a grid
# --------------------------------------------------------------------------------------------


def pixel_grid(size: int) -> tuple[Tensor, Tensor]:
    """The coordinates (x, y) of the pixel centres of a size×size image on [-1, 1]², each (size, size).

    Row 0 is the top (y = +1 side), column 0 the left (x = −1 side), as images are shown.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 2:
        raise ValueError(f"size must be an int >= 2, got {size!r}")
    c = (2 * torch.arange(size, dtype=torch.float64) + 1) / size - 1
    y, x = torch.meshgrid(-c, c, indexing="ij")
    return x, y


def disk_image(size: int, radius: float = 0.6, edge: float = 0.03) -> Tensor:
    """A disk of the given radius with a soft edge (width `edge`), as a (size, size) image in [0, 1]."""
    x, y = pixel_grid(size)
    return torch.sigmoid((radius - torch.sqrt(x**2 + y**2)) / edge)


def square_image(size: int, half_side: float = 0.5, edge: float = 0.03) -> Tensor:
    """An axis-aligned square |x|, |y| ≤ half_side with a soft edge, as a (size, size) image in [0, 1]."""
    x, y = pixel_grid(size)
    return torch.sigmoid((half_side - torch.maximum(x.abs(), y.abs())) / edge)


# --------------------------------------------------------------------------------------------
# Transformations of images
# --------------------------------------------------------------------------------------------


def shear_image(x: Tensor, slope: float) -> Tensor:
    """Shear x (..., H, W) horizontally: row i is shifted cyclically by round(slope·(i − centre)) pixels."""
    _check_square_images(x)
    h = x.shape[-2]
    rows = [torch.roll(x[..., i, :], round(slope * (i - (h - 1) / 2)), dims=-1) for i in range(h)]
    return torch.stack(rows, dim=-2)


def d4_transformations() -> dict[str, Transformation]:
    """The 8 elements of D4 acting on square images, named r^k s^f, in `DihedralGroup(4).elements()` order."""
    return {f"r^{k} s^{f}": (lambda x, g=(k, f): dihedral_act_image(x, g)) for k, f in DihedralGroup(4).elements()}


# --------------------------------------------------------------------------------------------
# Which transformations are symmetries?
# --------------------------------------------------------------------------------------------


def change_under(x: Tensor, transformations: Mapping[str, Transformation]) -> dict[str, float]:
    """For each named transformation T, the relative change |T x − x| / |x| of the object x."""
    if not transformations:
        raise ValueError("change_under needs at least one transformation, got none")
    return {name: invariance_error(lambda y: y, lambda t, y: t(y), x, [t]) for name, t in transformations.items()}


def d4_symmetry_mask(pattern: Tensor, atol: float = 1e-6) -> Tensor:
    """Which of the 8 elements of D4 leave `pattern` (H, H) unchanged: a bool tensor (8,) in
    `DihedralGroup(4).elements()` order, True where max |g·pattern − pattern| <= atol."""
    _check_square_images(pattern, "the pattern")
    if pattern.dim() != 2:
        raise ValueError(f"the pattern must be one image (H, H), got shape {tuple(pattern.shape)}")
    return torch.tensor([bool((dihedral_act_image(pattern, g) - pattern).abs().max() <= atol)
                         for g in DihedralGroup(4).elements()])


def rotation_change(x: Tensor, angles: Tensor) -> Tensor:
    """|R_θ x − x| / |x| for each angle θ (radians) of `angles` (A,), for one image x (H, H) -> (A,).

    Only pixels inside the inscribed disk count, so that the corners lost by rotating do not.
    """
    _check_square_images(x)
    if x.dim() != 2 or angles.dim() != 1:
        raise ValueError(f"need one image (H, H) and angles (A,), got shapes {tuple(x.shape)} and {tuple(angles.shape)}")
    px, py = pixel_grid(x.shape[-1])
    inside = (px**2 + py**2 < 1).to(x.dtype)
    rotated = rotate_images(x.expand(len(angles), 1, *x.shape), angles)[:, 0]  # (A, H, H)
    return ((rotated - x) * inside).flatten(1).norm(dim=1) / (x * inside).norm()
