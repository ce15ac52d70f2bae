"""Blending the members by a genetic algorithm (nevergrad) on the validation split.

Choice (documented in docs/surrogates.md): **weights on the simplex**. The GA searches ``v in [0, 1]^K`` and the
blend is ``w = v / sum(v)``; a member the GA drives to 0 is de-selected, so selection and weighting are one search.
The default optimiser is ``TwoPointsDE`` (differential evolution with two-point crossover: a genetic algorithm over
real vectors); ``DE``, ``CMA`` and ``DiscreteOnePlusOne`` are offered too. Not offered: ``NGOpt`` (fails under
numpy 2.4) and ``OnePlusOne`` (measured: the same seed gave different weights within one test session). The search starts from uniform weights (plain averaging).

Objective: the blend's mean |error| on the validation split (regression) or, for classification, its error rate
(1 - accuracy) plus ``CE_WEIGHT`` times its cross-entropy. Accuracy is what Table II scores; cross-entropy alone
prefers a smooth, well-calibrated member over a sharper one that classifies better (measured: it kept an MLP at
99.23 % over margins members at 99.66 %), and the small cross-entropy term only breaks ties between weightings that
misclassify the same points.
The result is never worse than the best single member or plain averaging on that split: the three candidates are
compared at the end and the best is kept (``BlendResult.method`` says which).

Budget and seed: exactly ``budget`` objective evaluations; the parametrisation's random state is seeded, so the same
seed gives the same weights. The optimiser is deleted (and garbage collected) after use: some nevergrad optimisers
keep a thread alive otherwise.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field

import numpy as np

__all__ = ["BlendResult", "blend", "blend_error", "BLEND_OPTIMIZERS", "CE_WEIGHT"]

BLEND_OPTIMIZERS = ("TwoPointsDE", "DE", "CMA", "DiscreteOnePlusOne")
#: Weight of the cross-entropy beside the error rate in a classifier's blend objective (a tie-breaker: one
#: misclassified point of a 10,000-point validation split is 1e-4, more than any cross-entropy difference times this).
CE_WEIGHT = 1e-6


@dataclass(frozen=True)
class BlendResult:
    """Blend weights and the validation errors behind the choice.

    Attributes:
        weights: ``(K,)`` non-negative, summing to 1.
        method: ``"ga"``, ``"average"`` or ``"best-member"`` (the candidate with the lowest validation error).
        errors: validation error of each candidate (``ga``, ``average``, ``best_member``) and ``typical_member``
            (the median member).
        member_errors: ``(K,)`` validation error of each member.
        evaluations: objective evaluations the GA used.
    """

    weights: np.ndarray
    method: str
    errors: dict[str, float] = field(default_factory=dict)
    member_errors: np.ndarray = field(default_factory=lambda: np.zeros(0))
    evaluations: int = 0


def blend_error(weights, members, y, task: str = "regression", floor=None) -> float:
    """Validation error of the blend ``sum_k w_k members[k]``: mean |error| (regression, members ``(K, N)``) or
    error rate + ``CE_WEIGHT`` x cross-entropy (classification, members ``(K, N, 3)`` probabilities, y int labels)."""
    w = np.asarray(weights, dtype=np.float64)
    m = np.asarray(members, dtype=np.float64)
    pred = np.tensordot(w, m, axes=1)
    if floor is not None:  # certified lower bounds (dual-vertex members): the answer is max(floor, blend)
        pred = np.maximum(pred, np.asarray(floor, np.float64))
    if task == "classification":
        y = np.asarray(y, int)
        p = np.clip(pred[np.arange(len(y)), y], 1e-12, None)
        return float((pred.argmax(-1) != y).mean() + CE_WEIGHT * -np.log(p).mean())
    return float(np.abs(pred - np.asarray(y, np.float64)).mean())


def blend(members, y, *, task: str = "regression", budget: int = 600, seed: int = 0,
          optimizer: str = "TwoPointsDE", floor=None) -> BlendResult:
    """Find blend weights for ``members`` (``(K, N)`` or ``(K, N, 3)`` validation outputs) against ``y (N,)``;
    ``floor (N,)``: certified lower bounds (regression), the blend is scored as ``max(floor, blend)``."""
    import nevergrad as ng

    if optimizer not in BLEND_OPTIMIZERS:
        raise ValueError(f"unknown blend optimizer {optimizer!r}; choose one of {', '.join(BLEND_OPTIMIZERS)}")
    if budget < 0:
        raise ValueError(f"budget must be >= 0; got {budget}")
    m = np.asarray(members, dtype=np.float64)
    K = m.shape[0]
    y = np.asarray(y)
    member_err = np.array([blend_error(np.eye(K)[k], m, y, task) for k in range(K)])  # each member alone
    uniform = np.full(K, 1.0 / K)
    # the best single member as the blend would use it (raised to ``floor`` where there is one: a member that is poor
    # alone may be the best partner of a certified lower bound)
    scored = member_err if floor is None else np.array([blend_error(np.eye(K)[k], m, y, task, floor) for k in range(K)])
    cands = {"average": uniform, "best-member": np.eye(K)[int(np.argmin(scored))]}
    evaluations = 0
    if budget > 0 and K > 1:
        param = ng.p.Array(init=np.full(K, 0.5), lower=0.0, upper=1.0)
        param.random_state = np.random.RandomState(seed)

        def to_w(v):
            v = np.clip(np.asarray(v, np.float64), 0.0, None)
            s = v.sum()
            return v / s if s > 0 else uniform

        def objective(v):
            nonlocal evaluations
            evaluations += 1
            return blend_error(to_w(v), m, y, task, floor)

        opt = ng.optimizers.registry[optimizer](parametrization=param, budget=int(budget), num_workers=1)
        try:
            rec = opt.minimize(objective)
            cands["ga"] = to_w(rec.value)
        finally:
            del opt
            gc.collect()
    errors = {k: blend_error(w, m, y, task, floor) for k, w in cands.items()}
    # ties resolve towards the simpler candidate: best single member, then plain average, then the GA's weights
    order = [k for k in ("best-member", "average", "ga") if k in errors]
    method = min(order, key=lambda k: (errors[k], order.index(k)))
    errors = {("best_member" if k == "best-member" else k): v for k, v in errors.items()}
    errors["typical_member"] = float(np.median(member_err))
    return BlendResult(cands[method], method, errors, member_err, evaluations)
