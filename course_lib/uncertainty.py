"""Predictive uncertainty, judged by calibration (chapter "Uncertainty").

A regressor that says how sure it is predicts a distribution, here a Gaussian N(mean, var) at
every input. Four ways to get one, all on the same network body:

* `GaussianMLP` + `train_gaussian`: one network with a mean head and a variance head, trained by
  the Gaussian negative log-likelihood (`gaussian_nll`): it learns the noise in the data;
* a deep ensemble (Lakshminarayanan et al., 2017): M such networks from different seeds, combined
  as an equal mixture (`mixture_moments`), so that their disagreement adds to the variance;
* MC dropout (Gal & Ghahramani, 2016): dropout kept on at test time, samples combined the same way
  (`predict_mc_dropout`);
* `LastLayerLaplace`: a Gaussian posterior over the last layer's weights of a trained network,
  its prior precision and noise level chosen by the marginal likelihood (MacKay, 1992; Daxberger
  et al., 2021).

Whether the variance is right is measured, not assumed: `interval_coverage`,
`calibration_curve`, and `std_scale`, the one factor on the standard deviation that a
validation split asks for (recalibration; Levi et al. 2019, Laves et al. 2020). Two references:
`split_conformal`, whose intervals hold the promised fraction of fresh points from the calibration
data's distribution whatever the model (a marginal, in-range guarantee), and `exact_gp`, an exact
Gaussian process (scikit-learn) whose kernel hyperparameters are fitted by the marginal likelihood;
it is calibrated only as far as its kernel suits the function. `bayesian_linear_regression` is the
exact posterior of a model linear in given features with a known noise: a reference that knows as
much as the features and the noise level tell it.

The symmetry toy: `quadrant_data` draws points of one quadrant and a target, rotation-invariant
(`radial_cosine`) or not (`axis_cosine`, the negative control); `gaussian_scores` and
`rotated_scores` score a predictive distribution there and on rotated copies of the points.
"""

from __future__ import annotations

import math
import warnings
from typing import Callable, Sequence

import torch
from torch import Tensor, nn

from course_lib.arguments import require_int
from course_lib.train import History, fit

# --------------------------------------------------------------------------------------------
# The toy problem of Lakshminarayanan et al. (2017)
# --------------------------------------------------------------------------------------------


def cubic_data(n: int = 20, seed: int = 0, low: float = -4.0, high: float = 4.0,
               noise: float = 3.0) -> tuple[Tensor, Tensor]:
    """x ~ U[low, high] (n, 1) and y = x³ + N(0, noise²) (n,), float32."""
    require_int(n, "n")
    if not low < high or noise < 0:
        raise ValueError(f"need low < high and noise >= 0, got low={low}, high={high}, noise={noise}")
    gen = torch.Generator().manual_seed(seed)
    x = low + (high - low) * torch.rand(n, 1, generator=gen)
    return x, x[:, 0] ** 3 + noise * torch.randn(n, generator=gen)


# --------------------------------------------------------------------------------------------
# Scores of a Gaussian prediction
# --------------------------------------------------------------------------------------------


def _check_prediction(mean: Tensor, spread: Tensor, y: Tensor, what: str) -> None:
    if mean.dim() != 1 or mean.shape != spread.shape or mean.shape != y.shape:
        raise ValueError(f"mean, {what} and y must be 1-D of the same length, got shapes "
                         f"{tuple(mean.shape)}, {tuple(spread.shape)} and {tuple(y.shape)}")
    if bool((spread <= 0).any()):
        raise ValueError(f"{what} must be positive everywhere, got a minimum of {float(spread.min()):.3g}")


def gaussian_nll(mean: Tensor, var: Tensor, y: Tensor) -> Tensor:
    """Mean over points of −log N(y | mean, var) = ½ log(2π var) + (y − mean)² / (2 var).

    mean, var, y (N,) -> a scalar tensor, differentiable in mean and var.
    """
    _check_prediction(mean, var, y, "var")
    return 0.5 * (torch.log(2 * math.pi * var) + (y - mean) ** 2 / var).mean()


def _z(level: float) -> float:
    """The half-width, in standard deviations, of the central interval holding `level` of N(0, 1)."""
    if not 0 < level < 1:
        raise ValueError(f"a coverage level must lie strictly between 0 and 1, got {level}")
    return float(torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor(0.5 + level / 2, dtype=torch.float64)))


def interval_coverage(mean: Tensor, std: Tensor, y: Tensor, level: float = 0.95) -> Tensor:
    """The fraction of y (N,) inside the central `level` interval mean ± z·std of N(mean, std²).

    z is the (1 + level)/2 quantile of N(0, 1) (1.96 for 95 %). Returns a scalar tensor in [0, 1].
    """
    _check_prediction(mean, std, y, "std")
    return ((y - mean).abs() <= _z(level) * std).double().mean()


def calibration_curve(mean: Tensor, std: Tensor, y: Tensor, levels: Sequence[float]) -> Tensor:
    """Observed coverage (L,) of the central intervals at each expected level in `levels` (L,).

    A calibrated prediction gives observed ≈ expected at every level (the diagonal).
    """
    return torch.stack([interval_coverage(mean, std, y, level) for level in levels])


def std_scale(mean: Tensor, std: Tensor, y: Tensor) -> Tensor:
    """The factor s that minimises the Gaussian NLL of y under N(mean, (s·std)²): the root mean
    square of the standardised residuals (y − mean)/std. Fitted on a validation split, s·std is
    the recalibrated standard deviation. mean, std, y (N,) -> a scalar tensor.
    """
    _check_prediction(mean, std, y, "std")
    return (((y - mean) / std) ** 2).mean().sqrt()


def split_conformal(mean: Tensor, y: Tensor, alpha: float = 0.05, std: Tensor | None = None) -> Tensor:
    """Split conformal prediction (Vovk, Gammerman & Shafer 2005; Lei et al. 2018): the half-width q
    of the intervals mean ± q (or mean ± q·std) fitted on a calibration set the model did not train on.

    mean, y (n,): the model's predictions and the targets at the n calibration points; std (n,),
    optional, turns the score |y − mean| into |y − mean|/std (intervals that follow the predicted
    spread). q is the ⌈(n + 1)(1 − alpha)⌉-th smallest score. For a fresh point exchangeable with the
    calibration points, P(y ∈ mean ± q·std) ≥ 1 − alpha, and ≤ 1 − alpha + 1/(n + 1) without ties:
    a guarantee on average over calibration sets and fresh points from the same distribution, not at
    every x and not for points from elsewhere (outside the data's range). Returns a scalar tensor.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha (the miscoverage) must lie strictly between 0 and 1, got {alpha}")
    if mean.dim() != 1 or mean.shape != y.shape or (std is not None and std.shape != y.shape):
        raise ValueError(f"mean, y (and std) must be 1-D of the same length, got shapes {tuple(mean.shape)}, "
                         f"{tuple(y.shape)}" + ("" if std is None else f" and {tuple(std.shape)}"))
    if std is not None and not bool((std > 0).all()):
        raise ValueError(f"std must be positive at every calibration point, got its smallest value "
                         f"{float(std.min())}")
    scores = (y - mean).abs() if std is None else (y - mean).abs() / std
    n = len(scores)
    rank = math.ceil((n + 1) * (1 - alpha) - 1e-9)  # (n + 1)(1 − alpha) in floats can land just above
    # an integer it equals (0.3 · 100 = 30.000000000000004): the 1e-9 keeps the rank exact
    if n == 0 or rank > n:
        raise ValueError(f"alpha = {alpha} needs at least {math.ceil(1 / alpha) - 1} calibration points "
                         f"(else the interval is infinite), got {n}")
    return scores.sort().values[rank - 1]


def mixture_moments(means: Tensor, variances: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and variance of an equal mixture of M Gaussians, at N points each.

    means, variances (M, N) -> mean (N,), var (N,), with
    mean = (1/M) Σ_m mean_m  and  var = (1/M) Σ_m (var_m + mean_m²) − mean²
    (the members' average variance plus the spread of their means: the law of total variance).
    """
    if means.dim() != 2 or means.shape != variances.shape:
        raise ValueError(f"means and variances must both be (M, N), got {tuple(means.shape)} "
                         f"and {tuple(variances.shape)}")
    mean = means.mean(0)
    return mean, variances.mean(0) + ((means - mean) ** 2).mean(0)


# --------------------------------------------------------------------------------------------
# A network that predicts a Gaussian, ensembles and MC dropout
# --------------------------------------------------------------------------------------------


class GaussianMLP(nn.Module):
    """x (N, d) -> (mean (N,), var (N,)): ReLU layers of widths `hidden`, each followed by dropout
    with probability `dropout` (0: none), then a linear layer to the mean and to the variance
    (through softplus, plus `min_var` so that it stays positive)."""

    def __init__(self, in_features: int = 1, hidden: Sequence[int] = (50,), dropout: float = 0.0,
                 min_var: float = 1e-6):
        super().__init__()
        if not 0 <= dropout < 1 or min_var <= 0:
            raise ValueError(f"need 0 <= dropout < 1 and min_var > 0, got {dropout}, {min_var}")
        widths = [require_int(in_features, "in_features"), *[require_int(h, "a hidden width") for h in hidden]]
        layers: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()] + ([nn.Dropout(dropout)] if dropout else [])
        self.in_features, self.min_var = in_features, min_var
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(widths[-1], 2)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if x.dim() != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"GaussianMLP expects points (N, {self.in_features}), got shape {tuple(x.shape)}")
        out = self.head(self.body(x))
        return out[:, 0], nn.functional.softplus(out[:, 1]) + self.min_var


def train_gaussian(model: nn.Module, x: Tensor, y: Tensor, steps: int = 2000, lr: float = 1e-2,
                   seed: int = 0, batch_size: int | None = None) -> History:
    """Fit model(x) = (mean, var) to y (N,) by the Gaussian NLL with Adam (`train.fit`), each step on
    the whole data set (batch_size None: full batch) or on `batch_size` examples drawn with
    replacement. Trains on `course_lib.device()` and leaves the model in eval mode, on the CPU (`fit`)."""
    return fit(model, x, y, loss_fn=lambda out, target: gaussian_nll(*out, target), steps=steps,
               batch_size=batch_size, lr=lr, seed=seed)


def train_ensemble(make_model: Callable[[], nn.Module], x: Tensor, y: Tensor, members: int = 5,
                   seed: int = 0, **train_kwargs) -> list[nn.Module]:
    """`members` networks, member m initialised and trained with seed `seed + m` (`train_gaussian`)."""
    require_int(members, "members")
    models = []
    for m in range(members):
        torch.manual_seed(seed + m)
        model = make_model()
        train_gaussian(model, x, y, seed=seed + m, **train_kwargs)
        models.append(model)
    return models


@torch.no_grad()
def predict_ensemble(models: Sequence[nn.Module], x: Tensor) -> tuple[Tensor, Tensor]:
    """The ensemble's predictive mean and variance at x: the moments of the equal mixture of its
    members' Gaussians (`mixture_moments`). -> mean (N,), var (N,)."""
    if not models:
        raise ValueError("an ensemble needs at least one member, got none")
    outs = [model.eval()(x) for model in models]
    return mixture_moments(torch.stack([o[0] for o in outs]), torch.stack([o[1] for o in outs]))


@torch.no_grad()
def predict_mc_dropout(model: nn.Module, x: Tensor, samples: int = 100, seed: int = 0) -> tuple[Tensor, Tensor]:
    """MC dropout: `samples` forward passes with dropout on, combined as an equal mixture.

    -> mean (N,), var (N,). The global RNG is left untouched and the model in eval mode.
    """
    require_int(samples, "samples")
    if not any(isinstance(m, nn.Dropout) and m.p > 0 for m in model.modules()):
        raise ValueError("MC dropout needs a model with dropout (an nn.Dropout with p > 0), found none")
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model.train()
        outs = [model(x) for _ in range(samples)]
    model.eval()
    return mixture_moments(torch.stack([o[0] for o in outs]), torch.stack([o[1] for o in outs]))


class StackedMLP(nn.Module):
    """M `pinn.MLP`s of one shape evaluated in one pass, so that an ensemble trains in a fraction of
    the time its members take one by one: the members' weights stay separate, the gradient of the
    sum of the members' losses is each member's own gradient, and Adam updates every weight on its
    own; training the stack is training the members one by one, up to float round-off.

    Built from the members (their current weights are copied); points (M·N, d) -> values (M·N,),
    rows m·N to (m + 1)·N − 1 going to member m, so that `pinn.derivatives` applies unchanged.
    `members(x)`: every member at the same points x (N, d) -> (M, N).
    """

    def __init__(self, nets: Sequence[nn.Module]):
        super().__init__()
        if not nets:
            raise ValueError("a stack needs at least one member, got none")
        shapes = [[tuple(p.shape) for p in net.parameters()] for net in nets]
        if any(shape != shapes[0] for shape in shapes):
            raise ValueError(f"every member must have the first one's parameter shapes {shapes[0]}, got {shapes}")
        self.size, self.in_features = len(nets), nets[0].center.shape[-1]
        self.register_buffer("center", torch.stack([net.center.reshape(1, -1) for net in nets]))
        self.register_buffer("half_width", torch.stack([net.half_width.reshape(1, -1) for net in nets]))
        linear = [k for k, layer in enumerate(nets[0].net) if isinstance(layer, nn.Linear)]
        # None where a linear layer goes, else the (parameter-free) activation, used as it is
        self.layers = [None if k in linear else layer for k, layer in enumerate(nets[0].net)]
        self.weights = nn.ParameterList(  # (M, in, out) each
            [nn.Parameter(torch.stack([net.net[k].weight.detach().T for net in nets])) for k in linear])
        self.biases = nn.ParameterList(  # (M, 1, out) each
            [nn.Parameter(torch.stack([net.net[k].bias.detach()[None] for net in nets])) for k in linear])

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 2 or x.shape[1] != self.in_features or len(x) % self.size:
            raise ValueError(f"expected points (M·N, {self.in_features}) with M = {self.size}, got "
                             f"{tuple(x.shape)}")
        h = (x.reshape(self.size, -1, self.in_features) - self.center) / self.half_width
        params = iter(zip(self.weights, self.biases))
        for layer in self.layers:
            if layer is None:
                weight, bias = next(params)
                h = torch.baddbmm(bias, h, weight)
            else:
                h = layer(h)
        return h.reshape(-1)

    def members(self, x: Tensor) -> Tensor:
        """Every member's values at the points x (N, d) -> (M, N)."""
        return self(x.repeat(self.size, 1)).reshape(self.size, -1)


# --------------------------------------------------------------------------------------------
# The Laplace approximation of the last layer
# --------------------------------------------------------------------------------------------


class LastLayerLaplace:
    """A Gaussian posterior over the last linear layer of a trained regression network.

    `features(x)` maps x (N, ...) to the input of `head`, an nn.Linear(H, 1), so that the network is
    f(x) = head(features(x)). With the body fixed, f is linear in the head's P = H + 1 weights θ
    (bias included), and for the likelihood y ~ N(f(x), σ²) and the prior θ ~ N(0, I/δ) the
    posterior is exactly Gaussian, centred on the trained weights when they are the MAP, with precision

        Λ = Φᵀ Φ / σ² + δ I,        Φ = [features(x), 1]  (N, P),

    (Φᵀ Φ / σ² is the generalised Gauss–Newton matrix, here the exact Hessian). The predictive
    distribution at x* is N(f(x*), φ*ᵀ Λ⁻¹ φ* + σ²). The prior precision δ and noise σ are chosen
    by maximising the evidence (`fit_hyperparameters`). All linear algebra is in float64.

    The Gaussian is centred on the *trained* weights θ*, as the Laplace approximation is. The
    trained head minimised the squared error alone (no prior), so θ* is not the exact posterior
    mean of this linear model, Λ⁻¹ Φᵀ y / σ² (`posterior_mean`); `predict(x, mean="posterior")`
    centres the prediction there instead.
    """

    def __init__(self, features: Callable[[Tensor], Tensor], head: nn.Linear, x: Tensor, y: Tensor,
                 prior_precision: float = 1.0, sigma_noise: float = 1.0):
        if not isinstance(head, nn.Linear) or head.out_features != 1:
            raise ValueError(f"head must be an nn.Linear with one output, got {head!r}")
        if y.dim() != 1 or len(y) != len(x):
            raise ValueError(f"y must be (N,) with N = len(x) = {len(x)}, got shape {tuple(y.shape)}")
        self.features, self.head = features, head
        self.prior_precision, self.sigma_noise = float(prior_precision), float(sigma_noise)
        with torch.no_grad():
            phi = self._design(x)
            self.theta = torch.cat([head.weight[0], head.bias]).double()
            self.residual_sq = float(((y.double() - phi @ self.theta) ** 2).sum())
            self.phi_t_y = phi.T @ y.double()
        self.n = len(x)
        self.gram_eigenvalues, self.gram_eigenvectors = torch.linalg.eigh(phi.T @ phi)

    def _design(self, x: Tensor) -> Tensor:
        phi = self.features(x).double()
        if phi.dim() != 2 or phi.shape[1] != self.head.in_features:
            raise ValueError(f"features(x) must be (N, {self.head.in_features}), got shape {tuple(phi.shape)}")
        return torch.cat([phi, torch.ones(len(phi), 1, dtype=phi.dtype, device=phi.device)], 1)

    def log_marginal_likelihood(self, prior_precision: Tensor | float | None = None,
                                sigma_noise: Tensor | float | None = None) -> Tensor:
        """The Laplace evidence log p(y | δ, σ) (a scalar tensor, differentiable in δ and σ):

        log N(y | Φθ, σ²I) − ½ δ |θ|² − ½ log det Λ + ½ P log δ.
        """
        delta = torch.as_tensor(self.prior_precision if prior_precision is None else prior_precision,
                                dtype=torch.float64)
        sigma = torch.as_tensor(self.sigma_noise if sigma_noise is None else sigma_noise, dtype=torch.float64)
        log_lik = -0.5 * self.n * torch.log(2 * math.pi * sigma**2) - 0.5 * self.residual_sq / sigma**2
        log_det = torch.log(self.gram_eigenvalues.clamp_min(0) / sigma**2 + delta).sum()
        p = len(self.theta)
        return log_lik - 0.5 * delta * (self.theta @ self.theta) - 0.5 * log_det + 0.5 * p * torch.log(delta)

    def fit_hyperparameters(self, steps: int = 500, lr: float = 0.1) -> LastLayerLaplace:
        """Set δ and σ to maximise `log_marginal_likelihood` (Adam on their logarithms); returns self."""
        require_int(steps, "steps")
        log_delta = torch.tensor(math.log(self.prior_precision), dtype=torch.float64, requires_grad=True)
        log_sigma = torch.tensor(math.log(self.sigma_noise), dtype=torch.float64, requires_grad=True)
        opt = torch.optim.Adam([log_delta, log_sigma], lr=lr)
        for _ in range(steps):
            opt.zero_grad()
            (-self.log_marginal_likelihood(log_delta.exp(), log_sigma.exp())).backward()
            opt.step()
        self.prior_precision = float(log_delta.detach().exp())
        self.sigma_noise = float(log_sigma.detach().exp())
        return self

    def posterior_covariance(self) -> Tensor:
        """Λ⁻¹ (P, P), from the eigendecomposition of Φᵀ Φ."""
        u, lam = self.gram_eigenvectors, self.gram_eigenvalues.clamp_min(0)
        return (u / (lam / self.sigma_noise**2 + self.prior_precision)) @ u.T

    def posterior_mean(self) -> Tensor:
        """The exact posterior mean of the last layer's weights, Λ⁻¹ Φᵀ y / σ² (P,), for the current δ, σ."""
        return self.posterior_covariance() @ self.phi_t_y / self.sigma_noise**2

    @torch.no_grad()
    def predict(self, x: Tensor, mean: str = "trained") -> tuple[Tensor, Tensor]:
        """Predictive mean and variance φᵀ Λ⁻¹ φ + σ² at x: each (N,), float64. The mean is φᵀθ* at
        the trained weights (mean="trained", the Laplace approximation) or at the exact posterior
        mean of the last layer (mean="posterior")."""
        if mean not in ("trained", "posterior"):
            raise ValueError(f"mean is 'trained' or 'posterior', got {mean!r}")
        phi = self._design(x)
        f_var = ((phi @ self.posterior_covariance()) * phi).sum(1)
        theta = self.theta if mean == "trained" else self.posterior_mean()
        return phi @ theta, f_var + self.sigma_noise**2


# --------------------------------------------------------------------------------------------
# A reference: the exact Gaussian process
# --------------------------------------------------------------------------------------------


def exact_gp(x: Tensor, y: Tensor, seed: int = 0, kernel: str = "rbf",
             restarts: int = 5) -> Callable[[Tensor], tuple[Tensor, Tensor]]:
    """An exact Gaussian process regression on x (N, d), y (N,), its kernel hyperparameters chosen by
    maximising the marginal likelihood (scikit-learn, targets normalised, `restarts` restarts from
    `seed`). `kernel`: "rbf", c·RBF(ℓ) + white noise σ² (smooth functions that revert to the mean
    away from the data), or "cubic", c·(σ₀² + x·x')³ + white noise σ² (the cubic polynomials: a
    prior that knows the cubic toy's form). Returns predict(x*) -> (mean (M,), var (M,)) float32,
    the variance including the noise σ² (a prediction of y, like the networks'); predict.kernel is
    the fitted kernel."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, DotProduct, WhiteKernel

    if x.dim() != 2 or y.dim() != 1 or len(x) != len(y):
        raise ValueError(f"expected x (N, d) and y (N,), got {tuple(x.shape)} and {tuple(y.shape)}")
    shapes = {  # (the bounds on c, the kernel's shape): (σ₀² + x·x')³ needs a small c
        "rbf": lambda: ((1e-3, 1e3), RBF(1.0, (1e-2, 1e2))),
        "cubic": lambda: ((1e-7, 1e3), DotProduct(1.0, (1e-5, 1e2)) ** 3),
    }
    if kernel not in shapes:
        raise ValueError(f"kernel must be one of {sorted(shapes)}, got {kernel!r}")
    require_int(restarts, "restarts", minimum=0)
    bounds, shape = shapes[kernel]()
    prior = ConstantKernel(1.0, bounds) * shape + WhiteKernel(0.1, (1e-6, 1e1))
    gp = GaussianProcessRegressor(prior, normalize_y=True, n_restarts_optimizer=restarts, random_state=seed)
    with warnings.catch_warnings():
        # a bound reached is no failure here: σ₀ → 0 is the pure cubic (x·x')³, which the toy is
        warnings.simplefilter("ignore", ConvergenceWarning)
        gp.fit(x.double().numpy(), y.double().numpy())

    def predict(points: Tensor) -> tuple[Tensor, Tensor]:
        mean, std = gp.predict(points.double().numpy(), return_std=True)
        return torch.tensor(mean, dtype=torch.float32), torch.tensor(std**2, dtype=torch.float32)

    predict.kernel = gp.kernel_  # type: ignore[attr-defined]
    return predict


# --------------------------------------------------------------------------------------------
# A reference: Bayesian linear regression on known features with a known noise
# --------------------------------------------------------------------------------------------


def bayesian_linear_regression(phi: Tensor, y: Tensor, noise_std: float,
                               prior_precision: float = 1e-2) -> Callable[..., tuple[Tensor, Tensor]]:
    """The exact posterior of y = φ(x)ᵀθ + N(0, noise_std²) with the prior θ ~ N(0, I/prior_precision),
    given the features phi (N, P) of the training inputs and y (N,): precision
    Λ = ΦᵀΦ/σ² + δI, mean Λ⁻¹Φᵀy/σ². All in float64.

    Returns predict(phi_star (M, P), noise=False) -> (mean (M,), var (M,)): the posterior of the
    function φ*ᵀθ, plus σ² with noise=True (a prediction of a new y); predict.mean (P,) and
    predict.cov (P, P) are the posterior's moments.
    """
    if phi.dim() != 2 or y.dim() != 1 or len(phi) != len(y):
        raise ValueError(f"expected features (N, P) and y (N,), got shapes {tuple(phi.shape)} and {tuple(y.shape)}")
    if not (noise_std > 0 and prior_precision > 0):
        raise ValueError(f"need noise_std > 0 and prior_precision > 0, got {noise_std} and {prior_precision}")
    phi, y = phi.double(), y.double()
    precision = phi.T @ phi / noise_std**2 + prior_precision * torch.eye(phi.shape[1], dtype=torch.float64)
    cov = torch.linalg.inv(precision)
    cov = (cov + cov.T) / 2
    mean = cov @ phi.T @ y / noise_std**2

    def predict(phi_star: Tensor, noise: bool = False) -> tuple[Tensor, Tensor]:
        if phi_star.dim() != 2 or phi_star.shape[1] != len(mean):
            raise ValueError(f"expected features (M, {len(mean)}), got shape {tuple(phi_star.shape)}")
        phi_star = phi_star.double()
        var = ((phi_star @ cov) * phi_star).sum(1)
        return phi_star @ mean, var + noise_std**2 if noise else var

    predict.mean, predict.cov = mean, cov  # type: ignore[attr-defined]
    return predict


# --------------------------------------------------------------------------------------------
# The symmetry toy: one quadrant of the plane, scored on rotated copies of the points
# --------------------------------------------------------------------------------------------


def radial_cosine(points: Tensor) -> Tensor:
    """cos(1.5·|x|) at points (N, 2) -> (N,): unchanged by every rotation about the origin."""
    return torch.cos(1.5 * points.norm(dim=1))


def axis_cosine(points: Tensor) -> Tensor:
    """cos(1.5·x₁) at points (N, 2) -> (N,): the same wave along the first axis, NOT rotation-invariant
    (the negative control of the radial target)."""
    return torch.cos(1.5 * points[:, 0])


def quadrant_data(n: int, seed: int, target: Callable[[Tensor], Tensor] = radial_cosine,
                  noise: float = 0.1) -> tuple[Tensor, Tensor]:
    """n points of the first quadrant, angle ~ U[0, π/2] and radius ~ U[0.5, 3], (n, 2), and
    y = target(points) + N(0, noise²) (n,), float32. The same seed gives the same points and noise
    for every target."""
    require_int(n, "n")
    if noise < 0:
        raise ValueError(f"need noise >= 0, got {noise}")
    g = torch.Generator().manual_seed(seed)
    angle = math.pi / 2 * torch.rand(n, generator=g)
    r = 0.5 + 2.5 * torch.rand(n, generator=g)
    points = torch.stack([r * angle.cos(), r * angle.sin()], 1)
    return points, target(points) + noise * torch.randn(n, generator=g)


def gaussian_scores(mean: Tensor, var: Tensor, y: Tensor, level: float = 0.95) -> dict[str, float]:
    """A Gaussian prediction N(mean, var) of y, all (N,), scored: {"nll": `gaussian_nll`, "rmse": the
    root mean square of y − mean, "cover": `interval_coverage` at `level`, "std": the mean predicted
    std}."""
    _check_prediction(mean, var, y, "var")
    return {"nll": float(gaussian_nll(mean, var, y)), "rmse": float(((y - mean) ** 2).mean().sqrt()),
            "cover": float(interval_coverage(mean, var.sqrt(), y, level)), "std": float(var.sqrt().mean())}


def rotated_scores(predict: Callable[[Tensor], tuple[Tensor, Tensor]], target: Callable[[Tensor], Tensor],
                   points: Tensor, y: Tensor, rotations: Tensor) -> dict[str, float]:
    """`gaussian_scores` of predict (points (N, 2) -> mean (N,), var (N,)) at the rotated points R·x,
    averaged over the rotations (K, 2, 2). The target there is target(R·x) plus the same noise as at
    x, y − target(x): for an invariant target the rotated y is y itself."""
    if rotations.dim() != 3 or rotations.shape[1:] != (2, 2):
        raise ValueError(f"expected rotations (K, 2, 2), got shape {tuple(rotations.shape)}")
    if points.dim() != 2 or points.shape[1] != 2 or y.shape != (len(points),):
        raise ValueError(f"expected points (N, 2) and y (N,), got shapes {tuple(points.shape)} and {tuple(y.shape)}")
    noise = y - target(points)
    scores = []
    for rotation in rotations:
        rotated = points @ rotation.T.to(points.dtype)
        scores.append(gaussian_scores(*predict(rotated), target(rotated) + noise))
    return {key: sum(s[key] for s in scores) / len(scores) for key in scores[0]}
