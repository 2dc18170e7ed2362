"""Data efficiency on rotated digits, every model trained to convergence (chapter "Group-equivariant
CNNs"): `course_lib.gcnn_efficiency` models, each size and seed early-stopped on the accuracy on a
validation split drawn from the training pool (never the test set), best weights kept. Writes
course_lib/bench_results/gcnn_data_efficiency.json, which the chapter reads.

The patience is chosen on validation: every run trains at the largest of `ge.PATIENCES` and
`ge.run_one` scores the weights each smaller patience would have kept (the same trajectory, cut
shorter); `ge.choose_patience` picks the smallest patience whose validation errors are within noise
of the largest's for every model and size. The table "validation error by patience" is printed and
stored; each run's top-level fields are those of the chosen patience.

Per run (`ge.run_one`): test, validation and training error (%) of the kept weights, the step kept
and the steps run, CPU seconds, the test confusion matrix and those of the mirrored test and
validation digits (the chapter picks its mirror pairs on the validation digits), the validation history; at the largest size also the chapter's rotation sweep (`gcnn.rotation_sweep` on
64 test digits, every 7.5°).

    .venv/bin/python bench/gcnn_data_efficiency.py [sizes, default 50,100,300] [seeds, default 0,1,2]

With arguments it is a trial run: printed, not stored.
"""

from __future__ import annotations

import json
import math
import sys
import time

import torch

from course_lib import gcnn, stored
from course_lib import gcnn_efficiency as ge


def protocol(patience: int) -> dict:
    """The training protocol, as stored (`patience`: the chosen one)."""
    return {"lr": ge.LR, "batch": ge.BATCH, "max_steps": ge.MAX_STEPS, "eval_every": ge.EVAL_EVERY,
            "patience": patience, "patiences": list(ge.PATIENCES), "trained_patience": max(ge.PATIENCES)}


def main(sizes=(50, 100, 300), seeds=(0, 1, 2), write: bool = True) -> dict:
    torch.set_num_threads(1)
    test_xy, pool = ge.rotated_digit_split(0)
    angles = torch.linspace(0, 2 * math.pi, 49)
    probe = test_xy[0][:64]
    result = {"sizes": list(sizes), "seeds": list(seeds), "n_test": len(test_xy[0]), "n_val": ge.N_VAL,
              "angles_deg": torch.rad2deg(angles).tolist(), "models": {}}
    total = time.process_time()
    for name in ge.MODELS:
        entry = {"runs": []}
        for n in sizes:
            for seed in seeds:
                train_xy, val_xy = ge.draw(pool, n, seed)
                run, kept = ge.run_one(name, train_xy, val_xy, test_xy, seed,
                                       sweep=(probe, angles) if n == max(sizes) else None)
                entry["runs"].append(run)
                report = "; ".join(f"p={p}: test {r['test_error']:.1f} val {r['val_error']:.1f} step {r['best_step']}"
                                   for p, r in run["by_patience"].items())
                print(f"{name:22s} n={n:4d} seed {seed}: {report}; ran {run['steps_trained']}"
                      f"{' (HIT THE CAP)' if run['hit_cap'] else ''}, {run['cpu_s']:.0f} s CPU", flush=True)
        entry["parameters"] = gcnn.n_parameters(kept[max(kept)])
        entry["cpu_s"] = sum(r["cpu_s"] for r in entry["runs"])
        print(f"{name}: {entry['parameters']:,} parameters, {entry['cpu_s']:.0f} s CPU", flush=True)
        result["models"][name] = entry
    table = ge.patience_table(result["models"])
    print("validation error (%) by patience, mean over seeds, and the largest patience's gain (paired margin):")
    print(ge.format_patience_table(table))
    chosen = ge.choose_patience([errors_by_p for sizes_ in table.values() for errors_by_p in
                                 ({int(p): v for p, v in e.items()} for e in sizes_.values())])
    ge.adopt(result["models"], chosen)
    result["protocol"] = protocol(chosen)
    result["val_error_by_patience"] = table
    result["runs_at_cap"] = sum(r["hit_cap"] for e in result["models"].values() for r in e["runs"])
    result["cpu_s"] = time.process_time() - total
    print(f"chosen patience {chosen}; runs that hit the cap of {ge.MAX_STEPS} steps: {result['runs_at_cap']}")
    print(f"total {result['cpu_s']:.0f} s CPU")
    if write:
        stored.path("gcnn_data_efficiency").write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    parse = lambda i, default: tuple(int(v) for v in sys.argv[i].split(",")) if len(sys.argv) > i else default
    main(parse(1, (50, 100, 300)), parse(2, (0, 1, 2)), write=len(sys.argv) <= 1)
