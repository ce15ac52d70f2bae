"""Bipartite Bell scenarios without enumerating every deterministic point: separable local bounds and column
generation for NL and visibility (docs/measures.md, "Local bounds and column generation").

A deterministic point of a bipartite scenario is a pair of strategies (sA, sB), sA: setting -> outcome. For a
functional B (shape (dA, dB, mA, mB)) and a fixed strategy s of one party (the *enumerated* one, whichever has
fewer strategies), the other party's best response separates by setting:

    max_{s'} <B, d(s, s')> = sum_{y} max_{b} sum_{x} B[s(x), b, x, y]        (A enumerated; B's side likewise).

So the local bound ``max_k <B, d_k>`` is exact after enumerating one party's d^m strategies, with memory
d^m * d' * m' (16 MiB at m = 16 binary) instead of the (d^m)(d'^m') points. The enumeration meets in the middle:
the enumerated party's settings are split in two halves, each half enumerated, and the partial sums added by
broadcasting.

Column generation (``colgen_nl``, ``colgen_visibility``): the LP of ``certify._nl`` / ``certify._visibility``
over a few columns (deterministic points); after each solve, the best responses to the current dual functional
(the enumerated party's strategies of highest value, each with the other party's best response) enter when their
reduced cost is negative. It stops when no deterministic point has a reduced cost below ``-PRICE_TOL``: the
master's functional is then optimal for the full LP, up to that tolerance, and its local bound is computed by the
same exact enumeration (and checked as for the enumerated LPs).

Deterministic point indices are those of ``Scenario.deterministic_points()``: ``k = iA * KB + iB`` with iA, iB
the strategies' indices in ``itertools.product(range(d), repeat=m)`` order (first setting most significant).
"""

from __future__ import annotations

import functools
import itertools
import math
import time

import highspy
import numpy as np

from bellcore import BellScenario, Scenario

from ._highs import INF, make_lp, new_highs, status_of
from ._result import Status

__all__ = [
    "Separable",
    "separable",
    "is_separable",
    "colgen_nl",
    "colgen_visibility",
    "points_model",
    "support_error",
    "PRICE_TOL",
]

#: A column enters while its reduced cost is below -PRICE_TOL (in units of the functional's entries).
PRICE_TOL = 1e-11
#: Columns added per round: the enumerated party's best strategies (each with its partner's best response);
#: NL 32, visibility 64 (measured at m = 10: docs/performance.md).
ADD_PER_ROUND = 32
ADD_PER_ROUND_VISIBILITY = 64
_MAX_ROUNDS = 100_000


def is_separable(sc: Scenario) -> bool:
    """True for bipartite Bell scenarios: their local bound is computed by ``Separable`` (one party enumerated)."""
    return isinstance(sc, BellScenario) and sc.n_parties == 2


class Separable:
    """Exact local bounds and best responses of a bipartite scenario, enumerating one party's strategies.

    Attributes:
        e, o: the enumerated party (0 = A, 1 = B) and the other one.
        K_e, K_o: their numbers of strategies; K = K_e * K_o deterministic points in all.
    """

    def __init__(self, sc: Scenario):
        if not is_separable(sc):
            raise ValueError(f"separable local bounds need a bipartite Bell scenario; got {sc}")
        sc.check_enumerable()
        (dA, dB), (mA, mB) = sc.outcomes, sc.settings
        self.scenario = sc
        self.e = 0 if dA**mA <= dB**mB else 1
        self.o = 1 - self.e
        self.d_e, self.m_e = sc.outcomes[self.e], sc.settings[self.e]
        self.d_o, self.m_o = sc.outcomes[self.o], sc.settings[self.o]
        self.K_e, self.K_o = self.d_e**self.m_e, self.d_o**self.m_o
        h1 = self.m_e // 2
        self.h1 = h1
        h2 = self.m_e - h1
        self.S1 = np.array(list(itertools.product(range(self.d_e), repeat=h1)), dtype=np.intp).reshape(self.d_e**h1, h1)
        self.S2 = np.array(list(itertools.product(range(self.d_e), repeat=h2)), dtype=np.intp).reshape(self.d_e**h2, h2)
        # flat index of entry (a, b, x, y) of shape (dA, dB, mA, mB)
        self.shape = (dA, dB, mA, mB)
        self._flat = np.arange(math.prod(self.shape)).reshape(self.shape)

    # --------------------------------------------------------------------------------- values
    def _table(self, bell: np.ndarray) -> np.ndarray:
        """``T[x_e, a_e, a_o, x_o]``: the functional with the enumerated party's axes first."""
        B = np.asarray(bell).reshape(self.shape)
        return B.transpose(2, 0, 1, 3) if self.e == 0 else B.transpose(3, 1, 0, 2)

    def partial_sums(self, bell: np.ndarray) -> np.ndarray:
        """``G[k, a_o, x_o] = sum_{x_e} B[s_k(x_e), a_o, x_e, x_o]`` for every strategy k of the enumerated party,
        shape (K_e, d_o, m_o) (same dtype as ``bell``: exact for integer functionals)."""
        T = self._table(bell)
        h1 = self.h1
        G1 = np.zeros((len(self.S1), self.d_o, self.m_o), dtype=T.dtype)
        for x in range(h1):
            G1 += T[x][self.S1[:, x]]
        G2 = np.zeros((len(self.S2), self.d_o, self.m_o), dtype=T.dtype)
        for x in range(self.m_e - h1):
            G2 += T[h1 + x][self.S2[:, x]]
        return (G1[:, None] + G2[None, :]).reshape(self.K_e, self.d_o, self.m_o)

    def values(self, bell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(values, G)``: ``values[k] = max_{s'} <B, d(s_k, s')>`` over the other party's strategies, and G."""
        G = self.partial_sums(bell)
        return G.max(axis=1).sum(axis=1), G

    def local_bound(self, bell: np.ndarray) -> float:
        """``max_k <bell, d_k>`` over every deterministic point, exactly (float64 functional)."""
        return float(self.values(np.asarray(bell, dtype=np.float64))[0].max())

    def local_bound_int(self, bell_int: np.ndarray) -> int:
        """The same for an integer (int64) functional, in exact integer arithmetic."""
        return int(self.values(np.asarray(bell_int, dtype=np.int64))[0].max())

    # --------------------------------------------------------------------------------- points
    def best_points(self, values: np.ndarray, G: np.ndarray, ks: np.ndarray) -> np.ndarray:
        """Global indices of the deterministic points (s_k, best response to s_k) for enumerated strategies ks."""
        resp = G[ks].argmax(axis=1)  # (len(ks), m_o): the other party's outcome per setting
        k_o = resp @ (self.d_o ** np.arange(self.m_o - 1, -1, -1))
        return ks * self.K_o + k_o if self.e == 0 else k_o * self.K_e + ks

    def strategies(self, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(sA, sB)``, shapes (n, mA) and (n, mB): the strategies of the deterministic points with indices k."""
        (dA, dB), (mA, mB) = self.scenario.outcomes, self.scenario.settings
        k = np.asarray(k, dtype=np.int64).reshape(-1)
        KB = dB**mB
        iA, iB = k // KB, k % KB
        sA = (iA[:, None] // dA ** np.arange(mA - 1, -1, -1)) % dA
        sB = (iB[:, None] // dB ** np.arange(mB - 1, -1, -1)) % dB
        return sA, sB

    def entries(self, k: np.ndarray) -> np.ndarray:
        """Flat indices of the 1-entries of deterministic points k, shape (n, mA * mB)."""
        sA, sB = self.strategies(k)
        (mA, mB) = self.scenario.settings
        x = np.repeat(np.arange(mA), mB)
        y = np.tile(np.arange(mB), mA)
        return self._flat[sA[:, x], sB[:, y], x, y]


@functools.lru_cache(maxsize=16)
def separable(sc: Scenario) -> Separable:
    return Separable(sc)


def support_error(sc: Scenario, support, weights) -> str:
    """Why ``(support, weights)`` cannot describe a local model of ``sc`` (empty string when it can)."""
    support = np.asarray(support)
    if support.ndim != 1 or np.shape(weights) != support.shape:
        return f"support of shape {support.shape} does not match weights of shape {np.shape(weights)}"
    if support.size and (not np.issubdtype(support.dtype, np.integer) or support.min() < 0
                         or support.max() >= sc.n_deterministic):
        return f"support indices must be integers in [0, {sc.n_deterministic})"
    return ""


def points_model(sc: Scenario, support: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``sum_j weights[j] d_{support[j]}``, flat, without enumerating the scenario's deterministic points."""
    err = support_error(sc, support, weights)
    if err:
        raise ValueError(err)
    sep = separable(sc)
    idx = sep.entries(np.asarray(support))
    out = np.zeros(math.prod(sc.shape))
    np.add.at(out, idx.ravel(), np.repeat(np.asarray(weights, dtype=np.float64), idx.shape[1]))
    return out


# ------------------------------------------------------------------------------------- the master LPs
class _Master:
    """An LP over a growing set of deterministic-point columns (rows: the N entries, then the convexity row)."""

    def __init__(self, sep: Separable, lp: highspy.HighsLp, n: int, n_fixed: int, row_map: np.ndarray | None = None):
        """``n`` rows before the convexity row; a point's column is its 0/1 entries, or ``row_map @ entries``."""
        self.sep, self.n, self.n_fixed, self.row_map = sep, n, n_fixed, row_map
        self.add_per_round = ADD_PER_ROUND
        self.h = new_highs()
        # primal simplex: added columns leave the last basis primal feasible (2.5x fewer seconds than HiGHS's
        # default choice for visibility at m = 10; docs/performance.md)
        self.h.setOptionValue("simplex_strategy", 4)
        self.h.passModel(lp)
        self.cols: list[int] = []  # global deterministic-point index of each column after the fixed ones
        self._have: set[int] = set()
        self.rounds = 0
        self.lp_seconds = 0.0  # in HiGHS (the rest of a solve: pricing and adding columns)

    def add(self, ks: np.ndarray, extra_row_coef: float = 1.0) -> int:
        new = [k for k in dict.fromkeys(int(k) for k in ks) if k not in self._have]
        if not new:
            return 0
        idx = self.sep.entries(np.array(new, dtype=np.int64))  # (n_new, mA mB)
        n_new, nnz = idx.shape
        if self.row_map is None:
            index = np.concatenate([np.sort(idx, axis=1), np.full((n_new, 1), self.n)], axis=1).ravel().astype(np.int32)
            value = np.tile(np.concatenate([np.ones(nnz), [extra_row_coef]]), n_new)
            starts = (np.arange(n_new) * (nnz + 1)).astype(np.int32)
        else:
            pts = np.zeros((n_new, self.row_map.shape[1]))
            pts[np.arange(n_new)[:, None], idx] = 1.0
            dense = np.concatenate([pts @ self.row_map.T, np.full((n_new, 1), extra_row_coef)], axis=1)
            rows, cols = np.nonzero(dense)  # row-major: grouped by column of the LP
            index = cols.astype(np.int32)
            value = dense[rows, cols]
            starts = np.searchsorted(rows, np.arange(n_new)).astype(np.int32)
        self.h.addCols(n_new, np.zeros(n_new), np.zeros(n_new), np.full(n_new, INF), len(index), starts, index, value)
        self.cols.extend(new)
        self._have.update(new)
        return n_new

    def run(self, bell_of_dual) -> tuple[Status, str, str, np.ndarray | None]:
        """Solve, price, add columns; repeat until no column prices out. Returns the final row duals."""
        h, sep = self.h, self.sep
        for _ in range(_MAX_ROUNDS):
            t0 = time.perf_counter()
            h.run()
            self.lp_seconds += time.perf_counter() - t0
            self.rounds += 1
            status, message, native = status_of(h)
            if status != Status.OPTIMAL:
                return status, message, native, None
            y = np.asarray(h.getSolution().row_dual)
            bell, mu = y[: self.n], y[self.n]
            vals, G = sep.values(bell_of_dual(bell))
            # reduced cost of point k: -(B.d_k + mu); enter the most negative ones
            n_add = self.add_per_round
            top = np.argpartition(-vals, min(n_add, len(vals) - 1))[:n_add]
            top = top[vals[top] + mu > PRICE_TOL]
            if top.size == 0 or self.add(sep.best_points(vals, G, top)) == 0:
                return status, message, native, y
        return Status.LIMIT, f"column generation stopped after {_MAX_ROUNDS} rounds", "kIterationLimit", None

    def weights(self) -> np.ndarray:
        return np.asarray(self.h.getSolution().col_value[self.n_fixed :])


def _start_points(sep: Separable, bell: np.ndarray) -> np.ndarray:
    """A few deterministic starting columns: the best responses to ``bell`` of highest value."""
    vals, G = sep.values(bell)
    top = np.argsort(-vals, kind="stable")[:ADD_PER_ROUND]
    return sep.best_points(vals, G, top)


def colgen_nl(q: np.ndarray, sc: Scenario):
    """NL's L1-regression LP (``certify._nl``) by column generation.

    Returns ``(status, message, native, value, support, weights, bell, columns)``: ``support`` the global indices
    of the generated columns, ``weights`` their LP weights, ``bell`` the equality-row duals.
    """
    sep = separable(sc)
    n = q.size
    c = sc.normalisation
    eye = np.eye(n)
    a = np.block([[eye, -eye], [np.zeros((1, 2 * n))]])
    lp = make_lp(np.full(2 * n, c), np.zeros(2 * n), np.full(2 * n, INF), np.append(q, 1.0), np.append(q, 1.0), a)
    m = _Master(sep, lp, n, 2 * n)
    u = 1.0 / math.prod(sc.outcomes)
    m.add(_start_points(sep, c * np.where(q >= u, 1.0, -1.0)))  # the sign functional of certify._nl's crash
    status, message, native, y = m.run(lambda b: b)
    if y is None:
        return status, message, native, math.nan, None, None, None, len(m.cols)
    return (status, message, native, m.h.getInfo().objective_function_value, np.array(m.cols, dtype=np.int64),
            m.weights(), y[:n], len(m.cols))


def collins_gisin(sc: Scenario) -> np.ndarray:
    """The Collins-Gisin map (shape (r, N)): p(a|x), a < dA - 1 (read at y = 0); p(b|y), b < dB - 1 (at x = 0);
    p(a, b|x, y), a < dA - 1, b < dB - 1. One-to-one on normalised no-signalling behaviours, so equalities between
    two of them may be imposed on these r = (dA-1) mA + (dB-1) mB + (dA-1)(dB-1) mA mB coordinates instead of all
    N entries."""
    (dA, dB), (mA, mB) = sc.outcomes, sc.settings
    flat = np.arange(dA * dB * mA * mB).reshape(dA, dB, mA, mB)
    rows = []
    for x in range(mA):
        for a in range(dA - 1):
            rows.append(flat[a, :, x, 0])
    for y in range(mB):
        for b in range(dB - 1):
            rows.append(flat[:, b, 0, y])
    for x in range(mA):
        for y in range(mB):
            for a in range(dA - 1):
                for b in range(dB - 1):
                    rows.append(flat[a, b, x, y][None])
    out = np.zeros((len(rows), flat.size))
    for i, r in enumerate(rows):
        out[i, r] = 1.0
    return out


def colgen_visibility(q: np.ndarray, sc: Scenario):
    """Visibility by column generation: ``max v`` s.t. ``sum_k lam_k d_k - v (q - u) = u``, ``sum lam = 1``,
    ``0 <= v <= 1``, over generated columns (the dA dB constant strategies first: their uniform mixture is u, so
    every master is feasible at v = 0; then the columns of ``colgen_nl``'s closest local model). The equalities are imposed on Collins-Gisin coordinates (both sides are
    normalised no-signalling behaviours when q is): about 4x fewer rows for two outcomes.

    Returns ``(status, message, native, v, support, weights, bell, columns)``; ``bell`` is the functional of the
    row duals on full behaviours (``C^T y``, C the Collins-Gisin map).
    """
    sep = separable(sc)
    n = q.size
    u = np.full(n, 1.0 / math.prod(sc.outcomes))
    cg = collins_gisin(sc)
    r = cg.shape[0]
    a = np.vstack([-(cg @ (q - u))[:, None], [[0.0]]])
    rhs = np.append(cg @ u, 1.0)
    lp = make_lp(np.array([-1.0]), np.zeros(1), np.ones(1), rhs, rhs, a)
    m = _Master(sep, lp, r, 1, row_map=cg)
    m.add_per_round = ADD_PER_ROUND_VISIBILITY
    (dA, dB), (mA, mB) = sc.outcomes, sc.settings
    const_a = np.array([a * sum(dA**i for i in range(mA)) for a in range(dA)], dtype=np.int64)
    const_b = np.array([b * sum(dB**i for i in range(mB)) for b in range(dB)], dtype=np.int64)
    m.add((const_a[:, None] * dB**mB + const_b[None, :]).ravel())
    # start from the columns of the closest local model (NL by column generation): at m = 10, 1-2 rounds instead of
    # 50-65 and a quarter of the time, NL included (docs/performance.md)
    nl = colgen_nl(q, sc)
    if nl[4] is not None:
        m.add(nl[4])
    m.add(_start_points(sep, q - u))
    status, message, native, y = m.run(lambda b: b @ cg)
    if y is None:
        return status, message, native, math.nan, None, None, None, len(m.cols)
    v = float(m.h.getSolution().col_value[0])
    return status, message, native, v, np.array(m.cols, dtype=np.int64), m.weights(), y[:r] @ cg, len(m.cols)
