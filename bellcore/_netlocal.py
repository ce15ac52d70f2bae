"""Network-local behaviours: the formula of a model with finite source alphabets and deterministic responses, and
a sampler of random such models.

    p(a|x) = sum_lambda prod_s w_s(lambda_s) prod_j [a_j = f_j(x_j, lambda_{sources of j})]

It lives in ``bellcore`` because both the sampler (datasets of network behaviours) and ``certify``'s explicit
models (the upper bound of the network interval, docs/networks.md) compute it; one einsum, shared.
"""

from __future__ import annotations

import numpy as np

from ._behaviour import Behaviour
from ._netspec import NetworkScenario

__all__ = ["einsum_labels", "response_indicator", "einsum_terms", "network_local_probabilities",
           "sample_network_local"]


def einsum_labels(sc: NetworkScenario) -> tuple[list[int], list[int], list[int]]:
    """einsum labels: source s -> s, outcome of party j -> S + j, setting of party j -> S + n + j."""
    S, n = sc.n_sources, sc.n_parties
    return list(range(S)), [S + j for j in range(n)], [S + n + j for j in range(n)]


def response_indicator(resp: np.ndarray, d: int) -> np.ndarray:
    """One-hot ``[a, x, lambda...] = [resp[x, lambda...] == a]``, float64 (``resp``: integer outcomes)."""
    return (np.arange(d).reshape((d,) + (1,) * resp.ndim) == resp[None]).astype(np.float64)


def einsum_terms(sc: NetworkScenario, weights, responses, skip_source=None, skip_party=None) -> list:
    """The operands of the model's einsum (weights per source, one-hot responses per party), leaving one source's
    weights or one party's response out (the linear pieces the alternating LPs optimise)."""
    src, out, sett = einsum_labels(sc)
    ops: list = []
    for s, w in enumerate(weights):
        if s != skip_source:
            ops += [np.asarray(w, dtype=np.float64), [src[s]]]
    for j, r in enumerate(responses):
        if j != skip_party:
            ops += [response_indicator(np.asarray(r), sc.outcomes[j]),
                    [out[j], sett[j]] + [src[s] for s in sc.party_sources(j)]]
    return ops


def network_local_probabilities(sc: NetworkScenario, weights, responses) -> np.ndarray:
    """The behaviour ``p[a..., x...]`` of a network-local model (numpy float64, shape ``sc.shape``).

    ``weights``: per source its distribution over ``k_s`` values; ``responses``: per party an integer array
    ``(settings, k_s for each of its sources)`` of outcomes."""
    _, out, sett = einsum_labels(sc)
    return np.einsum(*einsum_terms(sc, weights, responses), out + sett, optimize=True)


def sample_network_local(scenario: NetworkScenario, n: int, rng: np.random.Generator, *, alphabet: int = 3,
                         alpha: float = 1.0) -> Behaviour:
    """Random network-local models: every source has ``alphabet`` values with Dirichlet(``alpha``) weights, every
    party a uniformly random deterministic response to its setting and its sources' values. Network-local by
    construction (distance 0; ``certify.network_nonlocality`` finds a model within its tolerance)."""
    if not isinstance(scenario, NetworkScenario):
        raise ValueError(f"the network-local sampler needs a network scenario; got {scenario}")
    if int(alphabet) != alphabet or alphabet < 1:
        raise ValueError(f"alphabet must be a positive integer; got {alphabet!r}")
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0; got {alpha}")
    k, sc = int(alphabet), scenario
    out = np.empty((n,) + sc.shape)
    for i in range(n):
        w = [rng.dirichlet(np.full(k, float(alpha))) for _ in range(sc.n_sources)]
        r = [rng.integers(0, sc.outcomes[j], size=(sc.settings[j],) + (k,) * len(sc.party_sources(j)))
             for j in range(sc.n_parties)]
        out[i] = network_local_probabilities(sc, w, r)
    return Behaviour(out, sc)
