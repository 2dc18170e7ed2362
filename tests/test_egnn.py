"""course_lib.egnn: an invariant energy whose forces are equivariant, an EGNN layer and model
equivariant under rotations, reflections, translations and permutations (and a GNN that is not),
the baselines of the n-body benchmark, and exercises whose references pass while near misses fail."""

import copy

import pytest
import torch

from course_lib import egnn
from course_lib.checks import verify, verify_reference
from course_lib.checks.egnn import EXERCISES
from course_lib.groups import O3
from course_lib.nbody import charged_nbody


def motions(k=4, seed=0):
    """k random orthogonal matrices (at least one reflection) with random shifts, float32."""
    g = torch.Generator().manual_seed(seed)
    qs = O3().sample(k, g).float()
    qs[0] = -qs[0] if torch.linalg.det(qs[0]) > 0 else qs[0]
    return [(q, 3 * torch.randn(3, generator=g)) for q in qs]


def points(b=6, n=5, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, n, 3, generator=g), torch.randn(b, n, 3, generator=g), \
        torch.where(torch.rand(b, n, generator=g) < 0.5, -1.0, 1.0)


def rel(a, b):
    return float((a - b).detach().norm() / b.detach().norm())


def test_energy_is_invariant_and_forces_equivariant():
    torch.manual_seed(0)
    energy, x = egnn.PairEnergy(), points()[0]
    e, f = energy(x), egnn.forces(energy, x)
    for q, t in motions():
        moved = egnn.rigid_motion(x, q, t)
        assert rel(energy(moved), e) < 1e-5
        assert rel(egnn.forces(energy, moved), f @ q.T) < 1e-5    # forces turn, do not shift
    perm = torch.randperm(5)
    assert rel(energy(x[:, perm]), e) < 1e-5


def test_a_coordinate_energy_is_not_invariant():
    torch.manual_seed(0)
    energy, x = egnn.CoordinateEnergy(5), points()[0]
    q, t = motions()[1]
    assert rel(energy(egnn.rigid_motion(x, q, t)), energy(x)) > 1e-2


def test_forces_are_minus_the_gradient_and_trainable():
    torch.manual_seed(0)
    energy, x = egnn.PairEnergy(), points()[0].double()
    energy = energy.double()
    eps, k = 1e-6, (0, 2, 1)
    up, down = x.clone(), x.clone()
    up[k] += eps
    down[k] -= eps
    numeric = -(energy(up).sum() - energy(down).sum()) / (2 * eps)
    assert abs(float(egnn.forces(energy, x, create_graph=False)[k] - numeric)) < 1e-6
    loss = egnn.forces(energy, x).pow(2).sum()
    weights = [p for name, p in energy.named_parameters() if name.endswith("weight")]
    assert all(g.abs().sum() > 0 for g in torch.autograd.grad(loss, weights))


@pytest.mark.parametrize("velocity", [False, True])
def test_egcl_is_e3_and_permutation_equivariant(velocity):
    torch.manual_seed(0)
    layer = egnn.EGCL(8, 16, edge_features=2, velocity=velocity)
    with torch.no_grad():   # a visible coordinate update, not the near-identity start
        layer.phi_x[-1].weight.normal_()
    x, v, q = points()
    h = torch.randn(6, 5, 8)
    edge = torch.randn(6, 5, 5, 2)
    vv = v if velocity else None
    h1, x1 = layer(h, x, edge, vv)
    assert rel(x1, x) > 1e-2
    for rot, t in motions():
        h2, x2 = layer(h, egnn.rigid_motion(x, rot, t), edge, None if vv is None else vv @ rot.T)
        assert rel(h2, h1) < 1e-5 and rel(x2, egnn.rigid_motion(x1, rot, t)) < 1e-5
    perm = torch.randperm(5)
    h3, x3 = layer(h[:, perm], x[:, perm], edge[:, perm][:, :, perm], None if vv is None else vv[:, perm])
    assert rel(h3, h1[:, perm]) < 1e-5 and rel(x3, x1[:, perm]) < 1e-5


def test_egnn_model_is_equivariant_and_gnn_is_not():
    torch.manual_seed(0)
    model, gnn = egnn.EGNN(hidden=16, layers=2), egnn.GNN(hidden=16, layers=2)
    for layer in model.layers:
        with torch.no_grad():
            layer.phi_x[-1].weight.normal_()
    x, v, q = points()
    out, out_gnn = model(x, v, q), gnn(x, v, q)
    for rot, t in motions():
        moved = model(egnn.rigid_motion(x, rot, t), v @ rot.T, q)
        assert rel(moved, egnn.rigid_motion(out, rot, t)) < 1e-5
    perm = torch.randperm(5)
    assert rel(model(x[:, perm], v[:, perm], q[:, perm]), out[:, perm]) < 1e-5
    assert rel(gnn(x[:, perm], v[:, perm], q[:, perm]), out_gnn[:, perm]) < 1e-5   # permutations: yes
    rot, t = motions()[1]
    moved = gnn(egnn.rigid_motion(x, rot, t), v @ rot.T, q)
    assert rel(moved, egnn.rigid_motion(out_gnn, rot, t)) > 1e-2                  # rotations: no


def test_coordinate_update_by_hand():
    x = torch.tensor([[[0.0, 0, 0], [1.0, 0, 0], [0.0, 2, 0]]])
    w = torch.ones(1, 3, 3)
    # x_0 + (1/2)((x_0 − x_1) + (x_0 − x_2)) = (−0.5, −1, 0)
    assert torch.allclose(egnn.coordinate_update(x, w)[0, 0], torch.tensor([-0.5, -1.0, 0.0]))
    assert torch.equal(egnn.coordinate_update(x, torch.zeros(1, 3, 3)), x)


def test_linear_time_is_the_least_squares_fit():
    data = charged_nbody(40, seed=0)
    t = egnn.linear_time(data.x, data.v, data.target)

    def err(s):
        return float(((data.x + s * data.v - data.target) ** 2).mean())

    assert err(t) < err(t + 0.01) and err(t) < err(t - 0.01)


def test_fit_nbody_lowers_the_error_and_is_reproducible():
    train, test = charged_nbody(60, seed=0), charged_nbody(30, seed=1)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        runs.append(egnn.fit_nbody(egnn.EGNN(hidden=16, layers=2), train, epochs=3, batch_size=20,
                                   test=test, eval_every=1))
    assert runs[0].train_loss == runs[1].train_loss and runs[0].cpu_seconds > 0
    assert runs[0].test_mse[-1][1] < runs[0].test_mse[0][1] or runs[0].train_loss[-1] < runs[0].train_loss[0]
    assert len(runs[0].test_mse) == 3


def test_bad_input_is_rejected():
    x, v, q = points()
    with pytest.raises(ValueError, match="weights"):
        egnn.coordinate_update(x, torch.ones(6, 5, 4))
    with pytest.raises(ValueError, match="velocity"):
        egnn.EGCL(4, 8)(torch.zeros(6, 5, 4), x, v=v)
    with pytest.raises(ValueError, match="edge_attr"):
        egnn.EGCL(4, 8, edge_features=2)(torch.zeros(6, 5, 4), x)
    with pytest.raises(ValueError, match="points"):
        egnn.PairEnergy()(torch.zeros(5, 3))
    with pytest.raises(ValueError, match="one number per system"):
        egnn.forces(lambda y: y.sum(-1), x)


@pytest.mark.parametrize("exercise", list(EXERCISES.values()), ids=lambda e: e.name)
def test_reference_passes(exercise):
    assert verify_reference(exercise.name).passed  # a learner's function may not call it (library_answer)


# ----- near misses the checks must reject (written out: a function that calls the library's
# reference is failed by the watch whatever it returns, which would prove nothing) -----

def _own_forces(energy, x, sign=-1.0, graph=True, reduce="sum"):
    x = x.detach().requires_grad_(True)
    e = energy(x)
    e = e.sum() if reduce == "sum" else e.mean()
    return sign * torch.autograd.grad(e, x, create_graph=graph)[0]


def _forces_plus_gradient(energy, x):
    return _own_forces(energy, x, sign=1.0)


def _forces_without_graph(energy, x):
    return _own_forces(energy, x, graph=False)


def _forces_of_the_mean(energy, x):
    return _own_forces(energy, x, reduce="mean")


def _own_update(x, w, sign=1.0, norm=None, step_only=False):
    diff = sign * (x[:, :, None] - x[:, None])
    step = (diff * w[..., None]).sum(2) / (x.shape[1] - 1 if norm is None else norm)
    return step if step_only else x + step


def _update_wrong_sign(x, w):
    return _own_update(x, w, sign=-1.0)


def _update_over_n(x, w):
    return _own_update(x, w, norm=x.shape[1])


def _update_transposed_weights(x, w):
    return _own_update(x, w.transpose(1, 2))


def _update_step_only(x, w):
    return _own_update(x, w, step_only=True)


def _error_with_q_not_qt(f, x, q, t):
    return float((f(x @ q + t) - (f(x) @ q + t)).norm() / f(x).norm())


def _error_output_not_shifted(f, x, q, t):
    return float((f(x @ q.T + t) - f(x) @ q.T).norm() / f(x).norm())


def _error_relative_to_moved_output(f, x, q, t):
    return float((f(x @ q.T + t) - (f(x) @ q.T + t)).norm() / (f(x) @ q.T + t).norm())


def _time_one(x, v, target):
    return torch.tensor(1.0)


def _time_without_x(x, v, target):
    return (v * target).sum() / (v**2).sum()


def _time_mean_of_ratios(x, v, target):
    return ((v * (target - x)).sum((1, 2)) / (v**2).sum((1, 2))).mean()


def _forces_right(energy, x):
    return _own_forces(energy, x)


def _update_right(x, w):
    return _own_update(x, w)


def _error_right(f, x, q, t):
    return float((f(x @ q.T + t) - (f(x) @ q.T + t)).norm() / f(x).norm())


def _time_right(x, v, target):
    return (v * (target - x)).sum() / (v**2).sum()


@pytest.mark.parametrize("short, right", [("forces", _forces_right),
                                          ("coordinate_update", _update_right),
                                          ("equivariance_error", _error_right),
                                          ("linear_time", _time_right)],
                         ids=lambda v: getattr(v, "__name__", v))
def test_the_helpers_below_are_near_misses_of_a_passing_answer(short, right):
    assert verify(f"egnn.{short}", right).passed


@pytest.mark.parametrize("short, wrong", [
    ("forces", _forces_plus_gradient), ("forces", _forces_without_graph), ("forces", _forces_of_the_mean),
    ("coordinate_update", _update_wrong_sign), ("coordinate_update", _update_over_n),
    ("coordinate_update", _update_transposed_weights), ("coordinate_update", _update_step_only),
    ("equivariance_error", _error_with_q_not_qt), ("equivariance_error", _error_output_not_shifted),
    ("equivariance_error", _error_relative_to_moved_output),
    ("linear_time", _time_one), ("linear_time", _time_without_x), ("linear_time", _time_mean_of_ratios),
], ids=lambda v: getattr(v, "__name__", v))
def test_plausible_mistakes_fail(short, wrong):
    assert verify(f"egnn.{short}", wrong).status == "fail"


def test_fit_nbody_is_train_fit_and_matches_the_hand_written_loop():
    """fit_nbody goes through train.fit; per-epoch losses and test MSEs equal those of the shuffled
    epoch loop it replaced (uneven last batch included)."""
    train, test = charged_nbody(23, seed=0), charged_nbody(10, seed=1)
    torch.manual_seed(0)
    model = egnn.EGNN(hidden=8, layers=1)
    reference = copy.deepcopy(model)
    run = egnn.fit_nbody(model, train, epochs=2, batch_size=10, lr=1e-3, seed=3, test=test,
                         eval_every=1)
    g = torch.Generator().manual_seed(3)
    opt = torch.optim.Adam(reference.parameters(), lr=1e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 2 * 3)
    losses, tests = [], []
    for epoch in (1, 2):
        reference.train()
        order, total = torch.randperm(len(train), generator=g), 0.0
        for k in range(0, len(train), 10):
            idx = order[k:k + 10]
            out = reference(train.x[idx], train.v[idx], train.charges[idx])
            loss = ((out - train.target[idx]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            schedule.step()
            total += loss.item() * len(idx)
        losses.append(total / len(train))
        reference.eval()
        tests.append((epoch, egnn.mse(reference, test)))
    assert run.train_loss == pytest.approx(losses, rel=1e-6)
    assert [e for e, _ in run.test_mse] == [1, 2]
    assert [m for _, m in run.test_mse] == pytest.approx([m for _, m in tests], rel=1e-6)
    assert run.cpu_seconds > 0 and not model.training


def test_the_centred_gnn_follows_shifts_but_not_rotations():
    torch.manual_seed(0)
    gnn = egnn.GNN(hidden=16, layers=2, centred=True)
    plain = egnn.GNN(hidden=16, layers=2)
    assert sum(p.numel() for p in gnn.parameters()) == sum(p.numel() for p in plain.parameters())
    x, v, q = points()
    out = gnn(x, v, q)
    shift = torch.tensor([4.0, -2.0, 4.0])
    assert rel(gnn(x + shift, v, q), out + shift) < 1e-5                # a shift: exactly
    plain.load_state_dict(gnn.state_dict())
    assert rel(plain(x + shift, v, q), plain(x, v, q) + shift) > 1e-2    # the same weights, uncentred
    rot, _ = motions()[1]
    assert rel(gnn(x @ rot.T, v @ rot.T, q), out @ rot.T) > 1e-2       # a rotation: no


def test_fit_nbody_keeps_the_epoch_with_the_lowest_validation_error():
    # ten training systems and 40 epochs: the GNN overfits, and its validation error turns up
    train, valid, test = charged_nbody(10, seed=0), charged_nbody(20, seed=1), charged_nbody(20, seed=2)
    torch.manual_seed(0)
    run = egnn.fit_nbody(egnn.GNN(hidden=32, layers=2), train, epochs=40, batch_size=5, lr=1e-2,
                         test=test, eval_every=4, valid=valid)
    assert [e for e, _ in run.valid_mse] == list(range(4, 41, 4))
    best_epoch, best = min(run.valid_mse, key=lambda em: em[1])
    assert run.best_epoch == best_epoch < 40 and best < run.valid_mse[-1][1] - 0.01
    assert egnn.mse(run.model, valid) == pytest.approx(best, rel=1e-6)          # its weights
    assert egnn.mse(run.model, test) == pytest.approx(dict(run.test_mse)[best_epoch], rel=1e-6)
    # the same run without a validation split ends at the last epoch, whatever it scores
    torch.manual_seed(0)
    last = egnn.fit_nbody(egnn.GNN(hidden=32, layers=2), train, epochs=40, batch_size=5, lr=1e-2,
                          test=test, eval_every=4)
    assert last.best_epoch == 40 and last.train_loss == pytest.approx(run.train_loss, rel=1e-6)
    assert egnn.mse(last.model, test) == pytest.approx(last.test_mse[-1][1], rel=1e-6)
    with pytest.raises(ValueError, match="dividing epochs"):
        egnn.fit_nbody(egnn.GNN(hidden=8, layers=1), train, epochs=5, eval_every=2, valid=valid)
