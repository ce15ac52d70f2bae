"""Upper bounds (alternating LPs) and global branch-and-bound (lower bounds) for NBL.

Two ``NBLProgram`` instances per behaviour, each keeping its own warm start: one for exact LPs at a fixed source
distribution (upper bounds: each solution is an explicit bilocal model), one for McCormick relaxations over boxes
of the source coordinates (z1, z2) (lower bounds; see ``_nbl_lp`` for the coordinates and why they matter).

The search (``branch_and_bound``):

1. Root: the relaxation over the whole simplex (the tripartite-local LP plus the valid equalities).
2. Initial upper bound: alternating exact LPs (fix q1, solve for q2 and B; fix q2, solve for q1 and B; ...)
   from a few starts (A's product-of-marginals distribution, the root's q1, uniform, random).
3. Best-first branch-and-bound. A child inherits its parent's bound and is solved only when it reaches the top of
   the heap (lazy evaluation) from its parent's optimal basis (warm start).
   Branching: the coordinate with the largest McCormick violation |W - z1 z2^T| (summed over the other source's
   coordinates) times its width, split at the relaxed value kept 10 % inside the interval.
   Every 4th box (``heuristic_every``) that survives its LP proposes its relaxed q1 to the exact LP (a new bilocal
   model, often a better upper bound, so pruning starts early; without it the search stalls on the initial upper
   bound). The measurements behind these choices: docs/performance.md.
4. Stop when upper - min(open bounds, discarded bounds) <= tol, or at the node / time limit.

Lower bounds are never HiGHS's objective values: each box's bound is ``NBLProgram.safe_bound`` of its row duals,
a Lagrangian (weak-duality) bound computed in numpy on a mirror of the LP, valid for any multipliers, so LP
tolerances can only weaken a bound, never make it wrong. Upper bounds are distances of explicit models
(recomputed from the model in ``_nbl``).
"""

from __future__ import annotations

import heapq
import itertools
import time
from dataclasses import dataclass

import numpy as np

from ._nbl_lp import NBLProgram, q_of_z, z_of_q

__all__ = ["Search", "Incumbent", "branch_and_bound", "upper_search"]


# ----------------------------------------------------------------------------------------------- search
@dataclass
class Incumbent:
    """Best bilocal model so far: its LP value and the LP solution parts (t, q1, q2).

    ``dual``: the row duals of that exact LP's 64 entry rows (``D t - s+ + s- = q``), i.e. the derivative of its
    value in q with the fixed source held fixed (envelope theorem; a subgradient where the dual is not unique).
    """

    value: float = np.inf
    t: np.ndarray | None = None
    q1: np.ndarray | None = None
    q2: np.ndarray | None = None
    dual: np.ndarray | None = None


@dataclass
class Search:
    """Outcome of the search: bounds, incumbent, statistics."""

    lower: float
    upper: float
    incumbent: Incumbent
    nodes: int
    lps: int
    upper_lps: int
    seconds: float
    upper_seconds: float
    stopped: str  # "gap", "nodes", "time", "error"
    message: str = ""
    upper_initial: float = np.inf  # the multi-start alternating upper bound alone
    failures: dict[str, int] | None = None  # native HiGHS status -> count, of the LPs (boxes or exact) that failed

    @property
    def solver_status(self) -> str:
        return native_summary(self.failures)


def native_summary(failures: dict[str, int] | None) -> str:
    """HiGHS's native statuses of a search: ``"kOptimal"`` when every LP solved, else e.g. ``"kInfeasible x2"``."""
    if not failures:
        return "kOptimal"
    return ", ".join(f"{k} x{v}" for k, v in sorted(failures.items()))


def _simplex(v):
    v = np.clip(np.asarray(v, dtype=np.float64), 0.0, None)
    s = v.sum()
    return v / s if s > 0 else np.full(len(v), 1.0 / len(v))


class _Exact:
    """Exact LPs at a fixed source distribution (the other one free); keeps the incumbent."""

    def __init__(self, model: NBLProgram, q: np.ndarray):
        self.m, self.q = model, q
        self.inc = Incumbent()
        self.lps = 0

    def _run(self, L1, U1, L2, U2):
        self.m.set_box(L1, U1, L2, U2)
        ok, val, x = self.m.solve()
        self.lps += 1
        if ok and val < self.inc.value:
            t, _, z1, z2, _ = self.m.parts(x)
            dual = np.asarray(self.m.h.getSolution().row_dual[: self.m.ne])  # the entry rows come first
            self.inc = Incumbent(val, t.copy(), _simplex(q_of_z(z1)), _simplex(q_of_z(z2)), dual)
        return ok, val, x

    def at_q1(self, q1):
        z = z_of_q(_simplex(q1))
        return self._run(z, z, _ZERO3, _ONE3)

    def at_q2(self, q2):
        z = z_of_q(_simplex(q2))
        return self._run(_ZERO3, _ONE3, z, z)

    def alternate(self, q1, max_rounds: int = 30, rtol: float = 1e-10) -> float:
        """Alternate exact LPs at fixed q1 and at fixed q2, from a starting q1; returns the best value."""
        ok, val, x = self.at_q1(q1)
        best = val if ok else np.inf
        # each round: re-solve at the other source's distribution from the last solution (part 3: q2, part 2: q1)
        steps = itertools.islice(itertools.cycle(((self.at_q2, 3), (self.at_q1, 2))), 2 * max_rounds)
        for solve, part in steps:
            if not ok:
                break
            ok, val, x = solve(q_of_z(self.m.parts(x)[part]))
            if not ok or val > best - rtol:
                best = min(best, val) if ok else best
                break
            best = val
        return best


_ZERO3, _ONE3 = np.zeros(3), np.ones(3)


def upper_search(ex: _Exact, q: np.ndarray, nb: int, mb: int, starts: int, rng, extra=()) -> None:
    """Multi-start alternating LPs from: the product of A's marginals, ``extra``, uniform, random Dirichlet."""
    qa = q.reshape(2, nb, 2, 2, mb, 2).sum(axis=(1, 2))[:, :, 0, 0]  # p(a|x)
    pa0, pa1 = qa[0, 0], qa[0, 1]
    cand = [np.array([pa0 * pa1, pa0 * (1 - pa1), (1 - pa0) * pa1, (1 - pa0) * (1 - pa1)])]
    cand += [np.asarray(e, dtype=np.float64) for e in extra]
    cand.append(np.full(4, 0.25))
    while len(cand) < starts:
        cand.append(rng.dirichlet(np.full(4, 0.5)))
    for q1 in cand[: max(starts, 1)]:
        ex.alternate(q1)


def _tighten(L, U):
    """Intersect a box of coordinates (P0, P1, e) with the simplex (q >= 0): tightened (L, U) or None."""
    a0, a1, c = L
    b0, b1, d = U
    for _ in range(3):
        c = max(c, 0.0, a0 + a1 - 1.0)
        d = min(d, b0, b1)
        a0, a1 = max(a0, c), max(a1, c)
        b0, b1 = min(b0, 1.0 + d - a1), min(b1, 1.0 + d - a0)
    if a0 > b0 + 1e-12 or a1 > b1 + 1e-12 or c > d + 1e-12:
        return None
    return np.array([a0, a1, c]), np.array([max(a0, b0), max(a1, b1), max(c, d)])


class _Node:
    __slots__ = ("L1", "U1", "L2", "U2", "solved", "x", "basis")

    def __init__(self, L1, U1, L2, U2, basis=None):
        self.L1, self.U1, self.L2, self.U2 = L1, U1, L2, U2
        self.solved = False
        self.x = None
        self.basis = basis  # unsolved: the parent's optimal basis (warm start); solved: its own


def branch_and_bound(
    q_flat: np.ndarray,
    nb: int,
    mb: int,
    normalisation: float,
    *,
    tol: float,
    max_nodes: int,
    time_limit: float,
    seed: int = 0,
    starts: int = 2,
    frac: float = 0.1,
    heuristic_every: int = 4,
    known_lower: float = -np.inf,
) -> Search:
    """Certified interval [lower, upper] for NBL of the flat behaviour ``q_flat``.

    Best-first branch-and-bound over boxes of the source coordinates (z1, z2); each box's bound is its McCormick
    LP (solved lazily: a child inherits its parent's bound and is solved when it reaches the top of the heap);
    every ``heuristic_every``-th solved box that survives proposes its relaxed q1 to the exact LP (a new bilocal
    model, maybe a better upper bound). LPs that fail are counted by HiGHS's native status in ``failures``.
    ``known_lower``: a certified lower bound from elsewhere (``nbl_label``: the tripartite NL); the search also stops
    once ``upper - known_lower <= tol``. It does not enter the returned ``lower`` (the caller takes the maximum).
    """
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    q = np.asarray(q_flat, dtype=np.float64)
    ex = _Exact(NBLProgram(q, nb, mb, normalisation), q)
    relax = NBLProgram(q, nb, mb, normalisation)
    # root relaxation (the tripartite-local LP with the valid equalities): its q1 is a good start
    ok, root_val, root_x = relax.solve(safe=True)
    if not ok:
        return Search(np.nan, np.inf, ex.inc, 0, relax.n_solves, 0, time.perf_counter() - t0, 0.0, "error",
                      "root relaxation: " + relax.h.modelStatusToString(relax.h.getModelStatus()),
                      failures=dict(relax.failures))
    upper_search(ex, q, nb, mb, starts, rng, extra=(q_of_z(relax.parts(root_x)[2]),))
    t_up = time.perf_counter() - t0
    up_lps = ex.lps
    up_initial = ex.inc.value

    nodes = 1
    counter = itertools.count()
    root = _Node(_ZERO3, _ONE3, _ZERO3, _ONE3)
    root.solved, root.x, root.basis = True, root_x, relax.h.getBasis()
    heap = [(root_val, next(counter), root)]
    pruned = np.inf  # smallest bound of a discarded box (discarded because bound >= upper - tol)
    stopped = "gap"
    while heap:
        lower = min(heap[0][0], pruned)
        if ex.inc.value - max(lower, known_lower) <= tol:
            break
        if nodes >= max_nodes:
            stopped = "nodes"
            break
        if time.perf_counter() - t0 > time_limit:
            stopped = "time"
            break
        bound, _, nd = heapq.heappop(heap)
        if not nd.solved:
            nodes += 1
            relax.set_box(nd.L1, nd.U1, nd.L2, nd.U2)
            if nd.basis is not None:
                relax.h.setBasis(nd.basis)
            ok, val, x = relax.solve(safe=True)
            nd.solved = True
            nd.basis = None
            if ok:
                bound = max(bound, val)
                nd.x = x
                nd.basis = relax.h.getBasis()
                if bound < ex.inc.value - tol and nodes % heuristic_every == 0:  # a surviving box proposes q1
                    ex.at_q1(q_of_z(relax.parts(x)[2]))
            if bound >= ex.inc.value - tol:
                pruned = min(pruned, bound)
            else:
                heapq.heappush(heap, (bound, next(counter), nd))
            continue
        if bound >= ex.inc.value - tol:  # the upper bound improved since this box was solved
            pruned = min(pruned, bound)
            continue
        # branch on the coordinate with the largest McCormick violation times its width
        w1, w2 = nd.U1 - nd.L1, nd.U2 - nd.L2
        if max(w1.max(), w2.max()) < 1e-12:  # a point: F there >= the exact LP at its q1 (q2 free) >= upper
            if nd.x is None:
                pruned = min(pruned, bound)
            else:
                ex.at_q1(q_of_z(relax.parts(nd.x)[2]))
                pruned = min(pruned, max(bound, ex.inc.value - tol))
            continue
        if nd.x is None:  # LP failed on this box: bisect its widest side
            which, i, v = (1, int(np.argmax(w1)), None) if w1.max() >= w2.max() else (2, int(np.argmax(w2)), None)
        else:
            _, _, z1, z2, W = relax.parts(nd.x)
            viol = np.abs(W - np.outer(z1, z2))
            sc1, sc2 = viol.sum(axis=1) * w1, viol.sum(axis=0) * w2
            if sc1.max() <= 0 and sc2.max() <= 0:
                sc1, sc2 = w1, w2
            which, i, v = (1, int(np.argmax(sc1)), z1) if sc1.max() >= sc2.max() else (2, int(np.argmax(sc2)), z2)
        lo, hi = (nd.L1[i], nd.U1[i]) if which == 1 else (nd.L2[i], nd.U2[i])
        w = hi - lo
        split = 0.5 * (lo + hi) if v is None else min(max(v[i], lo + frac * w), hi - frac * w)
        for side in (0, 1):
            L1, U1, L2, U2 = nd.L1.copy(), nd.U1.copy(), nd.L2.copy(), nd.U2.copy()
            if which == 1:
                (U1 if side == 0 else L1)[i] = split
                tt = _tighten(L1, U1)
                if tt is None:
                    continue
                L1, U1 = tt
            else:
                (U2 if side == 0 else L2)[i] = split
                tt = _tighten(L2, U2)
                if tt is None:
                    continue
                L2, U2 = tt
            heapq.heappush(heap, (bound, next(counter), _Node(L1, U1, L2, U2, nd.basis)))
    lower = min(heap[0][0] if heap else np.inf, pruned, ex.inc.value)
    failures = dict(relax.failures)
    for k, v in ex.m.failures.items():
        failures[k] = failures.get(k, 0) + v
    message = f"{sum(failures.values())} LP(s) did not solve ({native_summary(failures)})" if failures else ""
    return Search(lower, ex.inc.value, ex.inc, nodes, relax.n_solves + ex.lps, up_lps,
                  time.perf_counter() - t0, t_up, stopped, message, up_initial, failures)
