"""course_lib.device: CUDA where present, and COURSE_DEVICE to choose."""

import pytest
import torch

from course_lib import device


def test_the_default_follows_cuda(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert device().type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert device().type == "cpu"


def test_course_device_cpu_keeps_a_gpu_machine_on_the_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("COURSE_DEVICE", "CPU")
    assert device() == torch.device("cpu")


def test_course_device_cuda_without_cuda_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    with pytest.raises(ValueError, match="COURSE_DEVICE=cuda, but torch sees no CUDA device"):
        device()


def test_an_unknown_course_device_is_refused(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "tpu")
    with pytest.raises(ValueError, match="COURSE_DEVICE must be cpu or cuda .* got 'tpu'"):
        device()
