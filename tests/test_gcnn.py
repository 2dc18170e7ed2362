"""Tests of course_lib.gcnn (from-scratch p4/p4m layers) and course_lib.steerable (escnn helpers)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from course_lib import data, gcnn, groups
from course_lib.equivariance import equivariance_error, invariance_error
from course_lib.steerable import (EquivariantNet, FourierCNN, SteerableCNN, enn, escnn_equivariance_error,
                                  field_types, rotation_gspace, steerable_conv)

GROUPS = ["p4", "p4m"]
TOL = 1e-5  # relative error in float32


def image_action(group):
    return lambda g, x: gcnn.act_on_image(g, x, group)


def maps_action(group):
    return lambda g, f: gcnn.act_on_group_maps(g, f, group)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.mark.parametrize("group", GROUPS)
def test_actions_compose_like_the_group(group):
    G = gcnn.point_group(group)
    x, f = torch.randn(2, 7, 7), torch.randn(3, G.order, 6, 6)
    for a in G.elements():
        for b in G.elements():
            ab = G.compose(a, b)
            assert torch.equal(gcnn.act_on_image(a, gcnn.act_on_image(b, x, group), group), gcnn.act_on_image(ab, x, group))
            assert torch.equal(gcnn.act_on_group_maps(a, gcnn.act_on_group_maps(b, f, group), group),
                               gcnn.act_on_group_maps(ab, f, group))


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize("size,kernel,padding", [(9, 3, 1), (10, 4, 0), (8, 5, 2)])
def test_lifting_conv_is_equivariant(group, size, kernel, padding):
    lift = gcnn.LiftingConv(2, 3, kernel, padding=padding, group=group)
    x = torch.randn(4, 2, size, size)
    err = equivariance_error(lift, image_action(group), maps_action(group), x, gcnn.point_group(group).elements())
    assert err < TOL


@pytest.mark.parametrize("group", GROUPS)
def test_group_conv_is_equivariant(group):
    conv = gcnn.GroupConv(3, 2, 3, padding=1, group=group)
    order = gcnn.point_group(group).order
    f = torch.randn(2, 3, order, 8, 8)
    err = equivariance_error(conv, maps_action(group), maps_action(group), f, gcnn.point_group(group).elements())
    assert err < TOL


def test_lifting_conv_matches_one_convolution_per_rotation():
    lift = gcnn.LiftingConv(2, 3, 3, padding=1)
    x = torch.randn(2, 2, 7, 7)
    planes = [F.conv2d(x, torch.rot90(lift.weight, k, dims=(-2, -1)), lift.bias, padding=1) for k in range(4)]
    torch.testing.assert_close(lift(x), torch.stack(planes, dim=2))


def test_group_conv_matches_the_sum_over_the_group():
    """[F ⋆ Ψ](h) = Σ_k F(k) ⋆ rot_h Ψ(k - h), written out with loops for C4."""
    conv = gcnn.GroupConv(2, 3, 3, padding=1, bias=False)
    f = torch.randn(2, 2, 4, 6, 6)
    expected = torch.stack([
        sum(F.conv2d(f[:, :, k], torch.rot90(conv.weight[:, :, (k - h) % 4], h, dims=(-2, -1)), padding=1)
            for k in range(4))
        for h in range(4)], dim=2)
    torch.testing.assert_close(conv(f), expected)


def test_group_conv_gradients_are_right():
    conv = gcnn.GroupConv(1, 2, 3, padding=1).double()
    f = torch.randn(1, 1, 4, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda f, w: F.conv2d(f.flatten(1, 2), gcnn.group_filter_bank(w).flatten(2, 3)
                                                          .flatten(0, 1), padding=1), (f, conv.weight))


def test_filter_banks_start_with_the_filter_itself():
    w = torch.randn(3, 2, 5, 5)
    bank = gcnn.lifting_filter_bank(w, "p4m")
    assert bank.shape == (3, 8, 2, 5, 5) and torch.equal(bank[:, 0], w)
    assert torch.equal(bank[:, 1], torch.rot90(w, 1, dims=(-2, -1)))
    wg = torch.randn(3, 2, 4, 3, 3)
    assert gcnn.group_filter_bank(wg).shape == (3, 4, 2, 4, 3, 3)


@pytest.mark.parametrize("group", GROUPS)
def test_group_pool_turns_group_maps_into_images(group):
    order = gcnn.point_group(group).order
    f = torch.randn(2, 3, order, 6, 6)
    for reduce in ("max", "mean"):
        err = equivariance_error(lambda t: gcnn.group_pool(t, reduce), maps_action(group), image_action(group), f,
                                 gcnn.point_group(group).elements())
        assert err < TOL


@pytest.mark.parametrize("group", GROUPS)
def test_group_cnn_is_invariant_and_plain_cnn_is_not(group):
    x = torch.randn(3, 1, 24, 24)
    model = gcnn.GroupCNN((2, 3, 4), group=group).eval()
    assert invariance_error(model, image_action(group), x, gcnn.point_group(group).elements()) < TOL
    plain = gcnn.PlainCNN(24, (4, 8), 16).eval()
    assert invariance_error(plain, image_action(group), x, gcnn.point_group(group).elements()) > 1e-2


def test_wrong_inputs_raise_value_errors():
    with pytest.raises(ValueError, match="p4"):
        gcnn.point_group("p6")
    with pytest.raises(ValueError, match=r"\(B, 2, H, W\)"):
        gcnn.LiftingConv(2, 3, 3)(torch.randn(1, 3, 8, 8))
    with pytest.raises(ValueError, match=r"\(B, 2, 4, H, W\)"):
        gcnn.GroupConv(2, 3, 3)(torch.randn(1, 2, 8, 8, 8))
    with pytest.raises(ValueError, match="multiples of 2"):
        gcnn.spatial_max_pool(torch.randn(1, 2, 4, 7, 7))
    with pytest.raises(ValueError, match="group maps"):
        gcnn.group_pool(torch.randn(1, 2, 8, 8))
    with pytest.raises(ValueError, match="square"):
        gcnn.act_on_image(1, torch.randn(2, 3, 4))
    with pytest.raises(ValueError, match="kernel_size"):
        gcnn.GroupConv(2, 3, 0)
    with pytest.raises(ValueError, match="reduce"):
        gcnn.group_pool(torch.randn(1, 2, 4, 4, 4), "sum")


def test_rotate_images_agrees_with_rot90_and_keeps_digits_whole():
    x = torch.randn(3, 2, 10, 10)
    for k in range(4):
        torch.testing.assert_close(data.rotate_images(x, k * math.pi / 2), torch.rot90(x, k, dims=(-2, -1)),
                                   atol=1e-5, rtol=0)
    digits, labels = data.padded_digits(24, 16)
    assert digits.shape == (1797, 1, 24, 24) and labels.shape == (1797,)
    angles = torch.rand(len(digits)) * 2 * math.pi
    rotated = data.rotate_images(digits, angles)
    mass_ratio = rotated.sum(dim=(1, 2, 3)) / digits.sum(dim=(1, 2, 3))
    assert (mass_ratio - 1).abs().max() < 0.05  # bilinear interpolation moves a little mass, clipping would lose more
    with pytest.raises(ValueError, match="square"):
        data.rotate_images(torch.randn(2, 1, 8, 9), 0.3)


def test_rotation_sweep_is_small_at_right_angles_only_and_counts_changed_classes():
    model = gcnn.GroupCNN((2, 3, 4)).eval()
    change, _ = gcnn.rotation_sweep(model, torch.rand(4, 1, 24, 24), torch.tensor([0.0, math.pi / 2, math.pi / 5]))
    assert change[0] < 1e-4 and change[1] < 1e-4 and change[2] > 1e-3
    x = torch.rand(6, 1, 8, 8)
    top_heavy = lambda t: torch.stack([t[..., :4, :].sum((-1, -2, -3)), t[..., 4:, :].sum((-1, -2, -3))], -1)  # noqa: E731
    _, changed = gcnn.rotation_sweep(top_heavy, x, torch.tensor([0.0, math.pi]))
    expected = (top_heavy(x).argmax(-1) != top_heavy(torch.rot90(x, 2, dims=(-2, -1))).argmax(-1)).float().mean()
    assert changed[0] == 0 and torch.isclose(changed[1], expected, atol=1e-6)
    with pytest.raises(ValueError, match="1-d"):
        gcnn.rotation_sweep(top_heavy, x, torch.zeros(2, 2))


def test_p1_group_cnn_is_a_plain_cnn_with_the_pooled_head():
    model = gcnn.GroupCNN((2, 3, 4), group="p1").eval()
    assert model.lift.filter_bank().shape == (2, 1, 5, 5)  # one plane: ordinary convolutions
    x = torch.randn(3, 1, 16, 16)
    assert invariance_error(model, image_action("p4"), x, range(4)) > 1e-2


def test_random_rotations_rotate_each_image_by_its_own_angle():
    x = data.padded_digits(16, 11)[0][:8]
    rotated = gcnn.random_rotations(x, torch.Generator().manual_seed(0))
    angles = 2 * math.pi * torch.rand(8, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(rotated, data.rotate_images(x, angles))
    assert not torch.allclose(rotated, x, atol=1e-2)


def test_channels_for_parameters_picks_the_closest_count():
    make = lambda channels: gcnn.GroupCNN(channels)  # noqa: E731
    target = gcnn.n_parameters(gcnn.GroupCNN((3, 5, 5)))
    assert gcnn.channels_for_parameters(make, target, [(1, 2, 2), (3, 5, 5), (8, 8, 8)]) == (3, 5, 5)
    with pytest.raises(ValueError, match="candidate"):
        gcnn.channels_for_parameters(make, target, [])


def test_steerable_cnn_pooled_head_is_invariant_flattened_head_is_not():
    x = torch.randn(2, 1, 16, 16)
    rot = lambda k, t: torch.rot90(t, k, dims=(-2, -1))  # noqa: E731
    pooled = SteerableCNN(4, channels=(2, 2, 2), size=16).eval()
    assert invariance_error(pooled, rot, x, range(4)) < TOL
    flattened = SteerableCNN(4, channels=(2, 2, 2), size=16, head="flatten").eval()
    assert invariance_error(flattened, rot, x, range(4)) > 1e-2
    # escnn's own test: transform the input and the output with GeometricTensor.transform
    assert escnn_equivariance_error(pooled.body, x) < TOL


@pytest.mark.parametrize("options", [dict(N=8, kernels=(7, 5, 5)), dict(N=8, quotient=True),
                                     dict(N=16, groups=(16, 8, 4))], ids=["filters", "quotient", "restriction"])
def test_steerable_cnn_options_keep_the_invariance_to_quarter_turns(options):
    x = torch.randn(2, 1, 16, 16)
    rot = lambda k, t: torch.rot90(t, k, dims=(-2, -1))  # noqa: E731
    model = SteerableCNN(channels=(2, 2, 2), size=16, **options).eval()
    assert invariance_error(model, rot, x, range(4)) < TOL
    convs = [m for m in model.modules() if isinstance(m, enn.R2Conv)]
    assert [c.kernel_size for c in convs] == list(options.get("kernels", (5, 5, 3)))
    orders = [c.in_type.gspace.fibergroup.order() for c in convs]
    assert orders == list(options.get("groups", (options["N"],) * 3))
    quotient = [any(r.name.startswith("quotient") for r in c.out_type.representations) for c in convs]
    assert quotient == [options.get("quotient", False)] * 3
    # a field of C8/C2 is a function on the 4 cosets: N/2 channels beside the N of a regular one
    if options.get("quotient"):
        assert convs[0].out_type.size == 2 * 8 + 2 * 4


def test_steerable_cnn_refuses_options_it_cannot_build():
    with pytest.raises(ValueError, match="groups"):
        SteerableCNN(16, groups=(16, 6, 3), size=16)
    with pytest.raises(ValueError, match="groups"):
        SteerableCNN(16, groups=(8, 8, 4), size=16)
    with pytest.raises(ValueError, match="kernels"):
        SteerableCNN(8, kernels=(4, 5, 3), size=16)
    with pytest.raises(ValueError, match="even N"):
        SteerableCNN(5, quotient=True, size=16)
    with pytest.raises(ValueError, match="flips"):
        SteerableCNN(8, flips=True, groups=(8, 4, 4), size=16)


def test_fourier_cnn_is_invariant_to_quarter_turns():
    x = data.padded_digits(size=16, digit_size=11)[0][:4]
    rot = lambda k, t: torch.rot90(t, k, dims=(-2, -1))  # noqa: E731
    model = FourierCNN(channels=(2, 2, 2), L=2, samples=8).eval()
    assert invariance_error(model, rot, x, range(4)) < TOL
    convs = [m for m in model.modules() if isinstance(m, enn.R2Conv)]
    assert convs[1].out_type.size == 2 * (1 + 2 + 2)   # two fields of frequencies 0, 1, 2
    with pytest.raises(ValueError, match="samples"):
        FourierCNN(L=3, samples=6)
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        model(torch.randn(2, 16, 16))


def test_escnn_layer_is_exactly_equivariant_to_right_angles_only():
    gs = rotation_gspace(8)
    in_type, (hidden,), _ = field_types(gs, [3])
    conv = steerable_conv(in_type, hidden, 5, padding=2)
    x = torch.randn(2, 1, 15, 15)
    right_angles = [gs.fibergroup.element(k) for k in (0, 2, 4, 6)]
    assert escnn_equivariance_error(conv, x, right_angles) < TOL
    assert escnn_equivariance_error(conv, x, [gs.fibergroup.element(1)]) > 1e-3


def test_field_types_sizes_and_errors():
    in_type, hidden, invariant = field_types(rotation_gspace(8), [2, 5])
    assert (in_type.size, [h.size for h in hidden], [len(h) for h in hidden], invariant.size) == (1, [16, 40], [2, 5], 5)
    with pytest.raises(ValueError, match="finite group"):
        field_types(rotation_gspace(-1), [2])
    with pytest.raises(ValueError, match="channels"):
        field_types(rotation_gspace(4), [])
    with pytest.raises(ValueError, match="head"):
        SteerableCNN(4, head="linear")
    with pytest.raises(ValueError, match="N is"):
        rotation_gspace(0)


@pytest.mark.parametrize("group", GROUPS)
def test_layers_gather_the_same_filter_bank_as_the_bank_functions(group):
    lift, conv = gcnn.LiftingConv(2, 3, 5, group=group), gcnn.GroupConv(2, 3, 3, group=group)
    assert torch.equal(lift.filter_bank(), gcnn.lifting_filter_bank(lift.weight, group).flatten(0, 1))
    assert torch.equal(conv.filter_bank(), gcnn.group_filter_bank(conv.weight, group).flatten(2, 3).flatten(0, 1))


def _field_types_all_trivial(gs, channels):
    trivial = lambda n: enn.FieldType(gs, n * [gs.trivial_repr])  # noqa: E731
    return trivial(1), [trivial(c) for c in channels], trivial(channels[-1])


NEAR_MISSES = {
    "gcnn.lifting_bank": lambda w: torch.stack([torch.rot90(w, -r, dims=(-2, -1)) for r in range(4)], dim=1),
    "gcnn.act_on_group_maps": lambda k, f: torch.rot90(torch.roll(f, -k, dims=-3), k, dims=(-2, -1)),
    "gcnn.c4_invariance_error": lambda model, x: max(float((model(torch.rot90(x, k, dims=(-2, -1))) - model(x)).norm())
                                                     for k in range(4)),
    "gcnn.field_types": _field_types_all_trivial,
}


@pytest.mark.parametrize("name", sorted(NEAR_MISSES))
def test_self_checks_accept_the_reference_and_reject_near_misses(name):
    from course_lib.checks import verify, verify_reference

    assert verify_reference(name).passed
    assert verify(name, NEAR_MISSES[name]).status == "fail"


def test_action_check_wants_a_value_error_for_tensors_that_are_not_group_maps():
    from course_lib.checks import verify

    no_check = lambda k, f: torch.rot90(torch.roll(f, k, dims=-3), k, dims=(-2, -1))  # noqa: E731
    assert verify("gcnn.act_on_group_maps", no_check).status == "fail"
