"""Exercises of the chapter "Group-equivariant CNNs" (solutions/gcnn.ipynb)."""

from __future__ import annotations

import torch
from torch import nn

from course_lib import gcnn, groups
from course_lib.checks import Case, Exercise, input_gradient
from course_lib.equivariance import invariance_error
from course_lib.steerable import field_types, rotation_gspace


def _random(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _lifting_cases() -> list[Case]:
    return [Case(f"a filter bank of shape {shape}", (_random(*shape, seed=i),))
            for i, shape in enumerate([(1, 1, 3, 3), (2, 3, 5, 5), (4, 1, 4, 4), (3, 2, 1, 1), (5, 3, 7, 7)])]


def _action_cases() -> list[Case]:
    maps = [(0, (1, 1, 4, 3, 3)), (1, (2, 3, 4, 5, 5)), (2, (1, 2, 4, 4, 4)), (3, (2, 1, 4, 6, 6)),
            (1, (3, 4, 5, 5)), (3, (4, 7, 7)), (2, (2, 2, 1, 4, 3, 3))]  # any rank: (..., 4, H, W)
    not_maps = [(1, (2, 3, 5, 5)), (2, (4, 4))]
    return ([Case(f"k = {k}, group maps of shape {shape}", (k, _random(*shape, seed=10 + k))) for k, shape in maps]
            + [Case(f"k = {k}, a tensor of shape {shape}, which is not group maps (raise ValueError)",
                    (k, _random(*shape, seed=20 + k))) for k, shape in not_maps])


def _value_error_or_answer(fn, case: Case):
    """fn's answer, or -1 when it raises ValueError (the right reply to a tensor that is not group maps)."""
    try:
        return fn(*case.args)
    except ValueError:
        return torch.tensor(-1.0)


def _model(make: type, *args, seed: int, **kwargs) -> nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return make(*args, **kwargs).eval()


def _invariance_cases() -> list[Case]:
    x = torch.rand(2, 1, 12, 12, generator=torch.Generator().manual_seed(20))
    return [
        Case("a P4 GroupCNN (invariant: the error is round-off)", (_model(gcnn.GroupCNN, (2, 3, 4), seed=0), x)),
        Case("a PlainCNN (not invariant)", (_model(gcnn.PlainCNN, 12, (4, 8), 16, seed=1), x)),
        Case("model = sum of pixels of the top half (not invariant)", (lambda t: t[..., :6, :].sum((-1, -2)), x)),
        Case("model = total brightness (invariant)", (lambda t: t.sum((-1, -2)), x)),
        Case("model = brightness of the top 3 and bottom 3 rows (invariant under the half turn only: the "
             "quarter turns count)", (lambda t: t[..., :3, :].sum((-1, -2)) + t[..., -3:, :].sum((-1, -2)), x)),
    ]


def _call_without_grad(fn, case: Case):
    """fn(*args) with autograd off, so that a float() of a model's output needs no .detach()."""
    with torch.no_grad():
        return fn(*case.args, **case.kwargs)


def _c4_invariance_reference(model, x: torch.Tensor) -> float:
    return invariance_error(model, lambda k, t: groups.rotate_image(t, k), x, range(4))


def _field_type_cases() -> list[Case]:
    return [Case(f"rot2dOnR2(N={n}), channels {c}", (n, c)) for n, c in [(4, [1]), (8, [2, 3]), (16, [3, 1, 2])]]


def _characters(field_type) -> list[list[float]]:
    """Each field's character (the trace of its representation at every element of C_N): it tells
    a regular field (N, 0, ..., 0) from N trivial channels (N, N, ..., N), which sizes do not."""
    elements = list(field_type.gspace.fibergroup.elements)
    return [[round(float(rep.character(g)), 6) + 0.0 for g in elements] for rep in field_type.representations]


def _run_field_types(fn, case: Case) -> list:
    """The learner's field types: [input size, hidden sizes, hidden field counts, output size and field
    count, and every field's character (how it transforms, not only how big it is)]."""
    n, channels = case.args
    in_type, hidden, invariant = fn(rotation_gspace(n), channels)
    return [in_type.size, [t.size for t in hidden], [len(t) for t in hidden], invariant.size, len(invariant),
            [_characters(t) for t in (in_type, *hidden, invariant)]]


EXERCISES = {
    ex.name.split(".", 1)[1]: ex
    for ex in [
        Exercise(
            name="gcnn.lifting_bank",
            reference=lambda w: gcnn.lifting_filter_bank(w, "p4"),
            cases=_lifting_cases,
            hint="copy k of the bank is the filter rotated by k·90° counter-clockwise (k = 0 first), "
                 "and the copies sit on a new axis right after C_out; rotate only the last two axes. "
                 "The bank is built from trainable filters: stay with torch operations, so that gradients "
                 "reach the filter (the check compares them with the reference's).",
            rtol=1e-6, atol=1e-7,  # the copies are exact; their gradients are sums in some order
            run=input_gradient(),
            answer_in_library=(gcnn.lifting_filter_bank,),
        ),
        Exercise(
            name="gcnn.act_on_group_maps",
            reference=lambda k, f: gcnn.act_on_group_maps(k, f, "p4"),
            cases=_action_cases,
            hint="(r^k·F)(h) = r^k·F(h − k): the planes move along the group axis (dim −3) as well as "
                 "rotating; check the direction of the move on one plane. Group maps have 4 planes; "
                 "anything else is a ValueError.",
            rtol=0, atol=0,
            run=_value_error_or_answer,
            answer_in_library=(gcnn.act_on_group_maps,),
        ),
        Exercise(
            name="gcnn.c4_invariance_error",
            reference=_c4_invariance_reference,
            cases=_invariance_cases,
            hint="the error is relative (divide by the size of the unrotated output), measured over the "
                 "whole batch at once, and the worst of the four rotations; return a float.",
            rtol=1e-3, atol=1e-6,
            run=_call_without_grad,
            answer_in_library=(invariance_error,),
        ),
        Exercise(
            name="gcnn.field_types",
            reference=field_types,
            cases=_field_type_cases,
            run=_run_field_types,
            hint="enn.FieldType(gspace, [gspace.trivial_repr]) for the image, c * [gspace.regular_repr] for c "
                 "regular fields, and channels[-1] trivial fields after group pooling.",
            rtol=0, atol=0,
        ),
    ]
}
