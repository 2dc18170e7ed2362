"""The one training loop, `course_lib.train.fit`: what each option does, checked against a loop
written out by hand."""

import math

import pytest
import torch
from torch import nn

from course_lib.train import fit


def data(n=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    return x, x @ torch.tensor([1.0, -2.0, 0.5]) + 0.1 * torch.randn(n, generator=g)


def linear(seed=0):
    torch.manual_seed(seed)
    return nn.Linear(3, 1)


def mse(out, y):
    return nn.functional.mse_loss(out[:, 0], y)


def test_default_minibatches_are_the_hand_written_loop():
    x, y = data()
    a, b = linear(), linear()
    history = fit(a, x, y, mse, steps=30, batch_size=8, lr=1e-2, seed=3, device=torch.device("cpu"))
    gen, opt = torch.Generator().manual_seed(3), torch.optim.Adam(b.parameters(), lr=1e-2)
    for step in range(30):
        idx = torch.randint(len(x), (8,), generator=gen)
        loss = mse(b(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        assert math.isclose(loss.item(), history.loss[step], rel_tol=1e-6)
    assert torch.equal(a.weight, b.weight)


def test_full_batch_uses_every_example_every_step():
    x, y = data()
    model = linear()
    seen = []
    fit(model, x, y, lambda out, t: (seen.append(len(t)), mse(out, t))[1], steps=5, batch_size=None,
        device=torch.device("cpu"))
    assert seen == [len(x)] * 5
    # full batch is deterministic: the seed of the (unused) sampler changes nothing
    m1, m2 = linear(), linear()
    fit(m1, x, y, mse, steps=20, batch_size=None, seed=1, device=torch.device("cpu"))
    fit(m2, x, y, mse, steps=20, batch_size=None, seed=2, device=torch.device("cpu"))
    assert torch.equal(m1.weight, m2.weight)


def test_cosine_schedule_param_groups_and_after_step():
    x, y = data()
    model = linear()
    lrs = []
    opt_groups = [{"params": [model.weight], "lr": 1e-2}, {"params": [model.bias], "lr": 0.0}]
    bias = model.bias.detach().clone()
    fit(model, x, y, mse, steps=10, batch_size=None, param_groups=opt_groups, schedule="cosine",
        after_step=lambda m: lrs.append(float(m.weight.detach().abs().max())), device=torch.device("cpu"))
    assert torch.equal(model.bias, bias)  # a group with lr 0 does not move
    assert len(lrs) == 10
    with pytest.raises(ValueError, match="schedule must be"):
        fit(linear(), x, y, mse, steps=1, schedule="linear")


def test_cosine_anneals_to_zero():
    x, y = data()
    model, steps = linear(), 8
    seen = []

    def record(m):
        seen.append(m.weight.detach().clone())

    fit(model, x, y, mse, steps=steps, batch_size=None, lr=0.1, schedule="cosine", after_step=record,
        device=torch.device("cpu"))
    # the last step runs at lr = 0.1 * (1 + cos(pi * 7 / 8)) / 2 ~ 0.004: a much smaller move than the first
    first = (seen[1] - seen[0]).abs().max()
    last = (seen[-1] - seen[-2]).abs().max()
    assert last < 0.2 * first


def test_objective_and_draw_replace_the_defaults():
    x, y = data()
    model = linear()
    calls = []

    def draw(gen):
        n = int(torch.randint(5, 10, (1,), generator=gen))
        calls.append(n)
        return x[:n], y[:n]

    def objective(m, xb, yb):
        return mse(m(xb), yb) + 0.0 * m.weight.sum()

    history = fit(model, x, y, steps=6, draw=draw, objective=objective, device=torch.device("cpu"))
    assert len(calls) == 6 and len(set(calls)) > 1 and len(history.loss) == 6


def test_weight_decay_shrinks_weights():
    x, y = data()
    zero_y = torch.zeros_like(y)
    a, b = linear(), linear()
    fit(a, x, zero_y, mse, steps=50, batch_size=None, lr=1e-2, device=torch.device("cpu"))
    fit(b, x, zero_y, mse, steps=50, batch_size=None, lr=1e-2, weight_decay=10.0,
        device=torch.device("cpu"))
    assert not torch.equal(a.weight, b.weight)


def test_fused_is_the_fused_adam_and_the_same_update(monkeypatch):
    """fused=True asks Adam for its fused kernel (and only then), and trains to the same weights
    as the default up to float rounding, with weight decay and a cosine schedule on."""
    asked = []
    adam = torch.optim.Adam
    monkeypatch.setattr(torch.optim, "Adam", lambda *a, **k: (asked.append(k.get("fused")), adam(*a, **k))[1])
    x, y = data()
    runs = {}
    for fused in (False, True):
        model = linear()
        fit(model, x, y, mse, steps=40, batch_size=8, lr=1e-2, weight_decay=0.1, schedule="cosine",
            fused=fused, device=torch.device("cpu"))
        runs[fused] = model.weight.detach().clone()
    assert asked == [None, True]
    torch.testing.assert_close(runs[True], runs[False], rtol=1e-5, atol=1e-6)
    assert not torch.equal(runs[True], linear().weight)  # it trained

# ----- where it trains: course_lib.device(), then back to the CPU -----

def test_fit_asks_for_the_device_and_returns_the_model_on_the_cpu_in_eval_mode(monkeypatch):
    from device_spy import DeviceSpy

    x, y = data()
    a, b = linear(), linear()
    spy = DeviceSpy(monkeypatch)
    history = fit(a, x, y, mse, steps=30, batch_size=8, lr=1e-2, seed=3, validation=(x[:10], y[:10]),
                  eval_every=5)
    assert spy.trained_on_device_then_cpu(a) and not a.training
    reference = fit(b, x, y, mse, steps=30, batch_size=8, lr=1e-2, seed=3, validation=(x[:10], y[:10]),
                    eval_every=5, device=torch.device("cpu"))
    assert history.loss == reference.loss and history.val_score == reference.val_score
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_fit_hands_score_the_validation_pair_on_the_training_device(monkeypatch):
    """A custom score (e.g. model(x_val) inside a lambda) gets tensors on the model's device, each
    moved once, not once per evaluation."""
    from course_lib import train

    there = torch.device("cpu", 0)  # a device distinct from torch.device("cpu") that can train
    monkeypatch.setattr(train, "default_device", lambda: there)
    moves = []

    class Moved(torch.Tensor):
        def to(self, *args, **kwargs):
            moves.append(args)
            return torch.Tensor.to(self.as_subclass(torch.Tensor), *args, **kwargs)

    x, y = data()
    handed = []
    score = lambda m, xv, yv: handed.append((type(xv), type(yv))) or -float(mse(m(xv), yv).detach())
    fit(linear(), x, y, mse, steps=20, batch_size=8, validation=(x[:10].as_subclass(Moved),
                                                                y[:10].as_subclass(Moved)),
        eval_every=5, score=score)
    assert moves == [(there,), (there,)]
    assert handed == [(torch.Tensor, torch.Tensor)] * 4  # what .to(there) returned, at every evaluation


def test_model_device_is_the_first_parameter_or_buffer_else_the_cpu():
    from course_lib.train import model_device

    assert model_device(nn.Linear(2, 2, device="meta")) == torch.device("meta")
    assert model_device(nn.BatchNorm1d(2, affine=False).to("meta")) == torch.device("meta")  # buffers only
    assert model_device(nn.Identity()) == torch.device("cpu")


def test_accuracy_moves_each_batch_to_the_model():
    from device_spy import Elsewhere

    from course_lib.train import accuracy

    model = Elsewhere()
    x, y = torch.randn(5, 3), torch.zeros(5, dtype=torch.long)
    assert accuracy(model, x, y, batch_size=2) == 1.0  # ones: argmax 0 everywhere
    assert model.seen == [torch.device("meta")] * 3
