"""course_lib.uncertainty: scores that agree with their definitions, mixtures that agree with
sampling, a Laplace posterior that agrees with Bayesian linear regression, and exercises whose
references pass while plausible mistakes fail."""

import math

import pytest
import torch
from torch import nn

from course_lib import uncertainty as u
from course_lib.checks import verify, verify_reference
from course_lib.checks.uncertainty import EXERCISES


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ----- scores -----

def test_gaussian_nll_is_torchs_full_gaussian_nll():
    g = gen()
    mean, y, var = torch.randn(50, generator=g), torch.randn(50, generator=g), 0.1 + torch.rand(50, generator=g)
    expected = nn.GaussianNLLLoss(full=True)(mean, y, var)
    assert torch.allclose(u.gaussian_nll(mean, var, y), expected, rtol=1e-6)


def test_gaussian_nll_is_smallest_at_the_true_variance():
    y = 2.0 * torch.randn(20000, generator=gen(1), dtype=torch.float64)
    zero = torch.zeros_like(y)
    nll = {s: float(u.gaussian_nll(zero, torch.full_like(y, s**2), y)) for s in (1.5, 2.0, 2.5)}
    assert nll[2.0] < nll[1.5] and nll[2.0] < nll[2.5]


@pytest.mark.parametrize("level", [0.5, 0.8, 0.95])
def test_coverage_of_well_specified_samples_is_the_level(level):
    n = 40000
    g = gen(2)
    mean, std = torch.randn(n, generator=g, dtype=torch.float64), 0.5 + torch.rand(n, generator=g, dtype=torch.float64)
    y = mean + std * torch.randn(n, generator=g, dtype=torch.float64)
    binomial_std = math.sqrt(level * (1 - level) / n)
    assert abs(float(u.interval_coverage(mean, std, y, level)) - level) < 4 * binomial_std


def test_coverage_uses_the_two_sided_quantile():
    zero, one = torch.zeros(2), torch.ones(2)
    assert float(u.interval_coverage(zero, one, torch.tensor([1.95, -1.95]), 0.95)) == 1.0
    assert float(u.interval_coverage(zero, one, torch.tensor([1.97, -1.97]), 0.95)) == 0.0


def test_calibration_curve_is_monotone_and_diagonal_when_calibrated():
    g = gen(3)
    y = torch.randn(20000, generator=g, dtype=torch.float64)
    levels = [0.1, 0.3, 0.5, 0.7, 0.9]
    zero, one = torch.zeros_like(y), torch.ones_like(y)
    curve = u.calibration_curve(zero, one, y, levels)
    assert torch.all(curve[1:] >= curve[:-1])
    assert torch.allclose(curve, torch.tensor(levels, dtype=curve.dtype), atol=0.015)
    overconfident = u.calibration_curve(zero, 0.5 * one, y, levels)
    assert torch.all(overconfident < curve - 0.02)


def test_std_scale_finds_the_missing_factor_and_lowers_the_nll():
    g = gen(4)
    mean, std = torch.randn(5000, generator=g, dtype=torch.float64), 0.5 + torch.rand(5000, generator=g,
                                                                                        dtype=torch.float64)
    y = mean + 3.0 * std * torch.randn(5000, generator=g, dtype=torch.float64)
    s = u.std_scale(mean, std, y)
    assert abs(float(s) - 3.0) < 0.1
    before, after = u.gaussian_nll(mean, std**2, y), u.gaussian_nll(mean, (s * std) ** 2, y)
    assert after < before
    for nearby in (0.9 * s, 1.1 * s):  # s is the minimiser
        assert u.gaussian_nll(mean, (nearby * std) ** 2, y) > after


def test_scores_reject_bad_input():
    with pytest.raises(ValueError, match="same length"):
        u.gaussian_nll(torch.zeros(3), torch.ones(2), torch.zeros(3))
    with pytest.raises(ValueError, match="positive"):
        u.interval_coverage(torch.zeros(2), torch.tensor([1.0, 0.0]), torch.zeros(2))
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        u.interval_coverage(torch.zeros(2), torch.ones(2), torch.zeros(2), level=95)


# ----- mixtures, ensembles, dropout -----

def test_mixture_moments_match_samples_from_the_mixture():
    means, variances = torch.tensor([[-1.0], [2.0], [0.5]], dtype=torch.float64), \
        torch.tensor([[0.2], [1.0], [3.0]], dtype=torch.float64)
    g = gen(5)
    member = torch.randint(3, (200000,), generator=g)
    samples = means[member, 0] + variances[member, 0].sqrt() * torch.randn(200000, generator=g, dtype=torch.float64)
    mean, var = u.mixture_moments(means, variances)
    assert abs(float(mean[0]) - float(samples.mean())) < 0.02
    assert abs(float(var[0]) - float(samples.var())) < 0.03
    one_mean, one_var = u.mixture_moments(means[:1], variances[:1])
    assert torch.equal(one_mean, means[0]) and torch.equal(one_var, variances[0])


def test_ensemble_is_more_uncertain_away_from_the_data(one_thread):
    x, y = u.cubic_data(20, seed=0)
    models = u.train_ensemble(lambda: u.GaussianMLP(1, (50,)), x, y, members=3, steps=600)
    _, var_in = u.predict_ensemble(models, torch.linspace(-4, 4, 50)[:, None])
    _, var_out = u.predict_ensemble(models, torch.linspace(6, 8, 50)[:, None])
    assert var_out.sqrt().mean() > 1.5 * var_in.sqrt().mean()


def test_train_gaussian_lowers_the_nll(one_thread):
    x, y = u.cubic_data(20, seed=1)
    torch.manual_seed(0)
    model = u.GaussianMLP(1, (20,))
    with torch.no_grad():
        before = u.gaussian_nll(*model(x), y)
    u.train_gaussian(model, x, y, steps=300)
    with torch.no_grad():
        assert u.gaussian_nll(*model(x), y) < before - 1.0


def test_mc_dropout_is_random_in_its_samples_but_reproducible_and_leaves_eval_mode():
    torch.manual_seed(0)
    model = u.GaussianMLP(1, (30,), dropout=0.2)
    x = torch.linspace(-1, 1, 7)[:, None]
    state = torch.get_rng_state()
    a, b = u.predict_mc_dropout(model, x, samples=20, seed=3), u.predict_mc_dropout(model, x, samples=20, seed=3)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert torch.equal(torch.get_rng_state(), state) and not model.training
    torch.manual_seed(3)  # the same draws by hand: 20 passes with dropout on, combined as a mixture
    model.train()
    with torch.no_grad():
        outs = [model(x) for _ in range(20)]
    model.eval()
    means = torch.stack([o[0] for o in outs])
    assert means.std(0).min() > 0  # the passes differ: dropout was on
    by_hand = u.mixture_moments(means, torch.stack([o[1] for o in outs]))
    assert torch.allclose(a[0], by_hand[0]) and torch.allclose(a[1], by_hand[1])
    assert not torch.allclose(a[0], u.predict_mc_dropout(model, x, samples=20, seed=4)[0])
    with pytest.raises(ValueError, match="dropout"):
        u.predict_mc_dropout(u.GaussianMLP(1, (4,)), x)


def test_gaussian_mlp_shapes_and_errors():
    mean, var = u.GaussianMLP(2, (5, 5))(torch.randn(4, 2))
    assert mean.shape == var.shape == (4,) and torch.all(var > 0)
    with pytest.raises(ValueError, match=r"points \(N, 2\)"):
        u.GaussianMLP(2, (5,))(torch.randn(4, 3))
    with pytest.raises(ValueError, match="dropout"):
        u.GaussianMLP(1, (5,), dropout=1.0)


# ----- the last-layer Laplace approximation -----

def _linear_laplace(x, y, delta, sigma):
    head = nn.Linear(1, 1).double()
    design = torch.cat([x, torch.ones_like(x)], 1)
    with torch.no_grad():  # the MAP of Bayesian linear regression, so the Laplace posterior is exact
        a = design.T @ design / sigma**2 + delta * torch.eye(2, dtype=torch.float64)
        theta = torch.linalg.solve(a, design.T @ y / sigma**2)
        head.weight[0, 0], head.bias[0] = theta[0], theta[1]
    return u.LastLayerLaplace(lambda t: t, head, x, y, delta, sigma), design, a


def test_laplace_on_a_linear_model_is_bayesian_linear_regression():
    g = gen(6)
    x = torch.randn(30, 1, generator=g, dtype=torch.float64)
    y = 2 * x[:, 0] - 1 + 0.5 * torch.randn(30, generator=g, dtype=torch.float64)
    la, design, a = _linear_laplace(x, y, delta=0.7, sigma=0.5)
    x_new = torch.tensor([[-3.0], [0.0], [5.0]], dtype=torch.float64)
    phi = torch.cat([x_new, torch.ones_like(x_new)], 1)
    mean, var = la.predict(x_new)
    assert torch.allclose(mean, phi @ torch.linalg.solve(a, design.T @ y / 0.25), rtol=1e-10)
    assert torch.allclose(var, (phi @ torch.linalg.inv(a) * phi).sum(1) + 0.25, rtol=1e-10)
    # the evidence of a linear-Gaussian model is exactly N(y | 0, Φ Φᵀ/δ + σ² I)
    cov = design @ design.T / 0.7 + 0.25 * torch.eye(30, dtype=torch.float64)
    exact = torch.distributions.MultivariateNormal(torch.zeros(30, dtype=torch.float64), cov).log_prob(y)
    assert torch.allclose(la.log_marginal_likelihood(), exact, rtol=1e-10)


def test_laplace_hyperparameters_maximise_the_evidence():
    x, y = u.cubic_data(40, seed=7)
    torch.manual_seed(0)
    features = nn.Sequential(nn.Linear(1, 20), nn.ReLU())
    head = nn.Linear(20, 1)
    la = u.LastLayerLaplace(features, head, x, y).fit_hyperparameters(steps=1500)
    best = float(la.log_marginal_likelihood())
    for factor in (0.5, 2.0):
        assert float(la.log_marginal_likelihood(la.prior_precision * factor, la.sigma_noise)) < best
        assert float(la.log_marginal_likelihood(la.prior_precision, la.sigma_noise * factor)) < best


def test_laplace_variance_grows_away_from_the_data_and_never_below_the_noise():
    g = gen(8)
    x = torch.rand(30, 1, generator=g, dtype=torch.float64)
    y = x[:, 0] + 0.1 * torch.randn(30, generator=g, dtype=torch.float64)
    la, _, _ = _linear_laplace(x, y, delta=1.0, sigma=0.1)
    _, var = la.predict(torch.tensor([[0.5], [3.0], [10.0]], dtype=torch.float64))
    assert var[0] < var[1] < var[2] and torch.all(var > 0.1**2)


def test_laplace_rejects_a_head_with_several_outputs():
    with pytest.raises(ValueError, match="one output"):
        u.LastLayerLaplace(lambda t: t, nn.Linear(1, 2), torch.zeros(3, 1), torch.zeros(3))


def test_laplace_agrees_with_laplace_torch():
    laplace = pytest.importorskip("laplace")
    x, y = u.cubic_data(20, seed=9)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(1, 20), nn.ReLU(), nn.Linear(20, 1))
    ours = u.LastLayerLaplace(net[:-1], net[-1], x, y, prior_precision=0.3, sigma_noise=2.0)
    theirs = laplace.Laplace(net, "regression", subset_of_weights="last_layer", hessian_structure="full",
                             prior_precision=0.3, sigma_noise=2.0)
    theirs.fit(torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y[:, None]), batch_size=20))
    x_new = torch.linspace(-6, 6, 25)[:, None]
    f_mean, f_var = theirs(x_new, pred_type="glm")
    mean, var = ours.predict(x_new)
    assert torch.allclose(mean.float(), f_mean[:, 0], rtol=1e-4, atol=1e-4)
    assert torch.allclose(var.float(), f_var[:, 0, 0] + 4.0, rtol=1e-4)
    assert abs(float(ours.log_marginal_likelihood()) - float(theirs.log_marginal_likelihood())) < 1e-3


def test_cubic_data_is_seeded_and_in_range():
    x, y = u.cubic_data(100, seed=3)
    x2, _ = u.cubic_data(100, seed=3)
    assert torch.equal(x, x2) and x.shape == (100, 1) and y.shape == (100,)
    assert float(x.min()) >= -4 and float(x.max()) <= 4
    assert 2.0 < float((y - x[:, 0] ** 3).std()) < 4.0
    with pytest.raises(ValueError, match="low < high"):
        u.cubic_data(5, low=1.0, high=0.0)


# ----- the exercises: the references pass, plausible mistakes fail -----

@pytest.mark.parametrize("short", sorted(EXERCISES))
def test_reference_passes(short):
    assert verify_reference(f"uncertainty.{short}").passed  # a learner's function may not call it


def _nll_without_constant(mean, var, y):
    return 0.5 * (torch.log(var) + (y - mean) ** 2 / var).mean()


def _nll_summed(mean, var, y):
    return 0.5 * (torch.log(2 * math.pi * var) + (y - mean) ** 2 / var).sum()


def _nll_of_std(mean, std, y):
    return 0.5 * (torch.log(2 * math.pi * std**2) + (y - mean) ** 2 / std**2).mean()


def _nll_as_a_number(mean, var, y):
    return float(u.gaussian_nll(mean.detach(), var.detach(), y))


def _coverage_always_196(mean, std, y, level):
    return ((y - mean).abs() <= 1.96 * std).double().mean()


def _coverage_one_sided_quantile(mean, std, y, level):
    z = torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor(level, dtype=torch.float64))
    return ((y - mean).abs() <= z * std).double().mean()


def _coverage_with_variance(mean, std, y, level):
    z = torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor(0.5 + level / 2, dtype=torch.float64))
    return ((y - mean).abs() <= z * std**2).double().mean()


def _mixture_average_variance(means, variances):
    return means.mean(0), variances.mean(0)


def _mixture_unbiased(means, variances):
    """Divides the spread by M - 1 (with one member: NaN, which the check also rejects)."""
    members = means.shape[0]
    spread = ((means - means.mean(0)) ** 2).sum(0) / (members - 1) if members > 1 else means[0] * float("nan")
    return means.mean(0), variances.mean(0) + spread


def _mixture_detached(means, variances):
    mean, var = u.mixture_moments(means.detach(), variances.detach())
    return mean, var


def _scale_mean_abs(mean, std, y):
    return ((y - mean) / std).abs().mean()


def _scale_no_root(mean, std, y):
    return (((y - mean) / std) ** 2).mean()


def _scale_ratio_of_averages(mean, std, y):
    return ((y - mean) ** 2).mean().sqrt() / std.mean()


@pytest.mark.parametrize("short, wrong", [
    ("gaussian_nll", _nll_without_constant), ("gaussian_nll", _nll_summed), ("gaussian_nll", _nll_of_std),
    ("gaussian_nll", _nll_as_a_number),
    ("interval_coverage", _coverage_always_196), ("interval_coverage", _coverage_one_sided_quantile),
    ("interval_coverage", _coverage_with_variance),
    ("mixture_moments", _mixture_average_variance), ("mixture_moments", _mixture_unbiased),
    ("mixture_moments", _mixture_detached),
    ("std_scale", _scale_mean_abs), ("std_scale", _scale_no_root), ("std_scale", _scale_ratio_of_averages),
], ids=lambda v: getattr(v, "__name__", v))
def test_plausible_mistakes_fail(short, wrong):
    assert verify(f"uncertainty.{short}", wrong).status == "fail"


# ----- correct answers in float32 or float64 pass; right values with wrong gradients fail -----

def _nll_answer(mean, var, y):
    return (0.5 * torch.log(2 * math.pi * var) + 0.5 * (y - mean) ** 2 / var).mean()


def _coverage_answer(mean, std, y, level=0.95):
    z = torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor(0.5 + level / 2, dtype=torch.float64))
    return ((y - mean).abs() <= z * std).to(y.dtype).mean()


def _mixture_answer(means, variances):
    mean = means.mean(0)
    return mean, (variances + means**2).mean(0) - mean**2


def _scale_answer(mean, std, y):
    return ((y - mean) / std).pow(2).mean().sqrt()


ANSWERS = {"gaussian_nll": _nll_answer, "interval_coverage": _coverage_answer,
           "mixture_moments": _mixture_answer, "std_scale": _scale_answer}


def _in(dtype, answer):
    """The answer computed in `dtype`: tensor arguments cast, so a float32 learner is imitated."""
    def cast(*args):
        return answer(*(a.to(dtype) if isinstance(a, torch.Tensor) else a for a in args))
    return cast


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("short", sorted(ANSWERS))
def test_correct_answers_pass_in_float32_and_float64(short, dtype):
    verdict = verify(f"uncertainty.{short}", _in(dtype, ANSWERS[short]))
    assert verdict.passed, verdict.message


def _nll_variance_detached_in_the_log(mean, var, y):  # the right value, a wrong gradient
    return (0.5 * torch.log(2 * math.pi * var.detach()) + 0.5 * (y - mean) ** 2 / var).mean()


def _mixture_mean_detached(means, variances):  # the right values, no gradient through the mean
    mean = means.detach().mean(0)
    return mean, (variances + means**2).mean(0) - mean**2


@pytest.mark.parametrize("short, wrong", [("gaussian_nll", _nll_variance_detached_in_the_log),
                                          ("mixture_moments", _mixture_mean_detached)],
                         ids=lambda v: getattr(v, "__name__", v))
def test_right_values_with_wrong_gradients_fail(short, wrong):
    assert verify(f"uncertainty.{short}", wrong).status == "fail"


# ----- library support for the chapter -----

def test_train_gaussian_is_full_batch_by_default(one_thread):
    x, y = u.cubic_data(20, seed=1)
    weights = []
    for seed in (0, 1):  # a full batch draws nothing: the training seed cannot matter
        torch.manual_seed(3)
        model = u.GaussianMLP(1, (8,))
        u.train_gaussian(model, x, y, steps=20, seed=seed)
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(weights[0], weights[1])
    torch.manual_seed(3)
    sampled = u.GaussianMLP(1, (8,))
    u.train_gaussian(sampled, x, y, steps=20, seed=0, batch_size=20)  # with replacement
    assert not torch.equal(weights[0], torch.cat([p.detach().flatten() for p in sampled.parameters()]))


def test_laplace_posterior_mean_is_the_exact_bayesian_mean():
    g = gen(9)
    x = torch.randn(25, 1, generator=g, dtype=torch.float64)
    y = 1.5 * x[:, 0] + 0.3 + 0.4 * torch.randn(25, generator=g, dtype=torch.float64)
    la, design, a = _linear_laplace(x, y, delta=2.0, sigma=0.4)
    exact = torch.linalg.solve(a, design.T @ y / 0.16)
    assert torch.allclose(la.posterior_mean(), exact, rtol=1e-10)
    x_new = torch.tensor([[-2.0], [1.0]], dtype=torch.float64)
    mean, var = la.predict(x_new, mean="posterior")
    phi = torch.cat([x_new, torch.ones_like(x_new)], 1)
    assert torch.allclose(mean, phi @ exact, rtol=1e-10)
    assert torch.allclose(var, la.predict(x_new)[1])  # the variance does not depend on the centre
    # a head trained without the prior (least squares) is not the posterior mean; posterior_mean is
    head = nn.Linear(1, 1).double()
    with torch.no_grad():
        lstsq = torch.linalg.lstsq(design, y[:, None]).solution[:, 0]
        head.weight[0, 0], head.bias[0] = lstsq[0], lstsq[1]
    trained = u.LastLayerLaplace(lambda t: t, head, x, y, 2.0, 0.4)
    assert torch.allclose(trained.posterior_mean(), exact, rtol=1e-10)
    assert not torch.allclose(trained.predict(x_new)[0], mean, rtol=1e-4)
    with pytest.raises(ValueError, match="posterior"):
        la.predict(x_new, mean="map")


def test_exact_gp_is_calibrated_in_range_and_uncertain_away_from_the_data():
    x, y = u.cubic_data(40, seed=4, noise=3.0)
    predict = u.exact_gp(x, y)
    x_te, y_te = u.cubic_data(2000, seed=5, noise=3.0)
    mean, var = predict(x_te)
    assert 0.85 < float(u.interval_coverage(mean, var.sqrt(), y_te)) <= 1.0
    near, far = predict(torch.tensor([[0.0], [30.0]]))[1]
    assert far > 4 * near
    with pytest.raises(ValueError, match=r"x \(N, d\)"):
        u.exact_gp(x[:, 0], y)


# ----- split conformal prediction -----

def test_split_conformal_covers_exchangeable_draws_at_its_promised_rate():
    """Over many calibration sets of n = 20 and a fresh point each, the coverage of mean ± q is
    ⌈(n + 1)(1 − α)⌉/(n + 1) = 20/21 for continuous scores, whatever their distribution (heavy
    tails here); the plain 95 % quantile of the scores would give 19/21 and fail."""
    n, trials = 20, 4000
    torch.manual_seed(7)
    residuals = torch.distributions.StudentT(2.0).sample((trials, n + 1))
    mean = torch.zeros(n)
    hits = sum(bool(r[-1].abs() <= u.split_conformal(mean, r[:n], 0.05)) for r in residuals)
    expected = 20 / 21
    bound = 4 * math.sqrt(expected * (1 - expected) / trials)  # a binomial 4-sigma band
    assert abs(hits / trials - expected) < bound
    assert 19 / 21 + bound < expected  # the band excludes the wrong rank


def test_split_conformal_with_a_std_follows_the_predicted_spread():
    g = gen(8)
    x = 4 * torch.rand(4000, generator=g)
    std = 0.1 + x  # the noise grows with x, and the model knows it
    y = std * torch.randn(4000, generator=g)
    q_scaled = u.split_conformal(torch.zeros(2000), y[:2000], 0.1, std[:2000])
    q_plain = u.split_conformal(torch.zeros(2000), y[:2000], 0.1)
    small, large = x[2000:] < 1, x[2000:] > 3
    scaled_hit = y[2000:].abs() <= q_scaled * std[2000:]
    plain_hit = y[2000:].abs() <= q_plain
    assert abs(float(scaled_hit.double().mean()) - 0.9) < 0.03
    # scaled: about 90 % in both regions; constant: over-covers the quiet one, under-covers the loud one
    for region in (small, large):
        assert abs(float(scaled_hit[region].double().mean()) - 0.9) < 0.05
    assert float(plain_hit[small].double().mean()) > 0.97 > 0.85 > float(plain_hit[large].double().mean())


def test_split_conformal_rejects_bad_input():
    y = torch.randn(20)
    with pytest.raises(ValueError, match="strictly between 0 and 1, got 0"):
        u.split_conformal(torch.zeros(20), y, 0.0)
    with pytest.raises(ValueError, match="strictly between 0 and 1, got 1.5"):
        u.split_conformal(torch.zeros(20), y, 1.5)
    with pytest.raises(ValueError, match="at least 19 calibration points .* got 0"):
        u.split_conformal(torch.zeros(0), torch.zeros(0), 0.05)
    with pytest.raises(ValueError, match="at least 19 calibration points .* got 10"):
        u.split_conformal(torch.zeros(10), y[:10], 0.05)
    with pytest.raises(ValueError, match="1-D of the same length"):
        u.split_conformal(torch.zeros(19), y, 0.05)
    assert float(u.split_conformal(torch.zeros(19), y[:19], 0.05)) == float(y[:19].abs().max())
    with pytest.raises(ValueError, match="std must be positive .* -1"):
        u.split_conformal(torch.zeros(20), y, 0.05, std=-torch.ones(20))
    with pytest.raises(ValueError, match="std must be positive .* 0"):
        u.split_conformal(torch.zeros(20), y, 0.05, std=torch.zeros(20))


def test_split_conformal_takes_the_exact_rank_where_floats_round_up():
    """q is the ceil((n + 1)(1 − alpha))-th smallest score, computed in exact fractions here:
    at alpha = 0.7, (n + 1) · 0.3 in floats lands just above the integer it equals for some n."""
    from fractions import Fraction

    for alpha in (0.7, 0.05, 0.1, 0.2):
        exact_alpha = Fraction(str(alpha))
        for n in range(3, 400):
            rank = -(-(n + 1) * (1 - exact_alpha) // 1)  # ceil in exact arithmetic
            if rank > n:
                continue
            scores = torch.arange(1.0, n + 1, dtype=torch.float64)  # the k-th smallest is k
            assert float(u.split_conformal(torch.zeros(n, dtype=torch.float64), scores, alpha)) == rank


def test_exact_gp_with_the_cubic_kernel_is_calibrated_outside_the_data_and_rbf_is_not():
    x, y = u.cubic_data(40, seed=4, noise=3.0)
    x_out, y_out = u.cubic_data(2000, seed=6, low=5.0, high=7.0, noise=3.0)
    cover = {}
    for kernel in ("rbf", "cubic"):
        mean, var = u.exact_gp(x, y, kernel=kernel)(x_out)
        cover[kernel] = float(u.interval_coverage(mean, var.sqrt(), y_out))
    assert cover["cubic"] > 0.85 and cover["rbf"] < 0.5
    with pytest.raises(ValueError, match="kernel must be one of"):
        u.exact_gp(x, y, kernel="matern")


# ----- a stack of PINN networks trained as one -----

def test_stacked_mlp_is_its_members_and_trains_like_them(one_thread):
    from course_lib import pinn
    nets = []
    for m in range(3):
        torch.manual_seed(m)
        nets.append(pinn.MLP(1, 16, 2, low=(0.0,), high=(2.0,)))
    stack = u.StackedMLP(nets)
    t = torch.linspace(0, 2, 30)[:, None]
    with torch.no_grad():
        assert torch.allclose(stack.members(t), torch.stack([net(t) for net in nets]), atol=1e-6)
    target = torch.sin(3 * t[:, 0])
    # the sum of the members' losses gives each member its own gradient
    loss = ((stack.members(t) - target) ** 2).mean(1).sum()
    loss.backward()
    for m, net in enumerate(nets):
        ((net(t) - target) ** 2).mean().backward()
        assert torch.allclose(stack.weights[0].grad[m], net.net[0].weight.grad.T, atol=1e-6)
    # second derivatives through pinn.derivatives, row block m belonging to member m
    d = pinn.derivatives(stack, t.repeat(3, 1), second=(0,))
    for m, net in enumerate(nets):
        own = pinn.derivatives(net, t, second=(0,)).second[:, 0]
        assert torch.allclose(d.second[30 * m: 30 * (m + 1), 0], own, atol=1e-5)
    with pytest.raises(ValueError, match=r"\(M·N, 1\) with M = 3, got \(31, 1\)"):
        stack(torch.zeros(31, 1))
    with pytest.raises(ValueError, match="parameter shapes"):
        u.StackedMLP([nets[0], pinn.MLP(1, 8, 2)])


# ----- Bayesian linear regression, the physics section's reference -----

def test_bayesian_linear_regression_mean_is_the_ridge_least_squares_solution():
    """The posterior mean minimises |y − Φθ|²/σ² + δ|θ|²: numpy's lstsq on the stacked system
    [Φ/σ; √δ I] θ = [y/σ; 0] gives it without any of the formulas used in the library."""
    np = pytest.importorskip("numpy")
    g = gen(11)
    phi = torch.randn(25, 3, generator=g, dtype=torch.float64)
    y = phi @ torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64) + 0.3 * torch.randn(25, generator=g, dtype=torch.float64)
    for delta in (1e-2, 3.0):
        predict = u.bayesian_linear_regression(phi, y, noise_std=0.3, prior_precision=delta)
        a = np.vstack([phi.numpy() / 0.3, math.sqrt(delta) * np.eye(3)])
        b = np.concatenate([y.numpy() / 0.3, np.zeros(3)])
        expected = np.linalg.lstsq(a, b, rcond=None)[0]
        assert np.allclose(predict.mean.numpy(), expected, rtol=1e-9, atol=1e-12)
    # a vague prior: ordinary least squares
    vague = u.bayesian_linear_regression(phi, y, noise_std=0.3, prior_precision=1e-12)
    assert np.allclose(vague.mean.numpy(), np.linalg.lstsq(phi.numpy(), y.numpy(), rcond=None)[0], rtol=1e-8)


def test_bayesian_linear_regression_is_the_gp_with_the_linear_kernel():
    """The predictive variance of the weight-space posterior equals the function-space (GP) one,
    k** − k*ᵀ (K + σ²I)⁻¹ k* with k(x, x') = φ(x)ᵀφ(x')/δ (Rasmussen & Williams, ch. 2)."""
    g = gen(12)
    phi, phi_star = (torch.randn(n, 2, generator=g, dtype=torch.float64) for n in (15, 7))
    y = torch.randn(15, generator=g, dtype=torch.float64)
    delta, sigma = 0.5, 0.2
    mean, var = u.bayesian_linear_regression(phi, y, sigma, delta)(phi_star)
    k, k_star = phi @ phi.T / delta, phi_star @ phi.T / delta
    solve = torch.linalg.solve(k + sigma**2 * torch.eye(15, dtype=torch.float64), torch.cat([y[:, None], k_star.T], 1))
    assert torch.allclose(mean, k_star @ solve[:, 0], rtol=1e-9)
    gp_var = (phi_star * phi_star).sum(1) / delta - (k_star * solve[:, 1:].T).sum(1)
    assert torch.allclose(var, gp_var, rtol=1e-8)
    _, with_noise = u.bayesian_linear_regression(phi, y, sigma, delta)(phi_star, noise=True)
    assert torch.allclose(with_noise, var + sigma**2)


def test_bayesian_linear_regression_is_calibrated_when_the_prior_is_the_truth():
    """θ drawn from the prior, y from the likelihood: the 95 % interval of the function at a fresh
    point holds φ*ᵀθ in 95 % of 4000 draws (a binomial std of 0.0034); a too-small noise fails."""
    g = gen(13)
    hits, hits_wrong = [], []
    for _ in range(4000):
        theta = torch.randn(2, generator=g, dtype=torch.float64)  # prior precision 1
        phi = torch.randn(6, 2, generator=g, dtype=torch.float64)
        y = phi @ theta + 0.5 * torch.randn(6, generator=g, dtype=torch.float64)
        phi_star = 3 * torch.randn(1, 2, generator=g, dtype=torch.float64)
        for noise, out in ((0.5, hits), (0.05, hits_wrong)):
            mean, var = u.bayesian_linear_regression(phi, y, noise, 1.0)(phi_star)
            out.append(float(u.interval_coverage(mean, var.sqrt(), phi_star @ theta)))
    assert abs(sum(hits) / len(hits) - 0.95) < 0.015
    assert sum(hits_wrong) / len(hits_wrong) < 0.8


def test_bayesian_linear_regression_rejects_bad_input():
    phi, y = torch.ones(5, 2), torch.ones(5)
    with pytest.raises(ValueError, match=r"features \(N, P\)"):
        u.bayesian_linear_regression(phi, y[:4], 0.1)
    with pytest.raises(ValueError, match="noise_std > 0"):
        u.bayesian_linear_regression(phi, y, 0.0)
    with pytest.raises(ValueError, match=r"features \(M, 2\)"):
        u.bayesian_linear_regression(phi, y, 0.1)(torch.ones(3, 3))


# ----- the symmetry toy and its negative control -----

def test_the_radial_target_is_rotation_invariant_and_the_axis_target_is_not():
    from course_lib.groups import SO2

    points, _ = u.quadrant_data(200, seed=0, noise=0.0)
    rotations = SO2().sample(8, gen(1)).float()
    for target, invariant in ((u.radial_cosine, True), (u.axis_cosine, False)):
        worst = max(float((target(points @ r.T) - target(points)).abs().max()) for r in rotations)
        assert (worst < 1e-5) == invariant, (target.__name__, worst)


def test_quadrant_data_is_seeded_in_the_quadrant_and_shares_points_and_noise_across_targets():
    p, y = u.quadrant_data(3000, seed=3)
    q, z = u.quadrant_data(3000, seed=3, target=u.axis_cosine)
    assert torch.equal(p, q) and torch.equal(y, u.quadrant_data(3000, seed=3)[1])
    assert torch.allclose(y - u.radial_cosine(p), z - u.axis_cosine(p), atol=1e-6)
    r = p.norm(dim=1)
    assert bool((p >= 0).all()) and float(r.min()) >= 0.5 - 1e-6 and float(r.max()) <= 3 + 1e-6
    assert abs(float((y - u.radial_cosine(p)).std()) - 0.1) < 0.005


def test_gaussian_scores_agree_with_their_definitions():
    g = gen(14)
    mean, y, var = torch.randn(40, generator=g), torch.randn(40, generator=g), 0.2 + torch.rand(40, generator=g)
    s = u.gaussian_scores(mean, var, y)
    assert s["nll"] == pytest.approx(float(nn.GaussianNLLLoss(full=True)(mean, y, var)), rel=1e-6)
    assert s["rmse"] == pytest.approx(float(torch.nn.functional.mse_loss(mean, y).sqrt()), rel=1e-6)
    assert s["cover"] == pytest.approx(float(((y - mean).abs() <= 1.959964 * var.sqrt()).float().mean()))
    assert s["std"] == pytest.approx(float(var.sqrt().mean()), rel=1e-6)


def test_rotated_scores_see_a_wrong_symmetry():
    """A prediction that depends on the radius alone scores the same on rotated points as on the
    points themselves when the target is radial, and not when it is the axis cosine, which the
    oracle (the target itself) scores alike everywhere."""
    from course_lib.groups import SO2

    rotations = SO2().sample(8, gen(2)).float()
    points, y_radial = u.quadrant_data(300, seed=5)
    _, y_axis = u.quadrant_data(300, seed=5, target=u.axis_cosine)
    by_radius = lambda p: (u.radial_cosine(p), torch.full((len(p),), 0.01))
    at_home = u.gaussian_scores(*by_radius(points), y_radial)
    moved = u.rotated_scores(by_radius, u.radial_cosine, points, y_radial, rotations)
    assert all(moved[k] == pytest.approx(at_home[k], rel=1e-4, abs=1e-6) for k in at_home)
    for target, y in ((u.radial_cosine, y_radial), (u.axis_cosine, y_axis)):
        oracle = lambda p, target=target: (target(p), torch.full((len(p),), 0.01))
        assert u.rotated_scores(oracle, target, points, y, rotations)["nll"] == pytest.approx(
            u.gaussian_scores(*oracle(points), y)["nll"], rel=1e-4)
    wrong_home = u.gaussian_scores(*by_radius(points), y_axis)
    wrong_moved = u.rotated_scores(by_radius, u.axis_cosine, points, y_axis, rotations)
    assert abs(wrong_moved["nll"] - wrong_home["nll"]) > 1.0
    with pytest.raises(ValueError, match=r"rotations \(K, 2, 2\)"):
        u.rotated_scores(by_radius, u.radial_cosine, points, y_radial, rotations[0])
