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
2. Step budget at that rate, up the ladder 400, 1200, 3000, 6000, 12000, 24000, 48000: a cosine schedule
   ends at a rate of 0 whatever the budget, so "trained to convergence" means the validation error
   no longer falls as the budget grows. The ladder stops at the first budget that lowers the best
   validation error so far by no more than 5%; the chosen budget is the smallest within 5% of the
   best validation error. It is inside the grid when a longer budget was run and did not pay.
3. At that rate and budget, 8 and 12 modes per axis from 3 seeds each, scored on the test set,
   compared paired (same data, seeds and minibatches) by `spread.compare`.
4. The ladder is climbed with 8 modes, so 12 modes might need a longer schedule. Where the ladder
   ran a budget above the chosen one, step 3 is repeated there, and the 12-mode runs' validation
   error at the two budgets is compared: if the verdict or 12 modes' convergence depended on the
   budget, this shows it.

Every run is stored in the JSON's "runs", keyed by (rate, steps, modes, seed). With --reuse the
script takes the runs already stored in --out instead of training them again (the same code and
data give the same numbers: one thread, CPU) and marks them "reused"; a run whose test error was
not stored is trained again when its test error is needed. Each run trained is also written at
once to --out's partial file (FILE.partial, removed when the result is written), which --reuse
reads too: a bench stopped half-way resumes where it stopped.

Run:  .venv/bin/python bench/darcy_fno.py [--out FILE] [--reuse]
It writes course_lib/bench_results/darcy_fno.json (`course_lib.stored`), which the chapter reads.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from course_lib import operators as op, pde_data, stored
from course_lib.spread import compare, spread

N_TRAIN, N_TEST, N_VAL, S = 400, 100, 50, 32
LRS, BUDGETS, MODES, SEEDS = (1e-3, 3e-3, 1e-2, 3e-2), (400, 1200, 3000, 6000, 12000, 24000, 48000), (8, 12), (0, 1, 2)
WITHIN = 0.05  # a budget within 5% of the best validation error counts as converged
DATA = {"train": N_TRAIN, "test": N_TEST, "validation": N_VAL, "points": S}


def scale_a(a) -> torch.Tensor:
    """The chapter's input scaling: the coefficient's two values 3 and 12 as -1 and +1."""
    return (torch.tensor(a, dtype=torch.float32)[:, None] - 7.5) / 4.5


def key(lr: float, steps: int, modes: int, seed: int) -> tuple[float, int, int, int]:
    return (float(lr), int(steps), int(modes), int(seed))


def stored_runs(previous: dict) -> dict[tuple, dict]:
    """The runs a previous result holds, keyed by (lr, steps, modes, seed). A result written
    before the "runs" list (commit b669588) gives its rate and budget runs (seed 0, 8 modes,
    validation error only) and its per-seed results."""
    if previous.get("data") != DATA or previous.get("torch") != torch.__version__:
        raise ValueError(f"can reuse runs on data {DATA} with torch {torch.__version__}, "
                         f"got {previous.get('data')} with torch {previous.get('torch')}")
    if "runs" in previous:
        return {key(r["lr"], r["steps"], r["modes"], r["seed"]): r for r in previous["runs"]}
    runs, lr = {}, previous["chosen rate"]
    for rate, val in previous["validation error by rate (1200 steps, seed 0)"].items():
        runs[key(float(rate), 1200, 8, 0)] = {"validation error": val}
    for steps, val in previous["validation error by budget (seed 0)"].items():
        runs[key(lr, int(steps), 8, 0)] = {"validation error": val}
    for modes, r in previous["results"].items():
        for i, seed in enumerate(SEEDS):
            runs[key(lr, previous["chosen steps"], int(modes), seed)] = {
                name: r[name][i] for name in ("validation error", "test error", "kept step", "cpu seconds")}
    return {k: dict(lr=k[0], steps=k[1], modes=k[2], seed=k[3], **v) for k, v in runs.items()}


def partial(out: str) -> Path:
    """Where the runs trained so far are kept until the result is written."""
    return Path(out + ".partial")


def reusable(out: str) -> dict[tuple, dict]:
    """The runs stored in the result at `out` (if any) and in its partial file (if any)."""
    cache = stored_runs(json.loads(Path(out).read_text())) if Path(out).exists() else {}
    if partial(out).exists():
        cache.update(stored_runs(json.loads(partial(out).read_text())))
    return cache


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(stored.path("darcy_fno")))
    parser.add_argument("--reuse", action="store_true", help="take the runs already stored in --out")
    args = parser.parse_args()
    torch.set_num_threads(1)
    load, start = os.getloadavg()[0], time.process_time()
    cache = reusable(args.out) if args.reuse else {}
    runs: dict[tuple, dict] = {}  # this result's runs, each marked reused or not
    a, u = pde_data.darcy_dataset(N_TRAIN + N_TEST, S, seed=0)
    a_val, u_val = pde_data.darcy_dataset(N_VAL, S, seed=7)
    x, y = scale_a(a), torch.tensor(u, dtype=torch.float32)[:, None]
    validation = (scale_a(a_val), torch.tensor(u_val, dtype=torch.float32)[:, None])
    train, test = slice(0, N_TRAIN), slice(N_TRAIN, None)

    def run(lr: float, steps: int, modes: int, seed: int, need_test: bool = False) -> dict:
        k = key(lr, steps, modes, seed)
        if k in runs and (not need_test or "test error" in runs[k]):
            return runs[k]
        if k in cache and (not need_test or "test error" in cache[k]):
            runs[k] = {**cache[k], "reused": True}
            print(f"lr {lr:g}, {steps} steps, {modes} modes, seed {seed}: validation "
                  f"{runs[k]['validation error']:.4f} (reused)", flush=True)
            return runs[k]
        torch.manual_seed(seed)
        model = op.FNO(modes, 16, dim=2, padding=0.125, hidden=64)
        fit = op.train_operator(model, x[train], y[train], steps=steps, batch_size=10, lr=lr,
                                seed=seed, validation=validation, eval_every=100,
                                patience=steps)  # never stops early: a spike must not end a run
        runs[k] = dict(lr=k[0], steps=steps, modes=modes, seed=seed, **{
            "validation error": min(fit.val_error), "test error": op.evaluate(model, x[test], y[test]),
            "kept step": fit.best_step, "cpu seconds": fit.cpu_seconds, "reused": False})
        cache[k] = {n: v for n, v in runs[k].items() if n != "reused"}
        partial(args.out).write_text(json.dumps(  # kept at once: a stopped bench resumes with --reuse
            {"data": DATA, "torch": torch.__version__, "runs": list(cache.values())}, indent=1))
        print(f"lr {lr:g}, {steps} steps, {modes} modes, seed {seed}: validation "
              f"{runs[k]['validation error']:.4f}, test {runs[k]['test error']:.4f}, kept step "
              f"{fit.best_step} of {fit.steps} run, {fit.cpu_seconds:.0f} s", flush=True)
        return runs[k]

    rate_val = {lr: run(lr, 1200, 8, 0)["validation error"] for lr in LRS}
    lr = min(LRS, key=rate_val.get)
    budget_val: dict[int, float] = {}
    for steps in BUDGETS:  # up the ladder until a longer budget stops paying
        budget_val[steps] = run(lr, steps, 8, 0)["validation error"]
        shorter = list(budget_val.values())[:-1]
        if shorter and min(shorter) <= (1 + WITHIN) * min(budget_val.values()):
            break  # a shorter budget is within 5% of the best: the chosen one is inside the grid
    best = min(budget_val.values())
    steps = min(s for s in budget_val if budget_val[s] <= (1 + WITHIN) * best)
    results: dict[int, dict[str, list[float]]] = {}
    for modes in MODES:
        per_seed = [run(lr, steps, modes, seed, need_test=True) for seed in SEEDS]
        results[modes] = {name: [r[name] for r in per_seed]
                          for name in ("test error", "validation error", "kept step", "cpu seconds")}
    errors = {m: spread(results[m]["test error"]) for m in MODES}
    verdict = compare(errors[MODES[1]], errors[MODES[0]], False,
                      (f"{MODES[1]} modes", f"{MODES[0]} modes"), paired=True)
    for m in MODES:
        print(f"{m} modes, lr {lr:g}, {steps} steps, 3 seeds: test relative L2 {errors[m].format('.4f')}")
    longer = next((s for s in budget_val if s > steps), None)  # a budget the ladder ran above
    check = {}
    if longer is not None:  # step 4: the comparison again at the longer budget
        at_longer = {m: [run(lr, longer, m, seed, need_test=True) for seed in SEEDS] for m in MODES}
        longer_errors = {m: spread([r["test error"] for r in at_longer[m]]) for m in MODES}
        longer_verdict = compare(longer_errors[MODES[1]], longer_errors[MODES[0]], False,
                                 (f"{MODES[1]} modes", f"{MODES[0]} modes"), paired=True)
        gain = {m: compare(spread([r["validation error"] for r in at_longer[m]]),
                           spread(results[m]["validation error"]), False,
                           (f"{longer} steps", f"{steps} steps"), paired=True) for m in MODES}
        check = {"longer steps": longer,
                 "results": {str(m): {name: [r[name] for r in at_longer[m]]
                                      for name in ("test error", "validation error", "kept step",
                                                   "cpu seconds")} for m in MODES},
                 "verdict": longer_verdict, "verdict decided": longer_verdict.decided,
                 "verdict margin": longer_verdict.margin,
                 "validation gain": {str(m): {"verdict": v, "decided": v.decided, "margin": v.margin}
                                     for m, v in gain.items()}}
        for m in MODES:
            print(f"{m} modes, {longer} steps, 3 seeds: test relative L2 "
                  f"{longer_errors[m].format('.4f')}; validation, {gain[m]}")
        print(f"at {longer} steps: {longer_verdict}")
    reused = [r for r in runs.values() if r["reused"]]
    cpu = time.process_time() - start
    print(f"{verdict}\n{cpu:.0f} s CPU in this call; {len(reused)} runs reused "
          f"({sum(r.get('cpu seconds', 0) for r in reused):.0f} s of theirs stored)")
    with open(args.out, "w") as f:
        json.dump({"data": DATA,
                   "validation error by rate (1200 steps, seed 0)": {str(k): v for k, v in rate_val.items()},
                   "validation error by budget (seed 0)": {str(k): v for k, v in budget_val.items()},
                   "budgets": list(BUDGETS), "budgets run": list(budget_val),
                   "chosen rate": lr, "chosen steps": steps, "within": WITHIN,
                   "rate at the grid's edge": lr in (min(LRS), max(LRS)),
                   "budget at the grid's edge": steps == max(budget_val),
                   "results": {str(m): r for m, r in results.items()},
                   "verdict": verdict, "verdict decided": verdict.decided,
                   "verdict margin": verdict.margin,
                   "at the longer budget": check,
                   "runs": list(runs.values()), "runs reused": len(reused),
                   "cpu seconds": cpu, "load average at start": load,
                   "torch": torch.__version__, "machine": platform.processor() or platform.machine()},
                  f, indent=1)
    partial(args.out).unlink(missing_ok=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
