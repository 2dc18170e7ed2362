"""Every model class the book trains computes where its input is: moved with its input to the meta
device (a second device every machine has), its forward pass, in training and in eval mode, gives
an output there of the shape it gives on the CPU. A tensor made on the CPU inside a forward pass
(`torch.arange(k)` without `device=`) fails here as it would on a GPU ("Tensor on device cpu is not
on the expected device meta!"). The FNO, CNN, DeepONet and EMLP have theirs in test_operators.py
and test_emlp.py."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_lib import augerino, egnn, gauge, gcnn_efficiency, hnn, lieconv, pinn, sets, uncertainty
from course_lib.models import MLP, ConvNet, PixelConvNet

IMAGE = (2, 1, 8, 8)
DIGIT = (2, 1, 16, 16)  # gcnn_efficiency's rotated digits
LINKS = (2, 2, 8, 8, 1, 1)  # U(1) links (B, 2, L, L, N, N), the gauge chapter's lattice
SYSTEMS = ((2, 5, 3), (2, 5, 3), (2, 5))  # x, v, charges of the n-body chapter


def _complex(shape):
    return torch.polar(torch.ones(shape), torch.rand(shape)).to(torch.complex64)


MODELS = {  # name: (make the model, the shapes of its inputs or a function making them)
    # why_symmetry, invariance (the per-pixel MLP flattens images), uncertainty's Laplace network
    "MLP": (lambda: MLP(64, [16], 10), [IMAGE]),
    "ConvNet": (lambda: ConvNet(1, (8, 16), 10, padding_mode="circular", pool="max"), [IMAGE]),
    "PixelConvNet": (lambda: PixelConvNet(1, channels=(8, 8), out_channels=2), [IMAGE]),
    # gcnn: every model and probe of the data-efficiency bench (G-CNNs, plain CNNs, escnn, steerable)
    **{f"gcnn_efficiency: {name}": ((lambda name=name: gcnn_efficiency.make(name)), [DIGIT])
       for name in {**gcnn_efficiency.MODELS, **gcnn_efficiency.PROBES, **gcnn_efficiency.STEERABLE}},
    "Augerino": (lambda: augerino.LearnedRotations(ConvNet(1, (4,), 3, padding_mode="zeros")), [IMAGE]),
    # permutation
    **{f"SetRegressor {combine}": ((lambda combine=combine: sets.SetRegressor(
        combine, hidden=8, size=5 if combine == "concat" else None, rho_hidden=4)), [(2, 5, 64)])
       for combine in sets.SetRegressor.COMBINE},
    "SelfAttention with positions": (lambda: sets.SelfAttention(8, positions=True), [(2, 5, 8)]),
    "DeepSetsLayer": (lambda: sets.DeepSetsLayer(8, 4), [(2, 5, 8)]),
    # gauge
    "L-CNN": (lambda: gauge.LCNN((4, 4), (1, 1)), lambda: [_complex(LINKS)]),
    "gauge plain CNN": (lambda: gauge.PlainCNN(1), lambda: [_complex(LINKS)]),
    "plaquette CNN": (lambda: gauge.PlaquetteCNN(1), lambda: [_complex(LINKS)]),
    # lie
    **{f"LieTransformer {label}": ((lambda options=options: lieconv.LieTransformer(
        4, channels=8, orientations=3, **options)), [(2, 6, 2)])
       for label, options in {"u⁻¹v": dict(relative=True), "twin": dict(relative=False),
                              "centred twin": dict(relative=False, centred=True)}.items()},
    # egnn (bench/egnn_nbody.py)
    "EGNN": (lambda: egnn.EGNN(hidden=8, layers=2), SYSTEMS),
    "GNN": (lambda: egnn.GNN(hidden=8, layers=2), SYSTEMS),
    "GNN centred": (lambda: egnn.GNN(hidden=8, layers=2, centred=True), SYSTEMS),
    # symmetry
    "HNN": (lambda: hnn.HNN(hidden=8), [(5, 2)]),
    "DerivativeNet": (lambda: hnn.DerivativeNet(hidden=8), [(5, 2)]),
    # uncertainty
    "GaussianMLP with dropout": (lambda: uncertainty.GaussianMLP(1, (8,), dropout=0.1), [(5, 1)]),
    "GaussianMLP on the plane": (lambda: uncertainty.GaussianMLP(2, (8,)), [(5, 2)]),
    "StackedMLP of PINN MLPs": (lambda: uncertainty.StackedMLP(
        [pinn.MLP(1, 8, 2, low=(0.0,), high=(1.0,)) for _ in range(2)]), [(6, 1)]),
    # pinn, frontier
    "PINN MLP, hard constraint": (lambda: pinn.HardConstraint(
        pinn.MLP(2, 8, 2, low=(0, 0), high=(1, 1)), pinn.square_distance), [(5, 2)]),
    "D4-invariant PINN MLP": (lambda: pinn.D4Invariant(pinn.MLP(2, 8, 2, low=(0.0, 0.0), high=(2.0, 1.0))),
                              [(5, 2)]),
}


# Models that read a value inside their forward pass (`.item()`, `float(t)`), which the meta device
# cannot give (on CUDA it is a synchronisation, not an error): escnn's InnerBatchNorm and
# GroupPooling slice channels by buffer tensors; Augerino checks that its noise lies in [0, 1].
# Their device handling is verified on the CPU only.
def _reads_values(name: str, model: nn.Module) -> bool:
    return name == "Augerino" or any(type(m).__module__.startswith("escnn") for m in model.modules())


def _outputs(out):
    return out if isinstance(out, tuple) else (out,)


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_the_model_computes_where_its_input_is(name, training):
    make, inputs = MODELS[name]
    torch.manual_seed(0)
    xs = inputs() if callable(inputs) else [torch.randn(shape) for shape in inputs]
    if name.startswith("EGNN") or name.startswith("GNN"):
        xs[2] = torch.where(xs[2] > 0, 1.0, -1.0)  # charges ±1
    model = make().train(training)
    if _reads_values(name, model):
        pytest.skip("reads a value in its forward pass (escnn, Augerino): the meta device cannot run it")
    torch.manual_seed(1)
    on_cpu = _outputs(model(*xs))
    torch.manual_seed(1)
    moved = model.to("meta")
    there = _outputs(moved(*(x.to("meta") for x in xs)))
    assert [o.shape for o in there] == [o.shape for o in on_cpu]
    assert all(o.device == torch.device("meta") for o in there)


def test_the_list_covers_every_kind_of_model_the_book_trains():
    """A model class added to a chapter needs a line above: these are the ones read from the book's
    training cells (train.fit, train_on_sets, train_gaussian, train_vector_field, fit_nbody, ...)."""
    covered = {type(MODELS[name][0]()).__name__ for name in MODELS}
    assert covered >= {"MLP", "ConvNet", "PixelConvNet", "GroupCNN", "PlainCNN", "SteerableCNN", "FourierCNN",
                       "LearnedRotations", "SetRegressor", "LCNN", "PlaquetteCNN", "LieTransformer",
                       "EGNN", "GNN", "HNN", "DerivativeNet", "GaussianMLP", "StackedMLP",
                       "HardConstraint", "D4Invariant"}


# The PINN chapters (pinn, frontier, uncertainty) train through pinn.train_pinn, whose loss is a
# closure over points the chapter puts on course_lib.device(): every loss term they build must
# compute there, derivatives and backward pass included.
def _pinn_losses():
    def poisson(hard):
        net = pinn.MLP(2, 8, 2, low=(0, 0), high=(1, 1)).double()
        model = pinn.HardConstraint(net, pinn.square_distance) if hard else net
        return model, lambda m, x: sum(pinn.pinn_loss(
            m, x, None if hard else x.flip(0), pinn.poisson_source, boundary_weight=100.0).values())

    def burgers_odd():
        from course_lib import burgers
        net = pinn.MLP(2, 8, 2, low=burgers.DOMAIN[0], high=burgers.DOMAIN[1]).double()
        return burgers.hard_ansatz(net, odd=True), lambda m, x: burgers.residual(m, x).pow(2).mean()

    def mirrors():  # frontier: the fundamental domain's Neumann condition du/dn = 0
        model = pinn.HardConstraint(pinn.MLP(2, 8, 2, low=(0.0, 0.0), high=(1.0, 1.0)).double(),
                                    lambda p: 1 - p[:, 0])
        return model, lambda m, x: ((pinn.gradient(m, x) * x.flip(1)).sum(1).pow(2).mean()
                                    + pinn.pinn_loss(m, x, None, pinn.d4_poisson_source)["pde"])

    def d4_square(invariant):  # frontier: the plain and D4-invariant PINNs on the whole square
        net = (pinn.D4Invariant(pinn.MLP(2, 8, 2, low=(0.0, 0.0), high=(2.0, 1.0))) if invariant
               else pinn.MLP(2, 8, 2, low=(-1.0, -1.0), high=(1.0, 1.0)))
        model = pinn.HardConstraint(net.double(), pinn.centred_square_distance)
        return model, lambda m, x: pinn.pinn_loss(m, 2 * x - 1, None, pinn.d4_poisson_source)["pde"]

    def oscillator():  # uncertainty: an ensemble fitted to data and to q'' + q = 0
        stack = uncertainty.StackedMLP([pinn.MLP(1, 8, 2, low=(0.0,), high=(1.0,)).double()
                                        for _ in range(2)])
        def loss(m, x):
            d = pinn.derivatives(m, x[:, :1].repeat(2, 1), second=(0,))
            return (m.members(x[:, :1]) - x[:, 1]).pow(2).mean() + (d.second[:, 0] + d.u).pow(2).mean()
        return stack, loss

    return {"Poisson, penalty": lambda: poisson(False), "Poisson, hard": lambda: poisson(True),
            "Burgers, odd ansatz": burgers_odd, "D4 mirrors": mirrors,
            "D4 square, plain": lambda: d4_square(False),
            "D4 square, invariant": lambda: d4_square(True), "oscillator ensemble": oscillator}


@pytest.mark.parametrize("name", list(_pinn_losses()))
def test_a_pinn_loss_computes_where_its_model_and_points_are(name):
    torch.manual_seed(0)
    model, loss = _pinn_losses()[name]()
    points = torch.rand(6, 2, dtype=torch.float64)
    on_cpu = loss(model, points)
    on_cpu.backward()
    assert all(p.grad is not None for p in model.parameters())
    moved = model.to("meta")
    there = loss(moved, points.to("meta"))
    assert there.device == torch.device("meta") and there.shape == on_cpu.shape
    there.backward()  # the gradients to the weights too


def test_rotate_images_rotates_where_the_images_are():
    from course_lib.data import rotate_images
    images = torch.rand(3, 1, 8, 8)
    assert rotate_images(images.to("meta"), 0.3).device == torch.device("meta")
    assert rotate_images(images.to("meta"), torch.tensor([0.1, 0.2, 0.3])).device == torch.device("meta")
