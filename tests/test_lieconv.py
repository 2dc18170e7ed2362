"""course_lib.lieconv: SE(2) group laws, a lift that moves with the cloud, a LieTransformer invariant
to rotating and translating the cloud (and a twin without the symmetry that is not), point patterns
that are seeded, and the se2_relative exercise: an answer from scratch passes, near misses fail."""

import math

import pytest
import torch

from course_lib import lieconv as L
from course_lib.checks import verify


def elements(k, seed):
    return L.random_se2(k, torch.Generator().manual_seed(seed)).double()


def test_se2_group_laws():
    a, b, c = elements(10, 0), elements(10, 1), elements(10, 2)
    assert torch.allclose(L.se2_compose(L.se2_compose(a, b), c), L.se2_compose(a, L.se2_compose(b, c)))
    ident = L.se2_compose(a, L.se2_inverse(a))
    assert torch.allclose(ident[:, :2], torch.zeros(10, 2, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(torch.cos(ident[:, 2]), torch.ones(10, dtype=torch.float64))


def test_compose_is_acting_twice():
    a, b = elements(4, 3), elements(4, 4)
    p = torch.randn(4, 5, 2, dtype=torch.float64)
    assert torch.allclose(L.se2_act(L.se2_compose(a, b), p), L.se2_act(a, L.se2_act(b, p)))


def test_lift_moves_with_the_cloud_and_relative_elements_do_not():
    p = torch.randn(3, 6, 2, dtype=torch.float64)
    g = elements(3, 5)
    lifted, lifted_moved = L.lift(p, 4), L.lift(L.se2_act(g, p), 4)
    expected = L.se2_compose(g[:, None].expand(-1, lifted.shape[1], -1), lifted)
    assert torch.allclose(lifted_moved[..., :2], expected[..., :2])
    assert torch.allclose(torch.cos(lifted_moved[..., 2] - expected[..., 2]), torch.ones(3, 24, dtype=torch.float64))
    assert torch.allclose(L.relative_elements(lifted_moved), L.relative_elements(lifted), atol=1e-10)
    assert not torch.allclose(L.absolute_pairs(lifted_moved), L.absolute_pairs(lifted), atol=1e-3)


def test_lietransformer_is_invariant_and_its_twin_is_not():
    x, _ = L.point_patterns(6, seed=1)
    g = elements(6, 6)
    torch.manual_seed(0)
    for relative, invariant in [(True, True), (False, False)]:
        model = L.LieTransformer(4, channels=16, relative=relative).double()
        with torch.no_grad():
            before, after = model(x.double()), model(L.se2_act(g, x.double()))
        err = float((after - before).norm() / before.norm())
        assert (err < 1e-10) if invariant else (err > 1e-3)


def test_centred_twin_ignores_translations_but_not_rotations():
    x, _ = L.point_patterns(6, seed=1)
    x = x.double()
    shifts = elements(6, 7)
    shifts[:, 2] = 0.0  # translations only
    turns = elements(6, 8)
    turns[:, :2] = 0.0  # rotations about the origin only
    torch.manual_seed(0)
    twin = L.LieTransformer(4, channels=16, relative=False, centred=True).double()
    torch.manual_seed(0)
    plain = L.LieTransformer(4, channels=16, relative=False).double()
    assert sum(p.numel() for p in twin.parameters()) == sum(p.numel() for p in plain.parameters())
    with torch.no_grad():
        before = twin(x)
        moved, turned = twin(L.se2_act(shifts, x)), twin(L.se2_act(turns, x))
        plain_moved = plain(L.se2_act(shifts, x))
    assert float((moved - before).norm() / before.norm()) < 1e-12
    assert float((turned - before).norm() / before.norm()) > 1e-3
    assert float((plain_moved - plain(x)).norm() / plain(x).norm()) > 1e-3
    with pytest.raises(ValueError, match="centred"):
        L.LieTransformer(4, relative=True, centred=True)


def test_point_patterns_are_seeded_labelled_and_centred_where_asked():
    x, y = L.point_patterns(40, points=10, seed=2)
    x2, y2 = L.point_patterns(40, points=10, seed=2)
    assert torch.equal(x, x2) and torch.equal(y, y2) and x.shape == (40, 10, 2)
    assert set(y.tolist()) == set(range(len(L.SHAPES)))
    flat, _ = L.point_patterns(40, points=10, seed=2, rotate=False, noise=0.0)
    radius = (flat - flat.mean(1, keepdim=True)).norm(dim=2)
    assert float(radius.max()) < 1.6


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="points"):
        L.lift(torch.zeros(4, 2), 3)
    with pytest.raises(ValueError, match="orientation"):
        L.lift(torch.zeros(1, 4, 2), 0)
    with pytest.raises(ValueError, match="multiple of heads"):
        L.LieSelfAttention(10, heads=4)


def test_lietransformer_learns_the_shapes(one_thread):
    x, y = L.point_patterns(300, points=8, seed=0)
    torch.manual_seed(0)
    model = L.LieTransformer(4, channels=16, layers=1, orientations=2)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(150):
        idx = torch.arange(32 * step, 32 * step + 32) % 300
        loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        accuracy = float((model(x).argmax(1) == y).float().mean())
    assert accuracy > 0.5  # chance is 0.25


# ----- the exercise -----

def _relative(u, v):
    c, s = torch.cos(u[..., 2]), torch.sin(u[..., 2])
    dx, dy = v[..., 0] - u[..., 0], v[..., 1] - u[..., 1]
    return torch.stack([c * dx + s * dy, -s * dx + c * dy, v[..., 2] - u[..., 2]], -1)


def _relative_wrapped(u, v):
    out = _relative(u, v)
    return torch.cat([out[..., :2], torch.remainder(out[..., 2:], 2 * math.pi)], -1)


def _relative_unrotated(u, v):
    return torch.stack([v[..., 0] - u[..., 0], v[..., 1] - u[..., 1], v[..., 2] - u[..., 2]], -1)


def _relative_wrong_way(u, v):  # v u⁻¹ instead of u⁻¹ v
    c, s = torch.cos(u[..., 2]), torch.sin(u[..., 2])
    inverse = torch.stack([-(c * u[..., 0] + s * u[..., 1]), s * u[..., 0] - c * u[..., 1], -u[..., 2]], -1)
    cv, sv = torch.cos(v[..., 2]), torch.sin(v[..., 2])
    return torch.stack([v[..., 0] + cv * inverse[..., 0] - sv * inverse[..., 1],
                        v[..., 1] + sv * inverse[..., 0] + cv * inverse[..., 1], v[..., 2] - u[..., 2]], -1)


def _relative_transposed_rotation(u, v):
    c, s = torch.cos(u[..., 2]), torch.sin(u[..., 2])
    dx, dy = v[..., 0] - u[..., 0], v[..., 1] - u[..., 1]
    return torch.stack([c * dx - s * dy, s * dx + c * dy, v[..., 2] - u[..., 2]], -1)


def test_se2_relative_from_scratch_passes():
    assert verify("lie.se2_relative", _relative).passed
    assert verify("lie.se2_relative", _relative_wrapped).passed  # θ and θ + 2π are the same element


@pytest.mark.parametrize("wrong", [_relative_unrotated, _relative_wrong_way, _relative_transposed_rotation])
def test_se2_relative_near_misses_fail(wrong):
    assert verify("lie.se2_relative", wrong).status == "fail"


def test_se2_relative_calling_the_library_fails():
    assert verify("lie.se2_relative", lambda u, v: L.se2_compose(L.se2_inverse(u), v)).status == "fail"
