"""Our FNO against neuraloperator's, side by side (chapter "Neural operators").

Both are trained on the same periodic Burgers data (1000 pairs on 64 points, ν = 0.1, solved on
256 points by `course_lib.pde_data`), with the same modes (16 kept Fourier modes), width (32),
layers (4), loss (relative L2), optimiser (Adam, cosine schedule from 3e-3), minibatches (20)
and steps, from the same seeds, alternating: seed 0 ours, seed 0 theirs, seed 1 ours, ...
neuraloperator's FNO keeps its defaults otherwise (a positional channel, channel MLPs and soft
gating in each block); its projection is widened to ours (4 × width). It prints the test errors
at 64 and 256 points and the CPU milliseconds per training step, mean ± std over the seeds.

Run:  .venv/bin/python bench/neuraloperator_compare.py [--steps 1200] [--out bench/neuraloperator_compare.json]
(neuraloperator is in the `compare` extra: pip install -e '.[compare]'.)
"""

from __future__ import annotations

import argparse
import json
import platform

import torch

from course_lib import operators as op, pde_data
from course_lib.spread import compare, spread

MODES, WIDTH, LAYERS, SEEDS = 16, 32, 4, (0, 1, 2)


def theirs() -> torch.nn.Module:
    from neuralop.models import FNO  # the compare extra: not a dependency of course_lib

    # neuraloperator counts modes of the full spectrum and keeps n // 2 + 1 of the real FFT's
    return FNO(n_modes=(2 * MODES - 2,), hidden_channels=WIDTH, n_layers=LAYERS, in_channels=1,
               out_channels=1, projection_channel_ratio=4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--out", default="bench/neuraloperator_compare.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    u0, u1 = pde_data.burgers_dataset(1200, 256, seed=0, dt=5e-3)
    x = {s: torch.tensor(u0[:, None, ::256 // s], dtype=torch.float32) for s in (64, 256)}
    y = {s: torch.tensor(u1[:, None, ::256 // s], dtype=torch.float32) for s in (64, 256)}
    makers = {"course_lib FNO": lambda: op.FNO(MODES, WIDTH, LAYERS), "neuraloperator FNO": theirs}
    kept = [p.shape[-1] for n, p in theirs().named_parameters() if "convs" in n and p.dim() == 3]
    results: dict[str, dict[str, list[float]]] = {n: {"error 64": [], "error 256": [], "step ms": []}
                                                  for n in makers}
    for seed in SEEDS:
        for name, make in makers.items():
            torch.manual_seed(seed)
            model = make()
            fit = op.train_operator(model, x[64][:1000], y[64][:1000], steps=args.steps, lr=3e-3, seed=seed)
            results[name]["step ms"].append(fit.step_ms)
            for s in (64, 256):
                results[name][f"error {s}"].append(op.evaluate(model, x[s][1000:], y[s][1000:]))
            results[name]["parameters"] = [op.real_parameters(model)]
            print(f"seed {seed} {name:20s} error {results[name]['error 64'][-1]:.4f} "
                  f"(256 points {results[name]['error 256'][-1]:.4f}), {fit.step_ms:.1f} ms/step", flush=True)
    print(f"\n{'mean ± std, 3 seeds':20s}{'parameters':>11s}{'L2 at 64':>18s}{'L2 at 256':>18s}{'ms/step':>14s}")
    for name, r in results.items():
        print(f"{name:20s}{r['parameters'][0]:11d}{spread(r['error 64']).format('.4f'):>18s}"
              f"{spread(r['error 256']).format('.4f'):>18s}{spread(r['step ms']).format('.1f'):>14s}")
    ours, other = results["course_lib FNO"], results["neuraloperator FNO"]
    verdicts = {"error": compare(spread(ours["error 64"]), spread(other["error 64"]), False,
                                 ("course_lib", "neuraloperator")),
                "speed": compare(spread(ours["step ms"]), spread(other["step ms"]), False,
                                 ("course_lib", "neuraloperator")).replace("better", "faster")}
    print(f"lower error: {verdicts['error']}\nfaster step: {verdicts['speed']}")
    import neuralop

    with open(args.out, "w") as f:
        json.dump({"steps": args.steps, "modes": MODES, "width": WIDTH, "layers": LAYERS,
                   "neuraloperator_kept_modes": kept[:1], "neuraloperator": neuralop.__version__,
                   "torch": torch.__version__, "machine": platform.processor() or platform.machine(),
                   "results": results, "verdicts": verdicts}, f, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
