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

from course_lib.groups import PeriodicTranslations, translate_grid

Action = Callable[[Any, Tensor], Tensor]  # (group element, data) -> transformed data


def equivariance_errors(
    f: Callable[[Tensor], Tensor],
    act_in: Action,
    act_out: Action,
    x: Tensor,
    elements: Iterable[Any],
) -> list[float]:
    """For each g in `elements`: |f(act_in(g, x)) − act_out(g, f(x))| / |f(x)|  (norms over the whole batch).

    One number per element, e.g. to plot the error against the shift. Relative, so that float32
    round-off gives about 1e-7 whatever the scale of f(x). ValueError when the two sides differ in shape.
    """
    errors = []
    with torch.no_grad():
        fx = f(x)
        scale = fx.norm().clamp_min(torch.finfo(fx.dtype).tiny)
        for g in elements:
            transformed_first, transformed_after = f(act_in(g, x)), act_out(g, fx)
            if transformed_first.shape != transformed_after.shape:
                raise ValueError(f"f(act_in(g, x)) has shape {tuple(transformed_first.shape)} but act_out(g, f(x)) "
                                 f"has shape {tuple(transformed_after.shape)} (g = {g!r}): check the output action")
            errors.append(float((transformed_first - transformed_after).norm() / scale))
    if not errors:
        raise ValueError("equivariance_error needs at least one group element, got none")
    return errors


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
    return max(equivariance_errors(f, act_in, act_out, x, elements))


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


def shift_action(shift: tuple[int, ...], x: Tensor) -> Tensor:
    """Circular shift as an `Action` (element first, as equivariance_error calls it): x (..., n1, n2, ...)
    rolled by shift = (s1, s2, ...) over its last len(shift) dimensions (groups.translate_grid)."""
    return translate_grid(x, shift)


def all_shifts(x: Tensor, dims: int = 2) -> list[tuple[int, ...]]:
    """Every circular shift of the last `dims` dimensions of x: the elements of Z_n1 × ... (n_i = x's sizes)."""
    if x.dim() < dims:
        raise ValueError(f"need a tensor with at least {dims} dimensions, got shape {tuple(x.shape)}")
    return PeriodicTranslations(x.shape[-dims:]).elements()
