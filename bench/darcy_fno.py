"""The Darcy FNO trained to convergence, its knobs chosen on validation (chapter "Neural operators").

The chapter trains its Darcy FNO for at most a few hundred steps to stay within its CPU budget, and
its validation error is still falling when the steps run out. This script answers what the chapter
cannot afford to: where does that FNO converge, and do more Fourier modes help once it has?

The data are the chapter's: 400 training and 100 test coefficients from `pde_data.darcy_dataset`
(seed 0, 32 × 32 points), 50 validation coefficients from another seed (7); the same FNO (width 16,
zero padding 1/8, lifting MLP 64), loss (relative L2), optimiser (Adam with a cosine schedule over
the step budget), minibatches of 10, validation every 100 steps with the best weights kept. No run
stops early: with patience, a loss spike early in a long schedule (it happens at these rates) ended
a 6000-step run at step 1200.

1. Learning rate (1e-3, 3e-3, 1e-2, 3e-2) at 1200 steps, seed 0, 8 modes: the best on validation.
2. Step budget (400, 1200, 3000, 6000) at that rate: a cosine schedule ends at a rate of 0 whatever
   the budget, so "trained to convergence" means the validation error no longer falls as the
   budget grows. The chosen budget is the smallest within 5% of the best validation error.
3. At that rate and budget, 8 and 12 modes per axis from 3 seeds each, scored on the test set,
   compared paired (same data, seeds and minibatches) by `spread.compare`.

Run:  .venv/bin/python bench/darcy_fno.py [--out FILE]
It writes course_lib/bench_results/darcy_fno.json (`course_lib.stored`), which the chapter reads.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import torch

from course_lib import operators as op, pde_data, stored
from course_lib.spread import compare, spread

N_TRAIN, N_TEST, N_VAL, S = 400, 100, 50, 32
LRS, BUDGETS, MODES, SEEDS = (1e-3, 3e-3, 1e-2, 3e-2), (400, 1200, 3000, 6000), (8, 12), (0, 1, 2)
WITHIN = 0.05  # a budget within 5% of the best validation error counts as converged


def scale_a(a) -> torch.Tensor:
    """The chapter's input scaling: the coefficient's two values 3 and 12 as -1 and +1."""
    return (torch.tensor(a, dtype=torch.float32)[:, None] - 7.5) / 4.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(stored.path("darcy_fno")))
    args = parser.parse_args()
    torch.set_num_threads(1)
    load, start = os.getloadavg()[0], time.process_time()
    a, u = pde_data.darcy_dataset(N_TRAIN + N_TEST, S, seed=0)
    a_val, u_val = pde_data.darcy_dataset(N_VAL, S, seed=7)
    x, y = scale_a(a), torch.tensor(u, dtype=torch.float32)[:, None]
    validation = (scale_a(a_val), torch.tensor(u_val, dtype=torch.float32)[:, None])
    train, test = slice(0, N_TRAIN), slice(N_TRAIN, None)

    def run(lr: float, steps: int, modes: int, seed: int) -> tuple[float, float, op.OperatorFit]:
        torch.manual_seed(seed)
        model = op.FNO(modes, 16, dim=2, padding=0.125, hidden=64)
        fit = op.train_operator(model, x[train], y[train], steps=steps, batch_size=10, lr=lr,
                                seed=seed, validation=validation, eval_every=100,
                                patience=steps)  # never stops early: a spike must not end a run
        val, err = min(fit.val_error), op.evaluate(model, x[test], y[test])
        print(f"lr {lr:g}, {steps} steps, {modes} modes, seed {seed}: validation {val:.4f}, "
              f"kept step {fit.best_step} of {fit.steps} run, {fit.cpu_seconds:.0f} s", flush=True)
        return val, err, fit

    rate_val = {lr: run(lr, 1200, 8, 0)[0] for lr in LRS}
    lr = min(LRS, key=rate_val.get)
    budget_val = {steps: rate_val[lr] if steps == 1200 else run(lr, steps, 8, 0)[0] for steps in BUDGETS}
    best = min(budget_val.values())
    steps = min(s for s in BUDGETS if budget_val[s] <= (1 + WITHIN) * best)
    results: dict[int, dict[str, list[float]]] = {}
    for modes in MODES:
        results[modes] = {"test error": [], "validation error": [], "kept step": [], "cpu seconds": []}
        for seed in SEEDS:
            val, err, fit = run(lr, steps, modes, seed)
            for key, value in (("test error", err), ("validation error", val),
                               ("kept step", fit.best_step), ("cpu seconds", fit.cpu_seconds)):
                results[modes][key].append(value)
    errors = {m: spread(results[m]["test error"]) for m in MODES}
    verdict = compare(errors[MODES[1]], errors[MODES[0]], False,
                      (f"{MODES[1]} modes", f"{MODES[0]} modes"), paired=True)
    for m in MODES:
        print(f"{m} modes, lr {lr:g}, {steps} steps, 3 seeds: test relative L2 {errors[m].format('.4f')}")
    print(f"{verdict}\n{time.process_time() - start:.0f} s CPU in all")
    with open(args.out, "w") as f:
        json.dump({"data": {"train": N_TRAIN, "test": N_TEST, "validation": N_VAL, "points": S},
                   "validation error by rate (1200 steps, seed 0)": {str(k): v for k, v in rate_val.items()},
                   "validation error by budget (seed 0)": {str(k): v for k, v in budget_val.items()},
                   "chosen rate": lr, "chosen steps": steps, "within": WITHIN,
                   "rate at the grid's edge": lr in (min(LRS), max(LRS)),
                   "budget at the grid's edge": steps == max(BUDGETS),
                   "results": {str(m): r for m, r in results.items()},
                   "verdict": verdict, "verdict decided": verdict.decided,
                   "cpu seconds": time.process_time() - start, "load average at start": load,
                   "torch": torch.__version__, "machine": platform.processor() or platform.machine()},
                  f, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
