"""Neural operators: networks that learn a map between functions (chapter "Neural operators").

* `DeepONet` (Lu et al. 2021): a branch network reads the input function at fixed sensors, a
  trunk network reads a query point y, and the output is the dot product of the two;
* `spectral_conv` and the `FNO` (Li et al. 2021): a layer that multiplies the lowest Fourier
  modes of its input by learned complex matrices, so it acts on the *function* rather than on
  the grid it is sampled on, and a network of such layers between a pointwise lifting and a
  pointwise projection;
* `CNN`: the same network with the spectral convolutions replaced by circular convolutions (a
  kernel of 2·modes + 1 taps has about as many parameters as `modes` complex modes, and with 4
  layers it sees the whole period): the baseline that differs in one thing only;
  `on_training_grid` runs a grid-bound model on a finer grid the sensible way (decimate the
  input, with `low_pass` first or not: `decimate`; Fourier-upsample the output);
* `relative_l2`, the error every operator paper reports, and `train_operator` (`train.fit`).

Functions are (batch, channels, *grid) tensors, float32 unless the model is converted.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.models import MLP
from course_lib.train import fit, model_device


def relative_l2(prediction: Tensor, target: Tensor) -> Tensor:
    """The mean over the batch of ‖prediction − target‖₂ / ‖target‖₂, each norm over one sample's
    grid (and channels): prediction, target (B, ...) -> a scalar tensor (differentiable)."""
    if prediction.shape != target.shape or prediction.dim() < 2:
        raise ValueError(f"prediction and target are (B, ...) of the same shape, got "
                         f"{tuple(prediction.shape)} and {tuple(target.shape)}")
    difference = (prediction - target).flatten(1).norm(dim=1)
    return (difference / target.flatten(1).norm(dim=1)).mean()


# ----- DeepONet -----

class DeepONet(nn.Module):
    """G(u)(y) ≈ Σ_k b_k(u(x_1), ..., u(x_m)) t_k(y) + b₀.

    u (B, m): the input function at m fixed sensors; y (P, d): query points, moved to u's device
    (one fixed grid of points serves the model wherever it runs). Returns (B, P).
    With periodic=True the trunk reads (cos 2πy, sin 2πy) instead of y (for d = 1 on [0, 1)).
    """

    def __init__(self, sensors: int, basis: int = 64, hidden: tuple[int, ...] = (128, 128),
                 dim: int = 1, periodic: bool = False):
        super().__init__()
        if sensors < 1 or basis < 1 or dim < 1:
            raise ValueError(f"need sensors, basis and dim >= 1, got {sensors}, {basis}, {dim}")
        self.sensors, self.dim, self.periodic = sensors, dim, periodic
        self.branch = MLP(sensors, hidden, basis)
        self.trunk = MLP(2 * dim if periodic else dim, hidden, basis)
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, u: Tensor, y: Tensor) -> Tensor:
        if u.dim() != 2 or u.shape[1] != self.sensors or y.dim() != 2 or y.shape[1] != self.dim:
            raise ValueError(f"DeepONet expects u (B, {self.sensors}) and y (P, {self.dim}), got "
                             f"{tuple(u.shape)} and {tuple(y.shape)}")
        y = y.to(u.device)
        if self.periodic:
            y = torch.cat([torch.cos(2 * math.pi * y), torch.sin(2 * math.pi * y)], dim=1)
        return self.branch(u) @ self.trunk(y).T + self.bias


# ----- grids -----

def fourier_resample(u: Tensor, n: int) -> Tensor:
    """The band-limited interpolant of periodic samples u (..., s) at n >= s equispaced points
    (..., n): the spectrum is zero-padded, the Nyquist mode of an even s split evenly between
    +s/2 and −s/2, and the amplitude rescaled by n/s (irfft divides by the number of points)."""
    s = u.shape[-1]
    if n < s or s < 2:
        raise ValueError(f"resamples s >= 2 points onto n >= s points, got s={s}, n={n}")
    if n == s:
        return u.clone()
    u_hat = torch.fft.rfft(u)
    if s % 2 == 0:
        u_hat = torch.cat([u_hat[..., :-1], u_hat[..., -1:] / 2], dim=-1)
    return torch.fft.irfft(u_hat, n=n) * (n / s)


# ----- the Fourier neural operator -----

def spectral_conv(x: Tensor, weight: Tensor) -> Tensor:
    """The 1D spectral convolution: x (B, C_in, s) real, weight (C_in, C_out, modes) complex.

    The rfft of x is kept at its lowest `modes` frequencies (all there are if the grid has
    fewer), each frequency k mixed across channels by weight[:, :, k], the others set to zero,
    and the result transformed back to s points: (B, C_out, s). The same weights act on any
    grid size s, which is what lets an FNO run on grids it was not trained on."""
    if x.dim() != 3 or weight.dim() != 3 or x.shape[1] != weight.shape[0] or not weight.is_complex():
        raise ValueError(f"expected x (B, C_in, s) and complex weight (C_in, C_out, modes) with the "
                         f"same C_in, got {tuple(x.shape)} and {tuple(weight.shape)} {weight.dtype}")
    s = x.shape[-1]
    x_hat = torch.fft.rfft(x)
    m = min(weight.shape[-1], x_hat.shape[-1])
    out = torch.zeros(x.shape[0], weight.shape[1], x_hat.shape[-1], dtype=x_hat.dtype, device=x.device)
    out[..., :m] = torch.einsum("bik,iok->bok", x_hat[..., :m], weight[..., :m])
    return torch.fft.irfft(out, n=s)


def spectral_conv_2d(x: Tensor, weight: Tensor) -> Tensor:
    """The 2D spectral convolution: x (B, C_in, n1, n2), weight (2, C_in, C_out, m1, m2) complex.

    rfft2 keeps frequencies 0..m2−1 along the last axis; along the first, the lowest m1
    non-negative (weight[0]) and the m1 negative ones (weight[1]). (B, C_out, n1, n2)."""
    if x.dim() != 4 or weight.dim() != 5 or weight.shape[0] != 2 or x.shape[1] != weight.shape[1]:
        raise ValueError(f"expected x (B, C_in, n1, n2) and weight (2, C_in, C_out, m1, m2), got "
                         f"{tuple(x.shape)} and {tuple(weight.shape)}")
    n1, n2 = x.shape[-2:]
    x_hat = torch.fft.rfft2(x)
    m1, m2 = min(weight.shape[-2], n1 // 2), min(weight.shape[-1], x_hat.shape[-1])
    out = torch.zeros(x.shape[0], weight.shape[2], n1, x_hat.shape[-1], dtype=x_hat.dtype, device=x.device)
    mix = "bixy,ioxy->boxy"
    out[..., :m1, :m2] = torch.einsum(mix, x_hat[..., :m1, :m2], weight[0, ..., :m1, :m2])
    out[..., n1 - m1:, :m2] = torch.einsum(mix, x_hat[..., n1 - m1:, :m2], weight[1, ..., :m1, :m2])
    return torch.fft.irfft2(out, s=(n1, n2))


class SpectralConv(nn.Module):
    """`spectral_conv` (dim = 1) or `spectral_conv_2d` (dim = 2) with learned weights,
    initialised uniformly with scale 1/(C_in·C_out) as in Li et al."""

    def __init__(self, in_channels: int, out_channels: int, modes: int, dim: int = 1):
        super().__init__()
        if dim not in (1, 2) or modes < 1:
            raise ValueError(f"dim is 1 or 2 and modes >= 1, got dim={dim}, modes={modes}")
        shape = (in_channels, out_channels, modes) if dim == 1 else (2, in_channels, out_channels, modes, modes)
        self.dim = dim
        self.weight = nn.Parameter(torch.rand(shape, dtype=torch.cfloat) / (in_channels * out_channels))

    def forward(self, x: Tensor) -> Tensor:
        return (spectral_conv if self.dim == 1 else spectral_conv_2d)(x, self.weight)


def _pointwise(dim: int, c_in: int, c_out: int) -> nn.Module:
    return (nn.Conv1d if dim == 1 else nn.Conv2d)(c_in, c_out, 1)


class NeuralOperator(nn.Module):
    """Lift pointwise to `width` channels, apply `layers` blocks x -> σ(K x + W x) (K from
    `make_global`, W pointwise; no σ after the last), project pointwise to out_channels.

    x (B, in_channels, *grid) -> (B, out_channels, *grid), grid of `dim` axes.
    positional: append the grid coordinates j/n along each axis as input channels.
    padding: zero-pad each axis after lifting and crop before projecting (Li et al.'s fix for
    non-periodic problems; it makes the network see a boundary). An int pads that many points
    whatever the grid (so the padded share of the domain shrinks on a finer grid, and the network
    computes another operator there); a float in (0, 1) pads that fraction of each axis
    (round(padding · n) points), the same share of the domain on every grid.
    """

    def __init__(self, make_global: Callable[[], nn.Module], width: int, layers: int = 4, dim: int = 1,
                 in_channels: int = 1, out_channels: int = 1, hidden: int = 128, positional: bool = False,
                 padding: int | float = 0):
        super().__init__()
        if isinstance(padding, float) and not 0 < padding < 1:
            raise ValueError(f"a float padding is a fraction of the grid in (0, 1), got {padding}")
        if dim not in (1, 2) or layers < 1 or width < 1 or padding < 0:
            raise ValueError(f"need dim 1 or 2, layers >= 1, width >= 1, padding >= 0, got dim={dim}, "
                             f"layers={layers}, width={width}, padding={padding}")
        self.dim, self.in_channels, self.positional, self.padding = dim, in_channels, positional, padding
        self.lift = _pointwise(dim, in_channels + (dim if positional else 0), width)
        self.global_mixing = nn.ModuleList(make_global() for _ in range(layers))
        self.pointwise = nn.ModuleList(_pointwise(dim, width, width) for _ in range(layers))
        self.project = nn.Sequential(_pointwise(dim, width, hidden), nn.GELU(), _pointwise(dim, hidden, out_channels))

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 2 + self.dim or x.shape[1] != self.in_channels:
            raise ValueError(f"expected (B, {self.in_channels}, " + ", ".join(["n"] * self.dim)
                             + f"), got {tuple(x.shape)}")
        if self.positional:
            grids = torch.meshgrid(*(torch.arange(n, dtype=x.dtype, device=x.device) / n
                                     for n in x.shape[2:]), indexing="ij")
            x = torch.cat([x, *(g.expand(x.shape[0], 1, *g.shape) for g in grids)], dim=1)
        x = self.lift(x)
        p = self.padding
        if isinstance(p, float):
            p = max(1, round(p * x.shape[-1]))
        if p:
            x = F.pad(x, [0, p] * self.dim)
        for i, (k, w) in enumerate(zip(self.global_mixing, self.pointwise)):
            x = k(x) + w(x)
            if i < len(self.pointwise) - 1:
                x = F.gelu(x)
        if p:
            x = x[..., :-p] if self.dim == 1 else x[..., :-p, :-p]
        return self.project(x)


class FNO(NeuralOperator):
    """The Fourier neural operator: `NeuralOperator` whose global layers are `SpectralConv`s
    keeping `modes` Fourier modes (per axis)."""

    def __init__(self, modes: int, width: int, layers: int = 4, dim: int = 1, **kwargs):
        super().__init__(lambda: SpectralConv(width, width, modes, dim), width, layers, dim, **kwargs)


class CircularConv(nn.Conv1d):
    """`nn.Conv1d(width, width, k, padding=k // 2, padding_mode="circular", bias=False)`, the
    same parameters and initialisation, computed through the FFT: on an n-point periodic grid
    the taps at offsets −k//2 … k//2 are one circulant per channel pair, so the layer is
    ŷ_o(f) = Σ_i conj(ĥ_oi(f)) x̂_i(f), the cross-correlation Conv1d computes. Same function to
    float round-off (1e-6 relative), about 3× faster for 33 taps on 64 points. x (B, width, n),
    n ≥ k."""

    def __init__(self, width: int, kernel_size: int):
        super().__init__(width, width, kernel_size, padding=kernel_size // 2, padding_mode="circular",
                         bias=False)

    def forward(self, x: Tensor) -> Tensor:
        n, k = x.shape[-1], self.kernel_size[0]
        if x.dim() != 3 or n < k:
            raise ValueError(f"expected x (B, {self.in_channels}, n) with n >= {k} taps, got {tuple(x.shape)}")
        taps = torch.roll(F.pad(self.weight, (0, n - k)), -(k // 2), -1)  # offset m at index m mod n
        spectrum = torch.einsum("oif,bif->bof", torch.fft.rfft(taps).conj(), torch.fft.rfft(x))
        return torch.fft.irfft(spectrum, n=n)


class CNN(NeuralOperator):
    """The FNO's baseline: `NeuralOperator` whose global layers are circular convolutions of
    odd `kernel_size` without bias. In 1D a kernel of 2·modes + 1 taps has width² parameters
    per layer more than a spectral layer of `modes` complex modes (2·modes·width²), so
    CNN(2·modes + 1, width) is the FNO(modes, width)'s parameter-matched twin; its receptive
    field is layers·(kernel_size − 1) + 1 grid points (4 layers of 33 taps: 129 points, the
    whole period of a 64-point grid twice). Its taps are tied to grid points: on a finer grid it
    computes another operator (see `on_training_grid`). In 1D the convolutions run through the
    FFT (`CircularConv`)."""

    def __init__(self, kernel_size: int, width: int, layers: int = 4, dim: int = 1, **kwargs):
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size is odd (centred, 'same' size), got {kernel_size}")
        if dim == 1:
            layer = lambda: CircularConv(width, kernel_size)
        else:
            layer = lambda: nn.Conv2d(width, width, kernel_size, padding=kernel_size // 2,
                                      padding_mode="circular", bias=False)
        super().__init__(layer, width, layers, dim, **kwargs)


def low_pass(u: Tensor, s: int) -> Tensor:
    """u (..., n) periodic samples with the Fourier modes an s-point grid cannot hold without
    aliasing (|k| >= s/2) set to zero: (..., n). Decimated to s points afterwards, it gives the
    samples of its band-limited part, where plain decimation folds each mode k >= s/2 onto a
    lower one."""
    n = u.shape[-1]
    if not 2 <= s <= n:
        raise ValueError(f"low-passes n points for a grid of 2 <= s <= n points, got n={n}, s={s}")
    u_hat = torch.fft.rfft(u)
    u_hat[..., (s + 1) // 2:] = 0
    return torch.fft.irfft(u_hat, n=n)


def decimate(u: Tensor, s: int, anti_alias: bool = False) -> Tensor:
    """u (..., n) periodic samples on s points (..., s): every n/s-th sample, n a multiple of s.
    With `anti_alias`, after `low_pass(u, s)`: the samples of u's band-limited part, the input
    a model on the s-point grid gets without the folded high modes."""
    n = u.shape[-1]
    if s < 2 or n % s:
        raise ValueError(f"decimates n points to s >= 2 points, n a multiple of s, got n={n}, s={s}")
    return (low_pass(u, s) if anti_alias else u)[..., ::n // s]


def on_training_grid(model: nn.Module, x: Tensor, s: int, anti_alias: bool = False) -> Tensor:
    """Run a model trained on s-point grids on a finer periodic grid: decimate x (B, C, n) to s
    points (every n/s-th sample; with `anti_alias`, after `low_pass(x, s)`), apply the model,
    Fourier-upsample the output back to n points (`fourier_resample`). n a multiple of s.
    -> (B, C_out, n)."""
    n = x.shape[-1]
    if x.dim() != 3 or n % s:
        raise ValueError(f"expected x (B, C, n) with n a multiple of s = {s}, got {tuple(x.shape)}")
    return fourier_resample(model(decimate(x, s, anti_alias)), n)


def real_parameters(model: nn.Module) -> int:
    """The number of real numbers the model learns: a complex weight counts twice."""
    return sum(p.numel() * (2 if p.is_complex() else 1) for p in model.parameters() if p.requires_grad)


# ----- training -----

@dataclass
class OperatorFit:
    """What `train_operator` returns: the relative L2 training loss every `every` steps, the
    CPU seconds the training took (the process's; on a GPU they leave out its own time) and the
    seconds per step."""

    losses: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0
    steps: int = 0
    best_step: int = 0  # with a validation split: the step whose weights the model was left with
    val_steps: list[int] = field(default_factory=list)
    val_error: list[float] = field(default_factory=list)

    @property
    def step_ms(self) -> float:
        return 1e3 * self.cpu_seconds / max(self.steps, 1)


def train_operator(model: nn.Module, inputs: Tensor, targets: Tensor, steps: int = 1000, batch_size: int = 20,
                   lr: float = 1e-3, weight_decay: float = 1e-4, seed: int = 0, every: int = 100,
                   predict: Callable[[nn.Module, Tensor], Tensor] | None = None,
                   validation: tuple[Tensor, Tensor] | None = None, eval_every: int = 100,
                   patience: int = 3) -> OperatorFit:
    """Adam on the relative L2 loss over random minibatches of (inputs, targets) (first axis:
    samples), with a cosine learning-rate schedule from lr to 0 over `steps`, on
    `course_lib.device()` (CUDA when present); the model is left in eval mode, on the CPU.
    predict(model, x) gives the prediction (default model(x)); it must have the targets' shape
    and build any tensor it adds (a grid of points) on x's device. The minibatches (`batch_size`
    drawn with replacement, or None: the whole set every step) come from a generator seeded by
    `seed`. The loop is `train.fit`; the returned losses are every `every`-th step's. With
    validation = (inputs, targets), the relative L2 error on it is measured every `eval_every`
    steps, training stops after `patience` measurements without improvement, and the model keeps
    its best weights (`best_step`, `val_error`)."""
    if len(inputs) != len(targets) or steps < 1 or (batch_size is not None and batch_size < 1):
        raise ValueError(f"need as many inputs as targets, steps >= 1 and batch_size >= 1, got "
                         f"{len(inputs)}, {len(targets)}, steps={steps}, batch_size={batch_size}")
    predict = predict or (lambda m, x: m(x))
    start = time.process_time()
    history = fit(model, inputs, targets, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                  objective=lambda m, xb, yb: relative_l2(predict(m, xb), yb),
                  weight_decay=weight_decay, schedule="cosine",
                  validation=validation, eval_every=eval_every, patience=patience,
                  score=lambda m, xv, yv: -evaluate(m, xv, yv, predict=predict))
    run = len(history.loss)
    losses = [loss for step, loss in enumerate(history.loss) if step % every == every - 1 or step == run - 1]
    return OperatorFit(losses=losses, cpu_seconds=time.process_time() - start, steps=run,
                       best_step=history.best_step, val_steps=history.val_steps,
                       val_error=[-v for v in history.val_score])


@torch.no_grad()
def evaluate(model: nn.Module, inputs: Tensor, targets: Tensor, batch_size: int = 100,
             predict: Callable[[nn.Module, Tensor], Tensor] | None = None) -> float:
    """The relative L2 error of the model's predictions of `targets`, averaged over samples. Each
    batch of inputs goes to the model's device (`train.model_device`), its targets to where the
    prediction is."""
    predict = predict or (lambda m, x: m(x))
    dev = model_device(model)
    total = 0.0
    for i in range(0, len(inputs), batch_size):
        prediction = predict(model, inputs[i:i + batch_size].to(dev))
        total += float(relative_l2(prediction, targets[i:i + batch_size].to(prediction.device))) \
            * len(inputs[i:i + batch_size])
    return total / len(inputs)


def shift_equivariance_error(model: nn.Module, x: Tensor, shift: int) -> float:
    """‖model(roll(x, shift)) − roll(model(x), shift)‖ / ‖model(x)‖ (relative L2, averaged over
    the batch), rolling every grid axis of x (B, C, *grid) by `shift` points. 0 for a network
    that commutes with translations of the periodic grid. x goes to the model's device."""
    x = x.to(model_device(model))
    axes = tuple(range(2, x.dim()))
    with torch.no_grad():
        y = model(x)
        shifted = model(torch.roll(x, (shift,) * len(axes), axes))
        return float(relative_l2(shifted, torch.roll(y, (shift,) * len(axes), axes)))
