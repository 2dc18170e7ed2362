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
from course_lib.train import fit


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
    width (radians) after every step; the model trains on `course_lib.device()` (CUDA when present)
    and is left in eval mode, on the CPU. The loop is `train.fit`'s (batches of `batch_size` drawn
    with replacement from a generator seeded with `seed`)."""
    if len(x) != len(y) or len(x) == 0 or steps < 1:
        raise ValueError(f"need x, y of the same nonzero length and steps >= 1, got {len(x)}, {len(y)}, {steps}")
    if lr < 0 or width_lr < 0:
        raise ValueError(f"learning rates must be >= 0, got lr={lr}, width_lr={width_lr}")
    torch.manual_seed(seed)  # the draws of the rotation angles
    network = [p for p in model.parameters() if p is not model.width]
    widths: list[float] = []

    def objective(m: LearnedRotations, xb: Tensor, yb: Tensor) -> Tensor:
        logits = m.draws(xb)                                            # (samples, B, K)
        fit_loss = nn.functional.cross_entropy(logits.flatten(0, 1), yb.repeat(m.samples))
        return fit_loss + width_penalty(m, strength)

    def after_step(m: LearnedRotations) -> None:
        with torch.no_grad():
            m.width.clamp_(0.0, math.pi)
        widths.append(float(m.width.detach()))

    fit(model, x, y, steps=steps, batch_size=batch_size, seed=seed, objective=objective,
        param_groups=[{"params": network, "lr": lr}, {"params": [model.width], "lr": width_lr}],
        after_step=after_step)
    return widths


def rotated_digits(keep: tuple[int, ...], max_angle: float, seed: int, size: int = 12,
                   digit_size: int = 8) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """The chapter's data: the 8×8 digits in `keep`, centred on a `size`×`size` canvas, labelled 0, 1,
    ... in the order of `keep`, each turned by an angle drawn uniformly from [−max_angle, max_angle]
    (radians); a random 3/4 to train on and the rest to test: ((x (N, 1, size, size), y (N,)), (x, y)).
    """
    from course_lib.data import padded_digits

    if not keep or not 0 <= max_angle <= math.pi:
        raise ValueError(f"need some digits and 0 <= max_angle <= π, got {keep} and {max_angle}")
    images, labels = padded_digits(size, digit_size)
    mask = torch.stack([labels == d for d in keep]).any(0)
    x, y = images[mask], labels[mask]
    y = torch.stack([y == d for d in keep], 1).float().argmax(1)
    g = torch.Generator().manual_seed(100 + seed)
    x = rotate_images(x, max_angle * (2 * torch.rand(len(x), generator=g) - 1))
    order = torch.randperm(len(x), generator=g)
    train, test = order[: 3 * len(x) // 4], order[3 * len(x) // 4:]
    return (x[train], y[train]), (x[test], y[test])


def learn_range(n_classes: int, x: Tensor, y: Tensor, seed: int, steps: int, init_width: float = 0.2,
                fixed: bool = False, strength: float = 0.05) -> tuple[LearnedRotations, list[float]]:
    """The chapter's Augerino run: a `models.ConvNet` (8 and 16 channels, zero padding) averaged over
    4 rotations, trained on batches of 32 with lr 0.01 (width 0.02); with `fixed` the width stays at
    `init_width`. Returns the model and its range in degrees after every step."""
    from course_lib.models import ConvNet

    torch.manual_seed(seed)
    net = ConvNet(1, (8, 16), n_classes, padding_mode="zeros")
    model = LearnedRotations(net, init_width=init_width, samples=4)
    model.width.requires_grad_(not fixed)
    widths = train_augerino(model, x, y, steps=steps, batch_size=32, lr=0.01, width_lr=0.02,
                            strength=strength, seed=seed)
    return model, [math.degrees(w) for w in widths]


def tail_trend(widths: list[float], tail: float = 0.2) -> tuple[float, float]:
    """Level (mean) and change (least-squares slope × window length) of the last `tail` of `widths`."""
    if not 0 < tail <= 1 or len(widths) * tail < 2:
        raise ValueError(f"need 0 < tail <= 1 and at least 2 values in the tail, got {tail} of {len(widths)}")
    w = torch.tensor(widths[int((1 - tail) * len(widths)):], dtype=torch.float64)
    t = torch.arange(len(w), dtype=torch.float64)
    t = t - t.mean()
    return float(w.mean()), float((t * w).sum() / (t * t).sum()) * len(w)


def against_full_circle(keep: tuple[int, ...], max_angle: float, seed: int, steps: int) -> dict:
    """The chapter's 6-vs-9 experiment for one seed: on `rotated_digits(keep, max_angle, seed)`,
    `learn_range` with a learned width, and the same network (same seed, data and steps) with its
    width fixed at the full circle (π), for contrast. Returns {"widths": the learned range in degrees
    after every step (steps,), "accuracy": {"learned": [...], "full circle": [...]}}, each accuracy
    list holding the held-out accuracy on each class (len(keep),)."""
    (x, y), (x_test, y_test) = rotated_digits(keep, max_angle, seed)
    model, widths = learn_range(len(keep), x, y, seed, steps)
    forced, _ = learn_range(len(keep), x, y, seed, steps, init_width=math.pi, fixed=True)
    accuracy = {}
    for name, m in [("learned", model), ("full circle", forced)]:
        with torch.no_grad():
            right = m(x_test).argmax(1) == y_test
        accuracy[name] = [right[y_test == c].float().mean().item() for c in range(len(keep))]
    return {"widths": widths, "accuracy": accuracy}
