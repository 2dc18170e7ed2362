"""course_lib.augerino: reparameterised angles with a gradient for the width, a rotation-averaged
model, a regulariser that widens the range, training with a learning rate of the width's own, and
the chapter's exercises (references pass, near misses fail)."""

import math

import pytest
import torch
from torch import nn

from course_lib import augerino as a
from course_lib.checks import verify
from course_lib.checks.frontier import EXERCISES
from course_lib.data import rotate_images


def test_rotation_angles_cover_the_range_and_carry_the_width_gradient():
    width = torch.tensor(0.7, requires_grad=True)
    u = torch.rand(20000, generator=torch.Generator().manual_seed(0))
    theta = a.rotation_angles(width, u)
    assert float(theta.detach().min()) >= -0.7 and float(theta.detach().max()) <= 0.7
    assert abs(float(theta.detach().mean())) < 0.02
    assert abs(float(theta.detach().std()) - 0.7 / math.sqrt(3)) < 0.01
    theta.abs().mean().backward()
    assert abs(float(width.grad) - 0.5) < 0.01  # E|2u − 1| = ½
    with pytest.raises(ValueError, match="u must lie"):
        a.rotation_angles(width, torch.tensor([1.5]))
    with pytest.raises(ValueError, match="scalar"):
        a.rotation_angles(torch.ones(2), u)


class _Orientation(nn.Module):
    """Logits (x-moment, y-moment) of the image: they change when the image turns."""

    def forward(self, x):
        h = x.shape[-1]
        c = torch.linspace(-1, 1, h)
        return torch.stack([(x[:, 0] * c).sum((1, 2)), (x[:, 0] * c[:, None]).sum((1, 2))], 1)


def test_a_model_averaged_over_a_wide_range_is_nearly_rotation_invariant():
    x = torch.zeros(1, 1, 17, 17)
    x[0, 0, 8, 11:15] = 1.0  # a bar to the right of the centre
    narrow = a.LearnedRotations(_Orientation(), init_width=0.0, samples=16).eval()
    wide = a.LearnedRotations(_Orientation(), init_width=math.pi, samples=16).eval()
    assert float(narrow(x).detach().norm()) > 5 * float(wide(x).detach().norm())


def test_width_gets_a_gradient_and_the_penalty_pushes_it_up():
    torch.manual_seed(0)
    model = a.LearnedRotations(_Orientation(), init_width=0.3, samples=4).train()
    x = torch.rand(8, 1, 9, 9)
    model(x).pow(2).sum().backward()
    assert model.width.grad is not None and float(model.width.grad) != 0
    model.zero_grad()
    a.width_penalty(model, 0.5).backward()
    assert float(model.width.grad) == -0.5
    with pytest.raises(ValueError, match="strength"):
        a.width_penalty(model, -1.0)


def test_draws_are_one_logit_set_per_rotation_and_eval_draws_are_symmetric():
    """Eval draws are evenly spaced over [−w, w]: at w = π (an even number of them) they are
    closed under a half turn, so the prediction cannot tell an image from its half turn; at a
    narrow width it can."""
    x = torch.zeros(3, 1, 17, 17)
    x[:, 0, 8, 11:15] = 1.0
    model = a.LearnedRotations(_Orientation(), init_width=math.pi, samples=4).eval()
    assert model.draws(x).shape == (4, 3, 2)
    assert torch.allclose(model(x), model.draws(x).mean(0))
    half_turn = torch.rot90(x, 2, (2, 3))
    assert torch.allclose(model(x), model(half_turn), atol=1e-4)
    model.width.data.fill_(0.3)
    assert not torch.allclose(model(x), model(half_turn), atol=1e-2)
    with pytest.raises(ValueError, match="images"):
        model.draws(x[0])


def test_the_width_has_a_learning_rate_of_its_own():
    """lr moves only the network, width_lr only the width (a strong regulariser pushes it up);
    a frozen width stays put."""
    torch.manual_seed(0)
    x, y = torch.rand(16, 1, 9, 9), torch.randint(2, (16,))

    def run(lr, width_lr, frozen=False):
        model = a.LearnedRotations(nn.Sequential(_Orientation(), nn.Linear(2, 2)), 0.3, 2)
        model.width.requires_grad_(not frozen)
        before = [p.detach().clone() for p in model.model.parameters()]
        widths = a.train_augerino(model, x, y, steps=20, lr=lr, width_lr=width_lr,
                                  strength=1.0, seed=0)
        moved = max(float((p.detach() - q).abs().max()) for p, q in zip(model.model.parameters(), before))
        return widths, moved

    widths, moved = run(lr=0.0, width_lr=0.05)
    assert moved == 0 and widths[-1] > 0.3 + 0.5  # Adam: about width_lr a step, pushed up
    widths, moved = run(lr=0.05, width_lr=0.0)
    assert moved > 0.1 and all(w == pytest.approx(0.3) for w in widths)
    widths, moved = run(lr=0.05, width_lr=0.05, frozen=True)
    assert moved > 0.1 and all(w == pytest.approx(0.3) for w in widths)
    with pytest.raises(ValueError, match="learning rates"):
        run(lr=-1.0, width_lr=0.05)


class _Brightness(nn.Module):
    """(B, 1, H, W) -> (B, 1): the total brightness, which no rotation of a disc-shaped image changes."""

    def forward(self, x):
        return x.sum((1, 2, 3))[:, None]


def _train(net, x, y):
    model = a.LearnedRotations(net, init_width=0.1, samples=2)
    widths = a.train_augerino(model, x, y, steps=300, lr=0.01, strength=0.05, seed=0)
    assert len(widths) == 300 and not model.training
    return widths[-1]


def test_training_learns_the_range_the_labels_allow():
    """Invariant labels (brightness): the range grows to the full circle. Labels that are the
    direction of a bar turned by up to ±30°: it stays short of ±60°, where a bar at +30° turned
    further meets one at 180° − 30° turned back, and the classes would meet."""
    torch.manual_seed(1)
    c = torch.linspace(-4, 4, 9)
    disc = (c**2 + c[:, None] ** 2 <= 9).float()  # zero where a rotation would cut corners
    x = torch.rand(64, 1, 9, 9) * disc
    s = x.sum((1, 2, 3))
    invariant = _train(nn.Sequential(_Brightness(), nn.Linear(1, 2)), x, (s > s.median()).long())
    bar = torch.zeros(1, 1, 9, 9)
    bar[0, 0, 4, 5:8] = 1.0
    g = torch.Generator().manual_seed(0)
    y = torch.randint(2, (64,), generator=g)
    x = rotate_images(bar.expand(64, 1, 9, 9), math.pi / 6 * (2 * torch.rand(64, generator=g) - 1) + math.pi * y)
    directional = _train(nn.Sequential(_Orientation(), nn.Linear(2, 2)), x, y)
    assert invariant > 0.95 * math.pi and 0.3 < directional < math.pi / 3
    with pytest.raises(ValueError, match="same nonzero length"):
        a.train_augerino(a.LearnedRotations(_Brightness()), x, y[:3])


# ----- the chapter's exercises: the references pass, plausible mistakes fail -----

def _fold(x):
    a_ = x.abs()
    return torch.stack([a_.max(1).values, a_.min(1).values], 1)


def _angles(width, u):
    return width * (2 * u - 1)


def _angle(p, q):
    p, q = p.reshape(-1), q.reshape(-1)
    return math.degrees(math.acos(min(1.0, float((p @ q).abs() / (p.norm() * q.norm())))))


SOLUTIONS = {"fold_to_fundamental_domain": _fold, "rotation_angles": _angles, "generator_angle": _angle}


def test_every_exercise_has_a_solution_here():
    assert sorted(SOLUTIONS) == sorted(EXERCISES) and len(EXERCISES) >= 3


@pytest.mark.parametrize("short", sorted(SOLUTIONS))
def test_answers_written_from_scratch_pass(short):
    assert verify(f"frontier.{short}", SOLUTIONS[short]).passed


@pytest.mark.parametrize("short", sorted(EXERCISES))
def test_the_librarys_own_function_is_refused(short):
    assert verify(f"frontier.{short}", EXERCISES[short].reference).status == "fail"


def _fold_abs_only(x):
    return x.abs()


def _fold_sorted_without_abs(x):
    return x.sort(1, descending=True).values


def _fold_min_first(x):
    a_ = x.abs()
    return torch.stack([a_.min(1).values, a_.max(1).values], 1)


def _angles_one_sided(width, u):
    return width * u


def _angles_half_range(width, u):
    return width * (u - 0.5)


def _angles_detached(width, u):
    return float(width) * (2 * u - 1)


def _angle_signed(p, q):
    p, q = p.reshape(-1), q.reshape(-1)
    return math.degrees(math.acos(float(p @ q / (p.norm() * q.norm()))))


def _angle_radians(p, q):
    p, q = p.reshape(-1), q.reshape(-1)
    return math.acos(float((p @ q).abs() / (p.norm() * q.norm())))


def _angle_unnormalised(p, q):
    p, q = p.reshape(-1), q.reshape(-1)
    return math.degrees(math.acos(min(1.0, float((p @ q).abs()))))


@pytest.mark.parametrize("short, wrong", [
    ("fold_to_fundamental_domain", _fold_abs_only), ("fold_to_fundamental_domain", _fold_sorted_without_abs),
    ("fold_to_fundamental_domain", _fold_min_first),
    ("rotation_angles", _angles_one_sided), ("rotation_angles", _angles_half_range),
    ("rotation_angles", _angles_detached),
    ("generator_angle", _angle_signed), ("generator_angle", _angle_radians),
    ("generator_angle", _angle_unnormalised),
], ids=lambda v: getattr(v, "__name__", v))
def test_plausible_mistakes_fail(short, wrong):
    assert verify(f"frontier.{short}", wrong).status == "fail"


def test_rotated_digits_keep_the_chosen_digits_and_split_three_to_one():
    (x, y), (xt, yt) = a.rotated_digits((6, 9), math.pi / 4, seed=0)
    assert x.shape[1:] == (1, 12, 12) and set(y.tolist()) == {0, 1} and set(yt.tolist()) == {0, 1}
    assert abs(len(x) - 3 * len(xt)) <= 3
    (x2, _), _ = a.rotated_digits((6, 9), math.pi / 4, seed=0)
    (x3, _), _ = a.rotated_digits((6, 9), math.pi / 4, seed=1)
    assert torch.equal(x, x2) and not torch.equal(x, x3)
    with pytest.raises(ValueError, match="max_angle"):
        a.rotated_digits((6, 9), 4.0, seed=0)


def test_tail_trend_measures_level_and_change():
    level, change = a.tail_trend([0.0] * 80 + [float(i) for i in range(20)])
    assert level == pytest.approx(9.5) and change == pytest.approx(20.0)
    assert a.tail_trend([3.0] * 50) == (pytest.approx(3.0), pytest.approx(0.0))
    with pytest.raises(ValueError, match="tail"):
        a.tail_trend([1.0, 2.0], tail=0.2)


def test_against_full_circle_is_learn_range_plus_the_forced_full_circle():
    """The bench's experiment is the chapter's two `learn_range` runs on one seed's data: the same
    learned widths, and per-class held-out accuracies of both models; a different seed differs."""
    steps = 3
    result = a.against_full_circle((6, 9), math.pi / 4, 0, steps)
    (x, y), _ = a.rotated_digits((6, 9), math.pi / 4, 0)
    _, widths = a.learn_range(2, x, y, 0, steps)
    assert result["widths"] == widths and len(widths) == steps
    assert sorted(result["accuracy"]) == ["full circle", "learned"]
    assert all(len(v) == 2 and all(0 <= p <= 1 for p in v) for v in result["accuracy"].values())
    assert a.against_full_circle((6, 9), math.pi / 4, 1, steps)["widths"] != widths


def test_training_asks_for_the_device_and_returns_the_model_on_the_cpu(monkeypatch):
    from device_spy import DeviceSpy

    (x, y), _ = a.rotated_digits((6, 9), math.radians(45), seed=0)
    spy = DeviceSpy(monkeypatch)
    model, widths = a.learn_range(2, x[:64], y[:64], seed=0, steps=3)
    assert spy.trained_on_device_then_cpu(model)
    assert len(widths) == 3 and not model.training
