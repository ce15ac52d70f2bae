"""NL of many behaviours of one bipartite scenario, the certificates checked for all rows at once; optionally
several behaviours per HiGHS call (the path of ``certify.nonlocality_many``; docs/performance.md, "NL batch").

Without blocks (the default) each behaviour is solved by ``certify._nl``'s LP as ``nonlocality`` solves it: the
values, functionals and weights are bit-identical (a dataset's stored labels are reproduced exactly).

With ``blocks=True``: a HiGHS call has a fixed cost (~0.1 ms, measured on a 1x1 LP) that the small NL LPs of
m <= 3 cannot hide. The block LP holds ``size`` copies of ``certify._nl``'s L1-regression LP on the block
diagonal, one copy per behaviour: the copies share no row or column, so its optimum is every copy's optimum and
its duals are every copy's Bell functional. It starts from the crash basis of each copy
(``_NLProgram.crash_basic``) and runs the dual simplex as the one-behaviour LP does. Its answers are a function of
the block's behaviours alone (the solver forgets each previous solve), so a batch certified in the same chunks
gives bit-identical results whatever the number of workers; a behaviour's value agrees with ``nonlocality``'s to
LP round-off, and at degenerate optima its functional may be another optimal one (each is checked).
"""
from __future__ import annotations

import functools
import math

import highspy
import numpy as np
import scipy.sparse as sp

from bellcore import Scenario

from ._highs import INF, new_highs, status_of
from ._nl import _OPTIMAL, NonlocalityResult, _complete_basis, _program, column_status, finish_rows
from ._result import SOLVED, Status

__all__ = ["nonlocality_chunk", "nonlocality_rows", "block_size", "BLOCK_NONZEROS"]

#: A block LP holds at most this many matrix nonzeros and ``MAX_BLOCK`` behaviours: the per-call cost is shared by
#: the behaviours of a block while the simplex's per-iteration work, which grows with the block, stays small
#: (measured: docs/performance.md; no gain from blocks at m = 5 binary, 26,824 nonzeros per LP).
BLOCK_NONZEROS = 10_000
MAX_BLOCK = 32


def block_size(sc: Scenario) -> int:
    """Behaviours per HiGHS call for scenario ``sc``: the largest power of two (so that blocks tile
    ``certify_many``'s chunks) within ``BLOCK_NONZEROS`` and ``MAX_BLOCK``; 1 is the one-behaviour LP of
    ``certify._nl``. Binary m = 2, 3, 4, 5: 32, 8, 2, 1."""
    n_entries = int(np.prod(sc.shape))
    nonzeros = sc.n_deterministic * (math.prod(sc.settings) + 1) + 2 * n_entries  # D, the sum row, the residuals
    fits = max(1, min(MAX_BLOCK, BLOCK_NONZEROS // nonzeros))
    return 1 << (fits.bit_length() - 1)


class _BlockProgram:
    """``size`` copies of the NL LP of one scenario on the block diagonal; each solve changes only the row bounds."""

    def __init__(self, scenario: Scenario, size: int):
        one = _program(scenario)  # the one-behaviour LP: its data, crash and iteration cap
        self.one, self.size = one, size
        n, k = one.n, one.k
        self.n, self.k, self.width = n, k, k + 2 * n
        c = scenario.normalisation
        eye = sp.identity(n, format="csc")
        a = sp.bmat([[sp.csc_matrix(one.d), eye, -eye], [sp.csc_matrix(np.ones((1, k))), None, None]], format="csc")
        a = sp.block_diag([a] * size, format="csc")
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = int(a.shape[1]), int(a.shape[0])
        self.cost = np.concatenate([np.zeros(k), np.full(2 * n, c)])
        lp.col_cost_ = np.tile(self.cost, size)
        lp.col_lower_ = np.zeros(a.shape[1])
        lp.col_upper_ = np.full(a.shape[1], INF)
        lp.row_lower_ = np.ones(a.shape[0])
        lp.row_upper_ = np.ones(a.shape[0])
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = a.indptr.astype(np.int32)
        lp.a_matrix_.index_ = a.indices.astype(np.int32)
        lp.a_matrix_.value_ = a.data.astype(np.float64)
        self.h = new_highs()
        self.h.passModel(lp)
        # The options of the one-behaviour LP (certify._nl): dual simplex from the crash, no cost perturbation, an
        # iteration cap (the copies' caps added) past which each behaviour is re-solved on its own.
        self.h.setOptionValue("simplex_strategy", 1)
        self.h.setOptionValue("dual_simplex_cost_perturbation_multiplier", 0.0)
        self.h.setOptionValue("simplex_iteration_limit", size * one._limit)
        self._rows = (np.arange(size)[:, None] * (n + 1) + np.arange(n)[None, :]).reshape(-1).astype(np.int32)
        self._basis = _complete_basis(size * (n + 1))

    def solve(self, q: np.ndarray):
        """``q`` (size, N) -> ``(values (size,), weights (size, K), bells (size, N), native)``, or None when the block
        LP did not reach its optimum (the caller then solves each behaviour on its own)."""
        h = self.h
        flat = np.ascontiguousarray(q, dtype=np.float64).reshape(-1)
        h.changeRowsBounds(len(self._rows), self._rows, flat, flat)
        self._basis.col_status = column_status(self.one.crash_basic(q).reshape(-1))
        h.clearSolver()  # forget the previous solve: the answer is a function of this block alone
        h.setBasis(self._basis)
        h.run()
        if h.getModelStatus() != _OPTIMAL:
            return None
        sol = h.getSolution()
        x = np.array(sol.col_value).reshape(self.size, self.width)
        y = np.array(sol.row_dual).reshape(self.size, self.n + 1)
        return x @ self.cost, x[:, : self.k], y[:, : self.n], status_of(h)


@functools.lru_cache(maxsize=16)
def _block_program(scenario: Scenario, size: int) -> _BlockProgram:
    return _BlockProgram(scenario, size)


def nonlocality_rows(q: np.ndarray, sc: Scenario, blocks: bool = False) -> list[NonlocalityResult]:
    """Certified NL (HiGHS, every deterministic point a column) of each row of ``q`` (n, N): flat, already
    validated behaviours of the bipartite scenario ``sc``; results in row order.

    ``blocks=False``: each row by ``certify._nl``'s one-behaviour LP, results bit-identical to ``nonlocality``'s
    (the certificates still checked for all rows at once). ``blocks=True``: ``block_size(sc)`` rows per HiGHS call
    (the last, shorter block by its own block LP); values agree with ``nonlocality``'s to LP round-off, not bit
    for bit. A block that does not reach its optimum is solved again row by row, with the one-behaviour LP's
    fallback.
    """
    q = np.ascontiguousarray(q, dtype=np.float64).reshape(len(q), -1)
    n = len(q)
    size = block_size(sc) if blocks else 1
    values = np.full(n, np.nan)
    weights = np.zeros((n, _program(sc).k))
    bells = np.zeros_like(q)
    statuses: list[Status] = [Status.ERROR] * n
    messages, natives = [""] * n, [""] * n
    for s in range(0, n, size):
        rows = range(s, min(n, s + size))
        solved = _block_program(sc, len(rows)).solve(q[s : s + len(rows)]) if len(rows) > 1 else None
        if solved is not None:
            values[s : s + len(rows)], weights[s : s + len(rows)], bells[s : s + len(rows)], (st, msg, nat) = solved
            for i in rows:
                statuses[i], messages[i], natives[i] = st, msg, nat
            continue
        for i in rows:
            st, msg, nat, v, w, b = _program(sc).solve(q[i])
            statuses[i], messages[i], natives[i] = st, msg, nat
            if st in SOLVED:
                values[i], weights[i], bells[i] = v, w, b
    ok = [i for i in range(n) if statuses[i] in SOLVED]
    results: list[NonlocalityResult | None] = [None] * n
    if ok:
        done = finish_rows(q[ok], sc, [statuses[i] for i in ok], [messages[i] for i in ok], [natives[i] for i in ok],
                           values[ok], weights[ok], bells[ok], "highs")
        for i, r in zip(ok, done):
            results[i] = r
    for i in range(n):
        if results[i] is None:  # the solver's own failure, reported as nonlocality reports it
            results[i] = NonlocalityResult(float("nan"), statuses[i], messages[i], sc, backend="highs",
                                           solver_status=natives[i])
    return results


def nonlocality_chunk(p: np.ndarray, sc: Scenario, *, backend: str = "highs", solver: str | None = None,
                      throw: bool = False, method: str = "auto", blocks: bool = False) -> list[NonlocalityResult]:
    """``nonlocality(Behaviour(p_i, sc), validate=False, ...)`` for each ``p_i`` of ``p`` (n, *shape), already
    validated: by ``nonlocality_rows`` where it applies (HiGHS, bipartite Bell scenario, every deterministic
    point a column; ``blocks`` as there), else one call each. ``throw`` is left to the caller
    (``certify_many``)."""
    if not isinstance(blocks, (bool, np.bool_)):
        raise ValueError(f"blocks must be True or False; got {blocks!r}")
    from bellcore import Behaviour

    from ._colgen import is_separable
    from ._nl import choose_method, nonlocality

    if backend == "highs" and is_separable(sc) and choose_method(sc, method) == "enumerate":
        return nonlocality_rows(np.asarray(p).reshape(len(p), -1), sc, bool(blocks))
    if blocks:
        raise ValueError(
            f"blocks=True needs backend 'highs' on an enumerated bipartite scenario; got {backend!r}, {sc}")
    return [nonlocality(Behaviour(pi, sc), validate=False, backend=backend, solver=solver, method=method) for pi in p]
