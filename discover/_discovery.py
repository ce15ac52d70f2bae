"""What a discovery is: one definition (the constraints and the check) used by every place that decides it.

A certified candidate is a **discovery** when

- its certified lower bound is positive (NL for a Bell pair, NBL for the bilocal network, the distance to the
  network-local set for any ``certify.NetworkResult``, e.g. the triangle: ``lower > ZERO_TOL``) and the
  certificate passed its solver-free re-check (``certificate_checked``; for a network result: the model's
  recomputed distance and the inflation certificate's exact re-check);
- its searched parameters lie inside every ``bounds`` interval of the constraints;
- bilocal network only: ``sqrt|I| + sqrt|J| <= brgp_max`` (when set; a missing BRGP value fails), and, when
  ``tripartite_local``, its certified tripartite NL (the distance to an explicit tripartite local model, NaN when
  not certified) is at most ``ZERO_TOL``.

``discover.certify_candidates`` (the ``discover`` command), ``discover.network_search`` (``bilocal=False``) and the
campaign's certify stage (``runs/pipeline/_certify_stage.py``) all call ``is_discovery``; the constraints of a stored discovery run are read back with
``Constraints.from_run_config``, which refuses a damaged config instead of dropping constraints.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import certify

__all__ = ["Constraints", "is_discovery", "meets_constraints", "certified_positive", "bounds_hold",
           "bounds_hold_flat", "CONSTRAINT_KEYS"]

#: Keys of a ``[constraints]`` table.
CONSTRAINT_KEYS = ("brgp_max", "tripartite_local", "bounds")

ZERO_TOL = certify.ZERO_TOL


def _number(x: Any, what: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(float(x)):
        raise ValueError(f"{what} must be a finite number; got {x!r}")
    return float(x)


@dataclass(frozen=True)
class Constraints:
    """What a discovery must satisfy beyond a certified positive NL / NBL lower bound.

    brgp_max: bilocal only, ``sqrt|I| + sqrt|J| <= brgp_max`` (None: no constraint).
    tripartite_local: bilocal only, tripartite NL must be 0.
    bounds: ``{path: (lo, hi)}`` on searched parameters (as in ``Objective``).
    """

    brgp_max: float | None = None
    tripartite_local: bool = False
    bounds: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"brgp_max": self.brgp_max, "tripartite_local": self.tripartite_local,
                "bounds": {k: list(v) for k, v in self.bounds.items()}}

    @classmethod
    def from_config(cls, table: Any) -> "Constraints":
        """A ``[constraints]`` table (``CONSTRAINT_KEYS``), every value checked; raises ``ValueError``."""
        if table is None:
            table = {}
        if not isinstance(table, Mapping):
            raise ValueError(f"[constraints] must be a table; got {type(table).__name__}")
        bad = set(table) - set(CONSTRAINT_KEYS)
        if bad:
            raise ValueError(f"unknown key(s) {sorted(bad)} in [constraints]; allowed: {sorted(CONSTRAINT_KEYS)}")
        b = table.get("brgp_max")
        brgp_max = None if b is None else _number(b, "[constraints] brgp_max")
        tri = table.get("tripartite_local", False)
        if not isinstance(tri, bool):
            raise ValueError(f"[constraints] tripartite_local must be true or false; got {tri!r}")
        raw = table.get("bounds", {}) or {}
        if not isinstance(raw, Mapping):
            raise ValueError("[constraints] bounds must be a table {path = [lo, hi]}")
        bounds = {}
        for k, v in raw.items():
            if not isinstance(v, (list, tuple)) or len(v) != 2:
                raise ValueError(f"[constraints] bounds {k!r} must be [lo, hi]; got {v!r}")
            lo, hi = (_number(x, f"[constraints] bounds {k!r}") for x in v)
            if lo > hi:
                raise ValueError(f"[constraints] bounds {k!r}: lo {lo} > hi {hi}")
            bounds[str(k)] = (lo, hi)
        return cls(brgp_max, tri, bounds)

    @classmethod
    def from_run_config(cls, config_json: Any) -> "Constraints":
        """The constraints of a discovery run from its ``/config`` JSON; a config that does not decode, or whose
        ``constraints`` are malformed, raises ``ValueError`` (never an empty set that would drop a check)."""
        if isinstance(config_json, bytes):
            config_json = config_json.decode("utf-8", "replace")
        if not isinstance(config_json, str):
            raise ValueError(f"the discovery run's config is not JSON text ({type(config_json).__name__})")
        try:
            cfg = json.loads(config_json)
        except ValueError as e:
            raise ValueError(f"the discovery run's config is not valid JSON ({e})") from None
        if not isinstance(cfg, Mapping):
            raise ValueError("the discovery run's config is not a JSON object")
        return cls.from_config(cfg.get("constraints", {}))


def certified_positive(result) -> bool:
    """Certified lower bound > 0 with the certificate re-checked: an NBL result (``is_nonbilocal``), an NL one or a
    network one (``certify.NetworkResult``: ``is_nonlocal``)."""
    positive = result.is_nonbilocal if hasattr(result, "is_nonbilocal") else result.is_nonlocal
    return bool(positive and result.certificate_checked)


def bounds_hold(params, bounds: Mapping[str, tuple[float, float]]) -> bool:
    """Every leaf of the parameter pytree ``params`` named in ``bounds`` lies in its ``[lo, hi]``.

    A bound on a path the parameters do not have raises ``ValueError`` (a misspelt path would otherwise pass)."""
    if not bounds:
        return True
    import jax

    from ._objective import leaf_paths

    by_path = dict(zip(leaf_paths(params), jax.tree_util.tree_leaves(params)))
    for path, (lo, hi) in bounds.items():
        if path not in by_path:
            raise ValueError(f"bounds name {path!r}, not a parameter of the family ({', '.join(sorted(by_path))})")
        x = np.asarray(by_path[path], dtype=np.float64)
        if np.any(x < lo) or np.any(x > hi):
            return False
    return True


def bounds_hold_flat(family, flat: np.ndarray, bounds: Mapping[str, tuple[float, float]]) -> bool:
    """``bounds_hold`` for a flattened parameter row (as stored in ``/candidates/params``) of ``family``."""
    if not bounds:
        return True
    import jax
    from jax.flatten_util import ravel_pytree

    from ._strategy import params_of

    params0, _ = params_of(family.init(jax.random.PRNGKey(0)))
    vec0, unravel = ravel_pytree(params0)
    flat = np.asarray(flat, dtype=np.float64).ravel()
    if flat.shape != vec0.shape:
        raise ValueError(f"a stored parameter row has {flat.size} entries; the family has {vec0.size}")
    return bounds_hold(unravel(flat.astype(np.asarray(vec0).dtype)), bounds)


def meets_constraints(cons: Constraints, *, bilocal: bool, brgp: float, tripartite_nl: float,
                      bounds_ok: bool) -> bool:
    """The constraints part of the rule (no certification): bounds, and for the network BRGP and tripartite NL."""
    if not bounds_ok:
        return False
    if not bilocal:
        return True
    if cons.brgp_max is not None and not float(brgp) <= cons.brgp_max:  # NaN (no BRGP value) fails
        return False
    if cons.tripartite_local and not float(tripartite_nl) <= ZERO_TOL:  # NaN (not certified) fails
        return False
    return True


def is_discovery(result, cons: Constraints, *, bilocal: bool, brgp: float = math.nan,
                 tripartite_nl: float = math.nan, bounds_ok: bool = True) -> bool:
    """The rule: ``certified_positive(result)`` and ``meets_constraints``."""
    return certified_positive(result) and meets_constraints(cons, bilocal=bilocal, brgp=brgp,
                                                            tripartite_nl=tripartite_nl, bounds_ok=bounds_ok)
