"""Labelled rows of a network family's behaviours (the triangle): ``surrogates.make_chunk``-style, a pure function.

``network_chunk(spec, seed, i, n)`` draws ``n`` members of ``family_from_spec(spec)`` with the JAX key
``fold_in(PRNGKey(seed), i)`` (chunk i of a dataset; the same arguments give the same rows), computes their float64
behaviours and certifies each with ``certify.network_nonlocality`` (the interval, its status and the inflation
behind the lower bound). Arrays, one row per member:

    behaviours (n, *shape) float64, params (n, P) float64 (the family's flattened searched parameters),
    network_lower, network_upper (n,) float64, network_status (n,) uint8 (index in ``certify.Status``: optimal 0,
    inaccurate 1, limit 2, infeasible 3, error 4 -- the run files' status codes), network_inflation (n,) str
    ("" when the lower bound is the trivial 0), network_checked (n,) bool (model and certificate re-checked),
    network_seconds (n,) float64, nonlocal (n,) bool (``lower > ZERO_TOL``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

import certify
from bellcore import NetworkScenario

from ._family import family_from_spec
from ._learn import behaviours_of
from ._strategy import params_of

__all__ = ["network_chunk", "NETWORK_LABELS"]

#: Label arrays of a network chunk (beside ``behaviours`` and ``params``).
NETWORK_LABELS = ("network_lower", "network_upper", "network_status", "network_inflation", "network_checked",
                  "network_seconds", "nonlocal")

_STATUS_INDEX = {s: k for k, s in enumerate(certify.Status)}


def network_chunk(spec: Mapping[str, Any], seed: int, i: int, n: int,
                  certify_options: Mapping[str, Any] | None = None) -> dict[str, np.ndarray]:
    """Chunk ``i`` (``n`` rows) of the labelled dataset of the network family ``spec`` (module docstring)."""
    fam = family_from_spec(spec)
    if not isinstance(fam.scenario, NetworkScenario):
        raise ValueError(f"network_chunk needs a network family (e.g. scenario = 'triangle'); got {fam.scenario}")
    if int(n) < 0 or int(i) < 0:
        raise ValueError(f"need n >= 0 and i >= 0; got n={n}, i={i}")
    keys = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(int(seed)), int(i)), int(n))
    draw = jax.jit(jax.vmap(lambda k: ravel_pytree(params_of(fam.init(k))[0])[0]))
    params = np.asarray(draw(keys), np.float64) if n else np.zeros((0, fam.born64[1]))
    beh = behaviours_of(fam, params)
    out: dict[str, Any] = {k: [] for k in NETWORK_LABELS}
    for p in beh:
        r = certify.network_nonlocality(p, fam.scenario, **dict(certify_options or {}))
        out["network_lower"].append(r.lower)
        out["network_upper"].append(r.upper)
        out["network_status"].append(_STATUS_INDEX[r.status])
        out["network_inflation"].append(r.inflation)
        out["network_checked"].append(r.certificate_checked)
        out["network_seconds"].append(r.seconds)
        out["nonlocal"].append(r.is_nonlocal)
    return {
        "behaviours": np.ascontiguousarray(beh), "params": params,
        "network_lower": np.asarray(out["network_lower"], np.float64),
        "network_upper": np.asarray(out["network_upper"], np.float64),
        "network_status": np.asarray(out["network_status"], np.uint8),
        "network_inflation": np.asarray(out["network_inflation"], dtype=str),
        "network_checked": np.asarray(out["network_checked"], bool),
        "network_seconds": np.asarray(out["network_seconds"], np.float64),
        "nonlocal": np.asarray(out["nonlocal"], bool),
    }
