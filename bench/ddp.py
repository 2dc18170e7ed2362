"""Data-parallel training on this machine, timed: the same training run in one process with one
thread, in one process with two threads, and in two processes with one thread each (torchrun,
gloo), and whether the weights agree. The frontier chapter quotes these timings
(`course_lib.stored.result("frontier_ddp")`); its page runs only the correctness checks, which
decide its verdicts, since the timing runs cost more than its CPU budget allows.

    .venv/bin/python bench/ddp.py [--steps 100] [--batch-size 1024] [--hidden 4096] [--repeats 3]
                                  [--backend gloo|nccl] [--out FILE]

(--out defaults to course_lib/bench_results/frontier_ddp.json, where the chapter reads it.)
Each run is `torchrun --nproc_per_node W -m course_lib.distributed` (`course_lib.distributed.launch`):
every process draws the same global batch and trains on its 1/W of it, DDP averages the gradients
(with one process the all-reduce has nothing to add, so all three arms run the same code).
"seconds" is rank 0's training loop (`History.seconds`), without process start-up; "wall" is the
whole launch, with starting the processes and importing PyTorch in each. The arms run in turn
within each repeat, so that a change of load hits all three. The speed-ups are the mean
one-thread seconds over the mean seconds of the other arm; two processes need a batch large
enough that computing it costs more than the all-reduce, and two idle cores. The two-process and
one-process weights differ by float32 round-off that Adam amplifies (`distributed.run_difference`);
their losses and predicted classes show that they compute the same function. On a machine with
two GPUs, `--backend nccl` (the default there) puts one process on each GPU.
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

from course_lib import stored
from course_lib.distributed import default_backend, launch, run_difference

ARMS = {"1 process, 1 thread": (1, 1), "1 process, 2 threads": (1, 2), "2 processes, 1 thread each": (2, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--hidden", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backend", choices=["gloo", "nccl"], default=default_backend())
    parser.add_argument("--out", type=Path, default=stored.path("frontier_ddp"))
    args = parser.parse_args()
    runs: dict[str, list[dict]] = {arm: [] for arm in ARMS}
    weights = {}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for arm, (nproc, threads) in ARMS.items():
                start = time.perf_counter()
                result = launch(nproc, Path(tmp) / "run.pt", steps=args.steps, batch_size=args.batch_size,
                                hidden=args.hidden, timeout=600, backend=args.backend, threads=threads)
                runs[arm].append({"seconds": result["seconds"], "wall": time.perf_counter() - start})
                weights[arm] = result["state_dict"]
                print(f"repeat {repeat}: {arm}: {result['seconds']:.2f} s training, "
                      f"{runs[arm][-1]['wall']:.2f} s the whole launch", flush=True)
    one, threaded, two = ARMS
    difference = run_difference(weights[one], weights[two], args.hidden)
    mean = {arm: {k: statistics.mean(r[k] for r in rs) for k in ("seconds", "wall")} for arm, rs in runs.items()}
    report = {
        "config": {"steps": args.steps, "batch_size": args.batch_size, "hidden": args.hidden,
                   "repeats": args.repeats, "backend": args.backend},
        "machine": {"cpus": os.cpu_count(), "torch": torch.__version__, "load_average_before": load_before,
                    "load_average_after": os.getloadavg()},
        "arms": {arm: {"processes": n, "threads_per_process": t} for arm, (n, t) in ARMS.items()},
        "runs": runs,
        "mean": mean,
        "speedup_two_processes": mean[one]["seconds"] / mean[two]["seconds"],
        "speedup_two_threads": mean[one]["seconds"] / mean[threaded]["seconds"],
        "difference_1_vs_2": difference,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"speed-up over one thread: 2 processes {report['speedup_two_processes']:.2f}, 2 threads "
          f"{report['speedup_two_threads']:.2f}; 1 vs 2 processes: largest weight difference "
          f"{difference['weights']:.1e}, loss difference {difference['loss']:.1e}, same class on "
          f"{difference['same_class']:.2%} of the digits")


if __name__ == "__main__":
    main()
