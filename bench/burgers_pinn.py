"""The Burgers PINN to a relative L2 error of 1e-3 within the chapter's CPU budget (chapter
"Physics-informed neural networks").

The chapter's main run (the plain set-up): the odd hard-constraint ansatz u = −sin(πx) + t(1−x²)N
(`burgers.hard_ansatz(net, odd=True)`), a tanh MLP of 6 layers of 20 units in float64, 1000
collocation points uniform in [−1, 1] × [0, 1], 1500 L-BFGS iterations (`pinn.train_pinn`: strong
Wolfe line search, history 50), no Adam. Raissi et al. (2019) report 6.7e-4 with 10,000 points and a
longer run. Each candidate below changes one thing from the literature, at about the same CPU cost:

  plain        the chapter's main run;
  half         the same 1000 points drawn in x ≥ 0 only: for an odd u the residual is odd in x, so
               its mean square over x ≥ 0 equals that over the whole domain, and the points are
               twice as dense at the same cost (the chapter's symmetry, used a second time);
  rad          residual-based adaptive distribution (RAD, Wu et al. 2023): every 250 iterations the
               1000 points are redrawn from 10,000 uniform candidates with probability
               ∝ |r|^k / mean |r|^k + c (k = 1, c = 1), and L-BFGS restarts;
  half+rad     both;
  rad every 500  the same, redrawn every 500 iterations (fewer restarts);
  rar-d        RAR-D (Wu et al. 2023): start from 500 uniform points and add 100 drawn from the RAD
               density every 250 iterations (1000 points after 1250), 1750 iterations in all;
  adam         500 Adam steps (lr 1e-3, cosine) before 1150 L-BFGS iterations;
  history 100  L-BFGS keeps 100 curvature pairs instead of 50;
  causal       causal weighting in time (Wang, Sankaran & Perdikaris 2022): the loss is the mean over
               10 time slices of w_i L_i, w_i = exp(−ε Σ_{k<i} L_k) with ε = 10, the weights updated
               every 250 iterations (L-BFGS restarts, as its loss changed);
  causal, ε = 1  the same with ε = 1 (ε is chosen between 1 and 10 on validation);
  adaptive tanh  layer-wise adaptive activation (Jagtap, Kawaguchi & Karniadakis 2020):
               tanh(n a z) with one trainable slope a per layer, n = 10, a = 1/n at the start;
  plain, 3000 its          the plain set-up run twice as long: its error by iteration is the cost
                           curve (its first 1500 iterations are the plain run's);
  rad every 500, 3000 its  the same for RAD every 500 iterations.

Screened out on seed 0 (test error at about the plain run's CPU; plain 3.0e-3): half the points in
the band |x| < 0.1 around the shock, half uniform, 5.2e-2; 500 points and 2500 iterations, 4.5e-3;
the same in x ≥ 0 only, 2.0e-1. That screening read the test grid, against the rule below (a red
team found it; validation and test errors track within 3 % on every stored run, so the choice
would have been the same on validation, but it was not made there).

Read the verdicts as "no gain detectable with three seeds", not as "no gain". Two candidates hide
one failed seed each (adaptive tanh, seed 0: 1.2e-1; causal with ε = 1, seed 1: 8.7e-2), so their
mean ± std says little. The stored CPU seconds come from runs at different loads: compare costs
only between runs of one session (a red team measured the plain run at 42-47 s on a 2-core Intel
Xeon, against the stored 24-29 s).

Test error: relative L2 on the benchmark's 256 × 100 grid (`burgers.reference_grid`). Knobs are
chosen on a *validation* set, never on the test grid: 4000 points drawn at random in
[−1, 1] × [0, 0.99] (seed 1000), exact values by Cole–Hopf; the mean squared residual at 10,000
fresh points (seed 2000) is reported beside it. Every run is seeded (initial weights and points) and
one-threaded, and its CPU seconds (time.process_time: training with its error checks) are stored;
on a loaded machine CPU seconds grow (the same plain run took 24 to 29 s at load 4 to 7), so
compare them within one bench run.

Run:  .venv/bin/python bench/burgers_pinn.py [--only NAME ...] [--seeds 0 1 2] [--out FILE]
Each run is appended at once to FILE.partial (default: TMPDIR/burgers_pinn.partial, JSON lines) and
reused from there, so a stopped bench resumes. It prints each candidate's test and validation errors (mean ± std over the seeds), its CPU
seconds per run and its paired verdict against plain (`course_lib.spread.compare`), and writes
course_lib/bench_results/burgers_pinn.json (`course_lib.stored`) when every candidate ran on the
stored seeds.
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

from course_lib import burgers, pinn, stored
from course_lib.spread import compare, spread

F64 = torch.float64
SEEDS = (0, 1, 2)
PLAIN = {"n": 1000, "lbfgs": 1500, "adam": 0, "every": 250, "half": False, "rad": False, "history": 50,
         "add": 0, "causal": 0.0, "adaptive": False}
CANDIDATES = {
    "plain": {},
    "half": {"half": True},
    "rad": {"rad": True},
    "half+rad": {"half": True, "rad": True},
    "adam": {"adam": 500, "lbfgs": 1150},
    "history 100": {"history": 100},
    "rad every 500": {"rad": True, "every": 500},
    "rar-d": {"n": 500, "add": 100, "lbfgs": 1750},
    "causal": {"causal": 10.0},
    "causal, ε = 1": {"causal": 1.0},
    "adaptive tanh": {"adaptive": True},
    "plain, 3000 its": {"lbfgs": 3000},
    "rad every 500, 3000 its": {"rad": True, "every": 500, "lbfgs": 3000},
}
RAD_POOL, RAD_K, RAD_C = 10_000, 1.0, 1.0
SLICES = 10  # causal weighting: time slices of [0, 1]


class AdaptiveTanh(torch.nn.Module):
    """tanh(n a z) with a trainable slope a per layer, a = 1/n at the start (Jagtap et al. 2020, n = 10)."""

    def __init__(self, n: float = 10.0):
        super().__init__()
        self.n, self.a = n, torch.nn.Parameter(torch.tensor(1 / n))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.n * self.a * z)


def validation_set(n: int = 4000, seed: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """n random points (x, t) in [−1, 1] × [0, 0.99], apart from the test grid, and the exact u there."""
    xt = pinn.box_interior(n, (-1.0, 0.0), (1.0, 0.99), generator=torch.Generator().manual_seed(seed), dtype=F64)
    return xt, torch.from_numpy(burgers.cole_hopf(xt[:, 0].numpy(), xt[:, 1].numpy()))


def run(seed: int, options: dict, test: tuple, validation: tuple, fresh: torch.Tensor) -> dict:
    """Train one Burgers PINN with the plain set-up changed by `options`; return its measures."""
    o = {**PLAIN, **options}
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    net = pinn.MLP(2, 20, 6, activation=AdaptiveTanh if o["adaptive"] else torch.nn.Tanh,
                   low=burgers.DOMAIN[0], high=burgers.DOMAIN[1]).double()
    model = burgers.hard_ansatz(net, odd=True)
    low = (0.0, 0.0) if o["half"] else burgers.DOMAIN[0]
    points = {"xt": pinn.box_interior(o["n"], low, burgers.DOMAIN[1], generator=gen, dtype=F64)}

    def slice_losses(m):  # mean squared residual in each time slice [i/M, (i+1)/M): (M,)
        r2 = burgers.residual(m, points["xt"]).pow(2)
        k = (points["xt"][:, 1] * SLICES).long().clamp(max=SLICES - 1)
        return torch.zeros(SLICES, dtype=F64).index_add(0, k, r2) / torch.bincount(k, minlength=SLICES).clamp(min=1)

    def causal_weights(m):  # w_i = exp(−ε Σ_{k<i} L_k), held fixed between updates
        losses = slice_losses(m).detach()
        points["w"] = torch.exp(-o["causal"] * torch.cat([losses.new_zeros(1), losses.cumsum(0)[:-1]]))

    def loss(m):
        if o["causal"]:
            return {"pde": (points["w"] * slice_losses(m)).mean()}
        return {"pde": burgers.residual(m, points["xt"]).pow(2).mean()}

    def resample(m):
        if o["causal"]:
            causal_weights(m)
        elif o["add"]:  # RAR-D: add points drawn from the RAD density to the ones there
            new = burgers.rad_points(m, o["add"], low=low, pool=RAD_POOL, k=RAD_K, c=RAD_C, generator=gen)
            points["xt"] = torch.cat([points["xt"], new])
        else:
            points["xt"] = burgers.rad_points(m, o["n"], low=low, pool=RAD_POOL, k=RAD_K, c=RAD_C, generator=gen)

    (test_xt, test_u), (val_xt, val_u) = test, validation
    start = time.process_time()
    if o["causal"]:
        causal_weights(model)
    history = pinn.train_pinn(
        model, loss, adam_steps=o["adam"], lbfgs_steps=o["lbfgs"], every=o["every"], seed=seed,
        error_fn=lambda m: pinn.relative_l2(m(test_xt).detach().reshape(test_u.shape), test_u),
        resample=resample if o["rad"] or o["add"] or o["causal"] else None, lbfgs_options={"history_size": o["history"]})
    seconds = time.process_time() - start
    with torch.no_grad():
        val_error = pinn.relative_l2(model(val_xt), val_u)
    return {"seed": seed, "test error": history.final_error, "validation error": val_error,
            "fresh residual": burgers.residual(model, fresh).pow(2).mean().item(),
            "cpu seconds": seconds, "test error by iteration": history.error}


def summary(runs: dict[str, list[dict]]) -> dict:
    """Per candidate: mean ± std of each measure, and paired verdicts against plain."""
    out = {}
    for name, rs in runs.items():
        row = {k: spread(r[k] for r in rs) for k in ("test error", "validation error", "fresh residual", "cpu seconds")}
        out[name] = {k: {"mean": s.mean, "std": s.std, "values": list(s.values)} for k, s in row.items()}
        if name != "plain" and "plain" in runs:
            for k in ("validation error", "test error"):
                out[name][f"{k} vs plain"] = str(compare(
                    row[k], spread(r[k] for r in runs["plain"]), False, (name, "plain"), paired=True))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", choices=list(CANDIDATES), default=list(CANDIDATES))
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    full = args.only == list(CANDIDATES) and tuple(args.seeds) == SEEDS
    target = stored.output("burgers_pinn", None if full else f"candidates {args.only}, seeds {args.seeds}", args.out)
    partial = Path(args.out + ".partial") if args.out else Path(tempfile.gettempdir()) / "burgers_pinn.partial"
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread, partial runs in {partial}")
    done = {}
    if partial.exists():
        for line in partial.read_text().splitlines():
            r = json.loads(line)
            done[(r["candidate"], r["seed"])] = r
    test = burgers.reference_grid()
    validation = validation_set()
    fresh = pinn.box_interior(10_000, *burgers.DOMAIN, generator=torch.Generator().manual_seed(2000), dtype=F64)
    runs = {}
    for name in args.only:
        runs[name] = []
        for seed in args.seeds:
            if (name, seed) not in done:
                r = {"candidate": name, **run(seed, CANDIDATES[name], test, validation, fresh)}
                with partial.open("a") as f:
                    f.write(json.dumps(r) + "\n")
                done[(name, seed)] = r
            r = done[(name, seed)]
            runs[name].append(r)
            print(f"{name:12s} seed {seed}: test {r['test error']:.2e}  validation {r['validation error']:.2e}  "
                  f"fresh residual {r['fresh residual']:.1e}  {r['cpu seconds']:.1f} s CPU", flush=True)
    if len(args.seeds) < 2:
        return
    table = summary(runs)
    print(f"\n{'mean ± std':12s}{'test error':>22s}{'validation error':>22s}{'CPU s per run':>16s}")
    for name, row in table.items():
        cells = [spread(row[k]["values"]).format(f) for k, f in
                 (("test error", ".2e"), ("validation error", ".2e"), ("cpu seconds", ".1f"))]
        print(f"{name:12s}{cells[0]:>22s}{cells[1]:>22s}{cells[2]:>16s}")
        for k in ("validation error vs plain", "test error vs plain"):
            if k in row:
                print(f"    {k}: {row[k]}")
    result = {"torch": torch.__version__, "machine": platform.machine(), "seeds": args.seeds, "plain": PLAIN,
              "load average when written": os.getloadavg()[0],
              "candidates": {n: CANDIDATES[n] for n in args.only},
              "rad": {"pool": RAD_POOL, "k": RAD_K, "c": RAD_C},
              "validation": "4000 random points of [-1,1]x[0,0.99] (seed 1000), Cole-Hopf values",
              "summary": table, "runs": [r for rs in runs.values() for r in rs]}
    target.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
