"""A lattice gauge-equivariant CNN (the L-CNN of Favoni et al. 2022) and its baselines: a plain CNN on the
links and the same CNN on gauge-invariant inputs, the plaquettes (chapter "Gauge-equivariant networks").

The L-CNN's features are fields of N×N matrices W(x) (B, C, L, L, N, N) that transform like a closed loop
at x, W(x) -> Ω(x) W(x) Ω(x)†. Three operations keep that law, for U(1) and SU(2) alike:

* parallel transport: U_{x→x+k·mu} W(x + k·mu) U_{x→x+k·mu}† brings a feature from a neighbour to x;
* the L-Conv layer: a learned complex combination of transported features;
* the L-Bilinear layer: learned combinations of products W_i(x) W'_j(x) (a product of loops at x is a loop);
* a gauge-invariant rescaling, W / (‖W‖ + ε), which keeps products of many loops from blowing up
  (an L-Act layer of Favoni et al.: W times a function of gauge invariants);

and the trace turns them into gauge invariants, read by a 1×1 convolution head.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from course_lib.lattice import check_links, dagger, gauge_transform, matmul, plaquettes, random_gauge, shift


def transport(links: Tensor, w: Tensor, mu: int, steps: int) -> Tensor:
    """Parallel transport of w (B, C, L, L, N, N) from x + steps·mu to x along the straight line of links:
    U_{x→x+k mu} W(x + k mu) U_{x→x+k mu}† (steps may be negative; 0 returns w)."""
    check_links(links)
    u = links[:, mu, None]  # (B, 1, L, L, N, N): broadcast over channels
    for _ in range(abs(steps)):
        if steps > 0:
            w = matmul(matmul(u, shift(w, mu)), dagger(u))
        else:
            back = shift(u, mu, -1)  # U_mu(x − mu), the link arriving at x
            w = matmul(matmul(dagger(back), shift(w, mu, -1)), back)
    return w


def _complex_weight(*shape: int, scale: float) -> nn.Parameter:
    return nn.Parameter(scale * torch.randn(*shape, 2))


class LConv(nn.Module):
    """W'_i(x) = Σ_j Σ_(mu, k) ω_ijmuk U_{x→x+k mu} W_j(x + k mu) U†, over k = −K..K along both axes
    (the shift 0 once): (links, w (B, C_in, L, L, N, N)) -> (B, C_out, L, L, N, N)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1):
        super().__init__()
        if kernel_size < 0 or in_channels < 1 or out_channels < 1:
            raise ValueError(f"channels >= 1 and kernel_size >= 0 expected, got {in_channels}, {out_channels}, "
                             f"{kernel_size}")
        self.offsets = [(0, 0)] + [(mu, k) for mu in (0, 1) for k in range(-kernel_size, kernel_size + 1) if k]
        self.weight = _complex_weight(out_channels, in_channels, len(self.offsets),
                                      scale=(in_channels * len(self.offsets)) ** -0.5)

    def forward(self, links: Tensor, w: Tensor) -> Tensor:
        # Transport by k steps is one step from k − 1 steps: nearest offsets first, each reusing the last.
        moved = {}
        for mu, k in sorted(self.offsets, key=lambda offset: abs(offset[1])):
            step = 1 if k > 0 else -1
            moved[mu, k] = w if k == 0 else transport(links, moved.get((mu, k - step), w), mu, step)
        moved = torch.stack([moved[offset] for offset in self.offsets], 2)  # (B, C_in, S, ...)
        weight = torch.view_as_complex(self.weight).to(w.dtype)
        return torch.einsum("ois,bis...->bo...", weight, moved)


class LBilinear(nn.Module):
    """W''_i(x) = Σ_jk α_ijk A_j(x) B_k(x) over A = (W, 1) and B = (W', 1): products of loops at x, and with
    the identity appended, linear terms and a constant too: (w (B, C1, ...), w2 (B, C2, ...)) -> (B, C_out, ...)."""

    def __init__(self, in_channels: int, in_channels_2: int, out_channels: int):
        super().__init__()
        self.weight = _complex_weight(out_channels, in_channels + 1, in_channels_2 + 1,
                                      scale=((in_channels + 1) * (in_channels_2 + 1)) ** -0.5)

    def forward(self, w: Tensor, w2: Tensor) -> Tensor:
        eye = torch.eye(w.shape[-1], dtype=w.dtype, device=w.device).expand_as(w[:, :1])
        a, b = torch.cat([w, eye], 1), torch.cat([w2, eye], 1)
        products = matmul(a[:, :, None], b[:, None])  # (B, C1+1, C2+1, L, L, N, N)
        weight = torch.view_as_complex(self.weight).to(w.dtype)
        return torch.einsum("ojk,bjk...->bo...", weight, products)


class LConvBilinear(nn.Module):
    """The L-CB layer: W -> LBilinear(W, LConv(W)), loops grown by transporting and multiplying."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1):
        super().__init__()
        self.conv = LConv(in_channels, in_channels, kernel_size)
        self.bilinear = LBilinear(in_channels, in_channels, out_channels)

    def forward(self, links: Tensor, w: Tensor) -> Tensor:
        return self.bilinear(w, self.conv(links, w))


def normalise(w: Tensor, eps: float = 1e-3) -> Tensor:
    """W / (‖W‖ / √N + ε) per site and channel, ‖·‖ the Frobenius norm (gauge invariant, since Ω is unitary):
    (B, C, L, L, N, N) -> the same shape; a unitary W keeps (almost) its value."""
    norm = (w.abs() ** 2).sum((-2, -1), keepdim=True).div(w.shape[-1]).sqrt()
    return w / (norm + eps)


def trace_features(w: Tensor) -> Tensor:
    """The gauge invariants Re tr W / N and Im tr W / N of every channel: (B, C, L, L, N, N) -> (B, 2C, L, L)."""
    trace = w.diagonal(dim1=-2, dim2=-1).sum(-1) / w.shape[-1]
    return torch.cat([trace.real, trace.imag], 1).float()


class LCNN(nn.Module):
    """links (B, 2, L, L, N, N) -> one real number per site (B, L, L), gauge invariant.

    Starts from the plaquettes P(x) and P(x)† (2 channels), applies L-CB layers with the given output
    channels and kernel sizes, each followed by `normalise`, takes traces, and reads them with the head (a 1×1 convolution)."""

    def __init__(self, channels: tuple[int, ...] = (4, 4), kernel_sizes: tuple[int, ...] = (1, 1)):
        super().__init__()
        if len(channels) != len(kernel_sizes) or not channels:
            raise ValueError(f"one kernel size per layer expected, got channels {channels} and kernel sizes "
                             f"{kernel_sizes}")
        widths = (2, *channels)
        self.layers = nn.ModuleList(LConvBilinear(i, o, k) for i, o, k in zip(widths, channels, kernel_sizes))
        self.head = nn.Conv2d(2 * channels[-1], 1, 1)

    def forward(self, links: Tensor) -> Tensor:
        check_links(links)
        p = plaquettes(links)
        w = torch.stack([p, dagger(p)], 1)
        for layer in self.layers:
            w = normalise(layer(links, w))
        return self.head(trace_features(w))[:, 0]


def link_features(links: Tensor) -> Tensor:
    """The raw link variables as real image channels, Re and Im of every matrix entry of both directions:
    (B, 2, L, L, N, N) -> (B, 4N², L, L) (for U(1): cos and sin of the link angles)."""
    check_links(links)
    batch, _, size = links.shape[:3]
    entries = links.permute(0, 1, 4, 5, 2, 3).reshape(batch, -1, size, size)
    return torch.cat([entries.real, entries.imag], 1).float()


class PlainCNN(nn.Module):
    """The baseline: a CNN on the raw link variables (`link_features`), periodic padding, ReLU, and the same
    kind of head as the L-CNN (a 1×1 convolution to one number per site): links -> (B, L, L)."""

    def __init__(self, group_size: int = 1, channels: tuple[int, ...] = (16, 16, 16), kernel_size: int = 3):
        super().__init__()
        widths = (self.input_channels(group_size), *channels)
        self.body = nn.Sequential(*[module for i, o in zip(widths, channels) for module in
                                    (nn.Conv2d(i, o, kernel_size, padding=kernel_size // 2,
                                               padding_mode="circular"), nn.ReLU())])
        self.head = nn.Conv2d(channels[-1], 1, 1)

    @staticmethod
    def input_channels(group_size: int) -> int:
        """The number of image channels `features` makes of links with N = group_size."""
        return 4 * group_size**2

    def features(self, links: Tensor) -> Tensor:
        """links (B, 2, L, L, N, N) -> the image the body reads (B, input_channels(N), L, L)."""
        return link_features(links)

    def forward(self, links: Tensor) -> Tensor:
        return self.head(self.body(self.features(links)))[:, 0]


def plaquette_features(links: Tensor) -> Tensor:
    """The gauge-invariant inputs Re tr P / N and Im tr P / N of the plaquettes: (B, 2, L, L, N, N) ->
    (B, 2, L, L) (for U(1): cos and sin of the plaquette angles; for SU(2) the imaginary part is 0)."""
    check_links(links)
    return trace_features(plaquettes(links)[:, None])


class PlaquetteCNN(PlainCNN):
    """The invariant-input baseline: the same body and head as `PlainCNN`, fed `plaquette_features`
    instead of the links, so it is gauge invariant because its inputs are: links -> (B, L, L)."""

    @staticmethod
    def input_channels(group_size: int) -> int:
        return 2

    def features(self, links: Tensor) -> Tensor:
        return plaquette_features(links)


def random_gauge_copy(links: Tensor, generator: torch.Generator) -> Tensor:
    """The links after an independent random gauge transformation of each configuration, in their dtype:
    (B, 2, L, L, N, N) -> the same shape. As `augment` of `train.fit`, gauge augmentation."""
    check_links(links)
    group = "U(1)" if links.shape[-1] == 1 else "SU(2)"
    omega = random_gauge(links.shape[0], links.shape[2], group, generator).to(links.dtype)
    return gauge_transform(links, omega)
