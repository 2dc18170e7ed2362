import pytest
import torch

from course_lib import device, seed_everything


def test_seeding_makes_runs_repeatable():
    seed_everything(3)
    a = torch.randn(5)
    gen = seed_everything(3)
    assert torch.equal(a, torch.randn(5))
    assert torch.equal(torch.randn(2, generator=gen), torch.randn(2, generator=torch.Generator().manual_seed(3)))


@pytest.mark.parametrize("bad", [-1, 1.5, "0", True])
def test_bad_seed_is_rejected(bad):
    with pytest.raises(ValueError, match="seed must be an int >= 0, got"):
        seed_everything(bad)


def test_device_is_cuda_only_when_present():
    assert device().type == ("cuda" if torch.cuda.is_available() else "cpu")
