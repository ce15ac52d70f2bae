"""Explicit bilocal models and the solver-free check of an NBL upper bound."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bellcore import BILOCAL_SHAPES, Behaviour, BilocalScenario, as_behaviour, default_tolerance

__all__ = ["BilocalModel", "check_bilocal_model", "as_bilocal_behaviour"]

# [strategy, outcome, setting] = 1 if the deterministic strategy (index 2 s(0) + s(1)) answers outcome at setting
_SEL = np.zeros((4, 2, 2))
for _s in range(4):
    for _x in range(2):
        _SEL[_s, (_s >> (1 - _x)) & 1, _x] = 1.0

#: Tolerance of the model's own validity checks (probabilities).
MODEL_ATOL = 1e-9


@dataclass(frozen=True, eq=False)
class BilocalModel:
    """A bilocal model of the network A - B - C.

    ``p(a,b,c|x,y,z) = sum_{alpha,gamma} q1[alpha] q2[gamma] [a = alpha(x)] response[alpha,gamma,b,y] [c = gamma(z)]``

    Attributes:
        q1: (4,) distribution of source 1 over A's deterministic strategies alpha = (alpha(0), alpha(1)),
            index ``2*alpha(0) + alpha(1)``.
        q2: (4,) distribution of source 2 over C's deterministic strategies, same indexing.
        response: B's response table ``response[alpha, gamma, b, y] = P(b | y, alpha, gamma)``, shape
            (4, 4, 2, 2) (binary variant) or (4, 4, 4, 1) (bsm variant); sums to 1 over b.
        variant: "binary" or "bsm".
    """

    q1: np.ndarray
    q2: np.ndarray
    response: np.ndarray
    variant: str = "binary"

    @property
    def scenario(self) -> BilocalScenario:
        return BilocalScenario(self.variant)

    def validate(self, atol: float = MODEL_ATOL) -> "BilocalModel":
        """Raise ``ValueError`` unless q1, q2 are distributions and the response is a conditional distribution."""
        nb, mb = (2, 2) if self.variant == "binary" else (4, 1)
        q1, q2, R = (np.asarray(v, dtype=np.float64) for v in (self.q1, self.q2, self.response))
        if q1.shape != (4,) or q2.shape != (4,) or R.shape != (4, 4, nb, mb):
            raise ValueError(
                f"bilocal model ({self.variant}) needs q1, q2 of shape (4,) and response of shape (4, 4, {nb}, {mb}); "
                f"got {q1.shape}, {q2.shape}, {R.shape}"
            )
        for name, v in (("q1", q1), ("q2", q2), ("response", R)):
            if not np.all(np.isfinite(v)) or v.min() < -atol:
                raise ValueError(f"bilocal model: {name} has a negative or non-finite entry ({np.nanmin(v):.3g})")
        for name, err in (("q1", abs(q1.sum() - 1)), ("q2", abs(q2.sum() - 1)), ("response", np.abs(R.sum(axis=2) - 1).max())):
            if err > atol:
                raise ValueError(f"bilocal model: {name} is not normalised (off by {err:.3g})")
        return self

    def probabilities(self) -> np.ndarray:
        """The model's behaviour as an array of the scenario's shape (numpy, float64)."""
        q1, q2, R = (np.asarray(v, dtype=np.float64) for v in (self.q1, self.q2, self.response))
        return np.einsum("A,C,Aax,Ccz,ACby->abcxyz", q1, q2, _SEL, _SEL, R)

    def behaviour(self) -> Behaviour:
        return Behaviour(self.probabilities(), self.scenario)

    def to_json(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "strategies": "index 2*s(0) + s(1) of the deterministic strategy s: setting -> outcome",
            "q1": np.asarray(self.q1).tolist(),
            "q2": np.asarray(self.q2).tolist(),
            "response": np.asarray(self.response).tolist(),
            "response_axes": ["alpha", "gamma", "b", "y"],
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "BilocalModel":
        try:
            return cls(
                np.asarray(obj["q1"], dtype=np.float64),
                np.asarray(obj["q2"], dtype=np.float64),
                np.asarray(obj["response"], dtype=np.float64),
                str(obj.get("variant", "binary")),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"malformed bilocal model: {e}") from None

    @classmethod
    def from_weights(cls, q1, q2, t, variant: str) -> "BilocalModel":
        """From LP weights ``t[alpha, gamma, b, y] ~ q1[alpha] q2[gamma] P(b|y,alpha,gamma)`` (renormalised exactly)."""
        q1 = _dist(q1)
        q2 = _dist(q2)
        t = np.clip(np.asarray(t, dtype=np.float64), 0.0, None)
        s = t.sum(axis=2, keepdims=True)
        nb = t.shape[2]
        R = np.where(s > 1e-14, t / np.where(s > 1e-14, s, 1.0), 1.0 / nb)
        return cls(q1, q2, R, variant)


def _dist(v) -> np.ndarray:
    v = np.clip(np.asarray(v, dtype=np.float64), 0.0, None)
    return v / v.sum()


def as_bilocal_behaviour(p, validate: bool = True) -> Behaviour:
    """A single validated float64 bilocal ``Behaviour`` from a ``Behaviour`` or an array (shape selects the variant,
    ``bellcore.BILOCAL_SHAPES``).

    Validation tolerance: 1e-7, or the input dtype's if larger (``bellcore.default_tolerance``: 1e-5 for float32).
    """
    scenario = p.scenario if isinstance(p, Behaviour) else None
    if scenario is None:
        shape = tuple(np.shape(p))
        if shape not in BILOCAL_SHAPES:
            raise ValueError(
                "a bilocal behaviour has shape "
                + " or ".join(f"{s} ({v} variant)" for s, v in BILOCAL_SHAPES.items())
                + f"; got {shape}"
            )
        scenario = BilocalScenario(BILOCAL_SHAPES[shape])
    if not isinstance(scenario, BilocalScenario):
        raise ValueError(f"expected a bilocal behaviour; got scenario {scenario}")
    beh = as_behaviour(p, scenario, validate=False, batch=False)
    if validate:
        dtype = np.asarray(p.p if isinstance(p, Behaviour) else p).dtype
        beh.validate(atol=max(1e-7, default_tolerance(dtype)))  # >= 1e-7: network behaviours computed in float32 upstream often arrive cast to float64
    return beh


def check_bilocal_model(p, model: BilocalModel, validate: bool = True) -> float:
    """Solver-free: validate the model, rebuild its behaviour and return its normalised L1 distance to ``p``
    (``p`` validated too unless ``validate=False``: for a behaviour validated already at its own precision)."""
    beh = as_bilocal_behaviour(p, validate)
    if model.variant != beh.scenario.variant:
        raise ValueError(f"model variant {model.variant!r} does not match the behaviour's {beh.scenario.variant!r}")
    model.validate()
    return float(beh.scenario.normalisation * np.abs(beh.numpy() - model.probabilities()).sum())
