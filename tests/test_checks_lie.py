"""The self-check of the Lie chapter's discrete-generator exercise (lie.discrete_constraint): right
answers in float32, float64 and numpy pass; the likely wrong ones fail."""

import numpy as np
import pytest
import torch

from course_lib import checks


def _eye(a, b):
    return torch.eye(len(a) * len(b), dtype=a.dtype)


def _right(r_in, r_out):
    return torch.kron(r_out, torch.linalg.inv(r_in).T.contiguous()) - _eye(r_in, r_out)


def _right_solve(r_in, r_out):  # the inverse through a solve, the block built entry by entry
    inv_t = torch.linalg.solve(r_in, torch.eye(len(r_in), dtype=r_in.dtype)).T
    return torch.einsum("ij,kl->ikjl", r_out, inv_t).reshape(len(r_out) * len(r_in), -1) - _eye(r_in, r_out)


def _right_numpy(r_in, r_out):  # numbers are all the check needs: no gradient is asked for
    return np.kron(r_out.numpy(), np.linalg.inv(r_in.numpy()).T) - np.eye(len(r_in) * len(r_out))


@pytest.mark.parametrize("right", [_right, _right_solve, _right_numpy])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
def test_right_answers_pass_in_float32_and_float64(right, dtype):
    verdict = checks.verify("lie.discrete_constraint", lambda r_in, r_out: right(r_in.to(dtype), r_out.to(dtype)))
    assert verdict.passed, verdict.message


WRONG = {
    # the discrete part skipped: h treated as a Lie-algebra generator (dρ_out ⊗ I − I ⊗ dρ_inᵀ)
    "lie_block": lambda a, b: (torch.kron(b, torch.eye(len(a), dtype=a.dtype))
                               - torch.kron(torch.eye(len(b), dtype=a.dtype), a.T.contiguous())),
    # ρ(h) instead of ρ(h) − I: the − W forgotten
    "no_minus_identity": lambda a, b: torch.kron(b, torch.linalg.inv(a).T.contiguous()),
    # the Kronecker factors in the wrong order
    "wrong_order": lambda a, b: torch.kron(torch.linalg.inv(a).T.contiguous(), b) - _eye(a, b),
    # a transpose for the inverse (right for orthogonal h only)
    "transpose_for_inverse": lambda a, b: torch.kron(b, a) - _eye(a, b),
    # the inverse not transposed
    "inverse_not_transposed": lambda a, b: torch.kron(b, torch.linalg.inv(a).contiguous()) - _eye(a, b),
    # no inverse at all
    "no_inverse": lambda a, b: torch.kron(b, a.T.contiguous()) - _eye(a, b),
    # the sign flipped: the same null space, not the C the exercise asks for
    "sign_flipped": lambda a, b: _eye(a, b) - torch.kron(b, torch.linalg.inv(a).T.contiguous()),
    # D_in = D_out assumed
    "square_maps_only": lambda a, b: torch.kron(b, torch.linalg.inv(a).T.contiguous()) - torch.eye(len(b) ** 2,
                                                                                                  dtype=a.dtype),
}


@pytest.mark.parametrize("name", sorted(WRONG))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
def test_likely_wrong_answers_fail(name, dtype):
    wrong = WRONG[name]
    verdict = checks.verify("lie.discrete_constraint", lambda r_in, r_out: wrong(r_in.to(dtype), r_out.to(dtype)))
    assert verdict.status == "fail", name


def test_the_library_answer_is_refused():
    from course_lib import emlp
    verdict = checks.verify("lie.discrete_constraint",
                            lambda r_in, r_out: torch.from_numpy(emlp.discrete_block(r_in.numpy(), r_out.numpy())))
    assert verdict.status == "fail"


def test_the_cases_include_a_group_element_whose_inverse_is_not_its_transpose():
    cases = checks.exercise("lie.discrete_constraint").cases()
    assert any(not torch.allclose(torch.linalg.inv(c.args[0]), c.args[0].T) for c in cases)
    assert any(c.args[0].shape != c.args[1].shape for c in cases)
