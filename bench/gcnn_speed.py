"""Forward+backward time of the from-scratch p4 layers (course_lib.gcnn) against escnn's R2Conv
with the same field types (regular fields of C4) and sizes, and the time escnn takes to build the
kernel bases of finer groups (C_N and D_N for N = 4, 8, 16).

    .venv/bin/python bench/gcnn_speed.py [--repeats 30] [--threads N] [--channels 8 16 16] [--size 24]

The layer table is `course_lib.timing.p4_layers_against_escnn`, the one the chapter prints: one row
per layer of GroupCNN(channels), milliseconds per forward+backward for each, the ratio escnn / ours
(> 1 means ours is faster) and the parameters. Both rebuild their filters on every forward pass
(escnn does so in training mode), so the comparison is the one that matters while training.

The build table times `steerable_conv` from one image to 2 regular fields (5×5, "lift") and from
2 regular fields to 2 (5×5, "regular"), in this process's order: escnn keeps what it solved in
memory for the rest of the process and, through joblib, on disk in its package folder, so a fresh
install pays the most and a second run of this script less.
"""

from __future__ import annotations

import argparse

import torch

from course_lib.steerable import enn, rotation_gspace, steerable_conv
from course_lib.timing import p4_layers_against_escnn, seconds_to_build


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--channels", type=int, nargs=3, default=(8, 16, 16))
    parser.add_argument("--size", type=int, default=24)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"batch {args.batch}, torch threads {torch.get_num_threads()}, median of {args.repeats} alternating runs")
    print(f"{'layer':26s} {'ours ms':>8s} {'escnn ms':>9s} {'escnn/ours':>10s} {'ours params':>12s} {'escnn params':>13s}")
    for t in p4_layers_against_escnn(tuple(args.channels), args.size, args.batch, args.repeats):
        print(f"{t.name:26s} {t.ours_ms:8.2f} {t.escnn_ms:9.2f} {t.ratio:10.2f} {t.ours_parameters:12d} "
              f"{t.escnn_parameters:13d}")
    print(f"\n{'group':6s} {'lift s':>7s} {'regular s':>10s}   (seconds to build the kernel basis, 5x5)")
    for N in (4, 8, 16):
        for flips in (False, True):
            gs = rotation_gspace(N, flips)
            image, hidden = enn.FieldType(gs, [gs.trivial_repr]), enn.FieldType(gs, 2 * [gs.regular_repr])
            _, lift_s = seconds_to_build(lambda: steerable_conv(image, hidden, 5, padding=2))
            _, regular_s = seconds_to_build(lambda: steerable_conv(hidden, hidden, 5, padding=2))
            print(f"{('D' if flips else 'C') + str(N):6s} {lift_s:7.2f} {regular_s:10.2f}")


if __name__ == "__main__":
    main()
