"""Exercises of the chapter "Permutation-equivariant networks" (solutions/permutation.ipynb)."""

from __future__ import annotations

import torch
from torch import nn

from course_lib.checks import Case, Exercise, by_short_name, call, input_gradient, parameter_gradient
from course_lib.equivariance import equivariance_error
from course_lib.sets import (DeepSetsLayer, SelfAttention, equivariant_linear, permutation_equivariance_error,
                             permute_rows, sum_aggregate)


def _randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _permute_cases() -> list[Case]:
    return [
        Case("p = (1, 0, 2) (a swap) on x = [[0], [10], [20]]",
             ((1, 0, 2), torch.tensor([[0.0], [10.0], [20.0]], dtype=torch.float64))),
        Case("p = (1, 2, 0) (a 3-cycle: 0 goes to 1, 1 to 2, 2 to 0) on x = [[0], [10], [20]]",
             ((1, 2, 0), torch.tensor([[0.0], [10.0], [20.0]], dtype=torch.float64))),
        Case("p = (2, 0, 3, 1) on a set of 4 elements with 3 features each (4, 3)",
             ((2, 0, 3, 1), _randn(4, 3, seed=0))),
        Case("p = (3, 0, 4, 1, 2) on a batch of 2 sets of 5 elements with 4 features (2, 5, 4): the "
             "rows are the second-to-last axis", ((3, 0, 4, 1, 2), _randn(2, 5, 4, seed=1))),
        Case("p = (2, 0, 1) on a (2, 3, 3, 2) tensor (2 × 3 sets of 3 elements with 2 features): the rows "
             "are the second-to-last axis whatever the rank", ((2, 0, 1), _randn(2, 3, 3, 2, seed=20))),
        Case("p = (0,) on a set of one element (1, 3)", ((0,), _randn(1, 3, seed=21))),
    ]


def _linear_cases() -> list[Case]:
    return [
        Case("one set x = [[1], [2], [6]], λ = [[2]], γ = [[1]] (d_in = d_out = 1; the answer is "
             "[[5], [7], [15]])", (torch.tensor([[1.0], [2.0], [6.0]], dtype=torch.float64),
                                 torch.tensor([[2.0]], dtype=torch.float64),
                                 torch.tensor([[1.0]], dtype=torch.float64))),
        Case("one set of 4 elements, d_in = 3, d_out = 2", (_randn(4, 3, seed=2), _randn(3, 2, seed=3),
                                                             _randn(3, 2, seed=4))),
        Case("a batch of 3 sets of 5 elements, d_in = 2, d_out = 4: each set has its own mean",
             (_randn(3, 5, 2, seed=5), _randn(2, 4, seed=6), _randn(2, 4, seed=7))),
        Case("a batch of 2 sets of 2 elements, d_in = d_out = 3", (_randn(2, 2, 3, seed=8), _randn(3, 3, seed=9),
                                                                     _randn(3, 3, seed=10))),
        Case("a (2, 3, 7, 2) tensor: 2 × 3 sets of 7 elements, d_in = 2, d_out = 5 (the sets are the "
             "second-to-last axis whatever the rank)", (_randn(2, 3, 7, 2, seed=22), _randn(2, 5, seed=23),
                                                        _randn(2, 5, seed=24))),
    ]


def _aggregate_run(fn, case: Case):
    """A network case (linear, h, receivers, num_nodes) feeds fn the messages linear(h)."""
    if isinstance(case.args[0], nn.Module):
        linear, h, receivers, num_nodes = case.args
        return fn(linear(h), receivers, num_nodes)
    return call(fn, case)


def _linear_messages() -> nn.Module:
    torch.manual_seed(11)
    return nn.Linear(3, 2).double()


def _aggregate_cases() -> list[Case]:
    return [
        Case("messages [[1], [2], [4]] to receivers [0, 0, 1], 2 nodes (answer [[3], [4]])",
             (torch.tensor([[1.0], [2.0], [4.0]], dtype=torch.float64), torch.tensor([0, 0, 1]), 2)),
        Case("messages [[1], [2], [4], [8]] to receivers [2, 0, 2, 2], 4 nodes (nodes 1 and 3 receive "
             "nothing)", (torch.tensor([[1.0], [2.0], [4.0], [8.0]], dtype=torch.float64),
                          torch.tensor([2, 0, 2, 2]), 4)),
        Case("12 random messages with 3 features to 5 nodes",
             (_randn(12, 3, seed=12), torch.tensor([4, 1, 1, 0, 3, 1, 4, 4, 0, 1, 3, 3]), 5)),
        Case("messages computed by a small nn.Linear from 6 edges' features, to 3 nodes (the answer and "
             "its gradient with respect to the layer's weights)",
             (_linear_messages(), _randn(6, 3, seed=13), torch.tensor([2, 0, 2, 1, 0, 2]), 3)),
    ]


def _deep_sets(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return DeepSetsLayer(3, 3).double()


def _attention(seed: int, positions: bool) -> nn.Module:
    torch.manual_seed(seed)
    return SelfAttention(3, positions=positions).double()


_PERMUTATIONS = [(1, 2, 3, 0), (2, 0, 1, 3), (0, 1, 3, 2), (3, 0, 2, 1)]


def _error_cases() -> list[Case]:
    x = _randn(2, 4, 3, seed=14)
    return [
        Case("f = a DeepSetsLayer (equivariant: the answer is round-off, about 1e-16), x (2, 4, 3), "
             "4 permutations", (_deep_sets(15), x, _PERMUTATIONS)),
        Case("f = self-attention with positions added (not equivariant), x (2, 4, 3), the 4 permutations "
             f"{_PERMUTATIONS}", (_attention(16, True), x, _PERMUTATIONS)),
        Case("f = self-attention with positions, one permutation: the 3-cycle p = (2, 0, 1, 3)",
             (_attention(17, True), x, [(2, 0, 1, 3)])),
        Case("f(x) = 10 · (x with its rows in reverse order), x (2, 4, 3), the 4 permutations",
             (lambda t: 10 * t.flip(-2), x, _PERMUTATIONS)),
        Case("f = the sum over the set, repeated on every row (equivariant), x (2, 4, 3)",
             (lambda t: t.sum(-2, keepdim=True).expand_as(t), x, _PERMUTATIONS)),
    ]


EXERCISES = by_short_name(
    Exercise(
        name="permutation.permute_rows",
        reference=permute_rows,
        cases=_permute_cases,
        hint="p[i] says where row i goes, so the answer's row p[i] is x's row i: that is not x[p] unless "
             "p undoes itself (a swap does, a 3-cycle does not). Index the second-to-last axis, so that a "
             "batch of sets (..., n, d) works too.",
        rtol=0.0, atol=0.0,
    ),
    Exercise(
        name="permutation.equivariant_linear",
        reference=equivariant_linear,
        cases=_linear_cases,
        hint="two terms: every element mapped by λ on its own, plus the mean of its own set mapped by γ "
             "(the same for every element). The mean runs over the elements of one set, the "
             "second-to-last axis, not over the features or the batch; keep that axis so it broadcasts. "
             "It is a layer: stay with torch operations, so that gradients reach x, λ and γ (the check "
             "compares them with the reference's).",
        rtol=1e-10, atol=1e-12,
        run=input_gradient(),
    ),
    Exercise(
        name="permutation.sum_aggregate",
        reference=sum_aggregate,
        cases=_aggregate_cases,
        run=parameter_gradient(_aggregate_run),
        hint="the answer has num_nodes rows whatever the receivers are (zeros where nothing arrives), and "
             "two messages to the same node must both count: out[receivers] += messages keeps only one of "
             "them. Look at Tensor.index_add; stay in torch so the answer can be differentiated.",
        rtol=1e-10, atol=1e-12,
    ),
    Exercise(
        name="permutation.permutation_equivariance_error",
        reference=permutation_equivariance_error,
        cases=_error_cases,
        hint="for each p compare f applied to the permuted input with the permuted f(x) (permute_rows on "
             "both sides: an equivariance error, not an invariance error), take the norm over the whole "
             "batch, divide by the norm of f(x), and return the largest over the permutations.",
        rtol=1e-6, atol=1e-6,  # round-off of an equivariant float32 map is ~1e-7
        answer_in_library=(equivariance_error,),
    ),
)
