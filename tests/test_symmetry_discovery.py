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


def _arc(seed, centre=(0.0, 0.0), noise=0.01):
    t = torch.linspace(-1.2, 1.2, 200, dtype=torch.float64)
    x = 2 * torch.stack([torch.cos(2.5 * t), torch.sin(2.5 * t)], 1) + torch.tensor(centre, dtype=torch.float64)
    return x + noise * torch.randn(x.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_the_quadric_test_finds_no_symmetry_in_clouds_and_finds_it_on_orbits():
    """The negative control: points with no level set (a Gaussian cloud, a box, a correlated
    Gaussian) are not called symmetric, while noisy orbits (centred or not) are, at p = 0.01."""
    gen = torch.Generator().manual_seed(5)
    mix = torch.tensor([[1.0, 0.8], [0.0, 0.6]], dtype=torch.float64)
    clouds = [torch.randn(200, 2, generator=gen, dtype=torch.float64),
              2 * torch.rand(200, 2, generator=gen, dtype=torch.float64) - 1,
              torch.randn(200, 2, generator=gen, dtype=torch.float64) @ mix]
    for cloud in clouds:
        assert sd.quadric_test(cloud)[1] > 0.01
    for orbit in [_arc(6), _arc(7, centre=(1.0, 0.5)), _arc(8, noise=0.1)]:
        statistic, p = sd.quadric_test(orbit)
        assert p == pytest.approx(0.01) and statistic < 0.1
    with pytest.raises(ValueError, match="N >= 2n"):
        sd.quadric_test(torch.zeros(5, 2))


def test_clouds_with_dependent_coordinates_but_no_level_set_are_not_called_symmetric():
    """A filled disc and an L-shaped cloud pass the permutation test alone (their coordinates are
    dependent) but no quadric fits them: `finds_symmetry` needs both, and keeps the orbits."""
    gen = torch.Generator().manual_seed(11)
    disc = torch.rand(400, 2, generator=gen, dtype=torch.float64) * 2 - 1
    disc = disc[(disc**2).sum(1) <= 1][:200]
    square = torch.rand(400, 2, generator=gen, dtype=torch.float64)
    l_shape = square[(square[:, 0] < 0.4) | (square[:, 1] < 0.4)][:200]
    for cloud in (disc, l_shape):
        statistic, p = sd.quadric_test(cloud)
        assert p <= 0.01  # what p alone would call a symmetry
        assert not sd.finds_symmetry(statistic, p)
    for orbit in [_arc(6), _arc(7, centre=(1.0, 0.5)), _arc(8, noise=0.1)]:
        assert sd.finds_symmetry(*sd.quadric_test(orbit))
    with pytest.raises(ValueError, match="0 < alpha < 1"):
        sd.finds_symmetry(0.01, 0.01, alpha=1.5)


def test_the_quadric_test_rarely_calls_a_box_symmetric():
    """Over 20 boxes the false-positive rate at p <= 0.01 stays small (it is a test, not a proof)."""
    hits = sum(sd.quadric_test(2 * torch.rand(200, 2, generator=torch.Generator().manual_seed(s),
                                              dtype=torch.float64) - 1, trials=49, seed=s)[1] <= 0.02
               for s in range(20))
    assert hits <= 3


def test_an_off_centre_circle_needs_an_affine_generator():
    """A linear generator fixes the origin and misses the rotation about (1, 0.5) by tens of
    degrees; the affine one [A | t] finds [J | −J c]."""
    centre = torch.tensor([1.0, 0.5], dtype=torch.float64)
    x = _arc(9, centre=(1.0, 0.5))
    q = sd.fit_quadratic_invariant(x)
    linear, _ = sd.discover_generator(2 * x @ q, x)
    assert sd.generator_angle(linear, ROTATION) > 10
    q, b = sd.fit_quadric(x)
    affine, s = sd.discover_affine_generator(2 * x @ q + b, x)
    truth = torch.cat([ROTATION, -(ROTATION @ centre)[:, None]], 1)
    assert sd.generator_angle(affine, truth) < 2.0
    assert float(s[-1]) < 1e-10 * float(s[0]) and float(s[-2]) > 1e-2 * float(s[0])
