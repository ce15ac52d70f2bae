"""Certified NBL labels at the lowest price: the branch and bound only for the rows that need it.

A training or active-learning label of the bilocal network is a certified interval ``lower <= NBL <= upper``.
Two cheap pieces often close it without any branching:

- **upper**: the multi-start alternating LPs (``nonbilocality(max_nodes=1)``), an explicit bilocal model whose
  recomputed distance to ``p`` is the bound (certificate re-checked without the solver);
- **lower**: the tripartite NL (one LP over the 64 deterministic points of three parties, no source independence).
  The bilocal set lies inside the tripartite-local set, so ``NBL >= tripartite NL``, and the tripartite LP's dual
  functional certifies its lower bound (``tripartite_nonlocality(...).lower``).

The label is one ``nonbilocality`` search given the tripartite lower bound (``known_lower``): it stops as soon as
``upper - max(its lower, tripartite lower) <= tol``, so the cheap rows cost the initial upper bound and the root
box alone, and the others branch without repeating them. The method that closed the interval is recorded:

- ``"model"``: closed before any branching with ``upper <= tol`` (the bilocal model's distance is at most ``tol``
  above 0); most members of a quantum family are bilocal;
- ``"tripartite"``: closed before any branching with ``upper > tol``: the tripartite bound (or the root box, the
  tripartite-local LP with the valid equalities) already explains all of the distance (the maxima of NBL-only
  searches are mostly such points);
- ``"branch-and-bound"``: the search branched (its own lower bound, raised to the tripartite one when that is
  higher), with its status (``limit`` leaves a valid, wider interval).

Datasets (``surrogates.make_chunk``) and the learning loop label through this one function.
Measured on Fig. 3b family members (docs/discover.md): most rows close as ``"model"``. The result satisfies the
same usable-label rule as a plain ``nonbilocality`` result (``usable_labels``: status optimal).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from ._nbl import nonbilocality
from ._nl3 import tripartite_nonlocality
from ._result import SOLVED, Status

__all__ = ["NBLLabel", "nbl_label", "LABEL_METHODS"]

#: How a label's interval was closed, in order of cost (stored in run files as these names).
LABEL_METHODS = ("model", "tripartite", "branch-and-bound")


@dataclass(frozen=True)
class NBLLabel:
    """One certified NBL label.

    Attributes:
        lower, upper: the certified interval (NaN when it failed); status: ``Status`` of the interval
            (``optimal`` when ``upper - lower <= tol``); tripartite: the tripartite NL (distance to an explicit
            tripartite local model; NaN if its LP failed); method: one of ``LABEL_METHODS``; seconds: wall time.
    """

    lower: float
    upper: float
    status: Status
    tripartite: float
    method: str
    seconds: float

    @property
    def midpoint(self) -> float:
        return 0.5 * (self.lower + self.upper)


def nbl_label(p, *, tol: float = 1e-4, time_limit: float = 30.0, max_nodes: int = 20_000, seed: int = 0,
              starts: int = 2, validate: bool = True) -> NBLLabel:
    """The certified NBL interval of one bilocal behaviour ``p`` (shape (2,2,2,2,2,2) or (2,4,2,2,1,2)), closed by
    the cheapest method that reaches the gap ``tol`` (module docstring). ``ValueError`` on malformed input."""
    if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a positive finite number; got {tol!r}")
    t0 = time.perf_counter()
    r3 = tripartite_nonlocality(p, validate=validate)
    tri_ok = r3.status in SOLVED
    tri_lower = max(0.0, float(r3.lower)) if tri_ok else 0.0
    tri = float(r3.upper) if tri_ok else math.nan
    # one search: it stops as soon as upper - max(its own lower, tri_lower) <= tol, so a row that the initial
    # upper bound and the root box (or the tripartite bound) close costs exactly the cheap pass, and a row that
    # needs branching does not pay for the root LP and the multi-start upper bound twice
    full = nonbilocality(p, tol=tol, time_limit=time_limit, max_nodes=max_nodes, seed=seed, starts=starts,
                         validate=False, known_lower=tri_lower)
    lower, upper = float(full.lower), float(full.upper)
    status = full.status
    if status != Status.ERROR and upper - lower <= tol:
        status = Status.OPTIMAL
    if not (np.isfinite(lower) and np.isfinite(upper)):
        status = Status.ERROR
    if status == Status.OPTIMAL and full.nodes <= 1:  # closed before any branching
        method = "model" if upper <= tol else "tripartite"
    else:
        method = "branch-and-bound"
    return NBLLabel(lower, upper, status, tri, method, time.perf_counter() - t0)
