"""Training an ensemble: each group of equal-shape members as one vectorised pytree, one optax state.

Per group: parameters with a member axis; ``optax.chain(clip_by_global_norm, adamw)`` with a warm-up + cosine
schedule, its state vmapped over members (so the clipping norm is each member's own, and members never share a
step size). Every member sees its own shuffling of the training split (its own minibatches) and its own random
relabellings (augmentation). An epoch is one ``lax.scan`` over minibatches. After each epoch the validation error
of every member is measured (regression: mean |error|; classification: error rate, cross-entropy breaking ties); each
member keeps its best parameters, and a group stops when no member improved for ``patience`` epochs.

Losses (regression, on ``y / y_scale``, ``y_scale`` = the 99.9th percentile of the training labels' |y|):
``"huber"`` (default) — ``optax.huber_loss`` with ``huber_delta`` (0.1 by default: quadratic for ordinary errors,
linear for the few large ones); ``"mse"``; ``"l1"`` — the mean absolute error of Table I itself, but it stalled in a first run: on uniform-NS
data most labels are exactly 0 (local points), so the L1 optimum of a weak model is "predict 0" (the median) and its
constant-size gradients keep it there (docs/surrogates.md). Classification: softmax cross-entropy.

Seeds: member ``j`` (counted over all groups) initialises from ``fold_in(PRNGKey(seed), j)``; the minibatch order of
group ``g`` at epoch ``e`` from ``numpy SeedSequence(seed, spawn_key=(1, g, e))``, its augmentation from
``fold_in(fold_in(PRNGKey(seed + 1), g), e)``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from certify import ZERO_TOL

from ._blend import CE_WEIGHT
from ._ensemble import Ensemble, group_apply
from ._members import GroupSpec

__all__ = ["TrainConfig", "TrainCurves", "train_ensemble", "LOSSES"]

LOSSES = ("huber", "l1", "mse")
Progress = Callable[[int, int, Mapping[str, float]], None]


#: Seeds are below this: training derives ``PRNGKey(seed + 1)``, which must fit a signed 64-bit integer.
MAX_SEED = 2**63 - 1
#: Most members one ensemble may have: ten is the paper's preset; a thousand already takes hours on a CPU, and a
#: count above it is a typo that would otherwise be allocated before anything is said.
MAX_MEMBERS = 1000


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one ensemble training (all of it goes into the model file as JSON).

    Attributes:
        groups: the member groups (``GroupSpec``).
        epochs: maximum epochs per group; patience: early-stopping patience (epochs without a member improving).
        batch_size: minibatch size; learning_rate: peak learning rate (after ``warmup_epochs``), cosine-decayed
            to ``learning_rate * final_lr_fraction`` at ``epochs``; weight_decay: AdamW's; clip_norm: gradient
            clipping (per member).
        loss: ``"l1"`` or ``"huber"`` (regression); huber_delta: in units of ``y_scale``.
        augment: random symmetry relabellings of every minibatch (where the feature set has them).
        blend_budget, blend_optimizer: the genetic-algorithm blend (see ``blend``).
        seed: master seed of everything random in training and blending.
        dtype: ``"float32"`` (default; GPU-friendly) or ``"float64"``.
    """

    groups: tuple[GroupSpec, ...] = (GroupSpec(),)
    epochs: int = 100
    patience: int = 15
    batch_size: int = 256
    learning_rate: float = 3e-3
    final_lr_fraction: float = 0.01
    warmup_epochs: int = 2
    weight_decay: float = 1e-5
    clip_norm: float = 1.0
    loss: str = "huber"
    huber_delta: float = 0.1
    augment: bool = True
    blend_budget: int = 600
    blend_optimizer: str = "TwoPointsDE"
    seed: int = 0
    dtype: str = "float32"

    def __post_init__(self):
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or not 0 <= self.seed < MAX_SEED:
            raise ValueError(f"seed must be a non-negative integer below 2**63 - 1; got {self.seed!r}")
        if sum(g.members for g in self.groups) > MAX_MEMBERS:
            raise ValueError(f"at most {MAX_MEMBERS} members; got {sum(g.members for g in self.groups)}")
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; expected one of {LOSSES}")
        if self.epochs < 1 or self.batch_size < 1 or self.patience < 1:
            raise ValueError("epochs, batch_size and patience must be >= 1")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be float32 or float64; got {self.dtype!r}")
        if not self.groups:
            raise ValueError("an ensemble needs at least one group")
        names = [g.name for g in self.groups]
        if len(set(names)) != len(names):
            raise ValueError(f"two member groups have the same shape ({names}); merge them into one group")

    @property
    def n_members(self) -> int:
        return sum(g.members for g in self.groups)

    def to_json(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "groups"}
        d["groups"] = [g.to_json() for g in self.groups]
        return d

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> "TrainConfig":
        d = dict(obj)
        d["groups"] = tuple(GroupSpec.from_json(g) for g in d.get("groups", []))
        return cls(**d)


@dataclass(frozen=True)
class TrainCurves:
    """Per group name: ``{"step": (T,), "train_loss": (T, M), "val_loss": (T, M), "val_mae": (T, M)}`` numpy arrays
    (``step`` = optimiser steps done at the end of each epoch; ``val_mae`` in target units for regression, the
    error rate for classification), plus the epoch each member's kept parameters come from (-1: a warm start's
    starting parameters, which no epoch beat) and, for a warm start, ``initial_val_mae`` per group: ``(M,)`` the
    starting parameters' validation error (the previous members measured on this fit's validation split)."""

    groups: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    best_epoch: dict[str, np.ndarray] = field(default_factory=dict)
    initial_val_mae: dict[str, np.ndarray] = field(default_factory=dict)


def check_warm_start(init: Ensemble, config: TrainConfig, d: int, task: str, dtype) -> None:
    """``ValueError`` with a one-line reason unless ``init`` can start a training of ``config`` on ``d`` features:
    the same groups in the same order (a dual group's collected piece count may differ), task, dimension and dtype."""
    if not isinstance(init, Ensemble):
        raise ValueError(f"init must be an Ensemble (the previous members); got {type(init).__name__}")
    if init.task != task:
        raise ValueError(f"cannot warm-start a {task} ensemble from a {init.task} one")
    if init.dim != d:
        raise ValueError(f"cannot warm-start on {d} features from members trained on {init.dim}")
    if init.x_mean.dtype != dtype:
        raise ValueError(f"cannot warm-start a {jnp.dtype(dtype).name} training from {init.x_mean.dtype} members")

    def same(a: GroupSpec, b: GroupSpec) -> bool:
        return a == b or (a.kind == b.kind == "dual" and a.members == b.members)

    if len(init.specs) != len(config.groups) or not all(same(a, b) for a, b in zip(init.specs, config.groups)):
        raise ValueError(f"cannot warm-start groups {[g.name for g in config.groups]} from members of groups "
                         f"{[g.name for g in init.specs]} (the member specs must be the same)")


def _member_losses(raw, y, task: str, loss: str, delta: float, floor: bool = False):
    """Per-member mean loss: raw ``(M, B, out)``, y ``(M, B)`` (scaled targets or int labels) -> ``(M,)``.

    ``floor``: the members' answer is ``max(0, f)``; rows labelled 0 see that, rows labelled > 0 see ``f`` (see
    ``GroupSpec.floor``)."""
    if task == "classification":
        return optax.softmax_cross_entropy_with_integer_labels(raw, y).mean(axis=-1)
    f = raw[..., 0]
    if floor:
        f = jnp.where(y > 0, f, jnp.maximum(f, 0.0))
    if loss == "huber":
        return optax.huber_loss(f, y, delta=delta).mean(axis=-1)
    if loss == "mse":
        return ((f - y) ** 2).mean(axis=-1)
    return jnp.abs(f - y).mean(axis=-1)


@functools.lru_cache(maxsize=64)
def _compiled(key: tuple, steps: int, lr_scale: float, task: str, augment, floor: bool):
    """The optimiser and jitted epoch function of a group, cached on the settings that shape them (``key``: the
    config's optimisation fields) so that fits with equal settings in one process (tests, ablations) compile once."""
    cfg = TrainConfig(**dict(key))
    opt = _optimizer(cfg, steps, lr_scale)
    return opt, _make_epoch(opt, task, cfg.loss, cfg.huber_delta, augment, floor)


_OPT_FIELDS = ("epochs", "learning_rate", "final_lr_fraction", "warmup_epochs", "weight_decay", "clip_norm", "loss",
               "huber_delta")


def _optimizer(cfg: TrainConfig, steps_per_epoch: int, lr_scale: float = 1.0):
    # one epoch of one step (a tiny dataset) still needs one decay step after the warm-up step (optax refuses 0)
    total = max(1, cfg.epochs * steps_per_epoch)
    warm = min(total - 1, cfg.warmup_epochs * steps_per_epoch)
    lr = cfg.learning_rate * lr_scale
    sched = optax.warmup_cosine_decay_schedule(
        init_value=lr * 0.1, peak_value=lr, warmup_steps=max(warm, 1), decay_steps=max(total, max(warm, 1) + 1),
        end_value=lr * cfg.final_lr_fraction,
    )
    return optax.chain(optax.clip_by_global_norm(cfg.clip_norm), optax.adamw(sched, weight_decay=cfg.weight_decay))


def _make_epoch(opt, task: str, loss: str, delta: float, augment, floor: bool):
    def total_loss(params, xb, yb):
        per = _member_losses(group_apply(params, xb), yb, task, loss, delta, floor)
        return per.sum(), per  # members' parameters are disjoint: the sum's gradient is each member's own

    @eqx.filter_jit
    def epoch(params, opt_state, x, y, idx, key, x_mean, x_std):
        # idx: (S, M, B) minibatch indices; key: this epoch's augmentation key
        def step(carry, inp):
            params, opt_state = carry
            ib, k = inp
            xb = x[ib]  # (M, B, d)
            if augment is not None:
                keys = jax.random.split(k, ib.size).reshape(ib.shape + (-1,))
                xb = jax.vmap(jax.vmap(augment))(keys, xb)
            xb = (xb - x_mean) / x_std
            (_, per), grads = eqx.filter_value_and_grad(total_loss, has_aux=True)(params, xb, y[ib])
            updates, opt_state = eqx.filter_vmap(opt.update)(grads, opt_state, params)
            return (eqx.apply_updates(params, updates), opt_state), per

        keys = jax.random.split(key, idx.shape[0])
        (params, opt_state), per = jax.lax.scan(step, (params, opt_state), (idx, keys))
        return params, opt_state, per.mean(axis=0)

    return epoch


def _val_metrics(params, xv, yv, x_mean, x_std, y_scale, task, loss, delta, floor):
    raw = group_apply(params, (xv - x_mean) / x_std)  # (M, N, out)
    if floor and task == "regression":
        raw = jnp.maximum(raw, 0.0)
    if task == "classification":
        ce = optax.softmax_cross_entropy_with_integer_labels(raw, yv[None]).mean(axis=-1)
        err = (raw.argmax(-1) != yv[None]).mean(axis=-1)
        # the criterion (error rate, cross-entropy as tie-break) is formed on the host in float64: see train_ensemble
        return err, ce, err
    ys = yv / y_scale
    per = _member_losses(raw, jnp.broadcast_to(ys, raw.shape[:2]), task, loss, delta)
    mae = jnp.abs(raw[..., 0] * y_scale - yv[None]).mean(axis=-1)
    return mae, per, mae  # early stopping on the validation mean |error| (the reported metric)


def _class_criterion(err, ce):
    """A classifier member's validation criterion (best-parameter keeping and early stopping): the error rate, with
    ``CE_WEIGHT`` x cross-entropy breaking ties (the blend's objective, ``blend_error``). Cross-entropy alone kept
    margins members at an early epoch while their accuracy still improved (docs/surrogates.md)."""
    return err + CE_WEIGHT * ce


_val_metrics_jit = eqx.filter_jit(_val_metrics, donate="none")


def _chunked_val(params, xv, yv, x_mean, x_std, y_scale, task, loss, delta, floor, chunk=65536):
    outs = []
    n = xv.shape[0]
    for s in range(0, n, chunk):
        outs.append((min(n, s + chunk) - s, _val_metrics_jit(params, xv[s : s + chunk], yv[s : s + chunk], x_mean, x_std, y_scale, task, loss, delta, floor)))
    tot = sum(w for w, _ in outs)
    return tuple(sum(w * o[i] for w, o in outs) / tot for i in range(3))


@eqx.filter_jit
def _keep_best(best, params, improved):
    """Per member: ``params`` where ``improved`` (M,), else ``best``."""
    return jax.tree.map(lambda b, p: jnp.where(improved.reshape((-1,) + (1,) * (p.ndim - 1)), p, b), best, params)


def train_ensemble(
    x_train,
    y_train,
    x_val,
    y_val,
    config: TrainConfig,
    *,
    task: str = "regression",
    augment: Callable | None = None,
    progress: Progress | None = None,
    init: Ensemble | None = None,
) -> tuple[Ensemble, TrainCurves]:
    """Train ``config.groups`` on ``(x_train (N, d), y_train (N,))``, early-stopping on ``(x_val, y_val)``.

    Args:
        y_*: regression targets (float) or class labels 0..2 (int) for ``task="classification"``.
        augment: ``f(key, x (d,)) -> x'`` applied to every training example of every minibatch (see
            ``augmentation``), or None.
        progress: ``progress(epochs_done, epochs_total, {"loss", "val_mae", "group"})`` after every epoch
            (``epochs_total`` = groups x max epochs; a group that stops early jumps ``epochs_done`` ahead).
        init: warm start (active learning's refit): the members start from ``init``'s parameters (same groups,
            task, dimension and dtype, else ``ValueError``), keep its input standardisation and ``y_scale`` (so the
            parameters mean what they meant), with a fresh optimiser state and the schedule of ``config`` (pass fewer
            ``epochs`` for a short refit). The starting parameters are measured on the validation split first and
            are kept for a member that no epoch beats (``best_epoch`` -1), so a refit is never worse there than the
            previous members. Dual-vertex groups are carried over as they are (``fit_surrogate`` collects them again).

    Returns the trained ``Ensemble`` (each member at its best validation epoch) and its ``TrainCurves``.
    """
    dtype = jnp.float32 if config.dtype == "float32" else jnp.float64
    if config.dtype == "float64" and not jax.config.jax_enable_x64:
        raise ValueError("dtype float64 needs jax_enable_x64")
    x_train = jnp.asarray(np.asarray(x_train), dtype)
    x_val = jnp.asarray(np.asarray(x_val), dtype)
    if task == "classification":
        y_train = jnp.asarray(np.asarray(y_train), jnp.int32)
        y_val = jnp.asarray(np.asarray(y_val), jnp.int32)
        y_scale = 1.0
    else:
        y_train = jnp.asarray(np.asarray(y_train), dtype)
        y_val = jnp.asarray(np.asarray(y_val), dtype)
        # a robust maximum, not the standard deviation: NL labels are mostly exactly 0 with a long tail (std ~ 1/60 of
        # the range at m = 2), and dividing by the std makes the slopes a member must learn ~50x larger
        y_scale = float(np.quantile(np.abs(np.asarray(y_train)), 0.999)) or float(np.abs(np.asarray(y_train)).max()) or 1.0
    n, d = x_train.shape
    if n < 2 or len(y_train) != n or x_val.shape[1:] != (d,) or len(y_val) != len(x_val) or len(x_val) < 1:
        raise ValueError(f"inconsistent training data: x {x_train.shape}, y {y_train.shape}, x_val {x_val.shape}, y_val {y_val.shape}")
    if init is not None:
        check_warm_start(init, config, d, task, dtype)
        ens = init
    else:
        x_mean = jnp.mean(x_train, axis=0)
        x_std = jnp.maximum(jnp.std(x_train, axis=0), 1e-6).astype(dtype)
        ens = Ensemble.init(config.groups, d, task, jax.random.PRNGKey(config.seed), x_mean, x_std, y_scale, dtype)
    if task == "classification":
        ys_train = y_train
    else:
        # certify's rule: a value at or below ZERO_TOL is 0 (local / bilocal). Certified labels of bilocal points are
        # ~1e-16, not 0 (an NBL interval's midpoint, an LP's round-off), and the floored members' censored loss keys
        # on ``y > 0``: without this it never saw a zero row on real NBL data (docs/surrogates.md, "censored").
        ys_train = jnp.where(jnp.abs(y_train) <= ZERO_TOL, 0.0, y_train).astype(dtype) / ens.y_scale

    batch = min(config.batch_size, n)
    steps = n // batch
    data_key = jax.random.PRNGKey(config.seed + 1)
    trained = [g for g, spec in enumerate(config.groups) if spec.kind != "dual"]
    total = len(trained) * config.epochs  # dual groups are collected, not trained: no epochs on the bar
    curves, best_epochs, initial, new_groups = {}, {}, {}, []
    for g, (spec, params) in enumerate(zip(config.groups, ens.groups)):
        if spec.kind == "dual":  # collected from certificates by the caller (fit_surrogate), not trained
            new_groups.append(params)
            continue
        M = spec.members
        floor = spec.floor and task == "regression"
        key = tuple((k, getattr(config, k)) for k in _OPT_FIELDS)
        opt, epoch_fn = _compiled(key, steps, spec.lr_scale, task, augment, floor)
        opt_state = eqx.filter_jit(eqx.filter_vmap(opt.init))(eqx.filter(params, eqx.is_inexact_array))
        best = params
        best_val = np.full(M, np.inf)
        best_ep = np.zeros(M, np.int64)
        if init is not None:  # the previous members are the first candidates
            crit, vl, vm = _chunked_val(params, x_val, y_val, ens.x_mean, ens.x_std, ens.y_scale, task, config.loss, config.huber_delta, floor)
            best_val = np.asarray(crit, np.float64)
            if task == "classification":
                best_val = _class_criterion(best_val, np.asarray(vl, np.float64))
            best_ep = np.full(M, -1, np.int64)
            initial[spec.name] = np.asarray(vm)
        rec = {"step": [], "train_loss": [], "val_loss": [], "val_mae": []}
        gkey = jax.random.fold_in(data_key, g)
        stale = 0
        for e in range(config.epochs):
            ak = jax.random.fold_in(gkey, e)
            # minibatch order on the host (numpy): no per-epoch device work or compilation for a permutation
            rng = np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(1, g, e)))
            perms = rng.random((M, n)).argsort(axis=1)[:, : steps * batch]  # (M, steps * batch)
            idx = jnp.asarray(perms.reshape(M, steps, batch).transpose(1, 0, 2), jnp.int32)
            params, opt_state, tl = epoch_fn(params, opt_state, x_train, ys_train, idx, ak, ens.x_mean, ens.x_std)
            crit, vl, vm = _chunked_val(params, x_val, y_val, ens.x_mean, ens.x_std, ens.y_scale, task, config.loss, config.huber_delta, floor)
            crit = np.asarray(crit, np.float64)
            if task == "classification":
                crit = _class_criterion(crit, np.asarray(vl, np.float64))
            improved = crit < best_val
            if improved.any():
                best = _keep_best(best, params, jnp.asarray(improved))
                best_val = np.where(improved, crit, best_val)
                best_ep = np.where(improved, e, best_ep)
                stale = 0
            else:
                stale += 1
            rec["step"].append((e + 1) * steps)
            rec["train_loss"].append(np.asarray(tl))
            rec["val_loss"].append(np.asarray(vl))
            rec["val_mae"].append(np.asarray(vm))
            if progress is not None:
                progress(trained.index(g) * config.epochs + e + 1, total,
                         {"group": float(g), "loss": float(np.mean(tl)), "val_mae": float(np.min(np.asarray(vm)))})
            if stale >= config.patience:
                break
        if progress is not None:
            progress((trained.index(g) + 1) * config.epochs, total, {"group": float(g), "loss": float(np.mean(tl)), "val_mae": float(np.min(best_val))})
        new_groups.append(best)
        curves[spec.name] = {k: np.asarray(v) for k, v in rec.items()}
        best_epochs[spec.name] = best_ep
    ens = eqx.tree_at(lambda t: t.groups, ens, tuple(new_groups))
    return ens, TrainCurves(curves, best_epochs, initial)
