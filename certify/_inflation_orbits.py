"""Symmetry reduction of a fanout inflation's LP: orbits under permuting the copies of each source
(docs/networks.md, "Symmetry reduction").

The group G = S_{copies[0]} x ... x S_{copies[S-1]} permutes the copies of every source; a permutation of source
copies maps party copy ``(j, c)`` to ``(j, (pi_s(c_s))_s)`` and so permutes the party copies, the joint
deterministic strategies (LP columns), the full copies and the product families.

**Why the reduced LP still gives a valid lower bound.** The LP ``f(D0)`` of ``_inflation`` is used only through
"if the distance D is at most D0, the point built from a network-local model q* at distance D is feasible, so
``f(D0) <= D``". That point is symmetric: the copies of each source carry i.i.d. values, so the distribution P of
the joint strategies of the party copies is invariant under G, and so are the product-family remainders e (the
remainder of a family's image is the image of its remainder). Hence the same point is feasible for the LP

- restricted to symmetric P: one variable ``u_o`` per orbit o of joint strategies (the common probability of each
  strategy in o), whose column is the **sum** of the orbit's columns (integer coefficients; the normalisation row
  gets |o|), box [0, 1];
- with only one full copy and one product family per G-orbit kept (a subset of the rows: a relaxation),
  each with its own remainder variables.

So ``f_red(D0) <= D`` whenever D <= D0, and weak duality on the reduced LP — the same bound as in ``_inflation``,
evaluated in exact rationals on the reduced data — makes its dual a certificate: D >= min(D0, f_red(D0)).
Nothing is lost either: averaging any feasible point of the full LP over G gives a feasible point (the rows of
an orbit's other members are the images of the kept ones) with the same objective (delta is G-invariant), so
``f_red = f`` (tests compare the two optima).

The orbits are found by enumerating every joint strategy (the canonical one of an orbit is its smallest image);
their number comes from Burnside's lemma without enumerating (``n_orbits``), which is what the default limits use.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy import sparse

__all__ = ["copy_group", "n_orbits", "Layout", "layout"]


def copy_group(copies: tuple[int, ...]) -> list[tuple[tuple[int, ...], ...]]:
    """Every element of G: one permutation (a tuple) of the copies of each source; the identity first."""
    return list(itertools.product(*(list(itertools.permutations(range(c))) for c in copies)))


def _party_copy_perms(sc, copies, parties) -> np.ndarray:
    """``(|G|, n party copies)``: the index each party copy is sent to by each group element."""
    index = {p: i for i, p in enumerate(parties)}
    src = [sc.party_sources(j) for j in range(sc.n_parties)]
    rows = []
    for g in copy_group(copies):
        rows.append([index[(j, tuple(g[s][ci] for s, ci in zip(src[j], c)))] for j, c in parties])
    return np.asarray(rows, dtype=np.int64)


def n_orbits(sc, copies) -> int:
    """Number of orbits of joint strategies under G (Burnside: the mean number of strategies a group element fixes;
    a strategy is fixed when it is constant on every cycle of party copies, and every cycle lies inside one party)."""
    copies = tuple(int(c) for c in copies)
    parties = [(j, c) for j in range(sc.n_parties) for c in itertools.product(*(range(copies[s]) for s in sc.party_sources(j)))]
    perms = _party_copy_perms(sc, copies, parties)
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
        full: the full copies kept (party-copy index tuples, as in ``Inflation.full``): one per G-orbit.
        products: the product families kept: one per G-orbit.
        R: ``(N, n_columns)`` 0/1 CSR, joint strategy -> its orbit (the reduced columns are ``A_P @ R``); None for
            the unreduced LP (columns = joint strategies).
        sizes: orbit sizes (``R``'s column sums); None unreduced.
    """

    full: tuple
    products: tuple
    R: sparse.csr_matrix | None
    sizes: np.ndarray | None

    @property
    def n_columns(self) -> int | None:
        return None if self.R is None else self.R.shape[1]


def _orbit_ids(inf, perms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Orbit index of every joint strategy (mixed radix over the party copies, first party copy most significant)
    and the orbit sizes. The canonical member of an orbit is its smallest image."""
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
    for perm in perms[1:]:
        # the strategy of party copy i moves to party copy perm[i]; equal radices along an orbit (same party)
        img = np.zeros(N, dtype=np.int64)
        for i in range(n):
            img += digits[:, i] * stride[perm[i]]
        np.minimum(canon, img, out=canon)
    _, ids, sizes = np.unique(canon, return_inverse=True, return_counts=True)
    return ids.ravel(), sizes


@functools.lru_cache(maxsize=32)
def _layout(inf, symmetric: bool) -> Layout:
    if not symmetric:
        return Layout(inf.full, inf.products, None, None)
    perms = _party_copy_perms(inf.scenario, inf.copies, inf.parties)
    full, seen = [], set()
    for S in inf.full:
        key = min(tuple(int(p[i]) for i in S) for p in perms)
        if key not in seen:
            seen.add(key)
            full.append(S)
    products, seen = [], set()
    for fam in inf.products:
        key = min(sorted(tuple(sorted(int(p[i]) for i in S)) for S, _ in fam) for p in perms)
        key = tuple(key)
        if key not in seen:
            seen.add(key)
            products.append(fam)
    ids, sizes = _orbit_ids(inf, perms)
    N = len(ids)
    R = sparse.csr_matrix((np.ones(N), (np.arange(N), ids)), shape=(N, len(sizes)))
    return Layout(tuple(full), tuple(products), R, sizes)


def layout(inf, symmetric: bool = True) -> Layout:
    """The rows and columns of ``inf``'s LP: reduced by G (default) or the full LP (``symmetric=False``)."""
    return _layout(inf, bool(symmetric))


def reduced_nonzeros(inf, lay: Layout) -> int:
    """Upper bound on the nonzeros of the reduced P columns: every joint strategy adds its entries on the kept rows
    to its orbit's column once (coinciding entries merge)."""
    sc = inf.scenario
    M = lambda T: math.prod(sc.settings[j] for j in T)  # noqa: E731
    per_col = 1 + len(lay.full) * sc.n_setting_combinations + sum(math.prod(M(T) for _, T in f) for f in lay.products)
    return inf.n_columns * per_col
