"""The stored result of bench/ddp.py, whose timings the frontier chapter quotes: all three arms
(1 process with 1 thread, 1 process with 2 threads, 2 processes), each repeated, with the whole
launch timed as well as the training loop."""

from course_lib import stored


def test_each_arm_is_timed_repeatedly_with_and_without_start_up():
    result = stored.result("frontier_ddp")
    arms = result["arms"]
    assert {(a["processes"], a["threads_per_process"]) for a in arms.values()} == {(1, 1), (1, 2), (2, 1)}
    for arm, runs in result["runs"].items():
        assert len(runs) == result["config"]["repeats"] >= 3
        assert all(0 < r["seconds"] < r["wall"] for r in runs), arm  # the launch includes the loop
    one, two = (result["mean"][a]["seconds"] for a in ("1 process, 1 thread", "2 processes, 1 thread each"))
    assert result["speedup_two_processes"] == one / two


def test_one_and_two_processes_compute_the_same_function():
    difference = stored.result("frontier_ddp")["difference_1_vs_2"]
    assert difference["same_class"] == 1.0 and difference["loss"] < 1e-4
