"""course_lib.nbody: Coulomb forces that are minus the gradient of the Coulomb energy and obey
Newton's third law, an integrator that conserves momentum and (nearly) energy and converges at
first order in the step, and data splits that move rigidly as asked."""

import pytest
import torch

from course_lib import nbody
from course_lib.groups import O3


def test_forces_are_minus_the_gradient_of_the_potential():
    x, v, q = nbody.initial_states(4, seed=0)
    x = x.requires_grad_(True)
    energy = nbody.coulomb_energy(x, torch.zeros_like(v), q).sum()
    grad = torch.autograd.grad(energy, x)[0]
    assert torch.allclose(nbody.coulomb_forces(x.detach(), q, max_force=None), -grad, atol=1e-10)


def test_like_charges_repel_and_unlike_attract():
    x = torch.tensor([[[0.0, 0, 0], [1.0, 0, 0]]], dtype=torch.float64)
    like = nbody.coulomb_forces(x, torch.tensor([[1.0, 1.0]], dtype=torch.float64))
    unlike = nbody.coulomb_forces(x, torch.tensor([[1.0, -1.0]], dtype=torch.float64))
    assert like[0, 0, 0] == -1.0 and like[0, 1, 0] == 1.0
    assert unlike[0, 0, 0] == 1.0 and unlike[0, 1, 0] == -1.0


def test_momentum_is_conserved_and_energy_to_first_order_in_the_step():
    x0, v0, q = nbody.initial_states(50, seed=1)
    median_energy_error = []
    for dt in (0.001, 0.0005):
        n = round(4.0 / dt)
        traj = nbody.simulate(x0, v0, q, n, dt=dt, record_every=n // 40, clip=False)
        momentum = traj.v.sum(2)                                      # (B, T, 3)
        assert (momentum - momentum[:, :1]).abs().max() < 1e-10
        energy = torch.stack([nbody.coulomb_energy(traj.x[:, t], traj.v[:, t], q)
                              for t in range(traj.x.shape[1])], 1)
        error = (energy - energy[:, :1]).abs().amax(1) / energy[:, :1].abs().clamp_min(0.1)
        median_energy_error.append(float(error.median()))
    # symplectic Euler: the recorded velocity lags half a step, so the energy is off by O(dt)
    assert median_energy_error[0] < 0.05
    assert 1.7 < median_energy_error[0] / median_energy_error[1] < 2.3, median_energy_error


def test_first_order_convergence_in_the_step():
    x0, v0, q = nbody.initial_states(20, seed=2)

    def end(dt, duration=0.5):
        n = round(duration / dt)
        return nbody.simulate(x0, v0, q, n, dt=dt, record_every=n, clip=False).x[:, -1]

    reference = end(0.0000625)
    errors = [(end(dt) - reference).norm(dim=(1, 2)) for dt in (0.002, 0.001, 0.0005)]
    # halving the step halves each system's error (median over systems: a close encounter is
    # chaotic and can spoil one system)
    ratios = [float((errors[0] / errors[1]).median()), float((errors[1] / errors[2]).median())]
    assert all(1.8 < r < 2.4 for r in ratios), ratios


def test_the_benchmark_split():
    data = nbody.charged_nbody(30, seed=0)
    assert data.x.shape == data.v.shape == data.target.shape == (30, 5, 3)
    assert set(data.charges.unique().tolist()) == {-1.0, 1.0}
    assert data.x.dtype == torch.float32 and data.steps_ahead == 1000
    again = nbody.charged_nbody(30, seed=0)
    assert torch.equal(data.target, again.target)
    assert not torch.equal(data.target, nbody.charged_nbody(30, seed=1).target)
    # the state at step 3000 then 1000 steps: the same as one run of 4000 steps
    x0, v0, q = nbody.initial_states(30, seed=0)
    whole = nbody.simulate(x0, v0, q, 4000, record_every=1000)
    assert torch.allclose(whole.x[:, 3].float(), data.x) and torch.allclose(whole.x[:, 4].float(), data.target)


def test_rigid_motion_of_a_split_is_a_solution_of_the_same_physics():
    x0, v0, q = nbody.initial_states(10, seed=3)
    rotation = O3().sample(1, torch.Generator().manual_seed(0))[0]
    shift = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    moved = nbody.simulate(x0 @ rotation.T + shift, v0 @ rotation.T, q, 500, record_every=500, clip=False)
    plain = nbody.simulate(x0, v0, q, 500, record_every=500, clip=False)
    assert torch.allclose(moved.x[:, -1], plain.x[:, -1] @ rotation.T + shift, atol=1e-8)
    data = nbody.charged_nbody(5, seed=0, start_step=0, steps_ahead=10)
    t = data.transformed(rotation, shift)
    assert torch.allclose(t.target, data.target @ rotation.float().T + shift.float())


def test_bad_input_is_rejected():
    x, v, q = nbody.initial_states(2)
    with pytest.raises(ValueError, match="charges"):
        nbody.simulate(x, v, q[:, :3], 10)
    with pytest.raises(ValueError, match="positive"):
        nbody.simulate(x, v, q, 0)
    with pytest.raises(ValueError, match="n_particles"):
        nbody.initial_states(3, n_particles=1)


def test_the_original_frames_are_steps_one_sample_later():
    """The original generator's loop, transcribed: the initial state is stored in slot 0, and at
    every step i with i % sample_freq == 0 the state overwrites slot `counter`, which then grows.
    So slot k holds step sample_freq·(k + 1), and frames 30 and 40 are steps 3100 and 4100."""
    x0, v0, q = nbody.initial_states(4, seed=5)
    sample_freq, length = 10, 100
    saved = [None] * (length // sample_freq - 1)
    x, v = x0.clone(), v0.clone()
    saved[0], counter = x.clone(), 0
    v = v + nbody.DT * nbody.coulomb_forces(x, q)
    for i in range(1, length):
        x = x + nbody.DT * v
        if i % sample_freq == 0:
            saved[counter], counter = x.clone(), counter + 1
        v = v + nbody.DT * nbody.coulomb_forces(x, q)
    ours = nbody.simulate(x0, v0, q, length, record_every=sample_freq).x      # ours[:, s]: step s·10
    for k, frame in enumerate(saved):
        step = nbody.original_frame_step(k, sample_freq)
        assert step == sample_freq * (k + 1)
        assert torch.equal(frame, ours[:, step // sample_freq])
    assert not torch.equal(saved[0], x0)                                        # slot 0 is not step 0
    assert (nbody.original_frame_step(30), nbody.original_frame_step(40)) == (3100, 4100)
    paper = nbody.charged_nbody(3, seed=0, start_step=nbody.original_frame_step(30))
    whole = nbody.simulate(*nbody.initial_states(3, seed=0), 4100, record_every=100)
    assert torch.allclose(whole.x[:, 31].float(), paper.x) and torch.allclose(whole.x[:, 41].float(), paper.target)
    with pytest.raises(ValueError, match="frame >= 0"):
        nbody.original_frame_step(-1)


def _original_draws(n_systems: int, seed: int = 43):
    """The EGNN paper's generator's own calls (Kipf et al.'s ChargedParticlesSim.sample_trajectory,
    loc_std 1, vel_norm 0.5, T 5000, sample_freq 100), for its first n_systems."""
    import numpy as np
    rng, out = np.random.RandomState(seed), []
    for _ in range(n_systems):
        charges = rng.choice(np.array([-1., 0., 1.]), size=(5, 1), p=[1 / 2, 0, 1 / 2])
        loc = rng.randn(3, 5) * 1.0
        vel = rng.randn(3, 5)
        vel = vel * 0.5 / np.sqrt((vel ** 2).sum(axis=0)).reshape(1, -1)
        rng.randn(49, 3, 5), rng.randn(49, 3, 5)
        out.append((loc.T, vel.T, charges[:, 0]))
    return out


def test_the_original_initial_states_are_the_generators_own_draws_in_its_order():
    splits = nbody.original_initial_states((3, 2, 1))
    reference = _original_draws(6)  # training, then validation, then test systems: one stream
    flat = [(x[i], v[i], q[i]) for x, v, q in splits for i in range(len(x))]
    for (x, v, q), (x_ref, v_ref, q_ref) in zip(flat, reference, strict=True):
        assert torch.equal(x, torch.tensor(x_ref)) and torch.equal(v, torch.tensor(v_ref))
        assert torch.equal(q, torch.tensor(q_ref))
    assert torch.allclose(splits[0][1].norm(dim=-1), torch.tensor(0.5, dtype=torch.float64))
    # the validation split starts where the training split ends: more training systems move it
    assert not torch.equal(nbody.original_initial_states((4, 1, 1))[1][0], splits[1][0][:1])


def test_the_original_dataset_refuses_more_systems_than_its_splits_hold():
    with pytest.raises(ValueError, match="10000, 2000, 2000"):
        nbody.original_dataset(n_train=10001)
    with pytest.raises(ValueError, match="counts"):
        nbody.original_initial_states((0, 1, 1))
