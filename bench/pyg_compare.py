"""The from-scratch message-passing layer (course_lib.sets) beside torch_geometric's GraphConv with
the same weights: largest output gap (float32 and float64) and forward+backward time on batches of random graphs.

    .venv/bin/python bench/pyg_compare.py [--graphs 16 64 256] [--rounds 3] [--repeats 30] [--threads 1]

`MessagePassingLayer(None, Linear(2d, d))` computes h_i' = W_1 h_i + W_2 Σ_{j→i} h_j + b, which is
GraphConv(d, d, aggr="add") once `sets.copy_to_graphconv` gives it the same weights. Each batch is
`graphs` random graphs of 20 nodes and 80 edges, stored as one disjoint graph as PyG batches them.
Times are medians of `repeats` alternating forward+backward passes (`timing.alternating_medians`),
measured in `rounds` independent rounds; the verdict is `spread.compare` over the rounds, so that
it says "within noise" unless the gap exceeds both spreads. Chapter "Permutation-equivariant networks".
"""

from __future__ import annotations

import argparse
import copy

import torch
from torch import nn

from course_lib.sets import MessagePassingLayer, copy_to_graphconv, random_graph
from course_lib.spread import compare, spread
from course_lib.timing import alternating_medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--graphs", type=int, nargs="+", default=(16, 64, 256))
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    import torch_geometric
    from torch_geometric.nn import GraphConv

    if args.threads:
        torch.set_num_threads(args.threads)
    d = args.features
    print(f"torch_geometric {torch_geometric.__version__}, torch threads {torch.get_num_threads()}, "
          f"{d} features, median of {args.repeats} alternating passes, {args.rounds} rounds (mean ± std)")
    print(f"{'graphs':>6s} {'nodes':>6s} {'edges':>6s} {'gap f32':>8s} {'gap f64':>8s} {'ours ms':>13s} "
          f"{'GraphConv ms':>13s}  verdict")
    for graphs in args.graphs:
        gen = torch.Generator().manual_seed(graphs)
        edges = torch.cat([random_graph(20, 80, gen) + 20 * k for k in range(graphs)], 1)
        x = torch.randn(20 * graphs, d, generator=gen)
        torch.manual_seed(0)
        update = nn.Linear(2 * d, d)
        ours = MessagePassingLayer(None, update)
        theirs = copy_to_graphconv(update, GraphConv(d, d, aggr="add"))
        with torch.no_grad():
            gap = float((ours(x, edges) - theirs(x, edges)).abs().max())
            ours64, theirs64 = copy.deepcopy(ours).double(), copy.deepcopy(theirs).double()
            gap64 = float((ours64(x.double(), edges) - theirs64(x.double(), edges)).abs().max())
        rounds = [alternating_medians([(lambda t: ours(t, edges), x), (lambda t: theirs(t, edges), x)],
                                      repeats=args.repeats) for _ in range(args.rounds)]
        mine, pyg = spread([1e3 * r[0] for r in rounds]), spread([1e3 * r[1] for r in rounds])
        verdict = compare(mine, pyg, higher_is_better=False, names=("ours", "GraphConv"))
        print(f"{graphs:6d} {20 * graphs:6d} {edges.shape[1]:6d} {gap:8.1e} {gap64:8.1e} {mine.format('.3f'):>13s} "
              f"{pyg.format('.3f'):>13s}  {verdict}")


if __name__ == "__main__":
    main()
