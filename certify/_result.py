"""Result objects for solver outcomes (modelled on scipy's OptimizeResult and optimistix's Solution).

A solver never raises for an unsolved problem: it returns a result whose ``status`` says what happened,
whose ``message`` keeps the solver's own words, and whose value is NaN unless solved.
"""

from __future__ import annotations

import enum

__all__ = ["Status"]


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
