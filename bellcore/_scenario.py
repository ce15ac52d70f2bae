"""Scenarios: who measures what, and the array shape of a behaviour in it.

A behaviour is stored as ``p[outcomes..., settings...]`` (outcomes of every party first, then their
settings: the order used by ``inflation`` and ``toqito``). A party without a choice of setting keeps a
size-1 settings axis.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

__all__ = [
    "Scenario",
    "NSConstraints",
    "BellScenario",
    "BilocalScenario",
    "scenario_from_json",
    "infer_scenario",
    "BILOCAL_SHAPES",
    "BILOCAL_VARIANTS",
    "MAX_DETERMINISTIC",
]

#: The bilocal network's variants (``BilocalScenario.variant``, ``bilocal_network``).
BILOCAL_VARIANTS = ("binary", "bsm")


class Scenario:
    """Common interface of every scenario.

    Subclasses are frozen dataclasses (hashable, usable as cache keys) that define ``outcomes`` and
    ``settings``: tuples with one entry per party.
    """

    outcomes: tuple[int, ...]
    settings: tuple[int, ...]

    @property
    def n_parties(self) -> int:
        return len(self.outcomes)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one behaviour: ``(*outcomes, *settings)``."""
        return tuple(self.outcomes) + tuple(self.settings)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def n_setting_combinations(self) -> int:
        return math.prod(self.settings)

    @property
    def normalisation(self) -> float:
        """Prefactor of the L1 distance: ``1 / (2 * number of setting combinations)``."""
        return 1.0 / (2 * self.n_setting_combinations)

    @property
    def n_deterministic(self) -> int:
        return math.prod(d**m for d, m in zip(self.outcomes, self.settings))

    def check_enumerable(self) -> "Scenario":
        """Raise ``ValueError`` unless certify can enumerate what its LPs need, before anything is allocated.

        Bipartite Bell scenarios: certify enumerates the strategies of one party only (the one with fewer, for exact
        local bounds and column generation), so ``min(dA**mA, dB**mB)`` must be at most ``MAX_DETERMINISTIC`` =
        2**16 (two outcomes: up to 16 settings per party). Other scenarios: every deterministic point,
        ``prod_i d_i ** m_i <= MAX_DETERMINISTIC`` (``check_full_enumeration``).
        """
        if isinstance(self, BellScenario):
            k = min(d**m for d, m in zip(self.outcomes, self.settings))
            if k > MAX_DETERMINISTIC:
                raise ValueError(
                    f"scenario {self} needs {k:,} deterministic strategies of one party enumerated; certify supports "
                    f"at most {MAX_DETERMINISTIC:,} (min(dA**mA, dB**mB) <= 2**16, e.g. two outcomes with at most 16 "
                    "settings on one side)"
                )
            return self
        return self.check_full_enumeration()

    def check_full_enumeration(self) -> "Scenario":
        """Raise ``ValueError`` unless all ``prod_i d_i ** m_i`` deterministic points fit ``MAX_DETERMINISTIC`` (2**16),
        checked before anything is allocated (e.g. (2, 2) outcomes with 10 + 10 settings would need 2**20 points,
        3.4 GB as float64 behaviours)."""
        k = self.n_deterministic
        if k > MAX_DETERMINISTIC:
            gib = k * self.size * 8 / 2**30
            raise ValueError(
                f"scenario {self} has {k:,} local deterministic points ({gib:.3g} GiB as float64 behaviours); listing "
                f"them all is supported up to {MAX_DETERMINISTIC:,} (prod d**m <= 2**16, e.g. two outcomes with "
                "mA + mB <= 16 settings)"
            )
        return self

    def deterministic_points(self) -> np.ndarray:
        """All local deterministic behaviours, shape ``(K, *shape)``, float64, entries 0 or 1.

        K = prod_i d_i ** m_i (``check_full_enumeration``: at most 2**16). Computed once per scenario and cached;
        the returned array is read-only.
        """
        self.check_full_enumeration()
        return _deterministic_points(self.outcomes, self.settings)

    def deterministic_strategies(self) -> list[tuple[tuple[int, ...], ...]]:
        """The strategy behind each row of ``deterministic_points``: one tuple (outcome per setting) per party."""
        return _deterministic_strategies(self.outcomes, self.settings)

    def no_signalling_constraints(self) -> "NSConstraints":
        """The linear equalities of the no-signalling polytope's affine hull (cached; arrays read-only)."""
        return _ns_constraints(self.outcomes, self.settings)

    def to_json(self) -> dict[str, Any]:  # pragma: no cover - overridden
        raise NotImplementedError


class NSConstraints(tuple):
    """``(normalisation, signalling)``: two matrices acting on a flattened behaviour p (C order).

    ``normalisation @ p`` is the sum over outcomes for every setting combination (1 when normalised);
    ``signalling @ p`` is, for every party k, every setting combination with ``x_k != 0`` and every outcome of the
    other parties, the change of the others' marginal between that setting of k and setting 0 (0 when
    no-signalling).
    """

    __slots__ = ()

    @property
    def normalisation(self) -> np.ndarray:
        return self[0]

    @property
    def signalling(self) -> np.ndarray:
        return self[1]

    def project(self, flat: np.ndarray) -> np.ndarray:
        """Orthogonal projection of flattened behaviours ``(..., size)`` onto the no-signalling affine hull.

        The result satisfies normalisation and no-signalling to round-off (entries may stay slightly negative).
        Used for inputs validated at a looser tolerance (float32) before an LP that needs exact equalities.
        """
        a = np.vstack([self.normalisation, self.signalling])
        b = np.concatenate([np.ones(len(self.normalisation)), np.zeros(len(self.signalling))])
        resid = flat @ a.T - b
        return flat - resid @ _pinv(a).T


def _pinv(a: np.ndarray) -> np.ndarray:
    key = (a.shape, a.tobytes())
    if key not in _PINV:
        _PINV[key] = np.linalg.pinv(a)
    return _PINV[key]


_PINV: dict = {}


@functools.cache
def _ns_constraints(outcomes: tuple[int, ...], settings: tuple[int, ...]) -> NSConstraints:
    n = len(outcomes)
    shape = tuple(outcomes) + tuple(settings)
    size = math.prod(shape)
    idx = np.arange(size).reshape(shape)
    norm = []
    for s in itertools.product(*(range(m) for m in settings)):
        row = np.zeros(size)
        row[idx[(Ellipsis,) + s].ravel()] = 1.0
        norm.append(row)
    sig = []
    for k in range(n):
        for s in itertools.product(*(range(m) for m in settings)):
            if s[k] == 0:
                continue
            s0 = list(s)
            s0[k] = 0
            for a in itertools.product(*(range(d) for j, d in enumerate(outcomes) if j != k)):
                row = np.zeros(size)
                for ak in range(outcomes[k]):
                    full = list(a)
                    full.insert(k, ak)
                    row[idx[tuple(full) + s]] += 1.0
                    row[idx[tuple(full) + tuple(s0)]] -= 1.0
                sig.append(row)
    norm_m = np.array(norm)
    sig_m = np.array(sig).reshape(-1, size)
    norm_m.setflags(write=False)
    sig_m.setflags(write=False)
    return NSConstraints((norm_m, sig_m))


@functools.cache
def _deterministic_strategies(outcomes: tuple[int, ...], settings: tuple[int, ...]):
    per_party = [list(itertools.product(range(d), repeat=m)) for d, m in zip(outcomes, settings)]
    return list(itertools.product(*per_party))


@functools.cache
def _deterministic_points(outcomes: tuple[int, ...], settings: tuple[int, ...]) -> np.ndarray:
    n = len(outcomes)
    strategies = _deterministic_strategies(outcomes, settings)
    points = np.zeros((len(strategies),) + tuple(outcomes) + tuple(settings))
    # For each party, an indicator [a_i = f_i(x_i)] of shape (d_i, m_i); the point is their outer product.
    for k, strategy in enumerate(strategies):
        factors = []
        for f, d, m in zip(strategy, outcomes, settings):
            ind = np.zeros((d, m))
            ind[list(f), list(range(m))] = 1.0
            factors.append(ind)
        point = factors[0]
        for fac in factors[1:]:
            point = np.multiply.outer(point, fac)
        # outer products interleave (a0, x0, a1, x1, ...); move outcomes first.
        order = [2 * i for i in range(n)] + [2 * i + 1 for i in range(n)]
        points[k] = np.transpose(point, order)
    points.setflags(write=False)
    return points


@dataclass(frozen=True)
class BellScenario(Scenario):
    """Bipartite Bell scenario: A has ``settings[0]`` settings with ``outcomes[0]`` outcomes, B likewise.

    Behaviour shape ``(dA, dB, mA, mB)``.
    """

    outcomes: tuple[int, int] = (2, 2)
    settings: tuple[int, int] = (2, 2)

    def __post_init__(self):
        outcomes = tuple(int(d) for d in self.outcomes)
        settings = tuple(int(m) for m in self.settings)
        if len(outcomes) != 2 or len(settings) != 2:
            raise ValueError(f"a Bell scenario has two parties; got outcomes={outcomes}, settings={settings}")
        if min(outcomes) < 2 or min(settings) < 1:
            raise ValueError(f"need >= 2 outcomes and >= 1 setting per party; got {outcomes}, {settings}")
        object.__setattr__(self, "outcomes", outcomes)
        object.__setattr__(self, "settings", settings)

    @classmethod
    def binary(cls, m: int) -> "BellScenario":
        """Two outcomes and ``m`` settings for each party."""
        return cls((2, 2), (m, m))

    def to_json(self) -> dict[str, Any]:
        return {"kind": "bell", "outcomes": list(self.outcomes), "settings": list(self.settings)}

    def __str__(self) -> str:
        (da, db), (ma, mb) = self.outcomes, self.settings
        return f"bell(mA={ma}, mB={mb}, dA={da}, dB={db})"


@dataclass(frozen=True)
class BilocalScenario(Scenario):
    """Entanglement-swapping (bilocal) network A - B - C with sources (A,B) and (B,C).

    ``variant="binary"``: B has a setting y in {0,1} and a binary outcome; shape (2,2,2,2,2,2).
    ``variant="bsm"``: B makes one 4-outcome Bell-state measurement b = 2*b0 + b1 and has no setting
    (size-1 y axis); shape (2,4,2,2,1,2).
    """

    variant: Literal["binary", "bsm"] = "binary"

    def __post_init__(self):
        if self.variant not in BILOCAL_VARIANTS:
            raise ValueError(f"unknown bilocal variant {self.variant!r}; expected 'binary' or 'bsm'")

    @property
    def outcomes(self) -> tuple[int, int, int]:  # type: ignore[override]
        return (2, 2, 2) if self.variant == "binary" else (2, 4, 2)

    @property
    def settings(self) -> tuple[int, int, int]:  # type: ignore[override]
        return (2, 2, 2) if self.variant == "binary" else (2, 1, 2)

    def to_json(self) -> dict[str, Any]:
        return {"kind": "bilocal", "variant": self.variant}

    def __str__(self) -> str:
        return f"bilocal({self.variant})"


def _int_pair(obj: dict[str, Any], key: str, default=None) -> tuple[int, int]:
    """A JSON list of two integers (no strings, floats or booleans: lax input is refused, not coerced)."""
    v = obj.get(key, default)
    if v is None:
        raise ValueError(f"bell scenario needs {key!r}: a list of two integers, e.g. [2, 2]")
    if not (isinstance(v, (list, tuple)) and len(v) == 2 and all(type(x) is int for x in v)):
        raise ValueError(f"bell scenario {key!r} must be a list of two integers, e.g. [2, 2]; got {v!r}")
    return int(v[0]), int(v[1])


def scenario_from_json(obj: dict[str, Any]) -> Scenario:
    """Inverse of ``Scenario.to_json``. Raises ``ValueError`` on an unknown or malformed description.

    Strict: ``{"kind": "bell", "outcomes": [dA, dB], "settings": [mA, mB]}`` (integers; ``outcomes`` defaults
    to [2, 2]), ``{"kind": "bilocal", "variant": "binary" | "bsm"}`` or ``{"kind": "network", "parties": ...,
    "sources": ...}`` (``bellcore.network_from_json``, docs/networks.md); unknown fields are refused.
    """
    if not isinstance(obj, dict) or "kind" not in obj:
        raise ValueError(f"scenario must be an object with a 'kind' field; got {str(obj)[:80]}")
    kind = obj["kind"]
    if kind == "network":
        from ._netspec import network_from_json  # _netspec builds on this module

        return network_from_json(obj)
    allowed = {"bell": {"kind", "outcomes", "settings"}, "bilocal": {"kind", "variant"}}
    if kind not in allowed:
        raise ValueError(f"unknown scenario kind {str(kind)[:40]!r}; expected 'bell', 'bilocal' or 'network'")
    extra = sorted(set(obj) - allowed[kind])
    if extra:
        raise ValueError(f"{kind} scenario: unknown field(s) {', '.join(map(repr, extra))}")
    if kind == "bell":
        return BellScenario(_int_pair(obj, "outcomes", [2, 2]), _int_pair(obj, "settings"))
    variant = obj.get("variant", "binary")
    if not isinstance(variant, str):
        raise ValueError(f"bilocal scenario 'variant' must be 'binary' or 'bsm'; got {variant!r}")
    return BilocalScenario(variant)


#: Largest number of local deterministic points certify enumerates (``Scenario.check_enumerable``).
MAX_DETERMINISTIC = 2**16

#: Bilocal behaviour shape -> variant: the one map from an array's shape to the bilocal variant.
BILOCAL_SHAPES = {BilocalScenario("binary").shape: "binary", BilocalScenario("bsm").shape: "bsm"}


def infer_scenario(shape: tuple[int, ...]) -> tuple[Scenario, tuple[int, ...]]:
    """Guess the scenario of a bare array from its shape; returns ``(scenario, batch_shape)``.

    Rules (the only ones; anything else needs an explicit scenario):
    4 axes ``(dA, dB, mA, mB)`` or 5 axes ``(N, dA, dB, mA, mB)`` -> bipartite Bell scenario;
    6 axes equal to a bilocal shape, or 7 axes ``(N, *bilocal shape)`` -> bilocal network.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) in (6, 7) and shape[-6:] in BILOCAL_SHAPES:
        return BilocalScenario(BILOCAL_SHAPES[shape[-6:]]), shape[:-6]
    if len(shape) in (4, 5):
        da, db, ma, mb = shape[-4:]
        if min(da, db) >= 2 and min(ma, mb) >= 1:
            return BellScenario((da, db), (ma, mb)), shape[:-4]
    raise ValueError(
        f"cannot infer a scenario from array shape {shape}: expected (dA,dB,mA,mB) or (N,dA,dB,mA,mB) for a Bell "
        f"scenario, {BilocalScenario('binary').shape} or {BilocalScenario('bsm').shape} (optionally with a leading "
        "batch axis) for the bilocal network"
    )
