"""Learning where the search goes: a surrogate trained on the searched family, refined round by round at the
searchers' own maxima.

A surrogate's maximum is where it is most wrong unless it was trained there. So the surrogate a discovery uses is
trained on members of the family being searched (``Family.sample`` at every scan point), and then, each round:

1. **search**: the surrogate-guided searchers run at every scan point with the current surrogate (and, as the runs
   side wires it, exact-gradient refinement from their best points: the model then learns where refinement goes);
2. **label** (certified, ``label``): the ``maxima`` best distinct points they found, ``neighbours`` Gaussian
   perturbations of each (scale ``sigma`` in the unconstrained parameters), and the ``disagree`` points where the
   ensemble's members disagree most (largest std) among the searchers' kept points and fresh family members;
3. **measure**: the surrogate's error at those maxima against their certified labels (mean |error|, the constant
   median predictor's, Spearman rank correlation) -- the error where the search takes the model, not on its
   training distribution;
4. **refit** (``fit(x, y, previous)``): from the previous members' parameters (warm start), on everything labelled
   so far -- except after the last round: the last round's searches are the proposals handed on (refined by
   exact quantities, then certified), and they are judged with the surrogate that proposed them.

``discover`` stays free of ``surrogates`` and ``runs``: ``fit``, ``label`` and ``search`` are callables the runs
side wires (``runs/jobs/_learn_run.py``). Every label is certified: ``label`` returns ``ok`` False for rows whose
interval did not close, and those are dropped (never trained on, never scored).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from scipy.stats import spearmanr

from ._certify import signature
from ._search import SearchResult

__all__ = ["Labels", "LearnRound", "LearnResult", "learn", "behaviours_of", "best_distinct", "LEARN_FIELDS",
           "LABEL_SOURCES"]

#: Per-round records (one entry per round), in the order stored in run files (``/learn/rounds``).
LEARN_FIELDS = ("round", "n_train", "n_maxima", "mae", "mae_constant", "spearman", "best_label", "n_added",
                "search_seconds", "label_seconds", "fit_seconds")
#: Why a row was labelled (``/learn/source``): the initial family sample, a searcher's maximum, a neighbour of one,
#: a point of largest ensemble disagreement.
LABEL_SOURCES = ("family", "maximum", "neighbour", "disagreement")


@dataclass(frozen=True)
class Labels:
    """Certified labels of a batch of K behaviours: ``y`` the training target, ``ok`` usable (certified closed),
    ``lower``/``upper`` the certified interval, ``tripartite`` the tripartite NL (NaN for a Bell pair), ``method``
    how the interval was closed (``certify.LABEL_METHODS``), all ``(K,)``."""

    y: np.ndarray
    ok: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    tripartite: np.ndarray
    method: np.ndarray

    @staticmethod
    def concat(parts: Sequence["Labels"]) -> "Labels":
        return Labels(*(np.concatenate([getattr(p, k) for p in parts]) for k in
                        ("y", "ok", "lower", "upper", "tripartite", "method")))


@dataclass(frozen=True)
class LearnRound:
    """One round: ``mae``/``mae_constant``/``spearman`` at the searchers' maxima (certified labels; NaN when none
    was usable), ``best_label`` the largest certified lower bound among them, seconds per phase."""

    round: int
    n_train: int
    n_maxima: int
    mae: float
    mae_constant: float
    spearman: float
    best_label: float
    n_added: int
    search_seconds: float
    label_seconds: float
    fit_seconds: float


@dataclass
class LearnResult:
    """The final predictor (the one the last round searched with), the last round's search results per scan point,
    the rounds, and every labelled row: ``x (N, *shape)``, ``labels``, ``source`` (index into ``LABEL_SOURCES``),
    ``row_round`` (-1: the initial sample), ``point`` (scan point index)."""

    predictor: object
    results: list[list[SearchResult]]
    rounds: list[LearnRound]
    x: np.ndarray
    labels: Labels
    source: np.ndarray
    row_round: np.ndarray
    point: np.ndarray
    initial_seconds: tuple[float, float]  # (label, fit) of the initial sample


def behaviours_of(family, params: np.ndarray) -> np.ndarray:
    """Float64 behaviours ``(K, *shape)`` of flattened searched parameters ``params (K, P)`` of ``family`` (its Born
    rule compiled once per family, ``Family.born64``)."""
    params = np.asarray(params, np.float64)
    f, width = family.born64
    if params.ndim != 2 or params.shape[1] != width:
        raise ValueError(f"parameters must have shape (K, {width}); got {params.shape}")
    if len(params) == 0:
        return np.zeros((0, *family.scenario.shape))
    with jax.enable_x64(True):
        return np.asarray(f(jnp.asarray(params)), np.float64)


def best_distinct(results: Sequence[SearchResult], k: int, family, *, each: bool = False) -> np.ndarray:
    """The ``k`` best distinct kept points of ``results`` (pooled, by search value; distinct up to relabelling, as
    certification counts them): flattened parameters ``(<=k, P)``. ``each``: the best ``ceil(k / len(results))`` of
    every result instead (searchers whose values are on different scales, e.g. a surrogate and an exact quantity)."""
    if each and results:
        per = -(-k // len(results))
        ranked = [sorted(((float(v), r.params[i]) for i, v in enumerate(r.values)), key=lambda t: -t[0])[:per]
                  for r in results]
        pool = [item for rank in range(per) for lst in ranked for item in lst[rank:rank + 1]]
    else:
        pool = sorted(((float(v), r.params[i]) for r in results for i, v in enumerate(r.values)), key=lambda t: -t[0])
    if not pool:
        return np.zeros((0, 0))
    params = np.stack([p for _, p in pool])
    beh = behaviours_of(family, params)
    seen, out = set(), []
    for i in range(len(params)):
        sig = signature(beh[i])
        if sig not in seen:
            seen.add(sig)
            out.append(params[i])
        if len(out) >= k:
            break
    return np.stack(out)


def _prediction(predictor, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(x) == 0:
        return np.zeros(0), np.zeros(0)
    out = predictor(jnp.asarray(x, jnp.float32))
    return np.asarray(out.mean, np.float64).reshape(-1), np.asarray(out.std, np.float64).reshape(-1)


def learn(
    families: Sequence,
    *,
    label: Callable[[np.ndarray], Labels],
    fit: Callable[[np.ndarray, np.ndarray, object], object],
    search: Callable[[object, int, int], list[SearchResult]],
    rows: int,
    rounds: int,
    maxima: int = 16,
    neighbours: int = 2,
    sigma: float = 0.1,
    disagree: int = 16,
    seed: int = 0,
    on_round: Callable[[LearnRound], None] | None = None,
    progress: Callable[[str, Mapping[str, float]], None] | None = None,
) -> LearnResult:
    """Train a surrogate on ``rows`` certified members of ``families`` (one per scan point, spread evenly), then run
    ``rounds`` rounds of search -> label -> measure -> warm refit (module docstring).

    Args:
        label: ``label(x (K, *shape) float64) -> Labels`` (certified; ``ok`` False rows are dropped).
        fit: ``fit(x, y, previous) -> predictor``; ``previous`` is None for the first fit, else the predictor to
            warm-start from. A predictor maps ``(N, *shape)`` float32 behaviours to an object with ``mean`` and
            ``std`` ``(N,)``.
        search: ``search(predictor, point, round) -> [SearchResult, ...]``: the surrogate-guided searchers at scan
            point ``point``.
        progress: ``progress(phase, info)`` with phase ``"label"``, ``"fit"``, ``"search"``, ``"round"``.
    """
    if rows < 2 or rounds < 1 or maxima < 1 or neighbours < 0 or disagree < 0 or not sigma >= 0:
        raise ValueError(f"need rows >= 2, rounds >= 1, maxima >= 1, neighbours >= 0, disagree >= 0, sigma >= 0; got "
                         f"{rows}, {rounds}, {maxima}, {neighbours}, {disagree}, {sigma}")
    say = progress or (lambda phase, info: None)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(17,)))
    key = jax.random.PRNGKey(seed)
    k = len(families)
    per = [rows // k + (1 if j < rows % k else 0) for j in range(k)]
    xs = []
    for j, fam in enumerate(families):
        key, sub = jax.random.split(key)
        xs.append(fam.sample(sub, per[j]))
    x = np.concatenate(xs)
    point = np.concatenate([np.full(n, j, np.int64) for j, n in enumerate(per)])
    source = np.zeros(len(x), np.int64)
    row_round = np.full(len(x), -1, np.int64)
    say("label", {"rows": float(len(x)), "round": -1.0})
    t0 = time.perf_counter()
    labels = label(x)
    t_label0 = time.perf_counter() - t0
    say("fit", {"rows": float(labels.ok.sum()), "round": -1.0})
    t0 = time.perf_counter()
    predictor = fit(x[labels.ok], labels.y[labels.ok], None)
    t_fit0 = time.perf_counter() - t0
    out_rounds: list[LearnRound] = []
    results: list[list[SearchResult]] = []
    for r in range(rounds):
        say("search", {"round": float(r)})
        t0 = time.perf_counter()
        results = [search(predictor, j, r) for j in range(k)]
        t_search = time.perf_counter() - t0
        new_x, new_src, new_pt, n_max = [], [], [], 0
        for j, fam in enumerate(families):
            top = best_distinct(results[j], maxima, fam, each=True)
            if len(top) == 0:
                continue
            n_max += len(top)
            parts = [(behaviours_of(fam, top), 1)]
            if neighbours:
                noise = rng.standard_normal((len(top), neighbours, top.shape[1]))
                parts.append((behaviours_of(fam, (top[:, None, :] + sigma * noise).reshape(-1, top.shape[1])), 2))
            if disagree:
                key, sub = jax.random.split(key)
                kept = np.concatenate([res.params for res in results[j]])
                pool = np.concatenate([behaviours_of(fam, kept), fam.sample(sub, 4 * disagree)])
                _, std = _prediction(predictor, pool)
                parts.append((pool[np.argsort(-std, kind="stable")[:disagree]], 3))
            for xp, s in parts:
                new_x.append(xp)
                new_src.append(np.full(len(xp), s, np.int64))
                new_pt.append(np.full(len(xp), j, np.int64))
        xa = np.concatenate(new_x) if new_x else np.zeros((0, *x.shape[1:]))
        src = np.concatenate(new_src) if new_src else np.zeros(0, np.int64)
        pt = np.concatenate(new_pt) if new_pt else np.zeros(0, np.int64)
        say("label", {"rows": float(len(xa)), "round": float(r)})
        t0 = time.perf_counter()
        la = label(xa)
        t_label = time.perf_counter() - t0
        # the error where the search took the model: its maxima, against their certified labels
        is_max = (src == 1) & la.ok
        pred, _ = _prediction(predictor, xa[is_max])
        ytrain = labels.y[labels.ok]
        const = float(np.median(ytrain))
        truth = la.y[is_max]
        mae = float(np.abs(pred - truth).mean()) if len(truth) else math.nan
        mae_c = float(np.abs(const - truth).mean()) if len(truth) else math.nan
        rho = float(spearmanr(pred, truth)[0]) if len(truth) > 2 and np.ptp(truth) > 0 and np.ptp(pred) > 0 else math.nan
        best = float(la.lower[is_max].max()) if is_max.any() else math.nan
        x = np.concatenate([x, xa])
        labels = Labels.concat([labels, la])
        source, point = np.concatenate([source, src]), np.concatenate([point, pt])
        row_round = np.concatenate([row_round, np.full(len(xa), r, np.int64)])
        t_fit = 0.0
        if r < rounds - 1:
            say("fit", {"rows": float(labels.ok.sum()), "round": float(r)})
            t0 = time.perf_counter()
            predictor = fit(x[labels.ok], labels.y[labels.ok], predictor)
            t_fit = time.perf_counter() - t0
        rec = LearnRound(r, int(ytrain.size), int(n_max), mae, mae_c, rho, best, int(la.ok.sum()), t_search, t_label,
                         t_fit)
        out_rounds.append(rec)
        if on_round is not None:
            on_round(rec)
        say("round", {"round": float(r), "mae": mae, "mae_constant": mae_c, "spearman": rho})
    return LearnResult(predictor, results, out_rounds, x, labels, source, row_round, point, (t_label0, t_fit0))
