"""course_lib.distributed: a real two-process gloo run under torchrun ends with the same weights
as single-process `train.fit`, and `fit` without the hook is unchanged."""

import socket

import pytest
import torch

from course_lib import distributed
from course_lib.data import digits
from course_lib.train import fit


def test_batch_slices_tile_the_batch():
    parts = [distributed.batch_slice(64, r, 4) for r in range(4)]
    covered = torch.cat([torch.arange(64)[p] for p in parts])
    assert torch.equal(covered, torch.arange(64))
    with pytest.raises(ValueError, match="multiple of world_size"):
        distributed.batch_slice(63, 0, 2)
    with pytest.raises(ValueError, match="rank"):
        distributed.batch_slice(64, 2, 2)


def test_fit_on_the_two_halves_of_every_batch_averages_to_the_whole():
    """The arithmetic DDP relies on: the mean of the halves' gradients is the batch's gradient."""
    x, y = digits()
    model = distributed.digits_model(0)
    idx = torch.randint(len(x), (64,), generator=torch.Generator().manual_seed(0))
    grads = []
    for part in [slice(None), distributed.batch_slice(64, 0, 2), distributed.batch_slice(64, 1, 2)]:
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(x[idx][part]), y[idx][part]).backward()
        grads.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]))
    assert torch.allclose(grads[0], (grads[1] + grads[2]) / 2, atol=1e-7)
    assert not torch.allclose(grads[0], grads[1], atol=1e-4)


def test_fit_with_the_whole_batch_as_its_slice_is_plain_fit():
    x, y = digits()
    a, b = distributed.digits_model(1), distributed.digits_model(1)
    cpu = torch.device("cpu")
    fit(a, x, y, steps=20, seed=1, device=cpu)
    fit(b, x, y, steps=20, seed=1, device=cpu, batch_slice=slice(None))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_fit_data_parallel_needs_a_process_group():
    with pytest.raises(ValueError, match="process group"):
        distributed.fit_data_parallel(distributed.digits_model(), *digits())


@pytest.fixture
def one_process_group():
    """A gloo process group of one process, as torchrun would set up for rank 0 of 1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    torch.distributed.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0,
                                         world_size=1)
    yield
    torch.distributed.destroy_process_group()


def test_a_batch_larger_than_the_data_is_refused_not_sliced_empty(one_process_group):
    """fit draws at most len(x) examples, so a bigger batch would leave the last ranks' slices
    short or empty; it is refused with the numbers."""
    x, y = digits()
    with pytest.raises(ValueError, match=f"at most the {len(x)} examples.*got 4096"):
        distributed.fit_data_parallel(distributed.digits_model(), x, y, batch_size=4096, steps=1)
    history = distributed.fit_data_parallel(distributed.digits_model(), x, y, batch_size=64, steps=2)
    assert len(history.loss) == 2


def test_the_backend_is_gloo_without_gpus_and_nccl_with_them():
    assert distributed.default_backend() == ("nccl" if torch.cuda.is_available() else "gloo")


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    """One torchrun launch of 2 processes: 100 steps at batch 64, then the checks (20 steps at batch
    128, hidden 64). Each launch starts three Python processes that import torch, so the tests share
    one, as the chapter does."""
    out = tmp_path_factory.mktemp("ddp") / "run.pt"
    return distributed.launch(2, out, steps=100, batch_size=64, seed=0, check=(20, 128, 64),
                              timeout=600)


def test_two_gloo_processes_under_torchrun_match_one_process(two_processes):
    steps = 100
    result = two_processes
    assert result["world_size"] == 2 and result["backend"] == distributed.default_backend()
    torch.set_num_threads(1)
    x, y = digits()
    single = distributed.digits_model(0)
    fit(single, x, y, steps=steps, batch_size=64, seed=0, device=torch.device("cpu"))
    init = distributed.digits_model(0).state_dict()
    for name, value in single.state_dict().items():
        assert torch.allclose(result["state_dict"][name], value, atol=1e-5), name
        assert not torch.allclose(init[name], value, atol=1e-3)  # it trained


def test_run_difference_measures_weights_loss_and_classes():
    state = distributed.digits_model(3).state_dict()
    same = distributed.run_difference(state, state)
    assert same == {"weights": 0.0, "loss": 0.0, "same_class": 1.0}
    moved = {k: v + (0.5 if k.endswith("bias") else 0.0) for k, v in state.items()}
    apart = distributed.run_difference(state, moved)
    assert apart["weights"] == pytest.approx(0.5) and apart["loss"] > 1e-3
    other = distributed.digits_model(4).state_dict()
    assert distributed.run_difference(state, other)["same_class"] < 0.5  # two untrained nets
    with pytest.raises(ValueError, match="different weights"):
        distributed.run_difference(state, {"weight": torch.zeros(1)})


def test_in_float64_the_two_halves_train_the_same_weights_as_the_whole_batch():
    """What separates one process from two is float round-off alone: in float64, Adam on the mean
    of the halves' gradients ends where Adam on the whole batch does, to 1e-12."""
    x, y = digits()
    x = x.double()
    whole, halves = distributed.digits_model(0).double(), distributed.digits_model(0).double()
    opts = [torch.optim.Adam(m.parameters(), lr=3e-3) for m in (whole, halves)]
    gen = torch.Generator().manual_seed(0)
    for _ in range(30):
        idx = torch.randint(len(x), (128,), generator=gen)
        for opt in opts:
            opt.zero_grad()
        torch.nn.functional.cross_entropy(whole(x[idx]), y[idx]).backward()
        for r in range(2):
            part = idx[distributed.batch_slice(128, r, 2)]
            (torch.nn.functional.cross_entropy(halves(x[part]), y[part]) / 2).backward()
        for opt in opts:
            opt.step()
    gap = max(float((p - q).abs().max()) for p, q in zip(whole.state_dict().values(), halves.state_dict().values()))
    assert gap < 1e-12


def test_first_step_gradients_match_across_world_sizes_and_a_summing_hook_is_caught(two_processes):
    """The check that can fail: the gradient DDP applies at the first step equals one process's, and
    a communication hook that sums the two processes' gradients instead of averaging them is off by
    a factor 2 (gradient_difference 1.0). A real two-process float64 run ends at one process's
    weights to 1e-12. The weights and loss after Adam barely see the summing bug, which is why the
    gradients are compared."""
    result = two_processes["checks"]
    torch.set_num_threads(1)
    x, y = digits()
    single = distributed.checks(x, y, steps=20, batch_size=128, seed=0, hidden=64)
    assert distributed.gradient_difference(result["gradients"]["mean"], single["gradients"]["mean"]) < 1e-5
    assert distributed.gradient_difference(result["gradients"]["sum"], single["gradients"]["mean"]) == \
        pytest.approx(1.0, abs=1e-5)
    assert distributed.gradient_difference(single["gradients"]["sum"], single["gradients"]["mean"]) == 0.0
    init = distributed.digits_model(0).double().state_dict()
    for name, value in single["float64"].items():
        assert value.dtype == torch.float64
        assert float((result["float64"][name] - value).abs().max()) < 1e-12, name
        assert not torch.allclose(init[name], value, atol=1e-3)  # it trained


def test_gradient_difference_is_relative_and_checks_names():
    g = {"w": torch.tensor([1.0, -2.0]), "b": torch.tensor([0.5])}
    assert distributed.gradient_difference(g, g) == 0.0
    assert distributed.gradient_difference({k: 2 * v for k, v in g.items()}, g) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="different parameters"):
        distributed.gradient_difference({"w": g["w"]}, g)


def test_launch_refuses_zero_threads_and_malformed_checks(tmp_path):
    with pytest.raises(ValueError, match="threads must be >= 1"):
        distributed.launch(1, tmp_path / "x.pt", threads=0)
    for check in [(20, 128), (20, 0, 64)]:
        with pytest.raises(ValueError, match=r"check must be \(steps, batch_size, hidden\)"):
            distributed.launch(1, tmp_path / "x.pt", check=check)
