"""course_lib.lattice: gauge invariance to float precision, loops that agree with Stokes' theorem,
an integer topological charge, and a Metropolis sampler that reproduces the exact 2D average plaquette."""

import math

import pytest
import torch

from course_lib import lattice as lt


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


GROUPS = ["U(1)", "SU(2)"]


@pytest.mark.parametrize("group", GROUPS)
def test_random_elements_are_unitary_and_special(group):
    u = lt.random_elements((50,), group, gen())
    eye = torch.eye(u.shape[-1], dtype=u.dtype)
    assert torch.allclose(u @ lt.dagger(u), eye.expand_as(u), atol=1e-12)
    if group == "SU(2)":
        assert torch.allclose(torch.linalg.det(u), torch.ones(50, dtype=u.dtype), atol=1e-12)


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize("a, b", [(1, 1), (2, 2), (1, 3), (4, 4)])
def test_wilson_loop_traces_are_gauge_invariant(group, a, b):
    g = gen(1)
    links = lt.random_links(3, 6, group, g)
    moved = lt.gauge_transform(links, lt.random_gauge(3, 6, group, g))
    assert (links - moved).abs().max() > 0.5  # the links themselves change a lot
    before, after = lt.re_trace(lt.wilson_loops(links, a, b)), lt.re_trace(lt.wilson_loops(moved, a, b))
    assert (before - after).abs().max() < 1e-12


@pytest.mark.parametrize("group", GROUPS)
def test_plaquettes_transform_by_conjugation_at_their_corner(group):
    g = gen(2)
    links, omega = lt.random_links(2, 4, group, g), lt.random_gauge(2, 4, group, g)
    p, p_moved = lt.plaquettes(links), lt.plaquettes(lt.gauge_transform(links, omega))
    assert torch.allclose(p_moved, lt.gauge_transform_sites(p[:, None], omega)[:, 0], atol=1e-12)
    if group == "SU(2)":  # the matrix itself is not invariant, only its trace
        assert (p_moved - p).abs().max() > 0.1


def test_u1_plaquette_is_the_curl_of_the_angles():
    theta = 2 * math.pi * torch.rand(1, 2, 5, 5, generator=gen(3), dtype=torch.float64)
    expected = theta[:, 0] + theta[:, 1].roll(-1, 1) - theta[:, 0].roll(-1, 2) - theta[:, 1]
    p = lt.plaquettes(lt.u1_links(theta))[..., 0, 0]
    assert torch.allclose(p, torch.polar(torch.ones_like(expected), expected), atol=1e-12)
    assert torch.allclose(lt.link_angles(lt.u1_links(theta)).remainder(2 * math.pi),
                          theta.remainder(2 * math.pi), atol=1e-12)


@pytest.mark.parametrize("a, b", [(2, 2), (2, 3), (4, 4)])
def test_u1_wilson_loop_is_the_product_of_the_plaquettes_inside(a, b):
    links = lt.random_links(2, 6, "U(1)", gen(4))
    p = lt.plaquettes(links)[..., 0, 0]
    inside = math.prod(p.roll((-i, -j), (1, 2)) for i in range(a) for j in range(b))
    assert torch.allclose(lt.wilson_loops(links, a, b)[..., 0, 0], inside, atol=1e-12)


def test_a_loop_around_the_whole_torus_in_both_directions_is_trivial_for_u1():
    links = lt.random_links(2, 4, "U(1)", gen(5))
    product = lt.plaquettes(links)[..., 0, 0].prod(-1).prod(-1)
    assert torch.allclose(product, torch.ones_like(product), atol=1e-12)


def test_topological_charge_is_an_integer_and_gauge_invariant():
    g = gen(6)
    links = lt.random_links(20, 8, "U(1)", g)
    q = lt.topological_charge(links)
    assert torch.allclose(q, q.round(), atol=1e-9) and q.abs().max() >= 1
    moved = lt.gauge_transform(links, lt.random_gauge(20, 8, "U(1)", g))
    assert torch.allclose(lt.topological_charge(moved), q, atol=1e-9)
    cold = lt.u1_links(torch.zeros(1, 2, 8, 8))
    assert float(lt.topological_charge(cold)[0]) == 0.0


@pytest.mark.parametrize("group", GROUPS)
def test_maximal_tree_gauge_sets_the_tree_to_one_and_keeps_the_loops(group):
    links = lt.random_links(3, 5, group, gen(7))
    fixed = lt.gauge_transform(links, lt.maximal_tree_gauge(links))
    eye = torch.eye(links.shape[-1], dtype=links.dtype)
    assert (fixed[:, 0, :-1] - eye).abs().max() < 1e-12   # U_0 except the last column
    assert (fixed[:, 1, 0, :-1] - eye).abs().max() < 1e-12  # U_1 up the first column
    assert (fixed[:, 0, -1] - eye).abs().max() > 0.5       # the rest still carries the field
    assert torch.allclose(lt.re_trace(lt.wilson_loops(fixed, 2, 3)), lt.re_trace(lt.wilson_loops(links, 2, 3)),
                          atol=1e-12)


@pytest.mark.parametrize("group", GROUPS)
def test_staples_give_the_change_of_the_action_when_one_link_changes(group):
    g = gen(8)
    links, beta = lt.random_links(1, 4, group, g), 1.7
    for mu in (0, 1):
        changed = links.clone()
        changed[0, mu, 1, 2] = lt.random_elements((), group, g)
        a = lt.staples(links, mu)[0, 1, 2]
        predicted = -beta * (lt.re_trace(changed[0, mu, 1, 2] @ a) - lt.re_trace(links[0, mu, 1, 2] @ a))
        actual = lt.wilson_action(changed, beta) - lt.wilson_action(links, beta)
        assert abs(float(actual[0]) - float(predicted)) < 1e-12


def test_exact_average_plaquette_limits():
    assert lt.exact_average_plaquette(0.0) == 0.0
    assert abs(lt.exact_average_plaquette(1.3, volume=1) - 1.0) < 1e-12  # a 1×1 torus: P = 1 always
    infinite = lt.exact_average_plaquette(1.0)
    assert abs(infinite - 0.4464) < 1e-4  # I_1(1)/I_0(1)
    gaps = [abs(lt.exact_average_plaquette(1.0, volume=v) - infinite) for v in (4, 9, 16)]
    assert gaps[0] > gaps[1] > gaps[2] > 0
    assert abs(lt.exact_average_plaquette(2.0, "SU(2)") - 0.4331) < 1e-4  # I_2(2)/I_1(2)


@pytest.mark.parametrize("beta", [1.0, 3.0])
def test_metropolis_reproduces_the_exact_u1_average_plaquette(one_thread, beta):
    g = gen(9)
    links, acceptance = lt.metropolis(lt.random_links(64, 8, "U(1)", g), beta, 50, generator=g)
    p = lt.average_plaquette(links)
    error = float(p.std()) / math.sqrt(len(p))
    assert 0.3 < acceptance < 0.95
    assert abs(float(p.mean()) - lt.exact_average_plaquette(beta, volume=64)) < 4 * error


def test_metropolis_reproduces_the_exact_su2_average_plaquette(one_thread):
    g = gen(10)
    links, _ = lt.metropolis(lt.random_links(24, 6, "SU(2)", g), 2.0, 40, step=0.8, generator=g)
    p = lt.average_plaquette(links)
    assert abs(float(p.mean()) - lt.exact_average_plaquette(2.0, "SU(2)")) < 4 * float(p.std()) / math.sqrt(24)
    eye = torch.eye(2, dtype=links.dtype)
    assert torch.allclose(links @ lt.dagger(links), eye.expand_as(links), atol=1e-10)  # still in SU(2)


def test_metropolis_is_seeded_and_does_not_touch_its_input():
    links = lt.random_links(2, 4, "U(1)", gen(11))
    copy = links.clone()
    a, _ = lt.metropolis(links, 1.0, 3, generator=gen(12))
    b, _ = lt.metropolis(links, 1.0, 3, generator=gen(12))
    assert torch.equal(a, b) and torch.equal(links, copy) and not torch.equal(a, links)


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="group is one of"):
        lt.random_links(1, 4, "SU(3)")
    with pytest.raises(ValueError, match=r"\(B, 2, L, L, N, N\)"):
        lt.plaquettes(torch.zeros(1, 3, 4, 4, 1, 1, dtype=torch.complex128))
    with pytest.raises(ValueError, match="even lattice size"):
        lt.metropolis(lt.random_links(1, 5), 1.0, 1)
    with pytest.raises(ValueError, match="omega"):
        lt.gauge_transform(lt.random_links(1, 4), lt.random_gauge(1, 5))
    with pytest.raises(ValueError, match="U\\(1\\)"):
        lt.topological_charge(lt.random_links(1, 4, "SU(2)"))


def test_instantons_carry_their_charge_in_equal_plaquettes():
    charges = torch.tensor([-3.0, 0.0, 1.0, 5.0])
    links = lt.instantons(charges, 6)
    assert torch.equal(lt.topological_charge(links).round(), charges.double())
    assert (lt.topological_charge(links) - charges).abs().max() < 1e-12
    angles = lt.plaquettes(links)[..., 0, 0].angle()
    assert torch.allclose(angles, (2 * math.pi * charges / 36).double()[:, None, None].expand_as(angles), atol=1e-12)
    with pytest.raises(ValueError, match="L²/2 = 18"):
        lt.instantons(torch.tensor([18.0]), 6)
