"""course_lib.emlp: bases whose dimensions match the theory (and escnn), maps that commute with the
group, networks equivariant to float precision, benchmark data with their symmetry, and exercises
whose answers written from scratch pass while near misses fail."""

import numpy as np
import pytest
import torch

from course_lib import emlp as E
from course_lib.checks import verify

# Number of independent invariant tensors in T(k) (= equivariant maps T(p) -> T(q), p + q = k):
# SO(2): C(k, k/2); SO(3): the Riordan numbers; O(3), O(1,3), O(5): the pairings (k-1)!! (k even);
# S_n (n >= k): the Bell numbers.
THEORY = {
    "SO(2)": [1, 0, 2, 0, 6],
    "SO(3)": [1, 0, 1, 1, 3],
    "O(3)": [1, 0, 1, 0, 3],
    "O(1,3)": [1, 0, 1, 0, 3],
    "S_5": [1, 1, 2, 5, 15],
}
GROUPS = {"SO(2)": E.so2, "SO(3)": E.so3, "O(3)": E.o3, "O(1,3)": E.lorentz, "S_5": lambda: E.symmetric(5)}


@pytest.mark.parametrize("name", sorted(THEORY))
def test_invariant_counts_match_the_theory(name):
    group = GROUPS[name]()
    assert [len(E.equivariant_basis(group, 0, k)) for k in range(5)] == THEORY[name]


@pytest.mark.parametrize("name", sorted(THEORY))
def test_maps_between_orders_count_like_invariants_of_the_sum(name):
    group = GROUPS[name]()
    assert len(E.equivariant_basis(group, 1, 1)) == THEORY[name][2]
    assert len(E.equivariant_basis(group, 2, 1)) == THEORY[name][3]


def test_permutation_equivariant_maps_are_identity_and_all_ones():
    basis = E.equivariant_basis(E.symmetric(6), 1, 1)
    assert len(basis) == 2
    span = basis.reshape(2, -1).T
    for target in (np.eye(6), np.ones((6, 6))):
        coef = np.linalg.lstsq(span, target.reshape(-1), rcond=None)[0]
        assert np.allclose(span @ coef, target.reshape(-1), atol=1e-10)


@pytest.mark.parametrize("name", sorted(THEORY))
def test_basis_maps_commute_with_sampled_group_elements(name):
    group = GROUPS[name]()
    for p, q in [(1, 1), (2, 0), (1, 2), (2, 2)]:
        basis = E.equivariant_basis(group, p, q)
        assert E.basis_equivariance_error(group, basis, p, q) < 1e-10
        assert np.allclose(np.einsum("aij,bij->ab", basis, basis), np.eye(len(basis)), atol=1e-10)


def test_a_non_equivariant_map_is_caught():
    group = E.so3()
    assert E.basis_equivariance_error(group, np.diag([1.0, 2.0, 3.0])[None], 1, 1) > 0.1


def test_lorentz_invariant_of_two_vectors_is_the_minkowski_metric():
    (w,) = E.equivariant_basis(E.lorentz(), 2, 0)
    w = w.reshape(4, 4)
    assert np.allclose(w / w[0, 0], E.MINKOWSKI, atol=1e-10)


def test_samples_are_in_the_group():
    gen = torch.Generator().manual_seed(0)
    for group, metric in [(E.o3(), np.eye(3)), (E.orthogonal(5), np.eye(5)), (E.lorentz(), E.MINKOWSKI)]:
        for g in group.sample(20, gen).numpy():
            assert np.allclose(g.T @ metric @ g, metric, atol=1e-9)
    dets = np.linalg.det(E.o3().sample(200, gen).numpy())
    assert (dets < 0).any() and (dets > 0).any()


def test_constraint_matrix_rejects_negative_orders_and_null_space_bad_shapes():
    with pytest.raises(ValueError, match="orders"):
        E.constraint_matrix(E.so3(), -1, 1)
    with pytest.raises(ValueError, match="matrix"):
        E.null_space(np.zeros(3))


@pytest.mark.parametrize("make", [E.o5_synthetic, E.inertia, E.lorentz_scattering])
def test_emlp_is_equivariant_and_the_mlp_is_not(make):
    task = make(32, seed=1)
    torch.manual_seed(0)
    hidden = ((0, 8), (1, 4), (2, 4))
    emlp, mlp = E.EMLP(task.group, task.rep_in, task.rep_out, hidden).double(), \
        E.mlp(task.x.shape[1], task.y.shape[1]).double()
    x = task.x.double()
    gs = task.group.sample(len(x), torch.Generator().manual_seed(2), scale=0.5)
    d = task.group.d

    def error(f):
        with torch.no_grad():
            moved, expected = f(E.act(gs, x, task.rep_in, d)), E.act(gs, f(x), task.rep_out, d)
            return float((moved - expected).norm() / expected.norm())

    assert error(emlp) < 1e-8  # float64 round-off: 4e-9 with the CUDA build of torch under 3.13
    assert error(mlp) > 1e-2


@pytest.mark.parametrize("make", [E.o5_synthetic, E.inertia, E.lorentz_scattering])
def test_tasks_are_seeded_and_sized_by_their_reps(make):
    task, twin, other = make(50, seed=3), make(50, seed=3), make(50, seed=4)
    assert torch.equal(task.x, twin.x) and torch.equal(task.y, twin.y) and not torch.equal(task.x, other.x)
    assert task.x.shape == (50, E.rep_size(task.rep_in, task.group.d))
    assert task.y.shape == (50, E.rep_size(task.rep_out, task.group.d))


def test_o5_target_is_invariant():
    task = E.o5_synthetic(50, seed=3)
    g = E.orthogonal(5).sample(1, torch.Generator().manual_seed(4))[0]
    r = task.x.double().reshape(-1, 2, 5) @ g.T
    n1, n2 = r[:, 0].norm(dim=1), r[:, 1].norm(dim=1)
    y = torch.sin(n1) - 0.5 * n2**3 + (r[:, 0] * r[:, 1]).sum(1) / (n1 * n2)
    assert torch.allclose(y[:, None].float(), task.y, rtol=1e-4, atol=1e-4)


def test_inertia_matches_the_formula_for_one_body():
    task = E.inertia(4, seed=0, bodies=1)
    m, r = task.x[:, 0], task.x[:, 1:]
    expected = m[:, None, None] * ((r**2).sum(1)[:, None, None] * torch.eye(3) - r[:, :, None] * r[:, None, :])
    assert torch.allclose(task.y.reshape(-1, 3, 3), expected, atol=1e-5)


def test_lorentz_amplitude_is_invariant_under_a_boost():
    task = E.lorentz_scattering(20, seed=5)
    boost = torch.linalg.matrix_exp(0.7 * torch.tensor(E.lorentz().lie[3]))
    p = task.x.double().reshape(-1, 4, 4) @ boost.T
    again = E.lorentz_scattering(20, seed=5)
    eta = torch.tensor(E.MINKOWSKI)
    p1, p2, p3, p4 = p.unbind(1)
    le = p1[:, :, None] * p3[:, None, :] - (E.minkowski_dot(p1, p3) - E.minkowski_dot(p1, p1))[:, None, None] * eta
    lm = (p2 @ eta)[:, :, None] * (p4 @ eta)[:, None, :] \
        - (E.minkowski_dot(p2, p4) - E.minkowski_dot(p2, p2))[:, None, None] * eta
    assert torch.allclose(4 * (le * lm).sum((1, 2)).float(), again.y[:, 0], rtol=1e-3, atol=1e-5)


def test_augmented_model_is_the_model_in_eval_mode_and_random_in_training():
    task = E.o5_synthetic(16)
    model = E.mlp(10, 1)
    aug = E.Augmented(model, task.group, task.rep_in, task.rep_out, seed=0)
    aug.eval()
    assert torch.equal(aug(task.x), model(task.x))
    aug.train()
    assert not torch.allclose(aug(task.x), model(task.x))


def test_emlp_learns_lorentz_scattering_far_below_the_variance(one_thread):
    train, test = E.lorentz_scattering(300, seed=0), E.lorentz_scattering(300, seed=1)
    torch.manual_seed(0)
    model = E.Standardized(E.EMLP(train.group, train.rep_in, train.rep_out, ((0, 16), (1, 4), (2, 4)), layers=1,
                                  bilinear=True), train)
    E.fit_regression(model, train, steps=300, lr=1e-2)
    assert E.test_mse(model, test) < 0.1 * float(test.y.var())


def test_split_rejects_the_wrong_size():
    with pytest.raises(ValueError, match="expected features"):
        E.split(torch.zeros(2, 7), ((1, 2),), 3)


# ----- the exercises: answers written from scratch pass, near misses fail -----

def _tensor_generator(a, k):
    d = a.shape[0]
    out = torch.zeros(d**k, d**k, dtype=a.dtype)
    for i in range(k):
        out = out + torch.kron(torch.kron(torch.eye(d**i, dtype=a.dtype), a), torch.eye(d ** (k - i - 1), dtype=a.dtype))
    return out


def _tensor_generator_group_law(a, k):
    out = torch.ones(1, 1, dtype=a.dtype)
    for _ in range(k):
        out = torch.kron(out, a)
    return out


def _tensor_generator_first_slot(a, k):
    d = a.shape[0]
    return torch.kron(a, torch.eye(d ** (k - 1), dtype=a.dtype)) if k else torch.zeros(1, 1, dtype=a.dtype)


def _tensor_generator_scalars_as_identity(a, k):
    return torch.eye(1, dtype=a.dtype) if k == 0 else _tensor_generator(a, k)


def _constraint(a_in, a_out):
    return torch.kron(a_out, torch.eye(len(a_in), dtype=a_in.dtype)) - torch.kron(torch.eye(len(a_out),
                                                                                         dtype=a_in.dtype), a_in.T.contiguous())


def _constraint_column_major(a_in, a_out):
    return torch.kron(torch.eye(len(a_in), dtype=a_in.dtype), a_out) - torch.kron(a_in.T.contiguous(), torch.eye(len(a_out),
                                                                                                  dtype=a_in.dtype))


def _constraint_no_transpose(a_in, a_out):
    return torch.kron(a_out, torch.eye(len(a_in), dtype=a_in.dtype)) - torch.kron(torch.eye(len(a_out),
                                                                                         dtype=a_in.dtype), a_in)


def _constraint_plus(a_in, a_out):
    return -_constraint_no_transpose(a_in, a_out) + 2 * torch.kron(a_out, torch.eye(len(a_in), dtype=a_in.dtype))


def _null_space(c):
    _, s, vh = torch.linalg.svd(c, full_matrices=True)
    rank = int((s > 1e-10 * s.max()).sum()) if len(s) else 0
    return vh[rank:].T


def _null_space_loose(c):
    _, s, vh = torch.linalg.svd(c, full_matrices=True)
    return vh[int((s > 1e-2 * s.max()).sum()):].T


def _null_space_reduced_svd(c):
    _, s, vh = torch.linalg.svd(c, full_matrices=False)
    return vh[int((s > 1e-10 * s.max()).sum()):].T


def _null_space_rows(c):
    _, s, vh = torch.linalg.svd(c, full_matrices=True)
    rank = int((s > 1e-10 * s.max()).sum())
    return vh[:rank].T


def _null_space_unnormalised(c):
    return 2 * _null_space(c)


@pytest.mark.parametrize("short, right", [("tensor_generator", _tensor_generator),
                                          ("generator_constraint", _constraint),
                                          ("null_space_basis", _null_space)])
def test_answers_from_scratch_pass(short, right):
    assert verify(f"lie.{short}", right).passed


@pytest.mark.parametrize("short, wrong", [
    ("tensor_generator", _tensor_generator_group_law), ("tensor_generator", _tensor_generator_first_slot),
    ("tensor_generator", _tensor_generator_scalars_as_identity),
    ("generator_constraint", _constraint_column_major), ("generator_constraint", _constraint_no_transpose),
    ("generator_constraint", _constraint_plus),
    ("null_space_basis", _null_space_loose), ("null_space_basis", _null_space_reduced_svd),
    ("null_space_basis", _null_space_rows), ("null_space_basis", _null_space_unnormalised),
])
def test_near_misses_fail(short, wrong):
    assert verify(f"lie.{short}", wrong).status == "fail"


def test_calling_the_library_fails():
    assert verify("lie.tensor_generator", lambda a, k: torch.as_tensor(E.tensor_generator(a.numpy(), k))).status \
        == "fail"


ESCNN_PAIRS = [(0, 2), (0, 3), (1, 1), (1, 2), (2, 2), (1, 3)]


@pytest.mark.parametrize("group", [E.so2, E.so3, E.o3])
def test_basis_dimensions_agree_with_escnn(group):
    group = group()
    ours = [len(E.equivariant_basis(group, p, q)) for p, q in ESCNN_PAIRS]
    assert E.escnn_map_dimensions(group.name, ESCNN_PAIRS) == ours


def test_escnn_numerical_clebsch_gordan_runs_uncached(monkeypatch):
    # a fresh machine has no escnn disk cache: solve SO(3)'s Clebsch-Gordan coefficients anew,
    # which goes through the null-space SVD that exact_svd scopes
    import escnn.group._clebsh_gordan as cg

    monkeypatch.setattr(cg, "_clebsh_gordan_tensor", cg._clebsh_gordan_tensor.func)
    monkeypatch.setattr(cg, "_find_tensor_decomposition", cg._find_tensor_decomposition.func)
    assert E.escnn_map_dimensions("O(3)", [(1, 1), (1, 2), (2, 2)]) == [1, 0, 3]
    with pytest.raises(ValueError, match="group_name"):
        E.escnn_map_dimensions("O(1,3)", [(1, 1)])


def test_make_model_knows_its_kinds():
    task = E.o5_synthetic(8)
    assert isinstance(E.make_model("MLP + augmentation", task), E.Augmented)
    with pytest.raises(ValueError, match="kind"):
        E.make_model("CNN", task)


def test_act_is_the_block_diagonal_representation():
    group, rep = E.o3(), ((0, 2), (1, 2), (2, 1))
    g = group.sample(1, torch.Generator().manual_seed(7))
    x = torch.randn(3, E.rep_size(rep, 3), dtype=torch.float64)
    dense = torch.tensor(E.rep_matrix(group, g[0].numpy(), rep))
    assert torch.allclose(E.act(g.expand(3, -1, -1), x, rep, 3), x @ dense.T)


# ----- fit_regression is the course's one loop (train.fit), with the numbers of the loop it replaced -----

def _fit_regression_as_first_written(model, task, steps=1000, batch_size=500, lr=3e-3, seed=0):
    """The chapter's own Adam loop, verbatim, before fit_regression went through train.fit: the lie chapter's
    stored outputs come from it."""
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be >= 1, got {steps} and {batch_size}")
    gen = torch.Generator().manual_seed(seed)
    variance = task.y.var().clamp_min(1e-12)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    model.train()
    losses = []
    for _ in range(steps):
        idx = torch.randint(len(task.x), (min(batch_size, len(task.x)),), generator=gen)
        loss = (model(task.x[idx]) - task.y[idx]).square().mean() / variance
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
        losses.append(loss.item())
    model.eval()
    return losses


@pytest.mark.parametrize("kind", E.MODELS)
def test_fit_regression_gives_the_first_loops_numbers_to_the_bit(kind, one_thread):
    # float32 models on a tiny inertia task, 30 steps of 16 examples (a batch larger than the data for one
    # run): the losses and the final parameters are bitwise equal, not merely within round-off, so the lie
    # chapter's stored outputs hold without re-running it
    task = E.inertia(24, seed=3)
    for batch_size, seed in ((16, 5), (100, 0)):
        old, new = E.make_model(kind, task, seed=1), E.make_model(kind, task, seed=1)
        old_losses = _fit_regression_as_first_written(old, task, steps=30, batch_size=batch_size, lr=1e-2, seed=seed)
        new_losses = E.fit_regression(new, task, steps=30, batch_size=batch_size, lr=1e-2, seed=seed)
        assert len(new_losses) == 30 and new_losses == old_losses
        assert old_losses[-1] < old_losses[0]  # it trained
        for (name, p_old), p_new in zip(old.state_dict().items(), new.state_dict().values()):
            assert p_old.dtype == torch.float32 and torch.equal(p_old, p_new), name
        assert not new.training
    with pytest.raises(ValueError, match="steps and batch_size"):
        E.fit_regression(E.make_model("MLP", task), task, steps=0)


def test_discrete_block_sends_vec_w_to_the_discrete_condition():
    rng = np.random.default_rng(0)
    r_in, r_out = np.eye(2) + 0.4 * rng.normal(size=(2, 2)), np.eye(3) + 0.4 * rng.normal(size=(3, 3))
    w = rng.normal(size=(3, 2))
    expected = r_out @ w @ np.linalg.inv(r_in) - w
    assert np.allclose(E.discrete_block(r_in, r_out) @ w.reshape(-1), expected.reshape(-1), atol=1e-12)
    with pytest.raises(ValueError, match="square"):
        E.discrete_block(np.zeros((2, 3)), np.eye(2))


def test_null_space_cut_is_relative_and_at_round_off():
    rng = np.random.default_rng(1)
    u, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    v, _ = np.linalg.qr(rng.normal(size=(5, 5)))

    def with_values(values):
        s = np.zeros((6, 5))
        s[range(5), range(5)] = values
        return u @ s @ v.T

    # a genuine singular value 1e-9 of the largest is kept (the old cut, 1e-10 on CᵀC's eigenvalues,
    # i.e. 1e-5 on singular values, called it zero); the cut scales with C
    for scale in (1e-12, 1.0, 1e12):
        assert E.null_space(scale * with_values([3, 1, 1e-9, 0, 0])).shape[1] == 2
    # round-off in exact zeros is far below the cut: max(6, 5) · 2.2e-16 · 3
    c = with_values([3, 1, 0.5, 0, 0])
    q = E.null_space(c)
    assert q.shape[1] == 2 and np.allclose(q.T @ q, np.eye(2), atol=1e-12)
    assert np.linalg.norm(c @ q) < E.null_space_tolerance(c.shape, 3.0)
    assert E.null_space_tolerance((6, 5), 3.0) == pytest.approx(6 * np.finfo(np.float64).eps * 3.0)
    assert E.null_space_tolerance((6, 5), 3.0, np.float32) == pytest.approx(6 * np.finfo(np.float32).eps * 3.0)
    # fewer rows than columns: the directions beyond the rows are in the null space too
    assert E.null_space(rng.normal(size=(2, 5))).shape[1] == 3


def test_make_model_sigmoid_gate_differs_from_the_emlp_in_the_gate_only():
    task = E.inertia(16, seed=0)
    bilinear, sigmoid = E.make_model("EMLP", task, seed=3), E.make_model(E.SIGMOID_EMLP, task, seed=3)
    for a, b in zip(bilinear.state_dict().items(), sigmoid.state_dict().items()):
        assert a[0] == b[0] and torch.equal(a[1], b[1])
    gates = [m for m in sigmoid.modules() if isinstance(m, E.Gate)]
    assert [g.bilinear for g in gates] == [False]
    assert not torch.allclose(bilinear(task.x), sigmoid(task.x))
    big = E.make_model("MLP + augmentation", task, width=384, depth=3, scale=0.3)
    assert big.scale == 0.3 and sum(isinstance(m, torch.nn.Linear) for m in big.modules()) == 4
    with pytest.raises(ValueError, match="width and depth"):
        E.make_model("MLP", task, width=0)


def test_the_stored_validation_result_holds_what_the_chapter_reads():
    from course_lib import stored
    bench = stored.result("emlp_validation")
    assert bench["stage"] == "done" and set(bench["chosen"]) == {"O(5) synthetic", "inertia", "Lorentz"}
    for name, kinds in bench["chosen"].items():
        assert set(kinds) == set(E.KINDS)
        for kind, c in kinds.items():
            key = f"{name}|{kind}|lr={c['lr']:g}|steps={c['steps']}|{c['width']}x{c['depth']}|scale={c['scale']:g}"
            run = bench["runs"][key]
            assert len(run["validation"]) == len(run["test"]) >= 3
            # the choice is the lowest mean validation MSE among the rates tried, and not at an edge of them
            assert min(c["rates_tried"]) < c["lr"] < max(c["rates_tried"]) and not c["lr_at_grid_edge"]
            assert "twice_the_steps" in c
            twice = f"{name}|{kind}|lr={c['lr']:g}|steps={2 * c['steps']}|{c['width']}x{c['depth']}|scale={c['scale']:g}"
            assert twice in bench["runs"]  # the page's verdicts at twice the steps, at the chosen size
        for kind in ("MLP", "MLP + augmentation"):  # each size had its own rate search, and the page reads both
            c = kinds[kind]
            assert set(c["sizes"]) == {"128x2", "384x3"}
            for size, search in c["sizes"].items():
                rates = search["rates_tried"]
                assert set(bench["protocol"]["rates"]) <= set(rates)
                runs = [bench["runs"][f"{name}|{kind}|lr={lr:g}|steps={c['steps']}|{size}|scale={c['scale']:g}"]
                        for lr in rates]
                means = [sum(r["validation"]) / len(r["validation"]) for r in runs]
                assert search["lr"] == rates[means.index(min(means))] and search["validation"] == pytest.approx(min(means))
            best = min(c["sizes"], key=lambda size: c["sizes"][size]["validation"])
            assert f"{c['width']}x{c['depth']}" == best and c["lr"] == c["sizes"][best]["lr"]
        aug = kinds["MLP + augmentation"]  # the scale is inside the scales tried, or the grid ran out
        assert aug["scale"] == float(min(aug["scale_validation"].items(), key=lambda kv: kv[1])[0]) and (
            not aug["scale_at_grid_edge"] or aug["scale"] in (0.01, 10.0))


def test_null_space_falls_back_to_gesvd_where_lapack_divide_and_conquer_fails(monkeypatch):
    c = E.constraint_matrix(E.o5_synthetic(8, seed=0).group, 1, 1)  # O(5) on vectors: W = a I
    expected = E.null_space(c)

    def failing_svd(*args, **kwargs):
        raise np.linalg.LinAlgError("SVD did not converge")

    monkeypatch.setattr(np.linalg, "svd", failing_svd)
    q = E.null_space(c)
    assert q.shape == expected.shape == (25, 1)
    assert np.abs(c @ q).max() < 1e-12 and abs(abs(float(q[:, 0] @ expected[:, 0])) - 1) < 1e-12


# ----- where it trains and evaluates: course_lib.device(), the data moved to the model -----

def test_fit_regression_asks_for_the_device_and_returns_the_model_on_the_cpu(monkeypatch):
    from device_spy import DeviceSpy

    task = E.inertia(32, seed=0)
    model = E.make_model("MLP + augmentation", task, seed=0, width=16, depth=1)
    spy = DeviceSpy(monkeypatch)
    losses = E.fit_regression(model, task, steps=3, batch_size=8)
    assert spy.trained_on_device_then_cpu(model)
    assert len(losses) == 3 and not model.training


def test_test_mse_moves_the_examples_to_the_model():
    from device_spy import Elsewhere

    task = E.o5_synthetic(6, seed=0)
    model = Elsewhere()
    assert E.test_mse(model, task) == pytest.approx(float((1 - task.y).square().mean()))
    assert model.seen == [torch.device("meta")]


@pytest.mark.parametrize("kind", E.KINDS)
def test_every_model_computes_where_its_input_is(kind):
    """In training mode too, where augmentation draws its group elements on the CPU."""
    task = E.inertia(4, seed=0)
    model = E.make_model(kind, task, seed=0, width=16, depth=1).to("meta").train()  # a second device
    out = model(task.x.to("meta"))
    assert out.shape == task.y.shape and out.device == torch.device("meta")
