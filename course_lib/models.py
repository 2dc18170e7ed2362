"""Small reusable models (chapters "Why symmetry matters in machine learning" and "Invariance and equivariance").

* `MLP`: reads an image as one flat vector; nothing in it knows that pixels have neighbours, so a
  shifted digit is, to it, a different input that must be learned again.
* `conv_stack`: convolutions and ReLUs. With circular padding and stride 1 every layer commutes with
  circular shifts of the image: the features are translation *equivariant*.
* `ConvNet`: `conv_stack`, then a global pooling over positions (max or mean: translation
  *invariant*), then a linear classifier. Far fewer parameters than an MLP, and the symmetry is built in.
* `PixelConvNet`: `conv_stack` and a 1×1 convolution, one output per pixel (a segmentation map):
  equivariant, as per-pixel outputs should be.

Group convolutions (rotations, reflections) are in `course_lib.gcnn`.
"""

from __future__ import annotations

import math
from typing import Sequence

from torch import Tensor, nn

PADDING_MODES = ("circular", "zeros", "reflect", "replicate")


def count_parameters(model: nn.Module) -> int:
    """The number of trainable numbers in `model` (every entry of every parameter tensor)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class MLP(nn.Module):
    """Fully connected network: x (B, *in_shape) is flattened to (B, in_features) -> (B, out_features).

    hidden: the widths of the hidden layers, each followed by a ReLU.
    """

    def __init__(self, in_features: int, hidden: Sequence[int], out_features: int):
        super().__init__()
        widths = [in_features, *hidden]
        if any(not isinstance(w, int) or w < 1 for w in [*widths, out_features]):
            raise ValueError(f"layer widths must be positive ints, got {in_features}, {list(hidden)}, {out_features}")
        layers: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.in_features = in_features
        self.net = nn.Sequential(*layers, nn.Linear(widths[-1], out_features))

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 2 or math.prod(x.shape[1:]) != self.in_features:
            raise ValueError(f"MLP expects a batch (B, ...) of {self.in_features} numbers each, "
                             f"got shape {tuple(x.shape)}")
        return self.net(x.flatten(1))


def conv_stack(in_channels: int, channels: Sequence[int], kernel_size: int = 3,
               padding_mode: str = "circular") -> nn.Sequential:
    """Conv2d + ReLU layers of the given output `channels`, stride 1, 'same' padding: (B, C, H, W) -> (B, channels[-1], H, W).

    With padding_mode='circular' each layer, hence the stack, commutes with circular shifts.
    """
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd (so that 'same' padding is symmetric), got {kernel_size}")
    if not channels or any(c < 1 for c in [in_channels, *channels]):
        raise ValueError(f"channels must be positive, got in_channels={in_channels}, channels={list(channels)}")
    layers: list[nn.Module] = []
    for a, b in zip([in_channels, *channels[:-1]], channels):
        layers += [nn.Conv2d(a, b, kernel_size, padding=kernel_size // 2, padding_mode=padding_mode), nn.ReLU()]
    return nn.Sequential(*layers)


def _check_images(x: Tensor, channels: int, who: str) -> None:
    if x.dim() != 4 or x.shape[1] != channels:
        raise ValueError(f"{who} expects images (B, {channels}, H, W), got shape {tuple(x.shape)}")


def global_pool(features: Tensor, pool: str = "max") -> Tensor:
    """Pool feature maps (B, C, H, W) over all positions to (B, C), by 'max' or 'mean': both are
    unchanged by any permutation of the positions, circular shifts included."""
    if features.dim() != 4:
        raise ValueError(f"global_pool expects feature maps (B, C, H, W), got shape {tuple(features.shape)}")
    if pool == "max":
        return features.amax(dim=(-2, -1))
    if pool == "mean":
        return features.mean(dim=(-2, -1))
    raise ValueError(f"pool must be 'max' or 'mean', got {pool!r}")


class ConvNet(nn.Module):
    """Translation-invariant classifier: conv_stack -> global pool over positions -> linear.

    x (B, in_channels, H, W) -> logits (B, n_classes). `features(x)` gives the equivariant feature
    maps (B, channels[-1], H, W) before the pooling. Max pooling suits small objects on a large
    blank canvas (a mean dilutes them with background).
    """

    def __init__(self, in_channels: int = 1, channels: Sequence[int] = (8, 16), n_classes: int = 10,
                 kernel_size: int = 3, padding_mode: str = "circular", pool: str = "max"):
        super().__init__()
        if pool not in ("max", "mean"):
            raise ValueError(f"pool must be 'max' or 'mean', got {pool!r}")
        self.in_channels, self.pool = in_channels, pool
        self.features = conv_stack(in_channels, channels, kernel_size, padding_mode)
        self.head = nn.Linear(channels[-1], n_classes)

    def forward(self, x: Tensor) -> Tensor:
        _check_images(x, self.in_channels, "ConvNet")
        return self.head(global_pool(self.features(x), self.pool))


class PixelConvNet(nn.Module):
    """Translation-equivariant per-pixel predictor: conv_stack -> 1×1 conv.

    x (B, in_channels, H, W) -> (B, out_channels, H, W), e.g. segmentation logits.
    """

    def __init__(self, in_channels: int = 1, channels: Sequence[int] = (8, 16), out_channels: int = 2,
                 kernel_size: int = 3, padding_mode: str = "circular"):
        super().__init__()
        self.in_channels = in_channels
        self.features = conv_stack(in_channels, channels, kernel_size, padding_mode)
        self.head = nn.Conv2d(channels[-1], out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        _check_images(x, self.in_channels, "PixelConvNet")
        return self.head(self.features(x))
