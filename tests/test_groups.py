"""Group axioms, actions, representations and Lie algebras of course_lib.groups."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib import groups

FINITE = [groups.CyclicGroup(1), groups.CyclicGroup(7), groups.DihedralGroup(3), groups.DihedralGroup(4),
          groups.DihedralGroup(6), groups.SymmetricGroup(3), groups.SymmetricGroup(4),
          groups.PeriodicTranslations((3, 5))]
CONTINUOUS = [groups.Translations(2), groups.SO2(), groups.SO3(), groups.O3(), groups.SU2()]


@pytest.mark.parametrize("group", FINITE + CONTINUOUS, ids=str)
def test_every_group_satisfies_the_axioms(group):
    report = groups.check_group_axioms(group, n_samples=40)
    assert report, report
    assert report.max_error < 1e-12


class Subtraction(groups.CyclicGroup):
    def compose(self, a, b):
        return (a - b) % self.n


class Multiplication(groups.CyclicGroup):
    @property
    def identity(self):
        return 1

    def compose(self, a, b):
        return (a * b) % self.n


def test_axiom_checker_catches_a_non_group():
    report = groups.check_group_axioms(Subtraction(4))
    assert not report
    assert report.closure and not report.associativity and not report.identity
    assert report.inverses  # a − a = 0: each element is its own inverse, whatever `inverse` returns


def test_axiom_checker_tests_that_inverses_exist():
    report = groups.check_group_axioms(Multiplication(4))  # 0 and 2 have no inverse mod 4
    assert report.closure and report.associativity and report.identity and not report.inverses
    assert not groups.check_group_axioms(Multiplication(5)).inverses  # 1..4 are invertible mod 5, 0 is not


class NonClosedSO3(groups.SO3):
    def compose(self, a, b):
        return 1.01 * (a @ b)  # drifts off the group


def test_axiom_checker_catches_missing_closure():
    assert not groups.check_group_axioms(NonClosedSO3(), n_samples=5).closure


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 12), data=st.data())
def test_dihedral_product_matches_its_matrices(n, data):
    group = groups.DihedralGroup(n)
    a = data.draw(st.sampled_from(group.elements()))
    b = data.draw(st.sampled_from(group.elements()))
    lhs = groups.dihedral_matrix(group.compose(a, b), n)
    rhs = groups.dihedral_matrix(a, n) @ groups.dihedral_matrix(b, n)
    assert torch.allclose(lhs, rhs, atol=1e-12)
    assert group.compose(a, group.inverse(a)) == group.identity


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 6), data=st.data())
def test_symmetric_group_acts_on_sets(n, data):
    group = groups.SymmetricGroup(n)
    p = data.draw(st.permutations(range(n)))
    q = data.draw(st.permutations(range(n)))
    x = torch.randn(n, 3)
    composed = groups.permute_set(groups.permute_set(x, q), p)
    assert torch.equal(composed, groups.permute_set(x, group.compose(p, q)))


@pytest.mark.parametrize("group", [groups.CyclicGroup(4), groups.DihedralGroup(4)], ids=str)
def test_image_actions_are_actions(group):
    act = (lambda g, x: groups.rotate_image(x, g)) if isinstance(group, groups.CyclicGroup) else \
        (lambda g, x: groups.dihedral_act_image(x, g))
    x = torch.randn(2, 5, 5)
    for a in group.elements():
        for b in group.elements():
            assert torch.equal(act(a, act(b, x)), act(group.compose(a, b), x))


def test_image_flip_is_the_other_mirror_of_the_matrices():
    """dihedral_act_image's (k, f) moves pixel coordinates by dihedral_matrix((k + 2f) mod 4, f)."""
    size = 7
    c = torch.arange(size, dtype=torch.float64) - (size - 1) / 2  # column -> x, row -> −y
    for g in groups.DihedralGroup(4).elements():
        image = torch.zeros(size, size)
        image[1, 5] = 1.0  # the point (x, y) = (2, 2)
        row, col = divmod(int(groups.dihedral_act_image(image, g).argmax()), size)
        moved = torch.stack([c[col], -c[row]])
        k, f = g
        assert torch.allclose(groups.dihedral_matrix(((k + 2 * f) % 4, f), 4) @ torch.stack([c[5], -c[1]]), moved)
        if f:
            assert not torch.allclose(groups.dihedral_matrix(g, 4) @ torch.stack([c[5], -c[1]]), moved)


def test_translations_of_a_grid_act_by_circular_shifts():
    group = groups.PeriodicTranslations((4, 6))
    x = torch.randn(4, 6)
    for a, b in [((1, 2), (3, 5)), ((0, 1), (2, 0))]:
        assert torch.equal(groups.translate_grid(groups.translate_grid(x, b), a),
                           groups.translate_grid(x, group.compose(a, b)))


@pytest.mark.parametrize("group", [groups.CyclicGroup(3), groups.CyclicGroup(4), groups.DihedralGroup(4),
                                   groups.DihedralGroup(5), groups.SymmetricGroup(3)], ids=str)
def test_regular_representation_is_a_faithful_permutation_representation(group):
    rep = groups.regular_representation(group)
    assert groups.is_representation(rep)
    mats = [rep(g) for g in group.elements()]
    assert all(torch.equal(m.sum(0), torch.ones(group.order)) for m in mats)  # permutation matrices
    assert len({tuple(m.flatten().tolist()) for m in mats}) == group.order  # faithful


@pytest.mark.parametrize("group", [groups.CyclicGroup(5), groups.DihedralGroup(4), groups.DihedralGroup(7)], ids=str)
def test_standard_representation_is_a_representation(group):
    assert groups.is_representation(groups.standard_representation(group))


def test_homomorphism_check_rejects_a_wrong_map():
    d4 = groups.DihedralGroup(4)
    wrong = groups.Representation(d4, lambda g: groups.rotation_2d(math.pi * g[0] / 2), 2)
    assert not groups.is_representation(wrong)
    assert groups.homomorphism_error(wrong, groups.element_pairs(d4)) > 1.0


def test_su2_to_so3_is_a_two_to_one_homomorphism():
    gen = torch.Generator().manual_seed(1)
    u, v = groups.SU2().sample(64, gen), groups.SU2().sample(64, gen)
    r_u, r_v = groups.su2_to_so3(u), groups.su2_to_so3(v)
    assert max(groups.SO3().membership_error(r) for r in r_u) < 1e-12
    assert torch.allclose(groups.su2_to_so3(u @ v), r_u @ r_v, atol=1e-12)
    assert torch.allclose(groups.su2_to_so3(-u), r_u, atol=1e-12)
    # the kernel is {+1, -1}: only ±identity maps to the identity rotation
    identity = torch.eye(3, dtype=torch.float64)
    distance_from_kernel = torch.minimum((u - torch.eye(2)).abs().amax((-2, -1)), (u + torch.eye(2)).abs().amax((-2, -1)))
    maps_to_identity = (r_u - identity).abs().amax((-2, -1)) < 1e-9
    assert not maps_to_identity[distance_from_kernel > 1e-6].any()
    assert torch.allclose(groups.su2_to_so3(-torch.eye(2, dtype=torch.complex128)), identity)


def test_exponential_map_generates_rotations():
    theta = torch.linspace(-3, 3, 7, dtype=torch.float64)
    for t in theta:
        assert torch.allclose(groups.exp_map(t * groups.so2_generator()), groups.rotation_2d(t), atol=1e-12)
    gen = torch.Generator().manual_seed(2)
    for omega in torch.randn(10, 3, generator=gen, dtype=torch.float64):
        r = groups.exp_map(groups.hat(omega))
        assert groups.SO3().membership_error(r) < 1e-12
        assert torch.allclose(r @ omega, omega, atol=1e-12)  # the axis is fixed


def test_rotation_about_turns_x_into_y():
    r = groups.rotation_about(torch.tensor([0.0, 0.0, 3.0]), math.pi / 2)
    assert torch.allclose(r @ torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64),
                          torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64), atol=1e-12)


def test_structure_constants_of_so3_and_su2_are_levi_civita():
    eps = torch.zeros(3, 3, 3, dtype=torch.float64)
    for i, j, k in [(0, 1, 2), (1, 2, 0), (2, 0, 1)]:
        eps[i, j, k], eps[j, i, k] = 1, -1
    assert torch.allclose(groups.structure_constants(groups.so3_generators()), eps, atol=1e-12)
    assert torch.allclose(groups.structure_constants(groups.su2_generators()).real, eps, atol=1e-12)
    l = groups.so3_generators()
    assert torch.allclose(groups.commutator(l[0], l[1]), l[2])


def test_cayley_table_rows_and_columns_are_permutations():
    table = groups.DihedralGroup(4).cayley_table()
    assert all(sorted(row) == list(range(8)) for row in table)
    assert all(sorted(col) == list(range(8)) for col in table.T)
    assert (table != table.T).any()


@pytest.mark.parametrize("call, expected", [
    (lambda: groups.SO3().validate(torch.randn(3, 3, dtype=torch.float64)), "not an element of SO(3)"),
    (lambda: groups.SO3().validate(-torch.eye(3, dtype=torch.float64)), "det A = 1"),
    (lambda: groups.SO3().validate(torch.eye(2, dtype=torch.float64)), "3×3 tensor, got (2, 2)"),
    (lambda: groups.DihedralGroup(0), "the order n of D_n must be an int >= 1, got 0"),
    (lambda: groups.DihedralGroup(2.5), "got 2.5"),
    (lambda: groups.DihedralGroup(4).compose((4, 0), (0, 0)), "k in 0..3"),
    (lambda: groups.CyclicGroup(4).compose(1, 7), "an int k in 0..3"),
    (lambda: groups.SymmetricGroup(3).validate((0, 0, 1)), "a permutation of 0..2"),
    (lambda: groups.SU2().validate(torch.eye(2, dtype=torch.complex128) * 2), "not an element of SU(2)"),
    (lambda: groups.rotate_image(torch.zeros(3, 4), 1), "square images"),
    (lambda: groups.rotation_about(torch.zeros(3), 1.0), "nonzero axis"),
    (lambda: groups.su2_to_so3(torch.zeros(3, 3)), "(..., 2, 2)"),
    (lambda: groups.hat(torch.zeros(4)), "(..., 3)"),
])
def test_bad_input_gets_a_clear_value_error(call, expected):
    with pytest.raises(ValueError, match=None) as info:
        call()
    assert expected in str(info.value)


def homogeneous(t):
    m = torch.eye(len(t) + 1, dtype=torch.float64)
    m[:-1, -1] = t
    return m


@pytest.mark.parametrize("group, rho", [
    (groups.SO2(), lambda r: r),  # the defining representation
    (groups.SO2(), lambda r: r @ r),  # θ ↦ 2θ: a representation because SO(2) is commutative
    (groups.SO3(), lambda r: r),
    (groups.O3(), lambda r: torch.linalg.det(r).reshape(1, 1)),  # the sign (determinant) representation
    (groups.SU2(), groups.su2_to_so3),
    (groups.Translations(3), homogeneous),  # translations as (d+1)×(d+1) affine matrices
], ids=["SO2-defining", "SO2-square", "SO3-defining", "O3-det", "SU2-to-SO3", "T3-affine"])
def test_representations_of_continuous_groups(group, rho):
    assert groups.is_representation(groups.Representation(group, rho, 0), atol=1e-10)


def test_squaring_is_not_a_representation_of_the_non_commutative_so3():
    assert not groups.is_representation(groups.Representation(groups.SO3(), lambda r: r @ r, 3))
