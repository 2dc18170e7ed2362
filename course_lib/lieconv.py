"""Attention on point clouds lifted to SE(2) (chapter "Lie groups").

LieConv (Finzi et al. 2020) and the LieTransformer (Hutchinson et al. 2021) make a network
invariant to a Lie group G acting on a point cloud in two steps:

1. lift every point to elements of G, so that moving the cloud by g moves the lifted elements by g;
2. let every interaction between two lifted elements u, v depend on their positions only through
   the relative element u⁻¹v, which does not change when both are moved by the same g.

Here G = SE(2) = T(2) ⋊ SO(2), an element is (x, y, θ): rotate by θ, then translate by (x, y).
A point p is lifted to K elements (p, θ_p + 2πa/K), a = 0..K−1, where θ_p is the direction from the
cloud's centre of mass to p, so that rotating and translating the cloud rotates and translates the
lift. The layer is LieTransformer-style self-attention whose location score is an MLP of u⁻¹v.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def se2_compose(a: Tensor, b: Tensor) -> Tensor:
    """a·b for SE(2) elements (..., 3) = (x, y, θ): (R_a p + t_a) after (R_b p + t_b)."""
    c, s = torch.cos(a[..., 2]), torch.sin(a[..., 2])
    x = a[..., 0] + c * b[..., 0] - s * b[..., 1]
    y = a[..., 1] + s * b[..., 0] + c * b[..., 1]
    return torch.stack([x, y, a[..., 2] + b[..., 2]], -1)


def se2_inverse(a: Tensor) -> Tensor:
    """a⁻¹ for SE(2) elements (..., 3): (−R_θᵀ t, −θ)."""
    c, s = torch.cos(a[..., 2]), torch.sin(a[..., 2])
    x = -(c * a[..., 0] + s * a[..., 1])
    y = -(-s * a[..., 0] + c * a[..., 1])
    return torch.stack([x, y, -a[..., 2]], -1)


def se2_act(g: Tensor, points: Tensor) -> Tensor:
    """Move points (B, N, 2) by one SE(2) element per cloud g (B, 3): R_θ p + t."""
    if points.dim() != 3 or points.shape[-1] != 2 or g.shape != (len(points), 3):
        raise ValueError(f"expected points (B, N, 2) and g (B, 3), got {tuple(points.shape)} and {tuple(g.shape)}")
    c, s = torch.cos(g[:, 2])[:, None], torch.sin(g[:, 2])[:, None]
    x = c * points[..., 0] - s * points[..., 1] + g[:, None, 0]
    y = s * points[..., 0] + c * points[..., 1] + g[:, None, 1]
    return torch.stack([x, y], -1)


def lift(points: Tensor, orientations: int) -> Tensor:
    """Each point p to K elements (p, θ_p + 2πa/K) of SE(2), θ_p = the angle of p − centre of mass.
    (B, N, 2) -> (B, N·K, 3), point-major (the K lifts of point 0 first)."""
    if points.dim() != 3 or points.shape[-1] != 2:
        raise ValueError(f"expected points (B, N, 2), got {tuple(points.shape)}")
    if orientations < 1:
        raise ValueError(f"need at least 1 orientation per point, got {orientations}")
    rel = points - points.mean(1, keepdim=True)
    theta = torch.atan2(rel[..., 1], rel[..., 0])[..., None] + \
        2 * math.pi * torch.arange(orientations, dtype=points.dtype, device=points.device) / orientations  # (B, N, K)
    xy = points[:, :, None, :].expand(-1, -1, orientations, -1)
    return torch.cat([xy, theta[..., None]], -1).flatten(1, 2)


def relative_elements(elements: Tensor) -> Tensor:
    """u⁻¹v for every pair, as invariant coordinates (x, y, cos θ, sin θ).  (B, M, 3) -> (B, M, M, 4)."""
    rel = se2_compose(se2_inverse(elements)[:, :, None], elements[:, None, :])
    return torch.cat([rel[..., :2], torch.cos(rel[..., 2:]), torch.sin(rel[..., 2:])], -1)


def absolute_pairs(elements: Tensor) -> Tensor:
    """(u, v) for every pair, as (x_u, y_u, cos θ_u, sin θ_u, x_v, ...): what a model without the
    symmetry sees instead of u⁻¹v.  (B, M, 3) -> (B, M, M, 8)."""
    coords = torch.cat([elements[..., :2], torch.cos(elements[..., 2:]), torch.sin(elements[..., 2:])], -1)
    m = elements.shape[1]
    return torch.cat([coords[:, :, None].expand(-1, -1, m, -1), coords[:, None, :].expand(-1, m, -1, -1)], -1)


class LieSelfAttention(nn.Module):
    """Self-attention over lifted elements. An MLP of the pair (u, v) gives a location score per head
    s_uv and a message m_uv (c,); then score(u, v) = s_uv + q_u·k_v/√c and the output is
    f_u + Σ_v softmax_v(score) (W f_v + m_uv). With pair = u⁻¹v the layer is SE(2)-equivariant.
    f (B, M, c), pairs (B, M, M, p) -> (B, M, c)."""

    def __init__(self, channels: int, pair_features: int = 4, heads: int = 4, hidden: int = 32):
        super().__init__()
        if channels % heads:
            raise ValueError(f"channels ({channels}) must be a multiple of heads ({heads})")
        self.heads = heads
        self.location = nn.Sequential(nn.Linear(pair_features, hidden), nn.SiLU(), nn.Linear(hidden, heads + channels))
        self.qkv = nn.Linear(channels, 3 * channels)
        self.out = nn.Sequential(nn.Linear(channels, channels), nn.SiLU(), nn.Linear(channels, channels))
        self.norm = nn.LayerNorm(channels)

    def forward(self, f: Tensor, pairs: Tensor) -> Tensor:
        b, m, c = f.shape
        q, k, v = self.qkv(self.norm(f)).reshape(b, m, 3, self.heads, c // self.heads).unbind(2)
        content = torch.einsum("buhc,bvhc->buvh", q, k) / math.sqrt(c // self.heads)
        location = self.location(pairs)
        weights = torch.softmax(content + location[..., :self.heads], dim=2)
        messages = v[:, None] + location[..., self.heads:].reshape(b, m, m, self.heads, c // self.heads)
        mixed = torch.einsum("buvh,buvhc->buhc", weights, messages).reshape(b, m, c)
        return f + self.out(mixed)


class LieTransformer(nn.Module):
    """Point cloud (B, N, 2) -> lift to SE(2) -> `layers` LieSelfAttention -> mean over the lift -> (B, out).

    `relative=True` (the LieTransformer) feeds each pair as u⁻¹v: the output is invariant to rotating
    and translating the cloud. `relative=False` feeds the pair (u, v) itself and changes nothing else:
    the same network without the symmetry. `centred=True` (with `relative=False`) first moves the
    cloud's centre of mass to the origin: a twin that is invariant to translations but not to
    rotations, which separates what the rotation invariance costs or buys from translation's part.
    """

    def __init__(self, out_features: int, channels: int = 32, layers: int = 2, orientations: int = 4,
                 relative: bool = True, centred: bool = False):
        super().__init__()
        if relative and centred:
            raise ValueError("centred=True is the twin's option (relative=False); u⁻¹v ignores translations already")
        self.orientations, self.relative, self.centred = orientations, relative, centred
        self.embed = nn.Parameter(torch.randn(channels) * 0.1)
        pair_features = 4 if relative else 8
        self.layers = nn.ModuleList([LieSelfAttention(channels, pair_features) for _ in range(layers)])
        self.head = nn.Sequential(nn.LayerNorm(channels), nn.Linear(channels, out_features))

    def forward(self, points: Tensor) -> Tensor:
        if self.centred:
            points = points - points.mean(1, keepdim=True)
        elements = lift(points, self.orientations)
        pairs = relative_elements(elements) if self.relative else absolute_pairs(elements)
        f = self.embed.expand(elements.shape[0], elements.shape[1], -1)
        for layer in self.layers:
            f = layer(f, pairs)
        return self.head(f.mean(1))


def random_se2(k: int, generator: torch.Generator | None = None, shift: float = 1.0) -> Tensor:
    """k random elements of SE(2) (k, 3): angle uniform in [0, 2π), translation N(0, shift²)."""
    gen = generator or torch.Generator().manual_seed(0)
    return torch.cat([shift * torch.randn(k, 2, generator=gen),
                      2 * math.pi * torch.rand(k, 1, generator=gen)], 1)


SHAPES = ("triangle", "square", "hexagon", "cross")


def _outline(shape: str) -> Tensor:
    """The corners of a closed outline (V, 2) of radius about 1, or the arms' ends of the cross."""
    if shape == "cross":
        return torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 0.6], [0.0, -0.6]])
    sides = {"triangle": 3, "square": 4, "hexagon": 6}[shape]
    angles = 2 * math.pi * torch.arange(sides) / sides
    return torch.stack([torch.cos(angles), torch.sin(angles)], 1)


def point_patterns(n: int, points: int = 12, seed: int = 0, rotate: bool = True,
                   noise: float = 0.03) -> tuple[Tensor, Tensor]:
    """n clouds of `points` points spread along the outline of one of SHAPES (a label 0..3), with
    noise; each rotated by a random angle (if `rotate`) and shifted by N(0, 1).  (n, points, 2), (n,)."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(len(SHAPES), (n,), generator=gen)
    clouds = torch.empty(n, points, 2)
    for i, label in enumerate(labels.tolist()):
        corners = _outline(SHAPES[label])
        if SHAPES[label] == "cross":  # two bars through the centre
            seg_a, seg_b = corners[[0, 2]], corners[[1, 3]]
        else:
            seg_a, seg_b = corners, torch.roll(corners, -1, 0)
        which = torch.randint(len(seg_a), (points,), generator=gen)
        t = torch.rand(points, 1, generator=gen)
        clouds[i] = seg_a[which] + t * (seg_b[which] - seg_a[which])
    clouds = clouds + noise * torch.randn(n, points, 2, generator=gen)
    g = random_se2(n, gen)
    if not rotate:
        g[:, 2] = 0.0
    return se2_act(g, clouds), labels
