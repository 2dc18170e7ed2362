"""The stored result of bench/frontier_augerino.py, which the frontier chapter reads instead of
training Augerino itself: complete, and the same runs as bench/augerino_range.py's at R = 45°."""

import pytest

from course_lib import stored


@pytest.fixture(scope="module")
def result():
    return stored.result("frontier_augerino")


def test_three_seeds_of_both_arms_with_their_curves(result):
    assert result["digits"] == [6, 9] and result["degrees"] == 45 and len(result["seeds"]) >= 3
    for seed in result["seeds"]:
        run = result["runs"][str(seed)]
        assert len(run["curve"]) == result["steps"] // result["curve_every"]
        assert all(0 <= w <= 180 for w in run["curve"])
        assert sorted(run["accuracy"]) == ["full circle", "learned"]
        assert all(0 <= p <= 1 for acc in run["accuracy"].values() for p in acc)


def test_seed_0_is_the_range_sweeps_run_at_45_degrees(result):
    """Same code, seed and steps as bench/augerino_range.py's R = 45° run: the same level, to the
    print precision of a float on one machine."""
    sweep = stored.result("augerino_range")["runs"]["69 R45 start11.5 seed0"]
    assert result["steps"] == sweep["steps"]
    assert result["runs"]["0"]["level"] == pytest.approx(sweep["level"], abs=0.05)
    assert result["runs"]["0"]["curve"][::20] == pytest.approx(sweep["curve"][::20], abs=0.05)
