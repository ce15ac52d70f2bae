"""Families of strategies described by a plain mapping (a campaign's ``[family]`` table).

``family_from_spec(spec)`` returns a ``Family``: ``family.init(key)`` draws one random member (its searched
leaves random, fixed parts as the spec says). Keys (defaults in brackets):

bipartite (``scenario = "bell"``):
    settings [2]; state ["pure"]: pure | mixed | theta | werner; theta / v: fixed value (omit to search it);
    measurements ["bloch"]: bloch | plane; plane ["xz"]; eta [1.0]: detection efficiency of both parties
    (no click -> outcome 0, i.e. +1).
bilocal network (``scenario = "bilocal"``):
    sources ["theta"]: theta | pure | mixed | werner (both sources alike); theta / v: fixed value (omit to
    search it, one per source); measurements ["bloch"] / plane / eta: of A and C;
    bob ["product"]: product (binary, two product observables) | general (binary, any projective) |
    brgp (fixed Z(x)Z / X(x)X) | bsm (fixed Bell-state measurement, 4 outcomes) | general4 (any 4-outcome
    projective).
triangle network (``scenario = "triangle"``, ``discover._triangle``):
    outcomes [2]: 2 | 3 | 4 per party; settings [1] (1: no inputs); sources ["pure"]: pure | mixed (all three
    alike; a two-qubit state per source); groups [by outcomes: (0,0,1,1), (0,1,2,2), (0,1,2,3)]: basis vector ->
    outcome of every party's projective two-qubit measurement (``JointMeasurement``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from bellcore import BellScenario, BilocalScenario, Scenario, triangle

from ._params import (
    BlochMeasurements,
    FixedMeasurement,
    LossyMeasurements,
    MixedState,
    PlaneMeasurements,
    ProductMeasurements,
    PureState,
    ThetaState,
    TwoQubitProjective,
    WernerState,
)
from ._strategy import BellStrategy, NetworkStrategy, params_of, with_params
from ._triangle import DEFAULT_GROUPS, JointMeasurement, TriangleStrategy

__all__ = ["Family", "family_from_spec", "FAMILY_KEYS"]

_STATES = ("pure", "mixed", "theta", "werner")
_MEAS = ("bloch", "plane")
_BOBS = ("product", "general", "brgp", "bsm", "general4")
FAMILY_KEYS = {
    "bell": {"scenario", "settings", "state", "theta", "v", "measurements", "plane", "eta"},
    "bilocal": {"scenario", "sources", "theta", "v", "measurements", "plane", "eta", "bob"},
    "triangle": {"scenario", "outcomes", "settings", "sources", "groups"},
}
_TRIANGLE_SOURCES = ("pure", "mixed")


@dataclass(frozen=True)
class Family:
    """A family of strategies: ``init(key)`` draws one (float32 leaves); ``spec`` is the normalised mapping."""

    spec: Mapping[str, Any]
    scenario: Scenario
    make: Callable[[jax.Array], Any] = field(repr=False)

    def init(self, key) -> Any:
        return self.make(key)

    @functools.cached_property
    def born64(self):
        """``(f, P)``: ``f(params (K, P)) -> (K, *shape)`` float64 behaviours of flattened searched parameters, one
        jitted, vmapped Born rule compiled once per family (call it with JAX x64 on; ``behaviours_of`` does)."""
        p0, static = params_of(self.make(jax.random.PRNGKey(0)))
        flat0, unravel = ravel_pytree(p0)
        f = jax.jit(jax.vmap(lambda v: with_params(static, unravel(v.astype(flat0.dtype))).probabilities(jnp.float64)))
        return f, int(flat0.shape[0])

    def sample(self, key, n: int) -> np.ndarray:
        """``n`` random members' behaviours, float64 numpy ``(n, *scenario.shape)``: one jitted, vmapped Born rule
        (drawing members one by one re-dispatches every operation and is ~100x slower)."""
        if int(n) < 0:
            raise ValueError(f"n must be >= 0; got {n}")
        keys = jax.random.split(key, int(n))
        with jax.enable_x64(True):
            return np.asarray(_sample64(self.make, keys), dtype=np.float64)

    @property
    def name(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in sorted(self.spec.items()))


@functools.partial(jax.jit, static_argnums=0)
def _sample64(make, keys):
    # compiled once per family (``make`` is hashable by identity); float32 leaves, float64 Born rule
    return jax.vmap(lambda k: make(k).probabilities(jnp.float64))(keys)


def _state(kind: str, spec, key, dtype):
    if kind == "pure":
        return PureState.random(key, 4, dtype)
    if kind == "mixed":
        return MixedState.random(key, 4, dtype)
    if kind == "theta":
        return ThetaState(float(spec["theta"])) if spec.get("theta") is not None else ThetaState.random(key, dtype)
    if kind == "werner":
        return WernerState(v=float(spec["v"])) if spec.get("v") is not None else WernerState.random(key, dtype)
    raise ValueError(f"unknown state {kind!r}; expected one of {_STATES}")


def _measurements(spec, key, settings: int, dtype):
    kind = spec.get("measurements", "bloch")
    if kind == "bloch":
        m = BlochMeasurements.random(key, settings, dtype)
    elif kind == "plane":
        m = PlaneMeasurements.random(key, settings, spec.get("plane", "xz"), dtype)
    else:
        raise ValueError(f"unknown measurements {kind!r}; expected one of {_MEAS}")
    eta = float(spec.get("eta", 1.0))
    return m if eta == 1.0 else LossyMeasurements(m, eta)


def _bob(kind: str, key, dtype):
    if kind == "product":
        return ProductMeasurements.random(key, dtype)
    if kind == "general":
        return TwoQubitProjective.random(key, 2, dtype)
    if kind == "general4":
        return TwoQubitProjective.random(key, 4, dtype)
    if kind in ("brgp", "bsm"):
        return FixedMeasurement(kind)
    raise ValueError(f"unknown bob measurement {kind!r}; expected one of {_BOBS}")


def _check(spec: Mapping[str, Any]) -> dict[str, Any]:
    spec = dict(spec)
    sc = spec.setdefault("scenario", "bell")
    if sc not in FAMILY_KEYS:
        raise ValueError(f"unknown family scenario {sc!r}; expected 'bell', 'bilocal' or 'triangle'")
    unknown = set(spec) - FAMILY_KEYS[sc]
    if unknown:
        raise ValueError(f"unknown key(s) {sorted(unknown)} in a {sc} family; allowed: {sorted(FAMILY_KEYS[sc])}")
    eta = float(spec.get("eta", 1.0))
    if not 0.0 < eta <= 1.0:
        raise ValueError(f"eta (detection efficiency) must lie in (0, 1]; got {eta}")
    for k in ("theta", "v"):
        if spec.get(k) is not None and not math.isfinite(float(spec[k])):
            raise ValueError(f"{k} must be a finite number; got {spec[k]!r}")
    if spec.get("v") is not None and not 0.0 <= float(spec["v"]) <= 1.0:
        raise ValueError(f"v (Werner visibility) must lie in [0, 1]; got {spec['v']}")
    if spec.get("measurements", "bloch") not in _MEAS:
        raise ValueError(f"unknown measurements {spec['measurements']!r}; expected one of {_MEAS}")
    return spec


def family_from_spec(spec: Mapping[str, Any], dtype=jnp.float32) -> Family:
    """Build a ``Family`` from a mapping (see the module docstring); raises ``ValueError`` on bad keys/values."""
    spec = _check(spec)
    if spec["scenario"] == "triangle":
        return _triangle_family(spec, dtype)
    if spec["scenario"] == "bell":
        state = spec.setdefault("state", "pure")
        if state not in _STATES:
            raise ValueError(f"unknown state {state!r}; expected one of {_STATES}")
        m = int(spec.setdefault("settings", 2))
        if m < 1:
            raise ValueError(f"settings must be >= 1; got {m}")

        def make(key):
            ks, ka, kb = jax.random.split(key, 3)
            return BellStrategy(
                _state(state, spec, ks, dtype), _measurements(spec, ka, m, dtype), _measurements(spec, kb, m, dtype)
            )

        scenario: Scenario = BellScenario((2, 2), (m, m))
    else:
        sources = spec.setdefault("sources", "theta")
        if sources not in _STATES:
            raise ValueError(f"unknown sources {sources!r}; expected one of {_STATES}")
        bob = spec.setdefault("bob", "product")
        if bob not in _BOBS:
            raise ValueError(f"unknown bob measurement {bob!r}; expected one of {_BOBS}")

        def make(key):
            k1, k2, ka, kb, kc = jax.random.split(key, 5)
            return NetworkStrategy(
                _state(sources, spec, k1, dtype),
                _state(sources, spec, k2, dtype),
                _measurements(spec, ka, 2, dtype),
                _bob(bob, kb, dtype),
                _measurements(spec, kc, 2, dtype),
            )

        scenario = BilocalScenario("bsm" if bob in ("bsm", "general4") else "binary")
    return Family(spec, scenario, make)


def _triangle_family(spec: dict[str, Any], dtype) -> Family:
    """The triangle family (module docstring): three sources alike, three parties measuring alike-shaped."""
    o = spec.setdefault("outcomes", 2)
    if isinstance(o, bool) or not isinstance(o, int) or o not in DEFAULT_GROUPS:
        raise ValueError(f"triangle outcomes must be 2, 3 or 4 (a projective two-qubit measurement); got {o!r}")
    m = spec.setdefault("settings", 1)
    if isinstance(m, bool) or not isinstance(m, int) or m < 1:
        raise ValueError(f"settings must be an integer >= 1; got {m!r}")
    sources = spec.setdefault("sources", "pure")
    if sources not in _TRIANGLE_SOURCES:
        raise ValueError(f"unknown triangle sources {sources!r}; expected one of {_TRIANGLE_SOURCES}")
    groups = tuple(spec.get("groups") or DEFAULT_GROUPS[o])
    if len(groups) != 4 or any(isinstance(g, bool) or not isinstance(g, int) for g in groups) \
            or sorted(set(groups)) != list(range(o)):
        raise ValueError(f"groups must map the 4 basis vectors onto the outcomes 0..{o - 1}, each used; got {list(groups)}")
    spec["groups"] = list(groups)

    state_cls = PureState if sources == "pure" else MixedState
    state_shape = (4,) if sources == "pure" else (4, 4)
    n_state, n_meas = math.prod(state_shape), m * 16

    def make(key):
        # one normal draw for every leaf (the laws of PureState/MixedState/JointMeasurement.random): nine separate
        # draws made the jitted sampler ~10x slower to compile
        z = jax.random.normal(key, (6 * n_state + 3 * n_meas,), dtype=dtype)
        st = [state_cls(z[2 * i * n_state:(2 * i + 1) * n_state].reshape(state_shape),
                        z[(2 * i + 1) * n_state:(2 * i + 2) * n_state].reshape(state_shape)) for i in range(3)]
        off = 6 * n_state
        ms = [JointMeasurement(z[off + i * n_meas:off + (i + 1) * n_meas].reshape(m, 4, 4), groups) for i in range(3)]
        return TriangleStrategy(*st, *ms)

    return Family(spec, triangle(outcomes=o, settings=m), make)
