"""Fanout inflations: the lower bound of the network interval, with a dual certificate (docs/networks.md).

An inflation with ``copies[s]`` copies of every source s has one copy of party j for every choice of copies of
j's sources. A network-local q* (distance D to the input q, delta = q* - q) gives a joint distribution P over
the outputs of all party copies (for every setting: P is over deterministic strategies of the copies) with

- full copies (one copy of every source, each party with those copies): marginal = q* = q + delta;
- families of k >= 2 sets S_i of party copies, each inside a full copy, pairwise sharing no source copy:
  marginal = prod_i q*_{T_i} = prod_i q_{T_i} + sum_i delta_{T_i} prod_{j != i} q_{T_j} + e, with
  ``sum |e| <= prod_i M_i ((1 + 2D)^k - 1 - 2kD)`` (M_i: setting combinations of T_i; 4 M_1 M_2 D^2 for k = 2;
  docs/networks.md);
- delta no-signalling and normalised (q, q* both are), ``-q <= delta <= 1 - q``.

The LP ``f(D0) = min c * sum |delta|`` subject to these with the bound on e taken at D0 is a relaxation whenever
D <= D0, so D >= min(D0, f(D0)) for every D0 (if D > D0 it holds trivially). ``inflation_bound`` maximises that
over D0 by bisection (f does not increase with D0).

The certificate is the LP's row duals y: for any y, weak duality gives the bound

    f(D0) >= sum_i min(y_i L_i, y_i U_i) + sum_j min over [l_j, u_j] of (c_j - (A^T y)_j) z_j

(L, U: row bounds; l, u: column bounds), which ``check_inflation_certificate`` recomputes without a solver in
exact rational arithmetic (y rounded to multiples of 2**-40) from the scenario, q, the copies and D0 alone.

By default the LP is reduced by symmetry (``_inflation_orbits``: copy permutations and q's own relabelling
symmetries; same optimum, the bound stays valid — the argument is in that module's docstring); the LP data are
built in ``_inflation_lp``.
"""

from __future__ import annotations

import functools
import itertools
import math
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from bellcore import NetworkScenario

from ._certificate import BITS, CertificateCheck
from ._highs import INF, status_of
from ._inflation_lp import (  # noqa: F401  (remainder_bound, _marginal_matrix: re-exported for tests and docs)
    _LP,
    _marginal_matrix,
    _q_norm,
    _q_slack,
    _solve,
    build_lp,
    dual_bound_float,
    remainder_bound,
)
from ._inflation_orbits import kept_rows, n_orbits, symmetrised
from ._result import Status

__all__ = [
    "Inflation",
    "InflationCertificate",
    "inflation_bound",
    "check_inflation_certificate",
    "default_inflations",
    "MAX_COLUMNS",
    "MAX_NONZEROS",
    "MAX_ENUMERATED",
]

#: Default limits of the ladder, on the LP reduced by the copy permutations (``_inflation_orbits``; q's own
#: symmetries shrink it further): strategy columns (orbits, by Burnside's lemma), nonzeros (``Inflation.n_nonzeros``:
#: the kept rows' entries over every joint strategy, also the size of the blocks built before the reduction), and
#: joint strategies enumerated to find the orbits. Bilocal fanout(2,2): 16,960 orbits, 7.9 M, 65,536.
MAX_COLUMNS = 2**16
MAX_NONZEROS = 10_000_000
MAX_ENUMERATED = 2**20


@dataclass(frozen=True)
class Inflation:
    """The combinatorics of a fanout inflation.

    Attributes:
        scenario: the network.
        copies: copies per source.
        parties: party copies ``(j, copies of j's sources)``; LP columns are joint strategies of all of them.
        full: per full copy (one copy per source), the party copies in the network's party order.
        products: families of at least two components ``(S, T)`` (party copies S inside a full copy, their original
            parties T, increasing), pairwise sharing no source copy: the marginal on their union is the product of
            the components' marginals. Maximal families only (none whose components fit inside another's).
    """

    scenario: NetworkScenario
    copies: tuple[int, ...]
    parties: tuple
    full: tuple
    products: tuple

    @classmethod
    def build(cls, sc: NetworkScenario, copies) -> "Inflation":
        """The inflation of ``sc`` with ``copies`` per source (cached: pure combinatorics of the two)."""
        return _build(sc, tuple(int(c) for c in copies))

    @classmethod
    def _make(cls, sc: NetworkScenario, copies: tuple[int, ...]) -> "Inflation":
        if len(copies) != sc.n_sources or min(copies) < 1:
            raise ValueError(f"inflation needs one copy count >= 1 per source ({sc.n_sources} sources); got {copies}")
        src = [sc.party_sources(j) for j in range(sc.n_parties)]
        parties = [(j, c) for j in range(sc.n_parties) for c in itertools.product(*(range(copies[s]) for s in src[j]))]
        index = {p: i for i, p in enumerate(parties)}
        sigmas = list(itertools.product(*(range(c) for c in copies)))

        def members(sigma, T):
            return tuple(index[(j, tuple(sigma[s] for s in src[j]))] for j in T)

        full = tuple(members(sig, range(sc.n_parties)) for sig in sigmas)
        # every injectable set: a subset T of the parties inside a full copy (deduplicated by its party copies)
        inj: dict = {}
        for sig in sigmas:
            for r in range(1, sc.n_parties + 1):
                for T in itertools.combinations(range(sc.n_parties), r):
                    S = members(sig, T)
                    inj.setdefault(frozenset(S), (S, T))
        nodes = list(inj.values())
        used = [frozenset((s, c) for i in S for s, c in zip(src[parties[i][0]], parties[i][1])) for S, _ in nodes]
        sets = [frozenset(S) for S, _ in nodes]
        adj = [
            {k for k in range(len(nodes)) if k != i and not (sets[i] & sets[k]) and not (used[i] & used[k])}
            for i in range(len(nodes))
        ]
        cliques = [c for c in _maximal_cliques(adj) if len(c) >= 2]
        fams = [frozenset(sets[i] for i in c) for c in cliques]

        def dominated(a, b):  # every component of a inside a distinct component of b
            return a != b and _injects(sorted(a, key=len, reverse=True), list(b))

        keep = [i for i, f in enumerate(fams) if not any(dominated(f, g) for g in fams)]
        products = tuple(
            tuple(sorted((nodes[i] for i in cliques[k]), key=lambda st: (st[1], st[0]))) for k in sorted(set(keep), key=lambda k: sorted(map(sorted, fams[k])))
        )
        return cls(sc, copies, tuple(parties), full, products)

    @property
    def n_columns(self) -> int:
        return n_columns(self.scenario, self.copies)

    def n_nonzeros(self, symmetric: bool = True) -> int:
        """Nonzeros of the P columns of the full LP (each column has one entry per marginal table per setting
        combination); ``symmetric``: of the rows the copy-reduced LP keeps (one full copy and family per orbit),
        over every joint strategy — an upper bound on the reduced P columns' nonzeros (each strategy adds its
        entries to its orbit's column) and the size of the blocks built before the reduction."""
        sc = self.scenario
        full, products = kept_rows(self) if symmetric else (self.full, self.products)
        M = lambda T: math.prod(sc.settings[j] for j in T)  # noqa: E731
        per_col = 1 + len(full) * sc.n_setting_combinations + sum(math.prod(M(T) for _, T in f) for f in products)
        return self.n_columns * per_col

    def label(self) -> str:
        return "fanout(" + ",".join(map(str, self.copies)) + ")"


def n_columns(sc: NetworkScenario, copies) -> int:
    """Joint deterministic strategies of every party copy: ``prod_j (d_j ** m_j) ** (copies of party j)``."""
    return math.prod((sc.outcomes[j] ** sc.settings[j]) ** math.prod(copies[s] for s in sc.party_sources(j)) for j in range(sc.n_parties))


def default_inflations(
    sc: NetworkScenario, max_columns: int = MAX_COLUMNS, max_nonzeros: int = MAX_NONZEROS, max_enumerated: int = MAX_ENUMERATED
) -> list[tuple[int, ...]]:
    """Copies to try, smallest first: none doubled, each source doubled, each pair doubled, ..., all doubled; those
    over ``max_enumerated`` joint strategies, ``max_columns`` copy-reduced strategy columns (orbits) or
    ``max_nonzeros`` copy-reduced nonzeros left out."""
    S = sc.n_sources
    out = []
    for r in range(S + 1):
        for doubled in itertools.combinations(range(S), r):
            copies = tuple(2 if s in doubled else 1 for s in range(S))
            if n_columns(sc, copies) > max_enumerated:  # before building: the combinatorics grow fast too
                continue
            if n_orbits(sc, copies) > max_columns:
                continue
            if Inflation.build(sc, copies).n_nonzeros() <= max_nonzeros:
                out.append(copies)
    return out


@functools.lru_cache(maxsize=64)
def _build(sc: NetworkScenario, copies: tuple[int, ...]) -> Inflation:
    return Inflation._make(sc, copies)


def _maximal_cliques(adj: list[set]) -> list[list[int]]:
    """Bron-Kerbosch with pivoting over a graph given by neighbour sets."""
    out = []

    def bk(R, P, X):
        if not P and not X:
            out.append(R)
            return
        u = max(P | X, key=lambda v: len(adj[v] & P))
        for v in list(P - adj[u]):
            bk(R + [v], P & adj[v], X & adj[v])
            P = P - {v}
            X = X | {v}

    bk([], set(range(len(adj))), set())
    return out


def _injects(small: list, big: list) -> bool:
    """Each set of ``small`` inside a distinct set of ``big`` (backtracking; families have a few members)."""
    if not small:
        return True
    head, rest = small[0], small[1:]
    return any(head <= b and _injects(rest, big[:i] + big[i + 1 :]) for i, b in enumerate(big))


# ---------------------------------------------------------------------------------------------- certificate
@dataclass(frozen=True, eq=False)
class InflationCertificate:
    """A lower bound from one inflation: ``lower = min(D0, dual bound of y at D0)``.

    Attributes:
        copies: copies per source of the inflation.
        D0: the distance at which the bound on the product remainders e was taken.
        y: row duals (multiples of 2**-40), one per LP row (``build_lp``'s row order).
        lower: the certified lower bound on the distance to the network-local set.
        symmetric: y belongs to the LP reduced by the copy-permutation group (``_inflation_orbits``; the default),
            not the full one (JSON without the key: the full LP, as certificates were before the reduction).
    """

    copies: tuple[int, ...]
    D0: float
    y: np.ndarray
    lower: float
    symmetric: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"copies": list(self.copies), "D0": self.D0, "lower": self.lower, "symmetric": self.symmetric, "y": np.asarray(self.y).tolist()}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "InflationCertificate":
        try:
            return cls(tuple(int(c) for c in obj["copies"]), float(obj["D0"]), np.asarray(obj["y"], dtype=np.float64), float(obj["lower"]),
                       bool(obj.get("symmetric", False)))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"malformed inflation certificate: {e}") from None


def _dyadic(y: np.ndarray) -> np.ndarray:
    return np.rint(np.asarray(y, dtype=np.float64) * 2.0**BITS) / 2.0**BITS


def exact_dual_bound(inf: Inflation, q: np.ndarray, D0: float, y: np.ndarray, lp: _LP | None = None, symmetric: bool = True) -> Fraction | None:
    """The weak-duality bound of the module docstring, in exact rational arithmetic, for multipliers ``y`` rounded
    to multiples of 2**-BITS. All data are rebuilt here from (scenario, q, copies, D0) as exact rationals (every
    float64 is one): q's marginals, the products, the remainder bounds, the no-signalling right-hand sides. The
    P columns (integer coefficients: 0/1, or orbit sums when reduced; cost 0, box [0, 1]) are summed in integers.
    ``None`` when y puts a positive multiplier on an upper-bound-only row (the bound is -infinity).
    """
    sc = inf.scenario
    lp = build_lp(inf, q, D0, symmetric) if lp is None else lp  # only its integer P pattern and row layout are used
    Y = np.rint(np.asarray(y, dtype=np.float64) * 2.0**BITS)
    if np.abs(Y).max(initial=0) >= 2.0**52:
        raise ValueError("certificate multipliers too large for the exact check")
    Yi = Y.astype(np.int64)
    scale = 2**BITS
    yF = np.array([Fraction(int(v), scale) for v in Yi], dtype=object)
    nq = q.size
    q_raw = np.array([Fraction(float(v)) for v in q], dtype=object)
    qF = symmetrised(q_raw, lp.q_orbit)  # qbar, exact; the bound is for qbar (the caller subtracts c |q - qbar|_1)
    qa = qF.reshape(sc.shape)
    D0F = Fraction(float(D0))
    c = Fraction(1, 2 * sc.n_setting_combinations)
    nrm = _q_norm(sc, qa)
    total = yF[0]  # normalisation of P: rhs 1
    row = 1
    aty = np.zeros(nq, dtype=object)  # (A^T y) restricted to the r+ columns (r- columns: its negative)
    for _ in lp.full:
        blk = yF[row : row + nq]
        total += np.dot(blk, qF)
        aty -= blk
        row += nq
    e_terms = []  # (block multipliers, eps row index)
    for k, fam in enumerate(lp.products):
        margs = [_marginal_matrix(sc, T).toarray().astype(np.int64) for _, T in fam]
        qs = [m.dot(qF) for m in margs]
        sizes = [len(v) for v in qs]
        kept, orbit = lp.rows[k]
        blk = yF[row : row + len(kept)]
        rhs = qs[0]
        for v in qs[1:]:
            rhs = np.outer(rhs, v).ravel()
        total += np.dot(blk, rhs[kept])
        Yfull = np.full(math.prod(sizes), Fraction(0), dtype=object)  # the dropped rows carry multiplier 0
        Yfull[kept] = blk
        Yb = Yfull.reshape(sizes)
        for i in range(len(fam)):
            t = Yb
            for j in reversed(range(len(fam))):  # contract the other factors with their q marginals
                if j != i:
                    t = np.tensordot(t, qs[j], axes=([j], [0]))  # last to first: axis j is still at j
            aty -= margs[i].T.dot(t)
        e_terms.append((blk, orbit))
        row += len(kept)
    ns = sc.no_signalling_constraints()
    nsm = np.vstack([ns.normalisation, ns.signalling]).astype(np.int64)
    nsr = np.concatenate([np.ones(len(ns.normalisation), dtype=np.int64), np.zeros(len(ns.signalling), dtype=np.int64)])
    blk = yF[row : row + len(nsm)]
    total += np.dot(blk, nsr - nsm.dot(qF)) if len(nsm) else 0
    aty += nsm.T.dot(blk) if len(nsm) else 0
    row += len(nsm)
    # eps rows: sum(e+ + e-) <= eps_k; a positive multiplier on them gives -infinity
    qa_slack = [[_q_slack(sc, qa, T) for _, T in fam] for fam in lp.products]
    for k, fam in enumerate(lp.products):
        yk = yF[row + k]
        if yk > 0:
            return None
        Ms = [math.prod(sc.settings[j] for j in T) for _, T in fam]
        eps = remainder_bound(Ms, D0F, nrm, qa_slack[k])
        total += yk * eps
        blk, orbit = e_terms[k]
        # e+ column of kept row r: -1 in row r, |O_r| in eps row k; e-: +1, |O_r|; cost 0, box [0, eps]
        for yr, o in zip(blk, orbit):
            red_plus = yr - int(o) * yk
            red_minus = -yr - int(o) * yk
            total += min(0, red_plus * eps) + min(0, red_minus * eps)
    # r+ / r- columns, one per q-orbit O (the sum of its entries' columns): cost c |O|, boxes [0, 1 - qbar_O] and
    # [0, max(qbar_O, 0)]
    for o in range(int(lp.q_orbit.max()) + 1):
        mem = np.flatnonzero(lp.q_orbit == o)
        a_o = sum(aty[mem], Fraction(0))
        red_p = c * len(mem) - a_o
        red_m = c * len(mem) + a_o
        qo = qF[mem[0]]
        total += min(0, red_p * (1 - qo)) + min(0, red_m * max(qo, 0))
    # P columns: small integer coefficients, cost 0, box [0, 1]: exact in int64 (no overflow, checked)
    Ap = lp.A[:, : lp.n_p]
    Ai = Ap.astype(np.int64)
    if (Ai != Ap).nnz:
        raise ValueError("inflation LP has non-integer strategy coefficients")
    col_abs = int(np.asarray(abs(Ai).sum(axis=0)).max(initial=0))
    if float(np.abs(Yi).max(initial=0)) * max(1, col_abs) >= 2.0**62:
        raise ValueError("certificate multipliers too large for the exact check")
    AtY = Ai.T @ Yi
    total += Fraction(int(np.minimum(0, -AtY).sum()), scale)
    return total


def _floor_float(x: Fraction) -> float:
    f = float(x)
    return math.nextafter(f, -math.inf) if Fraction(f) > x else f


def check_inflation_certificate(sc: NetworkScenario, q, cert: InflationCertificate) -> CertificateCheck:
    """Solver-free: rebuild the inflation LP from (scenario, q, copies, D0) — reduced by the copy permutations and
    q's symmetries when ``cert.symmetric`` (``_inflation_orbits``; the LP is then that of qbar, q averaged over its
    symmetries) — recompute the dual bound of ``cert.y`` exactly and check
    ``min(D0, bound) - c |q - qbar|_1 >= cert.lower``. ``recomputed`` is that value rounded down."""
    q = np.asarray(q, dtype=np.float64).ravel()
    try:
        lp = build_lp(Inflation.build(sc, cert.copies), q, float(cert.D0), bool(cert.symmetric))
        y = np.asarray(cert.y, dtype=np.float64)
        if y.shape != (lp.A.shape[0],):
            return CertificateCheck(False, math.nan, None, f"certificate has {y.size} multipliers; the LP has {lp.A.shape[0]} rows")
        bound = exact_dual_bound(Inflation.build(sc, cert.copies), q, float(cert.D0), y, lp, bool(cert.symmetric))
    except ValueError as e:
        return CertificateCheck(False, math.nan, None, str(e))
    if bound is None:
        return CertificateCheck(False, -math.inf, None, "a positive multiplier on an upper-bound-only row: no bound")
    qF = np.array([Fraction(float(v)) for v in q], dtype=object)
    shift = sum(np.abs(qF - symmetrised(qF, lp.q_orbit)), Fraction(0)) * Fraction(1, 2 * sc.n_setting_combinations)
    value = min(Fraction(float(cert.D0)), bound) - shift  # D(q) >= D(qbar) - c |q - qbar|_1
    rec = _floor_float(value)
    if Fraction(float(cert.lower)) > value:
        return CertificateCheck(False, rec, value, f"recomputed bound {rec:.6g} is below the claimed {cert.lower:.6g}")
    return CertificateCheck(True, rec, value)


# ---------------------------------------------------------------------------------------------- search over D0
@dataclass
class InflationOutcome:
    """What one inflation gave: the certificate (None when every LP failed), LP count, seconds, sizes, statuses."""

    copies: tuple[int, ...]
    certificate: InflationCertificate | None
    lps: int
    seconds: float
    columns: int
    rows: int
    solver_status: str
    message: str = ""

    @property
    def lower(self) -> float:
        return self.certificate.lower if self.certificate is not None else 0.0


def inflation_bound(
    sc: NetworkScenario, q: np.ndarray, copies, upper: float, *, iterations: int = 10, deadline: float | None = None,
    symmetric: bool = True,
) -> InflationOutcome:
    """Best certified lower bound of one inflation: ``max over D0 in [0, upper] of min(D0, f(D0))`` (regula falsi on
    ``f(D0) - D0``, at most ``iterations`` LPs after the first two).

    ``upper``: a valid upper bound on the distance (the model's); the bound at D0 = upper is always valid.
    ``deadline``: a ``time.perf_counter()`` value; LPs stop there (HiGHS time limit), keeping the best bound so far.
    ``symmetric``: solve the LP reduced by the copy-permutation group (same optimum, smaller; ``_inflation_orbits``);
    False: the full LP (kept for comparison).
    """
    t0 = time.perf_counter()
    q = np.asarray(q, dtype=np.float64).ravel()
    inf = Inflation.build(sc, copies)
    upper = float(min(max(upper, 0.0), 1.0)) if math.isfinite(upper) else 1.0
    lp = build_lp(inf, q, upper, symmetric)
    h = _solve(lp)
    lps, natives = 0, []
    best: tuple[float, float, np.ndarray] | None = None  # (value, D0, y)

    def run(D0: float):
        nonlocal lps
        if deadline is not None:
            left = deadline - time.perf_counter()
            if left <= 0:
                natives.append("kTimeLimit")
                return None
            h.setOptionValue("time_limit", float(left))
        eps = np.array([remainder_bound(m, D0, nr, sl) for m, nr, sl in lp.eps_args])
        for k, (a, b) in enumerate(lp.eps_cols):
            h.changeRowBounds(int(lp.eps_rows[k]), -INF, float(eps[k]))
            idx = np.arange(a, b, dtype=np.int32)
            h.changeColsBounds(len(idx), idx, np.zeros(len(idx)), np.full(len(idx), float(eps[k])))
        lp.row_hi[lp.eps_rows] = eps
        for k, (a, b) in enumerate(lp.eps_cols):
            lp.col_hi[a:b] = eps[k]
        h.run()
        h.setOptionValue("presolve", "off")  # later solves only move the eps bounds: warm start from this basis
        lps += 1
        status, _, native = status_of(h)
        if status != Status.OPTIMAL:
            natives.append(native)
            return None
        y = _dyadic(np.asarray(h.getSolution().row_dual))
        val = dual_bound_float(lp, y)
        if not math.isfinite(val):
            y = -y  # HiGHS's sign convention for row duals, should it differ
            val = dual_bound_float(lp, y)
        return val, y

    r = run(upper)
    if r is not None:
        best = (min(upper, r[0]), upper, r[1])
    if r is not None and len(lp.eps_rows) and r[0] < upper:
        # g(D0) = f(D0) - D0 decreases; the best bound min(D0, f(D0)) is at its root: regula falsi (Illinois)
        lo, hi = max(r[0], 0.0), upper
        g_hi = r[0] - upper
        rl = run(lo)
        g_lo = None if rl is None else rl[0] - lo
        if rl is not None and min(lo, rl[0]) > best[0]:
            best = (min(lo, rl[0]), lo, rl[1])
        side = 0
        for _ in range(iterations if g_lo is not None else 0):
            if g_lo <= 0 or hi - lo <= 1e-4 * max(hi, 1e-9):
                break
            mid = lo + g_lo * (hi - lo) / (g_lo - g_hi)
            mid = min(max(mid, lo + 1e-3 * (hi - lo)), hi - 1e-3 * (hi - lo))
            rm = run(mid)
            if rm is None:
                break
            val = min(mid, rm[0])
            if val > best[0]:
                best = (val, mid, rm[1])
            g = rm[0] - mid
            if g >= 0:
                lo, g_lo = mid, g
                if side == 1:
                    g_hi /= 2
                side = 1
            else:
                hi, g_hi = mid, g
                if side == -1:
                    g_lo /= 2
                side = -1
    native = "kOptimal" if not natives else ", ".join(f"{k} x{natives.count(k)}" for k in sorted(set(natives)))
    if best is None:
        return InflationOutcome(inf.copies, None, lps, time.perf_counter() - t0, lp.A.shape[1], lp.A.shape[0], native, "every LP failed")
    # the certified value is the exact recomputation, rounded down (not the solver's objective)
    cert = InflationCertificate(inf.copies, best[1], best[2], 0.0, bool(symmetric))
    chk = check_inflation_certificate(sc, q, cert)
    lower = max(0.0, chk.recomputed) if chk.ok and math.isfinite(chk.recomputed) else 0.0
    cert = InflationCertificate(inf.copies, best[1], best[2], lower, bool(symmetric))
    return InflationOutcome(inf.copies, cert, lps, time.perf_counter() - t0, lp.A.shape[1], lp.A.shape[0], native)
