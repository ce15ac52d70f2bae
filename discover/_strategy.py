"""Parametrised strategies: a Bell pair or the bilocal network, built from ``_params`` components.

``strategy.probabilities(dtype)`` is the Born rule as a pure JAX function of the array leaves (differentiable);
``strategy.behaviour(dtype)`` wraps it as a bellcore ``Behaviour``: ``float32`` for search (a JAX array),
``float64`` for certification (a numpy array computed with JAX x64 switched on locally, whatever the global
setting). The searched parameters are the inexact-array leaves (``params_of``); Python floats are fixed.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from bellcore import BellScenario, Behaviour, BilocalScenario

from ._params import ThetaState

__all__ = ["BellStrategy", "NetworkStrategy", "params_of", "with_params"]


def _born_bell(rho, ma, mb):
    da, db = ma.shape[-1], mb.shape[-1]
    r = rho.reshape(da, db, da, db)
    return jnp.real(jnp.einsum("xaij,ybkl,jlik->abxy", ma, mb, r))


def _born_network(r1, r2, ma, mb, mc):
    r1 = r1.reshape(2, 2, 2, 2)  # [A, B1, A', B1']
    r2 = r2.reshape(2, 2, 2, 2)  # [B2, C, B2', C']
    mb = mb.reshape(mb.shape[:2] + (2, 2, 2, 2))  # [y, b, B1, B2, B1', B2']
    return jnp.real(jnp.einsum("xaiI,ybjkJK,zclL,IJij,KLkl->abcxyz", ma, mb, mc, r1, r2))


@eqx.filter_jit
def _probabilities64(strategy):
    # compiled once per strategy structure: eager op-by-op dispatch is ~100x slower (docs/performance.md)
    return strategy.probabilities(jnp.float64)


class _Strategy(eqx.Module):
    def probabilities(self, dtype=jnp.float32) -> jnp.ndarray:  # pragma: no cover - overridden
        raise NotImplementedError

    def behaviour(self, dtype=jnp.float32) -> Behaviour:
        """The behaviour in ``dtype``: float32 -> JAX array (search), float64 -> numpy array (certification)."""
        if jnp.dtype(dtype) == jnp.float64:
            with jax.enable_x64(True):
                p = np.asarray(_probabilities64(self), dtype=np.float64)
            return Behaviour(p, self.scenario)
        return Behaviour(self.probabilities(dtype), self.scenario)

    @property
    def theta(self) -> float:
        """The source angle of ``cos(theta)|00> + sin(theta)|11>`` sources (the first source's), else NaN."""
        src = getattr(self, "state", None) or getattr(self, "source1", None)
        if isinstance(src, ThetaState):
            return float(np.asarray(src.theta, dtype=np.float64))
        return math.nan


class BellStrategy(_Strategy):
    """Two parties sharing ``state``; ``alice`` / ``bob`` are measurement components (``_params``).

    ``probabilities(dtype)`` -> ``p[a, b, x, y]`` of shape ``(dA, dB, mA, mB)``.
    """

    state: eqx.Module
    alice: eqx.Module
    bob: eqx.Module

    def probabilities(self, dtype=jnp.float32) -> jnp.ndarray:
        return _born_bell(self.state(dtype), self.alice(dtype), self.bob(dtype))

    @property
    def scenario(self) -> BellScenario:
        ma, mb = self.alice(jnp.float32), self.bob(jnp.float32)
        return BellScenario((ma.shape[1], mb.shape[1]), (ma.shape[0], mb.shape[0]))


class NetworkStrategy(_Strategy):
    """Entanglement swapping: ``source1`` on (A, B1), ``source2`` on (B2, C); B measures (B1, B2) jointly.

    ``probabilities(dtype)`` -> ``p[a, b, c, x, y, z]``: (2,2,2,2,2,2) when B's measurement is binary with two
    settings, (2,4,2,2,1,2) for one 4-outcome measurement (bellcore's ``bilocal`` variants).
    """

    source1: eqx.Module
    source2: eqx.Module
    alice: eqx.Module
    bob: eqx.Module
    charlie: eqx.Module

    def probabilities(self, dtype=jnp.float32) -> jnp.ndarray:
        return _born_network(
            self.source1(dtype), self.source2(dtype), self.alice(dtype), self.bob(dtype), self.charlie(dtype)
        )

    @property
    def scenario(self) -> BilocalScenario:
        return BilocalScenario("binary" if self.bob(jnp.float32).shape[0] == 2 else "bsm")


def params_of(strategy) -> tuple:
    """``(params, static)``: the searched leaves (inexact arrays) and the rest (``eqx.partition``)."""
    return eqx.partition(strategy, eqx.is_inexact_array)


def with_params(static, params):
    """Inverse of ``params_of``."""
    return eqx.combine(params, static)
