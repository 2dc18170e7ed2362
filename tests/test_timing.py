"""Tests of course_lib.timing: alternating medians and the p4-against-escnn layer table."""

from __future__ import annotations

import time

import pytest
import torch

from course_lib import timing


def test_alternating_medians_time_each_layer_and_skip_the_warmup():
    calls = []

    def slow(x):
        calls.append("slow")
        time.sleep(0.004)
        return x * 2

    def fast(x):
        calls.append("fast")
        return x * 2

    x = torch.ones(3, requires_grad=True)
    slow_s, fast_s = timing.alternating_medians([(slow, x), (fast, x)], repeats=5, warmup=2)
    assert calls[:4] == ["slow", "fast", "slow", "fast"] and len(calls) == 14  # alternating, warm-up included
    assert slow_s >= 0.004 > fast_s
    with pytest.raises(ValueError, match="repeats"):
        timing.alternating_medians([(fast, x)], repeats=0)


def test_seconds_to_build_returns_what_was_built():
    made, seconds = timing.seconds_to_build(lambda: (time.sleep(0.01), "built")[1])
    assert made == "built" and seconds >= 0.01


def test_p4_layer_table_has_the_group_cnn_layers_and_positive_times():
    rows = timing.p4_layers_against_escnn((2, 3, 3), size=8, batch=2, repeats=2)
    assert [r.name.split()[0] for r in rows] == ["lift", "group", "group"]
    assert [r.ours_parameters for r in rows] == [2 * 25 + 2, 3 * 2 * 4 * 25 + 3, 3 * 3 * 4 * 9 + 3]
    assert all(r.ours_ms > 0 and r.escnn_ms > 0 and r.ratio == r.escnn_ms / r.ours_ms for r in rows)
    with pytest.raises(ValueError, match="multiple of 4"):
        timing.p4_layers_against_escnn(size=10)
