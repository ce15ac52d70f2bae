"""Ensemble members: plain MLPs, max-affine functions, input-convex networks and class margins (equinox Modules).

A member maps one standardised feature vector ``(d,)`` to ``(out,)`` (1 for regression, 3 logits for the classifier).
Members of one shape form a *group* (``GroupSpec``); a group is stored as a single pytree whose array leaves carry a
leading member axis (built with ``eqx.filter_vmap`` over per-member keys), so a group trains and predicts as one
vectorised computation.

Why the convex kinds: NL is convex and piecewise linear on the no-signalling set (a maximum of affine functions, one
per vertex of the dual LP; nine pieces at m = 2, see docs/surrogates.md). A max-affine member represents exactly that
form; an input-convex network (ICNN: non-negative weights on the hidden path, convex non-decreasing activations) is a
smooth convex relative. NBL and the classes are not convex, so these kinds are for NL. ``Margins`` is the classifier's
counterpart: two max-affine class margins (the local and quantum sets are polytopes in the ``correlators-asin``
features).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["GroupSpec", "MLP", "MaxAffine", "Margins", "ICNN", "make_group", "dual_group", "dual_group_pieces", "MEMBER_KINDS", "ACTIVATIONS"]

ACTIVATIONS = {
    "relu": jax.nn.relu,
    "gelu": jax.nn.gelu,
    "silu": jax.nn.silu,
    "tanh": jnp.tanh,
    "softplus": jax.nn.softplus,
}
#: activations that are convex and non-decreasing (allowed inside an ICNN).
_CONVEX_ACTIVATIONS = ("relu", "softplus")


def _dense(key, n_in: int, n_out: int, dtype, scale: float = 1.0):
    """He-style init: ``W (n_out, n_in) ~ N(0, scale * 2 / n_in)``, ``b = 0``."""
    w = jax.random.normal(key, (n_out, n_in), dtype) * jnp.sqrt(scale * 2.0 / n_in).astype(dtype)
    return w, jnp.zeros((n_out,), dtype)


class MLP(eqx.Module):
    """``depth`` hidden layers of ``width`` units with ``activation``, then a linear head of ``out`` units;
    ``floor``: see ``GroupSpec``."""

    weights: tuple
    biases: tuple
    activation: str = eqx.field(static=True)
    floor: bool = eqx.field(static=True)

    def __init__(self, key, d: int, out: int, width: int, depth: int, activation: str, dtype=jnp.float32,
                 floor: bool = False):
        sizes = [d] + [width] * depth + [out]
        keys = jax.random.split(key, len(sizes) - 1)
        layers = [_dense(k, a, b, dtype, 1.0 if i < depth else 0.5) for i, (k, a, b) in enumerate(zip(keys, sizes, sizes[1:]))]
        self.weights = tuple(w for w, _ in layers)
        self.biases = tuple(b for _, b in layers)
        self.activation = activation
        self.floor = bool(floor and out == 1)

    def __call__(self, x):
        act = ACTIVATIONS[self.activation]
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            x = act(w @ x + b)
        return self.weights[-1] @ x + self.biases[-1]


class MaxAffine(eqx.Module):
    """``f(x) = max_k (w_k . x + b_k)`` over ``pieces`` affine functions (with ``floor``, the ensemble takes
    ``max(0, f)``: the constant 0 is one more piece, as for NL, which is 0 on the local set).

    Convex and piecewise linear by construction (regression only, ``out = 1``). Gradients flow through the active
    piece only.
    """

    w: jax.Array
    b: jax.Array
    floor: bool = eqx.field(static=True)

    def __init__(self, key, d: int, out: int, pieces: int, floor: bool = True, dtype=jnp.float32):
        if out != 1:
            raise ValueError("max-affine members are scalar (regression) members")
        k1, k2 = jax.random.split(key)
        self.w = jax.random.normal(k1, (pieces, d), dtype) / jnp.sqrt(jnp.asarray(d, dtype))
        self.b = 0.1 * jax.random.normal(k2, (pieces,), dtype)
        self.floor = floor

    def __call__(self, x):
        return jnp.max(self.w @ x + self.b)[None]


class Margins(eqx.Module):
    """Classifier member with the classes' geometry built in: two max-affine functions ``g1(x)``, ``g2(x)`` of
    ``pieces`` affine pieces each, and logits ``exp(log_scale) * (-g1, 0, g2)`` (local, quantum, postquantum).

    Why: local ⇔ every signed CHSH combination ``sum_xy s_xy E_xy <= 2`` (8 of them), quantum ⇔ every signed TLM
    combination ``sum_xy s_xy arcsin E_xy <= pi``. On the ``correlators-asin`` features both are maxima of 8 affine
    functions, so ``g1 = max CHSH - 2`` and ``g2 = max TLM - pi`` are exactly representable; the member predicts local
    where ``g1 < 0``, postquantum where ``g2 > 0`` (``g2 > -g1``), quantum between. It is an inductive bias for the
    three-class problem only (``out = 3``), as ``MaxAffine`` is one for NL.

    ``log_scale`` (a learned scalar, 0 at init; the argmax does not depend on it): the classes are separable, so the
    cross-entropy keeps falling only as the logits grow. Through ``w`` and ``b`` alone Adam grows them additively, by
    about one learning rate per step; through ``log_scale`` multiplicatively, leaving ``w`` and ``b`` to place the
    boundaries. Measured (docs/surrogates.md, same data and steps): test accuracy 99.35 % without it, 99.90 % with.
    """

    w: jax.Array  # (2, pieces, d)
    b: jax.Array  # (2, pieces)
    log_scale: jax.Array  # ()

    def __init__(self, key, d: int, out: int, pieces: int, dtype=jnp.float32):
        if out != 3:
            raise ValueError("margins members are three-class (local / quantum / postquantum) classifier members")
        k1, k2 = jax.random.split(key)
        self.w = jax.random.normal(k1, (2, pieces, d), dtype) / jnp.sqrt(jnp.asarray(d, dtype))
        self.b = 0.1 * jax.random.normal(k2, (2, pieces), dtype)
        self.log_scale = jnp.zeros((), dtype)

    def __call__(self, x):
        g = jnp.max(self.w @ x + self.b, axis=-1)  # (2,)
        return jnp.exp(self.log_scale) * jnp.stack([-g[0], jnp.zeros((), g.dtype), g[1]])


class ICNN(eqx.Module):
    """Input-convex network: ``z1 = act(W0 x + b0)``, ``z_{k+1} = act(softplus(U_k) z_k + W_k x + b_k)``,
    ``f = softplus(u) . z_L + w . x + c``; ``act`` convex and non-decreasing, so ``f`` is convex in ``x``
    (``max(0, f)`` with ``floor`` is still convex)."""

    w_in: tuple
    b_in: tuple
    u: tuple
    u_out: jax.Array
    w_out: jax.Array
    c_out: jax.Array
    activation: str = eqx.field(static=True)
    floor: bool = eqx.field(static=True)

    def __init__(self, key, d: int, out: int, width: int, depth: int, activation: str = "softplus", floor: bool = True,
                 dtype=jnp.float32):
        if out != 1:
            raise ValueError("ICNN members are scalar (regression) members")
        if activation not in _CONVEX_ACTIVATIONS:
            raise ValueError(f"an ICNN needs a convex non-decreasing activation ({_CONVEX_ACTIVATIONS}); got {activation!r}")
        keys = jax.random.split(key, 2 * depth + 1)
        w_in, b_in = zip(*[_dense(keys[i], d, width, dtype) for i in range(depth)])
        # softplus(-2) ~ 0.13: small positive hidden-path weights, so the initial function is not dominated by it
        self.u = tuple(-2.0 + 0.1 * jax.random.normal(keys[depth + i], (width, width), dtype) for i in range(depth - 1))
        self.w_in, self.b_in = tuple(w_in), tuple(b_in)
        self.u_out = -2.0 + 0.1 * jax.random.normal(keys[-1], (width,), dtype)
        self.w_out = jnp.zeros((d,), dtype)
        self.c_out = jnp.zeros((), dtype)
        self.activation = activation
        self.floor = floor

    def __call__(self, x):
        act = ACTIVATIONS[self.activation]
        z = act(self.w_in[0] @ x + self.b_in[0])
        for u, w, b in zip(self.u, self.w_in[1:], self.b_in[1:]):
            z = act(jax.nn.softplus(u) @ z / z.shape[0] + w @ x + b)
        return (jax.nn.softplus(self.u_out) @ z / z.shape[0] + self.w_out @ x + self.c_out)[None]


MEMBER_KINDS = ("mlp", "maxaffine", "icnn", "margins", "dual")


@dataclass(frozen=True)
class GroupSpec:
    """The shape shared by the members of one group.

    Attributes:
        kind: ``"mlp"``, ``"maxaffine"``, ``"icnn"`` (regression), ``"margins"`` (the three-class classifier) or
            ``"dual"`` (NL only: a ``MaxAffine`` whose pieces are the dual Bell functionals certify returned for the
            training rows, collected rather than trained; a certified lower bound, see ``surrogates._dual``).
        members: how many members of this shape.
        width, depth, activation: hidden layers (MLP, ICNN).
        pieces: number of affine pieces (max-affine; per margin for ``margins``; for ``dual``, the most pieces to
            keep, and in a trained model the number kept).
        floor: the ensemble outputs ``max(0, f)`` of this group's members (regression of non-negative targets such
            as NL and NBL; ignored for classifiers). Most uniform-NS points are local (NL exactly 0): a floored member
            answers exactly 0 there. Training keeps the gradient alive: the loss sees ``max(0, f)`` on rows whose
            label is 0 (negative values are right there) and ``f`` itself on rows with a positive label (a member
            stuck below 0 is pulled up instead of receiving no gradient).
        lr_scale: this group's learning rate is ``TrainConfig.learning_rate * lr_scale`` (max-affine members, with
            no depth to scale their output, learn measurably faster at ~5x the MLPs' rate).
    """

    kind: str = "mlp"
    members: int = 4
    width: int = 128
    depth: int = 3
    activation: str = "gelu"
    pieces: int = 32
    floor: bool = True
    lr_scale: float = 1.0

    def __post_init__(self):
        if self.kind not in MEMBER_KINDS:
            raise ValueError(f"unknown member kind {self.kind!r}; known: {', '.join(MEMBER_KINDS)}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; known: {', '.join(ACTIVATIONS)}")
        if self.kind == "dual" and self.members != 1:
            raise ValueError(f"a dual-vertex group is one member (its pieces are collected, not trained); got {self.members}")
        if self.members < 1 or self.width < 1 or self.depth < 1 or self.pieces < 1 or not self.lr_scale > 0:
            raise ValueError(f"members, width, depth and pieces must be >= 1; got {self}")

    @property
    def name(self) -> str:
        """A readable, unique-per-shape group name (the HDF5 data set name of its parameters)."""
        if self.kind == "margins":
            return f"margins_k{self.pieces}"
        if self.kind == "dual":
            return f"dual_k{self.pieces}"
        if self.kind == "maxaffine":
            return f"maxaffine_k{self.pieces}{'_floor' if self.floor else ''}"
        fl = "_floor" if self.floor else ""
        if self.kind == "icnn":
            act = self.activation if self.activation in _CONVEX_ACTIVATIONS else "softplus"
            return f"icnn_{self.width}x{self.depth}_{act}{fl}"
        return f"mlp_{self.width}x{self.depth}_{self.activation}{fl}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: dict[str, Any] | str) -> "GroupSpec":
        if isinstance(obj, str):
            obj = json.loads(obj)
        return cls(**obj)

    def make_one(self, key, d: int, out: int, dtype=jnp.float32) -> eqx.Module:
        if self.kind == "mlp":
            return MLP(key, d, out, self.width, self.depth, self.activation, dtype, self.floor)
        if self.kind in ("maxaffine", "dual"):
            return MaxAffine(key, d, out, self.pieces, self.floor or self.kind == "dual", dtype)
        if self.kind == "margins":
            return Margins(key, d, out, self.pieces, dtype)
        act = self.activation if self.activation in _CONVEX_ACTIVATIONS else "softplus"
        return ICNN(key, d, out, self.width, self.depth, act, self.floor, dtype)


def dual_group(W, c, x_mean, x_std, y_scale, dtype=jnp.float32) -> eqx.Module:
    """A one-member ``MaxAffine`` group holding the pieces ``W f + c`` (``W (P, d)``, ``c (P,)``, NL units, on raw
    features ``f``) in the ensemble's units: standardised inputs ``x = (f - x_mean) / x_std``, output ``/ y_scale``."""
    W = np.asarray(W, np.float64)
    c = np.asarray(c, np.float64)
    mu, sd, ys = (np.asarray(v, np.float64) for v in (x_mean, x_std, y_scale))
    w = (W * sd[None, :]) / ys
    b = (W @ mu + c) / ys
    g = make_group(GroupSpec("dual", 1, pieces=len(c)), jax.random.PRNGKey(0)[None], W.shape[1], 1, dtype)
    return eqx.tree_at(lambda t: (t.w, t.b), g, (jnp.asarray(w[None], dtype), jnp.asarray(b[None], dtype)))


def dual_group_pieces(group, x_mean, x_std, y_scale) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of ``dual_group``: the pieces ``(W (P, d), c (P,))`` of a one-member dual group, in NL units on raw
    features (float64 from the group's stored weights)."""
    mu, sd, ys = (np.asarray(v, np.float64) for v in (x_mean, x_std, y_scale))
    W = np.asarray(group.w[0], np.float64) * ys / sd[None, :]
    return W, np.asarray(group.b[0], np.float64) * ys - W @ mu


def make_group(spec: GroupSpec, keys, d: int, out: int, dtype=jnp.float32) -> eqx.Module:
    """A group's members as one pytree with a leading member axis on every array leaf (``keys``: ``(members, 2)``)."""
    # one compiled program, not one per primitive (an eager vmap compiles every operation separately: ~15 s)
    return eqx.filter_jit(eqx.filter_vmap(lambda k: spec.make_one(k, d, out, dtype)))(keys)
