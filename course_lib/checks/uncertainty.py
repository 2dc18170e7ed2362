"""Exercises of the chapter "Uncertainty" (solutions/uncertainty.ipynb).

The NLL is a loss and the mixture's moments feed one: both are also checked through their
gradients with respect to a network's weights (`parameter_gradient`). Tolerances accept a correct
answer computed in float32 as well as float64 (a float32 std_scale is off by about 1e-7 relative).
"""

from __future__ import annotations

import torch
from torch import nn

from course_lib.checks import Case, Exercise, by_short_name, call, parameter_gradient
from course_lib.uncertainty import GaussianMLP, gaussian_nll, interval_coverage, mixture_moments, std_scale


def _double(values: list[float]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def _network(seed: int, in_features: int = 1) -> nn.Module:
    torch.manual_seed(seed)
    return GaussianMLP(in_features, (8,)).double()


def _nll_run(fn, case: Case):
    """Plain cases call fn(mean, var, y); a network case (net, x, y) calls fn(*net(x), y)."""
    if isinstance(case.args[0], nn.Module):
        net, x, y = case.args
        return fn(*net(x), y)
    return call(fn, case)


def _nll_cases() -> list[Case]:
    gen = torch.Generator().manual_seed(0)
    mean, y = torch.randn(6, generator=gen, dtype=torch.float64), torch.randn(6, generator=gen, dtype=torch.float64)
    var = 0.5 + 2.5 * torch.rand(6, generator=gen, dtype=torch.float64)
    x = torch.linspace(-1, 1, 5, dtype=torch.float64)[:, None]
    return [
        Case("one point with mean 0, var 1, y = 0 (the answer is ½ log 2π ≈ 0.919)",
             (_double([0.0]), _double([1.0]), _double([0.0]))),
        Case("one point with mean 1, var 4, y = 3", (_double([1.0]), _double([4.0]), _double([3.0]))),
        Case("6 random points with variances between 0.5 and 3", (mean, var, y)),
        Case("the (mean, var) of a small GaussianMLP at 5 points: the NLL it would be trained by "
             "(the answer and its gradient with respect to the network's weights)",
             (_network(0), x, torch.sin(3 * x[:, 0]))),
    ]


def _coverage_cases() -> list[Case]:
    gen = torch.Generator().manual_seed(1)
    mean, std = torch.randn(400, generator=gen, dtype=torch.float64), 0.2 + torch.rand(400, generator=gen,
                                                                                            dtype=torch.float64)
    y = mean + std * 1.3 * torch.randn(400, generator=gen, dtype=torch.float64)
    z95 = _double([0.5, 1.0, 1.7, 1.9, -1.95, 2.0, 2.5, -1.97])
    z50 = _double([0.1, 0.6, -0.65, 0.7, 1.0, -0.7])
    return [
        Case("mean 0, std 1, level 0.95, y = " + str(z95.tolist()),
             (torch.zeros(8, dtype=torch.float64), torch.ones(8, dtype=torch.float64), z95, 0.95)),
        Case("mean 0, std 1, level 0.5, y = " + str(z50.tolist()),
             (torch.zeros(6, dtype=torch.float64), torch.ones(6, dtype=torch.float64), z50, 0.5)),
        Case("mean 0, std 2, level 0.9, y = [1, 3, 3.2, 3.4, 4, -5]",
             (torch.zeros(6, dtype=torch.float64), torch.full((6,), 2.0, dtype=torch.float64),
              _double([1, 3, 3.2, 3.4, 4, -5]), 0.9)),
        Case("400 random points whose noise is 1.3 times the predicted std, level 0.8", (mean, std, y, 0.8)),
    ]


def _mixture_run(fn, case: Case) -> torch.Tensor:
    """The answer (mean, var) stacked to (2, N); a network case (members, x) feeds the members'
    (mean, var) at x, each stacked to (M, N), to fn."""
    if isinstance(case.args[0], nn.Module):
        members, x = case.args
        outs = [member(x) for member in members]
        mean, var = fn(torch.stack([o[0] for o in outs]), torch.stack([o[1] for o in outs]))
    else:
        mean, var = call(fn, case)
    return torch.stack([torch.as_tensor(mean), torch.as_tensor(var)])


def _mixture_reference(means: torch.Tensor, variances: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return mixture_moments(means, variances)


def _mixture_cases() -> list[Case]:
    gen = torch.Generator().manual_seed(2)
    means = torch.randn(5, 4, generator=gen, dtype=torch.float64)
    variances = 0.1 + torch.rand(5, 4, generator=gen, dtype=torch.float64)
    x = torch.linspace(-1, 1, 4, dtype=torch.float64)[:, None]
    return [
        Case("M = 2 members at 3 points: means [[0, 1, 2], [2, 1, 0]], variances [[1, 1, 1], [3, 1, 2]]",
             (_double([[0, 1, 2], [2, 1, 0]]), _double([[1, 1, 1], [3, 1, 2]]))),
        Case("a single member (M = 1): the mixture is that member", (means[:1], variances[:1])),
        Case("M = 5 random members at 4 points", (means, variances)),
        Case("3 small GaussianMLPs at 4 points (the answer and its gradient with respect to their weights)",
             (nn.ModuleList([_network(s) for s in (1, 2, 3)]), x)),
    ]


def _scale_cases() -> list[Case]:
    gen = torch.Generator().manual_seed(3)
    mean, std = torch.randn(50, generator=gen, dtype=torch.float64), 0.5 + torch.rand(50, generator=gen,
                                                                                           dtype=torch.float64)
    y = mean + 0.6 * std * torch.randn(50, generator=gen, dtype=torch.float64)
    return [
        Case("mean 0, std 1, y = [1, -2, 2, 1]",
             (torch.zeros(4, dtype=torch.float64), torch.ones(4, dtype=torch.float64), _double([1, -2, 2, 1]))),
        Case("mean [1, 2], std [2, 0.5], y = [4, 1]", (_double([1, 2]), _double([2, 0.5]), _double([4, 1]))),
        Case("50 random points whose noise is 0.6 times the predicted std", (mean, std, y)),
    ]


EXERCISES = by_short_name(
    Exercise(
        name="uncertainty.gaussian_nll",
        reference=gaussian_nll,
        cases=_nll_cases,
        run=parameter_gradient(_nll_run),
        hint="−log N(y | μ, σ²) has a log-normaliser term and a squared-residual term, both with a ½; the "
             "second argument is the variance, not the standard deviation. Average over the points, "
             "and stay in torch so that the answer can be differentiated.",
        rtol=1e-5, atol=1e-6,
    ),
    Exercise(
        name="uncertainty.interval_coverage",
        reference=interval_coverage,
        cases=_coverage_cases,
        hint="the central interval that holds `level` of N(0, 1) leaves (1 − level)/2 in each tail, so "
             "its half-width is a quantile of N(0, 1) you can get from "
             "torch.distributions.Normal(0, 1).icdf (1.96 only for level 0.95); scale it by std.",
        rtol=1e-6, atol=1e-7,
    ),
    Exercise(
        name="uncertainty.mixture_moments",
        reference=_mixture_reference,
        cases=_mixture_cases,
        run=parameter_gradient(_mixture_run),
        hint="the law of total variance: the mixture's variance is the members' average variance plus "
             "the variance of their means around the mixture mean, averaged with weight 1/M each "
             "(not the M − 1 that torch.var uses by default).",
        rtol=1e-5, atol=1e-6,
        answer_in_library=(mixture_moments,),
    ),
    Exercise(
        name="uncertainty.std_scale",
        reference=std_scale,
        cases=_scale_cases,
        hint="write the NLL of N(mean, (s·std)²) as a function of s and set its derivative to zero; the "
             "answer involves the standardised residuals (y − mean)/std, squared.",
        rtol=1e-6, atol=1e-7,
    ),
)
