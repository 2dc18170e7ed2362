"""Physics-informed neural networks (chapter "Physics-informed neural networks").

A PINN is a network u_θ(x) trained so that a PDE holds at *collocation points*: the loss is the mean
squared PDE residual at interior points plus a weighted boundary mismatch at points that lie on the
boundary. This module holds the reusable parts:

* differential operators of u_θ at a batch of points (`derivatives`, `gradient`, `laplacian`,
  `time_derivative`), by autograd or by `torch.func` (bench/pinn_derivatives.py times both);
* samplers for the interior and the boundary of a box and of a disk;
* the network (`MLP`) and the hard-constraint wrapper u = lift + distance · N (`HardConstraint`);
* the 2D Poisson problem −Δu = f of the chapter, its loss and its error;
* `train_pinn`: Adam, then L-BFGS, with a history of the loss (and of the error, if asked).

The Burgers equation, its reference solution and its ansatz are in `course_lib.burgers`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
from torch import Tensor, nn
from tqdm import tqdm

Field = Callable[[Tensor], Tensor]  # points (N, d) -> values (N,)

# --------------------------------------------------------------------------------------------
# Differential operators at a batch of points
# --------------------------------------------------------------------------------------------


def _check_points(x: Tensor, what: str = "x") -> None:
    if not isinstance(x, Tensor) or x.ndim != 2 or x.shape[1] < 1:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{what} must be a tensor of points of shape (N, d), got {shape}")


def _values(u_fn: Field, x: Tensor) -> Tensor:
    u = u_fn(x)
    if u.shape == (len(x), 1):
        u = u[:, 0]
    if u.shape != (len(x),):
        raise ValueError(f"u_fn must map points (N, d) to values (N,) or (N, 1), got {tuple(u.shape)} for N={len(x)}")
    return u


def _grad_of_sum(y: Tensor, x: Tensor) -> Tensor:
    """∂(Σ y)/∂x, keeping the graph; zeros where y does not depend on x (e.g. u linear, then u_xx)."""
    if not y.requires_grad:
        return torch.zeros_like(x)
    return torch.autograd.grad(y.sum(), x, create_graph=True, allow_unused=True, materialize_grads=True)[0]


@dataclass
class Derivatives:
    """u (N,), its gradient (N, d) and the second derivatives ∂²u/∂x_i² (N, k) for the k asked-for i."""

    u: Tensor
    grad: Tensor
    second: Tensor


def derivatives(u_fn: Field, x: Tensor, second: Sequence[int] = (), method: str = "autograd") -> Derivatives:
    """u, ∇u and the pure second derivatives ∂²u/∂x_i² (i in `second`) at points x (N, d).

    The results keep their graph, so a loss built from them can be differentiated with respect to
    the network's parameters. `method` is "autograd" (reverse mode on the batch: one backward pass
    per derivative; the default, faster in bench/pinn_derivatives.py) or "func" (torch.func: vmap
    over points of jacrev for the gradient and jacfwd(jacrev) for the Hessian of u at one point).
    u_fn must treat points independently (no batch norm), as every PINN does.
    """
    _check_points(x)
    second = list(second)
    if any(not 0 <= i < x.shape[1] for i in second):
        raise ValueError(f"second-derivative coordinates must lie in 0..{x.shape[1] - 1}, got {second}")
    if method == "autograd":
        x = x if x.requires_grad else x.detach().requires_grad_(True)
        u = _values(u_fn, x)
        g = _grad_of_sum(u, x)
        cols = [_grad_of_sum(g[:, i], x)[:, i] for i in second]
    elif method == "func":
        _values(u_fn, x[:1])  # shape check
        point = lambda p: _values(u_fn, p[None])[0]  # noqa: E731  (one point (d,) -> scalar)
        u = torch.func.vmap(point)(x)
        g = torch.func.vmap(torch.func.jacrev(point))(x)
        cols = []
        if second:
            h = torch.func.vmap(torch.func.jacfwd(torch.func.jacrev(point)))(x)
            cols = [h[:, i, i] for i in second]
    else:
        raise ValueError(f"method must be 'autograd' or 'func', got {method!r}")
    second_t = torch.stack(cols, dim=1) if cols else x.new_zeros(len(x), 0)
    return Derivatives(u=u, grad=g, second=second_t)


def gradient(u_fn: Field, x: Tensor) -> Tensor:
    """∇u at points x (N, d): a tensor (N, d)."""
    return derivatives(u_fn, x).grad


def laplacian(u_fn: Field, x: Tensor) -> Tensor:
    """Δu = Σ_i ∂²u/∂x_i² at points x (N, d): a tensor (N,)."""
    _check_points(x)
    return derivatives(u_fn, x, second=range(x.shape[1])).second.sum(dim=1)


def time_derivative(u_fn: Field, xt: Tensor) -> Tensor:
    """∂u/∂t at space-time points xt (N, d+1) whose last column is t: a tensor (N,)."""
    return derivatives(u_fn, xt).grad[:, -1]


# --------------------------------------------------------------------------------------------
# Samplers: collocation points inside a domain and on its boundary
# --------------------------------------------------------------------------------------------


def _bounds(low: Sequence[float], high: Sequence[float]) -> tuple[Tensor, Tensor]:
    lo, hi = torch.as_tensor(low, dtype=torch.float64), torch.as_tensor(high, dtype=torch.float64)
    if lo.ndim != 1 or lo.shape != hi.shape or not bool((hi > lo).all()):
        raise ValueError(f"low and high must be equal-length sequences with high > low, got {low} and {high}")
    return lo, hi


def _check_n(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"the number of points n must be an int >= 1, got {n!r}")


def box_interior(n: int, low: Sequence[float], high: Sequence[float],
                 generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
    """n points (n, d) uniform inside the box [low_1, high_1] × ... × [low_d, high_d]."""
    _check_n(n)
    lo, hi = _bounds(low, high)
    return (lo + (hi - lo) * torch.rand(n, len(lo), generator=generator, dtype=torch.float64)).to(dtype)


def box_boundary(n: int, low: Sequence[float], high: Sequence[float],
                 generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
    """n points (n, d) uniform on the boundary of the box: each lies on a face, faces drawn by area.

    A face is where one coordinate i equals low_i or high_i; its area is the product of the other sides.
    """
    _check_n(n)
    lo, hi = _bounds(low, high)
    d = len(lo)
    side = hi - lo
    areas = torch.stack([side.prod() / side[i] for i in range(d)]).repeat_interleave(2)  # faces (i, low/high)
    face = torch.multinomial(areas / areas.sum(), n, replacement=True, generator=generator)
    x = lo + side * torch.rand(n, d, generator=generator, dtype=torch.float64)
    axis, upper = face // 2, (face % 2).bool()
    x[torch.arange(n), axis] = torch.where(upper, hi[axis], lo[axis])
    return x.to(dtype)


def disk_interior(n: int, center: Sequence[float] = (0.0, 0.0), radius: float = 1.0,
                  generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
    """n points (n, 2) uniform inside a disk (radius √U · R, so that the density is uniform in area)."""
    _check_n(n)
    if radius <= 0:
        raise ValueError(f"radius must be > 0, got {radius}")
    r = radius * torch.rand(n, generator=generator, dtype=torch.float64).sqrt()
    phi = 2 * math.pi * torch.rand(n, generator=generator, dtype=torch.float64)
    return (torch.as_tensor(center, dtype=torch.float64) + r[:, None] * torch.stack([phi.cos(), phi.sin()], 1)).to(dtype)


def disk_boundary(n: int, center: Sequence[float] = (0.0, 0.0), radius: float = 1.0,
                  generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
    """n points (n, 2) uniform on the circle of the disk."""
    _check_n(n)
    if radius <= 0:
        raise ValueError(f"radius must be > 0, got {radius}")
    phi = 2 * math.pi * torch.rand(n, generator=generator, dtype=torch.float64)
    return (torch.as_tensor(center, dtype=torch.float64) + radius * torch.stack([phi.cos(), phi.sin()], 1)).to(dtype)


# --------------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------------


class MLP(nn.Module):
    """A fully connected network R^d -> R: points (N, d) -> values (N,).

    `depth` hidden layers of `width` units with `activation` (a smooth one, nn.Tanh, for PINNs:
    the PDE needs its second derivatives). Inputs are first mapped from the box [low, high] to
    [−1, 1]^d, so that the same initialisation suits every domain.
    """

    def __init__(self, in_dim: int, width: int = 32, depth: int = 3, activation: type[nn.Module] = nn.Tanh,
                 low: Sequence[float] | None = None, high: Sequence[float] | None = None):
        super().__init__()
        if in_dim < 1 or width < 1 or depth < 1:
            raise ValueError(f"in_dim, width and depth must be >= 1, got {in_dim}, {width}, {depth}")
        if (low is None) != (high is None):
            raise ValueError(f"give both low and high (the input box) or neither, got low={low}, high={high}")
        lo, hi = _bounds(low, high) if low is not None else (-torch.ones(in_dim), torch.ones(in_dim))
        if len(lo) != in_dim:
            raise ValueError(f"low/high must have in_dim={in_dim} entries, got {len(lo)}")
        self.register_buffer("center", ((hi + lo) / 2).float())
        self.register_buffer("half_width", ((hi - lo) / 2).float())
        layers: list[nn.Module] = []
        for i in range(depth):
            layers += [nn.Linear(in_dim if i == 0 else width, width), activation()]
        self.net = nn.Sequential(*layers, nn.Linear(width, 1))

    def forward(self, x: Tensor) -> Tensor:
        _check_points(x)
        return self.net((x - self.center) / self.half_width)[:, 0]


class HardConstraint(nn.Module):
    """u(x) = lift(x) + distance(x) · N(x): the boundary condition holds by construction.

    `distance` vanishes on the boundary (e.g. x(1−x)y(1−y) on the unit square) and `lift` takes the
    boundary values there (0 for a homogeneous condition), so u = lift on the boundary for any N.
    """

    def __init__(self, net: nn.Module, distance: Field, lift: Field | None = None):
        super().__init__()
        self.net, self.distance, self.lift = net, distance, lift

    def forward(self, x: Tensor) -> Tensor:
        u = self.distance(x) * self.net(x)
        return u if self.lift is None else self.lift(x) + u


# --------------------------------------------------------------------------------------------
# The Poisson problem −Δu = f on the unit square, u = 0 on its boundary
# --------------------------------------------------------------------------------------------

UNIT_SQUARE = ((0.0, 0.0), (1.0, 1.0))


def poisson_exact(x: Tensor) -> Tensor:
    """u(x, y) = sin(πx) sin(πy) at points (N, 2): values (N,)."""
    _check_points(x)
    return torch.sin(math.pi * x[:, 0]) * torch.sin(math.pi * x[:, 1])


def poisson_source(x: Tensor) -> Tensor:
    """f = −Δu = 2π² sin(πx) sin(πy) at points (N, 2): values (N,)."""
    return 2 * math.pi**2 * poisson_exact(x)


def square_distance(x: Tensor) -> Tensor:
    """x(1−x)y(1−y) at points (N, 2): zero exactly on the boundary of the unit square, (N,)."""
    _check_points(x)
    return x[:, 0] * (1 - x[:, 0]) * x[:, 1] * (1 - x[:, 1])


def pinn_loss(u_fn: Field, x_interior: Tensor, x_boundary: Tensor | None, source: Field,
              boundary_value: Field | None = None, boundary_weight: float = 1.0) -> dict[str, Tensor]:
    """The Poisson PINN loss terms {"pde": mean (−Δu − f)², "boundary": w · mean (u − g)²}.

    x_interior (N, d), x_boundary (M, d) or None (hard constraint: no boundary term);
    g = boundary_value (0 when None). Each term is a scalar tensor; the loss is their sum.
    """
    residual = -laplacian(u_fn, x_interior) - source(x_interior)
    terms = {"pde": residual.pow(2).mean()}
    if x_boundary is not None:
        _check_points(x_boundary, "x_boundary")
        g = 0.0 if boundary_value is None else boundary_value(x_boundary)
        terms["boundary"] = boundary_weight * (_values(u_fn, x_boundary) - g).pow(2).mean()
    return terms


def relative_l2(prediction: Tensor, reference: Tensor) -> float:
    """‖prediction − reference‖₂ / ‖reference‖₂ over all entries (same shapes), computed on the CPU
    in float64: a prediction made on a GPU compares with a reference kept on the CPU."""
    if prediction.shape != reference.shape:
        raise ValueError(f"prediction and reference must have the same shape, got {tuple(prediction.shape)} "
                         f"and {tuple(reference.shape)}")
    p, r = prediction.detach().double().cpu(), reference.detach().double().cpu()
    return float((p - r).norm() / r.norm())


def grid(n: int, low: Sequence[float] = (0.0, 0.0), high: Sequence[float] = (1.0, 1.0),
         dtype: torch.dtype = torch.float32) -> Tensor:
    """An n × n grid of points (n², 2) on the rectangle, row-major: reshape values to (n, n) with
    rows along the second coordinate (ready for plt.imshow(origin="lower"))."""
    _check_n(n)
    lo, hi = _bounds(low, high)
    a, b = (torch.linspace(float(lo[i]), float(hi[i]), n, dtype=dtype) for i in (0, 1))
    yy, xx = torch.meshgrid(b, a, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)


# --------------------------------------------------------------------------------------------
# Training: Adam, then L-BFGS
# --------------------------------------------------------------------------------------------


@dataclass
class PINNHistory:
    """What `train_pinn` returns: the loss at every step (Adam steps, then L-BFGS evaluations),
    the error (step, value) pairs when an error function was given, and the wall time per phase."""

    loss: list[float] = field(default_factory=list)
    error: list[tuple[int, float]] = field(default_factory=list)
    adam_seconds: float = 0.0
    lbfgs_seconds: float = 0.0

    @property
    def seconds(self) -> float:
        return self.adam_seconds + self.lbfgs_seconds

    @property
    def final_error(self) -> float:
        return self.error[-1][1] if self.error else float("nan")


def train_pinn(
    model: nn.Module,
    loss_terms: Callable[[nn.Module], dict[str, Tensor]],
    adam_steps: int = 1000,
    lbfgs_steps: int = 0,
    lr: float = 1e-3,
    schedule: str = "cosine",
    seed: int = 0,
    error_fn: Callable[[nn.Module], float] | None = None,
    every: int = 100,
    resample: Callable[[nn.Module], None] | None = None,
    progress: bool = False,
    lbfgs_options: dict | None = None,
) -> PINNHistory:
    """Minimise sum(loss_terms(model).values()) with Adam, then with L-BFGS (strong Wolfe line search).

    The collocation points live in the `loss_terms` closure, on the model's device and in its dtype
    (float64 lets L-BFGS go much further). `schedule` is "constant" or "cosine" (lr → 0 over the
    Adam steps). Every `every` steps (and at the end) `error_fn(model)` is recorded, and
    `resample(model)` may replace the collocation points (adaptive sampling); L-BFGS runs in
    chunks of `every` iterations, restarted after each resample since its curvature memory
    belongs to the old points. `lbfgs_options` overrides the L-BFGS settings (history_size=50,
    tolerance_grad=1e-12, tolerance_change=1e-15, line_search_fn="strong_wolfe"), e.g.
    {"history_size": 100}. `seed` seeds torch before training. Nothing here assumes a device: put
    the model and the points on `course_lib.device()` to train on a GPU.
    """
    if adam_steps < 0 or lbfgs_steps < 0 or adam_steps + lbfgs_steps == 0:
        raise ValueError(f"need adam_steps, lbfgs_steps >= 0, not both 0, got {adam_steps}, {lbfgs_steps}")
    if schedule not in ("constant", "cosine"):
        raise ValueError(f"schedule must be 'constant' or 'cosine', got {schedule!r}")
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    settings = {"history_size": 50, "tolerance_grad": 1e-12, "tolerance_change": 1e-15,
                "line_search_fn": "strong_wolfe"}
    unknown = set(lbfgs_options or {}) - set(settings)
    if unknown:
        raise ValueError(f"lbfgs_options may set {sorted(settings)}, got {sorted(unknown)}")
    settings.update(lbfgs_options or {})
    torch.manual_seed(seed)
    history = PINNHistory()

    def total() -> Tensor:
        return sum(loss_terms(model).values())

    def record(step: int) -> None:
        if error_fn is not None:
            history.error.append((step, float(error_fn(model))))

    bar = tqdm(total=adam_steps + lbfgs_steps, disable=not progress, desc="PINN")
    start = time.perf_counter()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(adam_steps, 1)) if schedule == "cosine" else None
    for step in range(adam_steps):
        loss = total()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        history.loss.append(loss.item())
        bar.update()
        if (step + 1) % every == 0 and step + 1 < adam_steps + lbfgs_steps:
            record(step + 1)
            if resample is not None:
                resample(model)
    history.adam_seconds = time.perf_counter() - start

    def new_lbfgs() -> torch.optim.LBFGS:
        return torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=every, max_eval=int(every * 1.25) + 1,
                                 **settings)

    start, done, lbfgs = time.perf_counter(), 0, new_lbfgs()
    while done < lbfgs_steps:
        chunk = min(every, lbfgs_steps - done)
        lbfgs.param_groups[0]["max_iter"] = chunk

        def closure() -> Tensor:
            lbfgs.zero_grad()
            loss = total()
            loss.backward()
            history.loss.append(loss.item())
            return loss

        lbfgs.step(closure)
        done += chunk
        bar.update(chunk)
        if done < lbfgs_steps:
            record(adam_steps + done)
            if resample is not None:
                resample(model)
                lbfgs = new_lbfgs()
    history.lbfgs_seconds = time.perf_counter() - start
    bar.close()
    record(adam_steps + lbfgs_steps)
    return history


# --------------------------------------------------------------------------------------------
# A D4-symmetric Poisson problem on [−1, 1]² (chapter "The frontier")
# --------------------------------------------------------------------------------------------

CENTRED_SQUARE = ((-1.0, -1.0), (1.0, 1.0))


def d4_poisson_exact(x: Tensor) -> Tensor:
    """u = c(1) + ½ c(3) with c(k) = cos(kπx/2) cos(kπy/2), at points (N, 2) of [−1, 1]²: values (N,).

    Zero on the boundary and unchanged by the 8 symmetries of the square (D4)."""
    _check_points(x)
    c = lambda k: torch.cos(k * math.pi * x[:, 0] / 2) * torch.cos(k * math.pi * x[:, 1] / 2)  # noqa: E731
    return c(1) + 0.5 * c(3)


def d4_poisson_source(x: Tensor) -> Tensor:
    """f = −Δu of `d4_poisson_exact`: (π²/2) c(1) + ½ (9π²/2) c(3), values (N,)."""
    _check_points(x)
    c = lambda k: torch.cos(k * math.pi * x[:, 0] / 2) * torch.cos(k * math.pi * x[:, 1] / 2)  # noqa: E731
    return math.pi**2 / 2 * c(1) + 0.5 * 9 * math.pi**2 / 2 * c(3)


def centred_square_distance(x: Tensor) -> Tensor:
    """(1 − x²)(1 − y²) at points (N, 2): zero exactly on the boundary of [−1, 1]², D4-invariant."""
    _check_points(x)
    return (1 - x[:, 0] ** 2) * (1 - x[:, 1] ** 2)


def d4_invariants(x: Tensor) -> Tensor:
    """(x² + y², x²y²) at points (N, 2): two polynomials unchanged by D4 (they generate all
    D4-invariant polynomials), (N, 2). A network of them is D4-invariant and smooth."""
    _check_points(x)
    sq = x**2
    return torch.stack([sq.sum(1), sq.prod(1)], 1)


class D4Invariant(nn.Module):
    """u(x) = net(d4_invariants(x)): a D4-invariant field on the plane, points (N, 2) -> (N,)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return self.net(d4_invariants(x))


def fold_to_fundamental_domain(x: Tensor) -> Tensor:
    """The image (N, 2) of each point (N, 2) under the element of D4 that brings it into the
    fundamental domain 0 ≤ y ≤ x (one eighth of the square): (max(|x|, |y|), min(|x|, |y|))."""
    _check_points(x)
    a = x.abs()
    return torch.stack([a.max(1).values, a.min(1).values], 1)


def fundamental_domain_interior(n: int, generator: torch.Generator | None = None,
                                dtype: torch.dtype = torch.float32) -> Tensor:
    """n points (n, 2) uniform in the triangle 0 ≤ y ≤ x ≤ 1 (uniform points of [−1, 1]², folded)."""
    return fold_to_fundamental_domain(box_interior(n, *CENTRED_SQUARE, generator=generator, dtype=dtype))


def fundamental_domain_mirrors(n: int, generator: torch.Generator | None = None,
                               dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """n points (n, 2) uniform on the two mirror edges of the triangle, y = 0 and y = x (0 ≤ x ≤ 1),
    drawn by length, and the outward unit normals (n, 2) there. A D4-symmetric smooth u has ∇u · normal = 0
    on them: the symmetry's boundary condition."""
    _check_n(n)
    t = torch.rand(n, generator=generator, dtype=torch.float64)
    diagonal = torch.rand(n, generator=generator, dtype=torch.float64) < math.sqrt(2) / (1 + math.sqrt(2))
    points = torch.stack([t, torch.where(diagonal, t, torch.zeros_like(t))], 1)
    s = 1 / math.sqrt(2)
    normals = torch.where(diagonal[:, None], torch.tensor([-s, s], dtype=torch.float64),
                          torch.tensor([0.0, -1.0], dtype=torch.float64))
    return points.to(dtype), normals.to(dtype)
