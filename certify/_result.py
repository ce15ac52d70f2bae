"""Result objects for solver outcomes (modelled on scipy's OptimizeResult and optimistix's Solution).

A solver never raises for an unsolved problem: it returns a result whose ``status`` says what happened,
whose ``message`` keeps the solver's own words, and whose value is NaN unless solved.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bellcore import Scenario

__all__ = ["ZERO_TOL", "Status", "SOLVED", "LIMITED", "FAILED", "CertificationError", "BellCertificate"]


class Status(str, enum.Enum):
    """Outcome of a certification.

    optimal:    solved to the solver's tolerances, certificate available.
    inaccurate: the solver stopped with a solution it does not vouch for (value kept, use with care).
    limit:      a node, iteration or time limit stopped it; bounds so far are still valid.
    infeasible: the problem has no solution (for a validated behaviour this indicates a bug).
    error:      the solver failed; see ``message``.
    """

    OPTIMAL = "optimal"
    INACCURATE = "inaccurate"
    LIMIT = "limit"
    INFEASIBLE = "infeasible"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


#: Values at or below this are reported as local / bilocal (LP round-off is ~1e-15; see docs/measures.md).
ZERO_TOL = 1e-9

#: Statuses with a usable value. ``inaccurate`` is in it for every measure (NL, visibility, NBL): the value is
#: kept and its certificate is re-checked without the solver, so ``certificate_checked`` -- not the solver's own
#: confidence -- says whether to trust it.
SOLVED: frozenset[Status] = frozenset({Status.OPTIMAL, Status.INACCURATE})
#: Stopped by a node, iteration or time limit: no value, but bounds found so far (NBL's interval) stay valid.
LIMITED: frozenset[Status] = frozenset({Status.LIMIT})
#: No usable answer: the problem was infeasible (a bug for a validated behaviour) or the solver failed.
FAILED: frozenset[Status] = frozenset({Status.INFEASIBLE, Status.ERROR})
assert SOLVED | LIMITED | FAILED == frozenset(Status) and not (SOLVED & LIMITED or SOLVED & FAILED or LIMITED & FAILED)


class IntervalValue:
    """What every interval result (NBL, a network's distance) derives from ``lower <= value <= upper``: a mixin for
    frozen result dataclasses with ``lower``, ``upper`` and ``status`` fields.

    ``value`` is the upper end (a value reached by an explicit model) when solved; ``certified_positive`` says the
    certified lower bound is beyond LP round-off (``ZERO_TOL``), i.e. the behaviour is outside the local set.
    """

    @property
    def value(self) -> float:
        return self.upper if self.status in SOLVED else math.nan

    @property
    def gap(self) -> float:
        return self.upper - self.lower

    @property
    def certified_positive(self) -> bool:
        return bool(self.lower > ZERO_TOL)

    def interval_json(self) -> dict[str, Any]:
        """The fields every interval result's ``to_json`` starts with (NaN becomes ``None``)."""
        return {
            "measure": self.measure,
            "scenario": self.scenario.to_json(),
            "lower": _num(self.lower),
            "upper": _num(self.upper),
            "value": _num(self.value),
            "status": str(self.status),
            "message": self.message,
            "solver_status": self.solver_status,
            "tol": self.tol,
        }


class CertificationError(RuntimeError):
    """Raised by a certify entry point called with ``throw=True`` when its status is not in ``SOLVED``.

    ``result`` is the result that would have been returned (status, the solver's native status and message,
    and any bounds found).
    """

    def __init__(self, result: Any):
        self.result = result
        native = getattr(result, "solver_status", "")
        super().__init__(
            f"{getattr(result, 'measure', 'certification')}: status {result.status}"
            + (f" (solver: {native})" if native else "")
            + f": {result.message}"
        )


def raise_unless_solved(result: Any, throw: bool) -> Any:
    """``result``, or ``CertificationError(result)`` raised when ``throw`` and its status is not in ``SOLVED``."""
    if throw and result.status not in SOLVED:
        raise CertificationError(result)
    return result


def _num(x) -> float | None:
    """A JSON number; NaN and None become ``None``."""
    return None if x is None or not math.isfinite(x) else float(x)


@dataclass(frozen=True, eq=False)
class BellCertificate:
    """Fields shared by results certified with a Bell functional (``NonlocalityResult``, ``VisibilityResult``).

    Attributes:
        value: the certified quantity (NaN unless solved).
        status: ``Status`` (branch on ``SOLVED`` / ``LIMITED`` / ``FAILED``); ``message``: the solver's own words;
            ``solver_status``: the solver's native status name (HiGHS ``HighsModelStatus`` name, or cvxpy's status).
        scenario: the behaviour's scenario.
        bell: the Bell functional, same shape as p (None when there is nothing to certify or no solution).
        local_bound: its maximum over the local set, by enumerating deterministic points.
        lower, upper: certified bounds on ``value`` (what each is, is said by the subclass).
        local_model: the explicit local behaviour behind one of the bounds (same shape as p); ``weights``
            its convex weights over ``scenario.deterministic_points()``: all K of them when ``support`` is None,
            else one per index in ``support``.
        support: indices (into ``scenario.deterministic_points()``) of the points ``weights`` refers to, when the
            LP generated its columns (``method="colgen"``); None when ``weights`` covers every point.
        certificate_checked: the solver-free check passed.
        exact_violation: for a nonlocal verdict, the exact rational violation of the rounded functional.
    """

    value: float
    status: Status
    message: str
    scenario: Scenario
    bell: np.ndarray | None = None
    local_bound: float = math.nan
    lower: float = math.nan
    upper: float = math.nan
    local_model: np.ndarray | None = None
    weights: np.ndarray | None = field(default=None, repr=False)
    support: np.ndarray | None = field(default=None, repr=False)
    certificate_checked: bool = False
    exact_violation: Any = None
    solver_status: str = ""

    measure = "?"  # class attribute, set by subclasses

    @property
    def is_nonlocal(self) -> bool:  # pragma: no cover - overridden
        raise NotImplementedError

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict (``bell`` nested like ``p``); NaN becomes ``None``."""
        return {
            "measure": self.measure,
            "scenario": self.scenario.to_json(),
            "value": _num(self.value),
            "status": str(self.status),
            "message": self.message,
            "solver_status": self.solver_status,
            "nonlocal": self.is_nonlocal,
            "lower": _num(self.lower),
            "upper": _num(self.upper),
            "bell": None if self.bell is None else self.bell.tolist(),
            "local_bound": _num(self.local_bound),
            "certificate_checked": self.certificate_checked,
            "exact_violation": None if self.exact_violation is None else str(self.exact_violation),
        }
