"""Quantum strategies and the Born rule, in JAX (differentiable in states and measurement parameters)."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from ._behaviour import Behaviour
from ._scenario import BellScenario

__all__ = [
    "QuantumStrategy",
    "PAULI",
    "qubit_projective",
    "qubit_measurements_xz",
    "pure_two_qubit_state",
    "werner_state",
    "phi_plus",
    "density_matrix",
    "is_povm",
]

PAULI = np.array(
    [[[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]], dtype=np.complex128
)  # X, Y, Z


def qubit_projective(bloch) -> jnp.ndarray:
    """Projective qubit measurements from Bloch vectors.

    Args:
        bloch: ``(m, 3)`` array; each row is normalised internally (a zero row is an error upstream).
    Returns:
        ``(m, 2, 2, 2)`` complex POVM elements ``M[x, a] = (I + (-1)^a n_x . sigma) / 2`` (outcome 0 <-> +1).
    """
    n = jnp.asarray(bloch)
    n = n / jnp.linalg.norm(n, axis=-1, keepdims=True)
    obs = jnp.einsum("mk,kij->mij", n, PAULI)
    eye = jnp.eye(2, dtype=obs.dtype)
    return jnp.stack([(eye + obs) / 2, (eye - obs) / 2], axis=1)


def qubit_measurements_xz(angles) -> jnp.ndarray:
    """Projective qubit measurements in the X-Z plane: observable ``cos(t) Z + sin(t) X`` for each angle t."""
    t = jnp.asarray(angles)
    return qubit_projective(jnp.stack([jnp.sin(t), jnp.zeros_like(t), jnp.cos(t)], axis=-1))


def pure_two_qubit_state(theta) -> jnp.ndarray:
    """Density matrix of ``cos(theta)|00> + sin(theta)|11>``, shape (4, 4)."""
    c, s = jnp.cos(theta), jnp.sin(theta)
    psi = jnp.stack([c, 0 * c, 0 * c, s]) + 0j
    return jnp.outer(psi, jnp.conj(psi))


def phi_plus() -> np.ndarray:
    """|Phi+><Phi+| with |Phi+> = (|00> + |11>)/sqrt(2), shape (4, 4)."""
    psi = np.array([1, 0, 0, 1], dtype=np.complex128) / np.sqrt(2)
    return np.outer(psi, psi.conj())


def werner_state(v) -> jnp.ndarray:
    """``v |Phi+><Phi+| + (1 - v) I/4``, shape (4, 4)."""
    return v * jnp.asarray(phi_plus()) + (1 - v) * jnp.eye(4) / 4


def density_matrix(psi) -> jnp.ndarray:
    """``|psi><psi|`` for a (not necessarily normalised) state vector."""
    psi = jnp.asarray(psi)
    psi = psi / jnp.linalg.norm(psi)
    return jnp.outer(psi, jnp.conj(psi))


def is_povm(m, atol: float = 1e-8) -> bool:
    """True if ``m`` (shape ``(settings, outcomes, dim, dim)``) holds PSD elements summing to I per setting."""
    m = np.asarray(m)
    dim = m.shape[-1]
    if not np.allclose(m.sum(axis=1), np.eye(dim), atol=atol):
        return False
    if not np.allclose(m, np.conj(np.swapaxes(m, -1, -2)), atol=atol):
        return False
    return bool(np.linalg.eigvalsh(m).min() >= -atol)


class QuantumStrategy(eqx.Module):
    """A bipartite state and local measurements; ``behaviour()`` applies the Born rule.

    Attributes:
        state: density matrix, shape ``(dimA * dimB, dimA * dimB)``.
        alice: POVM elements, shape ``(mA, dA, dimA, dimA)``; ``alice[x, a]`` is M_{a|x}.
        bob: POVM elements, shape ``(mB, dB, dimB, dimB)``.

    Everything is a JAX array, so ``jax.grad`` flows through ``behaviour().p`` to all three.
    """

    state: jnp.ndarray
    alice: jnp.ndarray
    bob: jnp.ndarray

    @property
    def scenario(self) -> BellScenario:
        return BellScenario((self.alice.shape[1], self.bob.shape[1]), (self.alice.shape[0], self.bob.shape[0]))

    def probabilities(self) -> jnp.ndarray:
        """``p[a, b, x, y] = Tr[(M_{a|x} (x) N_{b|y}) rho]``, real, shape ``(dA, dB, mA, mB)``."""
        da, db = self.alice.shape[-1], self.bob.shape[-1]
        rho = jnp.asarray(self.state).reshape(da, db, da, db)
        # Tr[(M (x) N) rho] = sum M_ij N_kl rho_(j l),(i k)
        p = jnp.einsum("xaij,ybkl,jlik->abxy", self.alice, self.bob, rho)
        return jnp.real(p)

    def behaviour(self) -> Behaviour:
        return Behaviour(self.probabilities(), self.scenario)

    @classmethod
    def qubits(cls, state, alice_bloch, bob_bloch) -> "QuantumStrategy":
        """Two qubits with projective measurements along Bloch vectors ``(mA, 3)`` and ``(mB, 3)``."""
        return cls(jnp.asarray(state), qubit_projective(alice_bloch), qubit_projective(bob_bloch))

