"""Parametrised states and measurements: equinox modules whose array leaves are unconstrained reals.

Every component maps *any* real values of its array leaves to a valid state (PSD, unit trace) or measurement
(PSD elements summing to the identity), so optax steps and nevergrad vectors move freely. A leaf that is a
plain Python float (or tuple of floats) instead of an array is *fixed*: ``eqx.partition(module,
eqx.is_inexact_array)`` leaves it out of the searched parameters. Each component is called with a real dtype
(``float32`` for search, ``float64`` for certification) and returns complex arrays of the matching precision.

States are two-qubit density matrices (4, 4); party measurements are POVMs ``(settings, outcomes, dim, dim)``
with outcome 0 <-> eigenvalue +1 (bellcore's convention).
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp

from bellcore import PAULI, bell_state_measurement, brgp_measurement

__all__ = [
    "complex_dtype",
    "PureState",
    "MixedState",
    "ThetaState",
    "WernerState",
    "BlochMeasurements",
    "PlaneMeasurements",
    "LossyMeasurements",
    "ProductMeasurements",
    "TwoQubitProjective",
    "FixedMeasurement",
]


def complex_dtype(dtype):
    """The complex dtype with the precision of the real ``dtype`` (float32 -> complex64)."""
    return jnp.complex64 if jnp.dtype(dtype) == jnp.float32 else jnp.complex128


def _real(x, dtype):
    return jnp.asarray(x, dtype=dtype)


def _normal(key, shape, dtype):
    return jax.random.normal(key, shape, dtype=dtype)


# ----------------------------------------------------------------------------------------------- states
class PureState(eqx.Module):
    """``|psi> = (re + i im) / ||re + i im||`` (any nonzero real vectors), density ``|psi><psi|``, dim = len(re)."""

    re: jnp.ndarray
    im: jnp.ndarray

    def __call__(self, dtype) -> jnp.ndarray:
        psi = _real(self.re, dtype) + 1j * _real(self.im, dtype)
        psi = psi / jnp.linalg.norm(psi)
        return jnp.outer(psi, jnp.conj(psi)).astype(complex_dtype(dtype))

    @classmethod
    def random(cls, key, dim: int = 4, dtype=jnp.float32) -> "PureState":
        k1, k2 = jax.random.split(key)
        return cls(_normal(k1, (dim,), dtype), _normal(k2, (dim,), dtype))


class MixedState(eqx.Module):
    """``rho = L L^dagger / Tr(L L^dagger)`` with L lower triangular (real ``re``, strictly-lower ``im``): a
    Cholesky factor, so every real (d, d) pair gives a valid density matrix (the upper triangles are ignored)."""

    re: jnp.ndarray
    im: jnp.ndarray

    def __call__(self, dtype) -> jnp.ndarray:
        low = jnp.tril(_real(self.re, dtype)) + 1j * jnp.tril(_real(self.im, dtype), -1)
        rho = low @ jnp.conj(low.T)
        return (rho / jnp.trace(rho).real).astype(complex_dtype(dtype))

    @classmethod
    def random(cls, key, dim: int = 4, dtype=jnp.float32) -> "MixedState":
        k1, k2 = jax.random.split(key)
        return cls(_normal(k1, (dim, dim), dtype), _normal(k2, (dim, dim), dtype))


class ThetaState(eqx.Module):
    """``cos(theta)|00> + sin(theta)|11>``; ``theta`` a float (fixed) or a 0-d array (searched, any real)."""

    theta: jnp.ndarray | float

    def __call__(self, dtype) -> jnp.ndarray:
        t = _real(self.theta, dtype)
        c, s = jnp.cos(t), jnp.sin(t)
        z = jnp.zeros_like(c)
        psi = jnp.stack([c, z, z, s]).astype(complex_dtype(dtype))
        return jnp.outer(psi, jnp.conj(psi))

    @classmethod
    def random(cls, key, dtype=jnp.float32) -> "ThetaState":
        return cls(jax.random.uniform(key, (), dtype=dtype, minval=0.0, maxval=math.pi / 4))


class WernerState(eqx.Module):
    """``v |Phi+><Phi+| + (1 - v) I/4``. Fixed: ``WernerState(v=0.8)``; searched: ``logit`` a 0-d array,
    ``v = sigmoid(logit)`` in (0, 1)."""

    v: float | None = eqx.field(default=None, static=True)
    logit: jnp.ndarray | None = None

    def visibility(self, dtype):
        return _real(self.v, dtype) if self.logit is None else jax.nn.sigmoid(_real(self.logit, dtype))

    def __call__(self, dtype) -> jnp.ndarray:
        v = self.visibility(dtype)
        phi = jnp.array([1, 0, 0, 1], dtype=complex_dtype(dtype)) / math.sqrt(2)
        return v * jnp.outer(phi, phi) + (1 - v) * jnp.eye(4, dtype=complex_dtype(dtype)) / 4

    @classmethod
    def random(cls, key, dtype=jnp.float32) -> "WernerState":
        return cls(logit=_normal(key, (), dtype))


# ----------------------------------------------------------------------------------------- measurements
def _qubit_povm(n, dtype) -> jnp.ndarray:
    """``(m, 3)`` unit Bloch vectors -> ``(m, 2, 2, 2)``: ``M[x, a] = (I + (-1)^a n_x . sigma) / 2``."""
    cd = complex_dtype(dtype)
    obs = jnp.einsum("mk,kij->mij", n.astype(cd), jnp.asarray(PAULI, dtype=cd))
    eye = jnp.eye(2, dtype=cd)
    return jnp.stack([(eye + obs) / 2, (eye - obs) / 2], axis=1)


def _bloch(angles, dtype):
    """``(m, 2)`` polar/azimuthal angles -> ``(m, 3)`` unit vectors (any real angles are valid)."""
    a = _real(angles, dtype)
    t, f = a[..., 0], a[..., 1]
    return jnp.stack([jnp.sin(t) * jnp.cos(f), jnp.sin(t) * jnp.sin(f), jnp.cos(t)], axis=-1)


class BlochMeasurements(eqx.Module):
    """Projective qubit measurements along Bloch vectors given by angles ``(settings, 2)`` (polar, azimuth)."""

    angles: jnp.ndarray | tuple

    def observables(self, dtype):
        return _bloch(self.angles, dtype)

    def __call__(self, dtype) -> jnp.ndarray:
        return _qubit_povm(_bloch(self.angles, dtype), dtype)

    @classmethod
    def random(cls, key, settings: int = 2, dtype=jnp.float32) -> "BlochMeasurements":
        k1, k2 = jax.random.split(key)
        # polar angle with the uniform-on-the-sphere law (arccos of a uniform cosine), azimuth uniform
        cos_t = jax.random.uniform(k1, (settings,), dtype=dtype, minval=-1.0, maxval=1.0)
        phi = jax.random.uniform(k2, (settings,), dtype=dtype, minval=0.0, maxval=2 * math.pi)
        return cls(jnp.stack([jnp.arccos(cos_t), phi], axis=-1))


_PLANES = {"xz": (0, 2), "xy": (0, 1), "yz": (1, 2)}


class PlaneMeasurements(eqx.Module):
    """Projective qubit measurements restricted to one Bloch plane: observable ``cos(t) U + sin(t) V`` for
    ``plane = "UV"``'s axes (``"xz"``: ``cos(t) X + sin(t) Z``). ``angles`` shape ``(settings,)``."""

    angles: jnp.ndarray | tuple
    plane: str = eqx.field(default="xz", static=True)

    def __check_init__(self):
        if self.plane not in _PLANES:
            raise ValueError(f"unknown measurement plane {self.plane!r}; expected one of {sorted(_PLANES)}")

    def observables(self, dtype):
        t = _real(self.angles, dtype)
        i, j = _PLANES[self.plane]
        cols = [jnp.zeros_like(t)] * 3
        cols[i], cols[j] = jnp.cos(t), jnp.sin(t)
        return jnp.stack(cols, axis=-1)

    def __call__(self, dtype) -> jnp.ndarray:
        return _qubit_povm(self.observables(dtype), dtype)

    @classmethod
    def random(cls, key, settings: int = 2, plane: str = "xz", dtype=jnp.float32) -> "PlaneMeasurements":
        return cls(jax.random.uniform(key, (settings,), dtype=dtype, minval=0.0, maxval=2 * math.pi), plane)


class LossyMeasurements(eqx.Module):
    """Detection efficiency ``eta`` (fixed): with probability 1 - eta no detector clicks and the party outputs
    outcome 0 (eigenvalue +1): ``M'_0 = eta M_0 + (1 - eta) I``, ``M'_a = eta M_a`` for a > 0."""

    inner: eqx.Module
    eta: float = eqx.field(static=True)

    def __check_init__(self):
        if not 0.0 <= float(self.eta) <= 1.0:
            raise ValueError(f"detection efficiency eta must lie in [0, 1]; got {self.eta}")

    def __call__(self, dtype) -> jnp.ndarray:
        m = self.inner(dtype)
        dim = m.shape[-1]
        no_click = (1 - self.eta) * jnp.eye(dim, dtype=m.dtype)
        return (self.eta * m).at[:, 0].add(no_click)


class ProductMeasurements(eqx.Module):
    """B's binary product measurements on its two qubits: ``B^y = (n_y . sigma) (x) (m_y . sigma)``,
    ``M[y, b] = (I + (-1)^b B^y) / 2``; ``first`` / ``second`` are ``BlochMeasurements`` with 2 settings.
    Shape ``(2, 2, 4, 4)`` (binary variant). ZZ / XX (BRGP) is one member."""

    first: BlochMeasurements
    second: BlochMeasurements

    def __call__(self, dtype) -> jnp.ndarray:
        cd = complex_dtype(dtype)
        pauli = jnp.asarray(PAULI, dtype=cd)
        o1 = jnp.einsum("mk,kij->mij", self.first.observables(dtype).astype(cd), pauli)
        o2 = jnp.einsum("mk,kij->mij", self.second.observables(dtype).astype(cd), pauli)
        obs = jnp.einsum("mij,mkl->mikjl", o1, o2).reshape(-1, 4, 4)
        eye = jnp.eye(4, dtype=cd)
        return jnp.stack([(eye + obs) / 2, (eye - obs) / 2], axis=1)

    @classmethod
    def random(cls, key, dtype=jnp.float32) -> "ProductMeasurements":
        k1, k2 = jax.random.split(key)
        return cls(BlochMeasurements.random(k1, 2, dtype), BlochMeasurements.random(k2, 2, dtype))


def _unitary(h, dtype):
    """``exp(i H)`` for the Hermitian H built from a real (..., 4, 4) array (upper: real parts, lower: imaginary)."""
    cd = complex_dtype(dtype)
    h = _real(h, dtype)
    sym = (jnp.triu(h) + jnp.swapaxes(jnp.triu(h, 1), -1, -2)).astype(cd)
    low = jnp.tril(h, -1)
    anti = (low - jnp.swapaxes(low, -1, -2)).astype(cd)
    herm = sym + 1j * anti
    return jax.scipy.linalg.expm(1j * herm) if herm.ndim == 2 else jax.vmap(jax.scipy.linalg.expm)(1j * herm)


class TwoQubitProjective(eqx.Module):
    """General projective measurements of B's two qubits in the basis ``U = exp(iH)`` (H from 16 reals per
    setting). ``outcomes=4`` (one setting, bsm variant): ``M[0, b] = |u_b><u_b|``. ``outcomes=2`` (two settings,
    binary variant): ``M[y, 0] = |u_0><u_0| + |u_1><u_1|``, ``M[y, 1] = I - M[y, 0]``."""

    h: jnp.ndarray
    outcomes: int = eqx.field(default=2, static=True)

    def __call__(self, dtype) -> jnp.ndarray:
        u = _unitary(self.h, dtype)  # (m, 4, 4), columns = basis vectors
        proj = jnp.einsum("yib,yjb->ybij", u, jnp.conj(u))  # (m, 4, 4, 4)
        if self.outcomes == 4:
            return proj
        m0 = proj[:, 0] + proj[:, 1]
        return jnp.stack([m0, jnp.eye(4, dtype=m0.dtype) - m0], axis=1)

    @classmethod
    def random(cls, key, outcomes: int = 2, dtype=jnp.float32) -> "TwoQubitProjective":
        settings = 1 if outcomes == 4 else 2
        return cls(_normal(key, (settings, 4, 4), dtype) * math.pi / 2, outcomes)


_FIXED = {"bsm": bell_state_measurement, "brgp": brgp_measurement}


class FixedMeasurement(eqx.Module):
    """A fixed measurement of B by name: ``"bsm"`` (complete Bell-state measurement, (1, 4, 4, 4)) or
    ``"brgp"`` (binary Z(x)Z / X(x)X, (2, 2, 4, 4))."""

    name: str = eqx.field(static=True)

    def __check_init__(self):
        if self.name not in _FIXED:
            raise ValueError(f"unknown fixed measurement {self.name!r}; expected one of {sorted(_FIXED)}")

    def __call__(self, dtype) -> jnp.ndarray:
        return jnp.asarray(_FIXED[self.name](), dtype=complex_dtype(dtype))
