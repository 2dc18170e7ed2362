"""One training loop for the course's classifiers and regressors, with a progress bar and a history."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from course_lib.device import device as default_device


@dataclass
class History:
    """What a training run returns: the loss per step, wall time and any final metrics."""

    loss: list[float] = field(default_factory=list)
    seconds: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)


def fit(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    loss_fn: Callable[[Tensor, Tensor], Tensor] = nn.functional.cross_entropy,
    steps: int = 500,
    batch_size: int = 64,
    lr: float = 3e-3,
    seed: int = 0,
    augment: Callable[[Tensor, torch.Generator], Tensor] | None = None,
    progress: bool = False,
    device: torch.device | None = None,
) -> History:
    """Train `model` with Adam on minibatches of (x (N, ...), y (N, ...)) for `steps` steps.

    `augment(batch, generator)` may transform each input batch (data augmentation). The model is
    left on `device` (CUDA when present) and in eval mode.
    """
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"x and y must hold the same nonzero number of examples, got {len(x)} and {len(y)}")
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be >= 1, got steps={steps}, batch_size={batch_size}")
    dev = device or default_device()
    gen = torch.Generator().manual_seed(seed)
    model.to(dev).train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history = History()
    start = time.perf_counter()
    for _ in tqdm(range(steps), disable=not progress, desc="training"):
        idx = torch.randint(len(x), (min(batch_size, len(x)),), generator=gen)
        xb = x[idx] if augment is None else augment(x[idx], gen)
        loss = loss_fn(model(xb.to(dev)), y[idx].to(dev))
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.loss.append(loss.item())
    history.seconds = time.perf_counter() - start
    model.eval()
    return history


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 512) -> float:
    """Fraction of x (N, ...) that `model` classifies as y (N,), evaluated in batches."""
    dev = next(model.parameters()).device
    correct = sum(int((model(x[i:i + batch_size].to(dev)).argmax(-1).cpu() == y[i:i + batch_size]).sum())
                  for i in range(0, len(x), batch_size))
    return correct / len(x)
