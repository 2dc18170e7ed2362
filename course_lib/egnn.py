"""E(n)-equivariant networks for point clouds (chapter "E(n)- and O(3)-equivariant networks").

A rigid motion x -> x Qᵀ + t (Q orthogonal: a rotation, maybe with a reflection; t a shift) of a
system of n points should leave its energy alone and turn its forces with Q. This module holds:

* `PairEnergy`: an energy Σ_{i<j} φ(|x_i − x_j|) of the distances, invariant by construction, and
  `forces` = −∇energy, equivariant because the gradient of an invariant function is;
* `coordinate_update`: the EGNN step x_i + C Σ_{j≠i} (x_i − x_j) w_ij with C = 1/(n − 1);
* `EGCL` and `EGNN`: the layer and model of Satorras, Hoogeboom & Welling (2021), with the
  velocity term of their n-body model, on the fully connected graph of the n points (dense
  tensors, no scatter: for five particles that is the fast way on a CPU);
* `GNN`: the same message passing on the same graph, with positions and velocities read as plain
  node features: nothing in it knows that they turn with the system;
* `linear_time` and `fit_nbody`: the x + t·v baseline and the training loop of the benchmark.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from course_lib.nbody import NBodyData
from course_lib.train import fit, model_device


def _check_points(x: Tensor, who: str) -> None:
    if x.dim() != 3 or x.shape[1] < 2:
        raise ValueError(f"{who} expects points (B, n, d) with n >= 2, got shape {tuple(x.shape)}")


def rigid_motion(x: Tensor, rotation: Tensor, shift: Tensor | None = None) -> Tensor:
    """x Qᵀ + t: every point (…, d) turned by the orthogonal Q (d, d), then shifted by t (d,)."""
    if rotation.shape != (x.shape[-1], x.shape[-1]):
        raise ValueError(f"rotation must be ({x.shape[-1]}, {x.shape[-1]}) for points of dimension "
                         f"{x.shape[-1]}, got {tuple(rotation.shape)}")
    moved = x @ rotation.to(x).T
    return moved if shift is None else moved + shift.to(x)


def pair_differences(x: Tensor) -> tuple[Tensor, Tensor]:
    """x (B, n, d) -> differences x_i − x_j (B, n, n, d) and squared distances (B, n, n, 1)."""
    diff = x[:, :, None] - x[:, None]
    return diff, (diff**2).sum(-1, keepdim=True)


def _mlp(widths: list[int], last_activation: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = []
    for k, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(a, b))
        if last_activation or k < len(widths) - 2:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class PairEnergy(nn.Module):
    """E(x) = Σ_{i<j} φ(|x_i − x_j|), φ a smooth MLP: x (B, n, d) -> (B,). Invariant under every
    rotation, reflection, translation and permutation of the points."""

    def __init__(self, hidden: int = 32):
        super().__init__()
        self.phi = _mlp([1, hidden, hidden, 1], last_activation=False)

    def forward(self, x: Tensor) -> Tensor:
        _check_points(x, "PairEnergy")
        i, j = torch.triu_indices(x.shape[1], x.shape[1], 1, device=x.device)
        r = (x[:, i] - x[:, j]).norm(dim=-1, keepdim=True)          # (B, pairs, 1)
        return self.phi(r).sum((1, 2))


class CoordinateEnergy(nn.Module):
    """An MLP on the flattened coordinates: x (B, n, d) -> (B,). Knows nothing of the symmetry."""

    def __init__(self, n: int, d: int = 3, hidden: int = 32):
        super().__init__()
        self.net = _mlp([n * d, hidden, hidden, 1], last_activation=False)

    def forward(self, x: Tensor) -> Tensor:
        _check_points(x, "CoordinateEnergy")
        return self.net(x.flatten(1))[:, 0]


def forces(energy: nn.Module, x: Tensor, create_graph: bool = True) -> Tensor:
    """F = −∂E/∂x of a batch energy E: (B, n, d) -> (B,), evaluated at x (B, n, d) -> (B, n, d).
    With create_graph the forces can be trained through (a loss on forces, force matching)."""
    _check_points(x, "forces")
    x = x.detach().requires_grad_(True)
    e = energy(x)
    if e.shape != x.shape[:1]:
        raise ValueError(f"the energy must return one number per system, (B,) = ({len(x)},), got "
                         f"{tuple(e.shape)}")
    return -torch.autograd.grad(e.sum(), x, create_graph=create_graph)[0]


def coordinate_update(x: Tensor, weights: Tensor) -> Tensor:
    """The EGNN coordinate step  x_i + 1/(n − 1) Σ_{j≠i} (x_i − x_j) w_ij.
    x (B, n, d), weights (B, n, n) (w_ii is not used: x_i − x_i = 0) -> (B, n, d)."""
    _check_points(x, "coordinate_update")
    if weights.shape != x.shape[:2] + x.shape[1:2]:
        raise ValueError(f"weights are (B, n, n) = {tuple(x.shape[:2] + x.shape[1:2])}, got "
                         f"{tuple(weights.shape)}")
    diff, _ = pair_differences(x)
    return x + (diff * weights[..., None]).sum(2) / (x.shape[1] - 1)


class EGCL(nn.Module):
    """One E(n)-equivariant graph convolution layer on the complete graph of n points
    (Satorras et al. 2021, eqs. 3-6 and the velocity form of eq. 7):

        m_ij = φ_e(h_i, h_j, |x_i − x_j|², a_ij)
        x_i' = x_i + 1/(n − 1) Σ_{j≠i} (x_i − x_j) φ_x(m_ij)  [+ φ_v(h_i) v_i]
        h_i' = h_i + φ_h(h_i, Σ_{j≠i} m_ij)

    h (B, n, F), x (B, n, d), edge_attr (B, n, n, E) or None, v (B, n, d) or None
    -> (h' (B, n, F), x' (B, n, d)). Everything that enters an MLP is invariant, and x moves
    only along differences x_i − x_j and the velocity, so x' turns and shifts with x.
    """

    def __init__(self, features: int, hidden: int, edge_features: int = 0, velocity: bool = False):
        super().__init__()
        self.phi_e = _mlp([2 * features + 1 + edge_features, hidden, hidden])
        self.phi_x = _mlp([hidden, hidden, 1], last_activation=False)
        nn.init.xavier_uniform_(self.phi_x[-1].weight, gain=0.001)   # start near the identity
        self.phi_h = _mlp([features + hidden, hidden, features], last_activation=False)
        self.phi_v = _mlp([features, hidden, 1], last_activation=False) if velocity else None
        self.edge_features = edge_features

    def forward(self, h: Tensor, x: Tensor, edge_attr: Tensor | None = None,
                v: Tensor | None = None) -> tuple[Tensor, Tensor]:
        _check_points(x, "EGCL")
        b, n, _ = x.shape
        if h.shape[:2] != (b, n):
            raise ValueError(f"h must be (B, n, F) = ({b}, {n}, F), got {tuple(h.shape)}")
        if (v is None) != (self.phi_v is None):
            raise ValueError("pass v exactly when the layer was built with velocity=True")
        _, r2 = pair_differences(x)
        inputs = [h[:, :, None].expand(b, n, n, -1), h[:, None].expand(b, n, n, -1), r2]
        if self.edge_features:
            if edge_attr is None or edge_attr.shape != (b, n, n, self.edge_features):
                got = None if edge_attr is None else tuple(edge_attr.shape)
                raise ValueError(f"edge_attr must be ({b}, {n}, {n}, {self.edge_features}), got {got}")
            inputs.append(edge_attr)
        off_diagonal = 1 - torch.eye(n, dtype=x.dtype, device=x.device)[None, :, :, None]
        m = self.phi_e(torch.cat(inputs, -1)) * off_diagonal             # (B, n, n, hidden)
        x_new = coordinate_update(x, self.phi_x(m)[..., 0])
        if v is not None:
            x_new = x_new + self.phi_v(h) * v
        return h + self.phi_h(torch.cat([h, m.sum(2)], -1)), x_new


def nbody_inputs(x: Tensor, v: Tensor, charges: Tensor) -> tuple[Tensor, Tensor]:
    """The EGNN paper's invariant inputs of a charged system: node features |v_i| (B, n, 1) and
    edge attributes (q_i q_j, |x_i − x_j|²) (B, n, n, 2)."""
    _check_points(x, "nbody_inputs")
    if v.shape != x.shape or charges.shape != x.shape[:2]:
        raise ValueError(f"expected v {tuple(x.shape)} and charges {tuple(x.shape[:2])}, got "
                         f"{tuple(v.shape)} and {tuple(charges.shape)}")
    _, r2 = pair_differences(x)
    return v.norm(dim=-1, keepdim=True), torch.cat([(charges[:, :, None] * charges[:, None])[..., None],
                                                    r2], -1)


class EGNN(nn.Module):
    """The EGNN n-body model: |v| embedded to `hidden` features, then `layers` EGCLs with the
    velocity term; the last layer's coordinates are the prediction.
    (x, v (B, n, d), charges (B, n)) -> predicted positions (B, n, d)."""

    def __init__(self, hidden: int = 64, layers: int = 4):
        super().__init__()
        self.embed = nn.Linear(1, hidden)
        self.layers = nn.ModuleList(EGCL(hidden, hidden, edge_features=2, velocity=True)
                                    for _ in range(layers))

    def forward(self, x: Tensor, v: Tensor, charges: Tensor) -> Tensor:
        speed, edge_attr = nbody_inputs(x, v, charges)
        h = self.embed(speed)
        for layer in self.layers:
            h, x = layer(h, x, edge_attr, v)
        return x


class GNN(nn.Module):
    """The non-equivariant baseline: the same message passing on the same complete graph,
    with positions and velocities as plain node features:

        h_i = embed(x_i, v_i),  m_ij = φ_e(h_i, h_j, q_i q_j),  h_i' = h_i + φ_h(h_i, Σ_j m_ij),

    then x_i + W h_i as the prediction. (x, v (B, n, d), charges (B, n)) -> (B, n, d).

    centred=True: the node features read x_i − x̄ (x̄ the mean position of the system) in place of
    x_i, so a shift of the whole system shifts the prediction exactly; rotations are still unknown
    to it. The parameter count does not change.
    """

    def __init__(self, hidden: int = 64, layers: int = 4, d: int = 3, centred: bool = False):
        super().__init__()
        self.centred = centred
        self.embed = nn.Linear(2 * d, hidden)
        self.phi_e = nn.ModuleList(_mlp([2 * hidden + 1, hidden, hidden]) for _ in range(layers))
        self.phi_h = nn.ModuleList(_mlp([2 * hidden, hidden, hidden], last_activation=False)
                                   for _ in range(layers))
        self.decode = nn.Linear(hidden, d)

    def forward(self, x: Tensor, v: Tensor, charges: Tensor) -> Tensor:
        _check_points(x, "GNN")
        b, n, _ = x.shape
        seen = x - x.mean(1, keepdim=True) if self.centred else x
        h = self.embed(torch.cat([seen, v], -1))
        qq = (charges[:, :, None] * charges[:, None])[..., None]
        off_diagonal = 1 - torch.eye(n, dtype=x.dtype, device=x.device)[None, :, :, None]
        for phi_e, phi_h in zip(self.phi_e, self.phi_h):
            pairs = [h[:, :, None].expand(b, n, n, -1), h[:, None].expand(b, n, n, -1), qq]
            m = phi_e(torch.cat(pairs, -1)) * off_diagonal
            h = h + phi_h(torch.cat([h, m.sum(2)], -1))
        return x + self.decode(h)


def linear_time(x: Tensor, v: Tensor, target: Tensor) -> Tensor:
    """The least-squares t of the baseline target ≈ x + t·v: Σ v·(target − x) / Σ |v|².
    x, v, target (B, n, d) -> a scalar tensor."""
    if not (x.shape == v.shape == target.shape):
        raise ValueError(f"x, v and target must have one shape, got {tuple(x.shape)}, "
                         f"{tuple(v.shape)}, {tuple(target.shape)}")
    return (v * (target - x)).sum() / (v**2).sum()


def mse(model: nn.Module, data: NBodyData, batch_size: int = 500) -> float:
    """Mean squared error of the predicted positions over every coordinate of `data`, each batch
    moved to the model's device (so it also scores a model during training on a GPU)."""
    total, dev = 0.0, model_device(model)
    with torch.no_grad():
        for k in range(0, len(data), batch_size):
            x, v, charges, target = (t[k:k + batch_size].to(dev) for t in (data.x, data.v, data.charges, data.target))
            total += float(((model(x, v, charges) - target) ** 2).sum())
    return total / data.target.numel()


@dataclass
class NBodyFit:
    """What `fit_nbody` returns: the trained model, the training loss per epoch, the test MSE
    every `eval_every` epochs (epoch, mse), and the CPU seconds spent training. With a validation
    split: its MSE every `eval_every` epochs (epoch, mse) and `best_epoch`, the epoch whose
    weights the model was left with (the lowest validation MSE); without one, best_epoch is the
    last epoch."""

    model: nn.Module
    train_loss: list[float] = field(default_factory=list)
    test_mse: list[tuple[int, float]] = field(default_factory=list)
    cpu_seconds: float = 0.0
    valid_mse: list[tuple[int, float]] = field(default_factory=list)
    best_epoch: int = 0


def _packed(data: NBodyData) -> Tensor:
    """(x, v, charges) of a split in one tensor (N, n, 2d + 1), the form `fit` batches."""
    return torch.cat([data.x, data.v, data.charges.unsqueeze(-1)], -1)


def fit_nbody(model: nn.Module, train: NBodyData, epochs: int, lr: float = 1e-3,
              batch_size: int = 100, seed: int = 0, test: NBodyData | None = None,
              eval_every: int = 0, valid: NBodyData | None = None) -> NBodyFit:
    """Adam on the mean squared error of the positions, the learning rate decayed to 0 along a
    cosine over `epochs` passes of shuffled mini-batches. CPU time of the process is measured
    (training only, not the test or validation evaluations). The loop is `course_lib.train.fit`:
    `draw` walks through each epoch's shuffled order, `objective` unpacks (x, v, charges) from one
    tensor, and `after_step` closes an epoch (its mean loss, the test MSE every `eval_every`
    epochs).

    Model selection: with a validation split `valid`, its MSE is measured every `eval_every`
    epochs (which must divide `epochs`, so that the last one is scored) and the model is left
    with the weights of the epoch where it was lowest, as the EGNN paper selects its model;
    training always runs all `epochs` (no early stop). The test set plays no part in the
    choice. The model trains on `course_lib.device()` (CUDA when present) and is returned on the
    CPU (`fit`)."""
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size are positive, got {epochs} and {batch_size}")
    if valid is not None and (eval_every < 1 or epochs % eval_every):
        raise ValueError(f"a validation split needs eval_every >= 1 epochs dividing epochs, so that "
                         f"the last epoch is scored, got eval_every={eval_every}, epochs={epochs}")
    per_epoch = -(-len(train) // batch_size)
    inputs = _packed(train)                                                   # (N, n, 7)
    result, state = NBodyFit(model), {"order": None, "k": 0, "step": 0, "eval_seconds": 0.0}

    def draw(gen: torch.Generator) -> tuple[Tensor, Tensor]:
        if state["k"] == 0:
            state["order"] = torch.randperm(len(train), generator=gen)
        idx = state["order"][state["k"]:state["k"] + batch_size]
        state["k"] = (state["k"] + batch_size) % (per_epoch * batch_size)
        return inputs[idx], train.target[idx]

    def objective(m: nn.Module, xb: Tensor, target: Tensor) -> Tensor:
        return ((m(xb[..., :3], xb[..., 3:6], xb[..., 6]) - target) ** 2).mean()

    def after_step(m: nn.Module) -> None:
        state["step"] += 1
        if state["step"] % per_epoch:
            return
        epoch = state["step"] // per_epoch
        if test is not None and eval_every and (epoch % eval_every == 0 or epoch == epochs):
            start = time.process_time()
            m.eval()
            result.test_mse.append((epoch, mse(m, test)))
            m.train()
            state["eval_seconds"] += time.process_time() - start

    def valid_score(m: nn.Module, xv: Tensor, target: Tensor) -> float:
        start = time.process_time()
        error = mse(m, NBodyData(xv[..., :3], xv[..., 3:6], xv[..., 6], target, valid.steps_ahead))
        epoch = state["step"] // per_epoch
        result.valid_mse.append((epoch, error))
        state["eval_seconds"] += time.process_time() - start
        return -error

    selection = {}
    if valid is not None:
        selection = dict(validation=(_packed(valid), valid.target), score=valid_score,
                         eval_every=eval_every * per_epoch, patience=epochs + 1)
    start = time.process_time()
    history = fit(model, inputs, train.target, steps=epochs * per_epoch, lr=lr, seed=seed,
                  draw=draw, objective=objective, schedule="cosine", after_step=after_step,
                  **selection)
    result.cpu_seconds = time.process_time() - start - state["eval_seconds"]
    result.best_epoch = history.best_step // per_epoch
    sizes = torch.tensor([len(train) - batch_size * (per_epoch - 1) if (k + 1) % per_epoch == 0
                          else batch_size for k in range(len(history.loss))], dtype=torch.float64)
    losses = torch.tensor(history.loss, dtype=torch.float64) * sizes
    result.train_loss = (losses.reshape(epochs, per_epoch).sum(1) / len(train)).tolist()
    model.eval()
    return result


__all__ = ["rigid_motion", "pair_differences", "PairEnergy", "CoordinateEnergy", "forces",
           "coordinate_update", "EGCL", "nbody_inputs", "EGNN", "GNN", "linear_time", "mse",
           "NBodyFit", "fit_nbody"]
