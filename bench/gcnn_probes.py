"""The factorial probe of the chapter "Group-equivariant CNNs": the models of
`course_lib.gcnn_efficiency.PROBES`, each one change away from a model of the data-efficiency bench,
trained with the same protocol (`gcnn_efficiency.run_one`: early-stopped on the validation split,
best weights kept, every candidate patience scored) on the same training images and seeds, at 300
images. Writes course_lib/bench_results/gcnn_probes.json, which the chapter reads next to
gcnn_data_efficiency.json (the models it changes are that bench's runs: same split, draw and seed).
Each run's top-level fields are those at the patience that bench chose on validation (run it first).

Per run: test, validation and training error (%) of the kept weights, the step kept and the steps
run, CPU seconds, confusion matrices, by patience.

    .venv/bin/python bench/gcnn_probes.py [seeds, default 0,1,2] [names, ';'-separated, default all]

With arguments it is a trial run (e.g. `0` to time one seed): printed, not stored.
"""

from __future__ import annotations

import json
import sys
import time

import torch

from course_lib import stored
from course_lib import gcnn_efficiency as ge

N = 300


def main(seeds=(0, 1, 2), names=tuple(ge.PROBES), write: bool = True) -> dict:
    torch.set_num_threads(1)
    protocol = ge.bench_protocol()   # the data-efficiency bench's chosen patience
    test_xy, pool = ge.rotated_digit_split(0)
    result = {"n": N, "seeds": list(seeds), "n_test": len(test_xy[0]), "n_val": ge.N_VAL,
              "protocol": protocol}
    total = time.process_time()
    result["models"] = ge.train_models(names, N, seeds, test_xy, pool)
    table = ge.patience_table(result["models"])
    if len(seeds) > 1:
        print("validation error (%) by patience, and the largest patience's gain (paired margin):")
        print(ge.format_patience_table(table))
    ge.adopt(result["models"], result["protocol"]["patience"])
    result["val_error_by_patience"] = table
    result["runs_at_cap"] = sum(r["hit_cap"] for e in result["models"].values() for r in e["runs"])
    result["cpu_s"] = time.process_time() - total
    print(f"patience {result['protocol']['patience']} (the bench's choice); runs at the cap: {result['runs_at_cap']}")
    print(f"total {result['cpu_s']:.0f} s CPU")
    if write:
        stored.path("gcnn_probes").write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    seeds = tuple(int(v) for v in sys.argv[1].split(",")) if len(sys.argv) > 1 else (0, 1, 2)
    names = tuple(sys.argv[2].split(";")) if len(sys.argv) > 2 else tuple(ge.PROBES)
    main(seeds, names, write=len(sys.argv) <= 1)
