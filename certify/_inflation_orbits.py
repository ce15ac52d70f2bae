"""Symmetry reduction of a fanout inflation's LP (docs/networks.md, "Symmetry reduction").

Two groups act on the inflation LP of a behaviour q:

- G, permuting the copies of each source (always a symmetry of the LP): a party copy ``(j, c)`` goes to
  ``(j, (pi_s(c_s))_s)``, which permutes the party copies, the joint deterministic strategies (LP columns), the full
  copies and the product families;
- H, the symmetries of q among the network's relabellings: a network automorphism (parties rho, sources tau with
  ``sources[tau s] = rho(sources[s])``, keeping the copy counts), a permutation of each party's settings and, per
  setting, of its outcomes. H is found numerically (``q_symmetries``: the candidates that fix q to 1e-12, closed
  under composition) — validity does not depend on that, see below.

**Why the reduced LP gives a valid lower bound.** Let qbar be q averaged over H (its H-orbit means: exactly
H-invariant). The distance D is 1-Lipschitz for ``c * |.|_1``, so ``D(q) >= D(qbar) - c |q - qbar|_1`` (the
correction is 0 when q is exactly symmetric). For qbar, the LP ``f(D0)`` of ``_inflation`` is used only through:
if ``D(qbar) = D <= D0``, with q* a nearest network-local point, the point z built from q* (P: the distribution of
the joint strategies of the party copies; delta = q* - qbar; e: the product remainders) is feasible, so
``f(D0) <= D``. Every element of H x G maps the network-local set to itself and the LP of qbar to itself (rows to
rows, qbar fixed, equal remainder bounds), so the images of z are feasible with the same objective, and so is
their average zbar (the feasible set and the objective are convex). zbar is symmetric, hence feasible for the LP

- restricted to symmetric points: one variable per orbit of joint strategies (the common probability of each
  strategy in it; its column is the **sum** of the orbit's columns: integer coefficients, |o| in the
  normalisation row; box [0, 1]) and one r+ and one r- per H-orbit of q's entries (column the sum, cost c |O|);
- with only one full copy and one product family per orbit kept (a subset of the rows: a relaxation), each with
  its own remainder variables (the average's remainders; their l1 bound is convex).

So ``f_red(D0) <= D`` whenever ``D <= D0``, weak duality on the reduced LP (exact rationals, ``_inflation``) bounds
f_red from below, and ``D(q) >= min(D0, f_red(D0)) - c |q - qbar|_1``. Nothing is lost: the same averaging maps any
feasible point of the full LP of qbar into the reduced one, so the optima agree (tests compare them).

The orbits are found by enumerating every joint strategy (the canonical member of an orbit is its smallest image);
the number of G-orbits comes from Burnside's lemma without enumerating (``n_orbits``): the default limits use it.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy import sparse

__all__ = ["copy_group", "n_orbits", "Relabelling", "q_symmetries", "Layout", "layout", "symmetrised"]

#: Relabellings tried when looking for q's symmetries; beyond this the outcome permutations are left out.
MAX_CANDIDATES = 50_000

#: An entry of q may differ from its image by this much for the relabelling to count as a symmetry (any choice is
#: valid: the certificate subtracts ``c |q - qbar|_1``).
SYMMETRY_TOL = 1e-12


def copy_group(copies: tuple[int, ...]) -> list[tuple[tuple[int, ...], ...]]:
    """Every element of G: one permutation (a tuple) of the copies of each source; the identity first."""
    return list(itertools.product(*(list(itertools.permutations(range(c))) for c in copies)))


@dataclass(frozen=True)
class Relabelling:
    """A relabelling of the network: party j -> ``rho[j]``, source s -> ``tau[s]``, setting x of party j ->
    ``psi[j][x]``, outcome a of party j at its setting x -> ``phi[j][x][a]``."""

    rho: tuple
    tau: tuple
    psi: tuple
    phi: tuple

    def q_perm(self, sc) -> np.ndarray:
        """``(|q|,)``: flat index of entry (a, x) -> flat index of its image."""
        n = sc.n_parties
        idx = np.array(list(np.ndindex(*sc.shape)), dtype=np.int64)
        new = np.empty_like(idx)
        for j in range(n):
            x = idx[:, n + j]
            new[:, n + self.rho[j]] = np.asarray(self.psi[j])[x]
            new[:, self.rho[j]] = np.asarray(self.phi[j])[x, idx[:, j]]
        return np.ravel_multi_index(tuple(new.T), sc.shape)

    def strategy_map(self, sc, j: int) -> np.ndarray:
        """``(d_j ** m_j,)``: strategy t of party j (digit ``sum_x t(x) d^(m-1-x)``) -> its image, a strategy of
        party ``rho[j]``: ``t'(psi_j(x)) = phi_j,x(t(x))``."""
        d, m = sc.outcomes[j], sc.settings[j]
        out = np.zeros(d**m, dtype=np.int64)
        for t in range(d**m):
            for x in range(m):
                a = (t // d ** (m - 1 - x)) % d
                out[t] += self.phi[j][x][a] * d ** (m - 1 - self.psi[j][x])
        return out


def _automorphisms(sc) -> list[tuple[tuple, tuple]]:
    """Party permutations rho (keeping settings and outcomes) with a source permutation tau mapping the network to
    itself: ``sources[tau s] == rho(sources[s])`` as sets."""
    n, S = sc.n_parties, sc.n_sources
    srcs = [frozenset(sc.sources[s]) for s in range(S)]
    out = []
    for rho in itertools.permutations(range(n)):
        if any(sc.settings[rho[j]] != sc.settings[j] or sc.outcomes[rho[j]] != sc.outcomes[j] for j in range(n)):
            continue
        tau = []
        for s in range(S):
            img = frozenset(rho[j] for j in srcs[s])
            hit = [t for t in range(S) if srcs[t] == img and t not in tau]
            if not hit:
                break
            tau.append(hit[0])
        if len(tau) == S:
            out.append((tuple(rho), tuple(tau)))
    return out


@functools.lru_cache(maxsize=16)
def _candidate_perms(sc, copies) -> tuple:
    """Every relabelling whose source map keeps the copy counts (outcome permutations left out when there would be
    more than ``MAX_CANDIDATES``): a function ``k -> Relabelling`` and their q-index permutations ``(K, |q|)``
    (``Relabelling.q_perm``, computed for all outcome permutations at once)."""
    n = sc.n_parties
    autos = [(r, t) for r, t in _automorphisms(sc) if all(copies[t[s]] == copies[s] for s in range(sc.n_sources))]
    psis = list(itertools.product(*(list(itertools.permutations(range(sc.settings[j]))) for j in range(n))))
    per_setting = [np.array(list(itertools.permutations(range(sc.outcomes[j]))), dtype=np.int64) for j in range(n)]
    n_phi = math.prod(len(per_setting[j]) ** sc.settings[j] for j in range(n))
    if len(autos) * len(psis) * n_phi > MAX_CANDIDATES:
        per_setting = [np.arange(sc.outcomes[j], dtype=np.int64)[None] for j in range(n)]  # identity only
    # codes[f, j, x]: which permutation of party j's outcomes the f-th outcome relabelling applies at setting x
    slots = [(j, x) for j in range(n) for x in range(sc.settings[j])]
    grid = np.array(list(itertools.product(*(range(len(per_setting[j])) for j, _ in slots))), dtype=np.int64).reshape(-1, len(slots))
    codes = np.zeros((len(grid), n, max(sc.settings)), dtype=np.int64)
    for k, (j, x) in enumerate(slots):
        codes[:, j, x] = grid[:, k]
    idx = np.array(list(np.ndindex(*sc.shape)), dtype=np.int64)  # (|q|, 2n)
    blocks = []
    for r, _ in autos:
        for psi in psis:
            new = np.empty((len(codes), len(idx), 2 * n), dtype=np.int64)
            for j in range(n):
                x, a = idx[:, n + j], idx[:, j]
                new[:, :, n + r[j]] = np.asarray(psi[j])[x][None, :]
                new[:, :, r[j]] = per_setting[j][codes[:, j, x], a[None, :]]
            blocks.append(np.ravel_multi_index(tuple(np.moveaxis(new, 2, 0)), sc.shape))
    perms = np.concatenate(blocks)

    def make(k: int) -> Relabelling:
        ai, rest = divmod(int(k), len(psis) * len(codes))
        pi, fi = divmod(rest, len(codes))
        r, t = autos[ai]
        phi = tuple(tuple(tuple(int(v) for v in per_setting[j][codes[fi, j, x]]) for x in range(sc.settings[j])) for j in range(n))
        return Relabelling(r, t, psis[pi], phi)

    return make, perms


def q_symmetries(sc, q: np.ndarray, copies) -> tuple[Relabelling, ...]:
    """The relabellings (keeping ``copies``) that fix q to ``SYMMETRY_TOL``, closed under composition; the identity
    first. Deterministic in (scenario, q, copies): the certificate check recomputes it."""
    q = np.asarray(q, dtype=np.float64).ravel()
    make, perms = _candidate_perms(sc, tuple(int(c) for c in copies))
    ident = np.arange(q.size)
    keyed = {p.tobytes(): k for k, p in enumerate(perms)}
    # q(a, x) = (h q)(h(a, x)) for a symmetry: q[perm] == q
    fix = np.flatnonzero(np.abs(q[perms] - q[None, :]).max(axis=1) <= SYMMETRY_TOL)
    group = {ident.tobytes()} | {perms[k].tobytes() for k in fix}
    frontier = list(group)
    while frontier:  # closure under composition (the candidates form a group: every product is one of them)
        new = []
        for a in frontier:
            pa = np.frombuffer(a, dtype=np.int64)
            for k in fix:
                c = perms[k][pa].tobytes()
                if c not in keyed:  # cannot happen (the candidates are a group); refuse rather than reduce wrongly
                    raise ValueError("symmetries of q: a product of relabellings is not a candidate")
                if c not in group:
                    group.add(c)
                    new.append(c)
        frontier = new
    id_k = keyed[ident.tobytes()]
    ks = [id_k] + sorted(keyed[g] for g in group if keyed[g] != id_k)
    return tuple(make(k) for k in ks)


def q_orbits(sc, H: tuple[Relabelling, ...]) -> np.ndarray:
    """``(|q|,)``: the H-orbit (0, 1, ...; in order of first entry) of every entry of q."""
    nq = math.prod(sc.shape)
    perms = np.stack([h.q_perm(sc) for h in H]) if H else np.arange(nq)[None]
    canon = perms.T.min(axis=1)  # entry i's orbit: smallest image (H is a group, so images = the orbit)
    _, first, ids = np.unique(canon, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    return order[ids.ravel()]


def symmetrised(q: np.ndarray, orbits: np.ndarray) -> np.ndarray:
    """q averaged over its H-orbits (works on float and ``Fraction`` object arrays)."""
    out = np.empty(len(q), dtype=q.dtype)
    for o in range(int(orbits.max()) + 1):
        mem = np.flatnonzero(orbits == o)
        out[mem] = sum(q[mem][1:], q[mem][0]) / len(mem)
    return out


def _party_copy_perms(sc, copies, parties, H) -> tuple[np.ndarray, list]:
    """``(|H| |G|, n party copies)``: the index each party copy is sent to by each element (h, pi) of H x G, and
    per element the strategy map of each party copy (``Relabelling.strategy_map`` of its party)."""
    index = {p: i for i, p in enumerate(parties)}
    src = [sc.party_sources(j) for j in range(sc.n_parties)]
    rows, smaps, hs = [], [], []
    for h in H:
        maps = [h.strategy_map(sc, j) for j in range(sc.n_parties)]
        for g in copy_group(copies):
            row = []
            for j, c in parties:
                img = {h.tau[s]: g[h.tau[s]][ci] for s, ci in zip(src[j], c)}
                row.append(index[(h.rho[j], tuple(img[t] for t in src[h.rho[j]]))])
            rows.append(row)
            smaps.append([maps[j] for j, _ in parties])
            hs.append(h)
    return np.asarray(rows, dtype=np.int64), smaps, hs


def _identity(sc) -> Relabelling:
    n = sc.n_parties
    return Relabelling(tuple(range(n)), tuple(range(sc.n_sources)), tuple(tuple(range(sc.settings[j])) for j in range(n)),
                       tuple(tuple(tuple(range(sc.outcomes[j])) for _ in range(sc.settings[j])) for j in range(n)))


def n_orbits(sc, copies) -> int:
    """Number of G-orbits of joint strategies (Burnside: the mean number of strategies an element fixes; a strategy
    is fixed when it is constant on every cycle of party copies, and every cycle lies inside one party). An upper
    bound on the reduced LP's strategy columns (q's symmetries only merge orbits)."""
    copies = tuple(int(c) for c in copies)
    parties = [(j, c) for j in range(sc.n_parties) for c in itertools.product(*(range(copies[s]) for s in sc.party_sources(j)))]
    perms, _, _ = _party_copy_perms(sc, copies, parties, (_identity(sc),))
    per = [sc.outcomes[j] ** sc.settings[j] for j, _ in parties]
    total = 0
    for perm in perms:
        seen = np.zeros(len(parties), bool)
        fixed = 1
        for i in range(len(parties)):
            if not seen[i]:
                k = i
                while not seen[k]:
                    seen[k] = True
                    k = perm[k]
                fixed *= per[i]
        total += fixed
    assert total % len(perms) == 0
    return total // len(perms)


@dataclass(frozen=True)
class Layout:
    """Which rows and columns the (reduced) inflation LP has.

    Attributes:
        full: the full copies kept (party-copy index tuples, as in ``Inflation.full``): one per orbit.
        products: the product families kept: one per orbit.
        R: ``(N, n_columns)`` 0/1 CSR, joint strategy -> its orbit (reduced columns ``A_P @ R``); None unreduced.
        q_orbit: ``(|q|,)`` the H-orbit of each entry of q (``arange`` unreduced or without symmetries of q).
        H: the symmetries of q used (the identity alone unreduced).
        rows: per kept product family, the rows kept (one per orbit under the elements fixing the family) and the
            orbit sizes: the family's remainder row ``sum(|O_r| (e+_r + e-_r)) <= eps`` (all rows, sizes 1, unreduced).
    """

    full: tuple
    products: tuple
    R: sparse.csr_matrix | None
    q_orbit: np.ndarray
    H: tuple
    rows: tuple  # per kept product family: (kept row indices, their orbit sizes)


def _orbit_ids(inf, perms: np.ndarray, smaps: list) -> np.ndarray:
    """Orbit index of every joint strategy (mixed radix over the party copies, first party copy most significant).
    The canonical member of an orbit is its smallest image."""
    sc = inf.scenario
    radix = np.array([sc.outcomes[j] ** sc.settings[j] for j, _ in inf.parties], dtype=np.int64)
    n = len(radix)
    N = int(np.prod(radix))
    stride = np.ones(n, dtype=np.int64)
    for i in range(n - 2, -1, -1):
        stride[i] = stride[i + 1] * radix[i + 1]
    cols = np.arange(N, dtype=np.int64)
    digits = (cols[:, None] // stride[None, :]) % radix[None, :]  # (N, n)
    canon = cols.copy()
    for perm, maps in zip(perms, smaps):
        # party copy i's strategy t becomes party copy perm[i]'s strategy maps[i][t] (same radix: same kind of party)
        img = np.zeros(N, dtype=np.int64)
        for i in range(n):
            img += maps[i][digits[:, i]] * stride[perm[i]]
        np.minimum(canon, img, out=canon)
    _, ids = np.unique(canon, return_inverse=True)
    return ids.ravel()


def kept_rows(inf, H: tuple | None = None) -> tuple[tuple, tuple]:
    """The full copies and product families whose rows the reduced LP keeps: the first of each orbit under H x G
    (H: q's symmetries; None: G alone)."""
    H = (_identity(inf.scenario),) if H is None else H
    perms, _, _ = _party_copy_perms(inf.scenario, inf.copies, inf.parties, H)
    return _kept_rows(inf, perms)


def _kept_rows(inf, perms) -> tuple[tuple, tuple]:
    full, seen = [], set()
    for S in inf.full:
        key = min(tuple(sorted(int(p[i]) for i in S)) for p in perms)
        if key not in seen:
            seen.add(key)
            full.append(S)
    products, seen = [], set()
    for fam in inf.products:
        key = tuple(min(sorted(tuple(sorted(int(p[i]) for i in S)) for S, _ in fam) for p in perms))
        if key not in seen:
            seen.add(key)
            products.append(fam)
    return tuple(full), tuple(products)


@functools.lru_cache(maxsize=32)
def _layout(inf, H: tuple | None) -> Layout:
    sc = inf.scenario
    nq = math.prod(sc.shape)
    if H is None:
        rows = tuple((np.arange(_family_size(sc, f)), np.ones(_family_size(sc, f), dtype=np.int64)) for f in inf.products)
        return Layout(inf.full, inf.products, None, np.arange(nq), (_identity(sc),), rows)
    perms, smaps, hs = _party_copy_perms(sc, inf.copies, inf.parties, H)
    full, products = _kept_rows(inf, perms)
    ids = _orbit_ids(inf, perms, smaps)
    N = len(ids)
    R = sparse.csr_matrix((np.ones(N), (np.arange(N), ids)), shape=(N, int(ids.max()) + 1))
    rows = tuple(_family_row_orbits(inf, f, perms, hs) for f in products)
    return Layout(full, products, R, q_orbits(sc, H), H, rows)


def _family_size(sc, fam) -> int:
    return math.prod(sc.outcomes[j] * sc.settings[j] for _, T in fam for j in T)


def _family_row_orbits(inf, fam, perms, hs) -> tuple[np.ndarray, np.ndarray]:
    """Rows of a product family's block (component-major ravel of each component's ``(a_T..., x_T...)`` table) kept
    by the reduced LP: the smallest of each orbit under the elements mapping the family to itself, and the orbit
    sizes. With a symmetric P, delta and e the rows of an orbit are the same constraint."""
    sc = inf.scenario
    L = [p for S, _ in fam for p in S]  # party copies in row order
    parties = [j for _, T in fam for j in T]
    pos = {p: i for i, p in enumerate(L)}
    dims, slots = [], []  # ravel order: per component its outcomes, then its settings
    base = 0  # position in L of the component's first party copy
    for S, T in fam:
        dims += [sc.outcomes[j] for j in T] + [sc.settings[j] for j in T]
        slots += [("a", base + i) for i in range(len(T))] + [("x", base + i) for i in range(len(T))]
        base += len(T)
    n_rows = math.prod(dims)
    digits = np.array(np.unravel_index(np.arange(n_rows), dims)).T  # (rows, slots)
    A = np.zeros((n_rows, len(L)), dtype=np.int64)
    X = np.zeros((n_rows, len(L)), dtype=np.int64)
    for k, (kind, l) in enumerate(slots):
        (A if kind == "a" else X)[:, l] = digits[:, k]
    own = {frozenset(S) for S, _ in fam}
    canon = np.arange(n_rows)
    for perm, h in zip(perms, hs):
        if {frozenset(int(perm[p]) for p in S) for S, _ in fam} != own:
            continue
        A2, X2 = np.empty_like(A), np.empty_like(X)
        for l, p in enumerate(L):
            j = parties[l]
            l2 = pos[int(perm[p])]
            psi = np.asarray(h.psi[j])
            phi = np.asarray([list(r) for r in h.phi[j]])
            X2[:, l2] = psi[X[:, l]]
            A2[:, l2] = phi[X[:, l], A[:, l]]
        img = np.ravel_multi_index(tuple((A2 if kind == "a" else X2)[:, l] for kind, l in slots), dims)
        np.minimum(canon, img, out=canon)
    kept, sizes = np.unique(canon, return_counts=True)
    return kept, sizes


def layout(inf, q: np.ndarray, symmetric: bool = True) -> Layout:
    """The rows and columns of ``inf``'s LP for behaviour q: reduced by G and q's symmetries H (default) or the
    full LP (``symmetric=False``)."""
    return _layout(inf, q_symmetries(inf.scenario, q, inf.copies) if symmetric else None)
