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
from scipy import sparse

from bellcore import NetworkScenario

from ._certificate import BITS, CertificateCheck
from ._highs import INF, new_highs, status_of
from ._inflation_orbits import kept_rows, layout, n_orbits, symmetrised
from ._network_model import sparse_lp
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

    Columns: P (n_p), r+ (|q|), r- (|q|), then e+_k, e-_k per pair k. Rows: normalisation of P, full copies, pairs,
    no-signalling of delta, then one row ``sum(e+_k + e-_k) <= eps_k`` per pair.
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


def _strategy_outcomes(inf: Inflation) -> list[np.ndarray]:
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


def _p_block(inf: Inflation, outs, S, T) -> sparse.coo_matrix:
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


def build_lp(inf: Inflation, q: np.ndarray, D0: float, symmetric: bool = True) -> _LP:
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
