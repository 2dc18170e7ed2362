"""Data efficiency on rotated digits, every model trained to convergence (chapter "Group-equivariant
CNNs"): `course_lib.gcnn_efficiency` models, each size and seed early-stopped on the accuracy on a validation split
drawn from the training pool (never the test set), best weights kept. Writes
course_lib/bench_results/gcnn_data_efficiency.json, which the chapter reads.

Per run: test, validation and training error (%) of the kept weights, the step kept and the steps
run, CPU seconds, the test confusion matrix; at the largest size also the chapter's rotation sweep
(`gcnn.rotation_sweep` on 64 test digits, every 7.5°).

    .venv/bin/python bench/gcnn_data_efficiency.py [sizes, default 50,100,300] [seeds, default 0,1,2]
"""

from __future__ import annotations

import json
import math
import sys
import time

import torch

from course_lib import gcnn, stored, train
from course_lib import gcnn_efficiency as ge


def error(model, x, y) -> float:
    return 100 * (1 - train.accuracy(model, x, y))


@torch.no_grad()
def confusion(model, x, y) -> list[list[int]]:
    predicted = model(x).argmax(-1)
    matrix = torch.zeros(10, 10, dtype=torch.long)
    matrix.index_put_((y, predicted), torch.ones_like(y), accumulate=True)
    return matrix.tolist()


def main(sizes=(50, 100, 300), seeds=(0, 1, 2)) -> dict:
    torch.set_num_threads(1)
    (x_test, y_test), pool = ge.rotated_digit_split(0)
    angles = torch.linspace(0, 2 * math.pi, 49)
    probe = x_test[:64]
    result = {"sizes": list(sizes), "seeds": list(seeds), "n_test": len(x_test), "n_val": ge.N_VAL,
              "protocol": {"lr": ge.LR, "batch": ge.BATCH, "max_steps": ge.MAX_STEPS,
                           "eval_every": ge.EVAL_EVERY, "patience": ge.PATIENCE},
              "angles_deg": torch.rad2deg(angles).tolist(), "models": {}}
    total = time.process_time()
    for name in ge.MODELS:
        entry = {"runs": []}
        for n in sizes:
            for seed in seeds:
                train_xy, val_xy = ge.draw(pool, n, seed)
                start = time.process_time()
                model, history = ge.train_one(name, train_xy, val_xy, seed)
                run = {"n": n, "seed": seed, "test_error": error(model, x_test, y_test),
                       "val_error": error(model, *val_xy), "train_error": error(model, *train_xy),
                       "best_step": history.best_step, "steps": len(history.loss),
                       "cpu_s": time.process_time() - start,
                       "confusion": confusion(model, x_test, y_test)}
                if n == max(sizes):
                    with torch.no_grad():
                        change, changed = gcnn.rotation_sweep(model, probe, angles)
                    run["sweep_change"], run["sweep_changed"] = change.tolist(), changed.tolist()
                entry["runs"].append(run)
                print(f"{name:22s} n={n:4d} seed {seed}: test {run['test_error']:5.1f} % "
                      f"val {run['val_error']:5.1f} train {run['train_error']:5.1f}, kept step "
                      f"{run['best_step']} of {run['steps']}, {run['cpu_s']:.0f} s CPU", flush=True)
        entry["parameters"] = gcnn.n_parameters(model)
        entry["cpu_s"] = sum(r["cpu_s"] for r in entry["runs"])
        print(f"{name}: {entry['parameters']:,} parameters, {entry['cpu_s']:.0f} s CPU", flush=True)
        result["models"][name] = entry
    result["cpu_s"] = time.process_time() - total
    print(f"total {result['cpu_s']:.0f} s CPU")
    stored.path("gcnn_data_efficiency").write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    parse = lambda i, default: tuple(int(v) for v in sys.argv[i].split(",")) if len(sys.argv) > i else default
    main(parse(1, (50, 100, 300)), parse(2, (0, 1, 2)))
