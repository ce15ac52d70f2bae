"""The triangle's quantum strategies: one two-qubit state per source, each party measuring its two qubits jointly.

Network (``bellcore.triangle``): source alpha feeds (B, C), beta feeds (A, C), gamma feeds (A, B). Each source's
state is a two-qubit density matrix whose **first qubit goes to the first party it feeds** in the party order A, B,
C (alpha: B then C; beta: A then C; gamma: A then B). Each party holds one qubit from each of its two sources,
**ordered by source** (A: beta, gamma; B: alpha, gamma; C: alpha, beta) and measures the pair jointly:

    p(a, b, c) = Tr[(rho_alpha (x) rho_beta (x) rho_gamma) (M_A[a] (x) M_B[b] (x) M_C[c])]

with the qubits of the product state rearranged into (A's, B's, C's). Parties have no inputs by default (settings
1: behaviour ``p[a, b, c, x, y, z]`` of shape ``(o, o, o, 1, 1, 1)``).

Components (equinox modules, unconstrained real leaves as in ``_params``): sources are any two-qubit state of
``_params`` (``PureState`` by default: a 4-dim complex unit vector, entangled or not), measurements are
``JointMeasurement``: a projective measurement in the basis ``U = (I - iH)^-1 (I + iH)`` (Cayley transform of the
Hermitian H built from 16 reals per setting) whose 4 basis vectors are grouped into ``outcomes`` outcomes.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from bellcore import triangle

from ._params import complex_dtype
from ._strategy import _Strategy

__all__ = ["JointMeasurement", "TriangleStrategy", "DEFAULT_GROUPS", "born_triangle"]

#: Basis vector -> outcome, per number of outcomes (projective: rank 2 + 2, 1 + 1 + 2, 1 each).
DEFAULT_GROUPS = {2: (0, 0, 1, 1), 3: (0, 1, 2, 2), 4: (0, 1, 2, 3)}


class JointMeasurement(eqx.Module):
    """A projective two-qubit measurement per setting in the basis ``U = cayley(H)`` (``h`` real ``(settings, 4, 4)``:
    upper triangle real parts, strictly lower imaginary parts), basis vector k counted as outcome ``groups[k]``:
    ``M[x, a] = sum_{k: groups[k] = a} |u_k><u_k|``. Shape ``(settings, outcomes, 4, 4)``; every outcome in 0..o-1
    must be some vector's group (``DEFAULT_GROUPS`` by default)."""

    h: jnp.ndarray
    groups: tuple = eqx.field(static=True)

    def __check_init__(self):
        g = tuple(int(x) for x in self.groups)
        if len(g) != 4 or sorted(set(g)) != list(range(max(g) + 1)) or max(g) < 1:
            raise ValueError(f"groups must map the 4 basis vectors onto outcomes 0..o-1 (o >= 2); got {self.groups}")

    @property
    def outcomes(self) -> int:
        return max(self.groups) + 1

    def __call__(self, dtype) -> jnp.ndarray:
        u = _cayley(self.h, dtype)  # (m, 4, 4): columns are the basis vectors
        proj = jnp.einsum("yik,yjk->ykij", u, jnp.conj(u))  # (m, 4, 4, 4): |u_k><u_k|
        onehot = jnp.asarray([[1.0 if g == a else 0.0 for a in range(self.outcomes)] for g in self.groups],
                             dtype=proj.dtype)  # (4, o)
        return jnp.einsum("ykij,ka->yaij", proj, onehot)

    @classmethod
    def random(cls, key, outcomes: int = 2, settings: int = 1, dtype=jnp.float32, groups=None) -> "JointMeasurement":
        if groups is None:
            if outcomes not in DEFAULT_GROUPS:
                raise ValueError(f"a projective two-qubit measurement has 2-4 outcomes; got {outcomes}")
            groups = DEFAULT_GROUPS[outcomes]
        return cls(jax.random.normal(key, (settings, 4, 4), dtype=dtype), tuple(groups))


def _cayley(h, dtype):
    """``U = (I - iH)^-1 (I + iH)`` for the Hermitian H built from a real ``(..., 4, 4)`` array (upper triangle: real
    parts, strictly lower: imaginary parts): unitary for every real input (every unitary without eigenvalue -1 is
    one), and one small linear solve -- compiled far faster than ``expm``."""
    cd = complex_dtype(dtype)
    h = jnp.asarray(h, dtype=dtype)
    sym = (jnp.triu(h) + jnp.swapaxes(jnp.triu(h, 1), -1, -2)).astype(cd)
    low = jnp.tril(h, -1)
    herm = sym + 1j * (low - jnp.swapaxes(low, -1, -2)).astype(cd)
    eye = jnp.eye(h.shape[-1], dtype=cd)
    return jnp.linalg.solve(eye - 1j * herm, eye + 1j * herm)


def born_triangle(ra, rb, rg, ma, mb, mc) -> jnp.ndarray:
    """``p[a, b, c, x, y, z]`` from the sources' (4, 4) density matrices (alpha, beta, gamma) and the parties'
    ``(settings, outcomes, 4, 4)`` measurements (qubit conventions in the module docstring)."""
    ra = ra.reshape(2, 2, 2, 2)  # [B1, C1, B1', C1']  (alpha: B's qubit, C's qubit; kets then bras)
    rb = rb.reshape(2, 2, 2, 2)  # [A1, C2, A1', C2']  (beta: A's, C's)
    rg = rg.reshape(2, 2, 2, 2)  # [A2, B2, A2', B2']  (gamma: A's, B's)
    ma = ma.reshape(ma.shape[:2] + (2, 2, 2, 2))  # [x, a, A1', A2', A1, A2]  (A's qubits: beta, gamma)
    mb = mb.reshape(mb.shape[:2] + (2, 2, 2, 2))  # [y, b, B1', B2', B1, B2]  (B's: alpha, gamma)
    mc = mc.reshape(mc.shape[:2] + (2, 2, 2, 2))  # [z, c, C1', C2', C1, C2]  (C's: alpha, beta)
    # Tr[rho M] = sum rho[ket, bra] M[bra, ket]
    return jnp.real(jnp.einsum("xaPQpq,ybRSrs,zcTUtu,rtRT,puPU,qsQS->abcxyz", ma, mb, mc, ra, rb, rg))


class TriangleStrategy(_Strategy):
    """Sources ``alpha`` (B, C), ``beta`` (A, C), ``gamma`` (A, B): two-qubit state components; ``alice``, ``bob``,
    ``charlie``: two-qubit measurement components of one shape ``(settings, outcomes, 4, 4)``.

    ``probabilities(dtype)`` -> ``p[a, b, c, x, y, z]`` (``born_triangle``); ``scenario``:
    ``bellcore.triangle(outcomes, settings)``.
    """

    alpha: eqx.Module
    beta: eqx.Module
    gamma: eqx.Module
    alice: eqx.Module
    bob: eqx.Module
    charlie: eqx.Module

    def probabilities(self, dtype=jnp.float32) -> jnp.ndarray:
        return born_triangle(self.alpha(dtype), self.beta(dtype), self.gamma(dtype),
                             self.alice(dtype), self.bob(dtype), self.charlie(dtype))

    @property
    def scenario(self):
        shapes = {m(jnp.float32).shape[:2] for m in (self.alice, self.bob, self.charlie)}
        if len(shapes) != 1:
            raise ValueError(f"the three parties' measurements must have one (settings, outcomes); got {sorted(shapes)}")
        settings, outcomes = shapes.pop()
        return triangle(outcomes=int(outcomes), settings=int(settings))
