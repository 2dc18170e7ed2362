"""Augerino: learning how much rotation invariance the data has (chapter "The frontier").

Benton et al. (2020) average a network over a *learned* distribution of transformations. Here the
distribution is uniform rotation by an angle in [−width, width]; `width` is a parameter trained with
the network's weights. Its gradient flows through the sampled angles by reparameterisation,
θ = width · (2u − 1) with u ~ U(0, 1) drawn independently of `width`, and a regulariser −λ·width
favours wide ranges (a constant push, even at width 0, where −λ·width² would have none): the loss
lets the range grow until rotating further starts to hurt the fit. As in the paper, training
minimises the loss of every sampled rotation (the expected loss over the distribution) and
predictions average the logits of several rotated copies. Images are rotated by
`course_lib.data.rotate_images` (bilinear, differentiable in the angle).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from course_lib.data import rotate_images


def rotation_angles(width: Tensor, u: Tensor) -> Tensor:
    """Reparameterised angles θ = width · (2u − 1), uniform in [−width, width] for u ~ U(0, 1).

    width: a scalar tensor (radians); u: noise of any shape, in [0, 1]. The result has u's shape
    and is differentiable with respect to `width`.
    """
    if not isinstance(width, Tensor) or width.ndim != 0:
        raise ValueError(f"width must be a scalar tensor, got {width!r}")
    if u.numel() and (float(u.min()) < 0 or float(u.max()) > 1):
        raise ValueError(f"u must lie in [0, 1], got values from {float(u.min())} to {float(u.max())}")
    return width * (2 * u - 1)


class LearnedRotations(nn.Module):
    """f̄(x) = mean over `samples` draws θ ∈ [−width, width] of f(rotate(x, θ)): (B, C, H, H) -> (B, K).

    `width` (radians, a scalar parameter) starts at `init_width`. In training mode the draws are
    random, θ ~ U[−width, width]; in eval mode they are the `samples` evenly spaced angles of
    [−width, width], so predictions are deterministic. `draws(x)` gives each draw's logits.
    """

    def __init__(self, model: nn.Module, init_width: float = 0.1, samples: int = 4):
        super().__init__()
        if samples < 1 or not 0 <= init_width <= math.pi:
            raise ValueError(f"need samples >= 1 and 0 <= init_width <= π, got {samples} and {init_width}")
        self.model, self.samples = model, samples
        self.width = nn.Parameter(torch.tensor(float(init_width)))

    def draws(self, x: Tensor) -> Tensor:
        """Logits of the network on `samples` rotated copies of x (B, C, H, H): (samples, B, K)."""
        if x.dim() != 4:
            raise ValueError(f"LearnedRotations expects images (B, C, H, H), got shape {tuple(x.shape)}")
        b, k = len(x), self.samples
        if self.training:
            u = torch.rand(k, b, device=x.device)
        else:
            u = (torch.arange(k, device=x.device, dtype=torch.float32)[:, None] + 0.5).expand(k, b) / k
        angles = rotation_angles(self.width, u).reshape(-1)            # (k·B,)
        rotated = rotate_images(x.repeat(k, 1, 1, 1), angles)           # (k·B, C, H, H)
        return self.model(rotated).reshape(k, b, -1)

    def forward(self, x: Tensor) -> Tensor:
        return self.draws(x).mean(0)


def width_penalty(model: LearnedRotations, strength: float) -> Tensor:
    """The regulariser −strength · width, added to the loss: it rewards wide ranges."""
    if strength < 0:
        raise ValueError(f"strength must be >= 0, got {strength}")
    return -strength * model.width


def train_augerino(model: LearnedRotations, x: Tensor, y: Tensor, steps: int = 400, batch_size: int = 64,
                   lr: float = 1e-2, width_lr: float = 2e-2, strength: float = 0.05,
                   seed: int = 0) -> list[float]:
    """Train network and width together with Adam (learning rates `lr` for the network, `width_lr`
    for the width) on the cross-entropy of every sampled rotation + `width_penalty`; x (N, C, H, H),
    y (N,). A width with requires_grad=False stays fixed. The width is kept in [0, π]. Returns the
    width (radians) after every step; the model is left in eval mode."""
    if len(x) != len(y) or len(x) == 0 or steps < 1:
        raise ValueError(f"need x, y of the same nonzero length and steps >= 1, got {len(x)}, {len(y)}, {steps}")
    if lr < 0 or width_lr < 0:
        raise ValueError(f"learning rates must be >= 0, got lr={lr}, width_lr={width_lr}")
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    network = [p for p in model.parameters() if p is not model.width]
    opt = torch.optim.Adam([{"params": network, "lr": lr}, {"params": [model.width], "lr": width_lr}])
    widths = []
    model.train()
    for _ in range(steps):
        idx = torch.randint(len(x), (min(batch_size, len(x)),), generator=gen)
        logits = model.draws(x[idx])                                    # (samples, B, K)
        fit = nn.functional.cross_entropy(logits.flatten(0, 1), y[idx].repeat(model.samples))
        loss = fit + width_penalty(model, strength)
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            model.width.clamp_(0.0, math.pi)
        widths.append(float(model.width.detach()))
    model.eval()
    return widths
