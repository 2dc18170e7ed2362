"""Data-parallel training with torch.distributed (chapter "The frontier").

Each of W processes holds a copy of the model, trains on its own 1/W of every batch, and
DistributedDataParallel (DDP) averages the gradients across processes before each step (an
all-reduce: gloo on CPUs, NCCL on GPUs, one GPU per process). Every process draws the same global batch (same seed)
and keeps its slice (`batch_slice`), so the averaged gradient is the full batch's mean gradient
and the run equals single-process `course_lib.train.fit` up to float rounding.

Run as a script under torchrun, one process per worker:

    torchrun --nproc_per_node 2 -m course_lib.distributed --steps 200 --out run.pt

It trains `models.MLP` on the digits and rank 0 saves the weights and the seconds taken.
`launch` runs that command from Python (tests, bench/ddp.py, the chapter). With
`--check STEPS BATCH_SIZE HIDDEN` the same processes then run the checks that tell a correct
data-parallel run from a wrong one (`checks`): the first step's gradients, averaged as DDP does and
summed by a deliberately wrong communication hook (`sum_gradients_hook`), and a short training run
in float64, to compare with one process. One launch does both: starting the processes (each
imports torch) costs more than a short run.
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


def default_backend() -> str:
    """NCCL when this machine has CUDA GPUs, gloo otherwise."""
    return "nccl" if torch.cuda.is_available() else "gloo"


def run_difference(state_a: dict[str, torch.Tensor], state_b: dict[str, torch.Tensor],
                   hidden: int = 64) -> dict[str, float]:
    """How far two trained `digits_model(hidden=hidden)` weights are apart: the largest weight
    difference ("weights"), the difference of their mean cross-entropy on all digits ("loss") and
    the fraction of digits they classify alike ("same_class"). Adam divides by the root of each
    gradient's running square, so float32 round-off in tiny gradients reaches the weights at far
    more than round-off size; the loss and the classes show whether the functions differ."""
    if state_a.keys() != state_b.keys():
        raise ValueError(f"the two runs hold different weights: {sorted(state_a)} and {sorted(state_b)}")
    x, y = digits()
    models = [digits_model(0, hidden), digits_model(0, hidden)]
    with torch.no_grad():
        for model, state in zip(models, (state_a, state_b)):
            model.load_state_dict(state)
        logits = [model(x) for model in models]
        losses = [float(nn.functional.cross_entropy(z, y)) for z in logits]
        same = float((logits[0].argmax(-1) == logits[1].argmax(-1)).float().mean())
    weights = max(float((state_a[k] - state_b[k]).abs().max()) for k in state_a)
    return {"weights": weights, "loss": abs(losses[0] - losses[1]), "same_class": same}


def sum_gradients_hook(state, bucket):  # no annotations: DDP inspects them, and ours are strings
    """A DDP communication hook with a bug, for the chapter's check: it all-reduces the processes'
    gradients by summing them and forgets to divide by the world size, so W processes step with W
    times the batch's mean gradient (`model.register_comm_hook(None, sum_gradients_hook)`)."""
    future = torch.distributed.all_reduce(bucket.buffer(), async_op=True).get_future()
    return future.then(lambda f: f.value()[0])


def first_step_gradients(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 64,
                         seed: int = 0, comm_hook=None) -> dict[str, torch.Tensor]:
    """The gradient (name -> tensor, on the CPU) that the first step of `train.fit` applies to
    `model`: inside a process group the all-reduced gradient of DDP (with `comm_hook` if given), else
    the one process's. With a correct reduction it is the same for every world size; Adam's steps
    barely depend on the gradient's scale, so a scale bug shows here and hardly in the weights."""
    grads: dict[str, torch.Tensor] = {}

    def record(_: nn.Module) -> None:
        if not grads:
            grads.update({k: p.grad.detach().cpu().clone() for k, p in model.named_parameters()})

    if torch.distributed.is_initialized():
        fit_data_parallel(model, x, y, batch_size=batch_size, steps=1, seed=seed, after_step=record,
                          comm_hook=comm_hook)
    else:
        fit(model, x, y, batch_size=batch_size, steps=1, seed=seed, after_step=record,
            device=torch.device("cpu"))
    return grads


def gradient_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """max |a − b| / max |b| over all parameters' gradients: ~1e-7 for float32 round-off, 1.0 when
    a is twice b (gradients summed over two processes instead of averaged)."""
    if a.keys() != b.keys():
        raise ValueError(f"the gradients are of different parameters: {sorted(a)} and {sorted(b)}")
    return max(float((a[k] - b[k]).abs().max()) for k in a) / max(float(b[k].abs().max()) for k in b)


def fit_data_parallel(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 64,
                      comm_hook=None, **fit_kwargs) -> History:
    """`train.fit` inside an initialised process group: wrap `model` in DDP and train on this
    process's slice of every batch. Under NCCL each process uses GPU `LOCAL_RANK`; under gloo the
    CPU. The model's weights end up the same in every process. `comm_hook` replaces DDP's
    all-reduce (e.g. `sum_gradients_hook`, a wrong one)."""
    if not torch.distributed.is_initialized():
        raise ValueError("no process group: call torch.distributed.init_process_group first (torchrun)")
    if batch_size > len(x):
        raise ValueError(f"batch_size must be at most the {len(x)} examples (every process slices the "
                         f"same batch), got {batch_size}")
    rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
    if torch.distributed.get_backend() == "nccl":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
        ddp = nn.parallel.DistributedDataParallel(model.to(device), device_ids=[device.index])
    else:
        device = torch.device("cpu")
        ddp = nn.parallel.DistributedDataParallel(model)
    if comm_hook is not None:
        ddp.register_comm_hook(None, comm_hook)
    return fit(ddp, x, y, batch_size=batch_size, device=device,
               batch_slice=batch_slice(batch_size, rank, world), **fit_kwargs)


def checks(x: torch.Tensor, y: torch.Tensor, steps: int, batch_size: int, seed: int,
           hidden: int) -> dict:
    """What `--check` computes, in W processes or (outside a process group) in one: the first
    step's gradients of `digits_model(seed, hidden)` with DDP's average ("mean") and with the buggy
    `sum_gradients_hook` ("sum"; in one process the same as "mean"), and the weights after `steps`
    steps in float64 ("float64")."""
    grads = {"mean": first_step_gradients(digits_model(seed, hidden), x, y, batch_size, seed)}
    hook = sum_gradients_hook if torch.distributed.is_initialized() else None
    grads["sum"] = first_step_gradients(digits_model(seed, hidden), x, y, batch_size, seed, comm_hook=hook)
    model = digits_model(seed, hidden).double()
    kwargs = dict(batch_size=batch_size, steps=steps, seed=seed)
    if torch.distributed.is_initialized():
        fit_data_parallel(model, x.double(), y, **kwargs)
    else:
        fit(model, x.double(), y, device=torch.device("cpu"), **kwargs)
    return {"gradients": grads, "float64": {k: v.cpu() for k, v in model.state_dict().items()}}


def launch(nproc: int, out: Path, steps: int = 200, batch_size: int = 64, seed: int = 0,
           hidden: int = 64, timeout: float = 120.0, backend: str | None = None, threads: int = 1,
           check: tuple[int, int, int] | None = None) -> dict:
    """Run `torchrun --nproc_per_node nproc -m course_lib.distributed` and return what rank 0 saved:
    {"state_dict" (on the CPU), "seconds", "world_size", "backend"}, and with `check` = (steps,
    batch_size, hidden) also "checks": what `checks` returns for those settings, run by the same
    processes after training. Each worker uses `threads` threads; `backend` defaults to
    `default_backend()`."""
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if check is not None and (len(check) != 3 or min(check) < 1):
        raise ValueError(f"check must be (steps, batch_size, hidden), each >= 1, got {check}")
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc),
           "--standalone", "-m", "course_lib.distributed", "--steps", str(steps),
           "--batch-size", str(batch_size), "--seed", str(seed), "--hidden", str(hidden),
           "--backend", backend or default_backend(), "--threads", str(threads), "--out", str(out)]
    cmd += ["--check", *map(str, check)] if check is not None else []
    subprocess.run(cmd, check=True, env=env, timeout=timeout, capture_output=True)
    return torch.load(out, weights_only=True)


def main(argv: list[str] | None = None) -> None:
    """The torchrun entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--backend", default=default_backend(), choices=["gloo", "nccl"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--check", type=int, nargs=3, metavar=("STEPS", "BATCH_SIZE", "HIDDEN"),
                        help="after training, also run and save `checks` with these settings")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.distributed.init_process_group(args.backend)
    try:
        x, y = digits()
        model = digits_model(args.seed, args.hidden)
        history = fit_data_parallel(model, x, y, batch_size=args.batch_size, steps=args.steps, seed=args.seed)
        result = {"state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
                  "seconds": history.seconds, "backend": args.backend,
                  "world_size": torch.distributed.get_world_size()}
        if args.check:
            check_steps, check_batch, check_hidden = args.check
            result["checks"] = checks(x, y, check_steps, check_batch, args.seed, check_hidden)
        if torch.distributed.get_rank() == 0:
            torch.save(result, args.out)
    finally:
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
