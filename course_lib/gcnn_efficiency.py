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
  the validation split every `EVAL_EVERY` steps, stopped after `patience` scores without a higher
  validation accuracy, best weights kept (`train.fit`).
- `run_one(name, train_xy, val_xy, test_xy, seed)`: one run of the benches: trained at the largest
  of `PATIENCES`, and scored (test, validation, training error, confusion matrices) with the
  weights each candidate patience would have kept (`stopped_at` replays the stopping rule on the
  validation history); `choose_patience` picks the patience on validation errors only.
"""

from __future__ import annotations

import copy
import math
import time
from typing import Callable

import torch
from torch import Tensor, nn

from course_lib import data, gcnn, stored, train
from course_lib.spread import compare, spread
from course_lib.steerable import FourierCNN, SteerableCNN, enn, field_types, rotation_gspace, steerable_conv

N_TEST, N_VAL = 500, 200
LR, BATCH, MAX_STEPS, EVAL_EVERY = 5e-3, 32, 8000, 25
# The candidate patiences (validation scores without improvement before stopping). Training runs at
# the largest: with best weights kept and the same seed and batches, a smaller patience only cuts
# the same trajectory shorter, so its result is read off the history (`stopped_at`).
PATIENCES = (10, 20, 40)
PATIENCE = max(PATIENCES)


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
# number of regular fields from the finer group;
# "last layer" / "hidden" change only the last or only the middle layer's fields of C8 (or C16);
# P4M with P4's fields (as many channels per group element as the P4 CNN) separates
# capacity from flip invariance. "P4 CNN + aug." is the P4 CNN trained on randomly rotated
# images, as "plain, pooled + aug." is the plain CNN: augmentation with equivariance.
PROBES: dict[str, tuple[Callable[[], nn.Module], Callable[[Tensor, torch.Generator], Tensor] | None]] = {
    "escnn C16, C8's fields": (lambda: SteerableCNN(16, channels=C8_CHANNELS, size=16), None),
    "escnn C8, C16's fields": (lambda: SteerableCNN(8, channels=C16_CHANNELS, size=16), None),
    # the last layer's field count against the hidden
    # layer's width: each of these changes one of the two from a model above
    "escnn C8, last layer 4": (lambda: SteerableCNN(8, channels=(3, 6, 4), size=16), None),
    "escnn C8, hidden 4": (lambda: SteerableCNN(8, channels=(3, 4, 6), size=16), None),
    "escnn C16, last layer 6": (lambda: SteerableCNN(16, channels=(3, 4, 6), size=16), None),
    "P4M CNN, P4's fields": (lambda: gcnn.GroupCNN((4, 8, 8), group="p4m"), None),
    "P4 CNN + aug.": (lambda: gcnn.GroupCNN((4, 8, 8)), gcnn.random_rotations),
}


# `bench/gcnn_steerable.py`: steerable CNNs against the P4 CNN at 300 images, every model within
# 7 % of the P4 CNN's 5,754 parameters (the channels chosen for that before any training, the
# hidden layer about as wide as the last). The escnn authors' options for small data (Weiler & Cesa 2019), each
# one change from a model above it: the group (C4 in escnn's architecture, C8, C16), larger
# filters (7, 5, 5 pixels instead of 5, 5, 3), restriction C16 -> C8 -> C4, quotient fields,
# irreps fields of SO(2) with a Fourier nonlinearity; and rotation augmentation on three of them.
# Names shared with MODELS or PROBES are the same model; the others are new, so that `make`
# never builds one model under another's name.
STEERABLE: dict[str, tuple[Callable[[], nn.Module], Callable[[Tensor, torch.Generator], Tensor] | None]] = {
    "P4 CNN": MODELS["P4 CNN"],
    "steerable C4": (lambda: SteerableCNN(4, channels=(5, 11, 11), size=16), None),
    "steerable C8": (lambda: SteerableCNN(8, channels=(4, 8, 8), size=16), None),
    "steerable C16": (lambda: SteerableCNN(16, channels=(2, 6, 6), size=16), None),
    "steerable C8, 7-5-5": (lambda: SteerableCNN(8, channels=(4, 6, 6), size=16, kernels=(7, 5, 5)), None),
    "steerable C16, 7-5-5": (lambda: SteerableCNN(16, channels=(3, 4, 5), size=16, kernels=(7, 5, 5)), None),
    "steerable C16>C8>C4": (lambda: SteerableCNN(16, channels=(2, 6, 6), size=16, kernels=(7, 5, 5),
                                                 groups=(16, 8, 4)), None),
    "steerable C8 + quotient": (lambda: SteerableCNN(8, channels=(3, 5, 5), size=16, quotient=True), None),
    "steerable SO(2) irreps": (lambda: FourierCNN(channels=(4, 9, 9), L=3), None),
    "P4 CNN + aug.": PROBES["P4 CNN + aug."],
    "steerable C8 + aug.": (lambda: SteerableCNN(8, channels=(4, 8, 8), size=16), gcnn.random_rotations),
    "steerable C16, 7-5-5 + aug.": (lambda: SteerableCNN(16, channels=(3, 4, 5), size=16, kernels=(7, 5, 5)),
                                    gcnn.random_rotations),
}
# Each model's partner: the model it differs from in one thing, and what that thing is.
STEERABLE_PAIRS: dict[str, tuple[str, str]] = {
    "steerable C4": ("P4 CNN", "escnn's architecture"),
    "steerable C8": ("steerable C4", "C8 instead of C4"),
    "steerable C16": ("steerable C8", "C16 instead of C8"),
    "steerable C8, 7-5-5": ("steerable C8", "larger filters"),
    "steerable C16, 7-5-5": ("steerable C16", "larger filters"),
    "steerable C16>C8>C4": ("steerable C16, 7-5-5", "restriction"),
    "steerable C8 + quotient": ("steerable C8", "quotient fields"),
    "steerable SO(2) irreps": ("steerable C8", "irreps fields of SO(2)"),
    "P4 CNN + aug.": ("P4 CNN", "augmentation"),
    "steerable C8 + aug.": ("steerable C8", "augmentation"),
    "steerable C16, 7-5-5 + aug.": ("steerable C16, 7-5-5", "augmentation"),
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


def make(name: str) -> nn.Module:
    """A fresh model `name` of MODELS, PROBES or STEERABLE (initialised from torch's global generator)."""
    known = {**MODELS, **PROBES, **STEERABLE}
    if name not in known:
        raise ValueError(f"expected one of {list(known)}, got {name!r}")
    return known[name][0]()


def train_one(name: str, train_xy: tuple[Tensor, Tensor], val_xy: tuple[Tensor, Tensor], seed: int,
              max_steps: int = MAX_STEPS, patience: int = PATIENCE,
              score: train.Score = train.accuracy) -> tuple[nn.Module, train.History]:
    """Model `name` of MODELS (or PROBES), initialised with `seed`, trained on train_xy with Adam (lr LR, batches
    of BATCH) until `patience` validation scores in a row (every EVAL_EVERY steps, the validation
    accuracy: the error is what the chapter compares; the validation loss bottoms out hundreds of
    steps before it, as the logits grow) fail to beat the best, at most max_steps; returned with its
    best weights (the first of equal scores), on the CPU where the chapter's tensors live, also when
    it trained on a GPU (`train.fit`). `score(model, x_val, y_val)` is
    the validation score (default the accuracy; `run_one` passes one that also records weights)."""
    make(name)  # refuses an unknown name before seeding
    augment = {**MODELS, **PROBES, **STEERABLE}[name][1]
    torch.manual_seed(seed)
    model = make(name)
    history = train.fit(model, *train_xy, steps=max_steps, batch_size=BATCH, lr=LR, seed=seed,
                        augment=augment, validation=val_xy, eval_every=EVAL_EVERY, patience=patience,
                        score=score)
    return model, history


def stopped_at(val_score: list[float], patience: int) -> tuple[int, int | None]:
    """`train.fit`'s stopping rule replayed on a validation history (higher is better): (the index
    of the score whose weights are kept, the first of equal bests; the index of the score at which
    training stops, None if it never stops within the history)."""
    if patience < 1 or not val_score:
        raise ValueError(f"need patience >= 1 and a nonempty history, got {patience} and {len(val_score)} scores")
    best, since = 0, 0
    for i in range(1, len(val_score)):
        if val_score[i] > val_score[best]:
            best, since = i, 0
        else:
            since += 1
            if since >= patience:
                return best, i
    return best, None


def error(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """The classification error of `model` on (x (N, ...), y (N,)), in percent."""
    return 100 * (1 - train.accuracy(model, x, y))


@torch.no_grad()
def confusion(model: nn.Module, x: Tensor, y: Tensor, n_classes: int = 10) -> list[list[int]]:
    """matrix[i][j]: how many of x of class i (y) the model calls j, (n_classes, n_classes)."""
    predicted = model(x).argmax(-1)
    matrix = torch.zeros(n_classes, n_classes, dtype=torch.long)
    matrix.index_put_((y, predicted), torch.ones_like(y), accumulate=True)
    return matrix.tolist()


def nearest_neighbour_error(train_xy: tuple[Tensor, Tensor], test_xy: tuple[Tensor, Tensor]) -> float:
    """The test error (%) of the 1-nearest-neighbour classifier on raw pixels: each test image
    (N, ...) takes the label of the training image (M, ...) nearest in Euclidean distance (the
    first of equal distances); labels y_train (M,), y_test (N,). A trivial baseline: no learning."""
    (x_train, y_train), (x_test, y_test) = train_xy, test_xy
    if len(x_train) != len(y_train) or len(x_test) != len(y_test) or len(x_train) == 0:
        raise ValueError(f"expected nonempty training images and labels of equal length, and test images and "
                         f"labels of equal length, got {len(x_train)}, {len(y_train)}, {len(x_test)}, {len(y_test)}")
    if x_train.shape[1:] != x_test.shape[1:]:
        raise ValueError(f"training and test images must have the same shape, got {tuple(x_train.shape[1:])} "
                         f"and {tuple(x_test.shape[1:])}")
    nearest = torch.cdist(x_test.flatten(1).double(), x_train.flatten(1).double()).argmin(1)
    return 100 * (y_train[nearest] != y_test).double().mean().item()


def orbit_nearest_neighbour_error(train_xy: tuple[Tensor, Tensor], test_xy: tuple[Tensor, Tensor], k: int,
                                  flips: bool = False) -> float:
    """The test error (%) of 1-nearest-neighbour on raw pixels over the orbit of the training images:
    each training image (M, C, H, H) turned by the k angles 2πj/k, j = 0..k-1 (`data.rotate_images`),
    with `flips` also their mirror images (`mirror`): k·M (or 2k·M) templates, then
    `nearest_neighbour_error`. k = 1 without flips is plain 1-NN. No learning: the symmetry is
    built in by matching against every rotated copy."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k, the number of rotation angles, must be a positive integer, got {k!r}")
    x, y = train_xy
    if x.dim() != 4 or len(x) != len(y):
        raise ValueError(f"expected training images (M, C, H, H) and M labels, got shapes "
                         f"{tuple(x.shape)} and {tuple(y.shape)}")
    angles = torch.arange(k, dtype=torch.float64).repeat(len(x)) * (2 * math.pi / k)
    x_orbit = data.rotate_images(x.repeat_interleave(k, 0), angles)
    y_orbit = y.repeat_interleave(k)
    if flips:
        x_orbit, y_orbit = torch.cat([x_orbit, mirror(x_orbit)]), torch.cat([y_orbit, y_orbit])
    return nearest_neighbour_error((x_orbit, y_orbit), test_xy)


def mirror(x: Tensor) -> Tensor:
    """Images (..., H, W) mirrored left to right."""
    return torch.flip(x, dims=(-1,))


def run_one(name: str, train_xy: tuple[Tensor, Tensor], val_xy: tuple[Tensor, Tensor],
            test_xy: tuple[Tensor, Tensor], seed: int, max_steps: int = MAX_STEPS,
            patiences: tuple[int, ...] = PATIENCES,
            sweep: tuple[Tensor, Tensor] | None = None) -> tuple[dict, dict[int, nn.Module]]:
    """One run of the benches: `train_one` at the largest of `patiences`, then, for each patience p,
    the weights the run would have kept had it stopped after p scores without improvement (the
    same trajectory, cut shorter). Returns (record, {p: model with those weights}); the record is
    JSON-able: n, seed, cpu_s (training and scoring), steps_trained, hit_cap (the run reached
    max_steps without stopping), val_history (validation error % at each score, every EVAL_EVERY
    steps) and by_patience {str(p): {best_step, steps (the steps it would have run), test_error,
    val_error, train_error (%), confusion and mirrored_confusion on the test set (`confusion` of
    the test digits and of their mirror images), mirrored_val_confusion (of the validation digits'
    mirror images: what a mirrored digit looks like to the model, read without the test set), and
    with `sweep = (images, angles)` sweep_change
    and sweep_changed (`gcnn.rotation_sweep`)}}."""
    if not patiences or min(patiences) < 1:
        raise ValueError(f"patiences must be positive integers, got {patiences}")
    start = time.process_time()
    kept: dict[int, dict] = {}   # index of a score that beat every earlier one -> the weights then

    def score(model: nn.Module, x: Tensor, y: Tensor) -> float:
        value = train.accuracy(model, x, y)
        scores.append(value)
        if len(scores) == 1 or value > max(scores[:-1]):
            kept[len(scores) - 1] = copy.deepcopy(model.state_dict())
        return value

    scores: list[float] = []
    model, history = train_one(name, train_xy, val_xy, seed, max_steps, max(patiences), score)
    record = {"n": len(train_xy[0]), "seed": seed, "steps_trained": len(history.loss),
              "hit_cap": stopped_at(history.val_score, max(patiences))[1] is None,
              "val_history": [100 * (1 - v) for v in history.val_score], "by_patience": {}}
    models = {}
    for p in sorted(patiences):
        best, stop = stopped_at(history.val_score, p)
        if p == max(patiences):
            at_p = model
        else:
            at_p = make(name).eval()   # eval mode: the weights were copied from an eval-mode model
            at_p.load_state_dict(kept[best])
            at_p.eval()
        x_test, y_test = test_xy
        entry = {"best_step": history.val_steps[best],
                 "steps": history.val_steps[stop] if stop is not None else len(history.loss),
                 "test_error": error(at_p, *test_xy), "val_error": error(at_p, *val_xy),
                 "train_error": error(at_p, *train_xy), "confusion": confusion(at_p, x_test, y_test),
                 "mirrored_confusion": confusion(at_p, mirror(x_test), y_test),
                 "mirrored_val_confusion": confusion(at_p, mirror(val_xy[0]), val_xy[1])}
        if sweep is not None:
            with torch.no_grad():
                change, changed = gcnn.rotation_sweep(at_p, *sweep)
            entry["sweep_change"], entry["sweep_changed"] = change.tolist(), changed.tolist()
        record["by_patience"][str(p)] = entry
        models[p] = at_p
    record["cpu_s"] = time.process_time() - start
    return record, models


def bench_protocol() -> dict:
    """The stored protocol of bench/gcnn_data_efficiency.py (its patience chosen on validation),
    which the benches that train more models at its settings reuse."""
    protocol = stored.result("gcnn_data_efficiency")["protocol"]
    if protocol.get("patiences") != list(PATIENCES):
        raise ValueError(f"run bench/gcnn_data_efficiency.py first: its stored patiences are "
                         f"{protocol.get('patiences')}, the library's {list(PATIENCES)}")
    return protocol


def train_models(names: tuple[str, ...], n: int, seeds: tuple[int, ...],
                 test_xy: tuple[Tensor, Tensor], pool: tuple[Tensor, Tensor],
                 patiences: tuple[int, ...] = PATIENCES) -> dict:
    """Each model of `names` trained by `run_one` (at the largest of `patiences`) on
    `draw(pool, n, seed)` for each seed and scored on `test_xy`, progress printed. Returns
    {name: {"runs": [records, one per seed], "parameters", "cpu_s"}}."""
    models = {}
    for name in names:
        entry = {"runs": []}
        for seed in seeds:
            train_xy, val_xy = draw(pool, n, seed)
            run, kept = run_one(name, train_xy, val_xy, test_xy, seed, patiences=patiences)
            entry["runs"].append(run)
            report = "; ".join(f"p={p}: test {r['test_error']:.1f} val {r['val_error']:.1f} "
                               f"step {r['best_step']}" for p, r in run["by_patience"].items())
            print(f"{name:24s} seed {seed}: {report}; ran {run['steps_trained']}"
                  f"{' (HIT THE CAP)' if run['hit_cap'] else ''}, {run['cpu_s']:.0f} s CPU", flush=True)
        entry["parameters"] = gcnn.n_parameters(kept[max(kept)])
        entry["cpu_s"] = sum(r["cpu_s"] for r in entry["runs"])
        print(f"{name}: {entry['parameters']:,} parameters, {entry['cpu_s']:.0f} s CPU", flush=True)
        models[name] = entry
    return models


def choose_patience(val_errors: list[dict[int, list[float]]]) -> int:
    """The patience chosen on validation: each item is one model at one training size, {patience:
    validation error per seed, the seeds in the same order}. Returns the smallest patience whose
    validation error is, for every item, not better at the largest patience by more than the paired
    noise threshold of `spread.compare` (a marginal gain counts as a gain); the largest if no
    smaller one qualifies. Validation errors never rise with patience (the same trajectory, cut
    shorter), so the rule stops where validation stops improving."""
    if not val_errors:
        raise ValueError("choose_patience needs at least one model's validation errors, got none")
    candidates = sorted(val_errors[0])
    largest = candidates[-1]
    for p in candidates:
        if all(compare(spread(item[p]), spread(item[largest]), False, names=("p", "largest"),
                       paired=True).winner != "largest" for item in val_errors):
            return p
    return largest


def patience_table(models: dict) -> dict:
    """{model: {str(size): {str(patience): validation error % per seed}}} of the benches' stored
    runs ({model: {"runs": [run_one's records]}})."""
    table: dict = {}
    for name, entry in models.items():
        for run in entry["runs"]:
            for p, at_p in run["by_patience"].items():
                table.setdefault(name, {}).setdefault(str(run["n"]), {}).setdefault(p, []).append(at_p["val_error"])
    return table


def format_patience_table(table: dict) -> str:
    """`patience_table` as lines: the mean validation error at each patience, and the paired margin
    (`spread.compare`) of the largest patience's gain over each smaller one (> 1: a gain)."""
    lines = []
    for name, sizes in table.items():
        for n, errors in sizes.items():
            largest = max(errors, key=int)
            means = "  ".join(f"p={p}: {spread(v).mean:5.2f}" for p, v in errors.items())
            gains = "; ".join(
                f"{largest} vs {p}: {compare(spread(errors[p]), spread(errors[largest]), False, paired=True).margin:.2f}x"
                for p in errors if p != largest)
            lines.append(f"{name:24s} n={n:>4s}  {means}  ({gains})")
    return "\n".join(lines)


def adopt(models: dict, patience: int) -> None:
    """Copy each stored run's results at `patience` (its by_patience entry) to its top level, the
    fields the chapter reads."""
    for entry in models.values():
        for run in entry["runs"]:
            run.update(run["by_patience"][str(patience)])
