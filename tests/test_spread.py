import math

import pytest

from course_lib.spread import MARGINAL, compare, spread


def test_mean_and_sample_std():
    s = spread([1.0, 2.0, 3.0])
    assert s.mean == 2.0 and math.isclose(s.std, 1.0)
    assert str(s) == "2.000 ± 1.000 (3 seeds)"


def test_verdict_only_beyond_the_sum_of_the_spreads():
    a, b = spread([0.90, 0.91, 0.92]), spread([0.80, 0.81, 0.82])
    v = compare(a, b, names=("G-CNN", "CNN"))
    assert v.startswith("G-CNN is better than CNN (gap 5.00x the noise threshold")
    assert v.winner == "G-CNN" and v.loser == "CNN" and v.decided and not v.marginal
    assert math.isclose(v.threshold, 0.02) and math.isclose(v.margin, 5.0)
    assert compare(b, a, names=("CNN", "G-CNN")).winner == "G-CNN"
    close = spread([0.805, 0.83, 0.815])
    w = compare(close, b)
    assert "within noise" in w and w.winner is None and not w.decided
    # a gap between one spread and the sum of both: not a verdict (the rule is the sum, not 'both')
    d = spread([0.80, 0.815, 0.83])    # std 0.015
    e = spread([0.815, 0.835, 0.855])  # std 0.02; gap 0.02 exceeds each std but not their sum 0.035
    assert compare(e, d).winner is None


def test_marginal_verdicts_are_named_as_such():
    a, b = spread([1.15, 1.25, 1.35]), spread([1.0, 1.1, 1.2])  # gap 0.15, threshold 0.2: within
    assert compare(a, b).winner is None
    a = spread([1.25, 1.35, 1.45])  # gap 0.25, margin 1.25
    v = compare(a, b, names=("x", "y"))
    assert v.marginal and not v.decided and v.winner == "x"
    assert "x is marginally better than y" in v and f"marginal below {MARGINAL}x" in v
    a = spread([1.4, 1.5, 1.6])  # margin 2
    assert compare(a, b).decided


def test_paired_comparison_removes_shared_noise():
    # seed-to-seed noise shared by both models (the same data): unpaired it hides a steady gap
    a, b = spread([1.0, 2.0, 3.0]), spread([0.9, 1.9, 2.9])
    assert compare(a, b).winner is None
    v = compare(a, b, names=("a", "b"), paired=True)
    assert v.winner == "a" and v.paired and "paired noise threshold" in v
    # independent pairs: the paired threshold is no smaller than a pair's own noise
    a, b = spread([1.0, 1.2, 1.1]), spread([1.2, 1.0, 1.1])
    assert compare(a, b, paired=True).winner is None
    with pytest.raises(ValueError, match="one value per seed"):
        compare(spread([1, 2, 3]), spread([1, 2]), paired=True)


def test_lower_is_better_for_errors():
    low, high = spread([0.1, 0.11]), spread([0.5, 0.52])
    v = compare(low, high, higher_is_better=False, names=("ours", "theirs"))
    assert v.startswith("ours is better than theirs") and v.gap > 0


def test_no_noise_at_all():
    v = compare(spread([1.0, 1.0]), spread([0.0, 0.0]))
    assert v.winner == "A" and v.margin == math.inf and "no noise" in v
    assert compare(spread([1.0, 1.0]), spread([1.0, 1.0])).winner is None


@pytest.mark.parametrize("values", [[1.0], [], [1.0, float("nan")]])
def test_bad_input_is_named(values):
    with pytest.raises(ValueError, match="spread needs"):
        spread(values)


def test_the_printed_margin_never_reads_as_the_other_side_of_a_cutoff():
    # with two significant digits 1.46 (marginal) and 1.549 (decided) both printed "1.5x", and 0.996
    # (within noise) and 1.04 (marginal) both "1x": two decimals keep each on its own side
    threshold = 2 * spread([-0.5, 0.5]).std  # the sum of two equal spreads
    for margin, kind, shown in ((1.46, "marginally better", "1.46x"), (1.549, "A is better", "1.55x"),
                                (0.996, "within noise", "1.00x"), (1.04, "marginally better", "1.04x"),
                                (1.4996, "marginally better", "1.49x"), (1.5, "A is better", "1.50x"),
                                (1.004, "marginally better", "1.01x"), (1.0, "within noise", "1.00x")):
        gap = margin * threshold
        v = compare(spread([gap - 0.5, gap + 0.5]), spread([-0.5, 0.5]))
        assert kind in v and shown in v, v
