"""The linear program of a fanout inflation (docs/networks.md): its data at a given D0, reduced by symmetry
(``_inflation_orbits``) or not, the product-remainder bound, and the weak-duality bound in float64.

Rows: normalisation of P, the kept full copies (P's marginal - delta = qbar), the kept product families (P's
marginal on the union - linear terms - e = product of qbar's marginals), no-signalling of delta, then one
``sum(|O_r| (e+_r + e-_r)) <= eps`` per family. Columns: P (orbits of joint strategies), r+ and r- (delta = r+ - r-,
one each per q-orbit), then e+ and e- per kept family row.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from bellcore import NetworkScenario

from ._highs import INF, new_highs
from ._inflation_orbits import layout, symmetrised
from ._network_model import sparse_lp


def remainder_bound(Ms, D0, n, slack):
    """Bound on ``sum |e|`` over a product family's rows at distance D0 (floats or ``Fraction``, docs/networks.md).

    Factor i has ``Ms[i]`` setting combinations; every conditional marginal of q has l1 norm at most ``n`` (1 for
    a normalised q); ``slack[i]`` bounds how far q's marginal on factor i moves with the other parties' settings
    (0 for an exactly no-signalling q). With ``a_i = 2 D0 + slack[i]``:
    ``prod_i M_i (n + a_i) - prod_i M_i n - sum_i M_i a_i prod_{j != i} M_j n``; ``4 M_1 M_2 D0^2`` for k = 2 exact.
    """
    a = [2 * D0 + sl for sl in slack]
    full = base = 1
    for M, ai in zip(Ms, a):
        full *= M * (n + ai)
        base *= M * n
    lin = 0
    for i, (M, ai) in enumerate(zip(Ms, a)):
        term = M * ai
        for j, Mj in enumerate(Ms):
            if j != i:
                term *= Mj * n
        lin += term
    return full - base - lin


def _q_norm(sc: NetworkScenario, qa: np.ndarray):
    """``max_x sum_a |q(a|x)|`` (works on float and Fraction object arrays of shape ``sc.shape``)."""
    n = sc.n_parties
    return np.abs(qa).sum(axis=tuple(range(n))).max()


def _q_slack(sc: NetworkScenario, qa: np.ndarray, T):
    """``max over x_T, x' of sum_{a_T} |q_T(a|x_T, x') - q_T(a|x_T, 0)|`` (x' the others' settings)."""
    n = sc.n_parties
    others = [j for j in range(n) if j not in T]
    if not others or all(sc.settings[j] == 1 for j in others):
        return 0 * qa.flat[0]
    m = qa.sum(axis=tuple(others))  # (a_T..., x_all...)
    idx0 = tuple([slice(None)] * len(T) + [0 if j in others else slice(None) for j in range(n)])
    ref = m[idx0]  # (a_T..., x_T...)
    ref = np.expand_dims(ref, tuple(len(T) + j for j in others))
    diff = np.abs(m - ref).sum(axis=tuple(range(len(T))))
    return diff.max()


# ---------------------------------------------------------------------------------------------- the LP
def _table_index(sc: NetworkScenario, T, a_list, x_list) -> np.ndarray:
    """Row index in the table ``(d_T..., m_T...)`` of outcomes ``a_list`` at settings ``x_list`` (one per T)."""
    dims = [sc.outcomes[j] for j in T] + [sc.settings[j] for j in T]
    return np.ravel_multi_index(tuple(a_list) + tuple(x_list), dims)


def _table_size(sc, T) -> int:
    return math.prod(sc.outcomes[j] * sc.settings[j] for j in T)


def _marginal_matrix(sc: NetworkScenario, T) -> sparse.csr_matrix:
    """``(size_T, |q|)``: delta -> its marginal on parties T at setting 0 of the others."""
    n = sc.n_parties
    idx = np.array(list(np.ndindex(*sc.shape)))  # (|q|, 2n): a..., x...
    others = [j for j in range(n) if j not in T]
    ok = np.all(idx[:, [n + j for j in others]] == 0, axis=1) if others else np.ones(len(idx), bool)
    rows = _table_index(sc, T, [idx[ok, j] for j in T], [idx[ok, n + j] for j in T])
    return sparse.csr_matrix((np.ones(ok.sum()), (rows, np.flatnonzero(ok))), shape=(_table_size(sc, T), len(idx)))


def _marginal_q(sc, q: np.ndarray, T) -> np.ndarray:
    return _marginal_matrix(sc, T) @ q


@dataclass
class _LP:
    """Data of the inflation LP at a given D0: ``min cost.z``, ``row_lo <= A z <= row_hi``, ``col_lo <= z <= col_hi``.

    Columns: P (n_p: strategy orbits), r+ and r- (one per q-orbit), then e+_k, e-_k per kept row of family k. Rows:
    normalisation of P, kept full copies, kept family rows, no-signalling of delta, then one row
    ``sum(|O_r| (e+_r + e-_r)) <= eps_k`` per family.
    """

    A: sparse.csc_matrix
    cost: np.ndarray
    col_lo: np.ndarray
    col_hi: np.ndarray
    row_lo: np.ndarray
    row_hi: np.ndarray
    n_p: int
    eps_rows: np.ndarray  # row indices of the eps rows
    eps_cols: np.ndarray  # (k, 2) slices of e columns per pair: start, stop
    eps_args: list  # per product family (Ms, n, slack) of ``remainder_bound`` (float)
    full: tuple = ()  # the full copies with rows, in row order
    products: tuple = ()  # the product families with rows, in row order
    q_orbit: np.ndarray | None = None  # the symmetry orbit of each entry of q (one r+ / r- column per orbit)
    rows: tuple = ()  # per product family: (its rows kept, their orbit sizes)


def _strategy_outcomes(inf) -> list[np.ndarray]:
    """Per party copy i, ``out[i][col, x]``: the outcome its strategy in joint column ``col`` gives at setting x."""
    sc = inf.scenario
    n_i = [sc.outcomes[j] ** sc.settings[j] for j, _ in inf.parties]
    N = math.prod(n_i)
    cols = np.arange(N, dtype=np.int64)
    outs, stride = [], N
    for (j, _), ni in zip(inf.parties, n_i):
        stride //= ni
        digit = (cols // stride) % ni
        d, m = sc.outcomes[j], sc.settings[j]
        outs.append(np.stack([(digit // d ** (m - 1 - x)) % d for x in range(m)], axis=1).astype(np.int64))
    return outs


def _p_block(inf, outs, S, T) -> sparse.coo_matrix:
    """P-marginal rows on party copies S (originals T): one row per (outcomes, settings) of T."""
    sc = inf.scenario
    N = outs[0].shape[0]
    rows, cols = [], []
    col = np.arange(N, dtype=np.int64)
    for xs in itertools.product(*(range(sc.settings[j]) for j in T)):
        rows.append(_table_index(sc, T, [outs[i][:, x] for i, x in zip(S, xs)], [np.full(N, x) for x in xs]))
        cols.append(col)
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    return sparse.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(_table_size(sc, T), N))


def build_lp(inf, q: np.ndarray, D0: float, symmetric: bool = True) -> _LP:
    """The inflation LP for flattened behaviour q (float64) at D0 (see the module docstring); ``symmetric``: reduced
    by the copy-permutation group (``_inflation_orbits``: orbit columns, one full copy and family per orbit)."""
    sc = inf.scenario
    nq = q.size
    lay = layout(inf, q, symmetric)
    q = symmetrised(q, lay.q_orbit)  # qbar: exactly invariant under the symmetries used (q itself when none)
    n_qo = int(lay.q_orbit.max()) + 1
    first = np.unique(lay.q_orbit, return_index=True)[1]  # a member of each q-orbit (orbits numbered by first entry)
    Rq = sparse.csr_matrix((np.ones(nq), (np.arange(nq), lay.q_orbit)), shape=(nq, n_qo))
    outs = _strategy_outcomes(inf)
    N = outs[0].shape[0]
    red = (lambda B: (sparse.csr_matrix(B) @ lay.R).tocsr()) if lay.R is not None else (lambda B: sparse.csr_matrix(B))
    n_p = N if lay.R is None else lay.R.shape[1]
    eye = sparse.identity(nq, format="csr")
    blocks_p, blocks_d, rhs = [red(np.ones((1, N)))], [sparse.csr_matrix((1, nq))], [np.ones(1)]
    for S in lay.full:
        blocks_p.append(red(_p_block(inf, outs, S, tuple(range(sc.n_parties)))))
        blocks_d.append(-eye)
        rhs.append(q)
    qa = q.reshape(sc.shape)
    nrm = float(_q_norm(sc, qa))
    pair_sizes, Ms, slacks = [], [], []
    for fam, (kept, _) in zip(lay.products, lay.rows):
        qs = [_marginal_q(sc, q, T) for _, T in fam]
        ms = [_marginal_matrix(sc, T) for _, T in fam]
        # rows: the components' table indices raveled in order (np.kron / _row_product order)
        pb = _p_block(inf, outs, fam[0][0], fam[0][1]).tocsr()
        for S, T in fam[1:]:
            pb = _row_product(pb, _p_block(inf, outs, S, T).tocsr())
        blocks_p.append(red(pb)[kept])  # one row per orbit of the family's rows (_inflation_orbits)
        lin = None
        for i in range(len(fam)):
            term = None
            for k in range(len(fam)):
                f = ms[k] if k == i else sparse.csr_matrix(qs[k].reshape(-1, 1))
                term = f if term is None else sparse.kron(term, f)
            lin = term if lin is None else lin + term
        blocks_d.append(-sparse.csr_matrix(lin)[kept])
        rhs_k = qs[0]
        for qk in qs[1:]:
            rhs_k = np.outer(rhs_k, qk).ravel()
        rhs.append(rhs_k[kept])
        pair_sizes.append(len(kept))
        Ms.append([math.prod(sc.settings[j] for j in T) for _, T in fam])
        slacks.append([float(_q_slack(sc, qa, T)) for _, T in fam])
    ns = sc.no_signalling_constraints()
    nsm = sparse.csr_matrix(np.vstack([ns.normalisation, ns.signalling]))
    blocks_p.append(sparse.csr_matrix((nsm.shape[0], n_p)))
    blocks_d.append(nsm)
    # N delta = N q* - N q with N q* = (1 per normalisation row, 0 per signalling row)
    rhs.append(np.concatenate([np.ones(len(ns.normalisation)), np.zeros(len(ns.signalling))]) - nsm @ q)
    n_eq = sum(b.shape[0] for b in blocks_p)
    ne = sum(pair_sizes)
    # e columns: for pair k, rows of that pair's block, +1 for e- and -1 for e+ ( ... - e = rhs, e = e+ - e-)
    pair_row0 = 1 + len(lay.full) * nq
    e_rows, e_cols, e_vals = [], [], []
    eps_cols = []
    col0 = 0
    r0 = pair_row0
    for k, size in enumerate(pair_sizes):
        r = np.arange(r0, r0 + size)
        e_rows += [r, r]
        e_cols += [np.arange(col0, col0 + size), np.arange(col0 + size, col0 + 2 * size)]
        e_vals += [-np.ones(size), np.ones(size)]
        eps_cols.append((col0, col0 + 2 * size))
        col0 += 2 * size
        r0 += size
    E = sparse.coo_matrix(
        (np.concatenate(e_vals) if e_vals else [], (np.concatenate(e_rows) if e_rows else [], np.concatenate(e_cols) if e_cols else [])),
        shape=(n_eq, 2 * ne),
    )
    Pm = sparse.vstack(blocks_p)
    Dm = (sparse.vstack(blocks_d).tocsr() @ Rq).tocsr()  # delta constant on q-orbits: one r+ / r- per orbit
    A_eq = sparse.hstack([Pm, Dm, -Dm, E])
    # eps rows: sum over the family's e+ and e- columns, each weighted by its row's orbit size
    weights = np.concatenate([np.tile(sz, 2) for _, sz in lay.rows]) if ne else np.zeros(0)
    G = sparse.coo_matrix(
        (weights, (np.repeat(np.arange(len(pair_sizes)), [2 * s for s in pair_sizes]), n_p + 2 * n_qo + np.arange(2 * ne))),
        shape=(len(pair_sizes), n_p + 2 * n_qo + 2 * ne),
    )
    A = sparse.vstack([A_eq, G]).tocsc()
    b = np.concatenate(rhs)
    eps = np.array([remainder_bound(m, D0, nrm, sl) for m, sl in zip(Ms, slacks)])
    e_hi = np.repeat(eps, [2 * s for s in pair_sizes]) if ne else np.zeros(0)
    c = sc.normalisation
    return _LP(
        A=A,
        cost=np.concatenate([np.zeros(n_p), np.tile(c * np.bincount(lay.q_orbit), 2), np.zeros(2 * ne)]),
        col_lo=np.zeros(n_p + 2 * n_qo + 2 * ne),
        col_hi=np.concatenate([np.ones(n_p), 1.0 - np.minimum(q[first], 1.0), np.maximum(q[first], 0.0), e_hi]),
        row_lo=np.concatenate([b, np.full(len(pair_sizes), -INF)]),
        row_hi=np.concatenate([b, eps]),
        n_p=n_p,
        eps_rows=np.arange(n_eq, n_eq + len(pair_sizes)),
        eps_cols=np.asarray(eps_cols, dtype=np.int64).reshape(-1, 2) + n_p + 2 * n_qo,
        eps_args=[(m, nrm, sl) for m, sl in zip(Ms, slacks)],
        full=lay.full,
        products=lay.products,
        q_orbit=lay.q_orbit,
        rows=lay.rows,
    )


def _row_product(p1: sparse.csr_matrix, p2: sparse.csr_matrix) -> sparse.csr_matrix:
    """Rows ``(i1, i2) -> i1 * s2 + i2`` of the entrywise product of rows i1 of p1 and i2 of p2 (0/1 matrices with
    the same columns): the indicator that the column's outcomes match both tables at once."""
    s1, s2 = p1.shape[0], p2.shape[0]
    # every column has exactly one 1 per setting combination in each block: combine per setting pair via COO
    c1, c2 = p1.tocoo(), p2.tocoo()
    order = np.argsort(c2.col, kind="stable")
    cols2, rows2 = c2.col[order], c2.row[order]
    starts = np.searchsorted(cols2, np.arange(p2.shape[1] + 1))
    counts2 = np.diff(starts)
    # for each entry (r1, col) of p1, pair it with every entry (r2, col) of p2
    rep = counts2[c1.col]
    r1 = np.repeat(c1.row, rep)
    col = np.repeat(c1.col, rep)
    offs = np.arange(int(rep.sum()), dtype=np.int64) - np.repeat(np.cumsum(rep) - rep, rep)
    r2 = rows2[starts[col] + offs]
    return sparse.csr_matrix((np.ones(len(r1)), (r1 * s2 + r2, col)), shape=(s1 * s2, p1.shape[1]))


def _solve(lp: _LP):
    h = new_highs()
    h.passModel(sparse_lp(lp.cost, lp.col_lo, lp.col_hi, lp.row_lo, lp.row_hi, lp.A))
    return h


def dual_bound_float(lp: _LP, y: np.ndarray) -> float:
    """The weak-duality bound of the module docstring in float64 (for the search; the certificate is exact)."""
    with np.errstate(invalid="ignore"):
        row = np.where(y > 0, y * lp.row_lo, y * lp.row_hi)
    row = np.where(y == 0, 0.0, row)
    red = lp.cost - lp.A.T @ y
    col = np.minimum(red * lp.col_lo, red * lp.col_hi)
    total = row.sum() + col.sum()
    return float(total) if math.isfinite(total) else -math.inf
