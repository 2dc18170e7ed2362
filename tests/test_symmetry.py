"""course_lib.symmetry and the chapter's exercises: symmetries found by measurement, and checks that can fail."""

import math

import pytest
import torch

from course_lib import mechanics, pinn, symmetry as s
from course_lib.checks import verify, verify_reference
from course_lib.checks.symmetry import EXERCISES
from course_lib.groups import DihedralGroup, rotation_2d, translate_grid

F64 = torch.float64


def test_square_has_exactly_the_eight_symmetries_of_d4():
    square = s.square_image(24)
    candidates = {**s.d4_transformations(), "shift": lambda x: translate_grid(x, (0, 2)),
                  "shear": lambda x: s.shear_image(x, 0.5)}
    change = s.change_under(square, candidates)
    assert [name for name, c in change.items() if c < 1e-12] == list(s.d4_transformations())
    assert change["shift"] > 0.1 and change["shear"] > 0.1
    assert s.d4_symmetry_mask(square).all()


def test_rectangle_and_random_pattern_have_fewer_symmetries():
    rectangle = torch.zeros(8, 8, dtype=F64)
    rectangle[3:5, 1:7] = 1
    assert s.d4_symmetry_mask(rectangle).tolist() == [True, False, True, False, True, False, True, False]
    noise = torch.rand(8, 8, generator=torch.Generator().manual_seed(0))
    assert s.d4_symmetry_mask(noise).tolist() == [True] + [False] * 7


def test_symmetries_of_a_pattern_form_a_group():
    rectangle = torch.zeros(8, 8, dtype=F64)
    rectangle[2:6, 1:7] = 1
    d4 = DihedralGroup(4)
    kept = [g for g, ok in zip(d4.elements(), s.d4_symmetry_mask(rectangle)) if ok]
    assert all(d4.compose(a, b) in kept for a in kept for b in kept)


def test_disk_is_nearly_rotation_invariant_and_square_is_not():
    angles = torch.linspace(0, math.pi / 2, 7, dtype=F64)
    disk = s.rotation_change(s.disk_image(48), angles)
    square = s.rotation_change(s.square_image(48), angles)
    assert disk.max() < 0.03
    assert square[3] > 0.3 and square[-1] < 1e-6  # 45° moves the corners, 90° does not
    assert s.rotation_change(s.disk_image(96), angles).max() < disk.max()  # finer grid, closer to a circle


def test_rotated_and_translated_harmonic_function_is_still_harmonic():
    def harmonic(x):  # Re (x + iy)^3
        return x[:, 0] ** 3 - 3 * x[:, 0] * x[:, 1] ** 2

    r, shift = rotation_2d(0.9), torch.tensor([0.4, -1.3], dtype=F64)
    pts = torch.randn(20, 2, dtype=F64, generator=torch.Generator().manual_seed(0))
    moved = lambda x: harmonic((x - shift) @ r)  # u(R^-1 (x - t))
    assert pinn.laplacian(harmonic, pts).abs().max() < 1e-10
    assert pinn.laplacian(moved, pts).abs().max() < 1e-10


def test_anisotropic_equation_is_not_rotation_invariant():
    def residual(u, x):  # u_xx + 2 u_yy
        return pinn.derivatives(u, x, second=[0, 1]).second @ torch.tensor([1.0, 2.0], dtype=F64)

    solution = lambda x: x[:, 0] ** 2 - 0.5 * x[:, 1] ** 2
    r = rotation_2d(math.pi / 4)
    pts = torch.randn(10, 2, dtype=F64, generator=torch.Generator().manual_seed(1))
    assert residual(solution, pts).abs().max() < 1e-10
    assert residual(lambda x: solution(x @ r), pts).abs().min() > 0.1


def test_clear_errors_on_wrong_input():
    with pytest.raises(ValueError, match="square"):
        s.d4_symmetry_mask(torch.zeros(4, 5))
    with pytest.raises(ValueError, match="one image"):
        s.d4_symmetry_mask(torch.zeros(2, 4, 4))
    with pytest.raises(ValueError, match="one image"):
        s.rotation_change(torch.zeros(2, 4, 4), torch.zeros(3))
    with pytest.raises(ValueError, match="at least one"):
        s.change_under(torch.zeros(4, 4), {})


# ----- the exercises: the references pass, plausible mistakes fail -----

@pytest.mark.parametrize("short", sorted(EXERCISES))
def test_reference_passes(short):
    assert verify_reference(f"symmetry.{short}").passed  # a learner's function may not call it


def _euler_step(q, p, force, dt, mass=1.0):
    return q + dt * p / mass, p + dt * force(q)


def _swapped_field(hamiltonian, x):
    x = x.detach().requires_grad_(True)
    dh = torch.autograd.grad(hamiltonian(x).sum(), x)[0]
    n = x.shape[1] // 2
    return torch.cat([-dh[:, n:], dh[:, :n]], 1)  # the signs on the wrong half


def _field_without_graph(hamiltonian, x):  # right values, but a network cannot be trained through them
    x = x.detach().requires_grad_(True)
    dh_dq, dh_dp = torch.autograd.grad(hamiltonian(x).sum(), x)[0].chunk(2, dim=1)
    return torch.cat([dh_dp, -dh_dq], 1)


@pytest.mark.parametrize("short, wrong", [
    ("angular_momentum", lambda q, p: q[:, 1] * p[:, 0] - q[:, 0] * p[:, 1]),
    ("angular_momentum", lambda q, p: (q * p).sum(1)),
    ("d4_symmetry_mask", lambda x: torch.tensor([bool(torch.equal(torch.rot90(x, k % 4), x)) for k in range(8)])),
    ("verlet_step", _euler_step),
    ("verlet_step", lambda q, p, force, dt, mass=1.0: mechanics.velocity_verlet_step(q, p, force, dt)),
    ("hamiltonian_vector_field", _swapped_field),
    ("hamiltonian_vector_field", _field_without_graph),
    ("hamiltonian_vector_field", lambda h, x: _field_without_graph(h, x).detach().requires_grad_(True)),
])
def test_mistakes_fail(short, wrong):
    assert verify(f"symmetry.{short}", wrong).status == "fail"
