"""course_lib.gauge: parallel transport and the L-CNN layers are gauge equivariant for U(1) and SU(2),
the L-CNN is gauge invariant and translation equivariant, a plain CNN is not gauge invariant, and the
chapter's exercises accept their references and reject near misses."""

import math

import pytest
import torch
from torch import nn

from course_lib import lattice as lt
from course_lib.checks import verify, verify_reference
from course_lib.checks.gauge import EXERCISES
from course_lib.gauge import (LBilinear, LCNN, LConv, LConvBilinear, PlainCNN, PlaquetteCNN, link_features,
                              plaquette_features, random_gauge_copy, trace_features, transport)
from course_lib.train import fit

GROUPS = ["U(1)", "SU(2)"]


def config(group, seed=0, batch=2, size=5, channels=3):
    """Links, a gauge transformation and a random loop-like feature field W (B, C, L, L, N, N)."""
    g = torch.Generator().manual_seed(seed)
    links, omega = lt.random_links(batch, size, group, g), lt.random_gauge(batch, size, group, g)
    n = links.shape[-1]
    w = torch.randn(batch, channels, size, size, n, n, 2, generator=g, dtype=torch.float64)
    return links, omega, torch.view_as_complex(w)


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize("mu, steps", [(0, 1), (1, 2), (0, -1), (1, -3), (0, 0)])
def test_transport_is_gauge_equivariant(group, mu, steps):
    links, omega, w = config(group)
    moved = transport(lt.gauge_transform(links, omega), lt.gauge_transform_sites(w, omega), mu, steps)
    assert torch.allclose(moved, lt.gauge_transform_sites(transport(links, w, mu, steps), omega), atol=1e-12)


def test_transporting_plaquettes_in_u1_is_shifting_them_and_in_su2_it_is_not():
    for group, same in (("U(1)", True), ("SU(2)", False)):
        links, _, w = config(group)
        assert torch.allclose(transport(links, w, 1, 2), lt.shift(w, 1, 2), atol=1e-12) == same


def test_transport_there_and_back_is_the_identity():
    links, _, w = config("SU(2)")
    assert torch.allclose(transport(links, transport(links, w, 0, -1), 0, 1), w, atol=1e-12)


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize("layer", ["conv", "bilinear", "conv-bilinear"])
def test_lcnn_layers_are_gauge_equivariant(group, layer):
    torch.manual_seed(0)
    links, omega, w = config(group)
    module = {"conv": LConv(3, 4, 2), "bilinear": LBilinear(3, 3, 4), "conv-bilinear": LConvBilinear(3, 4, 1)}[layer]
    module.double()

    def apply(u, v):
        return module(v, v) if layer == "bilinear" else module(u, v)

    out = apply(links, w)
    moved = apply(lt.gauge_transform(links, omega), lt.gauge_transform_sites(w, omega))
    assert out.shape == (2, 4, 5, 5, *w.shape[-2:])
    assert torch.allclose(moved, lt.gauge_transform_sites(out, omega), atol=1e-10)
    if group == "SU(2)":  # equivariant, not invariant: the features do change
        assert (moved - out).abs().max() > 0.1


@pytest.mark.parametrize("group", GROUPS)
def test_lcnn_is_gauge_invariant_and_the_plain_cnn_is_not(group):
    torch.manual_seed(1)
    links, omega, _ = config(group, batch=3, size=6)
    moved = lt.gauge_transform(links, omega)
    lcnn, cnn = LCNN((3, 3), (1, 2)), PlainCNN(links.shape[-1])
    out = lcnn(links.to(torch.complex64))
    assert out.shape == (3, 6, 6) and out.std() > 1e-3
    assert (lcnn(moved.to(torch.complex64)) - out).abs().max() < 1e-4 * (1 + out.abs().max())
    assert (cnn(moved.to(torch.complex64)) - cnn(links.to(torch.complex64))).abs().max() > 1e-2


@pytest.mark.parametrize("group", GROUPS)
def test_the_plaquette_cnn_is_gauge_invariant_because_its_inputs_are(group):
    torch.manual_seed(3)
    links, omega, _ = config(group, batch=3, size=6)
    moved = lt.gauge_transform(links, omega)
    n = links.shape[-1]
    plaq, cnn = PlaquetteCNN(n), PlainCNN(n)
    out = plaq(links.to(torch.complex64))
    assert out.shape == (3, 6, 6) and out.std() > 1e-3
    assert (plaq(moved.to(torch.complex64)) - out).abs().max() < 1e-5 * (1 + out.abs().max())
    # the same body on the links is not: the invariance comes from the inputs alone
    assert (cnn(moved.to(torch.complex64)) - cnn(links.to(torch.complex64))).abs().max() > 1e-2
    assert sum(p.numel() for p in plaq.body[1:].parameters()) == sum(p.numel() for p in cnn.body[1:].parameters())


def test_plaquette_features_are_the_cosines_and_sines_of_the_plaquette_angles():
    theta = torch.rand(2, 2, 4, 4, generator=torch.Generator().manual_seed(6), dtype=torch.float64) * 6.3
    angle = theta[:, 0] + theta[:, 1].roll(-1, 1) - theta[:, 0].roll(-1, 2) - theta[:, 1]
    features = plaquette_features(lt.u1_links(theta))
    assert features.shape == (2, 2, 4, 4)
    assert torch.allclose(features, torch.stack([angle.cos(), angle.sin()], 1).float(), atol=1e-6)
    su2 = lt.random_links(2, 4, "SU(2)", torch.Generator().manual_seed(7))
    assert torch.allclose(plaquette_features(su2)[:, 0].double(), lt.re_trace(lt.plaquettes(su2)), atol=1e-6)
    assert plaquette_features(su2)[:, 1].abs().max() < 1e-6  # the trace of an SU(2) matrix is real


@pytest.mark.parametrize("group", GROUPS)
def test_random_gauge_copy_moves_the_links_keeps_the_loops_and_follows_the_generator(group):
    links = lt.random_links(3, 5, group, torch.Generator().manual_seed(8)).to(torch.complex64)
    moved = random_gauge_copy(links, torch.Generator().manual_seed(9))
    assert moved.dtype == links.dtype and moved.shape == links.shape
    assert (moved - links).abs().max() > 0.5
    assert torch.allclose(lt.re_trace(lt.wilson_loops(moved, 2, 2)), lt.re_trace(lt.wilson_loops(links, 2, 2)),
                          atol=1e-5)
    assert torch.equal(moved, random_gauge_copy(links, torch.Generator().manual_seed(9)))
    assert not torch.equal(moved, random_gauge_copy(links, torch.Generator().manual_seed(10)))


def test_lcnn_is_translation_equivariant():
    torch.manual_seed(2)
    links = lt.random_links(2, 6, "SU(2)", torch.Generator().manual_seed(3)).to(torch.complex64)
    lcnn = LCNN((2,), (1,))
    rolled = links.roll((2, -1), (2, 3))
    assert torch.allclose(lcnn(rolled), lcnn(links).roll((2, -1), (1, 2)), atol=1e-5)


def test_features_of_u1_links_are_cosines_and_sines_and_traces_are_per_channel():
    theta = torch.rand(2, 2, 4, 4, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    features = link_features(lt.u1_links(theta))
    assert features.shape == (2, 4, 4, 4)
    assert torch.allclose(features, torch.cat([theta.cos(), theta.sin()], 1).float(), atol=1e-6)
    _, _, w = config("SU(2)")
    t = trace_features(w)
    assert t.shape == (2, 6, 5, 5)
    assert torch.allclose(t[:, :3].double(), lt.re_trace(w), atol=1e-6)


def test_lcnn_learns_the_2x2_wilson_loop(one_thread):
    g = torch.Generator().manual_seed(5)
    links = lt.random_links(200, 6, "U(1)", g)
    y = lt.re_trace(lt.wilson_loops(links, 2, 2)).float()
    torch.manual_seed(0)
    model = LCNN((4, 4), (1, 1))
    fit(model, links.to(torch.complex64), y, loss_fn=nn.functional.mse_loss, steps=400, batch_size=32,
        lr=1e-2, seed=0)
    with torch.no_grad():
        mse = float(((model(links.to(torch.complex64)) - y) ** 2).mean())
    assert mse < 0.1 * float(y.var())


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="one kernel size per layer"):
        LCNN((2, 2), (1,))
    with pytest.raises(ValueError, match="kernel_size"):
        LConv(2, 2, -1)
    with pytest.raises(ValueError, match=r"\(B, 2, L, L, N, N\)"):
        LCNN()(torch.zeros(1, 2, 4, 5, 1, 1, dtype=torch.complex64))


# ----- the exercises: the references pass, plausible mistakes fail -----

def _angle(theta):
    return theta[0] + theta[1].roll(-1, 0) - theta[0].roll(-1, 1) - theta[1]


def _plaquette(theta):
    angle = _angle(theta)
    return torch.polar(torch.ones_like(angle), angle)


def _gauge(links, omega):
    return torch.stack([omega @ links[mu] @ omega.roll(-1, mu).mH for mu in (0, 1)])


def _charge(theta):
    return torch.remainder(_angle(theta) + math.pi, 2 * math.pi).sub(math.pi).sum() / (2 * math.pi)


@pytest.mark.parametrize("short, right", [
    ("plaquette", _plaquette), ("gauge_transform", _gauge), ("wilson_loop", lambda t, a, b: _loop_from_plaquettes(t, a, b)),
    ("topological_charge", _charge),
], ids=["plaquette", "gauge_transform", "wilson_loop_by_stokes", "topological_charge"])
def test_right_answers_written_from_scratch_pass(short, right):
    assert EXERCISES[short].cases()  # the exercise exists
    assert verify(f"gauge.{short}", right).passed


def _plaquette_backwards_shift(theta):
    angle = theta[0] + theta[1].roll(1, 0) - theta[0].roll(1, 1) - theta[1]
    return torch.polar(torch.ones_like(angle), angle)


def _plaquette_reversed(theta):
    return torch.polar(torch.ones_like(theta[0]), -_angle(theta))


def _plaquette_swapped_shifts(theta):
    angle = theta[0] + theta[1].roll(-1, 1) - theta[0].roll(-1, 0) - theta[1]
    return torch.polar(torch.ones_like(angle), angle)


def _plaquette_real_part(theta):
    return torch.cos(_angle(theta)).to(torch.complex128)


def _gauge_previous_site(links, omega):
    return torch.stack([omega @ links[mu] @ omega.roll(1, mu).mH for mu in (0, 1)])


def _gauge_transpose_not_dagger(links, omega):
    return torch.stack([omega @ links[mu] @ omega.roll(-1, mu).mT for mu in (0, 1)])


def _gauge_inverse_on_the_left(links, omega):
    return torch.stack([omega.mH @ links[mu] @ omega.roll(-1, mu) for mu in (0, 1)])


def _gauge_wrong_order(links, omega):
    return torch.stack([links[mu] @ omega @ omega.roll(-1, mu).mH for mu in (0, 1)])


def _loop_from_plaquettes(theta, a, b, swap=False, shrink=0):
    p = _angle(theta)
    a, b = (b, a) if swap else (a, b)
    angle = sum(p.roll((-i, -j), (0, 1)) for i in range(max(a - shrink, 1)) for j in range(b))
    return torch.polar(torch.ones_like(angle), angle)


def _loop_swapped(theta, a, b):
    return _loop_from_plaquettes(theta, a, b, swap=True)


def _loop_one_short(theta, a, b):
    return _loop_from_plaquettes(theta, a, b, shrink=1)


def _loop_reversed(theta, a, b):
    return _loop_from_plaquettes(theta, a, b).conj()


def _charge_unwrapped(theta):
    return _angle(theta).sum() / (2 * math.pi)


def _charge_wrapped_to_0_2pi(theta):
    return _angle(theta).remainder(2 * math.pi).sum() / (2 * math.pi)


def _charge_not_divided(theta):
    return torch.remainder(_angle(theta) + math.pi, 2 * math.pi).sub(math.pi).sum()


@pytest.mark.parametrize("short, wrong", [
    ("plaquette", _plaquette_backwards_shift), ("plaquette", _plaquette_reversed),
    ("plaquette", _plaquette_swapped_shifts), ("plaquette", _plaquette_real_part),
    ("gauge_transform", _gauge_previous_site), ("gauge_transform", _gauge_transpose_not_dagger),
    ("gauge_transform", _gauge_inverse_on_the_left), ("gauge_transform", _gauge_wrong_order),
    ("wilson_loop", _loop_swapped), ("wilson_loop", _loop_one_short), ("wilson_loop", _loop_reversed),
    ("topological_charge", _charge_unwrapped), ("topological_charge", _charge_wrapped_to_0_2pi),
    ("topological_charge", _charge_not_divided),
], ids=lambda v: getattr(v, "__name__", v))
def test_plausible_mistakes_fail(short, wrong):
    assert verify(f"gauge.{short}", wrong).status == "fail"


@pytest.mark.parametrize("short", sorted(EXERCISES))
def test_reference_passes(short):
    assert verify_reference(f"gauge.{short}").passed


@pytest.mark.parametrize("short, library", [
    ("plaquette", lambda t: lt.plaquettes(lt.u1_links(t[None]))[0, ..., 0, 0]),
    ("plaquette", lambda t: lt.wilson_loops(lt.u1_links(t[None]), 1, 1)[0, ..., 0, 0]),
    ("gauge_transform", lambda u, o: lt.gauge_transform(u[None], o[None])[0]),
    ("wilson_loop", lambda t, a, b: lt.wilson_loops(lt.u1_links(t[None]), a, b)[0, ..., 0, 0]),
    ("topological_charge", lambda t: lt.topological_charge(lt.u1_links(t[None]))[0]),
], ids=["plaquettes", "wilson_loops_1x1", "gauge_transform", "wilson_loops", "topological_charge"])
def test_the_library_answer_is_not_accepted(short, library):
    assert verify(f"gauge.{short}", library).status == "fail"


def test_stokes_with_the_library_plaquettes_is_allowed():
    def loop(theta, a, b):
        p = lt.plaquettes(lt.u1_links(theta[None]))[0, ..., 0, 0]
        return math.prod(p.roll((-i, -j), (0, 1)) for i in range(a) for j in range(b))
    assert verify("gauge.wilson_loop", loop).passed
