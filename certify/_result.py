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

__all__ = ["Status", "BellCertificate"]


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


def _num(x) -> float | None:
    """A JSON number; NaN and None become ``None``."""
    return None if x is None or not math.isfinite(x) else float(x)


@dataclass(frozen=True, eq=False)
class BellCertificate:
    """Fields shared by results certified with a Bell functional (``NonlocalityResult``, ``VisibilityResult``).

    Attributes:
        value: the certified quantity (NaN unless solved).
        status: ``Status``; ``message``: the solver's own words.
        scenario: the behaviour's scenario.
        bell: the Bell functional, same shape as p (None when there is nothing to certify or no solution).
        local_bound: its maximum over the local set, by enumerating deterministic points.
        lower, upper: certified bounds on ``value`` (what each is, is said by the subclass).
        local_model: the explicit local behaviour behind one of the bounds (same shape as p); ``weights``
            its convex weights (K,) over ``scenario.deterministic_points()``.
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
    certificate_checked: bool = False
    exact_violation: Any = None

    measure = "?"  # class attribute, set by subclasses

    @property
    def is_nonlocal(self) -> bool:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def certified(self) -> bool:
        return self.certificate_checked

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict (``bell`` nested like ``p``); NaN becomes ``None``."""
        return {
            "measure": self.measure,
            "scenario": self.scenario.to_json(),
            "value": _num(self.value),
            "status": str(self.status),
            "message": self.message,
            "nonlocal": self.is_nonlocal,
            "lower": _num(self.lower),
            "upper": _num(self.upper),
            "bell": None if self.bell is None else self.bell.tolist(),
            "local_bound": _num(self.local_bound),
            "certificate_checked": self.certificate_checked,
            "exact_violation": None if self.exact_violation is None else str(self.exact_violation),
        }
