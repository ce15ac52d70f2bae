"""NL: the trace distance of a bipartite behaviour to the local set, with its dual Bell functional.

Primal LP (K deterministic points d_k as the columns of D, N = |p| entries, c = 1/(2|X||Y|)), in its
L1-regression form:

    min  c * sum_i (r+_i + r-_i)   over  lambda >= 0 (K), r+, r- >= 0 (N)
    s.t. D lambda + r+ - r- = q,   sum_k lambda_k = 1.

Its dual is ``max_B  B.q - max_k B.d_k`` with ``|B| <= c`` (the bounds come from the r+- columns): the optimal
B, the duals of the N equality rows, is a Bell functional whose violation certifies the value.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import highspy
import numpy as np

from bellcore import Behaviour, Scenario, as_behaviour

from ._certificate import CertificateCheck, exact_violations, local_bound, local_bounds, row_products
from ._certificate import scenario_data as _scenario_data
from ._colgen import colgen_nl, is_separable, points_model, support_error
from ._highs import INF, make_lp, new_highs, status_of
from ._result import SOLVED, ZERO_TOL, BellCertificate, Status, _num, raise_unless_solved

__all__ = ["NonlocalityResult", "nonlocality", "check_nonlocality", "ZERO_TOL"]

#: Largest tolerated disagreement between a solver value and its solver-free recomputation.
CHECK_TOL = 1e-8

#: ``method="auto"`` generates columns above this many deterministic points (docs/performance.md) and
#: enumerates them all up to it: NL (whose enumerated LP starts from a crash basis) and visibility.
COLGEN_ABOVE = 2**12
VISIBILITY_COLGEN_ABOVE = 2**9

METHODS = ("auto", "enumerate", "colgen")


def choose_method(sc: Scenario, method: str, above: int = COLGEN_ABOVE) -> str:
    """The LP form for ``sc``: ``"enumerate"`` (every deterministic point a column) or ``"colgen"`` (column
    generation, bipartite Bell scenarios only); ``"auto"``: column generation above ``above`` points."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    if method == "auto":
        return "colgen" if is_separable(sc) and sc.n_deterministic > above else "enumerate"
    if method == "colgen" and not is_separable(sc):
        raise ValueError(f"column generation needs a bipartite Bell scenario; got {sc}")
    if method == "enumerate":
        sc.check_full_enumeration()
    return method


@dataclass(frozen=True, eq=False)
class NonlocalityResult(BellCertificate):
    """Certified NL of one behaviour (fields of ``BellCertificate``).

    ``value`` is NL, the optimal normalised L1 distance to the local set; ``bell`` the dual Bell functional
    with ``|bell| <= 1/(2|X||Y|)``; ``lower = <bell, q> - local_bound`` (dual value, a certified lower bound);
    ``upper`` the distance from q to ``local_model``, a closest local behaviour (primal value, a certified
    upper bound); ``certificate_checked``: ``check_nonlocality`` passed. ``value`` and ``lower`` are clamped
    at 0 (NL is a distance; LP round-off near the local set gives values like -5e-13); ``lp_value`` keeps the
    LP's own objective value.
    """

    backend: str = "highs"
    lp_value: float = math.nan
    measure = "nl"

    @property
    def is_nonlocal(self) -> bool:
        """True when the status is in ``SOLVED`` and the certified lower bound exceeds ``ZERO_TOL``."""
        return bool(self.status in SOLVED and self.lower > ZERO_TOL)

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "backend": self.backend, "lp_value": _num(self.lp_value)}




# ------------------------------------------------------------------------------------------ HiGHS
class _NLProgram:
    """The NL LP of one scenario, built once; each solve changes only the row bounds.

    Solved in its L1-regression form, with half the rows of the textbook form above:
    ``D lambda + r+ - r- = q``, ``sum lambda = 1``, cost ``c (r+ + r-)``; the equality-row duals are B.

    Each solve runs the dual simplex from a dual-feasible vertex built for the new q alone (no history):
    a guessed Bell functional ``B = c s`` with signs ``s_i = sign(q_i - 1/(dA dB))`` (q against the
    uniform behaviour), i.e. the residual column ``r+_i`` basic where ``s_i > 0`` and ``r-_i`` elsewhere,
    plus ``lambda_k1`` for ``k1 = argmax_k B.d_k``. Every reduced cost is then >= 0 (``2c`` for the other
    residuals, ``B.d_k1 - B.d_k`` for the lambdas), so the dual simplex starts feasible (iteration counts
    against other starts, and the variants tried and not kept: docs/performance.md).

    The crash basis is passed as a complete (non-"alien") basis: HiGHS then skips the factorisation it
    otherwise runs inside ``setBasis`` to vet an alien basis.
    """

    def __init__(self, scenario: Scenario):
        self.scenario = scenario
        data = _scenario_data(scenario)
        d = data.d  # (N, K)
        n, k = d.shape
        self.n, self.k, self.d, self.dk = n, k, d, data.dk
        self.threshold = 1.0 / math.prod(scenario.outcomes)  # the uniform behaviour's entries
        c = scenario.normalisation
        eye = np.eye(n)
        a = np.block([[d, eye, -eye], [np.ones((1, k)), np.zeros((1, 2 * n))]])
        cost = np.concatenate([np.zeros(k), np.full(2 * n, c)])
        ones = np.ones(n + 1)
        lp = make_lp(cost, np.zeros(k + 2 * n), np.full(k + 2 * n, INF), ones, ones, a)
        self.h = new_highs()
        self.h.passModel(lp)
        self.h.setOptionValue("simplex_strategy", 1)  # dual simplex: the crash vertex is dual feasible
        # No cost perturbation: fewer iterations (docs/performance.md). Against stalling on these very
        # degenerate LPs, an iteration cap; past it, the same crash is re-solved with HiGHS's default
        # perturbation (still a function of q alone).
        self.h.setOptionValue("dual_simplex_cost_perturbation_multiplier", 0.0)
        self._limit = 20 * (n + 1) + 200
        self.h.setOptionValue("simplex_iteration_limit", self._limit)
        self._rows = np.arange(n, dtype=np.int32)
        self._basis = _complete_basis(n + 1)
        self._r_plus, self._r_minus = k + np.arange(n), k + n + np.arange(n)

    def crash_basic(self, q: np.ndarray) -> np.ndarray:
        """Which columns the crash basis of each behaviour makes basic: ``q`` (n, N) -> bool (n, K + 2N)."""
        q = np.atleast_2d(q)
        positive = q >= self.threshold
        k1 = row_products(np.where(positive, 1.0, -1.0), self.d).argmax(axis=1)  # best response to B = c s
        basic = np.zeros((len(q), self.k + 2 * self.n), dtype=bool)
        rows = np.arange(len(q))[:, None]
        basic[rows, np.where(positive, self._r_plus, self._r_minus)] = True  # the residual with the sign of s
        basic[rows[:, 0], k1] = True
        return basic

    def _crash(self, q: np.ndarray) -> None:
        self._basis.col_status = column_status(self.crash_basic(q)[0])
        self.h.clearSolver()  # forget the previous solve entirely: the answer must not depend on history
        self.h.setBasis(self._basis)

    def solve(self, q: np.ndarray) -> tuple[Status, str, str, float, np.ndarray, np.ndarray]:
        h = self.h
        h.changeRowsBounds(self.n, self._rows, q, q)
        self._crash(q)
        h.run()
        model_status = h.getModelStatus()
        if model_status != _OPTIMAL:
            self._fallback(q)
            model_status = h.getModelStatus()
        status, message, native = status_of(h)
        sol = h.getSolution()
        weights = np.array(sol.col_value[: self.k])
        dual = np.array(sol.row_dual[: self.n])
        return status, message, native, h.getObjectiveValue(), weights, dual

    def _fallback(self, q: np.ndarray) -> None:
        """Re-solve from the same crash with HiGHS's default cost perturbation and no iteration cap."""
        self.h.setOptionValue("dual_simplex_cost_perturbation_multiplier", 1.0)
        self.h.setOptionValue("simplex_iteration_limit", 2**31 - 1)
        try:
            self._crash(q)
            self.h.run()
        finally:
            self.h.setOptionValue("dual_simplex_cost_perturbation_multiplier", 0.0)
            self.h.setOptionValue("simplex_iteration_limit", self._limit)


_BASIC, _LOWER = highspy.HighsBasisStatus.kBasic, highspy.HighsBasisStatus.kLower
_OPTIMAL = highspy.HighsModelStatus.kOptimal
_LOWER_BASIC = np.array([_LOWER, _BASIC], dtype=object)


def column_status(basic: np.ndarray) -> list:
    """HiGHS column statuses (a list) from a bool mask of basic columns; the others at their lower bound 0."""
    return _LOWER_BASIC[basic.astype(np.intp)].tolist()


def _complete_basis(n_row: int) -> highspy.HighsBasis:
    basis = highspy.HighsBasis()
    basis.alien = False  # exactly n_row basic columns, all rows nonbasic: no vetting by factorisation
    basis.row_status = [_LOWER] * n_row
    return basis


@functools.lru_cache(maxsize=32)
def _program(scenario: Scenario) -> _NLProgram:
    return _NLProgram(scenario)


def _solve_highs(q: np.ndarray, scenario: Scenario) -> tuple[Status, str, str, float, np.ndarray, np.ndarray]:
    return _program(scenario).solve(q)


# ----------------------------------------------------------------------------------------- cvxpy
def _solve_cvxpy(q: np.ndarray, scenario: Scenario, solver: str | None = None):
    """The same LP through cvxpy (a new Problem per call; default solver unless named).

    An independent cross-check of the HiGHS path, not the fast path.
    """
    import cvxpy as cp

    d = _scenario_data(scenario).d
    n, k = d.shape
    lam = cp.Variable(k, nonneg=True)
    s = cp.Variable(n, nonneg=True)
    ge = d @ lam + s >= q
    le = d @ lam - s <= q
    prob = cp.Problem(cp.Minimize(scenario.normalisation * cp.sum(s)), [ge, le, cp.sum(lam) == 1])
    try:
        prob.solve(solver=solver)
    except cp.error.SolverError as e:
        return Status.ERROR, str(e), "SolverError", math.nan, None, None
    status = {
        cp.OPTIMAL: Status.OPTIMAL,
        cp.OPTIMAL_INACCURATE: Status.INACCURATE,
        cp.INFEASIBLE: Status.INFEASIBLE,
        cp.USER_LIMIT: Status.LIMIT,
    }.get(prob.status, Status.ERROR)
    if lam.value is None:
        return status, f"cvxpy: {prob.status}", prob.status, math.nan, None, None
    # cvxpy reports duals of ">=" constraints as non-negative multipliers: B = u - v.
    bell = np.asarray(ge.dual_value) - np.asarray(le.dual_value)
    return status, f"cvxpy: {prob.status}", prob.status, float(prob.value), np.asarray(lam.value), bell


# ------------------------------------------------------------------------------------------ API
def nonlocality(
    p, *, backend: str = "highs", validate: bool = True, solver: str | None = None, throw: bool = False,
    method: str = "auto",
) -> NonlocalityResult:
    """Certified NL of one bipartite behaviour.

    Args:
        p: a ``Behaviour`` (not a batch) or an array ``p[a, b, x, y]`` (scenario inferred from its shape).
        backend: ``"highs"`` (fast: one LP per scenario, re-solved from a start built for each q) or ``"cvxpy"`` (cross-check).
        validate: check p first (raises ``ValueError`` when it is not a valid NS behaviour).
        solver: cvxpy solver name for ``backend="cvxpy"`` (default: cvxpy's default).
        throw: raise ``CertificationError`` (carrying the result) when the status is not in ``SOLVED``.
        method: ``"enumerate"`` (one LP column per deterministic point), ``"colgen"`` (column generation: few
            columns, exact separable local bound; ``support`` names the columns of ``weights``) or ``"auto"``
            (column generation above ``COLGEN_ABOVE`` deterministic points). HiGHS backend only.

    Returns:
        A ``NonlocalityResult``; unless ``throw``, solver failures are reported in ``status``, never raised.
    """
    beh = as_behaviour(p, validate=validate)
    if beh.is_batch:
        raise ValueError(f"nonlocality takes one behaviour; got a batch {beh.batch_shape} (use nonlocality_many)")
    sc = beh.scenario
    q = beh.numpy().reshape(-1)
    if sc.n_parties != 2:
        raise ValueError(f"NL is defined here for bipartite Bell scenarios; got {sc} (use nonbilocality)")
    if choose_method(sc, method) == "colgen":
        if backend != "highs":
            raise ValueError(f"method 'colgen' runs on the highs backend; got backend {backend!r}")
        status, message, native, value, support, weights, bell, _ = colgen_nl(q, sc)
        if status not in SOLVED or weights is None:
            status = status if status not in SOLVED else Status.ERROR
            return raise_unless_solved(
                NonlocalityResult(math.nan, status, message, sc, backend=backend, solver_status=native), throw)
        return raise_unless_solved(
            _finish(q, sc, status, message, native, value, weights, bell, backend, support), throw)
    return raise_unless_solved(solve_distance(q, sc, backend, solver), throw)


def solve_distance(q: np.ndarray, sc: Scenario, backend: str, solver: str | None = None) -> NonlocalityResult:
    """The L1 distance LP of the flat behaviour ``q`` to the local set of ``sc`` (any number of parties), with its
    certificate checked; shared by bipartite and tripartite NL."""
    if backend == "highs":
        status, message, native, value, weights, bell = _solve_highs(q, sc)
    elif backend == "cvxpy":
        status, message, native, value, weights, bell = _solve_cvxpy(q, sc, solver)
    else:
        raise ValueError(f"unknown backend {backend!r}; expected 'highs' or 'cvxpy'")
    if status not in SOLVED or weights is None:
        status = status if status not in SOLVED else Status.ERROR  # "solved" without a solution: a solver fault
        return NonlocalityResult(math.nan, status, message, sc, backend=backend, solver_status=native)
    return _finish(q, sc, status, message, native, value, weights, bell, backend)


def _finish(q, sc, status, message, native, value, weights, bell, backend, support=None) -> NonlocalityResult:
    """``finish_rows`` for one behaviour (weights over ``support`` when the LP generated its columns)."""
    return finish_rows(q[None], sc, [status], [message], [native], np.array([value]), weights[None], bell[None],
                       backend, support)[0]


def finish_rows(q, sc, statuses, messages, natives, values, weights, bells, backend, support=None
                ) -> list[NonlocalityResult]:
    """Results with checked certificates for the solved rows of one scenario, the arithmetic done for all rows at once.

    Shapes: ``q`` and ``bells`` (n, N); ``values`` (n,) the LPs' objective values; ``weights`` (n, K) over every
    deterministic point, or (1, len(support)) over ``support`` (column generation, one behaviour).
    """
    c = sc.normalisation
    bells = np.minimum(np.maximum(bells, -c), c)  # |B| <= c up to round-off; clipping keeps the certificate valid
    weights = np.maximum(weights, 0.0)
    weights = weights / weights.sum(axis=1, keepdims=True)
    models = _models(sc, weights, support)
    lbs = local_bounds(bells, sc)
    lowers = np.einsum("ij,ij->i", bells, q) - lbs
    uppers = c * np.abs(q - models).sum(axis=1)
    # The solver-free check of check_nonlocality, reusing the local bounds, local models and dual values just computed.
    checks = _check_rows(q, bells, values, weights, sc, lbs, models, lowers, uppers)
    shape = sc.shape
    return [
        NonlocalityResult(
            value=max(0.0, float(values[i])),
            lp_value=float(values[i]),
            status=statuses[i],
            message=messages[i],
            scenario=sc,
            bell=bells[i].reshape(shape),
            local_bound=float(lbs[i]),
            lower=max(0.0, float(lowers[i])),
            upper=float(uppers[i]),
            local_model=models[i].reshape(shape),
            weights=weights[i],
            support=support,
            backend=backend,
            certificate_checked=checks[i].ok,
            exact_violation=checks[i].exact,
            solver_status=natives[i],
        )
        for i in range(len(q))
    ]


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
    w = None if result.weights is None else np.asarray(result.weights, dtype=np.float64)
    if w is not None and result.support is not None and support_error(sc, result.support, w):
        return CertificateCheck(False, math.nan, None, support_error(sc, result.support, w))
    model = None if w is None else _models(sc, w[None], result.support)[0]
    return _check(q, bell, result.value, w, sc, local_bound(bell, sc), model, atol)


def _models(sc: Scenario, w: np.ndarray, support) -> np.ndarray:
    """The local behaviours (flat, (n, N)) of the rows of weights ``w``: over all deterministic points, or (one row)
    over ``support``."""
    if support is None:
        return row_products(w, _scenario_data(sc).dk)
    return points_model(sc, support, w[0])[None]


def _check(q, bell, value, w, sc, lb, model, atol: float = CHECK_TOL) -> CertificateCheck:
    """The checks of ``check_nonlocality`` for one behaviour (``_check_rows``)."""
    c = sc.normalisation
    w2 = None if w is None else w[None]
    m2 = None if model is None else model[None]
    dual = np.array([bell @ q - lb])
    primal = None if w is None else c * np.abs(q - model).sum(keepdims=True)
    return _check_rows(q[None], bell[None], np.array([value]), w2, sc, np.array([lb]), m2, dual, primal, atol)[0]


def _check_rows(q, bells, values, w, sc, lbs, models, duals, primals,
                atol: float = CHECK_TOL) -> list[CertificateCheck]:
    """The checks of ``check_nonlocality``, row by row, given each functional's exact local bound ``lbs``, its dual
    value ``duals = <bell, q> - lb`` and (with weights ``w``) the local models and their distances ``primals``."""
    c = sc.normalisation
    box = np.abs(bells).max(axis=1) > c * (1 + 1e-12)
    off_dual = np.abs(duals - values) > atol
    if w is not None:
        off_primal = (w.min(axis=1) < 0) | (np.abs(w.sum(axis=1) - 1) > 1e-12) | (np.abs(primals - values) > atol)
    else:
        off_primal = np.zeros(len(q), dtype=bool)
    checks: list[CertificateCheck | None] = [None] * len(q)
    for i in np.flatnonzero(box | off_dual | off_primal):
        if box[i]:
            checks[i] = CertificateCheck(False, math.nan, None, "bell functional exceeds the box |B| <= 1/(2|X||Y|)")
        elif off_dual[i]:
            checks[i] = CertificateCheck(False, float(duals[i]), None,
                                         f"dual value {duals[i]:.3e} != reported {values[i]:.3e}")
        else:
            checks[i] = CertificateCheck(False, float(primals[i]), None,
                                         f"local model at distance {primals[i]:.3e}, not {values[i]:.3e}")
    # The exact verdict for every positive (nonlocal) dual value that passed the checks above.
    positive = [i for i in np.flatnonzero(duals > ZERO_TOL) if checks[i] is None]
    exact = exact_violations(bells[positive], q[positive], sc, cap=c) if positive else []
    for i, ex in zip(positive, exact):
        checks[i] = (CertificateCheck(True, float(duals[i]), ex) if ex > 0 else CertificateCheck(
            False, float(duals[i]), ex, "rounded functional does not violate its exact local bound"))
    return [ch if ch is not None else CertificateCheck(True, float(duals[i]), None) for i, ch in enumerate(checks)]
