"""course_lib.sets: the action of S_n on sets and graphs is a representation, pooling is invariant,
the Deep Sets layer, message passing and attention without positions are equivariant (and positions
break it), the commutant of S_n has dimension 2, the from-scratch layer is PyG's GraphConv, and the
set models do what the chapter says; the exercises' references pass and near misses fail."""

import copy
import importlib.util
import itertools

import pytest
import torch
from torch import nn

from course_lib import sets as S
from course_lib.checks import verify, verify_reference
from course_lib.equivariance import equivariance_error
from course_lib.checks.permutation import EXERCISES
from course_lib.groups import SymmetricGroup


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ----- the action -----

def test_permute_rows_moves_row_i_to_p_i_and_is_a_representation():
    x = torch.arange(4.0)[:, None]
    assert S.permute_rows((1, 2, 3, 0), x)[:, 0].tolist() == [3.0, 0.0, 1.0, 2.0]
    group = SymmetricGroup(4)
    y = torch.randn(2, 4, 3, generator=gen())
    for p, q in itertools.product(group.elements(), repeat=2):
        pq = group.compose(p, q)
        assert torch.equal(S.permute_rows(pq, y), S.permute_rows(p, S.permute_rows(q, y)))
        assert torch.equal(S.permutation_matrix(pq), S.permutation_matrix(p) @ S.permutation_matrix(q))
    p = (2, 0, 3, 1)
    assert torch.equal(S.permutation_matrix(p, torch.float32) @ y, S.permute_rows(p, y))


def test_permute_graph_keeps_the_edges_between_the_same_nodes():
    x = torch.tensor([[10.0], [11.0], [12.0]])
    edges = torch.tensor([[0, 1], [1, 2]])  # 0 -> 1, 1 -> 2
    y, moved = S.permute_graph((2, 0, 1), x, edges)
    for (j, i), (pj, pi) in zip(edges.T.tolist(), moved.T.tolist()):
        assert (x[j], x[i]) == (y[pj], y[pi])


def test_bad_permutations_are_rejected():
    with pytest.raises(ValueError, match="permutation of 0..2"):
        S.permute_rows((0, 0, 1), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="permutation of 0..3"):
        S.permute_rows((0, 1, 2), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="set"):
        S.permute_rows((0,), torch.zeros(3))


# ----- invariance and the equivariant linear layer -----

@pytest.mark.parametrize("how", S.POOLS)
def test_pooling_is_invariant_and_mean_cannot_count(how):
    x = torch.randn(3, 6, 2, generator=gen(1))
    for p in S.random_permutations(6, 5, gen(2)):
        assert torch.allclose(S.pool(S.permute_rows(p, x), how), S.pool(x, how), atol=1e-6)
    one = torch.ones(1, 2, 1)
    assert (S.pool(one, how) == S.pool(torch.ones(1, 5, 1), how)).item() == (how != "sum")


def test_pool_rejects_unknown_kinds():
    with pytest.raises(ValueError, match="how must be one of"):
        S.pool(torch.zeros(2, 3), "median")


def test_deep_sets_layer_is_equivariant_and_a_position_mlp_is_not():
    torch.manual_seed(0)
    x = torch.randn(4, 7, 3, generator=gen(3))
    perms = S.random_permutations(7, 10, gen(4))
    assert S.permutation_equivariance_error(S.DeepSetsLayer(3, 5), x, perms) < 1e-6
    mixing = nn.Linear(7, 7)  # mixes the rows with a weight per position pair
    assert S.permutation_equivariance_error(lambda t: mixing(t.transpose(1, 2)).transpose(1, 2), x, perms) > 0.1


def test_equivariant_linear_for_one_feature_is_lambda_x_plus_gamma_mean():
    x = torch.tensor([[1.0], [2.0], [6.0]])
    out = S.equivariant_linear(x, torch.tensor([[2.0]]), torch.tensor([[1.0]]))
    assert out[:, 0].tolist() == [5.0, 7.0, 15.0]
    with pytest.raises(ValueError, match="lam, gamma"):
        S.equivariant_linear(x, torch.ones(2, 1), torch.ones(2, 1))


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_commutant_of_s_n_is_spanned_by_identity_and_all_ones(n):
    matrices = torch.stack([S.permutation_matrix(p) for p in SymmetricGroup(n).elements()])
    basis = S.commutant_basis(matrices)
    assert basis.shape == (2, n, n)
    for a in (torch.eye(n, dtype=torch.float64), torch.ones(n, n, dtype=torch.float64)):
        coefficients = torch.einsum("kij,ij->k", basis, a)
        assert torch.allclose(torch.einsum("k,kij->ij", coefficients, basis), a, atol=1e-10)
    generated = S.commutant_basis(torch.stack([S.permutation_matrix(p) for p in S.symmetric_group_generators(n)]))
    assert generated.shape == (2, n, n)


def test_commutant_of_a_subgroup_is_larger():
    # only the cyclic shifts: every circulant matrix commutes, n of them
    shift = S.permutation_matrix(S.symmetric_group_generators(5)[1])[None]
    assert S.commutant_basis(shift).shape[0] == 5
    assert S.commutant_basis(torch.eye(3)[None]).shape[0] == 9
    with pytest.raises(ValueError, match=r"\(k, n, n\)"):
        S.commutant_basis(torch.eye(3))


# ----- message passing and attention -----

def test_sum_aggregate_counts_every_message_and_keeps_empty_nodes():
    out = S.sum_aggregate(torch.tensor([[1.0], [2.0], [4.0]]), torch.tensor([2, 2, 0]), 4)
    assert out[:, 0].tolist() == [4.0, 0.0, 3.0, 0.0]


def test_message_passing_is_permutation_equivariant():
    torch.manual_seed(1)
    layer = S.mlp_message_passing(8, 16)
    x, edges = torch.randn(30, 8, generator=gen(5)), S.random_graph(30, 90, gen(6))
    assert S.graph_equivariance_error(layer, x, edges, S.random_permutations(30, 10, gen(7))) < 1e-6
    assert layer(x, edges).shape == (30, 8)


def test_graph_equivariance_error_also_reorders_the_edge_list():
    """With the edge list in its old order the sums round alike (exactly 0); the default lists the
    relabelled edges in a new order, so round-off shows, and a layer that reads the edge order fails."""
    torch.manual_seed(1)
    layer = S.mlp_message_passing(8, 16)
    x, edges = torch.randn(30, 8, generator=gen(5)), S.random_graph(30, 90, gen(6))
    perms = S.random_permutations(30, 5, gen(7))
    assert S.graph_equivariance_error(layer, x, edges, perms, edge_order_seed=None) == 0.0
    assert 0.0 < S.graph_equivariance_error(layer, x, edges, perms) < 1e-6

    def first_edge_reader(h, edge_index):  # adds the sender of the first listed edge to every node
        return h + h[edge_index[0, 0]]

    assert S.graph_equivariance_error(first_edge_reader, x, edges, perms, edge_order_seed=None) < 1e-6
    assert S.graph_equivariance_error(first_edge_reader, x, edges, perms) > 0.1


def test_attention_is_equivariant_without_positions_only():
    torch.manual_seed(2)
    plain = S.SelfAttention(8)
    positional = S.SelfAttention(8, positions=True)
    positional.load_state_dict(plain.state_dict())
    x, perms = torch.randn(3, 10, 8, generator=gen(8)), S.random_permutations(10, 10, gen(9))
    assert S.permutation_equivariance_error(plain, x, perms) < 1e-6
    assert S.permutation_equivariance_error(positional, x, perms) > 1e-2


@pytest.mark.skipif(importlib.util.find_spec("torch_geometric") is None, reason="torch_geometric not installed")
def test_message_passing_with_linear_update_is_pyg_graphconv():
    from torch_geometric.nn import GraphConv

    torch.manual_seed(3)
    update = nn.Linear(12, 5)
    ours = S.MessagePassingLayer(None, update)
    theirs = S.copy_to_graphconv(update, GraphConv(6, 5, aggr="add"))
    x, edges = torch.randn(20, 6, generator=gen(10)), S.random_graph(20, 60, gen(11))
    assert torch.allclose(ours(x, edges), theirs(x, edges), atol=1e-6)


# ----- the digit-sum task -----

def test_digit_sum_sets_are_seeded_and_test_sets_differ():
    x, y = S.digit_sum_sets(50, 4, seed=0)
    assert x.shape == (50, 4, 64) and y.shape == (50,)
    assert float(y.min()) >= 0 and float(y.max()) <= 36 and float(x.min()) >= 0 and float(x.max()) <= 1
    again, _ = S.digit_sum_sets(50, 4, seed=0)
    test, _ = S.digit_sum_sets(50, 4, seed=0, train=False)
    assert torch.equal(x, again) and not torch.equal(x, test)


def test_set_regressors_take_any_size_except_concat():
    torch.manual_seed(4)
    x = torch.rand(3, 7, 64, generator=gen(12))
    deep_sets, gru = S.SetRegressor("sum"), S.SetRegressor("gru")
    assert deep_sets(x).shape == (3,) and gru(x).shape == (3,)
    perms = S.random_permutations(7, 5, gen(13))
    invariant = lambda t: deep_sets(t)[:, None, None].expand(-1, 7, 1)  # noqa: E731
    assert S.permutation_equivariance_error(invariant, x, perms) < 1e-6
    with pytest.raises(ValueError, match="built for sets of 5 elements"):
        S.SetRegressor("concat", size=5)(x)
    with pytest.raises(ValueError, match="size is needed"):
        S.SetRegressor("sum", size=5)
    with pytest.raises(ValueError, match="rho_hidden is a width"):
        S.SetRegressor("sum", rho_hidden=-1)


def test_a_nonlinear_rho_is_invariant_and_not_linear_in_the_pooled_sum():
    torch.manual_seed(5)
    model = S.SetRegressor("sum", rho_hidden=32)
    assert isinstance(model.head, torch.nn.Sequential) and model.head[-1].out_features == 1
    x = torch.rand(4, 6, 64, generator=gen(14))
    perms = S.random_permutations(6, 5, gen(15))
    invariant = lambda t: model(t)[:, None, None].expand(-1, 6, 1)  # noqa: E731
    assert S.permutation_equivariance_error(invariant, x, perms) < 1e-5
    # a linear head is additive in the pooled encodings, a ReLU head is not
    a, b = x[:, :3], x[:, 3:]
    for head, additive in ((S.SetRegressor("sum"), True), (model, False)):
        pooled = lambda t: head.encoder(t).sum(1)  # noqa: E731
        bias = head.head(torch.zeros(1, 64))[:, 0]
        gap = (head(x) - (head.head(pooled(a))[:, 0] + head.head(pooled(b))[:, 0] - bias)).abs().max()
        assert gap < 1e-4 if additive else gap > 1e-2


def test_deep_sets_learns_digit_sums_and_extrapolates(one_thread):
    torch.manual_seed(0)
    train = [S.digit_sum_sets(1000, n, seed=n) for n in range(1, 6)]
    model = S.SetRegressor("sum")
    losses = S.train_on_sets(model, train, steps=1500, seed=0, lr=3e-3)
    assert sum(losses[-100:]) < 0.2 * sum(losses[:100])
    x10, y10 = S.digit_sum_sets(300, 10, seed=99, train=False)
    trivial = float((4.5 * 10 - y10).abs().mean())
    assert S.mean_absolute_error(model, x10, y10) < 0.6 * trivial


# ----- the exercises: the references pass, plausible mistakes fail -----

def _correct_permute_rows(p, x):
    inverse = [0] * len(p)
    for i, target in enumerate(p):
        inverse[target] = i
    return x[..., inverse, :]


def _correct_equivariant_linear(x, lam, gamma):
    return x @ lam + x.mean(-2, keepdim=True) @ gamma


def _correct_sum_aggregate(messages, receivers, num_nodes):
    return messages.new_zeros(num_nodes, messages.shape[1]).index_add(0, receivers, messages)


@torch.no_grad()
def _correct_equivariance_error(f, x, permutations):
    fx = f(x)
    return max(float((f(_correct_permute_rows(p, x)) - _correct_permute_rows(p, fx)).norm() / fx.norm())
               for p in permutations)


CORRECT = {"permute_rows": _correct_permute_rows, "equivariant_linear": _correct_equivariant_linear,
           "sum_aggregate": _correct_sum_aggregate, "permutation_equivariance_error": _correct_equivariance_error}


@pytest.mark.parametrize("short", sorted(EXERCISES))
def test_reference_answers_are_judged_correct(short):
    assert verify_reference(f"permutation.{short}").passed


@pytest.mark.parametrize("short, from_library", [
    ("permute_rows", lambda p, x: S.permute_rows(p, x)),
    ("equivariant_linear", lambda x, lam, gamma: S.equivariant_linear(x, lam, gamma)),
    ("sum_aggregate", lambda m, r, n: S.sum_aggregate(m, r, n)),
    ("permutation_equivariance_error",
     lambda f, x, ps: equivariance_error(f, S.permute_rows, S.permute_rows, x, ps)),
], ids=lambda v: v if isinstance(v, str) else "")
def test_the_library_answer_is_not_accepted(short, from_library):
    verdict = verify(f"permutation.{short}", from_library)
    assert verdict.status == "fail" and "library" in verdict.message.lower(), verdict


def test_every_exercise_has_a_correct_answer_here():
    assert sorted(CORRECT) == sorted(EXERCISES)


@pytest.mark.parametrize("short", sorted(CORRECT))
def test_a_correct_answer_passes(short):
    """Written as a learner would (the solutions notebook's code), not the library's reference."""
    verdict = verify(f"permutation.{short}", CORRECT[short])
    assert verdict.passed, verdict


def _rows_by_index(p, x):
    return x[..., list(p), :]


def _rows_first_axis(p, x):
    return _correct_permute_rows(p, x) if x.dim() == 2 else x[:, list(p)]


def _linear_sum(x, lam, gamma):
    return x @ lam + x.sum(-2, keepdim=True) @ gamma


def _linear_feature_mean(x, lam, gamma):
    return x @ lam + x.mean(-1, keepdim=True) * gamma.sum(0)


def _linear_batch_mean(x, lam, gamma):
    flat = x.reshape(-1, x.shape[-1])
    return x @ lam + flat.mean(0) @ gamma


def _linear_no_gamma(x, lam, gamma):
    return x @ lam


def _aggregate_mean(messages, receivers, num_nodes):
    total = _correct_sum_aggregate(messages, receivers, num_nodes)
    count = _correct_sum_aggregate(torch.ones_like(messages[:, :1]), receivers, num_nodes).clamp_min(1)
    return total / count


def _aggregate_overwrites(messages, receivers, num_nodes):
    out = messages.new_zeros(num_nodes, messages.shape[1])
    out[receivers] += messages
    return out


def _aggregate_only_seen_nodes(messages, receivers, num_nodes):
    return _correct_sum_aggregate(messages, receivers, int(receivers.max()) + 1)


def _aggregate_detached(messages, receivers, num_nodes):
    return _correct_sum_aggregate(messages.detach(), receivers, num_nodes)


@torch.no_grad()
def _invariance_error(f, x, permutations):
    return max(float((f(S.permute_rows(p, x)) - f(x)).norm() / f(x).norm()) for p in permutations)


@torch.no_grad()
def _inverse_action_error(f, x, permutations):
    return max(float((f(_rows_by_index(p, x)) - _rows_by_index(p, f(x))).norm() / f(x).norm())
               for p in permutations)


@torch.no_grad()
def _absolute_error(f, x, permutations):
    return max(float((f(S.permute_rows(p, x)) - S.permute_rows(p, f(x))).norm()) for p in permutations)


def _mean_error(f, x, permutations):
    errors = [_correct_equivariance_error(f, x, [p]) for p in permutations]
    return sum(errors) / len(errors)


@pytest.mark.parametrize("short, wrong", [
    ("permute_rows", _rows_by_index), ("permute_rows", _rows_first_axis),
    ("equivariant_linear", _linear_sum), ("equivariant_linear", _linear_feature_mean),
    ("equivariant_linear", _linear_batch_mean), ("equivariant_linear", _linear_no_gamma),
    ("sum_aggregate", _aggregate_mean), ("sum_aggregate", _aggregate_overwrites),
    ("sum_aggregate", _aggregate_only_seen_nodes), ("sum_aggregate", _aggregate_detached),
    ("permutation_equivariance_error", _invariance_error),
    ("permutation_equivariance_error", _inverse_action_error),
    ("permutation_equivariance_error", _absolute_error), ("permutation_equivariance_error", _mean_error),
], ids=lambda v: getattr(v, "__name__", v))
def test_near_misses_fail(short, wrong):
    verdict = verify(f"permutation.{short}", wrong)
    assert verdict.status == "fail", verdict


def test_train_on_sets_is_train_fit_and_matches_the_hand_written_loop(one_thread):
    """train_on_sets goes through train.fit (one loop in the course); its losses are those of the
    Adam + cosine loop it replaced, step by step, and the model ends in eval mode."""
    sets = [S.digit_sum_sets(40, n, seed=n) for n in (2, 3)]
    torch.manual_seed(0)
    model = S.SetRegressor("sum", hidden=16)
    reference = copy.deepcopy(model)
    losses = S.train_on_sets(model, sets, steps=30, seed=4, batch_size=8, lr=3e-3)
    gen = torch.Generator().manual_seed(4)
    opt = torch.optim.Adam(reference.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 30)
    expected = []
    for _ in range(30):
        x, y = sets[int(torch.randint(len(sets), (1,), generator=gen))]
        idx = torch.randint(len(x), (8,), generator=gen)
        loss = torch.nn.functional.mse_loss(reference(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
        expected.append(loss.item())
    assert losses == pytest.approx(expected, rel=1e-6, abs=1e-9)
    assert not model.training
    with pytest.raises(ValueError, match="at least one"):
        S.train_on_sets(model, [], steps=3, seed=0)
