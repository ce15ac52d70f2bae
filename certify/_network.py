"""Certified interval for the distance of a network behaviour to the network-local set (docs/networks.md).

``network_nonlocality(p)`` returns ``[lower, upper]`` for

    D(q) = min over network-local p of  c * sum |q - p|,   c = 1 / (2 * number of setting combinations)

(the NL / NBL normalisation of docs/measures.md, so the bilocal network gives numbers comparable to
``certify.nonbilocality``):

- ``upper``: distance to an explicit ``NetworkModel`` found by alternating LPs (``_network_model``), recomputed from
  the model alone;
- ``lower``: the best of a ladder of fanout inflations (``_inflation``), each a distance LP whose row duals are
  re-checked in exact arithmetic without the solver; ``inflation`` names the one that gave it.

Status: ``optimal`` when ``upper - lower <= tol``; ``limit`` when the ladder (or ``time_limit``) ended with a larger
gap (the interval is valid); ``error`` when no model was found.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any


from bellcore import Behaviour, BilocalScenario, NetworkScenario, bilocal_network, network_behaviour

from ._inflation import (
    MAX_COLUMNS,
    MAX_NONZEROS,
    InflationCertificate,
    check_inflation_certificate,
    default_inflations,
    inflation_bound,
)
from ._network_model import NetworkModel, check_network_model, search_network_model
from ._result import ZERO_TOL, IntervalValue, Status, raise_unless_solved

__all__ = ["NetworkResult", "network_nonlocality", "as_network_behaviour"]

#: Largest tolerated difference between the search's distance and the model's solver-free recomputation.
MODEL_CHECK_TOL = 1e-9


@dataclass(frozen=True, eq=False)
class NetworkResult(IntervalValue):
    """Certified interval of one network behaviour.

    Attributes:
        lower, upper: ``lower <= D <= upper``.
        value: ``upper`` when the status is in ``SOLVED``, else NaN.
        status: ``optimal`` (gap <= tol), ``limit`` (gap left when the inflations or time ran out; interval valid)
            or ``error`` (no model).
        message: what stopped it, in words; solver_status: HiGHS's native statuses of failed LPs (or ``kOptimal``).
        scenario: the ``NetworkScenario``.
        model: the ``NetworkModel`` whose recomputed distance is ``upper``.
        certificate: the ``InflationCertificate`` behind ``lower`` (None when lower is the trivial 0).
        inflation: label of the inflation that gave ``lower`` (e.g. ``"fanout(2,2,2)"``), ``""`` if none.
        inflations: per inflation tried: copies, lower, seconds, LP columns and rows, LPs solved.
        certificate_checked: the model's recomputed distance agreed with the search and the inflation certificate
            passed its exact re-check.
        seconds, upper_seconds, lower_seconds: wall time in all, for the model search, for the inflations.
    """

    lower: float
    upper: float
    status: Status
    message: str
    scenario: NetworkScenario
    tol: float
    model: NetworkModel | None = None
    certificate: InflationCertificate | None = None
    inflation: str = ""
    inflations: list = field(default_factory=list)
    certificate_checked: bool = False
    solver_status: str = ""
    seconds: float = 0.0
    upper_seconds: float = 0.0
    lower_seconds: float = 0.0
    lps: int = 0

    measure = "network"

    @property
    def is_nonlocal(self) -> bool:
        """True when the certified lower bound is positive (beyond LP round-off): not network-local."""
        return self.certified_positive

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict; NaN becomes ``None``."""
        return {
            **self.interval_json(),
            "nonlocal": self.is_nonlocal,
            "inflation": self.inflation,
            "inflations": self.inflations,
            "model": None if self.model is None else self.model.to_json(),
            "certificate": None if self.certificate is None else self.certificate.to_json(),
            "certificate_checked": self.certificate_checked,
            "stats": {"seconds": self.seconds, "upper_seconds": self.upper_seconds, "lower_seconds": self.lower_seconds, "lps": self.lps},
        }


def as_network_behaviour(p, scenario: NetworkScenario | None = None, validate: bool = True) -> Behaviour:
    """A validated float64 ``Behaviour`` of a ``NetworkScenario``; a bilocal ``Behaviour`` (``BilocalScenario``) is read
    as ``bellcore.bilocal_network(variant)`` (same array)."""
    if isinstance(p, Behaviour) and scenario is None:
        scenario = p.scenario
    if isinstance(scenario, BilocalScenario):
        scenario = bilocal_network(scenario.variant)
    if not isinstance(scenario, NetworkScenario):
        raise ValueError(f"expected a network behaviour (a NetworkScenario); got scenario {scenario}")
    return network_behaviour(p, scenario, validate=validate)


def network_nonlocality(
    p,
    scenario: NetworkScenario | None = None,
    *,
    inflations: list | None = None,
    tol: float = 1e-6,
    starts: int = 6,
    alphabet: int = 3,
    kicks: int = 20,
    seed: int = 0,
    time_limit: float = 120.0,
    max_columns: int = MAX_COLUMNS,
    max_nonzeros: int = MAX_NONZEROS,
    validate: bool = True,
    throw: bool = False,
) -> NetworkResult:
    """Certified interval ``[lower, upper]`` of the distance to the network-local set.

    Args:
        p: a ``Behaviour`` of a ``NetworkScenario`` (or ``BilocalScenario``), or an array with ``scenario``.
        scenario: the network when ``p`` is a bare array.
        inflations: copies per source to try, in order (default ``default_inflations``: none doubled, each source
            doubled, ..., all doubled, within ``max_columns`` / ``max_nonzeros`` of the symmetry-reduced LP and
            ``MAX_ENUMERATED`` joint strategies). Stops once the gap is <= tol.
        tol: gap at which the interval counts as closed.
        starts, alphabet, kicks, seed: the model search (random starts on ``alphabet`` values per source, then
            ``kicks`` perturbations of the best model).
        time_limit: seconds for the whole call: the model search gets half, the inflation LPs stop at the end
            (HiGHS time limit; best bound so far kept); status ``limit`` when it stops the ladder.
        validate: check p first (non-negative, normalised, no-signalling).
        throw: raise ``CertificationError`` when the status is not in ``SOLVED``.
    Raises:
        ValueError: malformed input (one line).
    """
    if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a positive finite number; got {tol!r}")
    if not (time_limit > 0):
        raise ValueError(f"time_limit must be positive; got {time_limit!r}")
    t0 = time.perf_counter()
    beh = as_network_behaviour(p, scenario, validate)
    sc = beh.scenario
    q = beh.numpy().ravel()
    model, found, st = search_network_model(
        q, sc, starts=starts, alphabet=alphabet, kicks=kicks, seed=seed, time_limit=time_limit / 2, target=ZERO_TOL * 1e-3
    )
    t_up = time.perf_counter() - t0
    natives = [] if st["solver_status"] == "kOptimal" else [st["solver_status"]]
    if model is None:
        return raise_unless_solved(NetworkResult(
            0.0, math.nan, Status.ERROR, "no network-local model found (every LP failed)", sc, float(tol),
            solver_status=", ".join(natives) or "kOptimal", seconds=time.perf_counter() - t0, upper_seconds=t_up,
            lps=st["lps"],
        ), throw)
    upper = check_network_model(beh, model, validate=False)  # the recomputed model defines the upper bound
    model_ok = abs(upper - found) <= MODEL_CHECK_TOL
    ladder = default_inflations(sc, max_columns, max_nonzeros) if inflations is None else [tuple(c) for c in inflations]
    best, tried, lps = None, [], st["lps"]
    stopped_by_time = False
    t1 = time.perf_counter()
    for copies in ladder:
        if upper - (best.lower if best else 0.0) <= tol:
            break
        if time.perf_counter() - t0 > time_limit:
            stopped_by_time = True
            break
        out = inflation_bound(sc, q, copies, upper, deadline=t0 + time_limit)
        lps += out.lps
        if out.solver_status != "kOptimal":
            natives.append(out.solver_status)
        tried.append({
            "copies": list(out.copies), "lower": out.lower, "seconds": out.seconds, "columns": out.columns,
            "rows": out.rows, "lps": out.lps,
        })
        if out.certificate is not None and (best is None or out.lower > best.lower):
            best = out
    t_low = time.perf_counter() - t1
    cert = best.certificate if best is not None and best.lower > 0 else None
    lower = max(0.0, min(cert.lower, upper)) if cert is not None else 0.0
    cert_ok = True if cert is None else bool(check_inflation_certificate(sc, q, cert))
    gap = upper - lower
    label = "fanout(" + ",".join(map(str, cert.copies)) + ")" if cert is not None else ""
    if gap <= tol:
        status, message = Status.OPTIMAL, f"gap {gap:.3g} <= tol {tol:g}" + (f" with {label}" if label else " (model at distance <= tol)")
    elif stopped_by_time:
        status, message = Status.LIMIT, f"time limit {time_limit:g} s reached with gap {gap:.3g} > tol {tol:g}"
    else:
        last = "fanout(" + ",".join(map(str, ladder[-1])) + ")" if ladder else "none"
        status, message = Status.LIMIT, f"inflations up to {last} tried; gap {gap:.3g} > tol {tol:g}"
    if not model_ok:
        message += f"; model recomputed at {upper:.3g}, search said {found:.3g}"
    return raise_unless_solved(NetworkResult(
        lower, upper, status, message, sc, float(tol), model, cert, label, tried, bool(model_ok and cert_ok),
        ", ".join(natives) or "kOptimal", time.perf_counter() - t0, t_up, t_low, lps,
    ), throw)
