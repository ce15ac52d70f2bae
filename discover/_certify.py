"""Certification of search candidates, and what counts as a discovery.

``certify_candidates(results, constraints)`` takes ``SearchResult``s, recomputes every candidate's behaviour in
float64 from its parameters, drops duplicates up to relabelling (``signature``), and certifies the best
``top`` distinct ones:

- bipartite: NL with its dual Bell functional (``certify.nonlocality``); discovery = certified NL lower bound
  > ``certify``'s zero tolerance (exact-arithmetic verdict, certificate re-checked without a solver);
- bilocal network: the BRGP quantity, tripartite NL (``certify.tripartite_nonlocality``) and the certified NBL
  interval (``certify.nonbilocality``); discovery = NBL lower bound > 1e-9 with its bilocal model checked,
  and BRGP <= ``brgp_max`` (when set), and tripartite NL = 0 (its explicit local model at distance <= 1e-9,
  when ``tripartite_local``).

Parameter bounds, when given, must hold too. The rule itself is ``discover._discovery.is_discovery`` (one
definition, also used by the campaign's certify stage). ``check_discoveries`` re-derives every constraint from the stored
float64 behaviours (and parameters), independently of the values recorded at certification.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

import certify
from bellcore import Behaviour, BilocalScenario, brgp_value

from ._discovery import Constraints, bounds_hold, is_discovery, meets_constraints
from ._search import SearchResult
from ._strategy import params_of

__all__ = ["Constraints", "Candidates", "certify_candidates", "signature", "check_discoveries", "ZERO_TOL"]

#: Certified values at or below this are zero (LP round-off is ~1e-15; certify reports local at 1e-9 too).
ZERO_TOL = certify.ZERO_TOL
_SOLVED = certify.SOLVED


@dataclass(frozen=True)
class Candidates:
    """Certified candidates; every array has one row per candidate (N,), NaN where not computed.

    behaviour (N, *shape) float64, params (N, P) float64, value: objective value in the search,
    pred_mean / pred_std: the predictor's output (NaN without one), nl_lower / nl_upper / nl_status: bipartite NL
    (lower: the dual Bell functional's certified violation), brgp, tripartite_nl (its certified upper bound: the
    distance to an explicit tripartite local model) / tripartite_status, nbl_lower / nbl_upper / nbl_status,
    discovery (bool), searcher (str), theta (source angle, NaN if the family has none), seconds: certification
    time per candidate.
    """

    scenario: object
    behaviour: np.ndarray
    params: np.ndarray
    value: np.ndarray
    pred_mean: np.ndarray
    pred_std: np.ndarray
    nl_lower: np.ndarray
    nl_upper: np.ndarray
    nl_status: list
    brgp: np.ndarray
    tripartite_nl: np.ndarray
    tripartite_status: list
    nbl_lower: np.ndarray
    nbl_upper: np.ndarray
    nbl_status: list
    discovery: np.ndarray
    searcher: list
    theta: np.ndarray
    seconds: np.ndarray

    def __len__(self) -> int:
        return len(self.value)

    @property
    def certified_lower(self) -> np.ndarray:
        """NBL lower bound (network) or NL lower bound (bipartite)."""
        return self.nbl_lower if isinstance(self.scenario, BilocalScenario) else self.nl_lower

    def best_discovery(self) -> int | None:
        """Index of the discovery with the largest certified lower bound (None if there is none)."""
        idx = np.flatnonzero(self.discovery)
        return None if idx.size == 0 else int(idx[np.argmax(self.certified_lower[idx])])


def signature(p: np.ndarray, decimals: int = 5) -> bytes:
    """Relabelling invariant of a behaviour: its entries sorted and rounded. Relabelling settings, outcomes or
    parties permutes the entries of p, so equivalent behaviours share a signature (the converse need not hold:
    two inequivalent behaviours with the same multiset of entries are merged too, an accepted loss)."""
    return np.round(np.sort(np.asarray(p, dtype=np.float64).ravel()), decimals).tobytes()


def _bounds_hold(strategy, bounds: Mapping[str, tuple[float, float]]) -> bool:
    return bounds_hold(params_of(strategy)[0], bounds) if bounds else True


def certify_candidates(
    results: Sequence[SearchResult],
    constraints: Constraints = Constraints(),
    *,
    top: int = 8,
    predict: Callable | None = None,
    nbl_tol: float = 1e-5,
    nbl_time_limit: float = 30.0,
    nbl_max_nodes: int = 20_000,
    seed: int = 0,
    screen: bool = True,
    progress: Callable[[int, int, Mapping[str, float]], None] | None = None,
) -> Candidates:
    """Certify the ``top`` best distinct candidates of ``results`` (ranked by search value, all searchers
    pooled; the best of each searcher is always included).

    ``screen``: before the (expensive) NBL certification, check the cheap constraints of every pooled candidate
    (BRGP, and tripartite NL: one small LP, ~ms) and certify those that pass first (each searcher's best passing
    candidate, then the rest by value); candidates failing a constraint fill remaining places only. Without it,
    each searcher's best and then the best by value are certified whatever their constraints.
    ``predict(p) -> Prediction | Array`` (optional): recorded as pred_mean / pred_std. ``nbl_*`` are passed to
    ``certify.nonbilocality`` (a time or node limit leaves a valid, wider interval with status ``limit``).
    """
    pool = []  # (value, searcher, strategy, params row)
    for res in results:
        for i in range(len(res.values)):
            pool.append((float(res.values[i]), res.searcher, res.strategy(i), res.params[i], i == 0))
    pool.sort(key=lambda t: (not t[4], -t[0]))  # each searcher's best first, then by value
    seen, chosen = set(), []
    for item in pool:
        beh = item[2].behaviour(np.float64)
        sig = signature(beh.p)
        if sig in seen:
            continue
        seen.add(sig)
        chosen.append((item, beh))
    if screen:
        chosen = _screened(chosen, constraints, top)
    else:
        firsts = [c for c in chosen if c[0][4]]
        rest = sorted([c for c in chosen if not c[0][4]], key=lambda c: -c[0][0])
        chosen = (firsts + rest)[: max(top, len(firsts))]
    rows = []
    t_all = time.perf_counter()
    for n, ((value, name, strat, flat, _), beh) in enumerate(chosen):
        t0 = time.perf_counter()
        rows.append(_certify_one(beh, strat, value, name, flat, constraints, predict, nbl_tol, nbl_time_limit,
                                 nbl_max_nodes, seed))
        rows[-1]["seconds"] = time.perf_counter() - t0
        if progress is not None:
            found = sum(r["discovery"] for r in rows)
            progress(n + 1, len(chosen), {"discoveries": float(found), "seconds": time.perf_counter() - t_all})
    return _stack(rows, results)


def _screened(chosen, cons: Constraints, top: int) -> list:
    """Order candidates: each searcher's best passing the cheap constraints, then passing ones by value, then the
    rest by value; keep ``top`` (at least one per searcher)."""

    def passes(item, beh) -> bool:
        # the constraints part of ``is_discovery``, on the cheap values (tripartite NL: one small LP)
        if not isinstance(beh.scenario, BilocalScenario):
            return _bounds_hold(item[2], cons.bounds)
        tri = math.nan
        if cons.tripartite_local:
            r3 = certify.tripartite_nonlocality(beh, validate=False)
            tri = r3.upper if r3.status in _SOLVED else math.nan
        return meets_constraints(cons, bilocal=True, brgp=float(brgp_value(beh)), tripartite_nl=tri,
                                 bounds_ok=_bounds_hold(item[2], cons.bounds))

    flagged = [(passes(item, beh), item, beh) for item, beh in chosen]
    firsts, seen_names = [], set()
    for ok, item, beh in sorted(flagged, key=lambda t: (not t[0], -t[1][0])):
        if item[1] not in seen_names:
            seen_names.add(item[1])
            firsts.append((ok, item, beh))
    rest = sorted([t for t in flagged if not any(t[1] is f[1] for f in firsts)], key=lambda t: (not t[0], -t[1][0]))
    ordered = sorted(firsts, key=lambda t: (not t[0], -t[1][0])) + rest
    return [(item, beh) for _, item, beh in ordered[: max(top, len(firsts))]]


def _certify_one(beh, strat, value, name, flat, cons, predict, tol, time_limit, max_nodes, seed) -> dict:
    nan = math.nan
    row = dict(behaviour=beh.numpy(), params=np.asarray(flat, np.float64), value=value, searcher=name,
               theta=strat.theta, pred_mean=nan, pred_std=nan, nl_lower=nan, nl_upper=nan, nl_status="",
               brgp=nan, tripartite_nl=nan, tripartite_status="", nbl_lower=nan, nbl_upper=nan, nbl_status="",
               discovery=False)
    if predict is not None:
        out = predict(jnp.asarray(beh.p, dtype=jnp.float32))
        if hasattr(out, "std") and not hasattr(out, "shape"):
            row["pred_mean"], row["pred_std"] = float(np.asarray(out.mean)), float(np.asarray(out.std))
        else:
            row["pred_mean"], row["pred_std"] = float(np.asarray(out)), 0.0
    ok_bounds = _bounds_hold(strat, cons.bounds)
    if isinstance(beh.scenario, BilocalScenario):
        row["brgp"] = float(brgp_value(beh))
        r3 = certify.tripartite_nonlocality(beh)
        row["tripartite_status"] = str(r3.status)
        if r3.status in _SOLVED:
            row["tripartite_nl"] = r3.upper  # distance to an explicit local model: "= 0" is certified by it
        r = certify.nonbilocality(beh, tol=tol, time_limit=time_limit, max_nodes=max_nodes, seed=seed)
        row["nbl_status"] = str(r.status)
        row["nbl_lower"], row["nbl_upper"] = r.lower, r.upper
        row["discovery"] = is_discovery(r, cons, bilocal=True, brgp=row["brgp"], tripartite_nl=row["tripartite_nl"],
                                        bounds_ok=ok_bounds)
    else:
        r = certify.nonlocality(beh)
        row["nl_status"] = str(r.status)
        if r.status in _SOLVED:
            row["nl_lower"], row["nl_upper"] = r.lower, r.upper
        row["discovery"] = is_discovery(r, cons, bilocal=False, bounds_ok=ok_bounds)
    return row


def _stack(rows: list[dict], results) -> Candidates:
    scenario = rows[0]["behaviour"] if rows else None
    if rows:
        scenario = Behaviour(rows[0]["behaviour"]).scenario
    elif results:
        scenario = results[0].strategy(0).scenario if len(results[0].params) else None

    def col(k, dtype=np.float64):
        return np.asarray([r[k] for r in rows], dtype=dtype)

    shape = scenario.shape if scenario is not None else ()
    width = rows[0]["params"].shape[0] if rows else 0
    return Candidates(
        scenario=scenario,
        behaviour=np.stack([r["behaviour"] for r in rows]) if rows else np.zeros((0, *shape)),
        params=np.stack([r["params"] for r in rows]) if rows else np.zeros((0, width)),
        value=col("value"), pred_mean=col("pred_mean"), pred_std=col("pred_std"),
        nl_lower=col("nl_lower"), nl_upper=col("nl_upper"), nl_status=[r["nl_status"] for r in rows],
        brgp=col("brgp"), tripartite_nl=col("tripartite_nl"), tripartite_status=[r["tripartite_status"] for r in rows],
        nbl_lower=col("nbl_lower"), nbl_upper=col("nbl_upper"), nbl_status=[r["nbl_status"] for r in rows],
        discovery=col("discovery", bool), searcher=[r["searcher"] for r in rows], theta=col("theta"),
        seconds=col("seconds"),
    )


def check_discoveries(behaviour: np.ndarray, discovery: np.ndarray, constraints: Constraints,
                      nbl_lower: np.ndarray | None = None) -> list[str]:
    """Re-derive every constraint of each row marked a discovery from its stored float64 behaviour alone.

    Recomputes: validity of the behaviour; BRGP; tripartite NL (a fresh LP); bipartite NL (a fresh LP, its
    certificate re-checked); and that the stored NBL lower bound is positive. Returns the problems found
    (empty when every discovery holds up).
    """
    problems = []
    for i in np.flatnonzero(np.asarray(discovery, dtype=bool)):
        beh = Behaviour(np.asarray(behaviour[i], dtype=np.float64))
        try:
            beh.validate(atol=1e-7)
        except ValueError as e:
            problems.append(f"row {i}: invalid behaviour: {e}")
            continue
        if isinstance(beh.scenario, BilocalScenario):
            b = float(brgp_value(beh))
            if constraints.brgp_max is not None and not b <= constraints.brgp_max:
                problems.append(f"row {i}: BRGP {b:.6f} > {constraints.brgp_max}")
            if constraints.tripartite_local:
                r3 = certify.tripartite_nonlocality(beh)
                if r3.status not in _SOLVED or not r3.upper <= ZERO_TOL:
                    problems.append(f"row {i}: tripartite NL {r3.upper:.3g} ({r3.status}) is not 0")
            if nbl_lower is not None and not nbl_lower[i] > ZERO_TOL:
                problems.append(f"row {i}: NBL lower bound {nbl_lower[i]} is not positive")
        else:
            r = certify.nonlocality(beh)
            if not (r.is_nonlocal and certify.check_nonlocality(beh, r).ok):
                problems.append(f"row {i}: NL lower bound {r.lower:.3g} not certified positive")
    return problems
