"""Invariance and equivariance, measured (chapter "Invariance and equivariance").

f is equivariant when transforming the input and then applying f gives the same as applying f and
then transforming the output:  f(ρ_in(g) x) = ρ_out(g) f(x)  for every g in the group.
Invariance is the special case ρ_out(g) = identity. These functions measure how far a function is
from that, on given inputs and group elements; tests, notebooks and graders all use them.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import torch
from torch import Tensor

Action = Callable[[Any, Tensor], Tensor]  # (group element, data) -> transformed data


def equivariance_error(
    f: Callable[[Tensor], Tensor],
    act_in: Action,
    act_out: Action,
    x: Tensor,
    elements: Iterable[Any],
) -> float:
    """max over g of |f(act_in(g, x)) − act_out(g, f(x))| / |f(x)|  (norms over the whole batch).

    Relative, so that float32 round-off gives about 1e-7 whatever the scale of f(x).
    """
    with torch.no_grad():
        fx = f(x)
        scale = fx.norm().clamp_min(torch.finfo(fx.dtype).tiny)
        errors = [float((f(act_in(g, x)) - act_out(g, fx)).norm() / scale) for g in elements]
    if not errors:
        raise ValueError("equivariance_error needs at least one group element, got none")
    return max(errors)


def invariance_error(f: Callable[[Tensor], Tensor], act_in: Action, x: Tensor, elements: Iterable[Any]) -> float:
    """max over g of |f(act_in(g, x)) − f(x)| / |f(x)|: equivariance with a trivial output action."""
    return equivariance_error(f, act_in, lambda g, y: y, x, elements)


def assert_equivariant(
    f: Callable[[Tensor], Tensor],
    act_in: Action,
    act_out: Action,
    x: Tensor,
    elements: Iterable[Any],
    tol: float = 1e-5,
) -> float:
    """Raise AssertionError naming the error when f is not equivariant within `tol`; return the error."""
    err = equivariance_error(f, act_in, act_out, x, elements)
    if not err <= tol:
        raise AssertionError(f"not equivariant: relative error {err:.3e} > tolerance {tol:.1e}")
    return err
