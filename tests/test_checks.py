"""The self-check machinery: verdicts, hints, plain answers and their JSON form."""

import json

import numpy as np
import pytest
import torch

from course_lib import checks


def dihedral_right(a, b, n):  # written out: calling the library's DihedralGroup.compose would fail
    (k1, f1), (k2, f2) = a, b
    return ((k1 + (-k2 if f1 else k2)) % n, f1 ^ f2)


def dihedral_commuting(a, b, n):  # forgets s r = r^-1 s
    return ((a[0] + b[0]) % n, a[1] ^ b[1])


def stub(*args):
    raise NotImplementedError("Exercise: replace this line with your code.")


class AlwaysEqual:
    def __eq__(self, other):
        return True

    __hash__ = object.__hash__


def test_correct_function_passes(capsys):
    checks.check("groups.dihedral_compose", dihedral_right)
    out = capsys.readouterr().out
    assert out.startswith("[PASS] groups.dihedral_compose")


def test_wrong_function_fails_naming_the_case_and_the_hint():
    verdict = checks.verify("groups.dihedral_compose", dihedral_commuting)
    assert verdict.status == "fail"
    assert "on a = (0, 1), b = (1, 0) in D_3" in verdict.message
    assert "expected [2 1], got [1 1]" in verdict.message
    assert "Hint:" in verdict.message


def test_untouched_stub_is_not_attempted_not_a_traceback(capsys):
    checks.check("groups.rotation_about", stub)
    out = capsys.readouterr().out
    assert out.startswith("[NOT DONE YET] groups.rotation_about")
    assert "Traceback" not in out


@pytest.mark.parametrize("bad, fragment", [
    (lambda axis, angle: AlwaysEqual(), "returned a AlwaysEqual, not numbers"),
    (lambda axis, angle: "a rotation", "returned a str, not numbers"),
    (lambda axis, angle: torch.eye(2), "expected shape (3, 3), got shape (2, 2)"),
    (lambda axis, angle: 1 / 0, "raised ZeroDivisionError"),
    (lambda axis, angle: torch.full((3, 3), float("nan")), "expected"),
])
def test_wrong_answers_fail_with_a_reason(bad, fragment):
    verdict = checks.verify("groups.rotation_about", bad)
    assert verdict.status == "fail"
    assert fragment in verdict.message


def test_unknown_exercise_names_what_exists():
    with pytest.raises(ValueError, match="no chapter 'nope'"):
        checks.exercise("nope.thing")
    with pytest.raises(ValueError, match="has no exercise 'thing'; it has"):
        checks.exercise("groups.thing")


def test_answers_survive_json_without_pickle():
    values = [np.arange(6).reshape(2, 3), np.array(2.5), np.array([1 + 2j, 3j]), np.array([True, False]),
              [np.zeros(2), np.ones(3)]]
    answers = [checks.Answer(value=v) for v in values] + [checks.Answer(error="ValueError", message="bad")]
    back = checks.answers_from_json(checks.answers_to_json(answers))
    for a, b in zip(answers, back):
        assert a.error == b.error
        if a.error is None:
            assert checks.mismatch(a.value, b.value, 0, 0) is None


def test_recorded_answers_judge_like_the_live_check(tmp_path, monkeypatch):
    monkeypatch.setenv(checks.RECORD_DIR_ENV, str(tmp_path))
    live = checks.verify("groups.dihedral_compose", dihedral_commuting)
    recorded = checks.answers_from_json((tmp_path / "groups.dihedral_compose.json").read_text())
    replay = checks.judge(checks.exercise("groups.dihedral_compose"), recorded)
    assert (replay.status, replay.message) == (live.status, live.message)


def test_malformed_records_are_rejected():
    with pytest.raises(ValueError):
        checks.answers_from_json(json.dumps({"not": "a list"}))
    with pytest.raises(ValueError):
        checks.answers_from_json(json.dumps([{"value": 3, "error": None}]))


def test_tolerance_is_respected():
    expected = np.array([1.0, 2.0])
    assert checks.mismatch(expected, expected + 1e-9, rtol=0, atol=1e-8) is None
    assert checks.mismatch(expected, expected + 1e-6, rtol=0, atol=1e-8) is not None
    assert checks.mismatch(np.array([1, 2]), np.array([1, 3]), 0, 0) == "expected [1 2], got [1 3]"


def _mlp_count_without_biases(widths):
    return sum(a * b for a, b in zip(widths[:-1], widths[1:]))


def _cnn_count_forgetting_the_head(in_channels, channels, kernel_size, n_classes):
    widths = [in_channels, *channels]
    return sum(a * b * kernel_size**2 + b for a, b in zip(widths[:-1], widths[1:]))


def _one_shift_for_the_batch(x, generator, max_shift):
    dy, dx = torch.randint(-max_shift, max_shift + 1, (2,), generator=generator).tolist()
    return torch.roll(x, (dy, dx), dims=(-2, -1))


def _shifts_missing_the_top_end(x, generator, max_shift):
    s = torch.randint(-max_shift, max(max_shift, -max_shift + 1), (len(x), 2), generator=generator)
    return torch.stack([torch.roll(i, tuple(t.tolist()), dims=(-2, -1)) for i, t in zip(x, s)])


def _shift_errors_along_the_width_only(layer, x):
    from course_lib.equivariance import equivariance_error, shift_action

    return equivariance_error(layer, shift_action, shift_action, x, [(0, s) for s in range(x.shape[-1])])


@pytest.mark.parametrize("name, near_miss", [
    ("why_symmetry.mlp_parameters", _mlp_count_without_biases),
    ("why_symmetry.cnn_parameters", _cnn_count_forgetting_the_head),
    ("why_symmetry.place_digit", lambda digit, size, row, col: torch.nn.functional.pad(
        digit, (col, size - col - digit.shape[1], row, size - row - digit.shape[0])).T),
    ("why_symmetry.random_shifts", _one_shift_for_the_batch),
    ("why_symmetry.random_shifts", _shifts_missing_the_top_end),
    ("invariance.circular_shift", lambda x, shift: torch.roll(x, tuple(-s for s in shift), dims=(-2, -1))),
    ("invariance.layer_shift_error", _shift_errors_along_the_width_only),
    ("invariance.invariant_head", lambda f, w, b: f.sum(dim=(-2, -1)) @ w.T + b),
    ("invariance.set_pool", lambda x: torch.cat([x.amax(dim=1), x.mean(dim=1)], dim=-1)),
])
def test_why_symmetry_and_invariance_checks_reject_near_misses(name, near_miss):
    assert checks.verify(name, near_miss).status == "fail"
