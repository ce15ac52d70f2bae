"""Discovery campaigns over network strategy families (the triangle): search a certified inflation lower bound,
certify the best distinct candidates in full.

``network_search(family, ...)`` runs the ``discover.search`` searchers on ``network_objective`` -- the certified
lower bound of ONE cheap fanout inflation (``exact_inflation_lower``: every value an exactly re-checked bound,
gradient from the LP's optimal primal-dual pair) -- then pools the searchers' best distinct points (distinct up to
relabelling, ``best_distinct``), recomputes their behaviours in float64 and certifies each with
``certify.network_nonlocality`` (explicit network-local model above, the inflation ladder below). A candidate is a
discovery by the one rule of ``discover._discovery`` (``is_discovery``: certified lower > ZERO_TOL with the model
and certificate re-checked, parameter bounds held).

Why ``amplify``. Inside the region an inflation certifies nothing the bound is 0 and so is its gradient; random
triangle strategies all sit there (0 of 200 random members of the binary or 4-outcome pure-state family have a
positive fanout(1,1,2) bound). ``amplify = s > 0`` searches the bound at the behaviour pushed away from the
product of its marginals, ``q_s ~ max(0, q + s (q - q_A q_B q_C))`` renormalised (a valid behaviour when no party
has an input, so the bound is defined): a proxy with signal where the exact bound is flat (at s = 3, 8 of 60
binary and 12 of 60 four-outcome members are positive). It only steers the search: ``refine_steps`` then climbs
the exact bound (s = 0) from the proxy's best points, and candidates are certified at their own behaviour.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax.numpy as jnp
import numpy as np

import certify
from bellcore import NetworkScenario

from ._certify import signature
from ._discovery import Constraints, bounds_hold_flat, is_discovery
from ._family import Family
from ._learn import behaviours_of, best_distinct
from ._network_exact import exact_inflation_lower
from ._objective import Objective
from ._search import GradientSearch, NevergradSearch, RandomSearch, SearchResult, search

__all__ = ["network_objective", "amplified", "NetworkCandidate", "NetworkSearchResult", "network_search",
           "certify_network_candidates"]



def amplified(p, s: float):
    """``max(0, q + s (q - q_1 q_2 ... q_n)) / norm`` of a no-input network behaviour array ``p`` (outcomes first,
    then one setting per party): the correlations beyond the product of the single-party marginals scaled by
    1 + s. JAX, differentiable almost everywhere; ``s = 0`` returns p."""
    if s == 0:
        return p
    n = p.ndim // 2
    if any(int(d) != 1 for d in p.shape[n:]):
        raise ValueError("amplify needs a behaviour without inputs (every party with settings = 1)")
    q = p.reshape(p.shape[:n])
    prod = None
    for j in range(n):
        m = q.sum(axis=tuple(k for k in range(n) if k != j))
        prod = m if prod is None else jnp.multiply.outer(prod, m)
    r = jnp.maximum(q + s * (q - prod), 0.0)
    return (r / r.sum()).reshape(p.shape)


def network_objective(scenario: NetworkScenario, copies=(1, 1, 2), D0: float | None = None,
                      amplify: float = 0.0, time_limit: float | None = 10.0) -> Objective:
    """The search objective: the certified lower bound of the fanout inflation ``copies`` (``exact_inflation_lower``,
    at most ``time_limit`` seconds of LPs per evaluation) at the behaviour, or at ``amplified(p, amplify)`` when
    ``amplify > 0`` (module docstring)."""
    s = float(amplify)
    if not (math.isfinite(s) and s >= 0):
        raise ValueError(f"amplify must be a finite number >= 0; got {amplify!r}")
    bound = exact_inflation_lower(scenario, copies, D0, time_limit=time_limit)
    if s == 0:
        return Objective.make(bound)
    if any(m != 1 for m in scenario.settings):
        raise ValueError("amplify needs a network without inputs (every party with settings = 1)")
    return Objective.make(_Amplified(bound, s))


@dataclass(frozen=True)
class _Amplified:
    bound: Callable
    s: float

    def __call__(self, p):
        return self.bound(amplified(p, self.s))


@dataclass(frozen=True)
class NetworkCandidate:
    """One certified candidate.

    params: flattened searched parameters (float64, as searched); behaviour: its float64 behaviour array;
    search_value: the objective value the search gave it; searcher: who proposed it; result: the
    ``certify.NetworkResult`` (interval, model, certificate, inflation that gave ``lower``, seconds);
    discovery: ``is_discovery`` of the result under the constraints.
    """

    params: np.ndarray
    behaviour: np.ndarray
    search_value: float
    searcher: str
    result: Any
    discovery: bool

    @property
    def lower(self) -> float:
        return float(self.result.lower)

    @property
    def upper(self) -> float:
        return float(self.result.upper)

    def to_json(self) -> dict[str, Any]:
        r = self.result
        return {"params": self.params.tolist(), "search_value": self.search_value, "searcher": self.searcher,
                "lower": r.lower, "upper": r.upper, "status": r.status.value, "inflation": r.inflation,
                "certificate_checked": r.certificate_checked, "seconds": r.seconds, "discovery": self.discovery}


@dataclass(frozen=True)
class NetworkSearchResult:
    """A campaign's outcome: the searches (traces and kept points), the certified candidates (best certified lower
    first), what was searched, and wall times (s)."""

    family: Mapping[str, Any]
    scenario: NetworkScenario
    copies: tuple[int, ...]
    amplify: float
    searches: list[SearchResult]
    candidates: list[NetworkCandidate]
    search_seconds: float
    certify_seconds: float
    seconds: float
    constraints: Constraints = field(default_factory=Constraints)

    @property
    def discoveries(self) -> list[NetworkCandidate]:
        return [c for c in self.candidates if c.discovery]

    @property
    def best(self) -> NetworkCandidate | None:
        return self.candidates[0] if self.candidates else None

    def to_json(self) -> dict[str, Any]:
        return {"family": dict(self.family), "scenario": self.scenario.to_json(), "copies": list(self.copies),
                "amplify": self.amplify, "search_seconds": self.search_seconds,
                "certify_seconds": self.certify_seconds, "seconds": self.seconds,
                "searches": [{"searcher": s.searcher, "seconds": s.seconds, "best": float(s.trace.best[-1])
                              if len(s.trace.best) else math.nan, "evaluations": int(s.trace.evaluations[-1])
                              if len(s.trace.evaluations) else 0} for s in self.searches],
                "candidates": [c.to_json() for c in self.candidates],
                "discoveries": len(self.discoveries), "constraints": self.constraints.to_json()}


def network_search(
    family: Family,
    *,
    copies=(1, 1, 2),
    D0: float | None = None,
    amplify: float = 0.0,
    eval_time_limit: float | None = 10.0,
    searchers: Sequence[GradientSearch | NevergradSearch | RandomSearch] | None = None,
    steps: int = 20,
    refine_steps: int = 0,
    seed: int = 0,
    time_budget: float | None = None,
    starts: np.ndarray | None = None,
    certify_starts: bool = False,
    top: int = 4,
    certify_options: Mapping[str, Any] | None = None,
    constraints: Constraints | None = None,
    progress: Callable[[str, Mapping[str, Any]], None] | None = None,
) -> NetworkSearchResult:
    """Search ``family`` (a network family, e.g. ``family_from_spec({"scenario": "triangle", "outcomes": 2})``) for
    behaviours with a large certified inflation lower bound, then certify the ``top`` best distinct ones.

    Args:
        copies, D0, amplify, eval_time_limit: the objective (``network_objective``; seconds of LPs per evaluation).
        searchers: default ``RandomSearch(batch=32)`` and ``GradientSearch(starts=8)``; searcher i gets seed
            ``seed + i`` and ``time_budget`` seconds (each).
        steps: steps per searcher. refine_steps: then gradient ascent on the exact bound (amplify 0) from the
            ``top`` best distinct points found, for that many steps (0: none).
        starts: ``(K, P)`` flattened parameters for the gradient searchers' first starts (e.g. a known strategy).
        certify_starts: certify the given starts too, as they are (searcher ``"start"``): the baseline that says
            what the search added; a start that is a discovery is reported as one, marked by its searcher.
        top: candidates certified. certify_options: keyword arguments of ``certify.network_nonlocality``
            (``time_limit``, ``inflations``, ``seed``, ...). constraints: the discovery rule's (bounds only here).
        progress: ``progress(stage, info)`` after each search and each certification.
    Raises ``ValueError`` on a family that is not a network or on bad arguments.
    """
    t0 = time.perf_counter()
    sc = family.scenario
    if not isinstance(sc, NetworkScenario):
        raise ValueError(f"network_search needs a network family (a NetworkScenario); got {sc}")
    if int(top) < 1 or int(steps) < 1 or int(refine_steps) < 0:
        raise ValueError(f"need top >= 1, steps >= 1, refine_steps >= 0; got {top}, {steps}, {refine_steps}")
    cons = constraints or Constraints()
    if cons.brgp_max is not None or cons.tripartite_local:
        raise ValueError("brgp_max and tripartite_local are bilocal-network constraints; a network search takes bounds only")
    objective = network_objective(sc, copies, D0, amplify, eval_time_limit)
    searchers = list(searchers) if searchers is not None else [RandomSearch(batch=32), GradientSearch(starts=8)]
    results: list[SearchResult] = []
    for i, s in enumerate(searchers):
        kw = {"starts": starts} if isinstance(s, GradientSearch) and starts is not None else {}
        r = search(s, family, objective, steps=int(steps), seed=int(seed) + i, time_budget=time_budget, **kw)
        results.append(r)
        if progress is not None:
            progress("search", {"searcher": r.searcher, "best": float(r.trace.best[-1]), "seconds": r.seconds})
    if refine_steps and float(amplify) > 0:
        init = best_distinct(results, int(top), family, each=True)
        if len(init):
            exact = network_objective(sc, copies, D0, 0.0, eval_time_limit)
            r = search(GradientSearch(starts=len(init), name="refine-exact"), family, exact, steps=int(refine_steps),
                       seed=int(seed) + len(searchers), time_budget=time_budget, starts=init)
            results.append(r)
            if progress is not None:
                progress("search", {"searcher": r.searcher, "best": float(r.trace.best[-1]), "seconds": r.seconds})
    t_search = time.perf_counter() - t0
    cands = certify_network_candidates(results, family, top=top, constraints=cons, certify_options=certify_options,
                                       starts=starts if certify_starts else None, progress=progress)
    return NetworkSearchResult(dict(family.spec), sc, tuple(int(c) for c in copies), float(amplify), results, cands,
                               t_search, time.perf_counter() - t0 - t_search, time.perf_counter() - t0, cons)


def certify_network_candidates(results: Sequence[SearchResult], family: Family, *, top: int = 4,
                               constraints: Constraints | None = None, certify_options: Mapping[str, Any] | None = None,
                               starts: np.ndarray | None = None,
                               progress: Callable[[str, Mapping[str, Any]], None] | None = None
                               ) -> list[NetworkCandidate]:
    """Certify the ``top`` best distinct points of ``results`` (every searcher's best take turns: their values are
    on different scales, proxy and exact) with ``certify.network_nonlocality`` at their float64 behaviours; each is a
    discovery by the one rule (``is_discovery``). ``starts`` ``(K, P)``: given points certified too, as they are
    (searcher ``"start"``), unless the search returned the same behaviour. Sorted by certified lower bound."""
    sc = family.scenario
    cons = constraints or Constraints()
    params = best_distinct(results, int(top), family, each=True)
    owner = _owners(results, params)
    if starts is not None and len(starts):
        given = np.asarray(starts, np.float64).reshape(len(starts), -1)
        known = {signature(b) for b in behaviours_of(family, params)} if len(params) else set()
        extra = [row for row, b in zip(given, behaviours_of(family, given)) if signature(b) not in known]
        if extra:
            params = np.concatenate([np.stack(extra), params]) if len(params) else np.stack(extra)
            owner = [("start", math.nan)] * len(extra) + owner
    behaviours = behaviours_of(family, params) if len(params) else np.zeros((0, *sc.shape))
    opts = dict(certify_options or {})
    cands = []
    for k in range(len(params)):
        res = certify.network_nonlocality(behaviours[k], sc, **opts)
        disc = is_discovery(res, cons, bilocal=False, bounds_ok=bounds_hold_flat(family, params[k], cons.bounds))
        cands.append(NetworkCandidate(params[k], behaviours[k], owner[k][1], owner[k][0], res, bool(disc)))
        if progress is not None:
            progress("certify", {"k": k, "lower": res.lower, "upper": res.upper, "seconds": res.seconds})
    cands.sort(key=lambda c: (-c.lower, c.upper))
    return cands


def _owners(results: Sequence[SearchResult], params: np.ndarray) -> list[tuple[str, float]]:
    """(searcher, search value) of each selected parameter row (the first result holding it)."""
    out = []
    for row in params:
        found = ("", math.nan)
        for r in results:
            hit = np.flatnonzero(np.all(r.params == row, axis=1)) if len(r.params) else []
            if len(hit):
                found = (r.searcher, float(r.values[hit[0]]))
                break
        out.append(found)
    return out
