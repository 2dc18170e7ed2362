"""Data-parallel training on this machine: seconds for the same training run with 1 and with 2
processes (torchrun, gloo, one thread each), and whether the weights agree.

    .venv/bin/python bench/ddp.py [--steps 100] [--batch-size 1024] [--hidden 4096] [--repeats 3]
                                  [--backend gloo|nccl] [--out bench/ddp.json]

Each run is `torchrun --nproc_per_node W -m course_lib.distributed` (`course_lib.distributed.launch`):
every process draws the same global batch and trains on its 1/W of it, DDP averages the gradients.
"seconds" is rank 0's training loop (`History.seconds`), without process start-up; "wall" includes
start-up. The speed-up is the mean 1-process seconds over the mean 2-process seconds; it needs a
batch large enough that computing it costs more than the all-reduce, and two idle cores. The
two runs' weights differ by float32 round-off that Adam amplifies (`distributed.run_difference`);
their losses and predicted classes show that they compute the same function. On a
machine with two GPUs, `--backend nccl` (the default there) puts one process on each GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from course_lib.distributed import default_backend, launch, run_difference


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--hidden", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backend", choices=["gloo", "nccl"], default=default_backend())
    parser.add_argument("--out", type=Path, default=Path("bench/ddp.json"))
    args = parser.parse_args()
    runs: dict[int, list[dict]] = {1: [], 2: []}
    weights = {}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for nproc in (1, 2):
                start = time.perf_counter()
                result = launch(nproc, Path(tmp) / f"run{nproc}.pt", steps=args.steps, batch_size=args.batch_size,
                                hidden=args.hidden, timeout=600, backend=args.backend)
                runs[nproc].append({"seconds": result["seconds"], "wall": time.perf_counter() - start})
                weights[nproc] = result["state_dict"]
                print(f"repeat {repeat}: {nproc} process(es): {result['seconds']:.2f} s training, "
                      f"{runs[nproc][-1]['wall']:.2f} s with start-up", flush=True)
    difference = run_difference(weights[1], weights[2], args.hidden)
    mean = {n: statistics.mean(r["seconds"] for r in rs) for n, rs in runs.items()}
    report = {
        "config": {"steps": args.steps, "batch_size": args.batch_size, "hidden": args.hidden,
                   "repeats": args.repeats, "backend": args.backend, "threads_per_process": 1},
        "machine": {"cpus": os.cpu_count(), "torch": torch.__version__, "load_average": os.getloadavg()},
        "runs": {str(n): rs for n, rs in runs.items()},
        "speedup": mean[1] / mean[2],
        "difference_1_vs_2": difference,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"speed-up of 2 processes over 1: {report['speedup']:.2f}; 1 vs 2 processes: largest weight "
          f"difference {difference['weights']:.1e}, loss difference {difference['loss']:.1e}, "
          f"same class on {difference['same_class']:.2%} of the digits")


if __name__ == "__main__":
    main()
