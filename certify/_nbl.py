"""NBL: certified distance of a network behaviour to the (non-convex) bilocal set.

``nonbilocality(p)`` returns an interval ``[lower, upper]``:

- ``upper`` is the distance from p to an explicit ``BilocalModel`` (returned as ``model``; recomputed from the
  model without any solver, see ``check_bilocal_model``). Models come from exact LPs at a fixed source
  distribution, alternated between the two sources and multi-started, then from every box of the search.
- ``lower`` comes from a global best-first branch-and-bound over boxes of the two source distributions with
  McCormick envelopes (``_nbl_lp``, ``_nbl_bnb``); the root box is the tripartite-local LP with the valid
  equalities of docs/measures.md.

The search stops when ``upper - lower <= tol`` (status ``optimal``) or at ``max_nodes`` / ``time_limit``
(status ``limit``; the interval so far is still valid). Normalisation ``1/(2 * number of setting combinations)``:
1/16 for the binary variant, 1/8 for the BSM variant.

Werner sources ``v |Phi+><Phi+| + (1 - v) I/4`` with the BRGP measurements (``bellcore.bilocal_werner``),
certified here (``benchmarks/nbl_speed.py --werner``, tol 1e-5, every interval contains the formula):

- binary variant: NBL = max(0, (sqrt2 v - 1)/4) (docs/golden.md);
- BSM variant (b = 2 b0 + b1, b0 the Z(x)Z bit, b1 the X(x)X bit, outcome 0 <-> +1): NBL = max(0, (v^2 - 1/2)/4),
  e.g. v = 0.75: 0.015625, 0.8: 0.035, 0.9: 0.0775, 1: 0.125. The paper's "NBL = v^2 - 1/2" is exactly 4x this:
  it is ``1/2 sum |q - p|`` over all entries, without dividing by the 4 setting pairs (x, z).
  Both vanish at the BRGP threshold v = 1/sqrt2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from bellcore import Behaviour, BilocalScenario

from ._nbl_bnb import branch_and_bound
from ._nbl_model import BilocalModel, as_bilocal_behaviour, check_bilocal_model
from ._result import IntervalValue, Status, _num, raise_unless_solved

__all__ = ["NonbilocalityResult", "nonbilocality", "check_bilocal_model", "BilocalModel"]

#: Largest tolerated difference between the search's upper bound and its solver-free recomputation.
MODEL_CHECK_TOL = 1e-9


@dataclass(frozen=True, eq=False)
class NonbilocalityResult(IntervalValue):
    """Certified NBL interval of one behaviour.

    Attributes:
        lower, upper: certified bounds, ``lower <= NBL <= upper``.
        value: ``upper`` when the status is in ``SOLVED``, else NaN.
        status: ``Status.OPTIMAL`` (gap <= tol), ``INACCURATE`` (the search closed its gap but the rebuilt model or
            failed box LPs reopened it; interval valid), ``LIMIT`` (node or time limit; interval still valid) or
            ``ERROR``.
        message: what stopped the search, in words, and how many LPs failed.
        solver_status: HiGHS's native statuses of the search's LPs: ``"kOptimal"`` when all solved, else the
            native status of each failure with its count (e.g. ``"kInfeasible x2"``).
        model: the ``BilocalModel`` whose distance to p is ``upper``.
        certificate_checked: the solver-free recomputation of ``upper`` from ``model`` agreed (it defines
            ``upper``).
        nodes: boxes solved; lps: LPs solved in all; seconds: wall time; upper_seconds / upper_lps /
            upper_initial: time, LPs and value of the initial multi-start upper bound alone (before the search).
        upper_dual: shape of p; the row duals of the entry rows of the exact LP (one source fixed) whose solution is
            ``model``: the derivative in p of that LP's value with its fixed source held fixed (envelope theorem; a
            subgradient where the dual is not unique). None when no model was found.
    """

    lower: float
    upper: float
    status: Status
    message: str
    model: BilocalModel | None
    scenario: BilocalScenario
    tol: float
    nodes: int = 0
    lps: int = 0
    seconds: float = 0.0
    upper_seconds: float = 0.0
    upper_lps: int = 0
    certificate_checked: bool = False
    upper_initial: float = math.nan
    solver_status: str = ""
    upper_dual: np.ndarray | None = None

    measure = "nbl"

    @property
    def is_nonbilocal(self) -> bool:
        """True when the certified lower bound is positive (beyond LP round-off)."""
        return self.certified_positive

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict; NaN becomes ``None``."""
        return {
            **self.interval_json(),
            "nonbilocal": self.is_nonbilocal,
            "model": None if self.model is None else self.model.to_json(),
            "certificate_checked": self.certificate_checked,
            "stats": {
                "nodes": self.nodes,
                "lps": self.lps,
                "seconds": self.seconds,
                "upper_seconds": self.upper_seconds,
                "upper_lps": self.upper_lps,
                "upper_initial": _num(self.upper_initial),
            },
        }


def nonbilocality(
    p: Behaviour | np.ndarray,
    *,
    tol: float = 1e-6,
    max_nodes: int = 200_000,
    time_limit: float = 120.0,
    seed: int = 0,
    starts: int = 2,
    validate: bool = True,
    throw: bool = False,
    known_lower: float | None = None,
) -> NonbilocalityResult:
    """Certified NBL interval of a bilocal-network behaviour.

    Args:
        p: a single ``Behaviour`` of a ``BilocalScenario``, or an array of shape (2,2,2,2,2,2) (binary variant)
            or (2,4,2,2,1,2) (bsm variant). Validated (normalisation, positivity, no-signalling; atol 1e-7).
        tol: stop when ``upper - lower <= tol``.
        max_nodes, time_limit: stop earlier with status ``limit``.
        seed: random starts of the upper-bound search (results are deterministic for a given seed).
        starts: number of alternating-LP starts of the initial upper bound.
        validate: check p first (skip only for behaviours validated already, as the batch API does).
        throw: raise ``CertificationError`` (carrying the result) when the status is not in ``SOLVED``.
        known_lower: a certified lower bound on NBL obtained elsewhere (``nbl_label`` passes the tripartite NL's
            dual-certified lower bound: the bilocal set lies in the tripartite-local one). The search stops once
            ``upper - max(lower, known_lower) <= tol`` and the returned ``lower`` is that maximum. None: the search's
            own bound alone (the interval then depends on nothing but this search).
    Raises:
        ValueError: malformed input or arguments.
    """
    if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a positive finite number; got {tol!r}")
    if int(max_nodes) < 1:
        raise ValueError(f"max_nodes must be >= 1; got {max_nodes!r}")
    if not (time_limit > 0):
        raise ValueError(f"time_limit must be positive; got {time_limit!r}")
    if int(starts) < 1:
        raise ValueError(f"starts must be >= 1; got {starts!r}")
    if known_lower is not None and not math.isfinite(known_lower):
        raise ValueError(f"known_lower must be finite or None; got {known_lower!r}")
    beh = as_bilocal_behaviour(p, validate)
    sc = beh.scenario
    nb, mb = sc.outcomes[1], sc.settings[1]
    q = beh.numpy().ravel()
    s = branch_and_bound(
        q, nb, mb, sc.normalisation, tol=float(tol), max_nodes=int(max_nodes), time_limit=float(time_limit),
        seed=seed, starts=int(starts), known_lower=-math.inf if known_lower is None else float(known_lower),
    )
    inc = s.incumbent
    if inc.t is None:
        return raise_unless_solved(NonbilocalityResult(
            s.lower if math.isfinite(s.lower) else 0.0, math.nan, Status.ERROR, s.message or "no bilocal model found",
            None, sc, float(tol), s.nodes, s.lps, s.seconds, s.upper_seconds, s.upper_lps, solver_status=s.solver_status,
        ), throw)
    model = BilocalModel.from_weights(inc.q1, inc.q2, inc.t, sc.variant)
    upper = check_bilocal_model(beh, model, validate=False)  # the rebuilt model defines the upper bound
    # (beh was validated above, at float32 tolerance for float32 input: do not re-validate its float64 copy)
    checked = abs(upper - s.upper) <= MODEL_CHECK_TOL + 1e-7 * abs(s.upper)
    lower = max(0.0, min(s.lower if known_lower is None else max(s.lower, known_lower), upper))
    gap = upper - lower
    if gap <= tol:
        status, message = Status.OPTIMAL, f"gap {gap:.3g} <= tol {tol:g} after {s.nodes} boxes"
    elif s.stopped in ("nodes", "time"):
        what = f"node limit {max_nodes}" if s.stopped == "nodes" else f"time limit {time_limit:g} s"
        status, message = Status.LIMIT, f"{what} reached with gap {gap:.3g} > tol {tol:g}"
    elif s.stopped == "gap":  # the search closed the gap but the rebuilt model or a failed box reopened it
        status, message = Status.INACCURATE, (
            f"search ended with gap {gap:.3g} > tol {tol:g} (rebuilt model {upper - s.upper:.3g} above the LP, "
            "or boxes whose LP failed)"
        )
    else:
        status, message = Status.ERROR, s.message or "search failed"
    if s.failures and s.message not in message:
        message = f"{message}; {s.message}"
    return raise_unless_solved(NonbilocalityResult(
        lower, upper, status, message, model, sc, float(tol), s.nodes, s.lps, s.seconds, s.upper_seconds,
        s.upper_lps, checked, s.upper_initial, s.solver_status, inc.dual.reshape(sc.shape),
    ), throw)
