"""One training loop for the course's classifiers and regressors, with a progress bar and a history.

Given a validation split, `fit` also stops early: it scores the model on the validation data every
`eval_every` steps, keeps the best weights, and stops after `patience` scores without improvement
(chapter "Why symmetry matters in machine learning": every model trained to convergence).
"""

from __future__ import annotations

import copy
import itertools
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor, nn
from tqdm import tqdm

from course_lib.device import device as default_device


@dataclass
class History:
    """What a training run returns: the loss per step, wall time and any final metrics.

    With a validation split: `val_steps` and `val_score` (higher is better) at each evaluation, and
    `best_step`, the step whose weights the model was left with (else the last step).
    """

    loss: list[float] = field(default_factory=list)
    seconds: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)
    val_steps: list[int] = field(default_factory=list)
    val_score: list[float] = field(default_factory=list)
    best_step: int = 0


def model_device(model: nn.Module) -> torch.device:
    """Where `model` computes: the device of its first parameter (or buffer), the CPU for a model
    with neither (e.g. nn.Identity). Evaluation helpers move each batch there."""
    first = next(itertools.chain(model.parameters(), model.buffers()), None)
    return torch.device("cpu") if first is None else first.device


Score = Callable[[nn.Module, Tensor, Tensor], float]  # (model, x, y) -> a number, higher is better
Objective = Callable[[nn.Module, Tensor, Tensor], Tensor]  # (model, x, y) -> the loss of a batch


def negative_loss(loss_fn: Callable[[Tensor, Tensor], Tensor]) -> Score:
    """The score -loss_fn(model(x), y) (the default validation score of `fit`)."""

    @torch.no_grad()
    def score(model: nn.Module, x: Tensor, y: Tensor) -> float:
        dev = model_device(model)
        return -float(loss_fn(model(x.to(dev)), y.to(dev)))

    return score


def fit(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    loss_fn: Callable[[Tensor, Tensor], Tensor] = nn.functional.cross_entropy,
    steps: int = 500,
    batch_size: int | None = 64,
    lr: float = 3e-3,
    seed: int = 0,
    augment: Callable[[Tensor, torch.Generator], Tensor] | None = None,
    progress: bool = False,
    device: torch.device | None = None,
    validation: tuple[Tensor, Tensor] | None = None,
    eval_every: int = 50,
    patience: int = 5,
    score: Score | None = None,
    batch_slice: slice | None = None,
    objective: Objective | None = None,
    draw: Callable[[torch.Generator], tuple[Tensor, Tensor]] | None = None,
    param_groups: list[dict] | None = None,
    weight_decay: float = 0.0,
    schedule: str | None = None,
    after_step: Callable[[nn.Module], None] | None = None,
    fused: bool = False,
) -> History:
    """Train `model` with Adam on minibatches of (x (N, ...), y (N, ...)) for `steps` steps.

    `augment(batch, generator)` may transform each input batch (data augmentation).

    Devices: the model trains on `device` (default `course_lib.device()`: CUDA when present); each
    batch and the validation pair are moved there, so `score` and `objective` get tensors on the
    model's device. The model is returned on the CPU, where the chapters' tensors live, and in eval
    mode. On a CPU machine every step is the same, to the bit (`.to("cpu")` of a CPU tensor is itself).

    Early stopping: with `validation = (x_val, y_val)`, `steps` is the most steps; every `eval_every`
    steps the model is scored by `score(model, x_val, y_val)` (default: minus the validation loss),
    training stops after `patience` scores in a row that do not beat the best, and the model is left
    with the best-scoring weights. Without it, the run is the same as before early stopping existed.

    `batch_slice`: train on only this part of every (augmented) batch; data-parallel processes
    (`course_lib.distributed`) each take theirs. None, the default, trains on the whole batch.

    The one loop serves every chapter that trains a model (only the PINN chapter writes its own, to
    teach it):
    - `batch_size=None`: full batch, every step on all of (x, y) in order (no sampling); an integer
      draws that many examples with replacement each step (at most len(x)).
    - `draw(generator) -> (xb, yb)`: make each step's batch yourself (e.g. sets of a random size).
    - `objective(model, xb, yb) -> loss`: the loss of a batch when it is not loss_fn(model(xb), yb)
      (e.g. a loss over several draws plus a regulariser).
    - `param_groups`: Adam's parameter groups, each with its own lr (default: all parameters at lr);
      `weight_decay`: Adam's L2 weight decay.
    - `schedule="cosine"`: the learning rate annealed from its start to 0 over `steps`.
    - `after_step(model)`: called after every optimiser step (e.g. clamp a parameter, record it).
    - `fused=True`: Adam's fused implementation, the same update in one kernel per step: about a
      third less time per step for a small MLP on a CPU, where the default spends most of a step
      looping over parameters; the results differ from the default's in the last bits only.
    """
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"x and y must hold the same nonzero number of examples, got {len(x)} and {len(y)}")
    if steps < 1 or (batch_size is not None and batch_size < 1):
        raise ValueError(f"steps and batch_size must be >= 1, got steps={steps}, batch_size={batch_size}")
    if schedule not in (None, "cosine"):
        raise ValueError(f"schedule must be None or 'cosine', got {schedule!r}")
    if validation is not None and (len(validation) != 2 or len(validation[0]) != len(validation[1])
                                   or len(validation[0]) == 0):
        raise ValueError("validation must be a pair (x_val, y_val) of the same nonzero length, got "
                         f"{[tuple(v.shape) for v in validation]}")
    if eval_every < 1 or patience < 1:
        raise ValueError(f"eval_every and patience must be >= 1, got {eval_every} and {patience}")
    dev = device or default_device()
    gen = torch.Generator().manual_seed(seed)
    score = score or negative_loss(loss_fn)
    if validation is not None:
        validation = tuple(v.to(dev) for v in validation)
    model.to(dev).train()
    opt = torch.optim.Adam(param_groups if param_groups is not None else model.parameters(), lr=lr,
                           weight_decay=weight_decay, fused=fused or None)
    annealing = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps) if schedule == "cosine" else None
    objective = objective or (lambda m, xb, yb: loss_fn(m(xb), yb))
    history = History()
    best_state, since_best = None, 0
    start = time.perf_counter()
    for step in tqdm(range(1, steps + 1), disable=not progress, desc="training"):
        if draw is not None:
            xb, yb = draw(gen)
        else:
            idx = (slice(None) if batch_size is None
                   else torch.randint(len(x), (min(batch_size, len(x)),), generator=gen))
            xb, yb = (x[idx] if augment is None else augment(x[idx], gen)), y[idx]
        if batch_slice is not None:
            xb, yb = xb[batch_slice], yb[batch_slice]
        loss = objective(model, xb.to(dev), yb.to(dev))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if annealing is not None:
            annealing.step()
        if after_step is not None:
            after_step(model)
        history.loss.append(loss.item())
        history.best_step = step
        if validation is None or step % eval_every:
            continue
        model.eval()
        value = float(score(model, *validation))
        model.train()
        history.val_steps.append(step)
        history.val_score.append(value)
        if best_state is None or value > max(history.val_score[:-1]):
            best_state, best_step, since_best = copy.deepcopy(model.state_dict()), step, 0
        else:
            since_best += 1
            if since_best >= patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
        history.best_step = best_step
    history.seconds = time.perf_counter() - start
    model.eval().cpu()
    return history


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 512) -> float:
    """Fraction of x (N, ...) that `model` classifies as y (N,), evaluated in batches."""
    dev = model_device(model)
    correct = sum(int((model(x[i:i + batch_size].to(dev)).argmax(-1).cpu() == y[i:i + batch_size]).sum())
                  for i in range(0, len(x), batch_size))
    return correct / len(x)


def intersection_over_union(predicted: Tensor, target: Tensor) -> float:
    """|P ∩ T| / |P ∪ T| of two boolean masks of the same shape (e.g. (N, H, W): the pixels
    predicted and known to be of one class), over the whole batch (chapter "Invariance and
    equivariance"). Unlike pixel accuracy it ignores the pixels both call background, so an
    all-background prediction scores 0. 1.0 when both masks are empty.
    """
    if predicted.shape != target.shape or predicted.dtype != torch.bool or target.dtype != torch.bool:
        raise ValueError("expected two boolean masks of the same shape, got "
                         f"{predicted.dtype} {tuple(predicted.shape)} and {target.dtype} {tuple(target.shape)}")
    union = int((predicted | target).sum())
    return int((predicted & target).sum()) / union if union else 1.0


@dataclass
class LearningCurve:
    """Test accuracy against training-set size: accuracy[test_name] is (len(sizes), len(seeds))."""

    sizes: list[int]
    seeds: list[int]
    accuracy: dict[str, Tensor]
    seconds: float = 0.0
    best_step: Tensor | None = None  # (len(sizes), len(seeds)): the step each model was left at
    steps_run: Tensor | None = None  # (len(sizes), len(seeds)): the steps each run took

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
    best_step = torch.zeros(len(sizes), len(seeds), dtype=torch.long)
    steps_run = torch.zeros_like(best_step)
    start = time.perf_counter()
    for j, seed in enumerate(seeds):
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
        for i, n in enumerate(sizes):
            torch.manual_seed(seed)
            model = make_model()
            history = fit(model, x[order[:n]], y[order[:n]], seed=seed, **fit_kwargs)
            best_step[i, j], steps_run[i, j] = history.best_step, len(history.loss)
            for name, (xt, yt) in tests.items():
                acc[name][i, j] = accuracy(model, xt, yt)
    return LearningCurve(list(sizes), list(seeds), acc, time.perf_counter() - start, best_step, steps_run)
