"""course_lib.operators: the spectral convolution is a truncated Fourier multiplier that acts on
any grid, the FNO commutes with shifts of the periodic grid unless padding or coordinates break
it, DeepONet learns the antiderivative, training lowers the relative L2 error, and the
exercises' checks pass the references and reject near misses."""

import json
import math

import pytest
import torch

from course_lib import operators as op
from course_lib.checks import verify, verify_reference
from course_lib.checks.operators import EXERCISES


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ----- the metric and resampling -----

def test_relative_l2_is_per_sample_then_averaged():
    target = torch.tensor([[3.0, 4.0], [0.0, 10.0]])
    prediction = torch.tensor([[3.0, 4.0 + 5.0], [0.0, 11.0]])
    assert torch.isclose(op.relative_l2(prediction, target), torch.tensor((1.0 + 0.1) / 2))
    with pytest.raises(ValueError, match="same shape"):
        op.relative_l2(torch.zeros(2, 3), torch.zeros(2, 4))


def test_fourier_resample_is_exact_for_band_limited_functions():
    for s, n in ((16, 64), (15, 45)):
        x, x_fine = torch.arange(s, dtype=torch.float64) / s, torch.arange(n, dtype=torch.float64) / n
        f = lambda t: torch.sin(2 * math.pi * t) + 0.3 * torch.cos(6 * math.pi * t + 1)  # noqa: E731
        assert torch.allclose(op.fourier_resample(f(x), n), f(x_fine), atol=1e-12)
    u = torch.randn(3, 16, generator=gen(), dtype=torch.float64)
    fine = op.fourier_resample(u, 64)
    assert torch.allclose(fine[:, ::4], u, atol=1e-12)  # it interpolates
    with pytest.raises(ValueError, match="n >= s"):
        op.fourier_resample(u, 8)


# ----- spectral convolution -----

def test_spectral_conv_is_a_fourier_multiplier_of_the_kept_modes():
    x = torch.arange(32, dtype=torch.float64) / 32
    signal = (torch.cos(2 * math.pi * x) + torch.cos(2 * math.pi * 5 * x))[None, None]
    weight = torch.tensor([[[0, 2j, 0]]], dtype=torch.complex128)  # multiply mode 1 by 2i
    out = op.spectral_conv(signal, weight)
    assert torch.allclose(out[0, 0], -2 * torch.sin(2 * math.pi * x), atol=1e-12)  # mode 5 dropped


def test_spectral_conv_gives_the_same_function_on_a_finer_grid():
    weight = torch.randn(2, 3, 6, generator=gen(1), dtype=torch.complex128)
    noise = torch.randn(4, 2, 16, generator=gen(2), dtype=torch.float64)
    u = torch.fft.irfft(torch.fft.rfft(noise)[..., :8], n=16)  # no Nyquist content
    coarse, fine = op.spectral_conv(u, weight), op.spectral_conv(op.fourier_resample(u, 64), weight)
    assert torch.allclose(fine[..., ::4], coarse, atol=1e-12)


def test_spectral_conv_2d_matches_a_full_multiplier_on_the_kept_modes():
    x = torch.randn(2, 3, 12, 10, generator=gen(3), dtype=torch.float64)
    weight = torch.randn(2, 3, 4, 3, 2, generator=gen(4), dtype=torch.complex128)
    out = op.spectral_conv_2d(x, weight)
    x_hat = torch.fft.rfft2(x)
    expected = torch.zeros(2, 4, 12, 6, dtype=torch.complex128)
    for rows, w in ((slice(0, 3), weight[0]), (slice(9, 12), weight[1])):
        expected[:, :, rows, :2] = torch.einsum("bixy,ioxy->boxy", x_hat[:, :, rows, :2], w)
    assert torch.allclose(out, torch.fft.irfft2(expected, s=(12, 10)), atol=1e-12)
    with pytest.raises(ValueError, match="weight"):
        op.spectral_conv_2d(x, weight[0])


# ----- FNO, CNN, DeepONet -----

@pytest.mark.parametrize("dim", [1, 2])
def test_fno_commutes_with_shifts_unless_padded_or_given_coordinates(dim):
    shape = (2, 1) + (16,) * dim
    x = torch.randn(shape, generator=gen(5))
    errors = {}
    for name, kwargs in {"plain": {}, "padded": {"padding": 4}, "positional": {"positional": True}}.items():
        torch.manual_seed(0)
        errors[name] = op.shift_equivariance_error(op.FNO(4, 8, 2, dim=dim, **kwargs), x, 3)
    assert errors["plain"] < 1e-5
    assert errors["padded"] > 1e-3 and errors["positional"] > 1e-3


def test_fno_runs_on_any_grid_and_cnn_matches_its_parameter_count():
    torch.manual_seed(0)
    fno, cnn = op.FNO(8, 16), op.CNN(17, 16)
    for s in (32, 64, 128):
        assert fno(torch.randn(3, 1, s)).shape == cnn(torch.randn(3, 1, s)).shape == (3, 1, s)
    # 2·8 real numbers per complex mode against 17 taps: one width² per layer apart
    assert op.real_parameters(cnn) - op.real_parameters(fno) == 4 * 16 * 16
    with pytest.raises(ValueError, match=r"expected \(B, 1, n\)"):
        fno(torch.randn(3, 2, 32))
    with pytest.raises(ValueError, match="odd"):
        op.CNN(4, 16)


def test_deeponet_learns_the_antiderivative(one_thread):
    from course_lib.pde_data import grf_1d

    s = 32
    u = torch.tensor(grf_1d(600, s, seed=0), dtype=torch.float32)
    y = (torch.arange(s, dtype=torch.float32) / s)[:, None]
    antiderivative = torch.cumsum(u, 1) / s - u / (2 * s) - u[:, :1] / (2 * s)  # trapezoid from 0
    torch.manual_seed(0)
    model = op.DeepONet(s, basis=32, hidden=(64, 64))
    predict = lambda m, v: m(v, y)  # noqa: E731
    before = op.evaluate(model, u[500:], antiderivative[500:], predict=predict)
    fit = op.train_operator(model, u[:500], antiderivative[:500], steps=600, lr=3e-3, predict=predict)
    after = op.evaluate(model, u[500:], antiderivative[500:], predict=predict)
    assert after < 0.1 * before and after < 0.1 and fit.losses[-1] < fit.losses[0]
    with pytest.raises(ValueError, match="DeepONet expects"):
        model(u[:, :10], y)


def test_fno_learns_burgers_and_keeps_its_error_on_a_finer_grid(one_thread):
    from course_lib.pde_data import burgers_dataset

    u0, u1 = burgers_dataset(300, 128, seed=1, dt=1e-2)
    x, y = torch.tensor(u0[:, None], dtype=torch.float32), torch.tensor(u1[:, None], dtype=torch.float32)
    torch.manual_seed(0)
    fno = op.FNO(12, 16, 3)
    op.train_operator(fno, x[:250, :, ::2], y[:250, :, ::2], steps=300, lr=3e-3)
    coarse, fine = op.evaluate(fno, x[250:, :, ::2], y[250:, :, ::2]), op.evaluate(fno, x[250:], y[250:])
    assert coarse < 0.05 and abs(fine - coarse) < 0.2 * coarse


# ----- the exercises: the references pass, near misses fail -----

@pytest.mark.parametrize("short", sorted(EXERCISES))
def test_reference_passes_but_may_not_be_called(short):
    assert verify_reference(f"operators.{short}").passed
    assert not verify(f"operators.{short}", EXERCISES[short].reference).passed


def _all_modes_kept(x, weight):
    out = torch.fft.rfft(x).clone()
    m = weight.shape[-1]
    mixed = torch.einsum("bik,iok->bok", out[..., :m], weight[..., :min(m, out.shape[-1])])
    return torch.fft.irfft(torch.cat([mixed, out[:, :weight.shape[1], m:]], -1), n=x.shape[-1])


def _no_length(x, weight):
    x_hat = torch.fft.rfft(x)
    m = min(weight.shape[-1], x_hat.shape[-1])
    out = torch.zeros(x.shape[0], weight.shape[1], x_hat.shape[-1], dtype=x_hat.dtype)
    out[..., :m] = torch.einsum("bik,iok->bok", x_hat[..., :m], weight[..., :m])
    return torch.fft.irfft(out)


def _transposed(x, weight):  # reads the weight as (C_out, C_in, modes)
    x_hat = torch.fft.rfft(x)
    m = min(weight.shape[-1], x_hat.shape[-1])
    out = torch.zeros(x.shape[0], weight.shape[0], x_hat.shape[-1], dtype=x_hat.dtype)
    out[..., :m] = torch.einsum("bik,oik->bok", x_hat[..., :m], weight[..., :m])
    return torch.fft.irfft(out, n=x.shape[-1])


def _real_weights(x, weight):
    x_hat = torch.fft.rfft(x)
    m = min(weight.shape[-1], x_hat.shape[-1])
    out = torch.zeros(x.shape[0], weight.shape[1], x_hat.shape[-1], dtype=x_hat.dtype)
    out[..., :m] = torch.einsum("bik,iok->bok", x_hat[..., :m], weight[..., :m].real.to(x_hat.dtype))
    return torch.fft.irfft(out, n=x.shape[-1])


def _full_fft(x, weight):
    x_hat = torch.fft.fft(x)
    m = min(weight.shape[-1], x.shape[-1] // 2 + 1)
    out = torch.zeros(x.shape[0], weight.shape[1], x.shape[-1], dtype=x_hat.dtype)
    out[..., :m] = torch.einsum("bik,iok->bok", x_hat[..., :m], weight[..., :m])
    return torch.fft.ifft(out).real


@pytest.mark.parametrize("wrong", [_all_modes_kept, _no_length, _transposed, _real_weights, _full_fft])
def test_spectral_conv_check_rejects(wrong):
    assert not verify("operators.spectral_conv", wrong).passed


def _squared(p, t):
    return (((p - t).flatten(1).norm(dim=1) / t.flatten(1).norm(dim=1)) ** 2).mean()


def _whole_batch(p, t):
    return (p - t).norm() / t.norm()


def _by_prediction(p, t):
    return ((p - t).flatten(1).norm(dim=1) / p.flatten(1).norm(dim=1)).mean()


def _last_axis_only(p, t):
    return ((p - t).norm(dim=-1) / t.norm(dim=-1)).mean()


@pytest.mark.parametrize("wrong", [_squared, _whole_batch, _by_prediction, _last_axis_only])
def test_relative_l2_check_rejects(wrong):
    assert not verify("operators.relative_l2", wrong).passed


def _nyquist_not_split(u, n):
    return torch.fft.irfft(torch.fft.rfft(u), n=n) * n / u.shape[-1]


def _not_rescaled(u, n):
    u_hat = torch.fft.rfft(u)
    if u.shape[-1] % 2 == 0 and n > u.shape[-1]:
        u_hat = torch.cat([u_hat[..., :-1], u_hat[..., -1:] / 2], dim=-1)
    return torch.fft.irfft(u_hat, n=n)


def _linear(u, n):
    s = u.shape[-1]
    t = torch.arange(n, dtype=u.dtype) * s / n
    left = t.floor().long()
    w = t - left
    return u[..., left] * (1 - w) + u[..., (left + 1) % s] * w


@pytest.mark.parametrize("wrong", [_nyquist_not_split, _not_rescaled, _linear])
def test_fourier_resample_check_rejects(wrong):
    assert not verify("operators.fourier_resample", wrong).passed


# ----- answers that cannot train, and correct answers in float32 (issue 21) -----

def _numpy_spectral_conv(x, weight):
    import numpy as np
    x_hat = np.fft.rfft(x.detach().numpy())
    w = weight.detach().numpy()
    m = min(w.shape[-1], x_hat.shape[-1])
    out = np.zeros((x.shape[0], w.shape[1], x_hat.shape[-1]), dtype=complex)
    out[..., :m] = np.einsum("bik,iok->bok", x_hat[..., :m], w[..., :m])
    return np.fft.irfft(out, n=x.shape[-1])


def _spectral_conv_answer(x, weight, dtype=torch.float64):
    """A learner's correct spectral_conv, computed in `dtype` (float32 or float64)."""
    x = x.to(dtype)
    weight = weight.to(torch.complex64 if dtype == torch.float32 else torch.complex128)
    x_hat = torch.fft.rfft(x)
    m = min(weight.shape[-1], x_hat.shape[-1])
    out = torch.zeros(x.shape[0], weight.shape[1], x_hat.shape[-1], dtype=x_hat.dtype)
    out[..., :m] = torch.einsum("bik,iok->bok", x_hat[..., :m], weight[..., :m])
    return torch.fft.irfft(out, n=x.shape[-1])


def _relative_l2_answer(p, t, dtype=torch.float64):
    p, t = p.to(dtype), t.to(dtype)
    return ((p - t).flatten(1).norm(dim=1) / t.flatten(1).norm(dim=1)).mean()


def _fourier_resample_answer(u, n, dtype=torch.float64):
    u = u.to(dtype)
    s = u.shape[-1]
    u_hat = torch.fft.rfft(u)
    if n > s and s % 2 == 0:
        u_hat[..., -1] = u_hat[..., -1] / 2
    return torch.fft.irfft(u_hat, n=n) * (n / s)


ANSWERS = {"spectral_conv": _spectral_conv_answer, "relative_l2": _relative_l2_answer,
           "fourier_resample": _fourier_resample_answer}


def _detached_spectral_conv(x, weight):
    return _spectral_conv_answer(x, weight).detach()


def _float_relative_l2(p, t):
    return float(((p - t).flatten(1).norm(dim=1) / t.flatten(1).norm(dim=1)).mean())


def _numpy_relative_l2(p, t):
    import numpy as np
    p, t = p.detach().numpy(), t.detach().numpy()
    return np.mean(np.linalg.norm((p - t).reshape(len(p), -1), axis=1) / np.linalg.norm(t.reshape(len(t), -1), axis=1))


def _target_norm_detached(p, t):  # the right value, the wrong gradient with respect to the target
    return ((p - t).flatten(1).norm(dim=1) / t.detach().flatten(1).norm(dim=1)).mean()


@pytest.mark.parametrize("wrong", [_numpy_spectral_conv, _detached_spectral_conv])
def test_spectral_conv_check_rejects_answers_that_cannot_train(wrong):
    verdict = verify("operators.spectral_conv", wrong)
    assert not verdict.passed and "trained" in verdict.message


@pytest.mark.parametrize("wrong", [_float_relative_l2, _numpy_relative_l2, _target_norm_detached])
def test_relative_l2_check_rejects_answers_that_cannot_train(wrong):
    assert not verify("operators.relative_l2", wrong).passed


@pytest.mark.parametrize("short", sorted(ANSWERS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_checks_accept_correct_answers_in_float32_and_float64(short, dtype):
    answer = ANSWERS[short]
    verdict = verify(f"operators.{short}", lambda *args: answer(*args, dtype=dtype))
    assert verdict.passed, verdict.message


# ----- library support for the chapter: grids, padding, baselines, the loop -----

def test_fraction_padding_pads_the_same_share_of_every_grid():
    torch.manual_seed(0)
    fno = op.FNO(4, 8, 2, padding=0.125)
    seen = []
    fno.global_mixing[0].register_forward_hook(lambda m, i, o: seen.append(i[0].shape[-1]))
    for s in (32, 64, 256):
        assert fno(torch.randn(2, 1, s)).shape == (2, 1, s)
    assert seen == [36, 72, 288]
    assert op.shift_equivariance_error(fno, torch.randn(2, 1, 32, generator=gen(1)), 3) > 1e-4
    for bad in (0.0, 1.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="fraction"):
            op.FNO(4, 8, padding=bad)


def test_matched_cnn_has_the_fno_parameters_and_sees_the_whole_period():
    fno, cnn = op.FNO(16, 32), op.CNN(33, 32)
    assert abs(op.real_parameters(cnn) / op.real_parameters(fno) - 1) < 0.05
    # a delta at one point reaches every output point of a 64-point grid after 4 layers
    conv = torch.nn.Sequential(*[torch.nn.Conv1d(1, 1, 33, padding=16, padding_mode="circular", bias=False)
                                 for _ in range(4)])
    for layer in conv:
        torch.nn.init.constant_(layer.weight, 1.0)
    delta = torch.zeros(1, 1, 64)
    delta[..., 0] = 1
    assert bool((conv(delta) > 0).all())


def test_circular_conv_is_conv1d_through_the_fft():
    """The CNN's FFT convolution computes nn.Conv1d's circular cross-correlation: same output and
    same gradients, for any grid at least as long as the kernel, odd or even."""
    torch.manual_seed(0)
    fast = op.CircularConv(4, 7)
    torch.manual_seed(0)  # the same initialisation as the reference layer
    slow = torch.nn.Conv1d(4, 4, 7, padding=3, padding_mode="circular", bias=False)
    assert torch.equal(fast.weight, slow.weight)
    for n in (7, 8, 13, 64):
        x = torch.randn(3, 4, n, generator=gen(n), requires_grad=True)
        y_fast, y_slow = fast(x), slow(x)
        assert (y_fast - y_slow).abs().max() < 1e-5 * y_slow.abs().max()
        probe = torch.randn(y_slow.shape, generator=gen(100 + n))
        g_fast = torch.autograd.grad((y_fast * probe).sum(), (x, fast.weight))
        g_slow = torch.autograd.grad((y_slow * probe).sum(), (x, slow.weight))
        for a, b in zip(g_fast, g_slow):
            assert (a - b).abs().max() < 1e-5 * b.abs().max()
    # a tap at offset +1 shifts by one point: y[n] = x[n + 1], wrapping around
    with torch.no_grad():
        fast.weight.zero_()
        fast.weight[0, 0, 4] = 1.0
    x = torch.arange(8.0).expand(1, 4, 8)
    assert torch.allclose(fast(x)[0, 0], torch.roll(x[0, 0], -1), atol=1e-5)
    with pytest.raises(ValueError, match="n >= 7"):
        fast(torch.randn(1, 4, 6))


def test_on_training_grid_decimates_then_upsamples():
    s, n = 16, 64
    t = torch.arange(n, dtype=torch.float64) / n
    u = (torch.sin(2 * math.pi * t) + 0.5 * torch.cos(6 * math.pi * t)).expand(2, 1, n)
    assert torch.allclose(op.on_training_grid(torch.nn.Identity(), u, s), u, atol=1e-12)
    doubled = op.on_training_grid(lambda v: 2 * v, u, s)  # noqa: E731
    assert torch.allclose(doubled, 2 * u, atol=1e-12)
    with pytest.raises(ValueError, match="multiple"):
        op.on_training_grid(torch.nn.Identity(), u[..., :60], s)


def test_anti_aliased_decimation_drops_the_modes_the_coarse_grid_would_fold():
    s, n = 16, 64
    t = torch.arange(n, dtype=torch.float64) / n
    kept = torch.sin(2 * math.pi * 3 * t) + torch.cos(2 * math.pi * 7 * t)  # modes 3, 7 < s/2
    high = torch.cos(2 * math.pi * 13 * t)  # mode 13 >= s/2: folds onto mode 3 at 16 points
    u = (kept + high).expand(2, 1, n)
    assert torch.allclose(op.low_pass(u, s), kept.expand(2, 1, n), atol=1e-12)
    clean = op.on_training_grid(torch.nn.Identity(), u, s, anti_alias=True)
    assert torch.allclose(clean, kept.expand(2, 1, n), atol=1e-12)
    folded = op.on_training_grid(torch.nn.Identity(), u, s)  # plain decimation aliases mode 13
    assert (folded - kept).abs().max() > 0.5
    with pytest.raises(ValueError, match="2 <= s <= n"):
        op.low_pass(u, 128)


def test_train_operator_is_the_hand_written_minibatch_loop(one_thread):
    x, y = torch.randn(30, 1, 16, generator=gen(2)), torch.randn(30, 1, 16, generator=gen(3))
    torch.manual_seed(0)
    ours = op.FNO(4, 8, 2)
    torch.manual_seed(0)
    theirs = op.FNO(4, 8, 2)
    op.train_operator(ours, x, y, steps=5, batch_size=7, lr=1e-2, weight_decay=1e-4, seed=4)
    g = torch.Generator().manual_seed(4)
    opt = torch.optim.Adam(theirs.parameters(), lr=1e-2, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 5)
    for _ in range(5):
        batch = torch.randint(30, (7,), generator=g)
        loss = op.relative_l2(theirs(x[batch]), y[batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
    for a, b in zip(ours.parameters(), theirs.parameters()):
        assert torch.equal(a, b)


def test_train_operator_keeps_the_weights_with_the_best_validation_error(one_thread):
    x, y = torch.randn(40, 1, 16, generator=gen(5)), torch.randn(40, 1, 16, generator=gen(6))
    torch.manual_seed(0)
    model = op.FNO(4, 8, 2)
    fit = op.train_operator(model, x[:30], y[:30], steps=60, batch_size=10, lr=3e-2,
                            validation=(x[30:], y[30:]), eval_every=10, patience=2)
    assert fit.val_steps[0] == 10 and len(fit.val_error) == len(fit.val_steps)
    best = fit.val_steps[fit.val_error.index(min(fit.val_error))]
    assert fit.best_step == best
    assert math.isclose(op.evaluate(model, x[30:], y[30:]), min(fit.val_error), rel_tol=1e-6)


# ----- bench/darcy_fno.py's cache of runs -----

def darcy_bench():
    import importlib.util

    from conftest import REPO
    spec = importlib.util.spec_from_file_location("darcy_fno", REPO / "bench" / "darcy_fno.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_darcy_bench_reads_the_runs_of_a_result_written_before_its_cache():
    bench = darcy_bench()
    old = {"data": bench.DATA, "torch": torch.__version__, "chosen rate": 0.01, "chosen steps": 6000,
           "validation error by rate (1200 steps, seed 0)": {"0.001": 0.5, "0.01": 0.3},
           "validation error by budget (seed 0)": {"400": 0.4, "1200": 0.3, "6000": 0.2},
           "results": {m: {"test error": [0.21, 0.22, 0.23], "validation error": [0.2, 0.25, 0.26],
                           "kept step": [6000, 5900, 6000], "cpu seconds": [1.0, 2.0, 3.0]}
                       for m in ("8", "12")}}
    runs = bench.stored_runs(old)
    assert runs[(0.001, 1200, 8, 0)] == {"lr": 0.001, "steps": 1200, "modes": 8, "seed": 0,
                                         "validation error": 0.5}
    assert runs[(0.01, 400, 8, 0)]["validation error"] == 0.4 and "test error" not in runs[(0.01, 400, 8, 0)]
    assert runs[(0.01, 6000, 12, 1)] == {"lr": 0.01, "steps": 6000, "modes": 12, "seed": 1,
                                         "validation error": 0.25, "test error": 0.22,
                                         "kept step": 5900, "cpu seconds": 2.0}
    assert len(runs) == 2 + 1 + 6  # the 1200- and 6000-step budget runs are a rate run and a result
    new = {"data": bench.DATA, "torch": torch.__version__, "runs": list(runs.values())}
    assert bench.stored_runs(new) == runs  # the layout the bench writes now reads back the same
    with pytest.raises(ValueError, match="can reuse runs on data"):
        bench.stored_runs({**old, "data": {**bench.DATA, "train": 60}})
    with pytest.raises(ValueError, match="with torch"):
        bench.stored_runs({**old, "torch": "0.0"})


# ----- decimation, and bench/operators_rough.py's stored result -----

def test_decimate_takes_every_kth_sample_or_the_band_limited_part_and_names_bad_grids():
    s, n = 16, 64
    v = torch.randn(3, 1, s, generator=gen(7), dtype=torch.float64)
    v = op.low_pass(v, s - 1)  # no Nyquist mode: the fine interpolant is the same function
    fine = op.fourier_resample(v, n)
    assert torch.allclose(op.decimate(fine, s), v, atol=1e-12)
    assert torch.allclose(op.decimate(fine, s, anti_alias=True), v, atol=1e-12)
    t = torch.arange(n, dtype=torch.float64) / n
    high = torch.cos(2 * math.pi * 13 * t)  # mode 13 >= s/2: plain decimation folds it onto 3
    assert torch.allclose(op.decimate(fine + high, s, anti_alias=True), v, atol=1e-12)
    folded = op.decimate(fine + high, s) - v
    assert torch.allclose(folded, torch.cos(2 * math.pi * 3 * t[::4]).expand_as(v), atol=1e-12)
    with pytest.raises(ValueError, match="n a multiple of s"):
        op.decimate(fine, 24)
    with pytest.raises(ValueError, match="s >= 2"):
        op.decimate(fine, 1)


def load_bench(name):
    import importlib.util

    from conftest import REPO
    spec = importlib.util.spec_from_file_location(name, REPO / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_trial_run_of_the_rough_bench_never_overwrites_its_stored_result(tmp_path):
    from course_lib import stored
    bench = load_bench("operators_rough")
    assert bench.output(bench.STEPS, bench.SEEDS, None) == stored.path("operators_rough")
    assert bench.output(5, 2, None) == bench.TRIAL
    assert bench.output(5, bench.SEEDS, str(tmp_path / "x.json")) == tmp_path / "x.json"
    with pytest.raises(ValueError, match="may not overwrite"):
        bench.output(bench.STEPS, 2, str(stored.path("operators_rough")))


def test_the_stored_rough_result_is_the_chapters_data_and_its_verdicts_follow_from_its_numbers():
    from course_lib import stored
    from course_lib.spread import compare, spread
    bench = load_bench("operators_rough")
    r = stored.result("operators_rough")
    assert r["data"] == bench.DATA and r["steps"] == bench.STEPS and r["seeds"] == [0, 1, 2]
    for name in ("aliased", "low-passed"):
        runs = r["results"][name]
        assert runs["chosen rate"] in r["rates"]
        assert runs["chosen rate"] == min(r["rates"], key=lambda lr: runs["validation error by rate"][str(lr)])
        for route in bench.ROUTES:
            assert len(runs[route]) == 3 and all(0 < e < 1 for e in runs[route])
    ours = spread(r["results"]["low-passed"]["low-passed 64 points, upsampled"])
    for key, theirs in (("same route", "low-passed 64 points, upsampled"), ("page's row", "FNO on 256 points")):
        verdict = compare(ours, spread(r["results"]["aliased"][theirs]), False, ("A", "B"), paired=True)
        assert r["decided"][key] == verdict.decided
        assert (r["winners"][key] is None) == (verdict.winner is None)
        if verdict.winner is not None:
            assert (verdict.winner == "A") == r["winners"][key].startswith("the FNO trained on low-passed")


def test_a_trial_run_of_the_budget_bench_never_overwrites_its_stored_result(tmp_path):
    from course_lib import stored
    bench = load_bench("operators_budget")
    assert bench.output(bench.BUDGETS, None) == stored.path("operators_budget")
    assert bench.output((100, 200), None) == bench.TRIAL
    with pytest.raises(ValueError, match="may not overwrite"):
        bench.output((400,), str(stored.path("operators_budget")))


def test_the_stored_budget_result_is_the_chapters_setting_and_its_verdicts_follow_from_its_numbers():
    from course_lib import stored
    from course_lib.spread import compare, spread
    bench = load_bench("operators_budget")
    r = stored.result("operators_budget")
    assert r["data"] == bench.DATA and tuple(r["budgets"]) == bench.BUDGETS and r["seeds"] == [0, 1, 2]
    ratios = {}
    for steps in map(str, bench.BUDGETS):
        runs = r["results"][steps]
        for name in bench.MODELS:
            assert runs[name]["chosen rate"] == min(
                r["rates"], key=lambda lr: runs[name]["validation error by rate"][str(lr)])
            assert len(runs[name]["test error"]) == 3 and all(0 < e < 1 for e in runs[name]["test error"])
        fno, cnn = runs["FNO"]["test error"], runs["CNN"]["test error"]
        assert runs["ratio CNN / FNO"] == pytest.approx([c / f for f, c in zip(fno, cnn)])
        verdict = compare(spread(fno), spread(cnn), False, ("the FNO", "the CNN"), paired=True)
        assert runs["verdict"] == str(verdict)
        ratios[steps] = spread(runs["ratio CNN / FNO"])
    short, long = map(str, bench.BUDGETS)
    verdict = compare(ratios[long], ratios[short], False, (f"the ratio at {long} steps", f"the ratio at {short} steps"))
    assert r["ratio verdict"] == str(verdict) and r["ratio decided"] == verdict.decided


def test_darcy_bench_resumes_from_the_runs_a_stopped_bench_kept(tmp_path):
    bench = darcy_bench()
    out = str(tmp_path / "darcy_fno.json")
    assert bench.reusable(out) == {}  # nothing stored yet
    run = {"lr": 0.01, "steps": 400, "modes": 8, "seed": 0, "validation error": 0.4}
    bench.partial(out).write_text(json.dumps({"data": bench.DATA, "torch": torch.__version__, "runs": [run]}))
    assert bench.reusable(out) == {(0.01, 400, 8, 0): run}
    longer = {**run, "validation error": 0.3, "test error": 0.31, "kept step": 400, "cpu seconds": 9.0}
    older = [{**run, "validation error": 0.9}, {**longer, "steps": 800}]
    (tmp_path / "darcy_fno.json").write_text(json.dumps({"data": bench.DATA, "torch": torch.__version__,
                                                         "runs": older}))
    cache = bench.reusable(out)  # the partial file's runs are the newer ones
    assert cache[(0.01, 400, 8, 0)] == run and cache[(0.01, 800, 8, 0)]["test error"] == 0.31
    bench.partial(out).write_text(json.dumps({"data": bench.DATA, "torch": "0.0", "runs": [run]}))
    with pytest.raises(ValueError, match="with torch"):
        bench.reusable(out)


# ----- where it trains and evaluates: course_lib.device(), batches moved to the model -----

def test_train_operator_asks_for_the_device_and_returns_the_model_on_the_cpu(monkeypatch):
    from device_spy import DeviceSpy

    x = torch.randn(12, 1, 16, generator=gen(0))
    model = op.FNO(4, 8)
    spy = DeviceSpy(monkeypatch)
    fit = op.train_operator(model, x[:8], 2 * x[:8], steps=4, batch_size=4, validation=(x[8:], 2 * x[8:]),
                            eval_every=2)
    assert spy.trained_on_device_then_cpu(model)
    assert fit.val_steps == [2, 4]
    assert not model.training


def test_evaluate_and_the_shift_check_move_each_batch_to_the_model():
    from device_spy import Elsewhere

    model = Elsewhere()
    inputs = torch.randn(5, 1, 8, generator=gen(1))
    assert op.evaluate(model, inputs, 2 * torch.ones(5, 1, 8), batch_size=2) == pytest.approx(0.5)
    assert op.shift_equivariance_error(model, inputs, 3) == 0.0
    assert model.seen == [torch.device("meta")] * 5  # three batches, then x and its shift
    assert op.evaluate(torch.nn.Identity(), inputs, inputs) == 0.0  # no parameters: the CPU


def test_deeponet_takes_its_query_points_to_the_functions_device():
    model = op.DeepONet(6, basis=4, hidden=(8,), periodic=True).to("meta")
    out = model(torch.zeros(3, 6, device="meta"), torch.rand(5, 1))  # a fixed grid on the CPU
    assert out.shape == (3, 5) and out.device == torch.device("meta")


@pytest.mark.parametrize("make, shape", [
    (lambda: op.FNO(4, 8, padding=0.125, positional=True), (2, 1, 16)),
    (lambda: op.CNN(9, 8), (2, 1, 16)),
    (lambda: op.FNO(4, 8, dim=2, padding=0.125, hidden=16), (2, 1, 16, 16)),
])
def test_the_networks_build_their_grids_and_buffers_where_the_input_is(make, shape):
    model = make().to("meta")  # a second device: a tensor made on the CPU inside forward fails
    assert model(torch.zeros(shape, device="meta")).device == torch.device("meta")
    if len(shape) == 3:
        upsampled = op.on_training_grid(model, torch.zeros(2, 1, 32, device="meta"), 16)
        assert upsampled.shape == (2, 1, 32) and upsampled.device == torch.device("meta")
