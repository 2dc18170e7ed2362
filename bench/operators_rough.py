"""The rough super-resolution FNO trained on aliased and on low-passed inputs (chapter "Neural operators").

The chapter's rough data put energy above the 64-point grid's Nyquist mode, and its FNO is trained
on the plain 64-point samples (every fourth point of 256), in which those modes fold onto lower ones.
Whatever route it is run by at 256 points, it carries that handicap from training. This script
trains the same FNO on the same pairs with one thing changed, the training input: decimated after
a low-pass filter (`op.decimate(..., anti_alias=True)`), the band-limited part of the input, and
compares the two trainings paired at 256 points. It takes longer than the page may, so the page
reads its result (`course_lib.stored`).

The data are the chapter's: `pde_data.burgers_dataset` with ν = 0.005, t = 0.5 and the rough field
(α = 1, σ = 6, modes 0–127), 600 pairs from seed 3 on 256 points (500 training, 100 test), 100
validation pairs from seed 4. The FNO is the chapter's (16 modes, width 32, 400 steps of 20,
Adam with a cosine schedule, no early stopping, as the page trains it).

1. For each training input (aliased, low-passed), the learning rate among 3e-3, 1e-2, 3e-2 on the
   validation pairs (seed 0, inputs prepared as in training, targets at 64 points): the page's
   grid and split; the test set is never used for a choice.
2. At that rate, seeds 0, 1, 2, each scored on the test set at 64 points (its own input) and at
   256 points by three routes: the FNO on the 256-point input, the 64-point samples upsampled, and
   the low-passed 64-point samples upsampled (`op.on_training_grid`).
3. Verdicts (`spread.compare`, paired: the same data, seeds and minibatches): the low-passed
   training, low-passed route, against the aliased training by the same route (one difference:
   the training input) and against the aliased training on the 256-point input (the page's row).

The aliased training is the page's own (the same code and seeds): the page prints how far its
runs are from these.

Run:  .venv/bin/python bench/operators_rough.py [--steps N] [--seeds K] [--out FILE]
Without arguments it writes course_lib/bench_results/operators_rough.json, which the chapter
reads; a trial run with other steps or seeds writes /tmp/operators_rough_trial.json (or --out)
and refuses to overwrite the stored result.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from course_lib import operators as op, pde_data, stored
from course_lib.spread import compare, spread

ROUGH = dict(alpha=1.0, sigma=6.0, modes=127, nu=0.005, t=0.5)  # the chapter's rough data
DATA = {"pairs": 600, "train": 500, "seed": 3, "validation": 100, "validation seed": 4,
        "points": 256, "dt": 5e-4, **ROUGH}
S, MODES, WIDTH, STEPS, SEEDS = 64, 16, 32, 400, 3
RATES = (3e-3, 1e-2, 3e-2)  # the chapter's grid for the rough FNO
INPUTS = {"aliased": False, "low-passed": True}  # training input -> anti_alias
ROUTES = {  # how a model trained at 64 points answers on the 256-point grid
    "FNO on 256 points": lambda m, u: m(u),
    "64 points, upsampled": lambda m, u: op.on_training_grid(m, u, S),
    "low-passed 64 points, upsampled": lambda m, u: op.on_training_grid(m, u, S, anti_alias=True),
}
TRIAL = Path(tempfile.gettempdir()) / "operators_rough_trial.json"  # stored.output's


def output(steps: int, seeds: int, out: str | None) -> Path:
    """Where a run writes: the stored result only for the chapter's settings (a trial run with
    other steps or seeds goes to --out or /tmp/operators_rough_trial.json, never to it)."""
    differs = (steps, seeds) != (STEPS, SEEDS)
    return stored.output("operators_rough", f"{steps} steps, {seeds} seeds; the result is "
                         f"{STEPS} steps, {SEEDS} seeds" if differs else None, out)


def tensor(a) -> torch.Tensor:
    """(N, s) float64 -> (N, 1, s) float32."""
    return torch.tensor(a, dtype=torch.float32)[:, None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--seeds", type=int, default=SEEDS)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    out = output(args.steps, args.seeds, args.out)
    torch.set_num_threads(1)
    load, start = os.getloadavg()[0], time.process_time()
    u0, u1 = pde_data.burgers_dataset(DATA["pairs"], 256, seed=DATA["seed"], dt=DATA["dt"], **ROUGH)
    v0, v1 = pde_data.burgers_dataset(DATA["validation"], 256, seed=DATA["validation seed"],
                                      dt=DATA["dt"], **ROUGH)
    x, y, x_val, y_val = tensor(u0), tensor(u1), tensor(v0), tensor(v1)
    train, test = slice(0, DATA["train"]), slice(DATA["train"], None)
    y64, y_val64 = op.decimate(y, S).contiguous(), op.decimate(y_val, S).contiguous()
    seeds = range(args.seeds)

    def fno(inputs: torch.Tensor, lr: float, seed: int) -> tuple[torch.nn.Module, float]:
        torch.manual_seed(seed)
        model = op.FNO(MODES, WIDTH)
        fit = op.train_operator(model, inputs[train], y64[train], steps=args.steps, lr=lr, seed=seed)
        return model, fit.cpu_seconds

    results = {}
    for name, anti_alias in INPUTS.items():
        inputs = op.decimate(x, S, anti_alias).contiguous()  # as the page holds them
        val_inputs = op.decimate(x_val, S, anti_alias).contiguous()
        tuning = {lr: fno(inputs, lr, 0) for lr in RATES}
        by_rate = {lr: op.evaluate(model, val_inputs, y_val64) for lr, (model, _) in tuning.items()}
        lr = min(RATES, key=by_rate.get)
        print(f"{name} inputs, validation error by rate (seed 0): "
              + ", ".join(f"{r:g}: {e:.4f}" for r, e in by_rate.items()) + f"; chosen {lr:g}", flush=True)
        runs = {"error 64": [], "cpu seconds": [], **{route: [] for route in ROUTES}}
        for seed in seeds:
            model, cpu = tuning[lr] if seed == 0 else fno(inputs, lr, seed)
            runs["error 64"].append(op.evaluate(model, inputs[test], y64[test]))
            runs["cpu seconds"].append(cpu)
            for route, predict in ROUTES.items():
                runs[route].append(op.evaluate(model, x[test], y[test], predict=predict))
            print(f"  seed {seed}: test at 64 points {runs['error 64'][-1]:.4f}; at 256: "
                  + ", ".join(f"{route} {runs[route][-1]:.4f}" for route in ROUTES)
                  + f" ({cpu:.1f} s CPU)", flush=True)
        results[name] = {"validation error by rate": {str(r): e for r, e in by_rate.items()},
                         "chosen rate": lr, "rate at the grid's edge": lr in (min(RATES), max(RATES)),
                         **runs}
    ours = spread(results["low-passed"]["low-passed 64 points, upsampled"])
    verdicts = {
        "same route": compare(ours, spread(results["aliased"]["low-passed 64 points, upsampled"]), False,
                              ("the FNO trained on low-passed inputs",
                               "the FNO trained on aliased inputs (both run on low-passed 64-point inputs)"),
                              paired=True),
        "page's row": compare(ours, spread(results["aliased"]["FNO on 256 points"]), False,
                              ("the FNO trained on low-passed inputs (run at 64 points, upsampled)",
                               "the FNO trained on aliased inputs, run on 256 points"),
                              paired=True),
    }
    for name, r in results.items():
        print(f"{name} training, {args.seeds} seeds, test L2 at 256 points: "
              + ", ".join(f"{route} {spread(r[route]).format('.4f')}" for route in ROUTES)
              + f"; CPU {spread(r['cpu seconds']).format('.1f')} s a run")
    for v in verdicts.values():
        print(v)
    cpu = time.process_time() - start
    print(f"{cpu:.0f} s CPU in all (load {load:.1f} at the start)")
    out.write_text(json.dumps({
        "data": DATA, "steps": args.steps, "modes": MODES, "width": WIDTH, "seeds": list(seeds),
        "rates": list(RATES), "results": results,
        "verdicts": {k: str(v) for k, v in verdicts.items()},
        "decided": {k: v.decided for k, v in verdicts.items()},
        "winners": {k: v.winner for k, v in verdicts.items()},
        "cpu seconds": cpu, "load": load, "torch": torch.__version__, "machine": platform.processor()
        or platform.machine()}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
