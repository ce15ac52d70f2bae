"""Explicit network-local models: the upper bound of the network interval (docs/networks.md).

A ``NetworkModel`` gives every source a finite alphabet with weights and every party a deterministic response
(outcome as a function of its setting and the values of its sources). Its behaviour is

    p(a|x) = sum_lambda prod_s w_s(lambda_s) prod_j [a_j = f_j(x_j, lambda_{sources of j})],

recomputed from the model alone by ``check_network_model``; its distance to the input is the upper bound.

``search_network_model`` finds one by alternating exact LPs (HiGHS), each of which cannot increase the distance:

- sources: the weights of one source with everything else fixed (p is linear in them); the LP's basic solution
  also prunes the source's alphabet to at most (number of entries of p) + 1 values;
- parties: the response of one party as a conditional distribution with everything else fixed (p is linear in
  it); the optimal stochastic response is split into deterministic ones whose choice is absorbed into one of the
  party's sources (a new value per piece: the model stays deterministic and its behaviour unchanged), and that
  source's weight LP prunes again.

The network-local set is not convex: the value found is an upper bound on the distance, not the distance.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import highspy
import numpy as np

from bellcore import (Behaviour, NetworkScenario, einsum_labels, einsum_terms, network_behaviour,
                      network_local_probabilities, response_indicator)

from scipy import sparse

from ._highs import INF, new_highs, status_of
from ._result import Status

__all__ = ["NetworkModel", "check_network_model", "search_network_model", "model_probabilities", "sparse_lp"]

#: Tolerance of the model's own validity checks (weights sum to 1, non-negative).
MODEL_ATOL = 1e-9
#: Source values whose weight is at or below this are dropped after a weight LP.
PRUNE = 1e-13


# the model's formula is bellcore's (one einsum, shared with the network-local sampler)
_labels, _indicator, _einsum_terms, model_probabilities = (einsum_labels, response_indicator, einsum_terms,
                                                           network_local_probabilities)


@dataclass(frozen=True, eq=False)
class NetworkModel:
    """A network-local model with finite alphabets and deterministic responses.

    Attributes:
        scenario: the ``NetworkScenario``.
        weights: per source s, its distribution over ``k_s`` values, shape ``(k_s,)``.
        responses: per party j, integer array ``(m_j, k_s for s in scenario.party_sources(j))`` of outcomes in
            ``[0, d_j)``: the party's answer to each setting and value of its sources.
    """

    scenario: NetworkScenario
    weights: tuple
    responses: tuple

    def validate(self, atol: float = MODEL_ATOL) -> "NetworkModel":
        """Raise ``ValueError`` unless the weights are distributions and the responses fit the alphabets."""
        sc = self.scenario
        if len(self.weights) != sc.n_sources or len(self.responses) != sc.n_parties:
            raise ValueError(f"network model needs {sc.n_sources} weight vectors and {sc.n_parties} responses")
        for s, w in enumerate(self.weights):
            w = np.asarray(w, dtype=np.float64)
            if w.ndim != 1 or w.size == 0 or not np.all(np.isfinite(w)) or w.min() < -atol or abs(w.sum() - 1) > atol:
                raise ValueError(f"network model: weights of source {s} are not a distribution")
        for j, r in enumerate(self.responses):
            r = np.asarray(r)
            shape = (sc.settings[j],) + tuple(len(self.weights[s]) for s in sc.party_sources(j))
            if r.shape != shape:
                raise ValueError(f"network model: response of party {sc.names[j]!r} has shape {r.shape}, expected {shape}")
            if r.dtype.kind not in "iu" or (r.size and (r.min() < 0 or r.max() >= sc.outcomes[j])):
                raise ValueError(f"network model: response of party {sc.names[j]!r} must hold outcomes 0..{sc.outcomes[j] - 1}")
        return self

    @property
    def alphabets(self) -> tuple[int, ...]:
        return tuple(len(w) for w in self.weights)

    def probabilities(self) -> np.ndarray:
        return model_probabilities(self.scenario, self.weights, self.responses)

    def behaviour(self) -> Behaviour:
        return Behaviour(self.probabilities(), self.scenario)

    def to_json(self) -> dict[str, Any]:
        sc = self.scenario
        return {
            "weights": [np.asarray(w, dtype=np.float64).tolist() for w in self.weights],
            "responses": {sc.names[j]: np.asarray(r).tolist() for j, r in enumerate(self.responses)},
            "response_axes": {sc.names[j]: ["setting"] + [f"source {s}" for s in sc.party_sources(j)] for j in range(sc.n_parties)},
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any], scenario: NetworkScenario) -> "NetworkModel":
        try:
            weights = tuple(np.asarray(w, dtype=np.float64) for w in obj["weights"])
            responses = tuple(np.asarray(obj["responses"][n], dtype=np.int64) for n in scenario.names)
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"malformed network model: {e}") from None
        return cls(scenario, weights, responses)


def check_network_model(p, model: NetworkModel, validate: bool = True) -> float:
    """Solver-free: validate the model, recompute its behaviour and return its normalised L1 distance to ``p``."""
    beh = network_behaviour(p, model.scenario, validate=validate)
    model.validate()
    return float(model.scenario.normalisation * np.abs(beh.numpy() - model.probabilities()).sum())


def sparse_lp(cost, col_lower, col_upper, row_lower, row_upper, matrix) -> highspy.HighsLp:
    """A ``HighsLp`` (minimisation) from a scipy sparse matrix (rows, cols): the dense ``make_lp`` of ``_highs``
    walks columns in Python, too slow for the lift and inflation LPs' thousands of columns."""
    m = sparse.csc_matrix(matrix)
    m.sort_indices()
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = int(m.shape[1]), int(m.shape[0])
    lp.col_cost_ = np.asarray(cost, dtype=np.float64)
    lp.col_lower_ = np.asarray(col_lower, dtype=np.float64)
    lp.col_upper_ = np.asarray(col_upper, dtype=np.float64)
    lp.row_lower_ = np.asarray(row_lower, dtype=np.float64)
    lp.row_upper_ = np.asarray(row_upper, dtype=np.float64)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = m.indptr.astype(np.int32)
    lp.a_matrix_.index_ = m.indices.astype(np.int32)
    lp.a_matrix_.value_ = m.data.astype(np.float64)
    return lp


# ---------------------------------------------------------------------------------------------- search
@dataclass
class _Search:
    lps: int = 0
    failures: int = 0
    native: str = "kOptimal"


def _distance_lp(cols: np.ndarray, groups: np.ndarray, q: np.ndarray, c: float, st: _Search):
    """``min c sum|q - cols u|`` over ``u >= 0`` with ``groups @ u = 1``; returns ``u`` or None on failure.

    cols: (N, K) dense; groups: (G, K) 0/1 rows. Variables ``[u, r+, r-]``.
    """
    N, K = cols.shape
    G = groups.shape[0]
    eye = sparse.identity(N, format="csc")
    mat = sparse.bmat([[sparse.csc_matrix(cols), eye, -eye], [sparse.csc_matrix(groups), None, None]], format="csc")
    rhs = np.concatenate([q, np.ones(G)])
    cost = np.concatenate([np.zeros(K), np.full(2 * N, c)])
    lp = sparse_lp(cost, np.zeros(K + 2 * N), np.full(K + 2 * N, INF), rhs, rhs, mat)
    h = new_highs()
    h.passModel(lp)
    h.run()
    st.lps += 1
    status, _, native = status_of(h)
    if status != Status.OPTIMAL:
        st.failures += 1
        st.native = native
        return None
    return np.clip(np.asarray(h.getSolution().col_value[:K]), 0.0, None)


class _State:
    """Mutable model under search: weights (list of (k_s,)), responses (list of int arrays)."""

    def __init__(self, sc, weights, responses):
        self.sc, self.w, self.r = sc, [np.asarray(w, float) for w in weights], [np.asarray(r, np.int64) for r in responses]

    def copy(self):
        return _State(self.sc, [w.copy() for w in self.w], [r.copy() for r in self.r])

    def distance(self, q):
        return float(self.sc.normalisation * np.abs(q - model_probabilities(self.sc, self.w, self.r).ravel()).sum())

    def axis(self, j, s):
        """Axis of source s in party j's response array."""
        return 1 + self.sc.party_sources(j).index(s)

    def keep(self, s, mask):
        """Keep only the values of source s where ``mask``; renormalise its weights."""
        self.w[s] = self.w[s][mask] / self.w[s][mask].sum()
        for j in self.sc.sources[s]:
            self.r[j] = np.compress(mask, self.r[j], axis=self.axis(j, s))


def _optimise_source(state: _State, s: int, q, st) -> None:
    sc = state.sc
    _, out, sett = _labels(sc)
    cols = np.einsum(*_einsum_terms(sc, state.w, state.r, skip_source=s), out + sett + [s], optimize=True)
    u = _distance_lp(cols.reshape(q.size, -1), np.ones((1, cols.shape[-1])), q, sc.normalisation, st)
    if u is None or u.sum() <= 0:
        return
    state.w[s] = u / u.sum()
    state.keep(s, state.w[s] > PRUNE)


def _optimise_party(state: _State, j: int, q, st) -> None:
    """Exact LP over party j's stochastic response; split into deterministic pieces absorbed into a source."""
    sc = state.sc
    src, out, sett = _labels(sc)
    big = max(src + out + sett) + 1
    a2, x2 = big, big + 1
    ls = [src[s] for s in sc.party_sources(j)]
    d, m = sc.outcomes[j], sc.settings[j]
    M_ops = _einsum_terms(sc, state.w, state.r, skip_party=j)
    cols = np.einsum(*M_ops, np.eye(d), [out[j], a2], np.eye(m), [sett[j], x2], out + sett + [a2, x2] + ls, optimize=True)
    ks = state.r[j].shape[1:]
    cols = cols.reshape(q.size, d * m * math.prod(ks))  # columns (a', x', lambda...)
    groups = np.kron(np.ones((1, d)), np.eye(m * math.prod(ks)))  # sum over a' for each (x', lambda)
    u = _distance_lp(cols, groups, q, sc.normalisation, st)
    if u is None:
        return
    R = u.reshape(d, -1)  # (a', (x', lambda...))
    R = R / np.where(R.sum(axis=0) > 0, R.sum(axis=0), 1.0)
    # deterministic pieces: a uniform r in [0, 1) picks a = #{cumulative values <= r}
    cum = np.cumsum(R, axis=0)[:-1]  # (d-1, C)
    cuts = np.unique(np.concatenate([[0.0, 1.0], np.clip(cum.ravel(), 0.0, 1.0)]))
    widths = np.diff(cuts)
    mids = (cuts[:-1] + cuts[1:]) / 2
    keep = widths > PRUNE
    widths, mids = widths[keep], mids[keep]
    tables = (cum[None, :, :] <= mids[:, None, None]).sum(axis=1)  # (T, C)
    T = len(widths)
    tables = tables.reshape((T, m) + ks)
    # absorb the piece index into the party's source with the smallest alphabet
    s0 = min(sc.party_sources(j), key=lambda s: len(state.w[s]))
    ax = state.axis(j, s0)
    state.w[s0] = (state.w[s0][:, None] * (widths / widths.sum())[None, :]).ravel()  # value (lambda, i) -> lambda*T + i
    moved = np.moveaxis(tables, 0, ax + 1)  # (..., k_s0, T, ...)
    shape = list(moved.shape)
    state.r[j] = moved.reshape(shape[:ax] + [shape[ax] * T] + shape[ax + 2 :]).astype(np.int64)
    for i in sc.sources[s0]:
        if i != j:
            state.r[i] = np.repeat(state.r[i], T, axis=state.axis(i, s0))
    _optimise_source(state, s0, q, st)


#: Most candidate response functions per party in a source lift; most columns of a lift LP.
LIFT_FUNCTIONS = 64
LIFT_COLUMNS = 2**12


def _candidates(state: _State, j: int, s: int) -> np.ndarray:
    """Response functions of party j of (its setting, its sources other than s), ``(n, m_j, k...)``: all of them
    when there are at most ``LIFT_FUNCTIONS``, else the current ones (one per value of s) and their one-entry
    changes."""
    sc = state.sc
    d = sc.outcomes[j]
    cur = np.moveaxis(state.r[j], state.axis(j, s), 0)  # (k_s, m_j, k_others...)
    shape = cur.shape[1:]
    size = math.prod(shape)
    if d**size <= LIFT_FUNCTIONS:
        digits = np.arange(d**size)[:, None] // d ** np.arange(size - 1, -1, -1)[None, :] % d
        return digits.reshape((-1,) + shape)
    flat = cur.reshape(len(cur), size)
    out = [flat]
    for i in range(size):
        for a in range(1, d):
            f = flat.copy()
            f[:, i] = (f[:, i] + a) % d
            out.append(f)
    return np.unique(np.concatenate(out), axis=0).reshape((-1,) + shape)


def _lift_source(state: _State, s: int, q, st) -> None:
    """Exact LP over distributions of source s on joint response functions of the parties it feeds (candidates
    from ``_candidates``; skipped beyond ``LIFT_COLUMNS``): the support becomes the source's new alphabet."""
    sc = state.sc
    src, out, sett = _labels(sc)
    J = sc.sources[s]
    cands = [_candidates(state, j, s) for j in J]
    if math.prod(len(c) for c in cands) > LIFT_COLUMNS:
        return
    big = max(src + out + sett) + 1
    ops = []
    for t, w in enumerate(state.w):
        if t != s:
            ops += [w, [src[t]]]
    for j in range(sc.n_parties):
        others = [src[t] for t in sc.party_sources(j) if t != s]
        if j in J:
            g = big + J.index(j)
            ind = np.moveaxis(_indicator(np.asarray(cands[J.index(j)]), sc.outcomes[j]), 1, 0)  # (n, d, m, k...)
            ops += [ind, [g, out[j], sett[j]] + others]
        else:
            ops += [_indicator(state.r[j], sc.outcomes[j]), [out[j], sett[j]] + others]
    cols = np.einsum(*ops, out + sett + [big + i for i in range(len(J))], optimize=True).reshape(q.size, -1)
    # many candidate combinations give the same behaviour column: solve over distinct columns only
    _, first = np.unique(np.round(cols.T, 12), axis=0, return_index=True)
    u = _distance_lp(cols[:, first], np.ones((1, len(first))), q, sc.normalisation, st)
    if u is None or u.sum() <= 0:
        return
    sel = first[np.flatnonzero(u > PRUNE * u.sum())]
    u = np.zeros(cols.shape[1])[sel] + u[u > PRUNE * u.sum()]
    order = np.argsort(sel)
    sel, u = sel[order], u[order]
    idx = np.unravel_index(sel, tuple(len(c) for c in cands))
    state.w[s] = u / u.sum()
    for i, j in enumerate(J):
        state.r[j] = np.moveaxis(cands[i][idx[i]], 0, state.axis(j, s)).astype(np.int64)


def _kick(state: _State, rng) -> _State:
    """A perturbed copy: every source gets one new value of weight 0.1 (random responses of the parties it feeds on
    it), and one party has about a fifth of its responses redrawn."""
    sc = state.sc
    new = state.copy()
    for s in range(sc.n_sources):
        new.w[s] = np.concatenate([0.9 * new.w[s], [0.1]])
        for j in sc.sources[s]:
            ax = new.axis(j, s)
            shape = list(new.r[j].shape)
            shape[ax] = 1
            new.r[j] = np.concatenate([new.r[j], rng.integers(0, sc.outcomes[j], size=shape)], axis=ax)
    j = int(rng.integers(sc.n_parties))
    mask = rng.random(new.r[j].shape) < 0.2
    new.r[j] = np.where(mask, rng.integers(0, sc.outcomes[j], size=new.r[j].shape), new.r[j])
    return new


def _random_state(sc: NetworkScenario, k: int, rng) -> _State:
    w = [rng.dirichlet(np.ones(k)) for _ in range(sc.n_sources)]
    r = [rng.integers(0, sc.outcomes[j], size=(sc.settings[j],) + (k,) * len(sc.party_sources(j))) for j in range(sc.n_parties)]
    return _State(sc, w, r)


def search_network_model(
    q: np.ndarray,
    sc: NetworkScenario,
    *,
    starts: int = 4,
    alphabet: int = 2,
    max_sweeps: int = 40,
    time_limit: float = 60.0,
    seed: int = 0,
    target: float = 0.0,
    kicks: int = 20,
) -> tuple[NetworkModel | None, float, dict]:
    """Best network-local model found for ``q`` (flattened float64 behaviour of ``sc``).

    Returns ``(model, distance, stats)``; stats: ``lps``, ``failures``, ``solver_status``, ``seconds``, ``starts``.
    Each start: random weights and responses on ``alphabet`` values per source, then sweeps of party and source
    LPs until a sweep improves the distance by at most 1e-4 of itself or 1e-12 (or ``max_sweeps`` / ``time_limit``).
    Then ``kicks`` perturbations of the best model (``_kick``), each descended the same way and kept when better.
    Stops early when the distance reaches ``target``.
    """
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    st = _Search()
    best, best_d = None, math.inf
    done = 0
    def out_of_time():
        return time.perf_counter() - t0 > time_limit

    def descend(state, dist):
        for _ in range(int(max_sweeps)):
            before = dist
            for j in range(sc.n_parties):
                trial = state.copy()
                _optimise_party(trial, j, q, st)
                dt = trial.distance(q)
                if dt <= dist:
                    state, dist = trial, dt
            for s in range(sc.n_sources):
                for move in (_optimise_source, _lift_source):
                    trial = state.copy()
                    move(trial, s, q, st)
                    dt = trial.distance(q)
                    if dt <= dist:
                        state, dist = trial, dt
            if before - dist <= max(1e-12, 1e-4 * dist) or dist <= target or out_of_time():
                break
        return state, dist

    for _ in range(max(1, int(starts))):
        state = _random_state(sc, int(alphabet), rng)
        for s in range(sc.n_sources):
            _optimise_source(state, s, q, st)
        state, dist = descend(state, state.distance(q))
        done += 1
        if dist < best_d:
            best, best_d = state, dist
        if best_d <= target or out_of_time():
            break
    # kicks: from the best model, a new random value on every source (weight 0.1) and a few changed responses,
    # then descend again; kept when better (the alternating LPs stop in local minima of a non-convex problem)
    for _ in range(int(kicks)):
        if best is None or best_d <= target or out_of_time():
            break
        trial = _kick(best, rng)
        trial, dt = descend(trial, trial.distance(q))
        if dt < best_d:
            best, best_d = trial, dt
    stats = {"lps": st.lps, "failures": st.failures, "solver_status": st.native, "seconds": time.perf_counter() - t0, "starts": done}
    if best is None:
        return None, math.nan, stats
    return NetworkModel(sc, tuple(best.w), tuple(best.r)), best_d, stats
