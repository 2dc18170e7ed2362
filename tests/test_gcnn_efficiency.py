"""course_lib.gcnn_efficiency: the seed's classifier as ported, and a protocol whose validation
split never touches the test set."""

import math

import pytest
import torch

from course_lib import data, gcnn
from course_lib import gcnn_efficiency as ge
from course_lib import groups
from course_lib.equivariance import invariance_error


def test_the_seed_port_has_the_seeds_shape_and_is_invariant_to_quarter_turns():
    model = ge.SeedCNN(4).eval()
    convs = [m for m in model.body.modules() if type(m).__name__ == "R2Conv"]
    assert [c.kernel_size for c in convs] == [3, 3]
    assert [len(c.out_type) for c in convs] == [16, 32]           # regular fields of C4
    assert all(c.out_type.size == 4 * len(c.out_type) for c in convs)
    assert any(type(m).__name__ == "PointwiseAvgPool2D" for m in model.body.modules())
    assert not any("Max" in type(m).__name__ for m in model.body.modules())
    assert (model.head.in_features, model.head.out_features) == (32, 10)
    x = torch.randn(4, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    assert invariance_error(model, lambda k, t: groups.rotate_image(t, k), x, range(4)) < 1e-5
    with pytest.raises(ValueError, match="multiples of 4"):
        model(torch.zeros(1, 1, 10, 10))


def test_validation_and_training_draws_are_disjoint_and_apart_from_the_test_set():
    (x_test, _), pool = ge.rotated_digit_split(0)
    assert len(x_test) == ge.N_TEST and len(pool[0]) + ge.N_TEST == 1797
    (xt, _), (xv, _) = ge.draw(pool, 100, seed=1)
    assert len(xt) == 100 and len(xv) == ge.N_VAL
    rows = lambda x: {tuple(r.flatten().tolist()) for r in x}
    assert not rows(xt) & rows(xv) and not (rows(xt) | rows(xv)) & rows(x_test)
    # the same validation split at every training size of a seed; another seed draws another
    assert torch.equal(ge.draw(pool, 300, seed=1)[1][0], xv)
    assert not torch.equal(ge.draw(pool, 100, seed=2)[1][0], xv)
    with pytest.raises(ValueError, match="n \\+ n_val"):
        ge.draw(pool, len(pool[0]), seed=0)


def test_train_one_keeps_the_best_validation_weights_and_refuses_unknown_models():
    (_, _), pool = ge.rotated_digit_split(0)
    train_xy, val_xy = ge.draw(pool, 50, seed=0)
    model, history = ge.train_one("plain CNN, flatten", train_xy, val_xy, seed=0, max_steps=200)
    best = max(history.val_score)
    assert history.best_step == history.val_steps[history.val_score.index(best)]
    from course_lib import train
    assert train.accuracy(model, *val_xy) == pytest.approx(best)
    assert {p.device.type for p in model.parameters()} == {"cpu"}  # where the chapter's tensors are
    with pytest.raises(ValueError, match="expected one of"):
        ge.train_one("P8 CNN", train_xy, val_xy, seed=0)


def test_each_probe_is_one_change_away_from_a_bench_model():
    make = lambda name: {**ge.MODELS, **ge.PROBES}[name][0]()
    fields = lambda m: [len(c.out_type) for c in m.modules() if type(c).__name__ == "R2Conv"]
    order = lambda m: m.in_type.gspace.fibergroup.order()
    c8, c16 = make("escnn C8"), make("escnn C16")
    c16_wide, c8_narrow = make("escnn C16, C8's fields"), make("escnn C8, C16's fields")
    assert fields(c16_wide) == fields(c8) == [3, 6, 6] and order(c16_wide) == order(c16) == 16
    assert fields(c8_narrow) == fields(c16) == [3, 4, 4] and order(c8_narrow) == order(c8) == 8
    # the last layer's fields (what the head reads) against the hidden layer's, one at a time
    assert fields(make("escnn C8, last layer 4")) == [3, 6, 4]     # C8 with its last layer narrowed
    assert fields(make("escnn C8, hidden 4")) == [3, 4, 6]         # C8 with its hidden layer narrowed
    c16_last = make("escnn C16, last layer 6")
    assert fields(c16_last) == [3, 4, 6] and order(c16_last) == 16  # C16 with C8's last layer
    p4, p4m, p4m_wide = make("P4 CNN"), make("P4M CNN"), make("P4M CNN, P4's fields")
    channels = lambda m: [norm.num_features for norm in m.norms]
    assert channels(p4m_wide) == channels(p4) == [4, 8, 8] != channels(p4m)
    assert p4m_wide.group == p4m.group == "p4m" != p4.group
    p4_aug = make("P4 CNN + aug.")      # the P4 CNN, trained as the augmented plain CNN is
    assert channels(p4_aug) == channels(p4) and p4_aug.group == p4.group
    assert ge.PROBES["P4 CNN + aug."][1] is ge.MODELS["plain, pooled + aug."][1] is not None
    assert ge.MODELS["P4 CNN"][1] is None
    assert not set(ge.PROBES) & set(ge.MODELS)


def test_steerable_models_match_the_p4_cnn_in_parameters_and_each_pair_differs_in_its_one_change():
    for name in set(ge.STEERABLE) & set({**ge.MODELS, **ge.PROBES}):  # a shared name: the same model
        assert ge.STEERABLE[name] is {**ge.MODELS, **ge.PROBES}[name], name
    models = {name: ge.make(name) for name in ge.STEERABLE}
    p4 = gcnn.n_parameters(models["P4 CNN"])
    for name, model in models.items():
        assert abs(gcnn.n_parameters(model) - p4) <= 0.07 * p4, name
    convs = lambda m: [c for c in m.modules() if type(c).__name__ == "R2Conv"]  # noqa: E731
    orders = lambda m: [c.in_type.gspace.fibergroup.order() for c in convs(m)]  # noqa: E731
    kernels = lambda m: [c.kernel_size for c in convs(m)]  # noqa: E731
    quotient = lambda m: any(r.name.startswith("quotient") for c in convs(m)  # noqa: E731
                             for r in c.out_type.representations)
    augment = {name: entry[1] for name, entry in ge.STEERABLE.items()}
    for name, (partner, change) in ge.STEERABLE_PAIRS.items():
        a, b = models[name], models[partner]
        if change == "augmentation":
            assert augment[name] is gcnn.random_rotations and augment[partner] is None
            assert type(a) is type(b) and [p.shape for p in a.parameters()] == [p.shape for p in b.parameters()]
            continue
        assert augment[name] is augment[partner] is None, name
        if change == "larger filters":
            assert kernels(a) == [7, 5, 5] and kernels(b) == [5, 5, 3] and orders(a) == orders(b)
        elif change == "restriction":
            assert orders(a) == [16, 8, 4] and orders(b) == [16, 16, 16] and kernels(a) == kernels(b)
        elif change == "quotient fields":
            assert quotient(a) and not quotient(b) and orders(a) == orders(b) and kernels(a) == kernels(b)
        elif change.endswith("instead of C4") or change.endswith("instead of C8"):
            assert orders(a)[0] == 2 * orders(b)[0] and kernels(a) == kernels(b) and not quotient(a)
        elif change == "irreps fields of SO(2)":
            assert orders(a) == [-1, -1, -1] and kernels(a) == kernels(b)
        else:
            assert change == "escnn's architecture" and orders(a) == [4, 4, 4]
            assert type(b).__name__ == "GroupCNN" and b.group == "p4"


def test_stopped_at_replays_the_stopping_rule_of_fit():
    scores = [0.1, 0.3, 0.3, 0.2, 0.4, 0.1, 0.1]
    assert ge.stopped_at(scores, 2) == (1, 3)      # 0.3 again does not beat 0.3: two misses
    assert ge.stopped_at(scores, 3) == (4, None)   # 0.4 comes in time; never stops after it
    assert ge.stopped_at(scores, 1) == (1, 2)
    with pytest.raises(ValueError, match="patience >= 1"):
        ge.stopped_at(scores, 0)
    # a longer patience only extends the same history: the kept score never falls
    g = torch.Generator().manual_seed(0)
    for _ in range(50):
        history = torch.rand(40, generator=g).tolist()
        kept = [history[ge.stopped_at(history, p)[0]] for p in range(1, 42)]
        assert kept == sorted(kept)


def test_run_one_scores_each_patience_as_a_run_stopped_there_would():
    test_xy, pool = ge.rotated_digit_split(0)
    train_xy, val_xy = ge.draw(pool, 50, seed=0)
    record, models = ge.run_one("P4 CNN", train_xy, val_xy, test_xy, seed=0, max_steps=600,
                                patiences=(2, 4))
    assert set(record["by_patience"]) == {"2", "4"} and set(models) == {2, 4}
    short, history = ge.train_one("P4 CNN", train_xy, val_xy, seed=0, max_steps=600, patience=2)
    at2 = record["by_patience"]["2"]
    assert (at2["best_step"], at2["steps"]) == (history.best_step, len(history.loss))
    assert at2["test_error"] == ge.error(short, *test_xy) and at2["val_error"] == ge.error(short, *val_xy)
    assert record["by_patience"]["4"]["val_error"] <= at2["val_error"]
    assert record["steps_trained"] >= record["by_patience"]["4"]["steps"] >= at2["steps"]
    assert len(record["val_history"]) == record["steps_trained"] // ge.EVAL_EVERY
    matrix = torch.tensor(at2["confusion"])      # rows: true class, columns: predicted
    assert int(matrix.sum()) == len(test_xy[0])
    assert 100 * (1 - int(matrix.trace()) / len(test_xy[0])) == pytest.approx(at2["test_error"])
    mirrored = torch.tensor(at2["mirrored_confusion"])
    assert torch.equal(mirrored.sum(1), matrix.sum(1))   # the same digits, mirrored
    mirrored_val = torch.tensor(at2["mirrored_val_confusion"])   # the validation digits, mirrored
    assert torch.equal(mirrored_val.sum(1), torch.bincount(val_xy[1], minlength=10))
    unmirrored = torch.tensor(ge.confusion(short, *val_xy))
    assert 100 * (1 - int(unmirrored.trace()) / len(val_xy[0])) == pytest.approx(at2["val_error"])
    assert torch.equal(mirrored_val, torch.tensor(ge.confusion(short, ge.mirror(val_xy[0]), val_xy[1])))
    assert not torch.equal(mirrored_val, unmirrored)   # mirroring changes what P4 answers


def test_mirror_flips_left_and_right():
    x = torch.arange(6.0).reshape(1, 1, 2, 3)
    assert ge.mirror(x).tolist() == [[[[2.0, 1.0, 0.0], [5.0, 4.0, 3.0]]]]
    assert torch.equal(ge.mirror(ge.mirror(x)), x)


def test_choose_patience_stops_where_validation_stops_improving():
    flat = {10: [20.0, 22.0, 21.0], 20: [20.0, 22.0, 21.0], 40: [20.0, 22.0, 21.0]}
    assert ge.choose_patience([flat]) == 10
    late = {10: [20.0, 22.0, 21.0], 20: [19.0, 21.0, 20.0], 40: [18.0, 20.0, 19.0]}   # still improving
    assert ge.choose_patience([flat, late]) == 40
    early = {10: [20.0, 22.0, 21.0], 20: [18.0, 20.5, 19.5], 40: [18.0, 20.0, 19.5]}  # then noise
    assert ge.choose_patience([flat, early]) == 20
    with pytest.raises(ValueError, match="at least one"):
        ge.choose_patience([])


def test_choose_patience_counts_a_marginal_gain_as_a_gain():
    from course_lib.spread import compare, spread
    # the largest patience gains 1.0, 1.6 and 0.4 points: past the paired threshold, below 1.5x
    gain = {10: [21.0, 22.6, 20.4], 20: [21.0, 22.6, 20.4], 40: [20.0, 21.0, 20.0]}
    v = compare(spread(gain[10]), spread(gain[40]), False, names=("p", "largest"), paired=True)
    assert v.winner == "largest" and v.marginal
    flat = {10: [20.0, 22.0, 21.0], 20: [20.0, 22.0, 21.0], 40: [20.0, 22.0, 21.0]}
    assert ge.choose_patience([flat, gain]) == 40


def test_nearest_neighbour_error_is_zero_on_its_training_set_and_chance_on_shuffled_labels():
    (x_test, y_test), pool = ge.rotated_digit_split(0)
    (x, y), _ = ge.draw(pool, 300, 0)
    assert ge.nearest_neighbour_error((x, y), (x, y)) == 0.0
    shuffled = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(0))]
    real = ge.nearest_neighbour_error((x, y), (x_test, y_test))
    control = ge.nearest_neighbour_error((x, shuffled), (x_test, y_test))
    assert 80 < control < 100 and real < 50     # chance is 90 % for 10 balanced classes
    with pytest.raises(ValueError, match="same shape"):
        ge.nearest_neighbour_error((x, y), (x_test[:, :, :8], y_test))


def test_orbit_nearest_neighbour_matches_every_rotated_copy_and_reduces_to_plain_1nn():
    (x_test, y_test), pool = ge.rotated_digit_split(0)
    (x, y), _ = ge.draw(pool, 50, 0)
    x_test, y_test = x_test[:100], y_test[:100]
    # k = 1 is plain 1-NN on the training images
    assert ge.orbit_nearest_neighbour_error((x, y), (x_test, y_test), 1) == \
        ge.nearest_neighbour_error((x, y), (x_test, y_test))
    # training images turned to one of the k angles are in the orbit: no mistake
    k, j = 8, 3
    turned = data.rotate_images(x, torch.full((len(x),), j * (2 * math.pi / k), dtype=torch.float64))
    assert ge.orbit_nearest_neighbour_error((x, y), (turned, y), k) == 0.0
    assert ge.nearest_neighbour_error((x, y), (turned, y)) > 10     # without the orbit they are new
    # their mirror images are in the orbit only with flips
    assert ge.orbit_nearest_neighbour_error((x, y), (ge.mirror(turned), y), k, flips=True) == 0.0
    assert ge.orbit_nearest_neighbour_error((x, y), (ge.mirror(turned), y), k) > 0.0
    for bad in (0, -4, 2.5, True):
        with pytest.raises(ValueError, match="positive integer"):
            ge.orbit_nearest_neighbour_error((x, y), (x_test, y_test), bad)


def test_the_stored_p4m_seeds_repeat_the_bench_and_probe_runs_they_share():
    """bench/gcnn_p4m.py reruns three models at 300 images over more seeds: the seeds the
    data-efficiency bench and the probe ran must come out the same, field by field (CPU time and
    the bench's rotation sweep aside), or the chapter would mix two protocols."""
    from course_lib import stored
    more, bench = stored.result("gcnn_p4m"), stored.result("gcnn_data_efficiency")
    probes = stored.result("gcnn_probes")
    assert more["n"] == 300 and more["protocol"] == bench["protocol"]
    assert set(bench["seeds"]) < set(more["seeds"])
    earlier = {(name, r["seed"]): r for source in (bench, probes)
               for name, e in source["models"].items() for r in e["runs"] if r["n"] == 300}
    skip = {"cpu_s", "sweep_change", "sweep_changed"}
    strip = lambda run: {k: ({p: {f: v for f, v in e.items() if f not in skip}
                              for p, e in val.items()} if k == "by_patience" else val)
                         for k, val in run.items() if k not in skip}
    for name, entry in more["models"].items():
        assert [r["seed"] for r in entry["runs"]] == more["seeds"], name
        for run in entry["runs"]:
            if run["seed"] in bench["seeds"]:
                assert strip(run) == strip(earlier[name, run["seed"]]), (name, run["seed"])
