"""One training loop for the course's classifiers and regressors, with a progress bar and a history."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor, nn
from tqdm import tqdm

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


@dataclass
class LearningCurve:
    """Test accuracy against training-set size: accuracy[test_name] is (len(sizes), len(seeds))."""

    sizes: list[int]
    seeds: list[int]
    accuracy: dict[str, Tensor]
    seconds: float = 0.0

    def mean_std(self, test: str) -> tuple[Tensor, Tensor]:
        """Mean and standard deviation over seeds, each (len(sizes),)."""
        acc = self.accuracy[test]
        return acc.mean(1), acc.std(1) if acc.shape[1] > 1 else torch.zeros(len(acc))


def learning_curve(
    make_model: Callable[[], nn.Module],
    x: Tensor,
    y: Tensor,
    tests: dict[str, tuple[Tensor, Tensor]],
    sizes: list[int],
    seeds: list[int],
    **fit_kwargs,
) -> LearningCurve:
    """Train a fresh `make_model()` on the first n of a seeded shuffle of (x (N, ...), y (N,)) for each
    n in `sizes` and each seed (which also seeds the model's initialisation and `fit`), and measure
    its accuracy on each test set {name: (x_test, y_test)}. `fit_kwargs` go to `fit`.
    """
    if not sizes or not seeds or max(sizes) > len(x) or min(sizes) < 1:
        raise ValueError(f"sizes must be in 1..{len(x)} and seeds non-empty, got sizes={sizes}, seeds={seeds}")
    acc = {name: torch.zeros(len(sizes), len(seeds)) for name in tests}
    start = time.perf_counter()
    for j, seed in enumerate(seeds):
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
        for i, n in enumerate(sizes):
            torch.manual_seed(seed)
            model = make_model()
            fit(model, x[order[:n]], y[order[:n]], seed=seed, **fit_kwargs)
            for name, (xt, yt) in tests.items():
                acc[name][i, j] = accuracy(model, xt, yt)
    return LearningCurve(list(sizes), list(seeds), acc, time.perf_counter() - start)
