"""White-noise visibility: the largest v in [0, 1] with ``v q + (1 - v) u`` local (u = white noise).

Substituting ``mu = lambda / v`` turns the bilinear condition into an LP whose data change only in the
right-hand side from one behaviour to the next:

    min  sum_k mu_k   over mu >= 0 (K)
    s.t. sum_k mu_k (d_k - u) = q - u,   sum_k mu_k >= 1        (v = 1 / sum mu, capped at 1).

The dual multipliers B of the equality rows form a Bell functional with local bound L and
``v* = (L - B.u) / (B.q - B.u)``: for any v > v*, ``v q + (1 - v) u`` violates ``B.p <= L``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass

import numpy as np

from bellcore import Behaviour, Scenario, as_behaviour

from ._certificate import CertificateCheck, exact_violation, local_bound
from ._highs import INF, make_lp, new_highs, status_of
from ._certificate import scenario_data
from ._colgen import colgen_visibility, points_model, support_error
from ._nl import CHECK_TOL, VISIBILITY_COLGEN_ABOVE, choose_method
from ._result import ZERO_TOL
from ._result import SOLVED, BellCertificate, raise_unless_solved

__all__ = ["VisibilityResult", "visibility", "check_visibility"]


@dataclass(frozen=True, eq=False)
class VisibilityResult(BellCertificate):
    """Certified white-noise visibility of one behaviour (fields of ``BellCertificate``).

    ``value`` is the visibility v* in [0, 1] (1 for local behaviours); ``bell`` a Bell functional (scaled to
    max |B| = 1) that the mixture violates for every v > v* (None when v* = 1: nothing to certify);
    ``lower`` the v of the explicit local model (``weights`` reproduce ``v q + (1-v) u``), ``upper`` is
    ``(L - B.u) / (B.q - B.u)`` from the functional (1 if none).
    """

    measure = "visibility"

    @property
    def is_nonlocal(self) -> bool:
        return bool(self.status in SOLVED and self.upper < 1 - ZERO_TOL)


class _VisibilityProgram:
    def __init__(self, scenario: Scenario):
        self.scenario = scenario
        d = scenario_data(scenario).d  # (N, K)
        n, k = d.shape
        self.u = Behaviour.uniform(scenario).numpy().reshape(-1)
        a = np.vstack([d - self.u[:, None], np.ones((1, k))])
        lp = make_lp(np.ones(k), np.zeros(k), np.full(k, INF), np.zeros(n + 1), np.zeros(n + 1), a)
        lp.row_lower_ = np.concatenate([np.zeros(n), [1.0]])
        lp.row_upper_ = np.concatenate([np.zeros(n), [INF]])
        self.h = new_highs()
        self.h.passModel(lp)
        self.n, self.k, self.d = n, k, d
        self._rows = np.arange(n, dtype=np.int32)

    def solve(self, q: np.ndarray):
        rhs = q - self.u
        self.h.changeRowsBounds(self.n, self._rows, rhs, rhs)
        self.h.clearSolver()  # as for NL: the answer must not depend on what was solved before
        self.h.run()
        status, message, native = status_of(self.h)
        sol = self.h.getSolution()
        return status, message, native, np.asarray(sol.col_value), np.asarray(sol.row_dual)[: self.n]


@functools.lru_cache(maxsize=32)
def _program(scenario: Scenario) -> _VisibilityProgram:
    return _VisibilityProgram(scenario)


def _on_ns_hull(q: np.ndarray, sc: Scenario) -> np.ndarray:
    """q, projected onto the no-signalling affine hull when it is off by more than round-off.

    The LP's equalities ``sum mu_k (d_k - u) = q - u`` have a solution only for q on that hull; a behaviour
    validated at float32 precision (1e-5) is off it by ~1e-7. The certificate then refers to the projected q
    (within the validation tolerance of the input; float64 inputs within 1e-12 are left untouched).
    """
    ns = sc.no_signalling_constraints()
    off = max(np.abs(ns.normalisation @ q - 1.0).max(), np.abs(ns.signalling @ q).max(initial=0.0))
    return ns.project(q) if off > 1e-12 else q


def visibility(p, *, validate: bool = True, throw: bool = False, method: str = "auto") -> VisibilityResult:
    """Certified white-noise visibility of one behaviour (Bell scenarios; HiGHS).

    As ``nonlocality``: a ``Behaviour`` or an array; statuses in ``SOLVED`` (``inaccurate`` included) give a
    value whose certificate is re-checked without the solver; ``throw=True`` raises ``CertificationError``
    for any other status. ``method``: as for ``nonlocality`` (``"colgen"``: ``support`` names the columns of
    ``weights``; ``"auto"`` generates columns above ``VISIBILITY_COLGEN_ABOVE`` points).
    """
    beh = as_behaviour(p, validate=validate)
    if beh.is_batch:
        raise ValueError(f"visibility takes one behaviour; got a batch {beh.batch_shape}")
    sc = beh.scenario
    if sc.n_parties != 2:
        raise ValueError(f"visibility is defined here for bipartite Bell scenarios; got {sc}")
    q = _on_ns_hull(beh.numpy().reshape(-1), sc)
    u = Behaviour.uniform(sc).numpy().reshape(-1)
    support = None
    if choose_method(sc, method, VISIBILITY_COLGEN_ABOVE) == "colgen":
        status, message, native, v_low, support, weights, y, _ = colgen_visibility(q, sc)
        if status not in SOLVED:
            return raise_unless_solved(VisibilityResult(math.nan, status, message, sc, solver_status=native), throw)
        weights = np.clip(weights, 0.0, None)
        weights = weights / weights.sum()
        model = points_model(sc, support, weights)
    else:
        prog = _program(sc)
        status, message, native, mu, y = prog.solve(q)
        if status not in SOLVED:
            return raise_unless_solved(VisibilityResult(math.nan, status, message, sc, solver_status=native), throw)
        mu = np.clip(mu, 0.0, None)
        total = mu.sum()
        v_low = 1.0 / total
        weights = mu / total
        model = prog.d @ weights
    bell, lb, upper = None, math.nan, 1.0
    # HiGHS's duals: objective sensitivity to the rhs q - u, so B.(q - u) = 1/v*. Normalise to max |B| = 1.
    if v_low < 1 - ZERO_TOL and np.abs(y).max() > 0:
        bell = y / np.abs(y).max()
        if bell @ (q - u) < 0:  # sign convention guard: we want B.q > B.u
            bell = -bell
        lb = local_bound(bell, sc)
        upper = float((lb - bell @ u) / (bell @ q - bell @ u))
    res = VisibilityResult(
        value=float(min(v_low, 1.0)),
        status=status,
        message=message,
        scenario=sc,
        bell=None if bell is None else bell.reshape(sc.shape),
        local_bound=lb,
        lower=float(min(v_low, 1.0)),
        upper=min(upper, 1.0),
        local_model=model.reshape(sc.shape),
        weights=weights,
        support=support,
        solver_status=native,
    )
    check = check_visibility(q.reshape(sc.shape), res)
    return raise_unless_solved(dataclasses.replace(res, certificate_checked=check.ok, exact_violation=check.exact), throw)


def check_visibility(p, result: VisibilityResult, atol: float = CHECK_TOL) -> CertificateCheck:
    """Re-verify a visibility certificate without any solver.

    The local model must reproduce ``v q + (1 - v) u`` at ``v = result.value`` (lower bound); when the
    value is below 1, the functional's enumerated local bound must give the same v (upper bound), and the
    rounded functional must violate its exact local bound on q.
    """
    sc = result.scenario
    q = np.asarray(p.numpy() if isinstance(p, Behaviour) else p, dtype=np.float64).reshape(-1)
    u = Behaviour.uniform(sc).numpy().reshape(-1)
    v = result.value
    if not math.isfinite(v) or result.weights is None:
        return CertificateCheck(False, math.nan, None, f"no certificate (status {result.status})")
    w = np.asarray(result.weights)
    if result.support is not None and support_error(sc, result.support, w):
        return CertificateCheck(False, v, None, support_error(sc, result.support, w))
    model = scenario_data(sc).d @ w if result.support is None else points_model(sc, result.support, w)
    err = np.abs(v * q + (1 - v) * u - model).max()
    if w.min() < 0 or abs(w.sum() - 1) > 1e-12 or err > atol:
        return CertificateCheck(False, v, None, f"local model misses the mixture by {err:.2e}")
    if v >= 1 - ZERO_TOL:
        return CertificateCheck(True, v)
    if result.bell is None:
        return CertificateCheck(False, v, None, "visibility < 1 but no Bell functional")
    bell = np.asarray(result.bell, dtype=np.float64).reshape(-1)
    lb = local_bound(bell, sc)
    v_up = float((lb - bell @ u) / (bell @ q - bell @ u))
    if abs(v_up - v) > atol:
        return CertificateCheck(False, v_up, None, f"functional gives v <= {v_up:.6g}, not {v:.6g}")
    exact = exact_violation(bell, q, sc)
    if exact <= 0:
        return CertificateCheck(False, v_up, exact, "rounded functional does not violate its exact local bound")
    return CertificateCheck(True, v_up, exact)
