"""Group-equivariant CNNs from scratch (chapter "Group-equivariant CNNs").

A G-CNN for the wallpaper group p4 (translations × C4, the 90° rotations) or p4m (translations × D4,
rotations and mirror flips) works with *functions on the group*: a feature map has one plane per
element of the point group G, stored as a tensor of shape (batch, channels, |G|, height, width).

* `LiftingConv`: image (B, C, H, W) -> group maps (B, C', |G|, H', W'). Plane h is the image
  cross-correlated with the filter transformed by h.
* `GroupConv`: group maps -> group maps, with filters that are themselves functions on the group.
* `group_pool`: max (or mean) over the |G| planes, giving maps that transform like images.

The group acts on group maps by moving each plane spatially *and* permuting the planes:
    (g·F)(h) = g · F(g⁻¹h)      (`act_on_group_maps`)
Both layers build the |G| transformed copies of their filters once per forward pass (the filter
bank, `lifting_filter_bank` / `group_filter_bank`; the layers build it with a single precomputed
gather) and call a single `F.conv2d`, so they cost one ordinary convolution with |G|× the channels.
"""

from __future__ import annotations

import math
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib import groups
from course_lib.arguments import require_int
from course_lib.data import rotate_images

POINT_GROUPS = {"p1": groups.CyclicGroup(1), "p4": groups.CyclicGroup(4), "p4m": groups.DihedralGroup(4)}


def point_group(name: str) -> groups.FiniteGroup:
    """The point group of a wallpaper group: C1 for "p1" (translations only: a plain CNN), C4 for
    "p4", D4 for "p4m"."""
    if name not in POINT_GROUPS:
        raise ValueError(f"the group is 'p1' (translations only), 'p4' (rotations) or 'p4m' (rotations "
                         f"and flips), got {name!r}")
    return POINT_GROUPS[name]


def act_on_image(g: groups.Element, x: Tensor, group: str = "p4") -> Tensor:
    """The point-group element g acting on images x (..., H, H): rotate by k·90° (p4: g = k),
    or flip left-right if f and then rotate (p4m: g = (k, f))."""
    if group in ("p1", "p4"):
        return groups.rotate_image(x, point_group(group).validate(g))
    point_group(group)
    return groups.dihedral_act_image(x, g)


def _plane_permutation(g: groups.Element, group: str) -> Tensor:
    """Index tensor perm with perm[h] = index of g⁻¹·h: plane h of g·F comes from plane g⁻¹h of F."""
    G = point_group(group)
    g_inv = G.inverse(g)
    return torch.tensor([G.index(G.compose(g_inv, h)) for h in G.elements()])


def act_on_group_maps(g: groups.Element, f: Tensor, group: str = "p4") -> Tensor:
    """(g·F)(h) = g·F(g⁻¹h) on group maps f (..., |G|, H, H): permute the planes, move each one."""
    order = point_group(group).order
    if f.dim() < 3 or f.shape[-3] != order:
        raise ValueError(f"group maps for {group} have shape (..., {order}, H, W), got {tuple(f.shape)}")
    return act_on_image(g, f.index_select(-3, _plane_permutation(g, group).to(f.device)), group)


def lifting_filter_bank(weight: Tensor, group: str = "p4") -> Tensor:
    """The |G| transformed copies of a filter bank: weight (C_out, C_in, k, k) -> (C_out, |G|, C_in, k, k)."""
    if weight.dim() != 4:
        raise ValueError(f"lifting filters have shape (C_out, C_in, k, k), got {tuple(weight.shape)}")
    return torch.stack([act_on_image(g, weight, group) for g in point_group(group).elements()], dim=1)


def group_filter_bank(weight: Tensor, group: str = "p4") -> Tensor:
    """Group filters transformed by every h: weight (C_out, C_in, |G|, k, k) -> (C_out, |G|, C_in, |G|, k, k)."""
    if weight.dim() != 5:
        raise ValueError(f"group filters have shape (C_out, C_in, |G|, k, k), got {tuple(weight.shape)}")
    return torch.stack([act_on_group_maps(h, weight, group) for h in point_group(group).elements()], dim=1)


class _FilterBankConv(nn.Module):
    """What `LiftingConv` and `GroupConv` share: the point group, the channels, the padding, a weight
    with `planes_in` planes per input channel (1 for images, |G| for group maps) and one bias per
    output channel, shared by its |G| planes."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, padding: int, group: str,
                 bias: bool, planes_in: int):
        super().__init__()
        self.group, self.order = group, point_group(group).order
        self.in_channels = require_int(in_channels, "in_channels")
        self.out_channels = require_int(out_channels, "out_channels")
        self.padding = require_int(padding, "padding", 0)
        k = require_int(kernel_size, "kernel_size")
        filter_shape = ((planes_in,) if planes_in > 1 else ()) + (k, k)
        self.weight = nn.Parameter(torch.randn((out_channels, in_channels) + filter_shape)
                                   * math.sqrt(2 / (in_channels * planes_in * k * k)))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        # Rotating, flipping and permuting planes only move a filter's entries, so the bank is a fixed
        # gather of them. Find where each entry goes once, by building the bank of the entries' numbers.
        bank = lifting_filter_bank if planes_in == 1 else group_filter_bank
        entries = torch.arange(planes_in * k * k).reshape((1, 1) + filter_shape)
        self.register_buffer("bank_index", bank(entries, group).reshape(self.order, -1), persistent=False)

    def filter_bank(self) -> Tensor:
        """The bank of transformed filters as conv2d weights (C_out·|G|, C_in·planes_in, k, k): equal to
        `lifting_filter_bank(weight)` or `group_filter_bank(weight)`, flattened, built with one gather."""
        c_out, c_in, k = self.out_channels, self.in_channels, self.weight.shape[-1]
        bank = self.weight.flatten(2)[:, :, self.bank_index]      # (C_out, C_in, |G|, planes_in·k·k)
        return bank.transpose(1, 2).reshape(c_out * self.order, -1, k, k)

    def _correlate(self, x: Tensor) -> Tensor:
        """One F.conv2d of x (B, C_in·planes_in, H, W) with the bank -> (B, C_out, |G|, H', W')."""
        bias = None if self.bias is None else self.bias.repeat_interleave(self.order)
        y = F.conv2d(x, self.filter_bank(), bias, padding=self.padding)
        return y.unflatten(1, (self.out_channels, self.order))


class LiftingConv(_FilterBankConv):
    """Image (B, C_in, H, W) -> group maps (B, C_out, |G|, H', W'), H' = H + 2·padding - k + 1.

    Plane h of output channel o is Σ_c x_c ⋆ (h·W)_{o,c}: the image correlated with the filter
    rotated (and flipped) by h. Equivariant: lift(g·x) = g·lift(x) with `act_on_group_maps`.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, padding: int = 0,
                 group: str = "p4", bias: bool = True):
        super().__init__(in_channels, out_channels, kernel_size, padding, group, bias, planes_in=1)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"LiftingConv expects images (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        return self._correlate(x)


class GroupConv(_FilterBankConv):
    """Group maps (B, C_in, |G|, H, W) -> group maps (B, C_out, |G|, H', W').

    Plane h of the output is Σ_{c, k} F_c(k) ⋆ (h·Ψ)_c(k), with (h·Ψ)(k) = h·Ψ(h⁻¹k): the filter,
    a function on the group, moved by h. Equivariant: conv(g·F) = g·conv(F).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, padding: int = 0,
                 group: str = "p4", bias: bool = True):
        super().__init__(in_channels, out_channels, kernel_size, padding, group, bias,
                         planes_in=point_group(group).order)

    def forward(self, f: Tensor) -> Tensor:
        if f.dim() != 5 or f.shape[1] != self.in_channels or f.shape[2] != self.order:
            raise ValueError(f"GroupConv expects group maps (B, {self.in_channels}, {self.order}, H, W), "
                             f"got {tuple(f.shape)}")
        return self._correlate(f.flatten(1, 2))


def group_pool(f: Tensor, reduce: str = "max") -> Tensor:
    """Pool over the group planes: (B, C, |G|, H, W) -> (B, C, H, W), which transform like images."""
    if f.dim() != 5:
        raise ValueError(f"group_pool expects group maps (B, C, |G|, H, W), got {tuple(f.shape)}")
    if reduce == "max":
        return f.amax(dim=2)
    if reduce == "mean":
        return f.mean(dim=2)
    raise ValueError(f"reduce is 'max' or 'mean', got {reduce!r}")


def spatial_max_pool(f: Tensor, size: int = 2) -> Tensor:
    """Max-pool each group plane over size×size blocks: (B, C, |G|, H, W) -> (B, C, |G|, H/size, W/size).

    Rotations map blocks onto blocks only when size divides H and W, so anything else is an error.
    """
    if f.dim() != 5 or f.shape[-1] % size or f.shape[-2] % size:
        raise ValueError(f"spatial_max_pool expects group maps (B, C, |G|, H, W) with H, W multiples of {size}, "
                         f"got {tuple(f.shape)}")
    return F.max_pool2d(f.flatten(1, 2), size).unflatten(1, f.shape[1:3])


class GroupCNN(nn.Module):
    """An invariant classifier on p4 or p4m: images (B, 1, H, W) -> logits (B, n_classes).
    On p1 (one plane: ordinary convolutions) it is the plain CNN with the same pooled head.

    Three blocks conv -> batch norm -> ReLU (lifting conv first, then group convs; a 2×2 max-pool
    after the first two), then group pool (max over the planes) -> global spatial max -> linear.
    H and W must be multiples of 4. Invariant to the point group exactly (90° rotations, and flips
    for p4m), since both pools at the end are invariant. `nn.BatchNorm3d` on (B, C, |G|, H, W) shares
    its statistics and scale over the |G| planes of a channel, which keeps it equivariant.
    """

    def __init__(self, channels: tuple[int, int, int] = (8, 16, 16), group: str = "p4", n_classes: int = 10):
        super().__init__()
        c1, c2, c3 = channels
        self.group = group
        self.lift = LiftingConv(1, c1, 5, padding=2, group=group)
        self.conv2 = GroupConv(c1, c2, 5, padding=2, group=group)
        self.conv3 = GroupConv(c2, c3, 3, padding=1, group=group)
        self.norms = nn.ModuleList([nn.BatchNorm3d(c) for c in channels])
        self.head = nn.Linear(c3, n_classes)

    def features(self, x: Tensor) -> Tensor:
        """Images (B, 1, H, W) -> invariant features (B, c3)."""
        norm1, norm2, norm3 = self.norms
        f = spatial_max_pool(F.relu(norm1(self.lift(x))))
        f = spatial_max_pool(F.relu(norm2(self.conv2(f))))
        return group_pool(F.relu(norm3(self.conv3(f)))).amax(dim=(-2, -1))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


class PlainCNN(nn.Module):
    """The usual CNN: conv 5×5 -> batch norm -> ReLU -> pool 2, twice, then flatten -> MLP. Its
    head sees where each feature is; `GroupCNN(group="p1")` is the plain CNN with a pooled head.

    Images (B, 1, size, size) -> logits (B, n_classes); size a multiple of 4.
    """

    def __init__(self, size: int = 24, channels: tuple[int, int] = (32, 64), hidden: int = 64, n_classes: int = 10):
        super().__init__()
        if size % 4:
            raise ValueError(f"PlainCNN needs an image size that is a multiple of 4, got {size}")
        c1, c2 = channels
        self.net = nn.Sequential(
            nn.Conv2d(1, c1, 5, padding=2), nn.BatchNorm2d(c1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 5, padding=2), nn.BatchNorm2d(c2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(c2 * (size // 4) ** 2, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def n_parameters(model: nn.Module) -> int:
    """The number of trainable parameters of a model."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def channels_for_parameters(make: Callable[[tuple[int, ...]], nn.Module], target: int,
                            candidates: Iterable[tuple[int, ...]]) -> tuple[int, ...]:
    """The channels among `candidates` whose model `make(channels)` has the parameter count
    closest to `target`: how a finer group's model is given the same budget as a coarser one's."""
    candidates = list(candidates)
    if not candidates:
        raise ValueError("channels_for_parameters needs at least one candidate, got none")
    return min(candidates, key=lambda channels: abs(n_parameters(make(channels)) - target))


def random_rotations(x: Tensor, generator: torch.Generator) -> Tensor:
    """Data augmentation: rotate each image of x (N, C, H, H) by its own uniform random angle
    (`data.rotate_images`, bilinear). The signature fits `train.fit(augment=...)`."""
    angles = 2 * math.pi * torch.rand(len(x), generator=generator)
    return rotate_images(x, angles)


@torch.no_grad()
def rotation_sweep(model: Callable[[Tensor], Tensor], x: Tensor, angles: Tensor) -> tuple[Tensor, Tensor]:
    """How a classifier answers images x (B, C, H, H) rotated by each angle θ of angles (A,), radians:
    the relative change of the logits |f(R_θ x) − f(x)| / |f(x)| (norms over the whole batch) and
    the fraction of images whose predicted class (argmax) changes, each (A,). Rotation by
    `data.rotate_images` (bilinear)."""
    if angles.dim() != 1:
        raise ValueError(f"angles is a 1-d tensor of radians, got shape {tuple(angles.shape)}")
    logits = model(x)
    rotated = [model(rotate_images(x, float(a))) for a in angles]
    change = torch.stack([(r - logits).norm() / logits.norm() for r in rotated])
    changed = torch.stack([(r.argmax(-1) != logits.argmax(-1)).float().mean() for r in rotated])
    return change, changed
