"""``Surrogate``: a trained ensemble + its feature map + blend weights + scenario + target, callable on behaviours;
``fit_surrogate``: the whole pipeline (features -> split -> train -> blend).

``surrogate(p)`` is a pure JAX function of the behaviour array ``p[outcomes..., settings...]`` (batched over leading
axes), usable under ``jax.grad`` / ``jax.vmap`` / ``jax.jit``. It refuses arrays of another scenario with a
``ValueError`` naming both shapes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from bellcore import Scenario

from ._augment import augmentation
from ._blend import BlendResult, blend
from ._dual import DUAL_FEATURE_SETS, dual_pieces, pieces_on_features, prune_pieces
from ._ensemble import Ensemble, Prediction
from ._features import _is_binary_bell, canonical_behaviour, check_input, feature_map
from ._members import dual_group
from ._train import TrainConfig, TrainCurves, train_ensemble

__all__ = ["Surrogate", "FitResult", "fit_surrogate", "TARGETS", "split_indices"]

#: what a surrogate predicts: NL (regression), NBL (regression on the certified interval's midpoint), class (3 classes)
TARGETS = ("nl", "nbl", "class", "network")


class Surrogate(eqx.Module):
    """Ensemble + feature map + blend weights + scenario + target.

    Attributes:
        ensemble: the ``Ensemble``.
        weights: ``(K,)`` blend weights (non-negative, sum 1).
        feature_set: a key of ``FEATURE_SETS`` (static).
        scenario: the behaviours' ``Scenario`` (static).
        target: ``"nl"``, ``"nbl"``, ``"class"`` or ``"network"`` (static).
    """

    ensemble: Ensemble
    weights: jax.Array
    feature_set: str = eqx.field(static=True)
    scenario: Scenario = eqx.field(static=True)
    target: str = eqx.field(static=True)

    def features(self, p):
        """The feature map of ``p (*batch, *scenario.shape)``: ``(*batch, d)``."""
        return feature_map(self.feature_set)(p, self.scenario)

    def __call__(self, p) -> Prediction:
        """``Prediction`` for behaviours ``p (*batch, *scenario.shape)``: mean ``(*batch,)`` (``(*batch, 3)`` class
        probabilities for ``target="class"``), std (member spread) and every member's answer."""
        check_input(p, self.scenario)
        return self.ensemble.predict(self.features(p), self.weights)

    def latent(self, p) -> Prediction:
        """The blend of the members' unfloored outputs for behaviours ``p`` (regression; ``Ensemble.predict`` with
        ``latent=True``): equal to ``self(p)`` where no floored member is below 0, negative inside the zero set of the
        target (how far inside: a gradient for a search that starts there). ``ValueError`` for a classifier."""
        check_input(p, self.scenario)
        return self.ensemble.predict(self.features(p), self.weights, latent=True)

    def predict_features(self, x, latent: bool = False) -> Prediction:
        """``Prediction`` on precomputed features ``x (*batch, d)`` (``latent``: as ``Surrogate.latent``)."""
        x = jnp.asarray(x)
        if x.shape[-1:] != (self.ensemble.dim,):
            raise ValueError(f"this model takes {self.feature_set!r} features of length {self.ensemble.dim}; got shape {tuple(x.shape)}")
        return self.ensemble.predict(x, self.weights, latent=latent)

    @property
    def task(self) -> str:
        return self.ensemble.task


@dataclass(frozen=True)
class FitResult:
    """What ``fit_surrogate`` returns besides the model: curves, the blend's choice and the validation arrays.

    Attributes:
        surrogate: the trained ``Surrogate``.
        curves: ``TrainCurves``.
        blend: ``BlendResult`` (weights, method, validation errors of GA / average / best / typical member).
        val_index: indices of the validation rows in the input; y_val, members_val ``(K, N_val[, 3])``.
        train_median: median training label (the trivial predictor of Table I; NaN for classification).
    """

    surrogate: Surrogate
    curves: TrainCurves
    blend: BlendResult
    val_index: np.ndarray
    y_val: np.ndarray
    members_val: np.ndarray
    train_median: float


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random split of ``range(n)`` into (train, validation); at least one row in each."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1); got {val_fraction}")
    if n < 2:
        raise ValueError(f"need at least 2 labelled rows to split; got {n}")
    perm = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(7,))).permutation(n)
    k = min(n - 1, max(1, int(round(n * val_fraction))))
    return np.sort(perm[k:]), np.sort(perm[:k])


def fit_surrogate(
    behaviours,
    y,
    scenario: Scenario,
    *,
    feature_set: str,
    target: str,
    config: TrainConfig,
    val_fraction: float = 0.1,
    progress: Callable[[int, int, Mapping[str, float]], None] | None = None,
    feature_batch: int = 100_000,
    workers: int = 1,
    init: "Surrogate | None" = None,
) -> FitResult:
    """Features -> seeded train/validation split -> ``train_ensemble`` -> GA ``blend`` -> ``Surrogate``.

    Args:
        behaviours: ``(N, *scenario.shape)`` behaviour arrays (numpy); y: ``(N,)`` labels (float targets, or class
            codes 0..2 for ``target="class"``).
        workers: processes for certifying the training rows of a ``"dual"`` group (``certify.certify_many``).
        init: a previous ``Surrogate`` of the same feature set, target, scenario and member groups to warm-start
            from (``train_ensemble``'s ``init``: its members' parameters, standardisation and ``y_scale``); the
            blend is searched again. ``ValueError`` with a one-line reason if it does not match.
    """
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; expected one of {TARGETS}")
    fm = feature_map(feature_set)
    if not fm.applies(scenario):
        raise ValueError(f"feature set {feature_set!r} needs {fm.needs}; got {scenario}")
    behaviours = np.asarray(behaviours)
    check_input(behaviours, scenario)
    y = np.asarray(y)
    if len(y) != len(behaviours):
        raise ValueError(f"{len(behaviours)} behaviours but {len(y)} labels")
    if any(s.kind == "dual" for s in config.groups) and (
        target != "nl" or feature_set not in DUAL_FEATURE_SETS or not _is_binary_bell(scenario)
    ):  # checked before any training: the pieces are collected after it
        raise ValueError(
            f"dual-vertex members need the nl target on {' or '.join(map(repr, DUAL_FEATURE_SETS))} features of a "
            f"binary Bell scenario; got target {target!r}, features {feature_set!r}, {scenario}"
        )
    if init is not None:
        if not isinstance(init, Surrogate):
            raise ValueError(f"init must be a Surrogate (the previous model); got {type(init).__name__}")
        for what, old, new in (("feature set", init.feature_set, feature_set), ("target", init.target, target),
                               ("scenario", init.scenario, scenario)):
            if old != new:
                raise ValueError(f"cannot warm-start a model of {what} {new!s} from one of {what} {old!s}")
    dt = np.float32 if config.dtype == "float32" else np.float64
    x = np.concatenate([
        np.asarray(fm(jnp.asarray(behaviours[s : s + feature_batch], dt), scenario))
        for s in range(0, len(behaviours), feature_batch)
    ])
    task = "classification" if target == "class" else "regression"
    tr, va = split_indices(len(x), val_fraction, config.seed)
    aug = augmentation(feature_set, scenario) if config.augment else None
    ens, curves = train_ensemble(x[tr], y[tr], x[va], y[va], config, task=task, augment=aug, progress=progress,
                                 init=None if init is None else init.ensemble)
    if any(s.kind == "dual" for s in config.groups):
        ens = _collect_dual(ens, behaviours[tr], x[tr], y[tr], scenario, feature_set, target, workers, progress)
    members_val = np.asarray(ens.members_output(jnp.asarray(x[va], dt)))
    floor = members_val[list(ens.dual_members)].max(axis=0) if ens.dual_members else None
    res = blend(members_val, y[va], task=task, budget=config.blend_budget, seed=config.seed,
                optimizer=config.blend_optimizer, floor=floor)
    sur = Surrogate(ens, jnp.asarray(res.weights, dt), feature_set, scenario, target)
    med = float(np.median(y[tr])) if task == "regression" else float("nan")
    return FitResult(sur, curves, res, va, y[va], members_val, med)


def _collect_dual(ens, behaviours, x, y, scenario, feature_set, target, workers, progress):
    """Replace every ``"dual"`` group of ``ens`` by the dual functionals of the nonlocal training rows (at their
    canonical representatives on the ``"canonical"`` features), pruned to the group's ``pieces``."""
    from certify import ZERO_TOL

    rows = np.flatnonzero(np.asarray(y) > ZERO_TOL)
    beh = np.asarray(behaviours[rows], np.float64)
    if feature_set == "canonical":
        beh = canonical_behaviour(beh, scenario, np)
    pieces = dual_pieces(beh, scenario, workers=workers,
                         progress=None if progress is None else (lambda d, t, i: progress(d, t, {"certified": float(d)})))
    W, c = pieces_on_features(pieces, scenario)
    if len(c) == 0:  # no nonlocal training row: one piece that is never above 0 (still a valid lower bound)
        W, c = np.zeros((1, x.shape[1])), np.full(1, -1.0)
    groups, specs = list(ens.groups), list(ens.specs)
    for g, s in enumerate(specs):
        if s.kind == "dual":
            keep = prune_pieces(W, c, np.asarray(x, np.float64), s.pieces)
            groups[g] = dual_group(W[keep], c[keep], ens.x_mean, ens.x_std, ens.y_scale, ens.x_mean.dtype)
            specs[g] = replace(s, pieces=len(keep))
    return Ensemble(tuple(groups), ens.x_mean, ens.x_std, ens.y_scale, tuple(specs), ens.task)
