"""course_lib.equivariance: the error is zero where the maths says so, large where it does not, and
the helpers refuse malformed input."""

import pytest
import torch
from torch import nn

from course_lib.data import place_on_canvas, random_shifts
from course_lib.equivariance import (all_shifts, assert_equivariant, equivariance_error, equivariance_errors,
                                     invariance_error, shift_action)

TOL = 1e-5


@pytest.fixture
def x():
    return torch.randn(2, 3, 6, 5, generator=torch.Generator().manual_seed(0))


def test_circular_conv_exact_zero_conv_grows_with_the_shift(x):
    torch.manual_seed(0)
    circular = nn.Conv2d(3, 4, 3, padding=1, padding_mode="circular")
    zeros = nn.Conv2d(3, 4, 3, padding=1)
    shifts = [(0, s) for s in range(5)]
    assert max(equivariance_errors(circular, shift_action, shift_action, x, shifts)) < TOL
    errs = equivariance_errors(zeros, shift_action, shift_action, x, shifts)
    assert errs[0] == 0.0 and min(errs[1:]) > 1e-2


def test_stride_two_is_equivariant_to_even_shifts_only():
    x = torch.randn(1, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 2, 3, stride=2, padding=1, padding_mode="circular")
    half = lambda g, y: shift_action((g[0] // 2, g[1] // 2), y)  # noqa: E731
    errs = equivariance_errors(conv, shift_action, half, x, [(0, s) for s in range(8)])
    assert max(errs[0::2]) < TOL and min(errs[1::2]) > 1e-2


def test_invariance_of_sum_and_assert_equivariant(x):
    shifts = all_shifts(x)
    assert len(shifts) == 30
    assert invariance_error(lambda t: t.sum(dim=(-2, -1)), shift_action, x, shifts) < TOL
    assert assert_equivariant(torch.tanh, shift_action, shift_action, x, shifts) < TOL
    with pytest.raises(AssertionError, match="not equivariant"):
        assert_equivariant(lambda t: t.cumsum(-1), shift_action, shift_action, x, shifts)


def test_errors_are_relative_to_the_output_scale(x):
    f = lambda t: t + torch.linspace(0, 1, t.shape[-1])  # noqa: E731
    e1 = equivariance_error(f, shift_action, shift_action, x, [(0, 1)])
    e2 = equivariance_error(lambda t: 1000 * f(t), shift_action, shift_action, x, [(0, 1)])
    assert abs(e1 - e2) < 1e-5 * e1


def test_clear_errors(x):
    with pytest.raises(ValueError, match="at least one group element"):
        equivariance_error(torch.tanh, shift_action, shift_action, x, [])
    with pytest.raises(ValueError, match="check the output action"):
        equivariance_error(lambda t: t, shift_action, lambda g, y: y[0], x, [(0, 1)])
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        all_shifts(torch.zeros(3))


def test_place_on_canvas_and_random_shifts():
    digit = torch.arange(1.0, 7.0).reshape(1, 1, 2, 3)
    canvas = place_on_canvas(digit.repeat(2, 1, 1, 1), 5, torch.tensor([[0, 0], [3, 2]]))
    assert canvas.shape == (2, 1, 5, 5) and torch.equal(canvas[1, 0, 3:, 2:], digit[0, 0])
    assert canvas.sum() == 2 * digit.sum()
    with pytest.raises(ValueError, match="fits a 5×5 canvas"):
        place_on_canvas(digit, 5, torch.tensor([[4, 0]]))
    with pytest.raises(ValueError, match="positions"):
        place_on_canvas(digit, 5, torch.tensor([0, 0]))
    imgs = torch.rand(50, 2, 7, 7, generator=torch.Generator().manual_seed(0))
    out = random_shifts(imgs, torch.Generator().manual_seed(0), 2)
    assert out.shape == imgs.shape
    for i, o in zip(imgs, out):  # each image is its own input rolled by some allowed shift
        assert any(torch.equal(torch.roll(i, (a, b), (-2, -1)), o) for a in range(-2, 3) for b in range(-2, 3))
    assert not all(torch.equal(i, o) for i, o in zip(imgs, out))
    with pytest.raises(ValueError, match="max_shift"):
        random_shifts(imgs, torch.Generator(), -1)


def test_self_checks_accept_the_reference_and_reject_near_misses():
    from course_lib.checks import verify, verify_reference

    for name in ["invariance.circular_shift", "invariance.set_pool", "why_symmetry.random_shifts",
                 "why_symmetry.cnn_parameters"]:
        assert verify_reference(name).passed, name  # a learner's function may not call it (library_answer)

    def one_shift_for_all(x, generator, max_shift):  # the same random shift for the whole batch
        s = torch.randint(-max_shift, max_shift + 1, (2,), generator=generator)
        return torch.roll(x, tuple(s.tolist()), dims=(-2, -1))

    def upper_end_excluded(x, generator, max_shift):
        s = torch.randint(-max_shift, max_shift, (len(x), 2), generator=generator)
        return torch.stack([torch.roll(i, tuple(t.tolist()), dims=(-2, -1)) for i, t in zip(x, s)])

    assert not verify("why_symmetry.random_shifts", one_shift_for_all).passed
    assert not verify("why_symmetry.random_shifts", upper_end_excluded).passed
    assert not verify("invariance.set_pool", lambda x: torch.cat([x.amax(1), x.mean(1)], -1)).passed
    assert not verify("why_symmetry.cnn_parameters", lambda c, ch, k, n: sum(ch) * k * k).passed
