"""The starting learning rate of the Lie chapter's EMLP benchmarks, chosen on validation data.

The chapter trains every model on every task from one starting rate (`LR` in book/lie.ipynb) and
reports test MSE on 1000 examples drawn with seed 1000. Here each candidate rate trains the three
models on the inertia task (the slowest to learn; 1000 examples, seed 0, 1800 steps, seeds 0-2)
and scores them on a validation draw the test never sees (1000 examples, seed 2000). The rate is
shared by the three models, so it is chosen for all of them: the lowest geometric mean over the
models of their mean validation MSE (a geometric mean, because the MLP's errors are a hundred
times the EMLP's). The EMLP's own best rate is printed too.

Run:  .venv/bin/python bench/emlp_learning_rate.py [--out bench/emlp_learning_rate.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import torch

from course_lib import emlp
from course_lib.spread import spread

RATES, SEEDS, STEPS = (1e-2, 2e-2, 3e-2), (0, 1, 2), 1800


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("bench/emlp_learning_rate.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    train, validation = emlp.inertia(1000, seed=0), emlp.inertia(1000, seed=2000)
    start = time.process_time()
    scores: dict[str, dict[str, list[float]]] = {}
    for lr in RATES:
        for kind in emlp.MODELS:
            mses = []
            for seed in SEEDS:
                model = emlp.make_model(kind, train, seed)
                emlp.fit_regression(model, train, steps=STEPS, lr=lr, seed=seed)
                mses.append(emlp.test_mse(model, validation))
            scores.setdefault(f"{lr:g}", {})[kind] = mses
            print(f"lr {lr:g} {kind:20} validation MSE {spread(mses).format('.3g')}", flush=True)

    def geometric_mean(lr: str) -> float:
        return math.prod(spread(scores[lr][kind]).mean for kind in emlp.MODELS) ** (1 / len(emlp.MODELS))

    best = min(scores, key=geometric_mean)
    best_emlp = min(scores, key=lambda lr: spread(scores[lr]["EMLP"]).mean)
    report = {"task": "inertia", "train_seed": 0, "validation_seed": 2000, "steps": STEPS,
              "seeds": list(SEEDS), "validation_mse": scores,
              "geometric_mean": {lr: geometric_mean(lr) for lr in scores}, "chosen_lr": float(best),
              "emlp_best_lr": float(best_emlp),
              "cpu_seconds": time.process_time() - start, "load_average": os.getloadavg()}
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"lowest geometric mean over the models at lr {best} (the chapter's); "
          f"the EMLP's alone at lr {best_emlp}")


if __name__ == "__main__":
    main()
