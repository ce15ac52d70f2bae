"""The certified network lower bound of one fanout inflation as a differentiable JAX function of the behaviour.

``exact_inflation_lower(scenario, copies)`` is an ``ExactQuantity`` (``discover._exact``): a callable ``p -> value``
that works under ``jax.jit``, ``jax.vmap`` and reverse-mode ``jax.grad``, usable as an ``Objective`` target. Every
value it returns is a **certified** lower bound on the distance of p to the network-local set (docs/networks.md):
``certify._inflation.inflation_bound`` solves the inflation's distance LP with HiGHS and its row duals y pass the
exact rational re-check; the value is that re-checked number.

The gradient. For multipliers y held fixed, weak duality gives a lower bound ``g_y(q, D0) <= f(D0; q)`` at every
behaviour q (``f``: the inflation LP at remainder bound D0), equal to f at the q where y is optimal. q enters g
through the LP's right-hand sides (q, the products of q's marginals, the no-signalling right-hand sides), through
the columns of delta (the linearised product terms sum_i delta_{T_i} prod_{j != i} q_{T_j}) and through delta's
box ``-q <= delta <= 1 - q``; D0 enters through the remainder bounds ``eps(D0)``. g_y is piecewise polynomial in
(q, D0) and non-increasing in D0, so ``L_y(q) = max over D0 of min(D0, g_y(q, D0))`` is its root
``g_y(q, D) = D``: a valid lower bound at every q, equal (up to the regula falsi's 1e-4 relative tolerance) to the
certified value at the q where y was computed. The returned gradient is that root's (implicit function theorem):

    dL/dq = (dg/dq) / (1 - dg/dD0)        at (y*, D0*) of the certificate,

with ``dg/dq`` computed in closed form below (first derivatives of the products for the right-hand sides and
their Hessian-vector product for the delta-columns' reduced costs) and ``dg/dD0 <= 0``. With ``D0`` fixed instead
(``exact_inflation_lower(..., D0=0.2)``) the value is ``min(D0, f(D0; q))`` certified the same way and the
gradient is ``dg/dq`` where ``f(D0) < D0`` (0 where the value is D0). Where the LP's optimal dual is not unique
the gradient is that of one valid lower bound (g_y) touching the value at q; only its part tangent to the
no-signalling set means anything (a strategy's Born-rule Jacobian is tangent). Inside the inflation's feasible
region the value is 0 and so is the gradient: a search needs starts that are already certified nonlocal, as for
NL (docs/discover.md "Kinks").

The closed-form derivative relies on ``build_lp``'s row layout (normalisation, full copies, product families,
no-signalling, remainder rows); ``dual_bound_parts`` raises ``ValueError`` when the multipliers do not match it, and
``tests/test_triangle_discover.py`` compares ``g`` with certify's exact recomputation and ``dg/dq`` with finite
differences of re-solved LPs.
"""

from __future__ import annotations

import math
import time

import numpy as np

import certify
from bellcore import NetworkScenario
from certify._inflation import (
    Inflation,
    InflationCertificate,
    _dyadic,
    _marginal_matrix,
    _q_norm,
    _q_slack,
    _solve,
    build_lp,
    check_inflation_certificate,
    dual_bound_float,
    inflation_bound,
)
from certify._highs import status_of

from ._exact import ExactQuantity, _nan_like

__all__ = ["exact_inflation_lower", "dual_bound_parts", "inflation_lower_and_grad"]


def _contract(Y: np.ndarray, vecs: list, skip: int) -> np.ndarray:
    """Contract every axis of ``Y`` but ``skip`` with ``vecs[axis]``: a vector along axis ``skip``."""
    t = Y
    for j in reversed(range(Y.ndim)):  # last to first: axis j is still at position j
        if j != skip:
            t = np.tensordot(t, vecs[j], axes=([j], [0]))
    return t


def _remainder_slope(Ms, D0: float, n: float, slack) -> float:
    """d/dD0 of ``remainder_bound(Ms, D0, n, slack)`` (a_i = 2 D0 + slack_i, each da_i/dD0 = 2)."""
    a = [2 * D0 + s for s in slack]
    d_full = d_lin = 0.0
    for i, M in enumerate(Ms):
        t_full, t_lin = 2.0 * M, 2.0 * M
        for j, Mj in enumerate(Ms):
            if j != i:
                t_full *= Mj * (n + a[j])
                t_lin *= Mj * n
        d_full += t_full
        d_lin += t_lin
    return d_full - d_lin


def dual_bound_parts(sc: NetworkScenario, copies, q: np.ndarray, D0: float, y: np.ndarray,
                     delta: np.ndarray) -> tuple[float, np.ndarray, float]:
    """``(g, df/dq, df/dD0)``: the weak-duality bound ``g`` of the inflation LP (certify/_inflation.py's module
    docstring) for multipliers ``y`` at the flattened float64 behaviour ``q`` and remainder bound ``D0``, and the
    derivatives of the LP value f there by the envelope theorem for an optimal primal-dual pair: ``y`` and the
    primal ``delta`` (= r+ - r-, flat like q). q moves the right-hand sides (``y . db/dq``), the delta columns'
    coefficients in the product rows (``- y . (dA/dq) delta``: the products' Hessian applied to delta) and
    delta's box ``[-q, 1 - q]`` (its reduced costs where delta sits at a bound); D0 moves the remainder bounds.

    ``g`` is ``dual_bound_float`` of the LP built at (q, D0); the gradient has q's (flat) shape. The remainder
    bounds' dependence on q through ``n`` and the signalling slack is left out (both constant along directions
    tangent to the no-signalling set at a valid q). Raises ``ValueError`` when y does not have one entry per LP
    row in ``build_lp``'s layout."""
    inf = Inflation.build(sc, copies)
    q = np.asarray(q, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    nq = q.size
    c = sc.normalisation
    qa = q.reshape(sc.shape)
    nrm = float(_q_norm(sc, qa))
    row = 1
    grad_psi = np.zeros(nq)  # gradient of the q-dependent right-hand-side part psi(q); delta columns' A^T y = -grad_psi
    for _ in inf.full:
        grad_psi += y[row:row + nq]
        row += nq
    fams = []
    for fam in inf.products:
        ms = [_marginal_matrix(sc, T) for _, T in fam]
        us = [m @ q for m in ms]
        sizes = [len(u) for u in us]
        size = math.prod(sizes)
        Y = y[row:row + size].reshape(sizes)
        for i in range(len(fam)):
            grad_psi += ms[i].T @ _contract(Y, us, i)
        Ms = [math.prod(sc.settings[j] for j in T) for _, T in fam]
        slack = [float(_q_slack(sc, qa, T)) for _, T in fam]
        fams.append((ms, us, Y, row, size, Ms, slack))
        row += size
    ns = sc.no_signalling_constraints()
    nsm = np.vstack([ns.normalisation, ns.signalling])
    y_ns = y[row:row + len(nsm)]
    grad_psi -= nsm.T @ y_ns
    row += len(nsm)
    if row + len(fams) != y.size:
        raise ValueError(f"{y.size} multipliers; the inflation LP of {inf.label()} has {row + len(fams)} rows")
    y_eps = y[row:row + len(fams)]
    # delta columns r+ (box [0, 1 - q], reduced cost c - a) and r- (box [0, q], reduced cost c + a), a = -grad_psi
    a = -grad_psi
    # a negative reduced cost puts the column at its upper bound (1 - q or q), which moves with q
    diag = -np.minimum(0.0, c - a) + np.minimum(0.0, c + a)
    w = np.asarray(delta, dtype=np.float64).ravel()
    hess_w = np.zeros(nq)  # Hessian of psi (the product right-hand sides') applied to w
    dD = 0.0
    for k, (ms, us, Y, r0, size, Ms, slack) in enumerate(fams):
        mw = [m @ w for m in ms]
        for i in range(len(ms)):
            for j in range(len(ms)):
                if j != i:
                    vecs = list(us)
                    vecs[j] = mw[j]
                    hess_w += ms[i].T @ _contract(Y, vecs, i)
        yk = y_eps[k]
        yr = y[r0:r0 + size]
        per_eps = yk + np.minimum(0.0, yr - yk).sum() + np.minimum(0.0, -yr - yk).sum()
        dD += _remainder_slope(Ms, float(D0), nrm, slack) * per_eps
    g = dual_bound_float(build_lp(inf, q, float(D0), symmetric=False), y)
    return g, grad_psi + hess_w + diag, float(dD)


def _solve_at(sc: NetworkScenario, copies, q: np.ndarray, D0: float, time_limit: float | None = None):
    """The inflation LP at D0: ``(y, delta, objective)`` (dyadic row duals, primal delta = r+ - r-), or None (failed
    or over ``time_limit`` seconds). The full (unreduced) LP: the gradient reads its duals in its row layout."""
    lp = build_lp(Inflation.build(sc, copies), q, D0, symmetric=False)
    h = _solve(lp)
    if time_limit is not None:
        h.setOptionValue("time_limit", float(time_limit))
    h.run()
    if status_of(h)[0] != certify.Status.OPTIMAL:
        return None
    sol = h.getSolution()
    y = _dyadic(np.asarray(sol.row_dual))
    if not math.isfinite(dual_bound_float(lp, y)):
        y = -y  # HiGHS's sign convention for row duals, should it differ (as inflation_bound does)
    x = np.asarray(sol.col_value)
    nq = q.size
    delta = x[lp.n_p:lp.n_p + nq] - x[lp.n_p + nq:lp.n_p + 2 * nq]
    return y, delta, float(h.getInfo().objective_function_value)


def _fixed_d0(sc: NetworkScenario, copies, q: np.ndarray, D0: float, time_limit: float | None = None):
    """One LP at D0, its duals re-checked exactly: ``(certificate of min(D0, f(D0)), delta)`` (None if it failed)."""
    sol = _solve_at(sc, copies, q, D0, time_limit)
    if sol is None:
        return None
    y, delta, _ = sol
    chk = check_inflation_certificate(sc, q, InflationCertificate(tuple(copies), D0, y, 0.0, symmetric=False))
    lower = max(0.0, chk.recomputed) if chk.ok and math.isfinite(chk.recomputed) else 0.0
    return InflationCertificate(tuple(copies), D0, y, lower, symmetric=False), delta


def inflation_lower_and_grad(sc: NetworkScenario, copies, q: np.ndarray, D0: float | None = None,
                             upper: float = 1.0, time_limit: float | None = 10.0
                             ) -> tuple[float, np.ndarray, InflationCertificate | None]:
    """Host side of ``exact_inflation_lower``: ``(certified lower, gradient (flat), certificate)`` at the flattened
    float64 behaviour q (module docstring). ``upper``: the end of the D0 search (any value is valid: the bound at
    every D0 is). ``time_limit``: seconds for the LPs of one evaluation (HiGHS time limit; a few amplified
    4-outcome points made a single LP run for minutes): past it the best certified bound so far is the value, and
    the gradient is 0 when the primal re-solve did not finish (NaN value and gradient when no LP finished)."""
    q = np.asarray(q, dtype=np.float64).ravel()
    t0 = time.perf_counter()
    if D0 is None:
        deadline = None if time_limit is None else t0 + float(time_limit)
        # the value on the LP reduced by symmetry (certify's default: the same optimum, far smaller; fanout(2,2,1)
        # of the 4-outcome triangle: about 1 s instead of minutes); only a positive bound needs a gradient, which
        # reads the full LP's duals and primal (build_lp's row layout) at the same D0: one full LP
        cert = inflation_bound(sc, q, copies, upper, deadline=deadline).certificate
        left = None if deadline is None else max(deadline - time.perf_counter(), 0.5)
        sol = None if cert is None or cert.lower <= 0.0 else _solve_at(sc, cert.copies, q, cert.D0, left)
        delta = None if sol is None else sol[1]
        y_full = None if sol is None else sol[0]
    else:
        out = _fixed_d0(sc, copies, q, float(D0), time_limit)
        cert, delta = (None, None) if out is None else out
        y_full = None if cert is None else cert.y
    if cert is None:
        return math.nan, np.full(q.shape, np.nan), None
    if cert.lower <= 0.0:
        return 0.0, np.zeros(q.shape), cert
    if delta is None:
        return float(cert.lower), np.zeros(q.shape), cert
    g, dq, dD = dual_bound_parts(sc, cert.copies, q, cert.D0, y_full, delta)
    if D0 is None:
        grad = dq / (1.0 - dD)
    else:
        grad = dq if g < cert.D0 else np.zeros(q.shape)
    return float(cert.lower), grad, cert


def exact_inflation_lower(scenario: NetworkScenario, copies, D0: float | None = None, upper: float = 1.0,
                          time_limit: float | None = 10.0) -> ExactQuantity:
    """The certified lower bound of the fanout inflation ``copies`` of ``scenario`` as a differentiable function of
    the behaviour array (module docstring). ``D0``: None (default) maximises over D0 in [0, upper] as
    ``certify.network_nonlocality`` does; a number fixes it (value ``min(D0, f(D0))``). ``time_limit``: seconds
    per evaluation (``inflation_lower_and_grad``). NaN (value and gradient) when no LP finishes or certify raises
    ``ValueError``."""
    if not isinstance(scenario, NetworkScenario):
        raise ValueError(f"exact_inflation_lower needs a bellcore.NetworkScenario; got {scenario!r}")
    inf = Inflation.build(scenario, copies)  # validates copies
    if D0 is not None and not (math.isfinite(float(D0)) and float(D0) > 0):
        raise ValueError(f"D0 must be a positive finite number or None; got {D0!r}")
    if not (math.isfinite(float(upper)) and float(upper) > 0):
        raise ValueError(f"upper must be a positive finite number; got {upper!r}")
    copies = inf.copies

    def host(q: np.ndarray) -> tuple[float, np.ndarray]:
        try:
            value, grad, _ = inflation_lower_and_grad(scenario, copies, q.ravel(), D0, upper, time_limit)
        except ValueError:
            return _nan_like(q)
        return value, grad.reshape(q.shape)

    return ExactQuantity(f"inflation-lower{inf.label()[6:]}", (scenario.shape,), host)
