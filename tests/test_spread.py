import math

import pytest

from course_lib.spread import compare, spread


def test_mean_and_sample_std():
    s = spread([1.0, 2.0, 3.0])
    assert s.mean == 2.0 and math.isclose(s.std, 1.0)
    assert str(s) == "2.000 ± 1.000 (3 seeds)"


def test_verdict_only_beyond_both_spreads():
    a, b = spread([0.90, 0.91, 0.92]), spread([0.80, 0.81, 0.82])
    assert compare(a, b, names=("G-CNN", "CNN")) == "G-CNN is better than CNN"
    assert compare(b, a, names=("CNN", "G-CNN")) == "G-CNN is better than CNN"
    close = spread([0.805, 0.83, 0.815])
    assert "within noise" in compare(close, b)


def test_lower_is_better_for_errors():
    low, high = spread([0.1, 0.11]), spread([0.5, 0.52])
    assert compare(low, high, higher_is_better=False, names=("ours", "theirs")) == "ours is better than theirs"


@pytest.mark.parametrize("values", [[1.0], [], [1.0, float("nan")]])
def test_bad_input_is_named(values):
    with pytest.raises(ValueError, match="spread needs"):
        spread(values)
