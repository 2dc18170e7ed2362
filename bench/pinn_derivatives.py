"""Autograd or torch.func for a PINN's derivatives? Times one training step's worth of work.

For the Poisson loss (Laplacian in 2D) and the Burgers residual (u_t, u_x, u_xx), both on a tanh MLP
(4 hidden layers of 32) in float64, it times computing the residual at N points and backpropagating
its mean square to the weights, with `course_lib.pinn.derivatives(..., method=...)`:

    autograd   reverse mode on the whole batch: one extra backward pass per derivative
    func       torch.func: vmap over points of jacrev (gradient) and jacfwd(jacrev) (Hessian)

Run:  .venv/bin/python bench/pinn_derivatives.py [threads]   (default 1 thread, as the chapter uses)
It prints the CPU milliseconds per step (mean ± std over the repeats) and which is faster, only
when the gap exceeds both spreads (`course_lib.spread.compare`); otherwise "within noise".
"""

from __future__ import annotations

import sys
import time

import torch

from course_lib import burgers, pinn
from course_lib.spread import Spread, compare, spread


def time_step(residual, net: torch.nn.Module, x: torch.Tensor, repeats: int = 5) -> Spread:
    """CPU milliseconds of: residual at x, mean square, backward to the weights (after a warm-up).

    CPU time (time.process_time), not wall time, so that other programs running at the same time
    do not count; with one thread the two agree on an idle machine.
    """
    times = []
    for _ in range(repeats + 1):
        start = time.process_time()
        loss = residual(net, x).pow(2).mean()
        net.zero_grad()
        loss.backward()
        times.append(1000 * (time.process_time() - start))
    return spread(times[1:])


def main() -> None:
    torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    problems = {
        "Poisson (Laplacian)": (lambda net, x, m: pinn.derivatives(net, x, (0, 1), method=m).second.sum(1),
                                pinn.UNIT_SQUARE),
        "Burgers (u_t + u u_x - nu u_xx)": (lambda net, x, m: burgers.residual(net, x, method=m), burgers.DOMAIN),
    }
    for name, (residual, (low, high)) in problems.items():
        net = pinn.MLP(2, 32, 4, low=low, high=high).double()
        for n in (1000, 4000):
            x = pinn.box_interior(n, low, high, dtype=torch.float64)
            ms = {m: time_step(lambda net, x: residual(net, x, m), net, x) for m in ("autograd", "func")}
            verdict = compare(ms["autograd"], ms["func"], higher_is_better=False, names=("autograd", "func"))
            print(f"{name:34s} N={n:5d}  autograd {ms['autograd'].format('.1f')} ms   "
                  f"func {ms['func'].format('.1f')} ms   -> {verdict.replace('better', 'faster')}")


if __name__ == "__main__":
    main()
