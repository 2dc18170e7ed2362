"""The frontier chapter's Augerino runs at R = 45°: the learned range, and held-out accuracy
against the same network forced to the full circle.

The 8×8 digits 6 and 9 turned within ±45° (`augerino.rotated_digits`), three seeds, 2000 steps
each, for the learned range (`augerino.learn_range`, from ±11.5°) and for the same network with its
range fixed at ±180° (`augerino.against_full_circle`). Six runs of about 19 s CPU each on a quiet
machine: more than the page's CPU budget allows next to its PINNs, so the chapter reads this
script's result (`course_lib.stored.result("frontier_augerino")`), as it reads the range sweep of
`bench/augerino_range.py`. Stored per seed: the learned range every 10 steps ("curve", degrees),
its level and change over the last 20% of steps (`augerino.tail_trend` on every step), and the
held-out accuracy on each class of both models.

Run:  .venv/bin/python bench/frontier_augerino.py [--out FILE]
(--out defaults to course_lib/bench_results/frontier_augerino.json, where the chapter reads it)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import torch

from course_lib import stored
from course_lib.augerino import against_full_circle, tail_trend

DIGITS, DEGREES, SEEDS, STEPS, TAIL, EVERY = (6, 9), 45, (0, 1, 2), 2000, 0.2, 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=stored.path("frontier_augerino"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    runs = {}
    for seed in SEEDS:
        start = time.process_time()
        result = against_full_circle(DIGITS, math.radians(DEGREES), seed, STEPS)
        level, change = tail_trend(result["widths"], TAIL)
        runs[str(seed)] = {"level": level, "change": change,
                           "curve": result["widths"][EVERY - 1::EVERY], "accuracy": result["accuracy"],
                           "cpu_seconds": time.process_time() - start}
        print(f"seed {seed}: level {level:.1f}°, change {change:+.1f}°, accuracy {result['accuracy']}, "
              f"{runs[str(seed)]['cpu_seconds']:.0f} s CPU", flush=True)
    report = {"digits": list(DIGITS), "degrees": DEGREES, "seeds": list(SEEDS), "steps": STEPS, "tail": TAIL,
              "curve_every": EVERY, "runs": runs, "load_average": os.getloadavg(),
              "torch": torch.__version__}
    args.out.write_text(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
