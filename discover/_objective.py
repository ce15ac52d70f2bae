"""Objectives over strategies: a target quantity of the behaviour minus constraint penalties.

``Objective(target)(strategy) -> Evaluation``. ``target`` is any function of the behaviour array
``p[outcomes..., settings...]`` returning a scalar, or a prediction with ``mean`` and ``std`` (a
``surrogates.Surrogate``): the score is then ``mean + kappa * std`` (kappa > 0 explores where an ensemble
disagrees). Penalties (subtracted, each ``weight * violation**2``):

- ``brgp_max``: bilocal network only, the BRGP quantity ``sqrt|I| + sqrt|J|`` must stay <= ``brgp_max``
  (search a little below 1 so that the float64 recomputation at certification is <= 1 too);
- ``bounds``: ``{"source1.theta": (lo, hi), ...}`` on searched leaves, named by their path in the strategy;
- ``tripartite_weight``: bilocal network only, ``weight * NL3`` with NL3 the exact tripartite NL
  (``exact_tripartite_nl``: one ~2 ms LP, its gradient the tripartite Bell functional). Linear, not squared: an
  exact penalty, so for a weight above the target's slope the maximum sits where NL3 = 0, which a Fig. 3b
  discovery needs. The target (a surrogate of NBL) then carries only the expensive, learned part.

A NaN anywhere (target, penalty) makes ``value = -NAN_VALUE`` and sets ``nan = True``: an explicit, recorded
penalty that searchers count in their traces, never a silent number.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from bellcore import Behaviour, BilocalScenario, brgp_value

from ._exact import exact_tripartite_nl

__all__ = ["Objective", "Evaluation", "NAN_VALUE", "leaf_paths", "chsh_target", "brgp_target"]

#: The value given to an evaluation that produced NaN (maximised objectives get -NAN_VALUE; nevergrad, which
#: minimises, receives +NAN_VALUE).
NAN_VALUE = 5e20


class Evaluation(eqx.Module):
    """One objective evaluation (every field a scalar array; batched under ``vmap``).

    value: what searchers maximise (score - penalty, or -NAN_VALUE); score: target mean (+ kappa std);
    mean / std: the target's prediction (std 0 for plain functions); brgp: sqrt|I| + sqrt|J| (NaN outside the
    network); penalty: total penalty; nan: True when NaN appeared anywhere.
    """

    value: jax.Array
    score: jax.Array
    mean: jax.Array
    std: jax.Array
    brgp: jax.Array
    penalty: jax.Array
    nan: jax.Array


def leaf_paths(tree) -> list[str]:
    """Dotted paths of the inexact-array leaves (``"source1.theta"``, ``"alice.angles"``), in flattening order."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    out = []
    for path, leaf in leaves:
        if eqx.is_inexact_array(leaf):
            out.append(jax.tree_util.keystr(path).lstrip(".").replace("[", ".").replace("]", ""))
    return out


class Objective(eqx.Module):
    """``target(p) - penalties``; see the module docstring.

    Attributes:
        target: ``Callable[[p-array], Array | Prediction]`` (a function or an equinox module, e.g. a surrogate).
        kappa: weight of the prediction's std in the score.
        brgp_max: BRGP limit (None: no BRGP constraint); brgp_weight: its penalty weight.
        bounds: ``((path, lo, hi), ...)`` on searched leaves; bound_weight: their penalty weight.
    """

    target: Callable
    kappa: float = eqx.field(default=0.0, static=True)
    brgp_max: float | None = eqx.field(default=None, static=True)
    brgp_weight: float = eqx.field(default=10.0, static=True)
    bounds: tuple = eqx.field(default=(), static=True)
    bound_weight: float = eqx.field(default=10.0, static=True)
    tripartite_weight: float = eqx.field(default=0.0, static=True)

    def __check_init__(self):
        if not callable(self.target):
            raise ValueError("target must be callable on a behaviour array")
        for b in self.bounds:
            if len(b) != 3 or not b[1] <= b[2]:
                raise ValueError(f"bounds must be (path, lo, hi) with lo <= hi; got {b!r}")

    @classmethod
    def make(cls, target, *, kappa=0.0, brgp_max=None, brgp_weight=10.0, bounds: Mapping | None = None,
             bound_weight=10.0, tripartite_weight=0.0) -> "Objective":
        items = tuple((str(k), float(v[0]), float(v[1])) for k, v in sorted((bounds or {}).items()))
        if not (math.isfinite(float(tripartite_weight)) and float(tripartite_weight) >= 0):
            raise ValueError(f"tripartite_weight must be a finite number >= 0; got {tripartite_weight!r}")
        return cls(target, float(kappa), None if brgp_max is None else float(brgp_max), float(brgp_weight), items,
                   float(bound_weight), float(tripartite_weight))

    def __call__(self, strategy) -> Evaluation:
        # the Born rule in the precision of the searched leaves (traceable: no numpy round trip)
        p = strategy.probabilities(_leaf_dtype(strategy))
        beh = Behaviour(p, strategy.scenario)
        out = self.target(p)
        if not isinstance(out, (jax.Array, np.ndarray, float, int)) and hasattr(out, "mean") and hasattr(out, "std"):
            mean, std = jnp.asarray(out.mean).reshape(()), jnp.asarray(out.std).reshape(())
        else:
            mean = jnp.asarray(out).reshape(())
            std = jnp.zeros_like(mean)
        score = mean + self.kappa * std
        penalty = jnp.zeros_like(score)
        brgp = jnp.full_like(score, jnp.nan)
        if isinstance(beh.scenario, BilocalScenario):
            brgp = brgp_value(beh).astype(score.dtype)
            if self.brgp_max is not None:
                penalty = penalty + self.brgp_weight * jax.nn.relu(brgp - self.brgp_max) ** 2
            if self.tripartite_weight:
                penalty = penalty + self.tripartite_weight * _NL3(p).astype(score.dtype)
        if self.bounds:
            paths = leaf_paths(strategy)
            leaves = [x for x in jax.tree_util.tree_leaves(strategy) if eqx.is_inexact_array(x)]
            by_path = dict(zip(paths, leaves))
            for path, lo, hi in self.bounds:
                if path not in by_path:
                    raise ValueError(f"bound on unknown parameter {path!r}; searched parameters: {paths}")
                x = by_path[path]
                penalty = penalty + self.bound_weight * jnp.sum(jax.nn.relu(x - hi) ** 2 + jax.nn.relu(lo - x) ** 2)
        raw = score - penalty
        nan = jnp.isnan(raw) | jnp.isnan(score) | jnp.any(jnp.isnan(p))
        value = jnp.where(nan, -NAN_VALUE, raw)
        return Evaluation(value, score, mean, std, brgp, penalty, nan)


#: The exact tripartite NL with its dual gradient (built once: its host function is static, so jitted searches
#: that use it compile once).
_NL3 = exact_tripartite_nl()


def _leaf_dtype(strategy):
    leaves = [x for x in jax.tree_util.tree_leaves(strategy) if eqx.is_inexact_array(x)]
    return leaves[0].dtype if leaves else jnp.float32


# ----------------------------------------------------------------------------------- surrogate-free targets
def chsh_target(p) -> jax.Array:
    """CHSH value ``E00 + E01 + E10 - E11`` of a binary 2x2 behaviour ``p[a, b, x, y]`` (local bound 2)."""
    s = jnp.array([1.0, -1.0], dtype=p.dtype)
    e = jnp.einsum("abxy,a,b->xy", p, s, s)
    return e[0, 0] + e[0, 1] + e[1, 0] - e[1, 1]


def brgp_target(p) -> jax.Array:
    """The BRGP quantity ``sqrt|I| + sqrt|J|`` of a bilocal behaviour array (> 1 proves nonbilocality)."""
    return brgp_value(Behaviour(p))
