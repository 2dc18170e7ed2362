"""Sets and graphs: networks that permutations cannot fool (chapter "Permutation-equivariant networks").

A set of n elements with d features each is stored as a tensor (..., n, d), in *some* order; a graph
adds the edges between its nodes. The symmetric group S_n (`groups.SymmetricGroup`) acts by
reordering the rows. A set function must not care (invariance: pooling), a per-element output must
be reordered with the input (equivariance: the Deep Sets layer, message passing, self-attention
without positions). Here:

* the action: `permute_rows`, `permutation_matrix`, `permute_graph`;
* invariance by pooling (`pool`), the equivariant linear layer λ·x + γ·mean(x) (`equivariant_linear`,
  `DeepSetsLayer`) and the proof by numbers that there is no other (`commutant_basis`);
* a message-passing layer (`sum_aggregate`, `MessagePassingLayer`) and self-attention
  (`SelfAttention`, with optional positions: the counterexample);
* the digit-sum task (`digit_sum_sets`) and three models that differ only in how they combine the
  elements: `SetRegressor` with 'sum' (Deep Sets), 'gru' (order matters) or 'concat' (fixed size).
"""

from __future__ import annotations

import math
from typing import Callable, Iterable, Sequence

import torch
from torch import Tensor, nn

from course_lib.arguments import require_int
from course_lib.data import digits
from course_lib.equivariance import equivariance_error
from course_lib.models import MLP
from course_lib.train import fit, model_device

# --------------------------------------------------------------------------------------------
# The action of S_n
# --------------------------------------------------------------------------------------------


def _permutation(p: Sequence[int], n: int) -> tuple[int, ...]:
    """p as a tuple, or ValueError unless it is a permutation of 0..n-1 (an element of S_n)."""
    try:
        q = tuple(int(i) for i in p)
    except (TypeError, ValueError):
        q = None
    if q is None or sorted(q) != list(range(n)):
        raise ValueError(f"expected a permutation of 0..{n - 1} (an element of S{n}), got {p!r}")
    return q


def permute_rows(p: Sequence[int], x: Tensor) -> Tensor:
    """The permutation p (p[i] = where row i goes, as in `groups.SymmetricGroup`) applied to the rows
    of x (..., n, d): the result has row i of x at position p[i]. An `Action` (element first)."""
    if x.dim() < 2:
        raise ValueError(f"permute_rows expects a set (..., n, d), got shape {tuple(x.shape)}")
    p = _permutation(p, x.shape[-2])
    inverse = torch.empty(len(p), dtype=torch.long)
    inverse[torch.tensor(p)] = torch.arange(len(p))
    return x[..., inverse, :]


def permutation_matrix(p: Sequence[int], dtype: torch.dtype = torch.float64) -> Tensor:
    """The n×n matrix P of p with P @ x = permute_rows(p, x): P[p[i], i] = 1. P(p·q) = P(p) P(q)."""
    p = _permutation(p, len(p))
    matrix = torch.zeros(len(p), len(p), dtype=dtype)
    matrix[torch.tensor(p), torch.arange(len(p))] = 1
    return matrix


def permute_graph(p: Sequence[int], x: Tensor, edge_index: Tensor) -> tuple[Tensor, Tensor]:
    """Relabel a graph's nodes: features x (N, d) permuted by rows, and each edge (j -> i) of
    edge_index (2, E) becomes (p[j] -> p[i]). The graph is the same; only the numbering changed."""
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"edge_index must have shape (2, E), got {tuple(edge_index.shape)}")
    p = _permutation(p, x.shape[-2])
    return permute_rows(p, x), torch.tensor(p)[edge_index]


def random_permutations(n: int, count: int, generator: torch.Generator) -> list[tuple[int, ...]]:
    """`count` uniformly random elements of S_n (tuples, as `groups.SymmetricGroup` writes them)."""
    return [tuple(torch.randperm(n, generator=generator).tolist()) for _ in range(count)]


def permutation_equivariance_error(f: Callable[[Tensor], Tensor], x: Tensor,
                                   permutations: Iterable[Sequence[int]]) -> float:
    """max over p of |f(p·x) − p·f(x)| / |f(x)| for sets x (..., n, d) (`equivariance.equivariance_error`)."""
    return equivariance_error(f, permute_rows, permute_rows, x, permutations)


def graph_equivariance_error(layer: Callable[[Tensor, Tensor], Tensor], x: Tensor, edge_index: Tensor,
                             permutations: Iterable[Sequence[int]], edge_order_seed: int | None = 0) -> float:
    """max over p of |layer(p·graph) − p·layer(graph)| / |layer(graph)|, nodes relabelled by `permute_graph`.

    The relabelled graph's edges (2, E) are also listed in a new random order (drawn from
    `edge_order_seed`), as a renumbered graph would be stored: a layer must not depend on the order
    of its edge list either. With the order kept (`edge_order_seed=None`) a sum aggregation adds the
    same messages in the same order and the error of an equivariant layer is exactly 0, which hides
    the round-off a real relabelling brings."""
    errors = []
    gen = None if edge_order_seed is None else torch.Generator().manual_seed(edge_order_seed)
    with torch.no_grad():
        out = layer(x, edge_index)
        for p in permutations:
            moved_x, moved_edges = permute_graph(p, x, edge_index)
            if gen is not None:
                moved_edges = moved_edges[:, torch.randperm(moved_edges.shape[1], generator=gen)]
            moved = layer(moved_x, moved_edges)
            errors.append(float((moved - permute_rows(p, out)).norm() / out.norm()))
    if not errors:
        raise ValueError("graph_equivariance_error needs at least one permutation, got none")
    return max(errors)


# --------------------------------------------------------------------------------------------
# Invariance and the equivariant linear layer
# --------------------------------------------------------------------------------------------

POOLS = ("sum", "mean", "max")


def pool(x: Tensor, how: str = "sum") -> Tensor:
    """Pool a set (..., n, d) over its elements to (..., d) by 'sum', 'mean' or 'max': invariant."""
    if x.dim() < 2:
        raise ValueError(f"pool expects a set (..., n, d), got shape {tuple(x.shape)}")
    if how == "sum":
        return x.sum(-2)
    if how == "mean":
        return x.mean(-2)
    if how == "max":
        return x.amax(-2)
    raise ValueError(f"how must be one of {POOLS}, got {how!r}")


def equivariant_linear(x: Tensor, lam: Tensor, gamma: Tensor) -> Tensor:
    """The Deep Sets layer without bias: x (..., n, d_in) -> x·Λ + mean_over_set(x)·Γ (..., n, d_out),
    with Λ = lam and Γ = gamma of shape (d_in, d_out). For d = 1: λ·x + γ·(1/n)Σx."""
    if x.dim() < 2 or lam.shape != gamma.shape or lam.dim() != 2 or lam.shape[0] != x.shape[-1]:
        raise ValueError(f"expected x (..., n, d_in) and lam, gamma (d_in, d_out), got x {tuple(x.shape)}, "
                         f"lam {tuple(lam.shape)}, gamma {tuple(gamma.shape)}")
    return x @ lam + x.mean(-2, keepdim=True) @ gamma


class DeepSetsLayer(nn.Module):
    """x (..., n, d_in) -> x·Λ + mean(x)·Γ + b (..., n, d_out): the general permutation-equivariant
    linear layer (Zaheer et al. 2017), with a bias (a constant is equivariant too)."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.lam = nn.Parameter(torch.randn(in_features, out_features) / math.sqrt(in_features))
        self.gamma = nn.Parameter(torch.randn(in_features, out_features) / math.sqrt(in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))

    def forward(self, x: Tensor) -> Tensor:
        return equivariant_linear(x, self.lam, self.gamma) + self.bias


def commutant_basis(matrices: Tensor, rtol: float = 1e-10) -> Tensor:
    """A basis (m, n, n) of all n×n matrices A with M A = A M for every M of matrices (k, n, n).

    The constraints M A − A M = 0 are linear in the n² entries of A; row-major vec gives
    vec(M A) = (M ⊗ I) vec(A) and vec(A M) = (I ⊗ Mᵀ) vec(A). The basis is the null space of the
    stacked (k·n², n²) constraint matrix: the right singular vectors whose singular value is below
    rtol × the largest. Orthonormal in the Frobenius inner product. Float64.
    """
    if matrices.dim() != 3 or matrices.shape[1] != matrices.shape[2]:
        raise ValueError(f"matrices must have shape (k, n, n), got {tuple(matrices.shape)}")
    m = matrices.to(torch.float64)
    eye = torch.eye(m.shape[1], dtype=torch.float64)
    constraints = torch.cat([torch.kron(a, eye) - torch.kron(eye, a.T.contiguous()) for a in m])
    _, singular, vh = torch.linalg.svd(constraints, full_matrices=False)
    largest = singular[0] if singular[0] > 0 else torch.tensor(1.0, dtype=torch.float64)
    rank = int((singular > rtol * largest).sum())
    return vh[rank:].reshape(-1, m.shape[1], m.shape[1])


def symmetric_group_generators(n: int) -> list[tuple[int, ...]]:
    """Two permutations that generate S_n: the swap (0 1) and the cycle i -> i+1 mod n (n >= 2)."""
    require_int(n, "n", minimum=2)
    swap = (1, 0, *range(2, n))
    return [swap, tuple((i + 1) % n for i in range(n))]


# --------------------------------------------------------------------------------------------
# Message passing and attention
# --------------------------------------------------------------------------------------------


def sum_aggregate(messages: Tensor, receivers: Tensor, num_nodes: int) -> Tensor:
    """Sum the messages (E, m) at their receiving nodes: (num_nodes, m); a node that receives no
    message gets zeros. The sum does not depend on the order of the edges."""
    if messages.dim() != 2 or receivers.shape != messages.shape[:1]:
        raise ValueError(f"expected messages (E, m) and receivers (E,), got {tuple(messages.shape)} "
                         f"and {tuple(receivers.shape)}")
    out = messages.new_zeros(num_nodes, messages.shape[1])
    return out.index_add(0, receivers, messages)


class MessagePassingLayer(nn.Module):
    """One round of message passing on a graph (or a batch of graphs as one disjoint graph):

        m_ji = message([h_i, h_j])  for each edge j -> i,   a_i = Σ_j m_ji,   h_i' = update([h_i, a_i]).

    h (N, d), edge_index (2, E) with rows (senders j, receivers i), as in torch_geometric.
    `message=None` sends the sender's features unchanged (m_ji = h_j).
    """

    def __init__(self, message: nn.Module | None, update: nn.Module):
        super().__init__()
        self.message, self.update = message, update

    def forward(self, h: Tensor, edge_index: Tensor) -> Tensor:
        if h.dim() != 2 or edge_index.dim() != 2 or edge_index.shape[0] != 2:
            raise ValueError(f"expected h (N, d) and edge_index (2, E), got {tuple(h.shape)} and "
                             f"{tuple(edge_index.shape)}")
        senders, receivers = edge_index
        messages = h[senders] if self.message is None else \
            self.message(torch.cat([h[receivers], h[senders]], 1))
        aggregated = sum_aggregate(messages, receivers, h.shape[0])
        return self.update(torch.cat([h, aggregated], 1))


def mlp_message_passing(features: int, hidden: int) -> MessagePassingLayer:
    """A MessagePassingLayer whose message and update are one-hidden-layer MLPs: (N, d) -> (N, d)."""
    return MessagePassingLayer(MLP(2 * features, [hidden], hidden), MLP(features + hidden, [hidden], features))


def copy_to_graphconv(update: nn.Linear, conv: nn.Module) -> nn.Module:
    """Give torch_geometric's `GraphConv(d, d_out, aggr="add")` the weights of
    MessagePassingLayer(None, update): its lin_root reads h_i, its lin_rel the sum of the h_j."""
    d = update.in_features // 2
    with torch.no_grad():
        conv.lin_root.weight.copy_(update.weight[:, :d])
        conv.lin_rel.weight.copy_(update.weight[:, d:])
        conv.lin_rel.bias.copy_(update.bias)
    return conv


def random_graph(num_nodes: int, num_edges: int, generator: torch.Generator) -> Tensor:
    """edge_index (2, num_edges) of random directed edges between distinct nodes."""
    senders = torch.randint(num_nodes, (num_edges,), generator=generator)
    offsets = torch.randint(1, num_nodes, (num_edges,), generator=generator)
    return torch.stack([senders, (senders + offsets) % num_nodes])


def sinusoidal_positions(n: int, d: int) -> Tensor:
    """(n, d) position encodings sin/cos(position / 10000^(2k/d)) (Vaswani et al. 2017)."""
    position = torch.arange(n, dtype=torch.float32)[:, None]
    frequency = torch.exp(-math.log(10000.0) * torch.arange(0, d, 2, dtype=torch.float32) / d)
    encoding = torch.zeros(n, d)
    encoding[:, 0::2] = torch.sin(position * frequency)
    encoding[:, 1::2] = torch.cos(position * frequency)[:, : d // 2]
    return encoding


class SelfAttention(nn.Module):
    """Single-head self-attention over a set, x (B, n, d) -> (B, n, d):
    softmax(Q Kᵀ/√d) V with Q, K, V linear in x, plus x (a residual).

    With `positions=True` the sinusoidal encoding of each row's *index* is added to x first, as in a
    Transformer reading a sequence: the layer then knows the order, and stops being equivariant.
    """

    def __init__(self, features: int, positions: bool = False):
        super().__init__()
        self.qkv = nn.Linear(features, 3 * features)
        self.positions = positions

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 3:
            raise ValueError(f"SelfAttention expects sets (B, n, d), got shape {tuple(x.shape)}")
        if self.positions:
            x = x + sinusoidal_positions(x.shape[1], x.shape[2]).to(x)
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        weights = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(x.shape[-1]), dim=-1)
        return x + weights @ v


# --------------------------------------------------------------------------------------------
# The digit-sum task
# --------------------------------------------------------------------------------------------

TRAIN_IMAGES = 1200  # of scikit-learn's 1,797 digits; the other 597 make the test sets


def digit_sum_sets(num_sets: int, size: int, seed: int, train: bool = True) -> tuple[Tensor, Tensor]:
    """Sets of `size` scikit-learn digit images (flattened: (num_sets, size, 64), in [0, 1]) and the
    sum of their labels (num_sets,) as float. Training sets draw from the first 1,200 images of a
    fixed shuffle, test sets from the other 597: no test image is ever seen in training."""
    require_int(num_sets, "num_sets")
    require_int(size, "size")
    images, labels = digits()
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    pool_ = order[:TRAIN_IMAGES] if train else order[TRAIN_IMAGES:]
    gen = torch.Generator().manual_seed(seed)
    picked = pool_[torch.randint(len(pool_), (num_sets, size), generator=gen)]
    return images[picked].flatten(2), labels[picked].sum(1).float()


class SetRegressor(nn.Module):
    """Encoder φ on each element, a combination of the n encodings, a linear head: (B, n, 64) -> (B,).

    combine='sum': Deep Sets, invariant, any n. 'gru': a GRU reads the encodings in order and the
    head reads its last state (any n, but order matters). 'concat': the n encodings side by side
    (order matters, and only sets of exactly `size` elements). Only the combination differs.

    The head ρ is one linear layer by default, so Deep Sets' prediction is then a linear function of
    the sum of the encodings. rho_hidden > 0 makes ρ a ReLU MLP (width rho_hidden, one hidden layer):
    the nonlinear ρ of Zaheer et al.'s ρ(Σ φ(x_i)).
    """

    COMBINE = ("sum", "gru", "concat")

    def __init__(self, combine: str, in_features: int = 64, hidden: int = 64, size: int | None = None,
                 rho_hidden: int = 0):
        super().__init__()
        if combine not in self.COMBINE:
            raise ValueError(f"combine must be one of {self.COMBINE}, got {combine!r}")
        if (combine == "concat") != (size is not None):
            raise ValueError(f"size is needed by 'concat' and only by it, got combine={combine!r}, size={size}")
        if rho_hidden < 0:
            raise ValueError(f"rho_hidden is a width >= 0 (0: a linear head), got {rho_hidden}")
        self.combine, self.size, self.hidden = combine, size, hidden
        self.encoder = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.gru = nn.GRU(hidden, hidden, batch_first=True) if combine == "gru" else None
        width = hidden * (size or 1)
        self.head = (nn.Linear(width, 1) if not rho_hidden else
                     nn.Sequential(nn.Linear(width, rho_hidden), nn.ReLU(), nn.Linear(rho_hidden, 1)))

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 3:
            raise ValueError(f"SetRegressor expects sets (B, n, d), got shape {tuple(x.shape)}")
        if self.combine == "concat" and x.shape[1] != self.size:
            raise ValueError(f"this MLP on the concatenation was built for sets of {self.size} elements "
                             f"(its first layer reads {self.size} × {self.hidden} "
                             f"numbers), got a set of {x.shape[1]}")
        h = self.encoder(x)
        if self.combine == "sum":
            h = h.sum(1)
        elif self.combine == "gru":
            h = self.gru(h)[1][0]
        else:
            h = h.flatten(1)
        return self.head(h)[:, 0]


def train_on_sets(model: nn.Module, sets: Sequence[tuple[Tensor, Tensor]], steps: int, seed: int,
                  batch_size: int = 64, lr: float = 1e-3) -> list[float]:
    """Adam on the mean squared error, its learning rate annealed from `lr` to 0 on a cosine; each
    step takes a minibatch of one size, the size drawn at random from `sets` = [(x (N, n, d), y (N,)),
    ...] (sets in a batch must have the same n). Returns the loss per step; the model trains on
    `course_lib.device()` (CUDA when present) and is left in eval mode, on the CPU. The loop is
    `course_lib.train.fit`, with `draw` making each step's batch."""
    require_int(steps, "steps")
    if not sets:
        raise ValueError("sets must hold at least one (x, y) pair of sets of one size, got none")

    def draw(gen: torch.Generator) -> tuple[Tensor, Tensor]:
        x, y = sets[int(torch.randint(len(sets), (1,), generator=gen))]
        idx = torch.randint(len(x), (batch_size,), generator=gen)
        return x[idx], y[idx]

    history = fit(model, *sets[0], loss_fn=nn.functional.mse_loss, steps=steps, lr=lr, seed=seed,
                  draw=draw, schedule="cosine")
    return history.loss


@torch.no_grad()
def mean_absolute_error(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """Mean |model(x) − y| over sets x (N, n, d) with targets y (N,), on the model's device."""
    dev = model_device(model)
    return float((model(x.to(dev)) - y.to(dev)).abs().mean())
