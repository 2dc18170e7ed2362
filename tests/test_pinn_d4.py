"""The D4-symmetric Poisson problem of the chapter "The frontier": its solution, the invariant
features, the fold into the fundamental domain and the mirror edges' samplers."""

import pytest
import torch

from course_lib import pinn

D4 = [lambda p: p, lambda p: p.flip(1), lambda p: p * torch.tensor([-1.0, 1.0]), lambda p: -p,
      lambda p: (p * torch.tensor([1.0, -1.0])).flip(1), lambda p: p * torch.tensor([1.0, -1.0]),
      lambda p: -p.flip(1), lambda p: (p * torch.tensor([-1.0, 1.0])).flip(1)]


def _square(n=50, seed=0):
    return pinn.box_interior(n, *pinn.CENTRED_SQUARE, generator=torch.Generator().manual_seed(seed),
                             dtype=torch.float64)


def test_the_exact_solution_solves_the_problem_and_is_d4_invariant():
    x = _square()
    assert torch.allclose(-pinn.laplacian(pinn.d4_poisson_exact, x), pinn.d4_poisson_source(x), atol=1e-9)
    edge = pinn.box_boundary(40, *pinn.CENTRED_SQUARE, dtype=torch.float64)
    assert float(pinn.d4_poisson_exact(edge).abs().max()) < 1e-12
    assert float(pinn.centred_square_distance(edge).abs().max()) < 1e-12
    for g in D4:
        for f in (pinn.d4_poisson_exact, pinn.d4_poisson_source, pinn.centred_square_distance):
            assert torch.allclose(f(g(x)), f(x), atol=1e-12)


def test_invariant_network_and_fold_are_d4_invariant_and_a_plain_network_is_not():
    x = _square()
    torch.manual_seed(0)
    invariant = pinn.D4Invariant(pinn.MLP(2, 8, 2)).double()
    plain = pinn.MLP(2, 8, 2).double()
    for g in D4:
        assert torch.allclose(invariant(g(x)), invariant(x), atol=1e-12)
        assert torch.equal(pinn.fold_to_fundamental_domain(g(x)), pinn.fold_to_fundamental_domain(x))
    assert not torch.allclose(plain(D4[1](x)), plain(x), atol=1e-3)
    folded = pinn.fold_to_fundamental_domain(x)
    assert bool((folded[:, 1] >= 0).all() and (folded[:, 1] <= folded[:, 0]).all())
    # every point is the image of its fold under one of the eight elements
    assert all(any(torch.allclose(g(f), p) for g in D4) for f, p in zip(folded[:, None], x[:, None]))


def test_fundamental_domain_samplers():
    gen = torch.Generator().manual_seed(1)
    inside = pinn.fundamental_domain_interior(4000, gen, dtype=torch.float64)
    assert bool(((inside[:, 1] >= 0) & (inside[:, 1] <= inside[:, 0]) & (inside[:, 0] <= 1)).all())
    assert abs(float(inside[:, 0].mean()) - 2 / 3) < 0.02  # the triangle's centroid is (2/3, 1/3)
    points, normals = pinn.fundamental_domain_mirrors(4000, gen, dtype=torch.float64)
    on_diagonal = points[:, 0] == points[:, 1]
    assert bool((on_diagonal | (points[:, 1] == 0)).all())
    assert abs(float(on_diagonal.double().mean()) - 2**0.5 / (1 + 2**0.5)) < 0.03
    assert torch.allclose(normals.norm(dim=1), torch.ones(4000, dtype=torch.float64))
    # outward: a step along the normal leaves the triangle
    out = points + 1e-3 * normals
    assert bool(((out[:, 1] < 0) | (out[:, 1] > out[:, 0])).all())
    # a D4-invariant smooth field has no normal derivative on the mirrors
    grad = pinn.gradient(pinn.d4_poisson_exact, points)
    assert float((grad * normals).sum(1).abs().max()) < 1e-9
    with pytest.raises(ValueError):
        pinn.fundamental_domain_mirrors(0)
