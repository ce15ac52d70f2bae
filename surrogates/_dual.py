"""Dual-vertex members: NL's own affine pieces, read off the certificates certify returns for the training rows.

NL is the optimum of a linear program whose dual feasible set does not depend on the behaviour, so (docs/surrogates.md)

    NL(p) = max over dual vertices B of  <B, p> - max_L <B, .>,     |B| <= 1 / (2 |X||Y|)

and **every** dual feasible ``B`` gives a lower bound ``<B, p> - local_bound(B) <= NL(p)`` at every no-signalling
``p`` (weak duality), with equality where ``B`` is optimal. certify already returns that ``B`` (the Bell functional of
each ``NonlocalityResult``), re-checked without a solver. A *dual-vertex member* is the maximum of these affine
functions over the distinct functionals of the nonlocal training rows: a max-affine member whose pieces are not
learned by gradient descent but collected, exact at every training point, and a certified lower bound on NL
everywhere (up to float32 rounding of its weights, ~1e-7 of NL). ``Ensemble.predict`` therefore answers
``max(dual members, blend)``: never further from NL than the blend alone.

On the ``"canonical"`` feature set the pieces are collected at the canonical representatives of the training rows, so
they cover one fundamental domain of the relabelling group |G| times more densely than the raw rows would.

Shapes: ``bell (P, *scenario.shape)``, ``local_bound (P,)``; on features ``f (d,)`` (layout of ``"full"``:
``A (mA), B (mB), E (mA mB)``) a piece is ``W f + c`` with ``W (P, d)``, ``c (P,)`` in NL units.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from bellcore import Scenario

__all__ = ["DualPieces", "dual_pieces", "pieces_on_features", "prune_pieces", "DUAL_FEATURE_SETS"]

#: feature sets in which NL's pieces are affine (the ``"full"`` layout of a binary Bell scenario).
DUAL_FEATURE_SETS = ("full", "canonical")

Progress = Callable[[int, int, Mapping[str, float]], None]


@dataclass(frozen=True)
class DualPieces:
    """Distinct dual Bell functionals of a set of behaviours.

    Attributes:
        bell: ``(P, *scenario.shape)`` functionals, each with ``|B| <= 1/(2|X||Y|)``.
        local_bound: ``(P,)`` ``max_L <B, .>`` (by enumerating deterministic points, in certify).
        solved: behaviours certified (status in ``certify.SOLVED``); ``n_pieces``: distinct functionals kept (``P``).
        unsolved: behaviours whose status was not in ``certify.SOLVED`` (contribute nothing).
    """

    bell: np.ndarray
    local_bound: np.ndarray
    solved: int
    unsolved: int

    @property
    def n_pieces(self) -> int:
        return int(self.local_bound.shape[0])


def dual_pieces(behaviours, scenario: Scenario, *, workers: int = 1, progress: Progress | None = None,
                decimals: int = 9) -> DualPieces:
    """Certify NL of ``behaviours (N, *scenario.shape)`` (float64) and keep the distinct dual functionals of the
    nonlocal ones (functionals equal after rounding to ``decimals`` are one piece)."""
    from certify import SOLVED, certify_many

    behaviours = np.asarray(behaviours, np.float64)
    results = certify_many(behaviours, measure="nl", workers=workers, progress=progress) if len(behaviours) else []
    good = [r for r in results if r.status in SOLVED and r.bell is not None and r.is_nonlocal]
    unsolved = sum(r.status not in SOLVED for r in results)
    if not good:
        return DualPieces(np.zeros((0, *scenario.shape)), np.zeros(0), len(results) - unsolved, unsolved)
    bell = np.stack([np.asarray(r.bell, np.float64) for r in good])
    lb = np.array([r.local_bound for r in good], np.float64)
    key = np.round(np.concatenate([bell.reshape(len(good), -1), lb[:, None]], axis=1), decimals)
    _, first = np.unique(key, axis=0, return_index=True)
    first.sort()
    return DualPieces(bell[first], lb[first], len(results) - unsolved, unsolved)


def pieces_on_features(pieces: DualPieces, scenario: Scenario) -> tuple[np.ndarray, np.ndarray]:
    """``(W (P, d), c (P,))`` with ``<B, p> - local_bound = W f(p) + c`` for every no-signalling binary Bell ``p``,
    ``f`` = the ``"full"`` / ``"canonical"`` features ``(A_x, B_y, E_xy)``.

    From ``p(ab|xy) = (1 + (-1)^a A_x + (-1)^b B_y + (-1)^(a+b) E_xy) / 4``.
    """
    b = pieces.bell  # (P, 2, 2, mA, mB)
    s = np.array([1.0, -1.0])
    wA = np.einsum("pabxy,a->px", b, s) / 4
    wB = np.einsum("pabxy,b->py", b, s) / 4
    wE = np.einsum("pabxy,a,b->pxy", b, s, s) / 4
    c = b.sum(axis=(1, 2, 3, 4)) / 4 - pieces.local_bound
    return np.concatenate([wA, wB, wE.reshape(len(b), -1)], axis=1), c


def prune_pieces(W, c, x, max_pieces: int) -> np.ndarray:
    """Indices of at most ``max_pieces`` pieces to keep: those that are the maximum at the most rows of ``x (N, d)``
    (ties by order). All pieces are kept when there are no more than ``max_pieces``."""
    P = len(c)
    if P <= max_pieces:
        return np.arange(P)
    counts = np.zeros(P, np.int64)
    for s in range(0, len(x), 2048):
        counts += np.bincount((x[s : s + 2048] @ W.T + c).argmax(axis=1), minlength=P)
    return np.sort(np.argsort(-counts, kind="stable")[:max_pieces])
