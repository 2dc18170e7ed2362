"""Groups for machine learning (chapter "Groups for machine learning").

A group is a set with a composition that is closed and associative, has an identity and has
inverses. This module gives the groups the course uses, each with the same small interface:

    group.identity, group.compose(a, b), group.inverse(a), group.equal(a, b), group.validate(a)

Finite groups (`CyclicGroup`, `DihedralGroup`, `SymmetricGroup`, `PeriodicTranslations`) also list
their `elements()`; continuous groups (`Translations`, `SO2`, `SO3`, `O3`, `SU2`) `sample` theirs.
Then: how groups act on data, representations (matrices that compose like the group), the group
axioms checked by `check_group_axioms`, and Lie algebras with the exponential map.

Matrices are float64 (complex128 for SU(2)) so that axiom checks are limited by the group, not by
rounding.
"""

from __future__ import annotations

import itertools
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from course_lib.arguments import require_int

Element = Any

# --------------------------------------------------------------------------------------------
# The interface
# --------------------------------------------------------------------------------------------


class Group(ABC):
    """A group: identity, composition, inverse, equality and a membership check."""

    name: str = "group"

    @property
    @abstractmethod
    def identity(self) -> Element: ...

    @abstractmethod
    def compose(self, a: Element, b: Element) -> Element:
        """The product a·b ("first b, then a" when the elements act on something)."""

    @abstractmethod
    def inverse(self, a: Element) -> Element: ...

    @abstractmethod
    def validate(self, a: Element) -> Element:
        """Return `a` in canonical form, or raise ValueError saying what an element looks like."""

    def equal(self, a: Element, b: Element, atol: float = 1e-9) -> bool:
        return self.validate(a) == self.validate(b)

    def __repr__(self) -> str:
        return self.name


class FiniteGroup(Group):
    """A group with finitely many elements, listed in a fixed order."""

    @abstractmethod
    def elements(self) -> list[Element]: ...

    @property
    def order(self) -> int:
        return len(self.elements())

    def index(self, a: Element) -> int:
        """Position of `a` in `elements()`."""
        return self.elements().index(self.validate(a))

    def cayley_table(self) -> np.ndarray:
        """(order, order) int array: entry [i, j] is the index of elements[i]·elements[j]."""
        els = self.elements()
        return np.array([[self.index(self.compose(a, b)) for b in els] for a in els])


# --------------------------------------------------------------------------------------------
# Finite groups
# --------------------------------------------------------------------------------------------


class CyclicGroup(FiniteGroup):
    """C_n, the rotations by multiples of 360°/n. The element k stands for r^k, k = 0..n-1."""

    def __init__(self, n: int):
        self.n = require_int(n, "the order n of C_n")
        self.name = f"C{n}"

    @property
    def identity(self) -> int:
        return 0

    def elements(self) -> list[int]:
        return list(range(self.n))

    def validate(self, a: Element) -> int:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)) or not 0 <= a < self.n:
            raise ValueError(f"an element of {self.name} is an int k in 0..{self.n - 1} (r^k), got {a!r}")
        return int(a)

    def compose(self, a: int, b: int) -> int:
        return (self.validate(a) + self.validate(b)) % self.n

    def inverse(self, a: int) -> int:
        return -self.validate(a) % self.n

    def angle(self, a: int) -> float:
        """The rotation angle of r^a in radians."""
        return 2 * math.pi * self.validate(a) / self.n


class DihedralGroup(FiniteGroup):
    """D_n, the 2n symmetries of a regular n-gon. The element (k, f) stands for r^k s^f:
    first reflect (if f = 1), then rotate by k·360°/n.

    Composition follows from s r = r^-1 s:  (k1, f1)·(k2, f2) = (k1 + (-1)^f1 k2, f1 xor f2).
    Which mirror s is belongs to the action, not to the group: `dihedral_matrix` reflects the plane
    in the x-axis (y → −y), `dihedral_act_image` flips images left-right (x → −x).
    """

    def __init__(self, n: int):
        self.n = require_int(n, "the order n of D_n")
        self.name = f"D{n}"

    @property
    def identity(self) -> tuple[int, int]:
        return (0, 0)

    def elements(self) -> list[tuple[int, int]]:
        return [(k, f) for f in (0, 1) for k in range(self.n)]

    def validate(self, a: Element) -> tuple[int, int]:
        ok = (
            isinstance(a, (tuple, list))
            and len(a) == 2
            and all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in a)
            and 0 <= a[0] < self.n
            and a[1] in (0, 1)
        )
        if not ok:
            raise ValueError(
                f"an element of {self.name} is a pair (k, f) with k in 0..{self.n - 1} and f in {{0, 1}}"
                f" (meaning r^k s^f), got {a!r}"
            )
        return (int(a[0]), int(a[1]))

    def compose(self, a: Element, b: Element) -> tuple[int, int]:
        (k1, f1), (k2, f2) = self.validate(a), self.validate(b)
        return ((k1 + (-1) ** f1 * k2) % self.n, f1 ^ f2)

    def inverse(self, a: Element) -> tuple[int, int]:
        k, f = self.validate(a)
        return (k, 1) if f else (-k % self.n, 0)


class SymmetricGroup(FiniteGroup):
    """S_n, all permutations of n objects. A permutation p is a tuple with p[i] = where i goes;
    composition is (p·q)[i] = p[q[i]] (first q, then p)."""

    def __init__(self, n: int):
        self.n = require_int(n, "the number n of permuted objects")
        self.name = f"S{n}"
        self._elements = [tuple(p) for p in itertools.permutations(range(n))]

    @property
    def identity(self) -> tuple[int, ...]:
        return tuple(range(self.n))

    def elements(self) -> list[tuple[int, ...]]:
        return list(self._elements)

    def validate(self, a: Element) -> tuple[int, ...]:
        try:
            p = tuple(int(i) for i in a)
        except (TypeError, ValueError):
            p = None
        if p is None or sorted(p) != list(range(self.n)):
            raise ValueError(f"an element of {self.name} is a permutation of 0..{self.n - 1}, got {a!r}")
        return p

    def compose(self, a: Element, b: Element) -> tuple[int, ...]:
        p, q = self.validate(a), self.validate(b)
        return tuple(p[q[i]] for i in range(self.n))

    def inverse(self, a: Element) -> tuple[int, ...]:
        p = self.validate(a)
        inv = [0] * self.n
        for i, pi in enumerate(p):
            inv[pi] = i
        return tuple(inv)


class PeriodicTranslations(FiniteGroup):
    """Translations of a periodic grid of the given shape (Z_n1 × Z_n2 × ...): shifts mod shape."""

    def __init__(self, shape: Sequence[int]):
        self.shape = tuple(require_int(s, "each grid size") for s in shape)
        if not self.shape:
            raise ValueError("a periodic grid needs at least one dimension, got shape ()")
        self.name = "Z" + "×Z".join(str(s) for s in self.shape)

    @property
    def identity(self) -> tuple[int, ...]:
        return (0,) * len(self.shape)

    def elements(self) -> list[tuple[int, ...]]:
        return list(itertools.product(*(range(s) for s in self.shape)))

    def validate(self, a: Element) -> tuple[int, ...]:
        try:
            t = tuple(int(x) for x in a)
        except (TypeError, ValueError):
            t = None
        if t is None or len(t) != len(self.shape) or not all(0 <= x < s for x, s in zip(t, self.shape)):
            raise ValueError(f"an element of {self.name} is a shift in range {self.shape}, got {a!r}")
        return t

    def compose(self, a: Element, b: Element) -> tuple[int, ...]:
        return tuple((x + y) % s for x, y, s in zip(self.validate(a), self.validate(b), self.shape))

    def inverse(self, a: Element) -> tuple[int, ...]:
        return tuple(-x % s for x, s in zip(self.validate(a), self.shape))


# --------------------------------------------------------------------------------------------
# Continuous groups
# --------------------------------------------------------------------------------------------


class ContinuousGroup(Group):
    """A group with infinitely many elements, checked on random samples."""

    @abstractmethod
    def sample(self, k: int, generator: torch.Generator | None = None) -> Tensor:
        """k random elements, stacked along the first dimension."""


class Translations(ContinuousGroup):
    """Translations of R^d: an element is a vector t of shape (d,), acting as x ↦ x + t."""

    def __init__(self, d: int):
        self.d = require_int(d, "the dimension d of R^d")
        self.name = f"T({d})"

    @property
    def identity(self) -> Tensor:
        return torch.zeros(self.d, dtype=torch.float64)

    def validate(self, a: Element) -> Tensor:
        if not isinstance(a, Tensor) or a.shape != (self.d,):
            got = tuple(a.shape) if isinstance(a, Tensor) else type(a).__name__
            raise ValueError(f"an element of {self.name} is a tensor of shape ({self.d},), got {got}")
        return a

    def compose(self, a: Tensor, b: Tensor) -> Tensor:
        return self.validate(a) + self.validate(b)

    def inverse(self, a: Tensor) -> Tensor:
        return -self.validate(a)

    def equal(self, a: Tensor, b: Tensor, atol: float = 1e-9) -> bool:
        return bool(torch.allclose(self.validate(a), self.validate(b), atol=atol, rtol=0))

    def sample(self, k: int, generator: torch.Generator | None = None) -> Tensor:
        return torch.randn(k, self.d, generator=generator, dtype=torch.float64)


class MatrixGroup(ContinuousGroup):
    """A group of d×d matrices under matrix multiplication, defined by a membership test."""

    dim: int
    dtype = torch.float64

    @property
    def identity(self) -> Tensor:
        return torch.eye(self.dim, dtype=self.dtype)

    def compose(self, a: Tensor, b: Tensor) -> Tensor:
        return self.validate(a) @ self.validate(b)

    def inverse(self, a: Tensor) -> Tensor:
        return self.validate(a).mH  # every group here is orthogonal or unitary

    def equal(self, a: Tensor, b: Tensor, atol: float = 1e-9) -> bool:
        return bool(torch.allclose(self.validate(a), self.validate(b), atol=atol, rtol=0))

    def membership_error(self, a: Tensor) -> float:
        """How far the square matrix `a` is from the group (0 for a member)."""
        eye = torch.eye(self.dim, dtype=a.dtype)
        return float((a.mH @ a - eye).abs().max())

    def validate(self, a: Element, atol: float = 1e-6) -> Tensor:
        if not isinstance(a, Tensor) or a.shape != (self.dim, self.dim):
            got = tuple(a.shape) if isinstance(a, Tensor) else type(a).__name__
            raise ValueError(f"an element of {self.name} is a {self.dim}×{self.dim} tensor, got {got}")
        err = self.membership_error(a)
        if err > atol:
            raise ValueError(f"not an element of {self.name}: {self.condition} fails by {err:.2e}")
        return a

    condition = "A^T A = I"


class SO2(MatrixGroup):
    """Rotations of the plane: 2×2 orthogonal matrices with determinant +1."""

    name, dim, condition = "SO(2)", 2, "A^T A = I and det A = 1"

    def membership_error(self, a: Tensor) -> float:
        return max(super().membership_error(a), abs(float(torch.linalg.det(a)) - 1))

    def sample(self, k: int, generator: torch.Generator | None = None) -> Tensor:
        angles = 2 * math.pi * torch.rand(k, generator=generator, dtype=torch.float64)
        return rotation_2d(angles)


class SO3(MatrixGroup):
    """Rotations of space: 3×3 orthogonal matrices with determinant +1."""

    name, dim, condition = "SO(3)", 3, "A^T A = I and det A = 1"

    def membership_error(self, a: Tensor) -> float:
        return max(super().membership_error(a), abs(float(torch.linalg.det(a)) - 1))

    def sample(self, k: int, generator: torch.Generator | None = None) -> Tensor:
        """Uniform (Haar) random rotations, from uniform random unit quaternions."""
        return su2_to_so3(SU2().sample(k, generator))


class O3(MatrixGroup):
    """Rotations and reflections of space: 3×3 orthogonal matrices (det ±1)."""

    name, dim, condition = "O(3)", 3, "A^T A = I"

    def sample(self, k: int, generator: torch.Generator | None = None) -> Tensor:
        signs = torch.where(torch.rand(k, generator=generator) < 0.5, -1.0, 1.0).to(torch.float64)
        return SO3().sample(k, generator) * signs[:, None, None]


class SU2(MatrixGroup):
    """2×2 unitary complex matrices with determinant 1: the unit quaternions, the double cover of SO(3)."""

    name, dim, condition, dtype = "SU(2)", 2, "U^† U = I and det U = 1", torch.complex128

    def membership_error(self, a: Tensor) -> float:
        return max(super().membership_error(a), abs(complex(torch.linalg.det(a)) - 1))

    def sample(self, k: int, generator: torch.Generator | None = None) -> Tensor:
        q = torch.randn(k, 4, generator=generator, dtype=torch.float64)
        a, b, c, d = (q / q.norm(dim=1, keepdim=True)).unbind(1)
        return torch.stack(
            [torch.stack([torch.complex(a, b), torch.complex(c, d)], -1),
             torch.stack([torch.complex(-c, d), torch.complex(a, -b)], -1)], -2)


def rotation_2d(angle: Tensor | float) -> Tensor:
    """Rotation matrices of the plane: angle (...,) in radians -> (..., 2, 2)."""
    angle = torch.as_tensor(angle, dtype=torch.float64)
    c, s = torch.cos(angle), torch.sin(angle)
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)


# --------------------------------------------------------------------------------------------
# Group actions on data
# --------------------------------------------------------------------------------------------


def rotate_image(x: Tensor, k: int) -> Tensor:
    """Rotate images x (..., H, W) by k·90° counter-clockwise (the action of r^k in C4)."""
    if x.dim() < 2 or x.shape[-1] != x.shape[-2]:
        raise ValueError(f"rotate_image needs square images (..., H, H), got shape {tuple(x.shape)}")
    return torch.rot90(x, k, dims=(-2, -1))


def dihedral_act_image(x: Tensor, g: tuple[int, int]) -> Tensor:
    """The action of (k, f) in D4 on square images (..., H, W): flip left-right if f, then rotate k·90°.

    The flip is x → −x on the pixel coordinates (x to the right, y up), so (k, f) moves the point
    at v to dihedral_matrix((k + 2f) mod 4, f) @ v: the matrices' s is the other mirror, y → −y.
    Both obey s r = r^-1 s, so compositions agree; only the meaning of a given (k, 1) differs.
    """
    k, f = DihedralGroup(4).validate(g)
    return rotate_image(torch.flip(x, dims=(-1,)) if f else x, k)


def permute_set(x: Tensor, p: Sequence[int]) -> Tensor:
    """The action of a permutation p in S_n on a set x (n, ...): element i moves to slot p[i]."""
    p = SymmetricGroup(x.shape[0]).validate(p)
    out = torch.empty_like(x)
    out[list(p)] = x
    return out


def translate_grid(x: Tensor, shift: Sequence[int]) -> Tensor:
    """The action of a periodic translation on a grid x (..., n1, n2, ...): a circular shift."""
    dims = tuple(range(-len(shift), 0))
    return torch.roll(x, shifts=tuple(int(s) for s in shift), dims=dims)


def dihedral_matrix(g: tuple[int, int], n: int) -> Tensor:
    """The 2×2 matrix of (k, f) in D_n acting on the plane: rotation by 2πk/n after reflection in the
    x-axis (y → −y). (`dihedral_act_image` flips images in the y-axis instead: see there.)"""
    k, f = DihedralGroup(n).validate(g)
    reflect = torch.diag(torch.tensor([1.0, -1.0 if f else 1.0], dtype=torch.float64))
    return rotation_2d(2 * math.pi * k / n) @ reflect


# --------------------------------------------------------------------------------------------
# Representations
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Representation:
    """A map ρ from a group to d×d matrices with ρ(a·b) = ρ(a) ρ(b)."""

    group: Group
    rho: Callable[[Element], Tensor]
    dim: int
    name: str = "ρ"

    def __call__(self, g: Element) -> Tensor:
        return self.rho(g)


def homomorphism_error(rep: Representation, pairs: Sequence[tuple[Element, Element]]) -> float:
    """max over the pairs (a, b) of |ρ(a·b) − ρ(a)ρ(b)|, entrywise."""
    g = rep.group
    return max(float((rep(g.compose(a, b)) - rep(a) @ rep(b)).abs().max()) for a, b in pairs)


def element_pairs(group: Group, n_samples: int = 50, seed: int = 0) -> list[tuple[Element, Element]]:
    """All pairs of a finite group, or n_samples random pairs of a continuous one."""
    if isinstance(group, FiniteGroup):
        return list(itertools.product(group.elements(), repeat=2))
    gen = torch.Generator().manual_seed(seed)
    return list(zip(group.sample(n_samples, gen), group.sample(n_samples, gen)))


def is_representation(rep: Representation, atol: float = 1e-9, n_samples: int = 50) -> bool:
    """True when ρ is a homomorphism: on every pair of a finite group, on random pairs otherwise."""
    return homomorphism_error(rep, element_pairs(rep.group, n_samples)) <= atol


def regular_representation(group: FiniteGroup) -> Representation:
    """ρ_reg(g) permutes the |G| basis vectors e_h ↦ e_{g·h}: an |G|×|G| permutation matrix."""
    els, n = group.elements(), group.order

    def rho(g: Element) -> Tensor:
        m = torch.zeros(n, n, dtype=torch.float64)
        for j, h in enumerate(els):
            m[group.index(group.compose(g, h)), j] = 1.0
        return m

    return Representation(group, rho, n, f"regular rep of {group.name}")


def standard_representation(group: CyclicGroup | DihedralGroup) -> Representation:
    """C_n and D_n as rotations (and reflections) of the plane: 2×2 real matrices."""
    if isinstance(group, DihedralGroup):
        return Representation(group, lambda g: dihedral_matrix(g, group.n), 2, f"standard rep of {group.name}")
    if isinstance(group, CyclicGroup):
        return Representation(group, lambda g: rotation_2d(group.angle(g)), 2, f"standard rep of {group.name}")
    raise ValueError(f"standard_representation expects a CyclicGroup or DihedralGroup, got {group!r}")


PAULI = torch.tensor(
    [[[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]], dtype=torch.complex128
)  # σ_x, σ_y, σ_z: (3, 2, 2)


def su2_to_so3(u: Tensor) -> Tensor:
    """The 2-to-1 homomorphism SU(2) → SO(3): R_ij = ½ tr(σ_i U σ_j U^†).  (..., 2, 2) -> (..., 3, 3)."""
    if u.shape[-2:] != (2, 2):
        raise ValueError(f"su2_to_so3 expects (..., 2, 2) complex matrices, got shape {tuple(u.shape)}")
    u = u.to(torch.complex128)
    conj = u[..., None, :, :] @ PAULI @ u.mH[..., None, :, :]  # U σ_j U^†: (..., 3, 2, 2)
    return 0.5 * torch.einsum("iab,...jba->...ij", PAULI, conj).real


# --------------------------------------------------------------------------------------------
# The group axioms
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AxiomReport:
    """Which axioms held on the elements checked, and the largest violation seen.

    closure: every product passes `validate`; associativity: (a·b)·c = a·(b·c) on the triples;
    identity: e·a = a·e = a for the group's `identity` e; inverses: every a has some b with
    a·b = b·a = e (searched among all elements of a finite group; for a continuous group, b is
    the group's `inverse(a)`, since there is no list to search).
    """

    group: str
    closure: bool
    associativity: bool
    identity: bool
    inverses: bool
    max_error: float
    n_checked: int

    def __bool__(self) -> bool:
        return self.closure and self.associativity and self.identity and self.inverses


def check_group_axioms(group: Group, n_samples: int = 30, atol: float = 1e-9, seed: int = 0) -> AxiomReport:
    """Check closure, associativity, identity and inverses (what each means: `AxiomReport`).

    Finite groups: on every element and every triple (a random 20,000 of them for large groups).
    Continuous groups: on n_samples random elements; matrix errors must stay below atol.
    """
    gen = torch.Generator().manual_seed(seed)
    finite = isinstance(group, FiniteGroup)
    els = group.elements() if finite else list(group.sample(n_samples, gen))
    if finite and len(els) ** 3 > 20_000:
        rng = np.random.default_rng(seed)
        triples = [tuple(els[i] for i in rng.integers(len(els), size=3)) for _ in range(20_000)]
    elif finite:
        triples = list(itertools.product(els, repeat=3))
    else:
        triples = list(zip(els, list(group.sample(n_samples, gen)), list(group.sample(n_samples, gen))))

    def distance(a: Element, b: Element) -> float:
        if finite:
            return 0.0 if group.equal(a, b) else math.inf
        return float((a - b).abs().max())

    def member(a: Element) -> bool:
        try:
            group.validate(a)
            return True
        except ValueError:
            return False

    e = group.identity
    closure = all(member(group.compose(a, b)) for a, b, _ in triples)
    errs = {
        "associativity": [distance(group.compose(group.compose(a, b), c), group.compose(a, group.compose(b, c)))
                          for a, b, c in triples],
        "identity": [max(distance(group.compose(e, a), a), distance(group.compose(a, e), a)) for a in els],
        "inverses": [min(max(distance(group.compose(a, b), e), distance(group.compose(b, a), e))
                         for b in (els if finite else [group.inverse(a)])) for a in els],
    }
    worst = {k: max(v) for k, v in errs.items()}
    return AxiomReport(
        group=group.name, closure=closure,
        associativity=worst["associativity"] <= atol, identity=worst["identity"] <= atol,
        inverses=worst["inverses"] <= atol, max_error=max(worst.values()), n_checked=len(triples),
    )


# --------------------------------------------------------------------------------------------
# Lie algebras and the exponential map
# --------------------------------------------------------------------------------------------


def so2_generator() -> Tensor:
    """The generator of so(2): exp(θ J) is the rotation by θ.  (2, 2)."""
    return torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=torch.float64)


def hat(omega: Tensor) -> Tensor:
    """The skew-symmetric matrix [ω]_× with [ω]_× v = ω × v.  (..., 3) -> (..., 3, 3)."""
    if omega.shape[-1:] != (3,):
        raise ValueError(f"hat expects vectors of shape (..., 3), got {tuple(omega.shape)}")
    x, y, z = omega.unbind(-1)
    zero = torch.zeros_like(x)
    return torch.stack([torch.stack([zero, -z, y], -1),
                        torch.stack([z, zero, -x], -1),
                        torch.stack([-y, x, zero], -1)], -2)


def so3_generators() -> Tensor:
    """L_x, L_y, L_z of so(3), the infinitesimal rotations about each axis.  (3, 3, 3)."""
    return hat(torch.eye(3, dtype=torch.float64))


def su2_generators() -> Tensor:
    """-i σ_k / 2 for k = x, y, z: a basis of su(2) with the same commutators as so(3).  (3, 2, 2)."""
    return -0.5j * PAULI


def exp_map(x: Tensor) -> Tensor:
    """The matrix exponential exp(X) = Σ X^k / k!, from a Lie algebra to its group.  (..., d, d)."""
    if x.dim() < 2 or x.shape[-1] != x.shape[-2]:
        raise ValueError(f"exp_map expects square matrices (..., d, d), got shape {tuple(x.shape)}")
    return torch.linalg.matrix_exp(x)


def commutator(a: Tensor, b: Tensor) -> Tensor:
    """The Lie bracket [A, B] = AB − BA.  (..., d, d)."""
    return a @ b - b @ a


def structure_constants(generators: Tensor) -> Tensor:
    """c with [X_i, X_j] = Σ_k c_ijk X_k, solved by least squares.  (n, d, d) -> (n, n, n).

    For so(3) and su(2) (with the bases above) this is the Levi-Civita symbol ε_ijk.
    """
    n = generators.shape[0]
    basis = generators.reshape(n, -1).T  # (d², n)
    brackets = commutator(generators[:, None], generators[None, :]).reshape(n * n, -1).T  # (d², n²)
    c = torch.linalg.lstsq(basis, brackets).solution  # (n, n²)
    return c.T.reshape(n, n, n)


def rotation_about(axis: Tensor, angle: float) -> Tensor:
    """The rotation by `angle` (radians) about `axis` (3,), any nonzero length: exp(angle·[n]_×), n = axis/|axis|."""
    axis = torch.as_tensor(axis, dtype=torch.float64)
    if axis.shape != (3,) or float(axis.norm()) == 0.0:
        raise ValueError(f"rotation_about expects a nonzero axis of shape (3,), got {axis.tolist()}")
    return exp_map(angle * hat(axis / axis.norm()))
