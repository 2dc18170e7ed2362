"""The FNO against the parameter-matched CNN at the chapter's budget and at 4× it (chapter "Neural operators").

The chapter trains both on the band-limited Burgers data for 400 steps and reports how many times
the CNN's error is the FNO's. Its validation curves show the CNN still gaining faster when the
steps run out, so the ratio belongs to that budget. This script measures it at 400 and at 1600
steps, everything else the chapter's, with each model's learning rate chosen again at each budget.

The data are the chapter's: `pde_data.burgers_dataset(1200, 256, seed=0, dt=5e-3)` at 64 points,
900 training, 100 validation and 200 test pairs. FNO(16, 32) and CNN(33, 32), minibatches of 20,
Adam with a cosine schedule over the budget, scored on the validation pairs every 100 steps and
left with their best weights, as on the page.

1. For each budget and model, the learning rate among 1e-3 and 3e-3 on the validation pairs
   (seed 0): the page's grid and split; the test set is never used for a choice.
2. At that rate, seeds 0, 1, 2, each scored on the test set.
3. Verdicts (`spread.compare`): the FNO against the CNN at each budget (paired: the same data,
   seeds and minibatches), and the per-seed ratio CNN error / FNO error at 1600 steps against
   that at 400 (unpaired).

The 400-step runs are the page's own (the same code and seeds).

Run:  .venv/bin/python bench/operators_budget.py [--budgets N ...] [--out FILE]
Without arguments it writes course_lib/bench_results/operators_budget.json, which the chapter
reads; a trial run with other budgets writes /tmp/operators_budget_trial.json (or --out) and
refuses to overwrite the stored result.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from course_lib import operators as op, pde_data, stored
from course_lib.spread import compare, spread

DATA = {"pairs": 1200, "train": 900, "validation": 100, "seed": 0, "points": 256, "dt": 5e-3, "grid": 64}
BUDGETS, RATES, SEEDS = (400, 1600), (1e-3, 3e-3), (0, 1, 2)
MODELS = {"FNO": lambda: op.FNO(16, 32), "CNN": lambda: op.CNN(33, 32)}
TRIAL = Path(tempfile.gettempdir()) / "operators_budget_trial.json"  # stored.output's


def output(budgets: tuple[int, ...], out: str | None) -> Path:
    """Where a run writes: the stored result only for the chapter's budgets (a trial run with
    others goes to --out or /tmp/operators_budget_trial.json, never to it)."""
    differs = tuple(budgets) != BUDGETS
    return stored.output("operators_budget", f"budgets {list(budgets)}; the result's are "
                         f"{list(BUDGETS)}" if differs else None, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", type=int, nargs="+", default=list(BUDGETS))
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    out = output(tuple(args.budgets), args.out)
    torch.set_num_threads(1)
    load, start = os.getloadavg()[0], time.process_time()
    u0, u1 = pde_data.burgers_dataset(DATA["pairs"], DATA["points"], seed=DATA["seed"], dt=DATA["dt"])
    step = DATA["points"] // DATA["grid"]
    x, y = (torch.tensor(np.asarray(u)[:, None, ::step].copy(), dtype=torch.float32) for u in (u0, u1))
    train = slice(0, DATA["train"])
    val = slice(DATA["train"], DATA["train"] + DATA["validation"])
    test = slice(DATA["train"] + DATA["validation"], None)

    def run(name: str, steps: int, lr: float, seed: int) -> tuple[torch.nn.Module, float]:
        torch.manual_seed(seed)
        model = MODELS[name]()
        fit = op.train_operator(model, x[train], y[train], steps=steps, lr=lr, seed=seed,
                                validation=(x[val], y[val]), eval_every=100, patience=steps)
        return model, fit.cpu_seconds

    results: dict[str, dict] = {}
    for steps in args.budgets:
        results[str(steps)] = {}
        for name in MODELS:
            tuning = {lr: run(name, steps, lr, 0) for lr in RATES}
            by_rate = {lr: op.evaluate(m, x[val], y[val]) for lr, (m, _) in tuning.items()}
            lr = min(RATES, key=by_rate.get)
            errors, seconds = [], []
            for seed in SEEDS:
                model, cpu = tuning[lr] if seed == 0 else run(name, steps, lr, seed)
                errors.append(op.evaluate(model, x[test], y[test]))
                seconds.append(cpu)
            results[str(steps)][name] = {"validation error by rate": {str(r): e for r, e in by_rate.items()},
                                         "chosen rate": lr, "test error": errors, "cpu seconds": seconds}
            print(f"{steps} steps, {name}: rate {lr:g} (validation "
                  + ", ".join(f"{r:g}: {e:.4f}" for r, e in by_rate.items()) + f"); test "
                  f"{spread(errors).format('.4f')}; {spread(seconds).format('.1f')} s CPU a run", flush=True)
        r = results[str(steps)]
        r["ratio CNN / FNO"] = [c / f for f, c in zip(r["FNO"]["test error"], r["CNN"]["test error"])]
        r["verdict"] = str(compare(spread(r["FNO"]["test error"]), spread(r["CNN"]["test error"]), False,
                                   ("the FNO", "the CNN"), paired=True))
        print(f"  ratio {spread(r['ratio CNN / FNO']).format('.2f')}; {r['verdict']}", flush=True)
    short, long = (str(b) for b in (min(args.budgets), max(args.budgets)))
    shrinks = compare(spread(results[long]["ratio CNN / FNO"]), spread(results[short]["ratio CNN / FNO"]),
                      False, (f"the ratio at {long} steps", f"the ratio at {short} steps"))
    cpu = time.process_time() - start
    print(f"{shrinks}\n{cpu:.0f} s CPU in all (load {load:.1f} at the start)")
    out.write_text(json.dumps({
        "data": DATA, "budgets": args.budgets, "rates": list(RATES), "seeds": list(SEEDS),
        "results": results, "ratio verdict": str(shrinks), "ratio decided": shrinks.decided,
        "ratio winner": shrinks.winner, "cpu seconds": cpu, "load": load, "torch": torch.__version__,
        "machine": platform.processor() or platform.machine()}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
