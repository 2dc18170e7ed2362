"""course_lib.symmetry_discovery: the generator of a known symmetry is recovered from a function
and from noisy data, and the angle between generators ignores scale and sign."""

import math

import pytest
import torch

from course_lib import symmetry_discovery as sd

ROTATION = torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=torch.float64)
BOOST = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)


def _points(n, seed, d=2):
    return 2 * torch.rand(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) - 1


def test_rotation_is_found_from_a_radial_function():
    generator, s = sd.generator_of_function(lambda p: torch.exp(-(p**2).sum(1)), _points(50, 0))
    assert sd.generator_angle(generator, ROTATION) < 1e-4
    assert float(s[-1]) < 1e-10 * float(s[0]) and float(s[-2]) > 1e-2 * float(s[0])


def test_boost_is_found_from_the_minkowski_interval():
    generator, _ = sd.generator_of_function(lambda p: p[:, 0] ** 2 - p[:, 1] ** 2, _points(50, 1))
    assert sd.generator_angle(generator, BOOST) < 1e-4
    assert sd.generator_angle(generator, ROTATION) > 89.9


def test_no_symmetry_leaves_no_small_singular_value():
    _, s = sd.generator_of_function(lambda p: p[:, 0] ** 2 + 3 * p[:, 1] + p[:, 0] * p[:, 1] ** 3, _points(50, 2))
    assert float(s[-1]) > 1e-3 * float(s[0])


def test_rotations_of_3d_space_leave_a_three_dimensional_null_space():
    _, s = sd.generator_of_function(lambda p: (p**2).sum(1), _points(80, 3, d=3))
    assert float(s[-3]) < 1e-10 * float(s[0]) and float(s[-4]) > 1e-2 * float(s[0])


@pytest.mark.parametrize("kind, truth", [("circle", ROTATION), ("hyperbola", BOOST)])
def test_generator_from_noisy_data_on_an_orbit(kind, truth):
    gen = torch.Generator().manual_seed(4)
    t = torch.linspace(-1.2, 1.2, 200, dtype=torch.float64)
    if kind == "circle":
        x = 2 * torch.stack([torch.cos(2.5 * t), torch.sin(2.5 * t)], 1)
    else:
        x = torch.stack([torch.cosh(t), torch.sinh(t)], 1)
    x = x + 0.01 * torch.randn(x.shape, generator=gen, dtype=torch.float64)
    q = sd.fit_quadratic_invariant(x)
    generator, _ = sd.discover_generator(2 * x @ q, x)  # ∇(xᵀQx) = 2Qx
    assert sd.generator_angle(generator, truth) < 2.0


def test_generator_angle_ignores_scale_and_sign_and_checks_shapes():
    assert sd.generator_angle(ROTATION, -3 * ROTATION) < 1e-6
    assert abs(sd.generator_angle(ROTATION, BOOST) - 90) < 1e-6
    assert abs(sd.generator_angle(ROTATION, ROTATION + 0.5 * BOOST) - math.degrees(math.atan(0.5))) < 1e-6
    with pytest.raises(ValueError, match="same shape"):
        sd.generator_angle(ROTATION, torch.eye(3))
    with pytest.raises(ValueError, match="same shape"):
        sd.invariance_constraints(torch.zeros(3, 2), torch.zeros(4, 2))
