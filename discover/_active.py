"""Active learning: label the certified candidates of a surrogate-guided search and their neighbourhoods, refit.

One round = search with the current predictor and certify its best distinct candidates (``search``, a callable:
the runs side wires searchers + ``certify_candidates``); measure the predictor's error on those certified
candidates; then, unless it is the last round, add training rows and refit (``refit``, a callable: the runs side
wires ``surrogates``). The rows added are

- each certified candidate whose certificate is usable (status ``optimal``: the interval closed to its
  tolerance), target = the midpoint of its certified interval, as the surrogates are trained (docs/surrogates.md);
- ``neighbours`` random perturbations of each candidate's searched parameters (Gaussian, scale ``sigma`` in the
  unconstrained parameter space), labelled by ``label`` (a certified value; rows whose status is not optimal are
  dropped by ``label``).

``discover`` stays free of ``surrogates`` and ``runs``: the predictor is any callable, refitting is the
caller's. The surrogates' trainer has no warm start (``train_ensemble`` initialises fresh members), so a refit
is a retrain on the base data plus every row added so far.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import jax
import numpy as np
from jax.flatten_util import ravel_pytree

from bellcore import BilocalScenario

from ._certify import Candidates
from ._strategy import params_of, with_params

__all__ = ["ActiveRound", "ActiveResult", "active_learning", "neighbourhood", "candidate_targets", "ACTIVE_FIELDS"]

#: Per-round arrays of an ``ActiveResult`` (one entry per round), in the order recorded in run files.
ACTIVE_FIELDS = ("round", "n_train", "n_candidates", "n_scored", "mae", "mae_constant", "best_lower",
                 "discoveries", "n_added", "seconds")


@dataclass(frozen=True)
class ActiveRound:
    """One round.

    round: 0-based; n_train: training rows of the predictor searched with (base + added so far);
    n_candidates: certified candidates of the round; n_scored: those with a usable target (status optimal);
    mae: mean |pred_mean - target| over the scored candidates (NaN if none); mae_constant: the same for the
    constant predictor at the median of the predictor's training targets (``y_base`` + rows added so far; NaN if
    there are none);
    best_lower: largest certified lower bound among the round's discoveries (NaN if none);
    discoveries: their number; n_added: rows added after this round (0 in the last round); seconds: wall time.
    """

    round: int
    n_train: int
    n_candidates: int
    n_scored: int
    mae: float
    mae_constant: float
    best_lower: float
    discoveries: int
    n_added: int
    seconds: float


@dataclass(frozen=True)
class ActiveResult:
    """Rounds, each round's certified candidates, the rows added (behaviours ``(M, *shape)`` float64, targets
    ``(M,)``, the round that added each ``(M,)``) and the final predictor."""

    rounds: tuple[ActiveRound, ...]
    candidates: tuple[Candidates, ...]
    x_added: np.ndarray
    y_added: np.ndarray
    round_added: np.ndarray
    predictor: object

    def arrays(self) -> dict[str, np.ndarray]:
        """``{field: (R,) array}`` for every name in ``ACTIVE_FIELDS``."""
        return {k: np.asarray([getattr(r, k) for r in self.rounds]) for k in ACTIVE_FIELDS}


def candidate_targets(cands: Candidates) -> tuple[np.ndarray, np.ndarray]:
    """``(target (N,), usable (N,) bool)``: midpoint of the certified interval (NBL for a network, NL for a Bell
    pair); usable where ``certify.usable_labels`` says so (the one rule training uses)."""
    from certify import nbl_target, usable_labels

    bilocal = isinstance(cands.scenario, BilocalScenario)
    lo, hi, st = ((cands.nbl_lower, cands.nbl_upper, cands.nbl_status) if bilocal
                  else (cands.nl_lower, cands.nl_upper, cands.nl_status))
    y = nbl_target(lo, hi)
    ok = usable_labels(np.asarray(list(st), dtype=object), y, "nbl" if bilocal else "nl")
    return np.where(ok, y, np.nan), ok


def neighbourhood(family, params: np.ndarray, n: int, sigma: float, key) -> np.ndarray:
    """``n`` perturbations of each row of ``params`` ``(N, P)`` (flattened searched parameters of ``family``, as in
    ``Candidates.params``): ``params + sigma * N(0, 1)``, recomputed in float64. Returns behaviours
    ``(N * n, *shape)``, candidate-major."""
    params = np.asarray(params, np.float64)
    if n <= 0 or len(params) == 0:
        return np.zeros((0, *family.scenario.shape))
    p0, static = params_of(family.init(jax.random.PRNGKey(0)))
    flat0, unravel = ravel_pytree(p0)
    if params.shape[1] != flat0.shape[0]:
        raise ValueError(f"candidate parameters have {params.shape[1]} entries; the family has {flat0.shape[0]}")
    noise = np.asarray(jax.random.normal(key, (len(params), n, params.shape[1])), np.float64)
    out = []
    for i in range(len(params)):
        for j in range(n):
            strat = with_params(static, unravel(jax.numpy.asarray(params[i] + sigma * noise[i, j], flat0.dtype)))
            out.append(np.asarray(strat.behaviour(np.float64).p, np.float64))
    return np.stack(out)


def active_learning(
    predictor,
    *,
    family,
    search: Callable[[object, int], Candidates],
    label: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    refit: Callable[[np.ndarray, np.ndarray, int], tuple[object, int]],
    n_train: int,
    rounds: int,
    y_base: np.ndarray | None = None,
    neighbours: int = 4,
    sigma: float = 0.05,
    seed: int = 0,
    on_round: Callable[[ActiveRound, Candidates], None] | None = None,
    progress: Callable[[int, int, Mapping[str, float]], None] | None = None,
) -> ActiveResult:
    """Run ``rounds`` rounds of search -> certify -> measure -> label -> refit.

    Args:
        predictor: the current surrogate (anything ``search`` accepts); n_train: its number of training rows.
        y_base: its training targets (optional): the constant-median reference ``mae_constant`` is measured with.
        family: the searched family (``neighbourhood`` rebuilds strategies from candidate parameters).
        search: ``search(predictor, round) -> Candidates``, certified, with ``pred_mean`` from ``predictor``.
        label: ``label(behaviours (K, *shape) float64) -> (y (K,), ok (K,) bool)``: a certified target per row,
            ``ok`` False where the certificate is not usable (e.g. status not optimal); those rows are dropped.
        refit: ``refit(x_added (M, *shape), y_added (M,), round) -> (predictor, n_train)``: a predictor trained on
            the caller's base data plus every row added so far.
        neighbours, sigma: perturbations per certified candidate and their scale (unconstrained parameters).
        on_round: called after each round (e.g. to write it to a run file before the next, slow, round).
        progress: ``progress(round_done, rounds, info)``.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1; got {rounds}")
    if neighbours < 0 or not sigma >= 0:
        raise ValueError(f"neighbours must be >= 0 and sigma >= 0; got {neighbours}, {sigma}")
    key = jax.random.PRNGKey(seed)
    shape = family.scenario.shape
    xs, ys, rs = np.zeros((0, *shape)), np.zeros(0), np.zeros(0, np.int64)
    out_rounds, out_cands = [], []
    for r in range(rounds):
        t0 = time.perf_counter()
        cands = search(predictor, r)
        target, ok = candidate_targets(cands)
        pred = np.asarray(cands.pred_mean, np.float64)
        scored = ok & np.isfinite(pred)
        mae = float(np.abs(pred[scored] - target[scored]).mean()) if scored.any() else math.nan
        ytr = ys if y_base is None else np.concatenate([np.asarray(y_base, np.float64), ys])
        const = float(np.median(ytr)) if len(ytr) else math.nan
        mae_c = float(np.abs(const - target[scored]).mean()) if scored.any() and len(ytr) else math.nan
        disc = np.asarray(cands.discovery, bool)
        lower = np.asarray(cands.certified_lower, np.float64)
        best = float(lower[disc].max()) if disc.any() else math.nan
        added = 0
        if r < rounds - 1:
            key, sub = jax.random.split(key)
            xn = neighbourhood(family, cands.params, neighbours, sigma, sub)
            yn, okn = label(xn) if len(xn) else (np.zeros(0), np.zeros(0, bool))
            okn = np.asarray(okn, bool)
            xa = np.concatenate([np.asarray(cands.behaviour, np.float64)[ok], xn[okn]])
            ya = np.concatenate([target[ok], np.asarray(yn, np.float64)[okn]])
            xs, ys = np.concatenate([xs, xa]), np.concatenate([ys, ya])
            rs = np.concatenate([rs, np.full(len(ya), r, np.int64)])
            added = len(ya)
        rec = ActiveRound(r, int(n_train), len(cands), int(scored.sum()), mae, mae_c, best, int(disc.sum()), added,
                          0.0)
        if r < rounds - 1:
            predictor, n_train = refit(xs, ys, r)
        rec = ActiveRound(**{**rec.__dict__, "seconds": time.perf_counter() - t0})
        out_rounds.append(rec)
        out_cands.append(cands)
        if on_round is not None:
            on_round(rec, cands)
        if progress is not None:
            progress(r + 1, rounds, {"mae": mae, "best_lower": best, "n_train": float(n_train)})
    return ActiveResult(tuple(out_rounds), tuple(out_cands), xs, ys, rs, predictor)
