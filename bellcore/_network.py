"""The bilocal (entanglement-swapping) network A - B - C: quantum strategies, BRGP quantities, features.

Qubit order of the Born rule: source 1 prepares qubits (1, 2) = (A, B1), source 2 prepares qubits
(3, 4) = (B2, C); A measures qubit 1, B measures the pair (2, 3) jointly, C measures qubit 4.
Behaviours are ``p[a, b, c, x, y, z]`` (see ``BilocalScenario``):

- ``binary``: B has a setting y in {0, 1} and a binary outcome; shape (2, 2, 2, 2, 2, 2).
- ``bsm``: B makes one 4-outcome measurement, ``b = 2*b0 + b1``, no setting; shape (2, 4, 2, 2, 1, 2).

Outcome 0 <-> eigenvalue +1 throughout. For the complete Bell-state measurement ``b0`` is the Z(x)Z bit and
``b1`` the X(x)X bit: b = 0 Phi+, 1 Phi-, 2 Psi+, 3 Psi-. B's two "observables" in the BSM variant are
``B^0 = (-1)^b0`` and ``B^1 = (-1)^b1``; in the binary variant ``B^y = (-1)^b`` at setting y.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._behaviour import Behaviour
from ._quantum import PAULI, qubit_measurements_xz, werner_state
from ._scenario import BilocalScenario

__all__ = [
    "BELL_BASIS",
    "BilocalStrategy",
    "bell_state_measurement",
    "noisy_bell_state_measurement",
    "brgp_measurement",
    "two_qubit_projective",
    "brgp_strategy",
    "bilocal_werner",
    "network_correlators",
    "brgp_ij",
    "brgp_value",
    "features_ij",
    "features_correlators",
    "behaviour_from_correlators",
    "behaviour_from_ij",
]

_X, _Z = PAULI[0], PAULI[2]
_I2 = np.eye(2, dtype=np.complex128)

#: The Bell basis, row b = 2*b0 + b1 (b0 the Z(x)Z bit, b1 the X(x)X bit, 0 <-> +1): Phi+, Phi-, Psi+, Psi-.
#: The one definition behind ``bell_state_measurement`` and the samplers' Bell-state measurement.
BELL_BASIS = np.array([[1, 0, 0, 1], [1, 0, 0, -1], [0, 1, 1, 0], [0, 1, -1, 0]], dtype=np.complex128) / np.sqrt(2)


def bell_state_measurement() -> np.ndarray:
    """Complete Bell-state measurement, shape (1, 4, 4, 4): ``M[0, b] = (I + (-1)^b0 ZZ)/2 . (I + (-1)^b1 XX)/2``.

    ``b = 2*b0 + b1``: 0 = Phi+, 1 = Phi-, 2 = Psi+, 3 = Psi- (b0 = Z(x)Z bit, b1 = X(x)X bit, 0 <-> +1).
    """
    return np.einsum("bi,bj->bij", BELL_BASIS, BELL_BASIS.conj())[None]  # projectors |v_b><v_b|


def noisy_bell_state_measurement(eta) -> jnp.ndarray:
    """``eta * BSM + (1 - eta) * I/4`` per outcome, shape (1, 4, 4, 4); eta in [0, 1]."""
    return eta * jnp.asarray(bell_state_measurement()) + (1 - eta) * jnp.eye(4)[None, None] / 4


def brgp_measurement() -> np.ndarray:
    """B's two binary measurements of the BRGP scenario: y=0 Z(x)Z, y=1 X(x)X; shape (2, 2, 4, 4)."""
    eye = np.eye(4, dtype=np.complex128)
    out = np.zeros((2, 2, 4, 4), dtype=np.complex128)
    for y, obs in enumerate((np.kron(_Z, _Z), np.kron(_X, _X))):
        out[y, 0], out[y, 1] = (eye + obs) / 2, (eye - obs) / 2
    return out


def two_qubit_projective(unitaries) -> jnp.ndarray:
    """Projective two-qubit measurements in the bases given by the columns of unitaries ``(m, 4, 4)``.

    Returns ``(m, 4, 4, 4)``: ``M[y, b] = |u_b><u_b|`` with ``u_b`` column b of ``unitaries[y]`` (4 outcomes).
    """
    u = jnp.asarray(unitaries)
    return jnp.einsum("yib,yjb->ybij", u, jnp.conj(u))


class BilocalStrategy(eqx.Module):
    """Two two-qubit sources and the three parties' measurements; ``behaviour()`` applies the Born rule.

    Attributes:
        source1: density matrix of (A, B1), shape (4, 4).
        source2: density matrix of (B2, C), shape (4, 4).
        alice: POVM ``(2, 2, 2, 2)``: ``alice[x, a]``.
        bob: POVM on B's two qubits, ``(2, 2, 4, 4)`` (binary variant) or ``(1, 4, 4, 4)`` (bsm variant).
        charlie: POVM ``(2, 2, 2, 2)``: ``charlie[z, c]``.
    All JAX arrays: ``jax.grad`` flows through ``behaviour().p``.
    """

    source1: jnp.ndarray
    source2: jnp.ndarray
    alice: jnp.ndarray
    bob: jnp.ndarray
    charlie: jnp.ndarray

    def __check_init__(self):
        shapes = {"source1": (4, 4), "source2": (4, 4), "alice": (2, 2, 2, 2), "charlie": (2, 2, 2, 2)}
        for name, shape in shapes.items():
            if tuple(getattr(self, name).shape) != shape:
                raise ValueError(f"{name} must have shape {shape}; got {tuple(getattr(self, name).shape)}")
        if tuple(self.bob.shape) not in ((2, 2, 4, 4), (1, 4, 4, 4)):
            raise ValueError(
                f"bob must have shape (2, 2, 4, 4) (binary variant) or (1, 4, 4, 4) (bsm variant); "
                f"got {tuple(self.bob.shape)}"
            )

    @property
    def scenario(self) -> BilocalScenario:
        return BilocalScenario("binary" if self.bob.shape[0] == 2 else "bsm")

    def probabilities(self) -> jnp.ndarray:
        """``p[a,b,c,x,y,z] = Tr[(A_{a|x} (x) B_{b|y} (x) C_{c|z}) rho1 (x) rho2]``, real."""
        r1 = jnp.asarray(self.source1).reshape(2, 2, 2, 2)  # [A, B1, A', B1']
        r2 = jnp.asarray(self.source2).reshape(2, 2, 2, 2)  # [B2, C, B2', C']
        mb = jnp.asarray(self.bob).reshape(self.bob.shape[:2] + (2, 2, 2, 2))  # [y, b, B1, B2, B1', B2']
        # Tr[O rho] = sum_{ij} O_ij rho_ji
        p = jnp.einsum("xaiI,ybjkJK,zclL,IJij,KLkl->abcxyz", self.alice, mb, self.charlie, r1, r2)
        return jnp.real(p)

    def behaviour(self) -> Behaviour:
        return Behaviour(self.probabilities(), self.scenario)


def brgp_strategy(source1, source2, variant: str = "binary", eta=1.0) -> BilocalStrategy:
    """The BRGP strategy on given sources: A_x = C_x = (Z + (-1)^x X)/sqrt2; B: Z(x)Z / X(x)X (``binary``)
    or the (noisy, visibility ``eta``) Bell-state measurement (``bsm``)."""
    meas = qubit_measurements_xz(jnp.array([np.pi / 4, -np.pi / 4]))
    if variant == "binary":
        bob = jnp.asarray(brgp_measurement())
        if eta != 1.0:
            bob = eta * bob + (1 - eta) * jnp.eye(4)[None, None] / 2
    elif variant == "bsm":
        bob = noisy_bell_state_measurement(eta)
    else:
        raise ValueError(f"unknown bilocal variant {variant!r}; expected 'binary' or 'bsm'")
    return BilocalStrategy(jnp.asarray(source1), jnp.asarray(source2), meas, bob, meas)


def bilocal_werner(v, variant: str = "binary") -> Behaviour:
    """Werner sources ``v|Phi+><Phi+| + (1-v) I/4`` on both links with the BRGP measurements.

    I = J = v^2/2. Certified NBL: binary max(0, (sqrt2 v - 1)/4), bsm max(0, (v^2 - 1/2)/4) (docs/golden.md).
    A reference behaviour: computed in float64 (a numpy array) whatever JAX's default precision.
    """
    with jax.enable_x64(True):
        rho = werner_state(v)
        beh = brgp_strategy(rho, rho, variant).behaviour()
        return Behaviour(np.asarray(beh.p, dtype=np.float64), beh.scenario)


# ------------------------------------------------------------------------------------------ correlators
def _bilocal(beh) -> Behaviour:
    if not isinstance(beh, Behaviour):
        beh = Behaviour(beh)
    if not isinstance(beh.scenario, BilocalScenario):
        raise ValueError(f"expected a bilocal behaviour; got scenario {beh.scenario}")
    return beh


def _b_signs(variant: str):
    """``s[b, y]`` = value of B^y on outcome b; bsm: B^y from bit y of b (b0 = b // 2, b1 = b % 2)."""
    if variant == "binary":
        return np.array([[1.0, 1.0], [-1.0, -1.0]])  # (b, y): depends on b only, y labels the setting
    b = np.arange(4)
    return np.stack([(-1.0) ** (b // 2), (-1.0) ** (b % 2)], axis=1)  # (b, y)


def network_correlators(beh) -> tuple:
    """``(E[..., x, y, z], A[..., x], C[..., z])``: three-body correlators <A_x B^y C_z> and A's, C's marginals.

    Works for both variants (bsm: B^0, B^1 are the two bits of the BSM outcome). Batched over leading axes.
    """
    beh = _bilocal(beh)
    xp = jnp if not isinstance(beh.p, np.ndarray) else np
    p = beh.p
    s = np.array([1.0, -1.0])
    sb = _b_signs(beh.scenario.variant)  # (b, y)
    if beh.scenario.variant == "binary":
        # p[..., a, b, c, x, y, z]
        E = xp.einsum("...abcxyz,a,by,c->...xyz", p, s, sb, s)
    else:
        E = xp.einsum("...abcxwz,a,by,c->...xyz", p, s, sb, s)  # w: the size-1 y axis
    A = xp.einsum("...abcxyz,a->...xyz", p, s)[..., 0, 0]  # settings of B, C irrelevant (no-signalling)
    C = xp.einsum("...abcxyz,c->...xyz", p, s)[..., 0, 0, :]
    return E, A, C


def brgp_ij(beh) -> tuple:
    """BRGP ``I = 1/4 sum_{xz} <A_x B^0 C_z>``, ``J = 1/4 sum_{xz} (-1)^(x+z) <A_x B^1 C_z>``."""
    E, _, _ = network_correlators(beh)
    sign = np.array([[1.0, -1.0], [-1.0, 1.0]])
    return E[..., :, 0, :].sum(axis=(-2, -1)) / 4, (E[..., :, 1, :] * sign).sum(axis=(-2, -1)) / 4


def brgp_value(beh):
    """``sqrt|I| + sqrt|J|``: at most 1 for bilocal behaviours, up to sqrt 2 quantumly."""
    I, J = brgp_ij(beh)
    xp = jnp if not isinstance(I, np.ndarray | float) else np
    return xp.sqrt(xp.abs(I)) + xp.sqrt(xp.abs(J))


def features_ij(beh):
    """The paper's first feature map: ``(I, J, <A0>, <A1>)``, shape ``(*batch, 4)``."""
    E, A, _ = network_correlators(beh)
    I, J = brgp_ij(beh)
    xp = jnp if not isinstance(A, np.ndarray) else np
    return xp.concatenate([xp.stack([I, J], axis=-1), A], axis=-1)


def features_correlators(beh):
    """The paper's second feature map: the 8 ``<A_x B_y C_z>`` (x, y, z row-major) then ``<A0>, <A1>``; ``(*batch, 10)``."""
    E, A, _ = network_correlators(beh)
    xp = jnp if not isinstance(A, np.ndarray) else np
    return xp.concatenate([E.reshape(E.shape[:-3] + (8,)), A], axis=-1)


def behaviour_from_correlators(E, A=None, variant: str = "binary") -> Behaviour:
    """Inverse of ``features_correlators``: the behaviour with three-body correlators ``E[..., x, y, z]``,
    A's marginals ``A[..., x]`` and every other correlator zero (numpy, batched over leading axes).

    binary: ``p(a,b,c|x,y,z) = (1 + (-1)^a A_x + (-1)^(a+b+c) E_xyz) / 8``.
    bsm:    ``p(a,b,c|x,z) = (1 + (-1)^a A_x + (-1)^(a+b0+c) E_x0z + (-1)^(a+b1+c) E_x1z) / 16``.
    No-signalling by construction; non-negative only for consistent inputs (call ``validate()``).
    """
    E = np.asarray(E, dtype=np.float64)
    if E.shape[-3:] != (2, 2, 2):
        raise ValueError(f"E must end with axes (x, y, z) = (2, 2, 2); got shape {E.shape}")
    A = np.zeros(E.shape[:-3] + (2,)) if A is None else np.asarray(A, dtype=np.float64)
    s = np.array([1.0, -1.0])
    sb = _b_signs(variant)  # (b, y)
    if variant == "binary":
        # p[..., a, b, c, x, y, z]
        corr = np.einsum("a,by,c,...xyz->...abcxyz", s, sb, s, E)
        marg = np.einsum("a,...x->...ax", s, A)[..., :, None, None, :, None, None]
        p = (1 + marg + corr) / 8
        return Behaviour(p, BilocalScenario("binary"))
    if variant == "bsm":
        corr = np.einsum("a,by,c,...xyz->...abcxz", s, sb, s, E)  # sum over y of both bits' terms
        marg = np.einsum("a,...x->...ax", s, A)[..., :, None, None, :, None]
        p = (1 + marg + corr) / 16
        return Behaviour(p[..., None, :], BilocalScenario("bsm"))
    raise ValueError(f"unknown bilocal variant {variant!r}; expected 'binary' or 'bsm'")


def behaviour_from_ij(features, variant: str = "binary") -> Behaviour:
    """Inverse of ``features_ij`` (our choice, the paper's supplement being unavailable): from
    ``(I, J, <A0>, <A1>)`` the behaviour with ``<A_x B^0 C_z> = I``, ``<A_x B^1 C_z> = (-1)^(x+z) J``, the given
    A marginals and every other correlator zero. ``features_ij`` of the result returns the input."""
    f = np.asarray(features, dtype=np.float64)
    if f.shape[-1] != 4:
        raise ValueError(f"features must end with an axis of 4 (I, J, A0, A1); got shape {f.shape}")
    I, J = f[..., 0], f[..., 1]
    sign = np.array([[1.0, -1.0], [-1.0, 1.0]])
    # two (..., x, z) blocks stacked on a new y axis in the middle: (..., x, y, z)
    E = np.stack([I[..., None, None] * np.ones((2, 2)), J[..., None, None] * sign], axis=-2)
    return behaviour_from_correlators(E, f[..., 2:4], variant)
