"""course_lib.mechanics: velocity Verlet keeps what the symmetries of the force promise (Noether)."""

import functools
import math

import pytest
import torch

from course_lib import mechanics as m
from course_lib.groups import rotation_2d

F64 = torch.float64
Q0, P0 = torch.tensor([1.0, 0.0], dtype=F64), torch.tensor([0.0, 0.8], dtype=F64)  # an eccentric orbit
MASSES = torch.tensor([1.0, 0.5], dtype=F64)
GRAVITY = functools.partial(m.pairwise_gravity, masses=MASSES)
Q2 = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=F64)
P2 = torch.tensor([[0.0, 0.3], [0.1, -0.4]], dtype=F64)  # total momentum (0.1, -0.1), not zero


def test_central_force_conserves_angular_momentum_to_round_off():
    tr = m.simulate(Q0, P0, m.central_force, dt=0.01, n_steps=3000)
    assert m.relative_drift(m.angular_momentum(tr.q, tr.p)).max() < 1e-12
    energy = m.kinetic_energy(tr.p) + m.central_potential(tr.q)
    assert m.relative_drift(energy).max() < 1e-3  # Verlet: bounded O(dt²), not exact


def test_non_central_force_breaks_angular_momentum():
    push = functools.partial(m.uniform_force, field=torch.tensor([0.05, 0.0], dtype=F64))
    tr = m.simulate(Q0, P0, lambda q: m.central_force(q) + push(q), dt=0.01, n_steps=3000)
    assert m.relative_drift(m.angular_momentum(tr.q, tr.p)).max() > 1e-2


def test_pairwise_forces_conserve_total_momentum_and_a_trap_does_not():
    free = m.simulate(Q2, P2, GRAVITY, dt=0.01, n_steps=1000, mass=MASSES[:, None])
    assert m.relative_drift(m.total_momentum(free.p)).max() < 1e-12
    trapped = m.simulate(Q2, P2, lambda q: GRAVITY(q) + m.harmonic_force(q, 0.1), dt=0.01, n_steps=1000,
                         mass=MASSES[:, None])
    assert m.relative_drift(m.total_momentum(trapped.p)).max() > 0.1
    # the trap is centred at the origin: still rotation invariant, so angular momentum stays
    assert m.relative_drift(m.angular_momentum(trapped.q, trapped.p).sum(-1)).max() < 1e-12


def test_gravity_is_rotation_invariant():
    r = rotation_2d(0.7)
    tr = m.simulate(Q2, P2, GRAVITY, dt=0.01, n_steps=500, mass=MASSES[:, None])
    rotated = m.simulate(Q2 @ r.T, P2 @ r.T, GRAVITY, dt=0.01, n_steps=500, mass=MASSES[:, None])
    assert (rotated.q - tr.q @ r.T).abs().max() < 1e-10


def test_translations_are_a_symmetry_of_two_bodies_not_of_a_fixed_centre():
    shift = torch.tensor([0.3, -0.2], dtype=F64)
    two = m.simulate(Q2, P2, GRAVITY, dt=0.01, n_steps=500, mass=MASSES[:, None])
    two_shifted = m.simulate(Q2 + shift, P2, GRAVITY, dt=0.01, n_steps=500, mass=MASSES[:, None])
    assert (two_shifted.q - (two.q + shift)).abs().max() < 1e-10
    one = m.simulate(Q0, P0, m.central_force, dt=0.01, n_steps=500)
    one_shifted = m.simulate(Q0 + shift, P0, m.central_force, dt=0.01, n_steps=500)
    assert (one_shifted.q - (one.q + shift)).abs().max() > 0.1


def test_verlet_is_second_order_on_the_spring():
    exact_q = math.cos(2.0)  # q(t) = cos t from q = 1, p = 0
    errors = [float((m.simulate(torch.ones(1, dtype=F64), torch.zeros(1, dtype=F64), m.harmonic_force,
                                dt=2.0 / n, n_steps=n).q[-1] - exact_q).abs()) for n in (50, 100)]
    assert 3.5 < errors[0] / errors[1] < 4.5


@pytest.mark.parametrize("force, potential, shape", [
    (m.central_force, m.central_potential, (4, 3)),
    (GRAVITY, functools.partial(m.gravity_potential, masses=MASSES), (4, 2, 2)),
])
def test_forces_are_minus_the_gradient_of_their_potentials(force, potential, shape):
    q = torch.randn(shape, dtype=F64, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    grad = torch.autograd.grad(potential(q).sum(), q)[0]
    assert torch.allclose(force(q), -grad, atol=1e-12)


def test_gravity_forces_cancel_and_three_dimensional_angular_momentum():
    q = torch.randn(5, 3, dtype=F64, generator=torch.Generator().manual_seed(1))
    masses = torch.rand(5, dtype=F64) + 0.5
    assert m.pairwise_gravity(q, masses).sum(0).abs().max() < 1e-12
    e = torch.eye(3, dtype=F64)
    assert torch.equal(m.angular_momentum(e[0], e[1]), e[2])


def test_clear_errors_on_wrong_input():
    with pytest.raises(ValueError, match="same shape"):
        m.simulate(Q0, P2, m.central_force, dt=0.1, n_steps=2)
    with pytest.raises(ValueError, match="n_steps"):
        m.simulate(Q0, P0, m.central_force, dt=0.1, n_steps=0)
    with pytest.raises(ValueError, match="masses"):
        m.pairwise_gravity(Q2, torch.ones(3, dtype=F64))
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\) or \(\.\.\., 3\)"):
        m.angular_momentum(torch.zeros(4), torch.zeros(4))
    with pytest.raises(ValueError, match="force"):
        m.simulate(Q0, P0, lambda q: q.sum(), dt=0.1, n_steps=2)
