"""Every knob of the Lie chapter's EMLP benchmarks chosen on validation data, and the paper's gate.

The chapter (book/lie.ipynb) trains an MLP, the MLP with augmentation and the EMLP on the EMLP
paper's three tasks: 1000 training examples (seed 0), test MSE on 1000 examples (seed 1000). Here
every run is also scored on a validation draw the test never chooses anything from (1000 examples,
seed 2000), and each choice below is the lowest mean validation MSE over seeds 0-2, made in order:

1. the starting learning rate, per task and per model, on a factor-4 grid around the chapter's old
   shared rate (RATES), extended by a factor 4 (at most twice) while the best rate sits at an edge;
   the MLPs at 2 layers of 128 and augmentation scale 1;
2. the augmentation scale (the std of the random algebra coefficients; SCALES, extended to
   SCALES_UP or SCALES_DOWN in turn while the best scale sits at that edge), per task, at the
   augmented MLP's chosen rate;
3. the MLP's size, 2 layers of 128 or the paper's 3 of 384, for the plain and the augmented MLP,
   per task, each size at its own rate: the same search as in 1 (grid, extension, seeds), at the
   chosen scale, so no size is judged at a rate chosen for another;
4. the training length: each model, at its chosen rate, scale and size, trained for twice the
   chapter's steps as well.

Every model kind includes the EMLP with the paper's sigmoid gate (`emlp.SIGMOID_EMLP`), which
differs from the chapter's EMLP in the gate only. Every run's test MSE is stored too, so the page
can quote the test figures of the configurations that validation chose (and of nothing else).

Cuts, to keep the CPU time near 30 minutes on one thread: one factor-4 rate grid, the steps of the
page (600, 600, 1200), three seeds. Results are cached by configuration in the output, so a rerun
only trains what is missing; `--tasks` fills the cache for some tasks (in parallel processes, each
with its own --out) and `--cache` merges those files into a run over all tasks.

Run:  .venv/bin/python bench/emlp_validation.py [--out course_lib/bench_results/emlp_validation.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from course_lib import emlp, stored
from course_lib.spread import compare, spread

TASKS = {"O(5) synthetic": emlp.o5_synthetic, "inertia": emlp.inertia, "Lorentz": emlp.lorentz_scattering}
STEPS = {"O(5) synthetic": 600, "inertia": 600, "Lorentz": 1200}  # the chapter's
RATES = (5e-3, 2e-2, 8e-2)
SCALES = (0.1, 0.3, 1.0)
SCALES_UP, SCALES_DOWN = (3.0, 10.0), (0.03, 0.01)  # tried in turn while the best is at that edge
SIZES = ((128, 2), (384, 3))
SEEDS = (0, 1, 2)
N = 1000
TRAIN_SEED, TEST_SEED, VALIDATION_SEED = 0, 1000, 2000
# The paper's test MSE at 1000 training examples (Finzi, Welling & Wilson 2021, the
# synthetic O(5), O(3) inertia and O(1,3) tasks: MLP, MLP + augmentation, EMLP), as the chapter first
# transcribed them (commit d1199ca); not re-read from the paper in this run (no network here).
PAPER = {"O(5) synthetic": (0.089, 0.063, 0.017), "inertia": (0.84, 0.112, 0.028),
         "Lorentz": (0.364, 0.0125, 3.3e-4)}


def key(task: str, kind: str, lr: float, steps: int, width: int, depth: int, scale: float) -> str:
    return f"{task}|{kind}|lr={lr:g}|steps={steps}|{width}x{depth}|scale={scale:g}"


class Runner:
    """Trains and scores configurations, caching every result in `self.runs` (written to `out`)."""

    def __init__(self, out: Path):
        self.out = out
        self.runs: dict[str, dict] = {}
        if out.exists():
            self.runs = json.loads(out.read_text()).get("runs", {})
        self.data = {name: {split: make(N, seed=s) for split, s in
                            (("train", TRAIN_SEED), ("validation", VALIDATION_SEED), ("test", TEST_SEED))}
                     for name, make in TASKS.items()}

    def run(self, task: str, kind: str, lr: float, steps: int, width: int = 128, depth: int = 2,
            scale: float = 1.0) -> dict:
        name = key(task, kind, lr, steps, width, depth, scale)
        if name not in self.runs:
            start = time.process_time()
            data = self.data[task]
            scores = {"validation": [], "test": []}
            for seed in SEEDS:
                model = emlp.make_model(kind, data["train"], seed, width=width, depth=depth, scale=scale)
                emlp.fit_regression(model, data["train"], steps=steps, lr=lr, seed=seed)
                for split in scores:
                    scores[split].append(emlp.test_mse(model, data[split]))
            self.runs[name] = {"task": task, "kind": kind, "lr": lr, "steps": steps, "width": width,
                               "depth": depth, "scale": scale, **scores,
                               "cpu_seconds": time.process_time() - start}
            print(f"{name:70} validation {spread(scores['validation']).format('.3g'):>24} "
                  f"test {spread(scores['test']).format('.3g'):>24} "
                  f"({self.runs[name]['cpu_seconds']:.0f} s)", flush=True)
        return self.runs[name]


def best(runs: list[dict]) -> dict:
    return min(runs, key=lambda r: spread(r["validation"]).mean)


def rate_search(runner: Runner, task: str, kind: str, width: int = 128, depth: int = 2,
                scale: float = 1.0) -> dict:
    """The lowest-validation rate of RATES at one size and scale, the grid extended by a factor 4
    (at most twice) while the best rate sits at an edge: the same search for every model and size."""
    rates = list(RATES)
    runs = [runner.run(task, kind, lr, STEPS[task], width, depth, scale) for lr in rates]
    for _ in range(2):
        pick = best(runs)
        if pick["lr"] == rates[-1]:
            rates.append(rates[-1] * 4)
            new = rates[-1]
        elif pick["lr"] == rates[0]:
            rates.insert(0, rates[0] / 4)
            new = rates[0]
        else:
            break
        runs.append(runner.run(task, kind, new, STEPS[task], width, depth, scale))
    pick = best(runs)
    return {"lr": pick["lr"], "rates_tried": sorted(rates),
            "lr_at_grid_edge": pick["lr"] in (min(rates), max(rates)),
            "validation": spread(pick["validation"]).mean}


def size_name(width: int, depth: int) -> str:
    return f"{width}x{depth}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=stored.path("emlp_validation"))
    parser.add_argument("--tasks", nargs="*", default=list(TASKS), choices=list(TASKS),
                        help="only these tasks (to fill the cache in parallel processes)")
    parser.add_argument("--cache", nargs="*", type=Path, default=[],
                        help="more result files whose runs count as done (from --tasks runs)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    runner = Runner(args.out)
    for extra in args.cache:
        runner.runs.update(json.loads(extra.read_text())["runs"])
    tasks = [t for t in TASKS if t in args.tasks]
    start = time.process_time()
    chosen: dict[str, dict[str, dict]] = {}

    def save(stage: str) -> None:
        report = {"protocol": {"n_train": N, "train_seed": TRAIN_SEED, "validation_seed": VALIDATION_SEED,
                               "test_seed": TEST_SEED, "seeds": list(SEEDS), "steps": STEPS,
                               "rates": list(RATES), "scales": list(SCALES),
                               "scale_extensions": {"up": list(SCALES_UP), "down": list(SCALES_DOWN)},
                               "sizes": [list(s) for s in SIZES]},
                  "paper": PAPER, "stage": stage, "tasks": tasks, "chosen": chosen, "runs": runner.runs,
                  "cpu_seconds_this_run": time.process_time() - start,
                  "cpu_seconds_all_runs": sum(r["cpu_seconds"] for r in runner.runs.values()),
                  "load_average": os.getloadavg()}
        args.out.write_text(json.dumps(report, indent=1) + "\n")

    for task in tasks:  # 1. the learning rate, per task and model, at 2x128 and scale 1
        chosen[task] = {}
        for kind in emlp.KINDS:
            search = rate_search(runner, task, kind)
            chosen[task][kind] = {"lr": search["lr"], "width": 128, "depth": 2, "scale": 1.0,
                                  "steps": STEPS[task], "rates_tried": search["rates_tried"],
                                  "lr_at_grid_edge": search["lr_at_grid_edge"]}
        save("rates")
    for task in tasks:  # 2. the augmentation scale, the grid extended while the best is at an edge
        c = chosen[task]["MLP + augmentation"]
        scales = list(SCALES)
        runs = [runner.run(task, "MLP + augmentation", c["lr"], STEPS[task], scale=s) for s in scales]
        up, down = list(SCALES_UP), list(SCALES_DOWN)
        while True:
            pick = best(runs)["scale"]
            if pick == scales[-1] and up:
                scales.append(up.pop(0))
                new = scales[-1]
            elif pick == scales[0] and down:
                scales.insert(0, down.pop(0))
                new = scales[0]
            else:
                break
            runs.append(runner.run(task, "MLP + augmentation", c["lr"], STEPS[task], scale=new))
        c["scale"] = best(runs)["scale"]
        c["scales_tried"] = sorted(scales)
        c["scale_validation"] = {f"{r['scale']:g}": spread(r["validation"]).mean for r in runs}
        c["scale_at_grid_edge"] = c["scale"] in (min(scales), max(scales))
        save("scales")
    for task in tasks:  # 3. the MLP's size, each size at its own rate (the same search), at the scale
        for kind in ("MLP", "MLP + augmentation"):
            c = chosen[task][kind]
            c["sizes"] = {size_name(w, d): rate_search(runner, task, kind, w, d, c["scale"])
                          for w, d in SIZES}
            pick = min(c["sizes"], key=lambda s: c["sizes"][s]["validation"])
            c["width"], c["depth"] = map(int, pick.split("x"))
            c["lr"], c["rates_tried"] = c["sizes"][pick]["lr"], c["sizes"][pick]["rates_tried"]
            c["lr_at_grid_edge"] = c["sizes"][pick]["lr_at_grid_edge"]
        save("sizes")
    for task in tasks:  # 4. the training length, at the chosen rate, scale and size
        for kind in emlp.KINDS:
            c = chosen[task][kind]
            runs = [runner.run(task, kind, c["lr"], s, c["width"], c["depth"], c["scale"])
                    for s in (STEPS[task], 2 * STEPS[task])]
            longer = compare(spread(runs[1]["validation"]), spread(runs[0]["validation"]),
                             higher_is_better=False, names=("twice the steps", "the chapter's steps"))
            c["twice_the_steps"] = {"verdict": str(longer), "decided": longer.decided,
                                    "winner": longer.winner, "margin": longer.margin,
                                    "ratio": spread(runs[1]["validation"]).mean / spread(runs[0]["validation"]).mean}
        save("steps")
    print("\nchosen on validation (test MSE of the choice; paper's figure):")
    for task in tasks:
        for kind in emlp.KINDS:
            c = chosen[task][kind]
            r = runner.run(task, kind, c["lr"], c["steps"], c["width"], c["depth"], c["scale"])
            paper = dict(zip(emlp.MODELS, PAPER[task])).get(kind, PAPER[task][2])
            print(f"{task:15} {kind:20} lr {c['lr']:g} {c['width']}x{c['depth']} scale {c['scale']:g}: "
                  f"test {spread(r['test']).format('.3g')} ({spread(r['test']).mean / paper:.2f}x the paper's "
                  f"{paper:g}); twice the steps: {c['twice_the_steps']['verdict']}")
    save("done" if tasks == list(TASKS) else "done, some tasks")
    print(f"CPU time of this run {time.process_time() - start:.0f} s")


if __name__ == "__main__":
    main()
