"""Steerable CNNs against the P4 CNN on rotated digits at 300 training images (chapter
"Group-equivariant CNNs"): the models of `course_lib.gcnn_efficiency.STEERABLE`, every one within
7 % of the P4 CNN's parameters (5,428 to 6,102 against 5,754), each one change from another
(`STEERABLE_PAIRS`: the group, larger filters, restriction C16 -> C8 -> C4, quotient fields,
SO(2) irreps fields, augmentation), trained
with the chapter's protocol (`gcnn_efficiency.run_one`: Adam at one rate for all, early-stopped on
the accuracy on a 200-image validation split from the training pool, best weights kept) on the same
images and seeds. Some of these models learn more slowly than the data-efficiency bench's, so the
patience is chosen again here, on this bench's validation errors (`gcnn_efficiency.choose_patience`
over PATIENCES, which adds 80 scores (2,000 steps) to the chapter's candidates): every run trains
at 80 and the weights each smaller patience would have kept are scored from the same run. The
test set plays no part in training or selection.

It prints and stores, for every model, the test error (%) per seed with its spread, the parameter
count and the CPU seconds, and the paired verdicts (`spread.compare`, the same images and seed on
both sides) against the P4 CNN, against its partner, and (augmented models) against the augmented
P4 CNN. Writes course_lib/bench_results/gcnn_steerable.json, which the chapter reads.

    .venv/bin/python bench/gcnn_steerable.py [seeds, default 0,1,2,3,4] [names, ';'-separated]

With arguments it is a trial run (printed, written to /tmp/gcnn_steerable_trial.json, not stored).
"""

from __future__ import annotations

import json
import os
import sys
import time

import torch

from course_lib import gcnn_efficiency as ge
from course_lib import stored
from course_lib.spread import compare, spread

N, BASELINE, AUGMENTED_BASELINE = 300, "P4 CNN", "P4 CNN + aug."
PATIENCES = (*ge.PATIENCES, 80)


def verdicts(models: dict) -> list[dict]:
    """Paired verdicts on the test error: each model against the P4 CNN, its partner, and (when
    augmented) the augmented P4 CNN; lower is better."""
    rows = []
    for name, entry in models.items():
        rivals = {BASELINE: "the P4 CNN"}
        if name in ge.STEERABLE_PAIRS:
            partner, change = ge.STEERABLE_PAIRS[name]
            rivals[partner] = change
        if name.endswith("+ aug.") and name != AUGMENTED_BASELINE:
            rivals[AUGMENTED_BASELINE] = "the augmented P4 CNN"
        for rival, what in rivals.items():
            if rival == name or rival not in models:
                continue
            errors = [[r["test_error"] for r in models[m]["runs"]] for m in (name, rival)]
            verdict = compare(spread(errors[0]), spread(errors[1]), False, names=(name, rival), paired=True)
            rows.append({"model": name, "against": rival, "what": what, "verdict": str(verdict),
                         "winner": verdict.winner, "margin": verdict.margin, "decided": verdict.decided})
    return rows


def main(seeds=(0, 1, 2, 3, 4), names=tuple(ge.STEERABLE), trial: str | None = None) -> dict:
    torch.set_num_threads(1)
    test_xy, pool = ge.rotated_digit_split(0)
    protocol = {"lr": ge.LR, "batch": ge.BATCH, "max_steps": ge.MAX_STEPS, "eval_every": ge.EVAL_EVERY,
                "patiences": list(PATIENCES), "trained_patience": max(PATIENCES)}
    result = {"n": N, "seeds": list(seeds), "n_test": len(test_xy[0]), "n_val": ge.N_VAL,
              "protocol": protocol, "pairs": {k: list(v) for k, v in ge.STEERABLE_PAIRS.items()}}
    total = time.process_time()
    result["models"] = ge.train_models(names, N, seeds, test_xy, pool, PATIENCES)
    table = ge.patience_table(result["models"])
    result["val_error_by_patience"] = table
    if len(seeds) > 1:
        print("validation error (%) by patience, and the largest patience's gain (paired margin):")
        print(ge.format_patience_table(table))
        protocol["patience"] = ge.choose_patience([{int(p): v for p, v in table[m][str(N)].items()}
                                                   for m in table])
    else:
        protocol["patience"] = max(PATIENCES)
    ge.adopt(result["models"], protocol["patience"])
    result["verdicts"] = verdicts(result["models"]) if len(seeds) > 1 else []
    result["runs_at_cap"] = sum(r["hit_cap"] for e in result["models"].values() for r in e["runs"])
    result["cpu_s"] = time.process_time() - total
    result["load_average_after"] = os.getloadavg()[0]
    print(f"\ntest error (%) at 300 images, patience {protocol['patience']} (chosen on validation), "
          f"seeds {list(seeds)}:")
    for name, entry in result["models"].items():
        errors = [r["test_error"] for r in entry["runs"]]
        shown = spread(errors).format(".1f") if len(errors) > 1 else f"{errors[0]:.1f}"
        print(f"  {name:26s} {shown:>12s}  {entry['parameters']:6,d} parameters  "
              f"{entry['cpu_s'] / len(seeds):5.0f} s CPU a seed")
    for row in result["verdicts"]:
        print(f"  [{row['what']}] {row['verdict']}")
    print(f"runs at the cap: {result['runs_at_cap']}; total {result['cpu_s']:.0f} s CPU")
    stored.output("gcnn_steerable", trial).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    seeds = tuple(int(v) for v in sys.argv[1].split(",")) if len(sys.argv) > 1 else (0, 1, 2, 3, 4)
    names = tuple(sys.argv[2].split(";")) if len(sys.argv) > 2 else tuple(ge.STEERABLE)
    main(seeds, names, trial=f"seeds {list(seeds)}, models {list(names)}" if len(sys.argv) > 1 else None)
