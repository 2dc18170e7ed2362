"""What Augerino's learned range follows: the data's range, or the range the labels allow.

The frontier chapter's 6-vs-9 task at four data ranges R (each digit turned by a random angle in
[−R, R], R = 0°, 20°, 45°, 70°), three seeds each, the chapter's model and budget
(`augerino.learn_range`, 2000 steps from ±11.5°). Rotating by more than 90° − R turns some 6s onto
9s (a 6 at +R turned by +w meets a 9 at −R turned by −w when R + w = 180° − R − w), so a method that
learns the widest range the labels allow should stop near 90° − R; one that learns the inputs'
spread should stop near R. R = 45° cannot tell them apart, hence the sweep. At R = 45° the runs are
repeated from a wide start (±90°), to see the level approached from above. A control whose labels
are meant to be invariant: the other eight digits turned within ±45° (800 steps). A control whose
labels are invariant under every rotation, 0 against 1 (a ring and a stroke), at the same four
ranges R and 2000 steps: there the widest range the labels allow is the full circle whatever R, so
a method that follows the labels should grow to ±180° at every R, and one that follows the inputs'
spread should stop near R. The chapter reads the JSON (learned level and change over the last 20% of steps, and
the curves every 10 steps) and plots learned against R.

Run:  .venv/bin/python bench/augerino_range.py [--out FILE] [--only PART ...]
(--out defaults to course_lib/bench_results/augerino_range.json, where the chapter reads it)
(about 10 s CPU per 2000-step run on a quiet machine; each run is written to the JSON as it ends,
so parts may run in parallel processes and a run already there is not repeated)
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
from course_lib.augerino import learn_range, rotated_digits, tail_trend

RANGES, SEEDS, STEPS, INVARIANT_STEPS = (0, 20, 45, 70), (0, 1, 2), 2000, 800
SIX_NINE, OTHERS, ZERO_ONE = (6, 9), (0, 1, 2, 3, 4, 5, 7, 8), (0, 1)


def key(keep, degrees, seed, init_width):
    return f"{''.join(map(str, keep))} R{degrees} start{math.degrees(init_width):.1f} seed{seed}"


def run(keep, degrees, seed, steps, init_width=0.2):
    (x, y), _ = rotated_digits(keep, math.radians(degrees), seed)
    start = time.process_time()
    _, w = learn_range(len(keep), x, y, seed, steps, init_width=init_width)
    level, change = tail_trend(w)
    print(f"digits {keep} R {degrees:3d}° start {math.degrees(init_width):5.1f}° seed {seed}: "
          f"level {level:5.1f}°, change {change:+5.1f}°", flush=True)
    return {"level": level, "change": change, "steps": steps, "curve": w[9::10],
            "cpu_seconds": time.process_time() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=stored.path("augerino_range"))
    parser.add_argument("--only", nargs="*", default=None, help="run only these parts: six_nine R, "
                        "from_above, invariant, zero_one (e.g. --only 70 invariant); runs already in --out are kept")
    args = parser.parse_args()
    torch.set_num_threads(1)
    report = json.loads(args.out.read_text()) if args.out.exists() else {}
    report.update({"ranges": list(RANGES), "seeds": list(SEEDS), "steps": STEPS, "tail": 0.2,
                   "invariant_steps": INVARIANT_STEPS})
    runs = report.setdefault("runs", {})
    plan = [(SIX_NINE, r, s, STEPS, 0.2, str(r)) for r in RANGES for s in SEEDS]
    plan += [(SIX_NINE, 45, s, STEPS, math.pi / 2, "from_above") for s in SEEDS]
    plan += [(OTHERS, 45, s, INVARIANT_STEPS, 0.2, "invariant") for s in SEEDS]
    plan += [(ZERO_ONE, r, s, STEPS, 0.2, "zero_one") for r in RANGES for s in SEEDS]
    for keep, degrees, seed, steps, init, part in plan:
        name = key(keep, degrees, seed, init)
        if name in runs or (args.only is not None and part not in args.only):
            continue
        result = run(keep, degrees, seed, steps, init)
        # several parts may run at once in separate processes: merge with what is on disk
        report = json.loads(args.out.read_text()) if args.out.exists() else report
        report.setdefault("runs", {})[name] = result
        report["load_average"] = os.getloadavg()
        args.out.write_text(json.dumps(report) + "\n")
        runs = report["runs"]


if __name__ == "__main__":
    main()
