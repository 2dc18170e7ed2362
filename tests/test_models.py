"""course_lib.models: parameter counts, shift equivariance/invariance, clear errors on wrong shapes."""

import pytest
import torch
from torch import nn

from course_lib.equivariance import all_shifts, equivariance_error, invariance_error, shift_action
from course_lib.models import MLP, ConvNet, PixelConvNet, conv_stack, count_parameters, global_pool

TOL = 1e-5  # float32


@pytest.fixture
def images():
    return torch.randn(3, 1, 7, 9, generator=torch.Generator().manual_seed(0))


def test_parameter_counts_match_the_formulas():
    assert count_parameters(MLP(400, [128, 128], 10)) == 400 * 128 + 128 + 128 * 128 + 128 + 128 * 10 + 10
    assert count_parameters(ConvNet(1, (8, 16), 10)) == (9 * 8 + 8) + (8 * 9 * 16 + 16) + (16 * 10 + 10)
    # a convolution's parameters do not depend on the image size; a frozen parameter does not count
    frozen = nn.Linear(3, 2)
    frozen.weight.requires_grad_(False)
    assert count_parameters(frozen) == 2


def test_conv_stack_with_circular_padding_is_shift_equivariant(images):
    torch.manual_seed(0)
    f = conv_stack(1, (4, 5), kernel_size=3)
    assert equivariance_error(f, shift_action, shift_action, images, all_shifts(images)) < TOL


def test_zero_padding_breaks_shift_equivariance(images):
    torch.manual_seed(0)
    f = conv_stack(1, (4,), padding_mode="zeros")
    assert equivariance_error(f, shift_action, shift_action, images, all_shifts(images)) > 1e-2


@pytest.mark.parametrize("pool", ["max", "mean"])
def test_convnet_is_shift_invariant_and_mlp_is_not(images, pool):
    torch.manual_seed(0)
    shifts = all_shifts(images)
    assert invariance_error(ConvNet(1, (4, 6), 5, pool=pool), shift_action, images, shifts) < TOL
    assert invariance_error(MLP(63, [16], 5), shift_action, images, shifts) > 1e-2


def test_pixel_convnet_is_shift_equivariant(images):
    torch.manual_seed(0)
    net = PixelConvNet(1, (4, 4), out_channels=2)
    assert net(images).shape == (3, 2, 7, 9)
    assert equivariance_error(net, shift_action, shift_action, images, all_shifts(images)) < TOL


def test_global_pool_values():
    x = torch.arange(8.0).reshape(1, 2, 2, 2)
    assert global_pool(x, "max").tolist() == [[3.0, 7.0]]
    assert global_pool(x, "mean").tolist() == [[1.5, 5.5]]


def test_wrong_shapes_and_arguments_raise_clear_errors(images):
    with pytest.raises(ValueError, match="expects images"):
        ConvNet(1)(images[:, 0])
    with pytest.raises(ValueError, match="expects images"):
        ConvNet(2)(images)
    with pytest.raises(ValueError, match="63 numbers"):
        MLP(63, [8], 2)(torch.zeros(3, 64))
    with pytest.raises(ValueError, match="padding_mode"):
        conv_stack(1, (4,), padding_mode="circle")
    with pytest.raises(ValueError, match="odd"):
        conv_stack(1, (4,), kernel_size=4)
    with pytest.raises(ValueError, match="pool"):
        ConvNet(1, pool="sum")
    with pytest.raises(ValueError, match="positive"):
        MLP(10, [0], 2)


def test_learning_curve_is_seeded_and_shaped():
    from course_lib.train import learning_curve

    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(40, 1, 5, 5, generator=gen), torch.randint(0, 3, (40,), generator=gen)
    tests = {"a": (x[:10], y[:10]), "b": (x[10:], y[10:])}
    make = lambda: ConvNet(1, (2,), 3)  # noqa: E731
    runs = [learning_curve(make, x, y, tests, [5, 20], [0, 1], steps=3) for _ in range(2)]
    assert runs[0].accuracy["a"].shape == (2, 2)
    assert torch.equal(runs[0].accuracy["b"], runs[1].accuracy["b"])
    mean, std = runs[0].mean_std("a")
    assert mean.shape == std.shape == (2,)
    with pytest.raises(ValueError, match="sizes"):
        learning_curve(make, x, y, tests, [41], [0])


def _data(n=40):
    gen = torch.Generator().manual_seed(0)
    return torch.randn(n, 1, 5, 5, generator=gen), torch.randint(0, 3, (n,), generator=gen)


def test_fit_without_validation_runs_every_step_as_before():
    from course_lib.train import fit

    x, y = _data()
    torch.manual_seed(0)
    history = fit(ConvNet(1, (2,), 3), x, y, steps=7, batch_size=8)
    assert len(history.loss) == history.best_step == 7 and history.val_score == []


def test_early_stopping_stops_after_patience_and_keeps_the_best_weights():
    from course_lib.train import fit

    x, y = _data()
    scores = iter([1.0, 3.0, 2.0, 3.0, 2.5, 9.0])  # best at the 2nd evaluation; 3.0 again is no gain
    states = []

    def score(model, xv, yv):
        states.append({k: v.clone() for k, v in model.state_dict().items()})
        return next(scores)

    torch.manual_seed(0)
    model = ConvNet(1, (2,), 3)
    history = fit(model, x, y, steps=100, batch_size=8, validation=(x[:10], y[:10]), eval_every=2,
                  patience=3, score=score)
    assert history.val_steps == [2, 4, 6, 8, 10] and history.best_step == 4
    assert len(history.loss) == 10  # stopped after 3 evaluations without a new best
    assert all(torch.equal(v, states[1][k]) for k, v in model.state_dict().items())
    assert not torch.equal(states[1]["head.weight"], states[-1]["head.weight"])


def test_early_stopping_default_score_is_minus_the_validation_loss():
    from course_lib.train import fit

    x, y = _data()
    torch.manual_seed(0)
    model = ConvNet(1, (2,), 3)
    history = fit(model, x, y, steps=20, batch_size=8, validation=(x, y), eval_every=5, patience=10)
    with torch.no_grad():
        best = -float(torch.nn.functional.cross_entropy(model(x), y))
    assert history.val_steps == [5, 10, 15, 20]
    assert best == pytest.approx(max(history.val_score), rel=1e-6)


def test_fit_rejects_bad_validation_and_patience():
    from course_lib.train import fit

    x, y = _data()
    with pytest.raises(ValueError, match="validation"):
        fit(ConvNet(1, (2,), 3), x, y, steps=2, validation=(x[:5], y[:4]))
    with pytest.raises(ValueError, match="patience"):
        fit(ConvNet(1, (2,), 3), x, y, steps=2, validation=(x, y), patience=0)


def test_learning_curve_records_the_steps_kept_and_run():
    from course_lib.train import accuracy, learning_curve

    x, y = _data()
    lc = learning_curve(lambda: ConvNet(1, (2,), 3), x, y, {"a": (x, y)}, [10, 40], [0, 1], steps=30,
                        batch_size=8, validation=(x, y), eval_every=5, patience=2, score=accuracy)
    assert lc.best_step.shape == lc.steps_run.shape == (2, 2)
    assert (lc.best_step <= lc.steps_run).all() and (lc.steps_run <= 30).all()
    assert (lc.best_step % 5 == 0).all()


def test_intersection_over_union_sees_only_the_class():
    from course_lib.train import intersection_over_union as iou

    target = torch.zeros(2, 4, 4, dtype=torch.bool)
    target[0, 1, 1:3] = True  # 2 ink pixels out of 32: an all-background guess is 94% "accurate"
    assert iou(torch.zeros_like(target), target) == 0.0
    assert iou(target.clone(), target) == 1.0
    half = target.clone()
    half[0, 1, 1] = False
    half[1, 0, 0] = True
    assert iou(half, target) == pytest.approx(1 / 3)  # 1 shared pixel, 3 in the union
    assert iou(torch.zeros_like(target), torch.zeros_like(target)) == 1.0
    with pytest.raises(ValueError, match="boolean masks"):
        iou(target.long(), target)
