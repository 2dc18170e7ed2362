"""The data-efficiency protocol of the chapter "Group-equivariant CNNs": rotated digits, the models
compared, and one training run, early-stopped on a validation split (`bench/gcnn_data_efficiency.py`
runs it over models, training sizes and seeds; the chapter reads the stored result).

- `rotated_digit_split(seed)`: every digit turned by its own random angle, split into a test set and
  a pool; `draw(pool, n, seed)` draws n training and `N_VAL` validation images from the pool,
  disjoint, so that model selection never sees the test set.
- `MODELS`: name -> (make the model, augmentation); `SeedCNN` is the starting material's e2cnn
  classifier, ported to escnn. `PROBES`: models that each change one thing of a model of
  MODELS (fields, not group; group, not fields), for `bench/gcnn_probes.py`.
- `train_one(name, train_xy, val_xy, seed)`: Adam at one learning rate for every model, scored on
  the validation split every `EVAL_EVERY` steps, stopped after `PATIENCE` scores without a higher
  validation accuracy, best weights kept (`train.fit`).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from escnn import nn as enn
from torch import Tensor, nn

from course_lib import data, gcnn, train
from course_lib.steerable import SteerableCNN, field_types, rotation_gspace, steerable_conv

N_TEST, N_VAL = 500, 200
LR, BATCH, MAX_STEPS, EVAL_EVERY, PATIENCE = 5e-3, 32, 3000, 25, 10


class SeedCNN(nn.Module):
    """The starting material's e2cnn classifier, ported to escnn: images (B, 1, H, W) -> logits
    (B, n_classes), H and W multiples of 4.

    R2Conv 3×3 from the image to 16 regular fields of C_N -> ReLU -> 2×2 average pool ->
    R2Conv 3×3 to 32 regular fields -> ReLU -> 2×2 average pool -> average over the whole plane ->
    GroupPooling (max over each field's N channels: 32 invariant scalars) -> Linear(32, n_classes).
    """

    def __init__(self, N: int = 4, channels: tuple[int, int] = (16, 32), n_classes: int = 10):
        super().__init__()
        self.in_type, (t1, t2), invariant = field_types(rotation_gspace(N), channels)
        self.body = enn.SequentialModule(
            steerable_conv(self.in_type, t1, 3, padding=1), enn.ReLU(t1), enn.PointwiseAvgPool2D(t1, 2),
            steerable_conv(t1, t2, 3, padding=1), enn.ReLU(t2), enn.PointwiseAvgPool2D(t2, 2),
            enn.PointwiseAdaptiveAvgPool2D(t2, 1), enn.GroupPooling(t2))
        self.head = nn.Linear(invariant.size, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != 1 or x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(f"SeedCNN expects images (B, 1, H, W), H and W multiples of 4, got {tuple(x.shape)}")
        return self.head(self.body(self.in_type(x)).tensor.flatten(1))


C8_CHANNELS, C16_CHANNELS = (3, 6, 6), (3, 4, 4)   # C16's: C8's parameter count (3,764 vs 3,460)

MODELS: dict[str, tuple[Callable[[], nn.Module], Callable[[Tensor, torch.Generator], Tensor] | None]] = {
    "plain CNN, flatten": (lambda: gcnn.PlainCNN(16, (8, 16), hidden=32), None),
    "plain CNN, pooled": (lambda: gcnn.GroupCNN((8, 16, 16), group="p1"), None),
    "plain, pooled + aug.": (lambda: gcnn.GroupCNN((8, 16, 16), group="p1"), gcnn.random_rotations),
    "P4 CNN": (lambda: gcnn.GroupCNN((4, 8, 8)), None),
    "P4M CNN": (lambda: gcnn.GroupCNN((3, 6, 6), group="p4m"), None),
    "escnn C8": (lambda: SteerableCNN(8, channels=C8_CHANNELS, size=16), None),
    "escnn C16": (lambda: SteerableCNN(16, channels=C16_CHANNELS, size=16), None),
    "seed's C4 classifier": (lambda: SeedCNN(4), None),
}

# The factorial probe of `bench/gcnn_probes.py`: each changes one thing of a model of MODELS.
# C16 with C8's fields (about twice C8's parameters) and C8 with C16's fields separate the
# number of regular fields (and of invariant features the head sees) from the finer group;
# P4M with P4's fields (as many channels per group element as the P4 CNN) separates
# capacity from flip invariance.
PROBES: dict[str, tuple[Callable[[], nn.Module], Callable[[Tensor, torch.Generator], Tensor] | None]] = {
    "escnn C16, C8's fields": (lambda: SteerableCNN(16, channels=C8_CHANNELS, size=16), None),
    "escnn C8, C16's fields": (lambda: SteerableCNN(8, channels=C16_CHANNELS, size=16), None),
    "P4M CNN, P4's fields": (lambda: gcnn.GroupCNN((4, 8, 8), group="p4m"), None),
}


def rotated_digit_split(seed: int = 0, n_test: int = N_TEST) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """The digits on a 16×16 canvas, each turned by its own random angle, shuffled with `seed`:
    ((x_test (n_test, 1, 16, 16), y_test), (x_pool, y_pool)) with the rest in the pool."""
    digits, labels = data.padded_digits(size=16, digit_size=11)
    if not 0 < n_test < len(digits):
        raise ValueError(f"n_test must be between 1 and {len(digits) - 1}, got {n_test}")
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(digits), generator=generator)
    angles = 2 * math.pi * torch.rand(len(digits), generator=generator)
    images, targets = data.rotate_images(digits[order], angles), labels[order]
    return (images[:n_test], targets[:n_test]), (images[n_test:], targets[n_test:])


def draw(pool: tuple[Tensor, Tensor], n: int, seed: int, n_val: int = N_VAL) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """n training and n_val validation images drawn from the pool with `seed`, disjoint:
    ((x_train, y_train), (x_val, y_val)). The validation images are the same for every n."""
    x, y = pool
    if n < 1 or n + n_val > len(x):
        raise ValueError(f"need 1 <= n and n + n_val <= {len(x)} pool images, got n={n}, n_val={n_val}")
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    val, rest = order[:n_val], order[n_val:n_val + n]
    return (x[rest], y[rest]), (x[val], y[val])


def train_one(name: str, train_xy: tuple[Tensor, Tensor], val_xy: tuple[Tensor, Tensor], seed: int,
              max_steps: int = MAX_STEPS) -> tuple[nn.Module, train.History]:
    """Model `name` of MODELS (or PROBES), initialised with `seed`, trained on train_xy with Adam (lr LR, batches
    of BATCH) until PATIENCE validation scores in a row (every EVAL_EVERY steps, the validation
    accuracy: the error is what the chapter compares; the validation loss bottoms out hundreds of
    steps before it, as the logits grow) fail to beat the best, at most max_steps; returned with its
    best weights (the first of equal scores), on the CPU where the chapter's tensors live, also when
    it trained on a GPU (`train.fit` uses `course_lib.device()`)."""
    known = {**MODELS, **PROBES}
    if name not in known:
        raise ValueError(f"expected one of {list(known)}, got {name!r}")
    make, augment = known[name]
    torch.manual_seed(seed)
    model = make()
    history = train.fit(model, *train_xy, steps=max_steps, batch_size=BATCH, lr=LR, seed=seed,
                        augment=augment, validation=val_xy, eval_every=EVAL_EVERY, patience=PATIENCE,
                        score=train.accuracy)
    return model.cpu(), history
