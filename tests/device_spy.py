"""Where the library trains and evaluates, checked on a machine without a GPU.

`DeviceSpy` records, in order, each time `train.fit` asks `course_lib.device()` for its device
("device") and each module moved to the CPU (the module itself): a training function that hard-codes
the CPU never asks, and one that leaves its model where it trained never moves it back.
`Elsewhere` is a model whose parameter lives on the meta device (a second device every machine
has): it refuses inputs that were not moved there, so an evaluation helper that forgets to move its
batches fails here as it would on a GPU.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from course_lib import train


class DeviceSpy:
    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.events: list[object] = []
        moved_to_cpu = nn.Module.cpu

        def asked() -> torch.device:
            self.events.append("device")
            return torch.device("cpu")

        def cpu(module: nn.Module) -> nn.Module:
            self.events.append(module)
            return moved_to_cpu(module)

        monkeypatch.setattr(train, "default_device", asked)
        monkeypatch.setattr(nn.Module, "cpu", cpu)

    def trained_on_device_then_cpu(self, model: nn.Module) -> bool:
        """The device was asked for, and `model` moved to the CPU after the last time it was."""
        if "device" not in self.events:
            return False
        last_ask = len(self.events) - 1 - self.events[::-1].index("device")
        return any(e is model for e in self.events[last_ask + 1:])


class Elsewhere(nn.Module):
    """(B, ...) -> ones (B, ...) on the CPU, for inputs on the meta device only (its parameter's)."""

    def __init__(self):
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1, device="meta"))
        self.seen: list[torch.device] = []

    def forward(self, x: Tensor) -> Tensor:
        self.seen.append(x.device)
        if x.device != self.anchor.device:
            raise RuntimeError(f"input on {x.device}, model on {self.anchor.device}")
        return torch.ones(x.shape)
