"""Tripartite NL of a bilocal-network behaviour: its distance to the (convex) tripartite local set.

The network A - B - C read as an ordinary three-party Bell scenario (no independence of the sources): the same
L1-regression LP as ``certify.nonlocality`` (``_nl``), over the deterministic points of all three parties
(64 for the binary variant, 64 for the BSM variant), normalised by ``1/(2 * number of setting combinations)``
like NBL. Since every bilocal model is tripartite local, ``tripartite NL <= NBL``; a behaviour with tripartite
NL = 0 and NBL > 0 is nonclassical only because the two sources are independent: no ordinary (tripartite)
Bell inequality sees it.

The result is a ``NonlocalityResult`` with its dual Bell functional (shape of p) and the same solver-free check
(``check_nonlocality``) and exact rational verdict as the bipartite case.
"""

from __future__ import annotations

from bellcore import BilocalScenario

from ._nbl_model import as_bilocal_behaviour
from ._nl import NonlocalityResult, solve_distance
from ._result import raise_unless_solved

__all__ = ["tripartite_nonlocality"]


def tripartite_nonlocality(
    p, *, backend: str = "highs", validate: bool = True, throw: bool = False
) -> NonlocalityResult:
    """Certified tripartite NL of one bilocal-network behaviour.

    Args:
        p: a ``Behaviour`` of a ``BilocalScenario`` or an array of shape (2,2,2,2,2,2) / (2,4,2,2,1,2);
            float32 input is converted to float64 (and validated at the float32 tolerance).
        backend: ``"highs"`` (fast) or ``"cvxpy"`` (independent cross-check of the same LP).
        validate: check p first.
        throw: raise ``CertificationError`` (carrying the result) when the status is not in ``SOLVED``.
    Returns:
        ``NonlocalityResult`` (``value`` NL, ``lower`` the dual bound, ``bell`` the tripartite Bell functional,
        ``is_nonlocal`` the exact-arithmetic verdict); solver failures are reported in ``status``.
    """
    beh = as_bilocal_behaviour(p, validate)
    sc: BilocalScenario = beh.scenario
    q = beh.numpy().reshape(-1)
    return raise_unless_solved(solve_distance(q, sc, backend), throw)
