"""checks.parameter_gradient: answers must be differentiable w.r.t. the case's networks."""

import pytest
import torch

from course_lib.checks import Case, call, parameter_gradient


def _net(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)).double()


X = torch.linspace(-1, 1, 6, dtype=torch.float64).reshape(3, 2)


def test_answer_and_gradient_of_a_weighted_sum():
    net, run = _net(), parameter_gradient()
    value, flat = run(lambda m, x: m(x)[:, 0] ** 2, Case("net", (net, X)))
    assert torch.equal(value, net(X)[:, 0].detach() ** 2)
    assert not value.requires_grad
    # the gradient is that of Σ w_k answer_k with fixed weights w = linspace(1, 2)
    w = torch.linspace(1.0, 2.0, 3, dtype=torch.float64)
    expected = torch.autograd.grad((w * net(X)[:, 0] ** 2).sum(), list(net.parameters()))
    assert torch.allclose(flat, torch.cat([g.reshape(-1) for g in expected]))
    assert flat.numel() == sum(p.numel() for p in net.parameters())


def test_the_weights_tell_apart_answers_whose_sums_agree():
    net, run = _net(), parameter_gradient()
    _, right = run(lambda m, x: m(x)[:, 0], Case("net", (net, X)))
    _, reversed_ = run(lambda m, x: m(x)[:, 0].flip(0), Case("net", (net, X)))
    assert not torch.allclose(right, reversed_)


@pytest.mark.parametrize("bad", [
    lambda m, x: m(x)[:, 0].detach(),  # detached
    lambda m, x: torch.tensor(m(x)[:, 0].tolist(), dtype=torch.float64),  # rebuilt from numbers
    lambda m, x: m(x)[:, 0].detach().numpy(),  # not a tensor
])
def test_answers_a_network_cannot_be_trained_through_raise(bad):
    with pytest.raises(ValueError, match="not differentiable"):
        parameter_gradient()(bad, Case("net", (_net(), X)))


def test_unused_parameters_give_zero_gradient_and_cases_without_network_pass_through():
    net, other = _net(0), _net(1)
    _, flat = parameter_gradient()(lambda m, o, x: m(x)[:, 0], Case("two nets", (net, other, X)))
    n = sum(p.numel() for p in net.parameters())
    assert flat[n:].abs().max() == 0 and flat[:n].abs().max() > 0
    assert torch.equal(parameter_gradient()(lambda x: 2 * x, Case("no net", (X,))), 2 * X)


def test_wraps_a_custom_run():
    def run(fn, case):
        return fn(*case.args) + 1

    value, _ = parameter_gradient(run)(lambda m, x: m(x)[:, 0], Case("net", (_net(), X)))
    assert torch.allclose(value, _net()(X)[:, 0].detach() + 1)
    assert parameter_gradient(call)(lambda x: x, Case("no net", (X,))) is X
