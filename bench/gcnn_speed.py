"""Forward+backward time of the from-scratch p4 layers (course_lib.gcnn) against escnn's R2Conv
with the same field types (regular fields of C4) and sizes: the layers of the chapter's GroupCNN.

    .venv/bin/python bench/gcnn_speed.py [--repeats 30] [--threads N]

Prints one row per layer: milliseconds per forward+backward for each, parameters, and the ratio
escnn / ours (> 1 means ours is faster). Both rebuild their filters on every forward pass (escnn
does so in training mode), so the comparison is the one that matters while training.
"""

from __future__ import annotations

import argparse
import time

import torch

from course_lib import gcnn
from course_lib.steerable import enn, rotation_gspace

# (name, c_in fields, c_out fields, kernel, size): GroupCNN((8, 16, 16)) on 24×24 images, batch 32
LAYERS = [("lift 1->8, 5x5, 24x24", 1, 8, 5, 24), ("group 8->16, 5x5, 12x12", 8, 16, 5, 12),
          ("group 16->16, 3x3, 6x6", 16, 16, 3, 6)]


def forward_backward(layer: torch.nn.Module, x) -> float:
    """Seconds for one forward + backward pass of `layer` on x."""
    start = time.perf_counter()
    out = layer(x)
    (out.tensor if hasattr(out, "tensor") else out).square().sum().backward()
    return time.perf_counter() - start


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    gs = rotation_gspace(4)
    print(f"batch {args.batch}, torch threads {torch.get_num_threads()}, median of {args.repeats} alternating runs")
    print(f"{'layer':26s} {'ours ms':>8s} {'escnn ms':>9s} {'escnn/ours':>10s} {'ours params':>12s} {'escnn params':>13s}")
    for name, c_in, c_out, k, size in LAYERS:
        lifting = c_in == 1
        ours = (gcnn.LiftingConv(1, c_out, k, padding=k // 2) if lifting
                else gcnn.GroupConv(c_in, c_out, k, padding=k // 2))
        t_in = enn.FieldType(gs, [gs.trivial_repr] if lifting else c_in * [gs.regular_repr])
        theirs = enn.R2Conv(t_in, enn.FieldType(gs, c_out * [gs.regular_repr]), k, padding=k // 2).train()
        shape = (args.batch, 1, size, size) if lifting else (args.batch, c_in, 4, size, size)
        x = torch.randn(shape, requires_grad=not lifting)  # inside a network, group maps need their gradient
        gx = t_in(x.flatten(1, 2) if not lifting else x)
        times_ours, times_theirs = [], []
        for i in range(args.repeats + 3):  # alternate, so that a busy machine slows both alike
            t_ours, t_theirs = forward_backward(ours, x), forward_backward(theirs, gx)
            if i >= 3:  # the first passes warm up caches
                times_ours.append(t_ours)
                times_theirs.append(t_theirs)
        t_ours, t_theirs = median(times_ours), median(times_theirs)
        print(f"{name:26s} {1e3 * t_ours:8.2f} {1e3 * t_theirs:9.2f} {t_theirs / t_ours:10.2f} "
              f"{gcnn.n_parameters(ours):12d} {gcnn.n_parameters(theirs):13d}")


if __name__ == "__main__":
    main()
