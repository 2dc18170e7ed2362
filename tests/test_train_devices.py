"""The chapters' training functions train where `train.fit` does (`course_lib.device()`, CUDA when
present) and hand the model back on the CPU, where the notebooks' tensors live (issue 26: a model
left on CUDA crashed the next cell, `model(x_test)` with x_test on the CPU). Checked on a CPU
machine with tests/device_spy.py: each asks for the device and moves its model to the CPU after."""

from __future__ import annotations

import torch
from device_spy import DeviceSpy

from course_lib import egnn, hnn, sets, uncertainty
from course_lib.nbody import charged_nbody


def test_train_on_sets(monkeypatch):
    spy = DeviceSpy(monkeypatch)
    model = sets.SetRegressor("sum", in_features=3, hidden=4)
    x, y = torch.randn(10, 2, 3), torch.randn(10)
    sets.train_on_sets(model, [(x, y)], steps=2, seed=0, batch_size=4)
    assert spy.trained_on_device_then_cpu(model) and not model.training


def test_train_gaussian(monkeypatch):
    spy = DeviceSpy(monkeypatch)
    model = uncertainty.GaussianMLP(1, (4,))
    uncertainty.train_gaussian(model, *uncertainty.cubic_data(8, seed=0), steps=2)
    assert spy.trained_on_device_then_cpu(model) and not model.training


def test_train_vector_field(monkeypatch):
    spy = DeviceSpy(monkeypatch)
    model = hnn.HNN(hidden=4)
    x, dxdt = hnn.mass_spring_data(n_trajectories=2, n_points=5, seed=0)
    history = hnn.train_vector_field(model, x, dxdt, steps=2)
    assert spy.trained_on_device_then_cpu(model) and history.metrics["train_mse"] > 0


def test_fit_nbody_scores_test_and_validation_during_training_and_returns_the_model_on_the_cpu(monkeypatch):
    spy = DeviceSpy(monkeypatch)
    model = egnn.EGNN(hidden=4, layers=1)
    run = egnn.fit_nbody(model, charged_nbody(6, seed=0), epochs=2, batch_size=3, seed=0,
                         test=charged_nbody(4, seed=1), eval_every=1, valid=charged_nbody(4, seed=2))
    assert spy.trained_on_device_then_cpu(model)
    assert [e for e, _ in run.test_mse] == [1, 2] and [e for e, _ in run.valid_mse] == [1, 2]
