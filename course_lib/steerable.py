"""Steerable CNNs with escnn, thinly wrapped (chapter "Group-equivariant CNNs").

escnn makes the representation explicit: a `FieldType` lists the fields of a feature map (a
regular field of C_N is N channels that the rotations permute, like a group map of `gcnn`; an
irrep field of SO(2) is a vector that rotates), and `R2Conv` solves for the filters that map one
field type to another equivariantly. This module holds the one classifier the chapter trains, a
wrapper that lets it take and return plain tensors, the seed's `EquivariantNet` ported from e2cnn,
and the equivariance error measured with escnn's own `GeometricTensor.transform`.

escnn 1.0.11 solves for the kernel bases of D_N (and the Clebsch–Gordan coefficients behind them)
with scikit-learn's `randomized_svd` on an `np.matrix`, which scikit-learn >= 1.2 rejects
(TypeError: np.matrix is not supported). `exact_svd` lets escnn use scipy's exact SVD instead, for
the duration of a `with` block only; `steerable_conv` builds an `R2Conv` inside it, and every layer
of this module is built with `steerable_conv`.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import warnings
from types import ModuleType
from typing import Any, Iterator, Iterable

import torch
from torch import Tensor, nn


@functools.cache
def _imported(name: str) -> ModuleType:
    """escnn's module `name`; escnn (and its gspaces, nn and numerical solver) imported on the first call."""
    with warnings.catch_warnings():  # escnn warns at import that py3nj (needed for SO(3) only) is missing
        warnings.simplefilter("ignore")
        for module in ("escnn", "escnn.group._numerical", "escnn.gspaces", "escnn.nn"):
            importlib.import_module(module)
    return importlib.import_module(name)


class _OnFirstUse:
    """Stands for an escnn module, imported when one of its attributes is first read. escnn imports
    torch_geometric: 3-4 s of CPU, which every process that loads the gcnn exercises' checks (each of
    the grader's workers) would pay without building an escnn layer."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        if attr == "_name":  # read before __init__ ran (copy, pickle): not escnn's
            raise AttributeError(attr)
        return getattr(_imported(self._name), attr)

    def __dir__(self) -> list[str]:  # escnn's names, for completion in a notebook
        return dir(_imported(self._name))

    def __reduce__(self):
        return _OnFirstUse, (self._name,)

    def __repr__(self) -> str:
        return f"<{self._name}, imported on first use>"


escnn, gspaces, enn = _OnFirstUse("escnn"), _OnFirstUse("escnn.gspaces"), _OnFirstUse("escnn.nn")



@contextlib.contextmanager
def exact_svd() -> Iterator[None]:
    """Within the block, escnn finds null spaces (kernel bases, Clebsch–Gordan coefficients) with
    scipy's exact SVD, not scikit-learn's `randomized_svd`, which rejects the np.matrix escnn 1.0.11
    hands it. escnn's own choice is restored on exit, also after an error."""
    numerical = escnn.group._numerical
    if not hasattr(numerical, "randomized_svd"):
        raise RuntimeError("escnn.group._numerical.randomized_svd is gone: check whether exact_svd is "
                           "still needed with this escnn")
    chosen = numerical.randomized_svd
    numerical.randomized_svd = None
    try:
        yield
    finally:
        numerical.randomized_svd = chosen


def steerable_conv(in_type: enn.FieldType, out_type: enn.FieldType, kernel_size: int,
                   **kwargs: Any) -> enn.R2Conv:
    """escnn's `R2Conv(in_type, out_type, kernel_size, **kwargs)`, its kernel basis built under
    `exact_svd` (so that D_N bases build with any scikit-learn). Maps fields (B, in_type.size, H, W)
    to (B, out_type.size, H', W')."""
    with exact_svd():
        return enn.R2Conv(in_type, out_type, kernel_size, **kwargs)


def rotation_gspace(N: int, flips: bool = False, maximum_frequency: int = 4) -> gspaces.GSpace2D:
    """Rotations C_N of the plane (N >= 1), or continuous SO(2) for N = -1 band-limited to
    `maximum_frequency`; with flips, D_N or O(2)."""
    if isinstance(N, bool) or not isinstance(N, int) or not (N >= 1 or N == -1):
        raise ValueError(f"N is the number of rotations (>= 1) or -1 for continuous rotations, got {N!r}")
    if flips:
        return gspaces.flipRot2dOnR2(N, maximum_frequency=maximum_frequency)
    return gspaces.rot2dOnR2(N, maximum_frequency=maximum_frequency)


def field_types(gs: gspaces.GSpace2D, channels: Iterable[int]) -> tuple[enn.FieldType, list[enn.FieldType], enn.FieldType]:
    """The field types of `SteerableCNN` on the gspace gs (C_N or D_N, N >= 1): the input (one trivial
    field: a grey image), one hidden type per entry of `channels` (that many regular fields, each of
    |G| channels that the group permutes), and the output of group pooling (channels[-1] trivial fields)."""
    channels = list(channels)
    if not channels or any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in channels):
        raise ValueError(f"channels is a nonempty list of positive ints, got {channels!r}")
    if gs.fibergroup.order() < 1:
        raise ValueError(f"regular fields need a finite group, got {gs.fibergroup}")
    hidden = [enn.FieldType(gs, c * [gs.regular_repr]) for c in channels]
    return enn.FieldType(gs, [gs.trivial_repr]), hidden, enn.FieldType(gs, channels[-1] * [gs.trivial_repr])


class SteerableCNN(nn.Module):
    """The e2cnn example classifier on regular fields of C_N (or D_N), made invariant: images
    (B, 1, H, W) -> logits (B, n_classes), H and W multiples of 4.

    Three blocks R2Conv -> InnerBatchNorm -> ReLU (-> 2×2 max-pool after the first two) on
    `channels` regular fields, filters of `kernels` pixels, then `GroupPooling` (max over each
    field: now invariant scalars), then the spatial pooling `head`, then a linear layer:
      head="pool":    global max over the plane, invariant to every rotation of the grid;
      head="flatten": flatten the (H/4)×(W/4) map into the linear layer, which remembers where
                      each feature was, so the output is *not* invariant.
    The escnn authors' options for small data (Weiler & Cesa 2019), each off by default:
      quotient=True:  each layer also has `channels` quotient fields C_N/C_2 (N/2 channels each,
                      invariant to the half turn), beside its regular fields;
      groups=(16, 8, 4): the group of each layer (orders dividing N, non-increasing): between
                      layers the fields are restricted (`RestrictionModule`) to the smaller group,
                      so deeper layers are equivariant to fewer rotations (the output invariant
                      to the last group only).
    `body` is an escnn `SequentialModule` from images to invariant fields, for escnn's own checks.
    """

    def __init__(self, N: int = 8, flips: bool = False, channels: tuple[int, int, int] = (8, 16, 16),
                 size: int = 24, head: str = "pool", n_classes: int = 10,
                 kernels: tuple[int, int, int] = (5, 5, 3), quotient: bool = False,
                 groups: tuple[int, int, int] | None = None):
        super().__init__()
        if N < 1:
            raise ValueError(f"SteerableCNN uses regular fields, so N must be >= 1, got {N}")
        if head not in ("pool", "flatten"):
            raise ValueError(f"head is 'pool' or 'flatten', got {head!r}")
        if size % 4:
            raise ValueError(f"the image size must be a multiple of 4, got {size}")
        if len(kernels) != 3 or any(k < 1 or k % 2 == 0 for k in kernels):
            raise ValueError(f"kernels are three odd filter sizes, got {kernels!r}")
        groups = (N, N, N) if groups is None else tuple(groups)
        if len(groups) != 3 or groups[0] != N or any(b < 1 or a % b for a, b in zip(groups, groups[1:])):
            raise ValueError(f"groups are three rotation orders, the first N = {N}, each dividing the one "
                             f"before, got {groups!r}")
        if flips and groups != (N, N, N):
            raise ValueError("restriction (groups) is for rotations only, got flips=True")
        if quotient and N % 2:
            raise ValueError(f"quotient fields C_N/C_2 need an even N, got {N}")
        self.in_type, _, _ = field_types(rotation_gspace(N, flips), channels)
        layers: list[enn.EquivariantModule] = []
        t_in = self.in_type
        for i, (c, k, order) in enumerate(zip(channels, kernels, groups)):
            if t_in.gspace.fibergroup.order() != order:          # restrict to C_order
                restriction = enn.RestrictionModule(t_in, order)
                layers.append(restriction)
                t_in = restriction.out_type
            gs = t_in.gspace
            reprs = c * [gs.regular_repr] + (c * [gs.quotient_repr(2)] if quotient and order % 2 == 0 else [])
            t = enn.FieldType(gs, reprs)
            layers += [steerable_conv(t_in, t, k, padding=k // 2), enn.InnerBatchNorm(t), enn.ReLU(t, inplace=True)]
            if i < 2:
                layers.append(enn.PointwiseMaxPool2D(t, 2))
            t_in = t
        pooling = enn.GroupPooling(t_in)
        layers.append(pooling)
        self.body = enn.SequentialModule(*layers)
        self.head_kind = head
        n_invariant = pooling.out_type.size
        n_features = n_invariant * (1 if head == "pool" else (size // 4) ** 2)
        self.head = nn.Linear(n_features, n_classes)

    def features(self, x: Tensor) -> Tensor:
        """Images (B, 1, H, W) -> features (B, n_features) fed to the linear layer."""
        if x.dim() != 4 or x.shape[1] != 1:
            raise ValueError(f"SteerableCNN expects images (B, 1, H, W), got {tuple(x.shape)}")
        f = self.body(self.in_type(x)).tensor                    # (B, invariant fields, H/4, W/4)
        return f.amax(dim=(-2, -1)) if self.head_kind == "pool" else f.flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


class FourierCNN(nn.Module):
    """A steerable CNN on irreps fields of the continuous rotations SO(2), the escnn authors' choice
    for continuous groups: images (B, 1, H, W) -> logits (B, n_classes), H and W multiples of 4.

    Each hidden field is the sum of SO(2)'s irreps of frequency 0..L (2L + 1 channels: a band-limited
    function on the circle, stored by its Fourier coefficients). Three blocks R2Conv (filters of
    `kernels` pixels) -> IIDBatchNorm2d -> FourierELU (the field sampled at `samples` angles, ELU at
    each, transformed back) (-> 2×2 average pool after the first two), then `NormPool` (the norm of
    each field: invariant), a global max over the plane and a linear layer. Exactly equivariant to
    no rotation of the grid but the quarter turns; to the others up to the filters' discretisation
    and the sampling of the nonlinearity.
    """

    def __init__(self, channels: tuple[int, int, int] = (3, 6, 6), L: int = 3, samples: int = 16,
                 kernels: tuple[int, int, int] = (5, 5, 3), size: int = 16, n_classes: int = 10):
        super().__init__()
        if size % 4:
            raise ValueError(f"the image size must be a multiple of 4, got {size}")
        if L < 1 or samples < 2 * L + 1:
            raise ValueError(f"need L >= 1 and at least 2L + 1 = {2 * L + 1} samples, got L={L}, samples={samples}")
        gs = rotation_gspace(-1, maximum_frequency=max(2 * L, 4))
        self.in_type = enn.FieldType(gs, [gs.trivial_repr])
        layers: list[enn.EquivariantModule] = []
        t_in = self.in_type
        for i, (c, k) in enumerate(zip(channels, kernels)):
            activation = enn.FourierELU(gs, c, irreps=gs.fibergroup.bl_irreps(L), N=samples, inplace=True)
            t = activation.in_type
            layers += [steerable_conv(t_in, t, k, padding=k // 2), enn.IIDBatchNorm2d(t), activation]
            if i < 2:
                layers.append(enn.PointwiseAvgPool2D(t, 2))
            t_in = t
        pooling = enn.NormPool(t_in)
        layers.append(pooling)
        self.body = enn.SequentialModule(*layers)
        self.head = nn.Linear(pooling.out_type.size, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != 1:
            raise ValueError(f"FourierCNN expects images (B, 1, H, W), got {tuple(x.shape)}")
        return self.head(self.body(self.in_type(x)).tensor.amax(dim=(-2, -1)))


class EquivariantNet(nn.Module):
    """The seed's e2cnn classifier, ported to escnn: images (B, 1, H, W) -> logits (B, n_classes),
    H and W multiples of 4.

    Two blocks R2Conv 5×5 -> ReLU -> 2×2 max-pool on `channels` regular fields of C_N, then the
    average of every channel over the whole plane (`PointwiseAdaptiveAvgPool2D` to 1×1), then
    `GroupPooling` (max over each field's N channels), then a linear layer. It pools over space
    *before* pooling over the group, and it is still invariant to the grid's rotations: a rotation
    moves each field over the plane and permutes its channels, the spatial average forgets where,
    and the max over the channels forgets the permutation.
    """

    def __init__(self, N: int = 4, channels: tuple[int, int] = (8, 16), n_classes: int = 10):
        super().__init__()
        self.in_type, (t1, t2), invariant = field_types(rotation_gspace(N), channels)
        self.body = enn.SequentialModule(
            steerable_conv(self.in_type, t1, 5, padding=2), enn.ReLU(t1), enn.PointwiseMaxPool2D(t1, 2),
            steerable_conv(t1, t2, 5, padding=2), enn.ReLU(t2), enn.PointwiseMaxPool2D(t2, 2),
            enn.PointwiseAdaptiveAvgPool2D(t2, 1), enn.GroupPooling(t2))
        self.head = nn.Linear(invariant.size, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != 1 or x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(f"EquivariantNet expects images (B, 1, H, W), H and W multiples of 4, "
                             f"got {tuple(x.shape)}")
        return self.head(self.body(self.in_type(x)).tensor.flatten(1))


def escnn_equivariance_error(module: enn.EquivariantModule, x: Tensor, elements: Iterable[Any] | None = None) -> float:
    """max over g of |module(g·x) − g·module(x)| / |module(x)|, with g·x escnn's `GeometricTensor.transform`
    (the test behind escnn's `check_equivariance`). x (B, module.in_type.size, H, W); elements default
    to the gspace's `testing_elements`."""
    if x.dim() != 4 or x.shape[1] != module.in_type.size:
        raise ValueError(f"expected x (B, {module.in_type.size}, H, W) for {module.in_type}, got {tuple(x.shape)}")
    elements = list(module.in_type.gspace.testing_elements if elements is None else elements)
    if not elements:
        raise ValueError("escnn_equivariance_error needs at least one group element, got none")
    was_training = module.training
    module.eval()
    with torch.no_grad():
        gx = module.in_type(x)
        fx = module(gx)
        scale = fx.tensor.norm().clamp_min(torch.finfo(x.dtype).tiny)
        errors = [float((module(gx.transform(g)).tensor - fx.transform(g).tensor).norm() / scale) for g in elements]
    module.train(was_training)
    return max(errors)


__all__ = ["escnn", "enn", "gspaces", "exact_svd", "steerable_conv", "rotation_gspace", "field_types", "SteerableCNN",
           "FourierCNN", "EquivariantNet", "escnn_equivariance_error"]
