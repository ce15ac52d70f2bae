"""Exact quantities with gradients: certify's LP values as JAX functions of the behaviour, differentiated by their
optimal duals.

``exact_nl(scenario)``, ``exact_tripartite_nl()`` and ``exact_nbl_upper(starts, seed)`` each return an
``ExactQuantity``: a callable ``p -> value`` (``p`` the behaviour array ``p[outcomes..., settings...]``, value a
scalar of p's dtype) that works under ``jax.jit``, ``jax.vmap`` and ``jax.grad`` / ``jax.value_and_grad`` (reverse
mode; ``jax.custom_vjp`` has no forward mode), and is an ``Objective`` target as it stands
(``Objective.make(exact_nbl_upper(), brgp_max=0.99)``; compose with other JAX terms like any function,
e.g. ``lambda p: nbl(p) - 0.5 * nl3(p)``).

How. ``jax.pure_callback`` (``vmap_method="sequential"``: one host call per batch element under ``vmap``) runs
certify's LP on the host in float64 whatever p's dtype (float32 searches included) and returns the value and the
gradient cast back to p's dtype; a ``jax.custom_vjp`` hands the gradient to reverse mode, so ``value_and_grad``
costs one certify call.

The gradients (envelope theorem, docs/discover.md "Exact quantities with gradients"): if
``v(q) = min {c.x : A x = b(q), x >= 0}`` and the optimal dual y is unique, ``dv/dq = y . db/dq``.

- ``exact_nl``: NL = ``certify.nonlocality(p).value``, the normalised L1 distance to the local set; its LP has q as
  the right-hand side of the rows ``D lambda + r+ - r- = q``, whose duals are the certificate's Bell functional:
  gradient = ``result.bell`` (``|B| <= 1/(2|X||Y|)``, shape of p).
- ``exact_tripartite_nl``: the same LP over the three parties' deterministic points
  (``certify.tripartite_nonlocality``): gradient = its tripartite Bell functional.
- ``exact_nbl_upper``: certify's fast NBL upper bound, ``certify.nonbilocality(p, max_nodes=1, starts, seed,
  validate=False).upper`` (alternating exact LPs, each at one source distribution held fixed). Gradient =
  ``result.upper_dual``, the duals of the 64 entry rows of the exact LP whose solution is the returned bilocal
  model: the derivative of *that LP's value with its fixed source held fixed* (envelope theorem), not of the whole
  alternation. The alternation's output moves with p (its start is A's marginals, each LP's solution feeds the
  next), so certify's upper bound does not in general have this derivative: measured on 16 nonbilocal Fig. 3b
  points (theta = 0.75), one-sided differences of certify's upper at step 1e-6 along random tangent directions
  differed from ``upper_dual`` by <= 2.1e-3 at one point, 0.05 at another and 0.14-11.7 at the other 14 (the
  alternation lands on a different model within 1e-6). The fixed-source value is a certified upper bound on NBL
  near p too (an explicit bilocal model at every q), equal to certify's upper at p; the gradient ascends it.

Kinks. Where the optimal dual is not unique the value has a kink and the returned dual is one subgradient (for NL,
NL3 and the fixed-source LP the value is convex in q, so ``v(q + d) >= v(q) + g.d`` for every d). The duals are
never unique along directions normal to the no-signalling affine set (normalisation, signalling): compare or use
gradients only along tangent directions (differences of behaviours, ``bellcore.ns_affine_basis``); a strategy's
Born-rule Jacobian is tangent, so searches see only the tangent part. The fixed-source NBL LP is typically
dual-degenerate at the alternation's output (its fixed source came from the previous LP's vertex): there the
gradient is a subgradient. At value 0 strictly inside the local set (NL, NL3) every optimal B has zero tangent
part: the gradient carries no signal (a search over NL alone has nothing to climb inside the local set, which is
what surrogates and margins are for); on the local set's boundary it is a subgradient.

NaN. Non-finite input, a certify result whose status is not usable (NL, NL3: not in ``certify.SOLVED``; NBL upper:
in ``certify.FAILED`` or no bilocal model; ``limit`` is the normal stop of ``max_nodes=1`` and its upper bound is
valid) or a ``ValueError`` from certify give a NaN value and an all-NaN gradient, which ``Objective`` counts as a
NaN evaluation (``discover._objective``) and the gradient searcher zeroes.

Cost: one certify call per evaluation (``value_and_grad`` included), on the host, sequential under ``vmap``;
measured per call in docs/discover.md (``benchmarks/exact_gradients.py``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import certify
from bellcore import BILOCAL_SHAPES, Behaviour, Scenario

__all__ = ["ExactQuantity", "exact_nl", "exact_tripartite_nl", "exact_nbl_upper"]

#: host function: float64 array of p's shape -> (value, gradient of p's shape); NaN value and gradient on failure
Host = Callable[[np.ndarray], tuple[float, np.ndarray]]


def _nan_like(q: np.ndarray) -> tuple[float, np.ndarray]:
    return math.nan, np.full(q.shape, np.nan)


def _callback(host: Host, p):
    """The host side of the callback: float64 in, (value, gradient) out in p's dtype."""
    p = np.asarray(p)
    q = p.astype(np.float64)
    value, grad = host(q) if np.all(np.isfinite(q)) else _nan_like(q)
    return np.asarray(value, dtype=p.dtype), np.asarray(grad, dtype=p.dtype).reshape(p.shape)


def _differentiable(host: Host) -> Callable[[jax.Array], jax.Array]:
    """``p -> value`` around ``host`` with the host's gradient as its reverse-mode derivative."""

    def both(p):
        out = (jax.ShapeDtypeStruct((), p.dtype), jax.ShapeDtypeStruct(p.shape, p.dtype))
        return jax.pure_callback(functools.partial(_callback, host), out, p, vmap_method="sequential")

    @jax.custom_vjp
    def value(p):
        return both(p)[0]

    def fwd(p):
        v, g = both(p)
        return v, g

    def bwd(g, cotangent):
        return (cotangent * g,)

    value.defvjp(fwd, bwd)
    return value


class ExactQuantity(eqx.Module):
    """An exact certify quantity as a differentiable JAX function of one behaviour array (see the module docstring).

    Attributes:
        name: what it computes (``"nl"``, ``"nl3"``, ``"nbl-upper"``): the objective's name in traces.
        shapes: the behaviour shapes it accepts.
        host: ``float64 array -> (value, gradient)`` without JAX (NaN and NaN on failure).
    """

    name: str = eqx.field(static=True)
    shapes: tuple = eqx.field(static=True)
    host: Host = eqx.field(static=True)
    _fn: Callable = eqx.field(static=True, repr=False)

    def __init__(self, name: str, shapes, host: Host):
        self.name, self.shapes, self.host = name, tuple(tuple(s) for s in shapes), host
        self._fn = _differentiable(host)

    def __call__(self, p) -> jax.Array:
        """The value at the behaviour array ``p`` (shape one of ``shapes``), a scalar of p's float dtype."""
        p = jnp.asarray(p)
        if tuple(p.shape) not in self.shapes:
            raise ValueError(
                f"{self.name}: behaviour array of shape {tuple(p.shape)}; expected one of {list(self.shapes)}")
        if not jnp.issubdtype(p.dtype, jnp.floating):
            p = p.astype(jnp.result_type(float))
        return self._fn(p)

    def value_and_grad(self, p) -> tuple[float, np.ndarray]:
        """Host-side ``(value, gradient)`` in float64, without JAX."""
        q = np.asarray(p, dtype=np.float64)
        return self.host(q) if np.all(np.isfinite(q)) else _nan_like(q)


# ------------------------------------------------------------------------------------------------ hosts
def _bell_result(result, q: np.ndarray) -> tuple[float, np.ndarray]:
    """(value, Bell functional) of an NL-type result; NaN unless its status is in ``certify.SOLVED``."""
    if result.status not in certify.SOLVED or result.bell is None or not math.isfinite(result.value):
        return _nan_like(q)
    return float(result.value), np.asarray(result.bell, dtype=np.float64).reshape(q.shape)


def exact_nl(scenario: Scenario) -> ExactQuantity:
    """NL of a bipartite behaviour of ``scenario`` (``certify.nonlocality``); gradient: its Bell functional."""
    if not isinstance(scenario, Scenario) or scenario.n_parties != 2:
        raise ValueError(f"exact_nl needs a bipartite Bell scenario; got {scenario!r}")

    def host(q: np.ndarray) -> tuple[float, np.ndarray]:
        try:
            r = certify.nonlocality(Behaviour(q, scenario), validate=False)
        except ValueError:
            return _nan_like(q)
        return _bell_result(r, q)

    return ExactQuantity("nl", (scenario.shape,), host)


def _nl3_host(q: np.ndarray) -> tuple[float, np.ndarray]:
    try:
        r = certify.tripartite_nonlocality(q, validate=False)
    except ValueError:
        return _nan_like(q)
    return _bell_result(r, q)


def exact_tripartite_nl() -> ExactQuantity:
    """Tripartite NL of a bilocal-network behaviour (binary (2,2,2,2,2,2) or BSM (2,4,2,2,1,2) array;
    ``certify.tripartite_nonlocality``); gradient: its tripartite Bell functional."""
    return ExactQuantity("nl3", tuple(BILOCAL_SHAPES), _nl3_host)


def exact_nbl_upper(starts: int = 1, seed: int = 0) -> ExactQuantity:
    """certify's fast NBL upper bound ``nonbilocality(p, max_nodes=1, starts, seed, validate=False).upper``.

    Gradient: ``upper_dual``, the dual of the final exact LP with the bilocal model's other source held fixed
    (envelope theorem: the derivative of that LP's value, not of the alternation that chose the source; a
    subgradient where the dual is not unique). See the module docstring for what that means at kinks.
    """
    starts, seed = int(starts), int(seed)
    if starts < 1:
        raise ValueError(f"starts must be >= 1; got {starts}")

    def host(q: np.ndarray) -> tuple[float, np.ndarray]:
        try:
            r = certify.nonbilocality(q, max_nodes=1, starts=starts, seed=seed, validate=False)
        except ValueError:
            return _nan_like(q)
        if r.status in certify.FAILED or r.upper_dual is None or not math.isfinite(r.upper):
            return _nan_like(q)
        return float(r.upper), np.asarray(r.upper_dual, dtype=np.float64).reshape(q.shape)

    return ExactQuantity("nbl-upper", tuple(BILOCAL_SHAPES), host)
