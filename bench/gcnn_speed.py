"""Forward+backward time of the from-scratch p4 layers (course_lib.gcnn) against escnn's R2Conv
with the same field types (regular fields of C4) and sizes, and the time escnn takes to build the
kernel bases of finer groups (C_N and D_N for N = 4, 8, 16).

    .venv/bin/python bench/gcnn_speed.py [--repeats 30] [--threads N] [--channels 8 16 16] [--size 24]
    .venv/bin/python bench/gcnn_speed.py --cold     # cold and warm build times, stored

`--cold` times the builds the way a learner meets them and stores the result in
course_lib/bench_results/gcnn_build.json (the chapter reads it): each layer (lift and
regular-to-regular, C_N and D_N, N = 4, 8, 16) is built in a fresh process whose escnn disk cache
points at a new, empty folder (`joblib.Memory`, escnn's only disk cache, redirected before escnn is
imported: the package's own `escnn/group/_cache` is neither read nor written), then once more in that
process (escnn's in-memory caches), then in a second fresh process that reads the folder the first
one filled (a warm disk cache). CPU seconds of the build alone, one thread.

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
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from course_lib import stored
from course_lib.steerable import enn, rotation_gspace, steerable_conv
from course_lib.timing import p4_layers_against_escnn, seconds_to_build

# A fresh process: escnn's joblib disk cache pointed at sys.argv[1], then one layer built twice.
BUILD = r"""
import sys, time, warnings
import joblib
folder, n, flips, layer = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4]
memory = joblib.Memory
joblib.Memory = lambda location=None, **kw: memory(folder, **kw)   # escnn's disk cache: here
warnings.filterwarnings("ignore")
import torch
torch.set_num_threads(1)
from course_lib.steerable import enn, rotation_gspace, steerable_conv
gs = rotation_gspace(n, flips)
image, hidden = enn.FieldType(gs, [gs.trivial_repr]), enn.FieldType(gs, 2 * [gs.regular_repr])
seconds = []
for _ in range(2):
    start = time.process_time()
    steerable_conv(image if layer == "lift" else hidden, hidden, 5, padding=2)
    seconds.append(time.process_time() - start)
print(*seconds)
"""


def package_cache() -> list[str]:
    """The files in escnn's own disk cache folder (`escnn.group.__cache_path__`)."""
    import escnn.group
    folder = Path(escnn.group.__cache_path__)
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def cold_builds() -> dict:
    """Build times (CPU s) with an empty disk cache, again in the same process, and in a fresh
    process with the disk cache the first filled: {"C8 regular": {"cold", "again", "warm_disk"}}."""
    before = package_cache()
    result = {}
    for flips in (False, True):
        for n in (4, 8, 16):
            for layer in ("lift", "regular"):
                with tempfile.TemporaryDirectory() as folder:
                    run = lambda: [float(v) for v in subprocess.run(
                        [sys.executable, "-c", BUILD, folder, str(n), str(int(flips)), layer],
                        capture_output=True, text=True, check=True).stdout.split()]
                    cold, again = run()
                    warm_disk, _ = run()
                    filled = sum(1 for p in Path(folder).rglob("*") if p.is_file())
                name = f"{'D' if flips else 'C'}{n} {layer}"
                result[name] = {"cold": cold, "again": again, "warm_disk": warm_disk, "cache_files": filled}
                print(f"{name:12s} cold {cold:6.2f} s  again {again:5.2f} s  warm disk {warm_disk:6.2f} s  "
                      f"({filled} files cached)", flush=True)
    if package_cache() != before:
        raise RuntimeError("escnn's package cache changed while the builds pointed elsewhere")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--channels", type=int, nargs=3, default=(8, 16, 16))
    parser.add_argument("--size", type=int, default=24)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--cold", action="store_true", help="cold build times, stored for the chapter")
    args = parser.parse_args()
    if args.cold:
        builds = cold_builds()
        stored.path("gcnn_build").write_text(json.dumps(
            {"kernel": 5, "fields": 2, "unit": "CPU seconds, one thread", "builds": builds}, indent=1))
        return
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
