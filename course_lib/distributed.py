"""Data-parallel training with torch.distributed (chapter "The frontier").

Each of W processes holds a copy of the model, trains on its own 1/W of every batch, and
DistributedDataParallel (DDP) averages the gradients across processes before each step (an
all-reduce: gloo on CPUs, NCCL on GPUs). Every process draws the same global batch (same seed)
and keeps its slice (`batch_slice`), so the averaged gradient is the full batch's mean gradient
and the run equals single-process `course_lib.train.fit` up to float rounding.

Run as a script under torchrun, one process per worker:

    torchrun --nproc_per_node 2 -m course_lib.distributed --steps 200 --out run.pt

It trains `models.MLP` on the digits and rank 0 saves the weights and the seconds taken.
`launch` runs that command from Python (tests, bench/ddp.py, the chapter).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import torch
from torch import nn

from course_lib.data import digits
from course_lib.models import MLP
from course_lib.train import History, fit


def batch_slice(batch_size: int, rank: int, world_size: int) -> slice:
    """The contiguous part of a batch of `batch_size` examples that process `rank` of `world_size`
    trains on; every process gets the same number, so their mean gradients average to the batch's."""
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")
    if batch_size % world_size:
        raise ValueError(f"batch_size must be a multiple of world_size, got {batch_size} and {world_size}")
    part = batch_size // world_size
    return slice(rank * part, (rank + 1) * part)


def digits_model(seed: int = 0, hidden: int = 64) -> nn.Module:
    """The model of the demonstration: a seeded `MLP(64, (hidden,), 10)` on the 8×8 digits."""
    torch.manual_seed(seed)
    return MLP(64, (hidden,), 10)


def fit_data_parallel(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 64,
                      **fit_kwargs) -> History:
    """`train.fit` inside an initialised process group: wrap `model` in DDP (CPU, gloo) and train on
    this process's slice of every batch. The model's weights end up the same in every process."""
    if not torch.distributed.is_initialized():
        raise ValueError("no process group: call torch.distributed.init_process_group first (torchrun)")
    rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
    ddp = nn.parallel.DistributedDataParallel(model)
    return fit(ddp, x, y, batch_size=batch_size, device=torch.device("cpu"),
               batch_slice=batch_slice(batch_size, rank, world), **fit_kwargs)


def launch(nproc: int, out: Path, steps: int = 200, batch_size: int = 64, seed: int = 0,
           hidden: int = 64, timeout: float = 120.0) -> dict:
    """Run `torchrun --nproc_per_node nproc -m course_lib.distributed` and return what rank 0 saved:
    {"state_dict", "seconds", "world_size"}. Each worker uses one thread."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc),
           "--standalone", "-m", "course_lib.distributed", "--steps", str(steps),
           "--batch-size", str(batch_size), "--seed", str(seed), "--hidden", str(hidden),
           "--out", str(out)]
    subprocess.run(cmd, check=True, env=env, timeout=timeout, capture_output=True)
    return torch.load(out, weights_only=True)


def main(argv: list[str] | None = None) -> None:
    """The torchrun entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--backend", default="gloo")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.distributed.init_process_group(args.backend)
    try:
        x, y = digits()
        model = digits_model(args.seed, args.hidden)
        history = fit_data_parallel(model, x, y, batch_size=args.batch_size, steps=args.steps, seed=args.seed)
        if torch.distributed.get_rank() == 0:
            torch.save({"state_dict": model.state_dict(), "seconds": history.seconds,
                        "world_size": torch.distributed.get_world_size()}, args.out)
    finally:
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
