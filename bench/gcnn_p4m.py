"""More seeds for one question of the chapter "Group-equivariant CNNs": why P4M trails P4 at 300
images. Trains "P4 CNN", "P4M CNN" (bench models) and "P4M CNN, P4's fields" (a probe of
`course_lib.gcnn_efficiency.PROBES`: P4M given P4's channels) over seeds 0-9, with the protocol of
bench/gcnn_data_efficiency.py and bench/gcnn_probes.py (`gcnn_efficiency.run_one`, the same
split, `draw(pool, 300, seed)`, the patience that bench chose on validation; run it first). Seeds
0-2 are those benches' runs again and must come out the same (the chapter checks it). Writes
course_lib/bench_results/gcnn_p4m.json; each run's top-level fields are those at that patience.

Per run: test, validation and training error (%) of the kept weights, the step kept and the steps
run, CPU seconds, confusion matrices (also of the mirrored test and validation digits), by
patience.

    .venv/bin/python bench/gcnn_p4m.py [seeds, default 0-9] [names, ';'-separated, default all]

With arguments it is a trial run (e.g. `0` to time one seed), written to /tmp/gcnn_p4m_trial.json
(`stored.output`), never over the stored result.
"""

from __future__ import annotations

import json
import sys
import time

import torch

from course_lib import stored
from course_lib import gcnn_efficiency as ge

N = 300
SEEDS = tuple(range(10))
NAMES = ("P4 CNN", "P4M CNN", "P4M CNN, P4's fields")


def main(seeds: tuple[int, ...] = SEEDS, names: tuple[str, ...] = NAMES,
         trial: str | None = None) -> dict:
    torch.set_num_threads(1)
    protocol = ge.bench_protocol()   # the data-efficiency bench's chosen patience
    target = stored.output("gcnn_p4m", trial)
    test_xy, pool = ge.rotated_digit_split(0)
    result = {"n": N, "seeds": list(seeds), "n_test": len(test_xy[0]), "n_val": ge.N_VAL,
              "protocol": protocol}
    total = time.process_time()
    result["models"] = ge.train_models(names, N, seeds, test_xy, pool)
    ge.adopt(result["models"], result["protocol"]["patience"])
    result["runs_at_cap"] = sum(r["hit_cap"] for e in result["models"].values() for r in e["runs"])
    result["cpu_s"] = time.process_time() - total
    print(f"patience {result['protocol']['patience']} (the bench's choice); "
          f"runs at the cap: {result['runs_at_cap']}; total {result['cpu_s']:.0f} s CPU")
    target.write_text(json.dumps(result, indent=1))
    print(f"written to {target}")
    return result


if __name__ == "__main__":
    seeds = tuple(int(v) for v in sys.argv[1].split(",")) if len(sys.argv) > 1 else SEEDS
    names = tuple(sys.argv[2].split(";")) if len(sys.argv) > 2 else NAMES
    main(seeds, names, trial=f"seeds {list(seeds)}, models {list(names)}"
         if len(sys.argv) > 1 else None)
