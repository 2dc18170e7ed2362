"""The factorial probe of the chapter "Group-equivariant CNNs": the models of
`course_lib.gcnn_efficiency.PROBES`, each one change away from a model of the data-efficiency bench,
trained with the same protocol (`gcnn_efficiency.train_one`: early-stopped on the validation split,
best weights kept) on the same training images and seeds, at 300 images. Writes
course_lib/bench_results/gcnn_probes.json, which the chapter reads next to
gcnn_data_efficiency.json (the models it changes are that bench's runs: same split, draw and seed).

Per run: test, validation and training error (%) of the kept weights, the step kept and the steps
run, CPU seconds.

    .venv/bin/python bench/gcnn_probes.py [seeds, default 0,1,2] [names, ';'-separated, default all]

With arguments it is a trial run (e.g. `0` to time one seed): printed, not stored.
"""

from __future__ import annotations

import json
import sys
import time

import torch

from course_lib import gcnn, stored, train
from course_lib import gcnn_efficiency as ge

N = 300


def error(model, x, y) -> float:
    return 100 * (1 - train.accuracy(model, x, y))


def main(seeds=(0, 1, 2), names=tuple(ge.PROBES), write: bool = True) -> dict:
    torch.set_num_threads(1)
    (x_test, y_test), pool = ge.rotated_digit_split(0)
    result = {"n": N, "seeds": list(seeds), "n_test": len(x_test), "n_val": ge.N_VAL,
              "protocol": {"lr": ge.LR, "batch": ge.BATCH, "max_steps": ge.MAX_STEPS,
                           "eval_every": ge.EVAL_EVERY, "patience": ge.PATIENCE},
              "models": {}}
    total = time.process_time()
    for name in names:
        entry = {"runs": []}
        for seed in seeds:
            train_xy, val_xy = ge.draw(pool, N, seed)
            start = time.process_time()
            model, history = ge.train_one(name, train_xy, val_xy, seed)
            run = {"n": N, "seed": seed, "test_error": error(model, x_test, y_test),
                   "val_error": error(model, *val_xy), "train_error": error(model, *train_xy),
                   "best_step": history.best_step, "steps": len(history.loss),
                   "cpu_s": time.process_time() - start}
            entry["runs"].append(run)
            print(f"{name:24s} seed {seed}: test {run['test_error']:5.1f} % "
                  f"val {run['val_error']:5.1f} train {run['train_error']:5.1f}, kept step "
                  f"{run['best_step']} of {run['steps']}, {run['cpu_s']:.0f} s CPU", flush=True)
        entry["parameters"] = gcnn.n_parameters(model)
        entry["cpu_s"] = sum(r["cpu_s"] for r in entry["runs"])
        print(f"{name}: {entry['parameters']:,} parameters, {entry['cpu_s']:.0f} s CPU", flush=True)
        result["models"][name] = entry
    result["cpu_s"] = time.process_time() - total
    print(f"total {result['cpu_s']:.0f} s CPU")
    if write:
        stored.path("gcnn_probes").write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    seeds = tuple(int(v) for v in sys.argv[1].split(",")) if len(sys.argv) > 1 else (0, 1, 2)
    names = tuple(sys.argv[2].split(";")) if len(sys.argv) > 2 else tuple(ge.PROBES)
    main(seeds, names, write=len(sys.argv) <= 1)
