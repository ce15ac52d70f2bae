"""The surrogate-free baseline's objective: certify's fast bilocal upper bound on NBL, optimised directly.

``upper_bound_objective()`` is a ``PythonObjective``: for each strategy, its float64 behaviour's NBL upper bound
from ``certify.nonbilocality`` stopped after the root box (``max_nodes=1``: the multi-start alternating exact LPs,
each solution an explicit bilocal model), minus the BRGP penalty of ``Objective``. No gradient, no model: this is
what a search can do with exact LPs alone at the same wall-clock budget.
"""

from __future__ import annotations

import math

import numpy as np

import certify
from bellcore import brgp_value

from ._search import PythonObjective

__all__ = ["upper_bound_objective"]


def upper_bound_objective(*, brgp_max: float | None = None, brgp_weight: float = 10.0, tripartite_weight: float = 0.0,
                          starts: int = 1, seed: int = 0) -> PythonObjective:
    """``strategy -> NBL upper bound - brgp_weight * relu(BRGP - brgp_max)**2 - tripartite_weight * NL3``
    (NaN if certify fails). ``tripartite_weight > 0`` steers towards tripartite-local behaviours (one more LP,
    ~2 ms), which a Fig. 3b discovery needs."""

    def fn(strategy) -> float:
        beh = strategy.behaviour(np.float64)
        try:
            r = certify.nonbilocality(beh, max_nodes=1, starts=starts, seed=seed, validate=False)
        except ValueError:
            return math.nan
        penalty = 0.0
        if brgp_max is not None:
            penalty = brgp_weight * max(0.0, float(brgp_value(beh)) - brgp_max) ** 2
        if tripartite_weight:
            r3 = certify.tripartite_nonlocality(beh, validate=False)
            penalty += tripartite_weight * (float(r3.upper) if r3.status in certify.SOLVED else math.nan)
        return float(r.upper) - penalty

    return PythonObjective(fn, "nbl-upper")
