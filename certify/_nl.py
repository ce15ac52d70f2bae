"""NL: the trace distance of a bipartite behaviour to the local set, with its dual Bell functional.

Primal LP (K deterministic points d_k, N = |p| entries, c = 1/(2|X||Y|)):

    min  c * sum_i s_i   over  lambda >= 0 (K), s >= 0 (N)
    s.t. D lambda + s >= q,   D lambda - s <= q,   sum_k lambda_k = 1.

Its dual is ``max_B  B.q - max_k B.d_k`` with ``|B| <= c``: the optimal B is a Bell functional whose
violation certifies the value, and ``B = dual(>= rows) + dual(<= rows)``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import highspy
import numpy as np

from bellcore import Behaviour, Scenario

from ._certificate import CertificateCheck, exact_violation, local_bound
from ._highs import INF, make_lp, new_highs, status_of
from ._result import Status

__all__ = ["NonlocalityResult", "nonlocality", "check_nonlocality", "as_behaviour", "ZERO_TOL"]

#: Values at or below this are reported as local (LP round-off is ~1e-15; see SCIENCE.md section 3).
ZERO_TOL = 1e-9
#: Largest tolerated disagreement between a solver value and its solver-free recomputation.
CHECK_TOL = 1e-8


@dataclass(frozen=True, eq=False)
class NonlocalityResult:
    """Certified NL of one behaviour.

    Attributes:
        value: NL, the optimal normalised L1 distance to the local set (NaN unless solved).
        status: ``Status``; ``message``: the solver's own words.
        bell: dual Bell functional, same shape as p, ``|bell| <= 1/(2|X||Y|)`` (None unless solved).
        local_bound: ``max over the local set of <bell, p>``, by enumeration.
        lower: ``<bell, q> - local_bound`` (dual value: a certified lower bound on NL).
        upper: distance from q to ``local_model`` (primal value: a certified upper bound on NL).
        local_model: a closest local behaviour, same shape as p; ``weights`` its convex weights (K,) over
            ``scenario.deterministic_points()``.
        certificate_checked: the solver-free check passed (see ``check_nonlocality``).
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
    backend: str = "highs"

    @property
    def is_nonlocal(self) -> bool:
        """True when the certified lower bound exceeds ``ZERO_TOL``."""
        return bool(self.status == Status.OPTIMAL and self.lower > ZERO_TOL)

    @property
    def certified(self) -> bool:
        return self.certificate_checked

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict (``bell`` nested like ``p``); NaN becomes ``None``."""
        return {
            "measure": "nl",
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
            "backend": self.backend,
        }


def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def as_behaviour(p, validate: bool = True) -> Behaviour:
    """Accept a ``Behaviour`` or an array (scenario inferred from its shape); validate unless told not to."""
    beh = p if isinstance(p, Behaviour) else Behaviour(np.asarray(p, dtype=np.float64))
    if validate:
        beh.validate()
    return beh


# ------------------------------------------------------------------------------------------ HiGHS
class _NLProgram:
    """The NL LP of one scenario, built once; each solve changes only the row bounds.

    Solved in its L1-regression form, with half the rows of the textbook form above:
    ``D lambda + r+ - r- = q``, ``sum lambda = 1``, cost ``c (r+ + r-)``; the equality-row duals are B.

    Each solve starts the primal simplex from a vertex built for the new q (the deterministic point
    closest to q plus one residual column per entry, with the residual's sign) rather than from the
    previous q's basis: measured 20-25 % faster at m = 3..5 (benchmarks/nl_speed.py, closing note).
    """

    def __init__(self, scenario: Scenario):
        self.scenario = scenario
        d = scenario.deterministic_points().reshape(scenario.n_deterministic, -1).T  # (N, K)
        n, k = d.shape
        self.n, self.k, self.d = n, k, d
        c = scenario.normalisation
        eye = np.eye(n)
        a = np.block([[d, eye, -eye], [np.ones((1, k)), np.zeros((1, 2 * n))]])
        cost = np.concatenate([np.zeros(k), np.full(2 * n, c)])
        ones = np.ones(n + 1)
        lp = make_lp(cost, np.zeros(k + 2 * n), np.full(k + 2 * n, INF), ones, ones, a)
        self.h = new_highs()
        self.h.passModel(lp)
        self.h.setOptionValue("simplex_strategy", 4)  # primal simplex: the crash vertex is primal feasible
        self._rows = np.arange(n, dtype=np.int32)
        self._basis = highspy.HighsBasis()
        self._basis.alien = False  # a complete basis (N + 1 basic columns): skip HiGHS's check-by-factorisation
        self._basis.row_status = [highspy.HighsBasisStatus.kLower] * (n + 1)

    def _crash(self, q: np.ndarray) -> None:
        n, k = self.n, self.k
        k0 = int(np.argmax(q @ self.d))  # the deterministic point nearest to q in L1
        positive = q >= self.d[:, k0]
        basic = np.zeros(k + 2 * n, dtype=bool)
        basic[k0] = True
        basic[k + np.flatnonzero(positive)] = True
        basic[k + n + np.flatnonzero(~positive)] = True
        self._basis.col_status = [_BASIC if b else _LOWER for b in basic]
        self.h.clearSolver()  # forget the previous solve entirely: the answer must not depend on history
        self.h.setBasis(self._basis)

    def solve(self, q: np.ndarray) -> tuple[Status, str, float, np.ndarray, np.ndarray]:
        self.h.changeRowsBounds(self.n, self._rows, q, q)
        self._crash(q)
        self.h.run()
        status, message = status_of(self.h)
        sol = self.h.getSolution()
        col = np.asarray(sol.col_value)
        dual = np.asarray(sol.row_dual)
        value = self.h.getInfo().objective_function_value
        return status, message, value, col[: self.k], dual[: self.n]


_BASIC, _LOWER = highspy.HighsBasisStatus.kBasic, highspy.HighsBasisStatus.kLower


@functools.lru_cache(maxsize=32)
def _program(scenario: Scenario) -> _NLProgram:
    return _NLProgram(scenario)


def _solve_highs(q: np.ndarray, scenario: Scenario) -> tuple[Status, str, float, np.ndarray, np.ndarray]:
    return _program(scenario).solve(q)


# ----------------------------------------------------------------------------------------- cvxpy
def _solve_cvxpy(q: np.ndarray, scenario: Scenario, solver: str | None = None):
    """The same LP through cvxpy (a new Problem per call; default solver unless named).

    An independent cross-check of the HiGHS path, not the fast path.
    """
    import cvxpy as cp

    d = scenario.deterministic_points().reshape(scenario.n_deterministic, -1).T
    n, k = d.shape
    lam = cp.Variable(k, nonneg=True)
    s = cp.Variable(n, nonneg=True)
    ge = d @ lam + s >= q
    le = d @ lam - s <= q
    prob = cp.Problem(cp.Minimize(scenario.normalisation * cp.sum(s)), [ge, le, cp.sum(lam) == 1])
    try:
        prob.solve(solver=solver)
    except cp.error.SolverError as e:
        return Status.ERROR, str(e), math.nan, None, None
    status = {
        cp.OPTIMAL: Status.OPTIMAL,
        cp.OPTIMAL_INACCURATE: Status.INACCURATE,
        cp.INFEASIBLE: Status.INFEASIBLE,
        cp.USER_LIMIT: Status.LIMIT,
    }.get(prob.status, Status.ERROR)
    if lam.value is None:
        return status, prob.status, math.nan, None, None
    # cvxpy reports duals of ">=" constraints as non-negative multipliers: B = u - v.
    bell = np.asarray(ge.dual_value) - np.asarray(le.dual_value)
    return status, prob.status, float(prob.value), np.asarray(lam.value), bell


# ------------------------------------------------------------------------------------------ API
def nonlocality(p, *, backend: str = "highs", validate: bool = True, solver: str | None = None) -> NonlocalityResult:
    """Certified NL of one bipartite behaviour.

    Args:
        p: a ``Behaviour`` (not a batch) or an array ``p[a, b, x, y]`` (scenario inferred from its shape).
        backend: ``"highs"`` (fast: one LP per scenario, warm-started) or ``"cvxpy"`` (cross-check).
        validate: check p first (raises ``ValueError`` when it is not a valid NS behaviour).
        solver: cvxpy solver name for ``backend="cvxpy"`` (default: cvxpy's default).

    Returns:
        A ``NonlocalityResult``; solver failures are reported in ``status``, never raised.
    """
    beh = as_behaviour(p, validate)
    if beh.is_batch:
        raise ValueError(f"nonlocality takes one behaviour; got a batch {beh.batch_shape} (use nonlocality_many)")
    sc = beh.scenario
    if sc.n_parties != 2:
        raise ValueError(f"NL is defined here for bipartite Bell scenarios; got {sc} (use nonbilocality)")
    q = beh.numpy().reshape(-1)
    if backend == "highs":
        status, message, value, weights, bell = _solve_highs(q, sc)
    elif backend == "cvxpy":
        status, message, value, weights, bell = _solve_cvxpy(q, sc, solver)
    else:
        raise ValueError(f"unknown backend {backend!r}; expected 'highs' or 'cvxpy'")
    if status not in (Status.OPTIMAL, Status.INACCURATE) or weights is None:
        return NonlocalityResult(math.nan, status, message, sc, backend=backend)
    return _finish(q, sc, status, message, value, weights, bell, backend)


def _finish(q, sc, status, message, value, weights, bell, backend) -> NonlocalityResult:
    c = sc.normalisation
    bell = np.clip(bell, -c, c)  # dual feasibility up to round-off; clipping keeps the certificate valid
    weights = np.clip(weights, 0.0, None)
    weights = weights / weights.sum()
    model = sc.deterministic_points().reshape(sc.n_deterministic, -1).T @ weights
    lb = local_bound(bell, sc)
    lower = float(bell @ q - lb)
    upper = float(c * np.abs(q - model).sum())
    shape = sc.shape
    res = NonlocalityResult(
        value=float(value),
        status=status,
        message=message,
        scenario=sc,
        bell=bell.reshape(shape),
        local_bound=lb,
        lower=lower,
        upper=upper,
        local_model=model.reshape(shape),
        weights=weights,
        backend=backend,
    )
    check = check_nonlocality(q.reshape(shape), res)
    return _replace(res, certificate_checked=check.ok, exact_violation=check.exact)


def _replace(res: NonlocalityResult, **kw) -> NonlocalityResult:
    import dataclasses

    return dataclasses.replace(res, **kw)


def check_nonlocality(p, result: NonlocalityResult, atol: float = CHECK_TOL) -> CertificateCheck:
    """Re-verify an NL certificate without any solver.

    Checks: ``|bell| <= c``; ``<bell, p> - local_bound`` (local bound recomputed by enumerating the
    deterministic points) equals ``result.value`` within ``atol``; the local model is a convex combination
    of deterministic points at distance ``result.value`` within ``atol``; and, when the result says
    "nonlocal", the functional rounded to rationals violates its exact local bound (``exact_violation``).
    """
    if result.bell is None:
        return CertificateCheck(False, math.nan, None, f"no certificate (status {result.status})")
    sc = result.scenario
    q = np.asarray(p.numpy() if isinstance(p, Behaviour) else p, dtype=np.float64).reshape(-1)
    bell = np.asarray(result.bell, dtype=np.float64).reshape(-1)
    c = sc.normalisation
    if np.abs(bell).max() > c * (1 + 1e-12):
        return CertificateCheck(False, math.nan, None, "bell functional exceeds the box |B| <= 1/(2|X||Y|)")
    dual = float(bell @ q - local_bound(bell, sc))
    if abs(dual - result.value) > atol:
        return CertificateCheck(False, dual, None, f"dual value {dual:.3e} != reported {result.value:.3e}")
    if result.weights is not None:
        w = np.asarray(result.weights)
        model = sc.deterministic_points().reshape(sc.n_deterministic, -1).T @ w
        primal = float(c * np.abs(q - model).sum())
        if w.min() < 0 or abs(w.sum() - 1) > 1e-12 or abs(primal - result.value) > atol:
            return CertificateCheck(False, primal, None, f"local model at distance {primal:.3e}, not {result.value:.3e}")
    exact = None
    if dual > ZERO_TOL:
        exact = exact_violation(bell, q, sc, cap=c)
        if exact <= 0:
            return CertificateCheck(False, dual, exact, "rounded functional does not violate its exact local bound")
    return CertificateCheck(True, dual, exact)
