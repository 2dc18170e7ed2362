"""Our FNO against neuraloperator's, each tuned alike on a validation split (chapter "Neural operators").

Both are trained on the same periodic Burgers data (ν = 0.1, solved on 256 points by
`course_lib.pde_data`, sampled at 64): 900 training pairs, 100 validation pairs, 200 test pairs,
with the same loss (relative L2), optimiser (Adam, cosine schedule), minibatches (20), steps and
layers (4). Each model gets the same tuning effort: every combination of learning rate in LRS,
kept modes in MODES and width in WIDTHS, trained from seed 0 and scored on the validation split.
Each model's best setting is then trained from 3 seeds and scored on the test set at 64 and 256
points; the verdict is paired (the same data, seeds and minibatches for both). neuraloperator's
FNO keeps its defaults otherwise (a positional channel, channel MLPs and soft gating in each block);
its projection is as wide as ours (4 × width). The JSON records every run and each model's setting.

Run:  .venv/bin/python bench/neuraloperator_compare.py [--steps 600] [--out FILE]
It writes course_lib/bench_results/neuraloperator_compare.json (`course_lib.stored`), which the chapter reads.
(neuraloperator is in the `compare` extra: pip install -e '.[compare]'.)
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform

import torch

from course_lib import operators as op, pde_data, stored
from course_lib.spread import compare, spread

LAYERS, SEEDS = 4, (0, 1, 2)
# a first run with rates up to 1e-2 chose 1e-2 for both, neuraloperator's at the grid's edge: 3e-2 added
LRS, MODES, WIDTHS = (1e-3, 3e-3, 1e-2, 3e-2), (8, 16), (32, 64)


def ours(modes: int, width: int) -> torch.nn.Module:
    return op.FNO(modes, width, LAYERS)


def theirs(modes: int, width: int) -> torch.nn.Module:
    from neuralop.models import FNO  # the compare extra: not a dependency of course_lib

    # neuraloperator counts modes of the full spectrum and keeps n // 2 + 1 of the real FFT's
    return FNO(n_modes=(2 * modes - 2,), hidden_channels=width, n_layers=LAYERS, in_channels=1,
               out_channels=1, projection_channel_ratio=4)


MAKERS = {"course_lib FNO": ours, "neuraloperator FNO": theirs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--out", default=str(stored.path("neuraloperator_compare")))
    args = parser.parse_args()
    torch.set_num_threads(1)
    load = os.getloadavg()[0]
    u0, u1 = pde_data.burgers_dataset(1200, 256, seed=0, dt=5e-3)
    x = {s: torch.tensor(u0[:, None, ::256 // s], dtype=torch.float32) for s in (64, 256)}
    y = {s: torch.tensor(u1[:, None, ::256 // s], dtype=torch.float32) for s in (64, 256)}
    train, val, test = slice(0, 900), slice(900, 1000), slice(1000, 1200)

    def run(name: str, setting: tuple[float, int, int], seed: int) -> tuple[torch.nn.Module, op.OperatorFit]:
        lr, modes, width = setting
        torch.manual_seed(seed)
        model = MAKERS[name](modes, width)
        fit = op.train_operator(model, x[64][train], y[64][train], steps=args.steps, lr=lr, seed=seed)
        return model, fit

    tuning: dict[str, dict[str, float]] = {name: {} for name in MAKERS}
    for name in MAKERS:
        for setting in itertools.product(LRS, MODES, WIDTHS):
            model, _ = run(name, setting, 0)
            tuning[name][str(setting)] = op.evaluate(model, x[64][val], y[64][val])
            print(f"{name:20s} lr {setting[0]:g}, modes {setting[1]}, width {setting[2]}: "
                  f"validation {tuning[name][str(setting)]:.4f}", flush=True)
    chosen = {name: min(itertools.product(LRS, MODES, WIDTHS), key=lambda s: tuning[name][str(s)])
              for name in MAKERS}
    results: dict[str, dict[str, list[float]]] = {}
    for name in MAKERS:
        results[name] = {"error 64": [], "error 256": [], "step ms": []}
        for seed in SEEDS:
            model, fit = run(name, chosen[name], seed)
            results[name]["step ms"].append(fit.step_ms)
            for s in (64, 256):
                results[name][f"error {s}"].append(op.evaluate(model, x[s][test], y[s][test]))
            results[name]["parameters"] = [op.real_parameters(model)]
    print(f"\n{'mean ± std, 3 seeds':20s}{'setting (lr, modes, width)':>28s}{'parameters':>11s}"
          f"{'L2 at 64':>18s}{'L2 at 256':>18s}{'ms/step':>14s}")
    for name, r in results.items():
        print(f"{name:20s}{str(chosen[name]):>28s}{r['parameters'][0]:11d}"
              f"{spread(r['error 64']).format('.4f'):>18s}{spread(r['error 256']).format('.4f'):>18s}"
              f"{spread(r['step ms']).format('.1f'):>14s}")
    a, b = results["course_lib FNO"], results["neuraloperator FNO"]
    verdicts = {"error": compare(spread(a["error 64"]), spread(b["error 64"]), False,
                                 ("course_lib", "neuraloperator"), paired=True),
                "speed": compare(spread(a["step ms"]), spread(b["step ms"]), False,
                                 ("course_lib", "neuraloperator")).replace("better", "faster")}
    print(f"lower test error, each at its own best setting: {verdicts['error']}\n"
          f"faster step (at different settings): {verdicts['speed']}")
    import neuralop

    with open(args.out, "w") as f:
        json.dump({"steps": args.steps, "layers": LAYERS, "grid": {"lr": LRS, "modes": MODES, "width": WIDTHS},
                   "validation error (seed 0)": tuning, "chosen (lr, modes, width)": chosen,
                   "neuraloperator": neuralop.__version__, "torch": torch.__version__,
                   "machine": platform.processor() or platform.machine(), "load average at start": load,
                   "edge of the rate grid": {name: chosen[name][0] in (min(LRS), max(LRS)) for name in MAKERS},
                   "results": results, "verdicts": verdicts,
                   "error verdict": {"winner": verdicts["error"].winner, "margin": verdicts["error"].margin,
                                     "decided": verdicts["error"].decided}}, f, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
