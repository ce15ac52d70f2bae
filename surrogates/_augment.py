"""Symmetry augmentation in feature space: random relabellings of settings, outcomes and parties, in JAX.

NL, NBL and the local / quantum / postquantum classes are invariant under relabelling settings, outcomes (per
setting) and exchanging parties of equal cardinalities (bellcore's ``relabel_settings``, ``relabel_outcomes``,
``swap_parties``). On the features used here those maps act by permutations and sign flips, so a batch is
augmented on the fly inside the jitted training step, without going back to probabilities:

- ``"full"`` of a binary Bell scenario ``(A_x, B_y, E_xy)``: ``A'_x = s_x A_{pi(x)}``, ``B'_y = t_y B_{sigma(y)}``,
  ``E'_xy = s_x t_y E_{pi(x) sigma(y)}`` (``s, t`` = +-1 outcome flips per setting, ``pi, sigma`` setting
  permutations), and with probability 1/2 the party swap ``A <-> B``, ``E -> E^T`` (equal settings only).
- ``"correlators"`` (``E_xy``, m = 2, marginals zero): the same maps on ``E`` alone.
- ``"correlators-asin"`` (``E_xy``, ``arcsin E_xy``): the same map on both blocks (arcsin is odd, so an outcome
  flip commutes with it).
- ``"abc"`` (``E_xyz``, ``A_x``): flips and permutations of A's, B's and C's settings and outcomes. For the BSM
  variant, B's "flip y" and "permute y" act on the two bits of B's outcome, also relabellings of outcomes.
  (A <-> C is not available: the features omit C's marginals.)

- ``"network"`` (bilocal; blocks of ``network_layout``): each party's observables move by a signed permutation
  ``S`` (A, C: ``S = diag(flips) P(settings)``; binary B likewise; BSM B: any permutation of its four outcomes is
  affine over the two bits, so it permutes the three observables ``b0, b1, b0+b1`` arbitrarily with signs
  ``(s0, s1, s0 s1)``: 24 maps), every correlator block transforms with the product of its parties' ``S``, and with
  probability 1/2 A <-> C (``A <-> C``, ``AB <-> BC^T``, ``AC -> AC^T``, ``ABC[x,k,z] -> ABC[z,k,x]``). NBL and
  tripartite NL are invariant under all of them (|G| = 8 * 8 * 8 * 2 = 1024 binary, 8 * 24 * 8 * 2 = 3072 BSM).

``"ij"`` and the NS coordinates of bilocal ``"full"`` have no such simple action; ``augmentation`` returns None.
Tests check every map against bellcore's relabellings of the underlying behaviour (tests/test_surrogates.py).
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from bellcore import BellScenario, BilocalScenario, Scenario

from ._features import network_layout

__all__ = ["augmentation", "relabel_network_features"]


def _flips(key, n, dtype):
    return jnp.where(jax.random.bernoulli(key, 0.5, (n,)), -1.0, 1.0).astype(dtype)


def _full_bell(m: int, swap: bool) -> Callable:
    def f(key, x):
        ka, kb, kfa, kfb, ks = jax.random.split(key, 5)
        A, B, E = x[:m], x[m : 2 * m], x[2 * m :].reshape(m, m)
        pa, pb = jax.random.permutation(ka, m), jax.random.permutation(kb, m)
        fa, fb = _flips(kfa, m, x.dtype), _flips(kfb, m, x.dtype)
        A2, B2 = fa * A[pa], fb * B[pb]
        E2 = fa[:, None] * fb[None, :] * E[pa][:, pb]
        if swap:
            s = jax.random.bernoulli(ks, 0.5)
            A2, B2, E2 = jnp.where(s, B2, A2), jnp.where(s, A2, B2), jnp.where(s, E2.T, E2)
        return jnp.concatenate([A2, B2, E2.ravel()])

    return f


def _correlators(key, x):
    # x: (4 k,) = k blocks of E_xy (k = 1: correlators; k = 2: E and arcsin E), one relabelling applied to each block
    ka, kb, kfa, kfb, ks = jax.random.split(key, 5)
    E = x.reshape(-1, 2, 2)
    pa, pb = jax.random.permutation(ka, 2), jax.random.permutation(kb, 2)
    fa, fb = _flips(kfa, 2, x.dtype), _flips(kfb, 2, x.dtype)
    E2 = fa[None, :, None] * fb[None, None, :] * E[:, pa][:, :, pb]
    E2 = jnp.where(jax.random.bernoulli(ks, 0.5), jnp.swapaxes(E2, 1, 2), E2)
    return E2.ravel()


def _abc(key, x):
    k = jax.random.split(key, 6)
    E, A = x[:8].reshape(2, 2, 2), x[8:]  # E[x, y, z]
    px, py, pz = (jax.random.permutation(k[i], 2) for i in range(3))
    fx, fy, fz = (_flips(k[3 + i], 2, x.dtype) for i in range(3))
    E2 = fx[:, None, None] * fy[None, :, None] * fz[None, None, :] * E[px][:, py][:, :, pz]
    return jnp.concatenate([E2.ravel(), fx * A[px]])


def relabel_network_features(x, SA, SB, SC, swap, variant: str):
    """The ``"network"`` features ``x (d,)`` of a relabelled behaviour: party observables ``v -> S v`` (``SA (2, 2)``,
    ``SB (nB, nB)``, ``SC (2, 2)`` signed permutation matrices), then A <-> C where ``swap`` (a boolean scalar)."""
    lay = network_layout(variant)
    blk = {k: x[o : o + int(np.prod(sh))].reshape(sh) for k, (o, sh) in lay.items()}
    A, B, C = SA @ blk["A"], SB @ blk["B"], SC @ blk["C"]
    AB, BC, AC = SA @ blk["AB"] @ SB.T, SB @ blk["BC"] @ SC.T, SA @ blk["AC"] @ SC.T
    ABC = jnp.einsum("xi,kj,zl,ijl->xkz", SA, SB, SC, blk["ABC"])
    A, C = jnp.where(swap, C, A), jnp.where(swap, A, C)
    AB, BC = jnp.where(swap, BC.T, AB), jnp.where(swap, AB.T, BC)
    AC, ABC = jnp.where(swap, AC.T, AC), jnp.where(swap, jnp.transpose(ABC, (2, 1, 0)), ABC)
    return jnp.concatenate([v.ravel() for v in (A, B, C, AB, BC, AC, ABC)])


@functools.cache
def _party_group(n: int, bsm: bool = False) -> np.ndarray:
    """Every signed permutation ``S = diag(s) P`` a relabelling of one party makes of its observables, ``(G, n, n)``:
    ``(S v)[i] = s_i v[pi(i)]``. Two settings (or binary B): all ``2! 2^2 = 8``. BSM B (``n = 3``: ``b0, b1, b0+b1``):
    a permutation of its four outcomes is affine over the two bits, so it permutes the three observables arbitrarily
    with signs ``(s0, s1, s0 s1)``: 24 maps."""
    import itertools

    if bsm:
        signs = [(s0, s1, s0 * s1) for s0 in (1.0, -1.0) for s1 in (1.0, -1.0)]
    else:
        signs = list(itertools.product((1.0, -1.0), repeat=n))
    return np.stack([np.asarray(s)[:, None] * np.eye(n)[list(q)] for q in itertools.permutations(range(n)) for s in signs])


def _pick(key, table: np.ndarray, dtype):
    # a uniform element of a small constant table (a gather: compiles and runs faster than a random permutation)
    return jnp.asarray(table, dtype)[jax.random.randint(key, (), 0, table.shape[0])]


def _network(variant: str) -> Callable:
    def f(key, x):
        ka, kb, kc, ks = jax.random.split(key, 4)
        SA, SC = _pick(ka, _party_group(2), x.dtype), _pick(kc, _party_group(2), x.dtype)
        SB = _pick(kb, _party_group(2) if variant == "binary" else _party_group(3, bsm=True), x.dtype)
        return relabel_network_features(x, SA, SB, SC, jax.random.bernoulli(ks, 0.5), variant)

    return f


@functools.cache  # one function object per (feature set, scenario): jitted training steps that use it are reused
def augmentation(feature_set: str, scenario: Scenario) -> Callable | None:
    """``f(key, x (d,)) -> x' (d,)``: one random relabelling of one feature vector; None if not available."""
    if feature_set == "full" and isinstance(scenario, BellScenario) and tuple(scenario.outcomes) == (2, 2):
        ma, mb = scenario.settings
        if ma == mb:
            return _full_bell(ma, swap=True)
        return None
    if feature_set in ("correlators", "correlators-asin"):
        return _correlators
    if feature_set == "abc" and isinstance(scenario, BilocalScenario):
        return _abc
    if feature_set == "network" and isinstance(scenario, BilocalScenario):
        return _network(scenario.variant)
    return None
