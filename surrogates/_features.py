"""Feature maps: behaviour array ``p[outcomes..., settings...]`` -> feature vector, pure and differentiable JAX.

Every map takes an array of shape ``(*batch, *scenario.shape)`` and returns ``(*batch, dim)``; it is built from
``jnp`` operations only, so ``jax.grad`` of a surrogate flows back to the behaviour (and on to a quantum strategy).

- ``"full"``: the behaviour's free coordinates. Binary Bell scenarios: the marginals ``<A_x>``, ``<B_y>`` and the
  correlators ``<A_x B_y>`` (``2m + m^2`` numbers; they determine a no-signalling behaviour exactly). Any other
  scenario (the bilocal network): the orthonormal no-signalling coordinates ``basis.T @ (p - p0)`` of
  ``bellcore.ns_affine_basis`` (26 binary, 35 BSM).
- ``"canonical"``: ``"full"`` of a binary Bell scenario after a canonical relabelling (``canonical_behaviour``):
  every marginal made non-negative by outcome flips, settings sorted by decreasing marginal, and the parties
  exchanged (equal settings only) so that Alice holds the largest marginal. NL is invariant under all of these, so a
  model sees one representative per symmetry class: the data are as if |G| times denser (|G| = 2 (m!)^2 4^m at
  m settings per party). The map is piecewise linear (continuous except where two marginals tie).
- ``"network"``: the bilocal network's correlator coordinates, symmetric in A and C: ``<A_x>``, ``<B_k>``,
  ``<C_z>``, ``<A_x B_k>``, ``<B_k C_z>``, ``<A_x C_z>``, ``<A_x B_k C_z>`` (``network_layout``). Binary variant:
  ``B_k`` = B's observable at setting ``y = k`` (26 numbers). BSM variant: B's outcome is two bits ``(b0, b1)`` and
  its three observables are ``(-1)^b0``, ``(-1)^b1`` and their product ``(-1)^(b0+b1)`` (35 numbers). Both equal the
  no-signalling dimension: the map determines a no-signalling behaviour exactly (the same information as bilocal
  ``"full"``), and every relabelling of the network (settings, outcomes, A <-> C) acts on it by a signed
  permutation, which ``augmentation`` uses. Marginals are averaged over the other parties' settings (for a
  no-signalling ``p`` any setting gives the same number; the average keeps the map exactly equivariant for any ``p``).
- ``"ij"``: the paper's bilocal features ``(I, J, <A0>, <A1>)`` (``bellcore.features_ij``).
- ``"abc"``: the 8 ``<A_x B_y C_z>`` and ``<A0>, <A1>`` (``bellcore.features_correlators``).
- ``"correlators"``: the CHSH correlators ``E[x, y]`` of the m = 2 binary Bell scenario (4 numbers), the input of the
  local / quantum / postquantum classifier.
- ``"correlators-asin"``: ``E[x, y]`` and ``arcsin E[x, y]`` (8 numbers), the classifier's input with an inductive
  bias: the local set is ``max over signs of sum_xy s_xy E_xy <= 2`` and the quantum set (TLM) is the same with
  ``arcsin E_xy`` and ``pi``, so both class boundaries are hyperplanes in these features (docs/surrogates.md).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import jax.numpy as jnp
import numpy as np

from bellcore import Behaviour, BellScenario, BilocalScenario, Scenario, features_correlators, features_ij, ns_affine_basis

__all__ = ["FeatureMap", "FEATURE_SETS", "feature_map", "features", "canonical_behaviour", "network_layout"]


def _is_binary_bell(sc: Scenario) -> bool:
    return isinstance(sc, BellScenario) and sc.n_parties == 2 and tuple(sc.outcomes) == (2, 2)


@functools.cache
def _full_matrix(mA: int, mB: int) -> np.ndarray:
    """``(4 mA mB, mA + mB + mA mB)``: flattened binary Bell ``p`` -> ``(A_x, B_y, E_xy)``, ``A_x`` read at ``y = 0``
    and ``B_y`` at ``x = 0`` (no-signalling makes the choice irrelevant)."""
    M = np.zeros((2, 2, mA, mB, mA + mB + mA * mB))
    s = np.array([1.0, -1.0])
    for x in range(mA):
        M[:, :, x, 0, x] = s[:, None]
        for y in range(mB):
            M[:, :, x, y, mA + mB + x * mB + y] = s[:, None] * s[None, :]
    for y in range(mB):
        M[:, :, 0, y, mA + y] = s[None, :]
    return M.reshape(4 * mA * mB, -1)


def _full(p, sc: Scenario):
    nb = p.ndim - len(sc.shape)
    flat = p.reshape(p.shape[:nb] + (-1,))
    if _is_binary_bell(sc):  # one matrix product (three einsums were measured ~5x slower at batch 100,000)
        return flat @ jnp.asarray(_full_matrix(*sc.settings), p.dtype)
    p0, basis = ns_affine_basis(sc)
    return (flat - jnp.asarray(p0, p.dtype)) @ jnp.asarray(basis, p.dtype)


def canonical_behaviour(p, sc: Scenario, xp=jnp):
    """The canonical relabelling of binary Bell behaviours ``p (*batch, 2, 2, mA, mB)``, same shape and dtype.

    Outcome flips make every ``<A_x>``, ``<B_y>`` >= 0; settings are then sorted by decreasing marginal (stable, so
    ties keep their order); with ``mA == mB`` the parties are exchanged when ``max <B_y> > max <A_x>``. Only entries
    move (a permutation per behaviour), so ``p``'s values, its norm and NL are unchanged. ``xp``: ``jax.numpy``
    (differentiable; the feature map) or ``numpy`` (float64 on the host, for certifying canonical points).
    """
    nb = p.ndim - 4
    mA, mB = sc.settings
    A = p[..., 0, :, :, 0].sum(-2) - p[..., 1, :, :, 0].sum(-2)  # (*batch, mA)
    B = p[..., :, 0, 0, :].sum(-2) - p[..., :, 1, 0, :].sum(-2)  # (*batch, mB)
    ex = (slice(None),) * nb
    p = xp.where((A < 0)[ex + (None, None, slice(None), None)], xp.flip(p, axis=nb), p)
    p = xp.where((B < 0)[ex + (None, None, None, slice(None))], xp.flip(p, axis=nb + 1), p)
    A, B = xp.abs(A), xp.abs(B)
    oa, ob = xp.argsort(-A, axis=-1, stable=True), xp.argsort(-B, axis=-1, stable=True)
    p = xp.take_along_axis(p, oa[ex + (None, None, slice(None), None)], axis=nb + 2)
    p = xp.take_along_axis(p, ob[ex + (None, None, None, slice(None))], axis=nb + 3)
    if mA == mB:
        swap = A.max(-1) < B.max(-1)
        p = xp.where(swap[ex + (None,) * 4], xp.swapaxes(xp.swapaxes(p, nb, nb + 1), nb + 2, nb + 3), p)
    return p


def _descending_permutation(v):
    """``P (..., m, m)`` with ``(P @ v)`` = ``v`` sorted in decreasing order, ties kept in index order (as a stable
    argsort of ``-v``); built from pairwise comparisons, so it is dense arithmetic (no sort, no gather)."""
    m = v.shape[-1]
    earlier = jnp.tril(jnp.ones((m, m), bool), -1)  # earlier[j, k]: k < j
    above = (v[..., None, :] > v[..., :, None]) | ((v[..., None, :] == v[..., :, None]) & earlier)
    rank = above.sum(-1)  # (..., m): the position of element j
    return (rank[..., None, :] == jnp.arange(m)[:, None]).astype(v.dtype)


def _canonical(p, sc: Scenario):
    # the relabelling of ``canonical_behaviour``, applied to the features: flips are signs, sorts are permutation
    # matrices (``canonical_behaviour`` on p itself was measured ~7x slower; a test checks the two agree)
    mA, mB = sc.settings
    f = _full(p, sc)
    A, B = f[..., :mA], f[..., mA : mA + mB]
    E = f[..., mA + mB :].reshape(f.shape[:-1] + (mA, mB))
    sa, sb = jnp.where(A < 0, -1.0, 1.0).astype(f.dtype), jnp.where(B < 0, -1.0, 1.0).astype(f.dtype)
    A, B, E = A * sa, B * sb, E * sa[..., :, None] * sb[..., None, :]
    PA, PB = _descending_permutation(A), _descending_permutation(B)
    # broadcast products and sums, not batched (m x m) matrix products (slow per row on a CPU)
    A, B = (PA * A[..., None, :]).sum(-1), (PB * B[..., None, :]).sum(-1)
    E = (PA[..., :, :, None] * E[..., None, :, :]).sum(-2)  # rows permuted
    E = (E[..., :, None, :] * PB[..., None, :, :]).sum(-1)  # columns permuted
    if mA == mB:
        swap = (A.max(-1) < B.max(-1))[..., None]
        A, B, E = jnp.where(swap, B, A), jnp.where(swap, A, B), jnp.where(swap[..., None], jnp.swapaxes(E, -1, -2), E)
    return jnp.concatenate([A, B, E.reshape(E.shape[:-2] + (mA * mB,))], axis=-1)


def _b_observables(variant: str) -> np.ndarray:
    """``V[k, b, y]``: B's observable ``k`` at outcome ``b`` and setting ``y`` (0 where ``k`` is not measured at ``y``).

    binary: ``k = y``, ``V = (-1)^b``; bsm (one setting, ``b = 2 b0 + b1``): ``(-1)^b0``, ``(-1)^b1``, ``(-1)^(b0+b1)``,
    the three non-trivial characters of the two bits (any permutation of B's four outcomes permutes them up to signs).
    """
    if variant == "binary":
        return np.einsum("b,ky->kby", np.array([1.0, -1.0]), np.eye(2))
    b = np.arange(4)
    return np.stack([(-1.0) ** (b // 2), (-1.0) ** (b % 2), (-1.0) ** (b // 2 + b % 2)])[:, :, None]


def network_layout(variant: str) -> dict[str, tuple[int, tuple[int, ...]]]:
    """Where each block of the ``"network"`` features sits: ``{name: (offset, shape)}`` in the order
    ``A (2,), B (nB,), C (2,), AB (2, nB), BC (nB, 2), AC (2, 2), ABC (2, nB, 2)`` (``nB`` = 2 binary, 3 bsm;
    blocks row-major, indices ``[x]``, ``[k]``, ``[z]``, ``[x, k]``, ``[k, z]``, ``[x, z]``, ``[x, k, z]``)."""
    nb = 2 if variant == "binary" else 3
    shapes = {"A": (2,), "B": (nb,), "C": (2,), "AB": (2, nb), "BC": (nb, 2), "AC": (2, 2), "ABC": (2, nb, 2)}
    out, off = {}, 0
    for k, sh in shapes.items():
        out[k] = (off, sh)
        off += int(np.prod(sh))
    return out


@functools.cache
def _network_matrix(variant: str) -> np.ndarray:
    """``(64, dim)``: flattened bilocal ``p[a, b, c, x, y, z]`` -> the ``"network"`` features."""
    s = np.array([1.0, -1.0])
    VA = np.einsum("a,kx->kax", s, np.eye(2))  # A's observable k at (a, x)
    VB = _b_observables(variant)  # (k, b, y)
    VC = VA
    nb, mb = VB.shape[1], VB.shape[2]
    TA, TB, TC = np.full((2, 2), 0.5), np.full((nb, mb), 1.0 / mb), np.full((2, 2), 0.5)  # sum outcomes, mean settings
    blocks = {
        "A": np.einsum("iax,by,cz->abcxyzi", VA, TB, TC),
        "B": np.einsum("ax,jby,cz->abcxyzj", TA, VB, TC),
        "C": np.einsum("ax,by,kcz->abcxyzk", TA, TB, VC),
        "AB": np.einsum("iax,jby,cz->abcxyzij", VA, VB, TC),
        "BC": np.einsum("ax,jby,kcz->abcxyzjk", TA, VB, VC),
        "AC": np.einsum("iax,by,kcz->abcxyzik", VA, TB, VC),
        "ABC": np.einsum("iax,jby,kcz->abcxyzijk", VA, VB, VC),
    }
    n = 2 * nb * 2 * 2 * mb * 2
    return np.concatenate([b.reshape(n, -1) for b in blocks.values()], axis=1)


def _network(p, sc: Scenario):
    nb = p.ndim - len(sc.shape)
    flat = p.reshape(p.shape[:nb] + (-1,))
    return flat @ jnp.asarray(_network_matrix(sc.variant), p.dtype)


def _ij(p, sc: Scenario):
    return features_ij(Behaviour(p, sc))


def _abc(p, sc: Scenario):
    return features_correlators(Behaviour(p, sc))


def _correlators(p, sc: Scenario):
    s = jnp.array([1.0, -1.0], dtype=p.dtype)
    E = jnp.einsum("...abxy,a,b->...xy", p, s, s)
    return E.reshape(E.shape[:-2] + (4,))


def _correlators_asin(p, sc: Scenario):
    E = _correlators(p, sc)
    # clip inside (-1, 1): arcsin's derivative is infinite at +-1, and a surrogate must stay differentiable there
    lim = 1.0 - 1e-6
    return jnp.concatenate([E, jnp.arcsin(jnp.clip(E, -lim, lim))], axis=-1)


def _dim_full(sc: Scenario) -> int:
    if _is_binary_bell(sc):
        return sc.settings[0] + sc.settings[1] + sc.settings[0] * sc.settings[1]
    return int(ns_affine_basis(sc)[1].shape[1])


@dataclass(frozen=True)
class FeatureMap:
    """A named feature map.

    Attributes:
        name: key in ``FEATURE_SETS``.
        fn: ``fn(p, scenario) -> (*batch, dim)`` (pure ``jnp``).
        dim: ``dim(scenario) -> int``.
        applies: ``applies(scenario) -> bool``: whether the map is defined for that scenario.
        needs: a sentence for error messages (what the map applies to).
    """

    name: str
    fn: Callable
    dim: Callable[[Scenario], int]
    applies: Callable[[Scenario], bool]
    needs: str

    def __call__(self, p, scenario: Scenario):
        check_input(p, scenario)
        if not self.applies(scenario):
            raise ValueError(f"feature set {self.name!r} needs {self.needs}; got {scenario}")
        p = jnp.asarray(p)
        if not jnp.issubdtype(p.dtype, jnp.floating):
            p = p.astype(jnp.float32)
        return self.fn(p, scenario)


FEATURE_SETS: dict[str, FeatureMap] = {
    "full": FeatureMap("full", _full, _dim_full, lambda sc: True, "any scenario"),
    "canonical": FeatureMap(
        "canonical", _canonical, _dim_full, _is_binary_bell, "a two-party Bell scenario with binary outcomes",
    ),
    "network": FeatureMap(
        "network", _network, lambda sc: _network_matrix(sc.variant).shape[1], lambda sc: isinstance(sc, BilocalScenario),
        "a bilocal scenario",
    ),
    "ij": FeatureMap("ij", _ij, lambda sc: 4, lambda sc: isinstance(sc, BilocalScenario), "a bilocal scenario"),
    "abc": FeatureMap("abc", _abc, lambda sc: 10, lambda sc: isinstance(sc, BilocalScenario), "a bilocal scenario"),
    "correlators": FeatureMap(
        "correlators", _correlators, lambda sc: 4, lambda sc: sc == BellScenario.binary(2),
        "the m = 2 binary Bell scenario",
    ),
    "correlators-asin": FeatureMap(
        "correlators-asin", _correlators_asin, lambda sc: 8, lambda sc: sc == BellScenario.binary(2),
        "the m = 2 binary Bell scenario",
    ),
}


def feature_map(name: str) -> FeatureMap:
    """The ``FeatureMap`` called ``name``; ``ValueError`` listing the known names otherwise."""
    if name not in FEATURE_SETS:
        raise ValueError(f"unknown feature set {name!r}; known: {', '.join(FEATURE_SETS)}")
    return FEATURE_SETS[name]


def features(p, scenario: Scenario, name: str):
    """``FEATURE_SETS[name](p, scenario)``: features of a (batch of) behaviour array(s), shape ``(*batch, dim)``."""
    return feature_map(name)(p, scenario)


def check_input(p, scenario: Scenario) -> None:
    """Raise ``ValueError`` unless ``p``'s trailing axes are ``scenario.shape`` (a clear message for a model that
    is handed behaviours of another scenario)."""
    shape = tuple(np.shape(p))
    k = len(scenario.shape)
    if len(shape) < k or shape[len(shape) - k :] != tuple(scenario.shape):
        raise ValueError(
            f"input of shape {shape} is not a behaviour of {scenario} (trailing axes must be {tuple(scenario.shape)})"
        )
