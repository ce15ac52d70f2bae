"""Model run files on disk: write a ``Surrogate`` into one (``save_model``), read one back (``read_model``).

Layout: the "Model runs" section of ``runs/files/_layout.py``. What the hyperparameters JSON holds and how a
surrogate is rebuilt from it and its arrays is the library's (``surrogates/_model_file.py``:
``model_hyperparameters``, ``group_bytes``, ``skeleton_from_hyperparameters``, ``surrogate_from_arrays``); this
module only puts those into HDF5 and takes them out again, treating the file as untrusted input (links refused,
sizes checked before anything is read). No pickle: member parameters are ``eqx.tree_serialise_leaves`` bytes, one
data set per member group.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from runs.files import _layout as L
from runs.files import _store

__all__ = ["save_model", "read_model", "load_model", "ModelFile", "remove_incomplete_model", "SEED_DERIVATION_MODEL"]

SEED_DERIVATION_MODEL = (
    "member j (over all groups) initialises from jax.random.fold_in(PRNGKey(master), j); minibatches and "
    "augmentation of group g, epoch e from fold_in(fold_in(PRNGKey(master + 1), g), e); validation split from "
    "numpy SeedSequence(master, spawn_key=(7,)); the GA blend from numpy RandomState(master)"
)


@dataclass(frozen=True)
class ModelFile:
    """Everything in a model file: the ``Surrogate`` plus its record.

    Attributes:
        surrogate: the model.
        hyperparameters: the JSON object stored in ``/model`` (training config, groups, task, blend, ...).
        dataset_hash: config hash of the training dataset.
        train_median: the median training label (the trivial predictor of Table I; NaN for classification).
        curves: ``{group: {field: array}}`` training curves.
        summary: the root summary JSON.
    """

    surrogate: Any
    hyperparameters: dict
    dataset_hash: str
    train_median: float
    curves: dict
    summary: dict


def save_model(
    path: str | os.PathLike,
    surrogate,
    *,
    train_config: Mapping[str, Any],
    dataset_hash: str,
    curves=None,
    evaluation: Mapping[str, np.ndarray] | None = None,
    extra: Mapping[str, Any] | None = None,
    argv: list[str] | None = None,
    train_seconds: float = 0.0,
) -> Path:
    """Write ``surrogate`` to a new model run file ``path`` (mode "w-": ``FileExistsError`` if it exists).

    Args:
        train_config: the training configuration (``TrainConfig.to_json()``), stored in the hyperparameters JSON.
        dataset_hash: config hash of the training dataset (provenance).
        curves: a ``surrogates.TrainCurves`` (or None).
        evaluation: ``{"y_true", "y_pred", "y_std"}`` arrays on the validation split (or None).
        extra: more JSON-able entries for the hyperparameters (e.g. the blend's choice, the trivial predictor).
        train_seconds: wall time of the training that made ``surrogate``; the root ``wall_seconds`` is that plus the
            time spent writing the file.
    """
    from surrogates import group_bytes, model_hyperparameters

    ens = surrogate.ensemble
    hyper = model_hyperparameters(surrogate, train_config, extra)
    hyper_json = json.dumps(hyper, sort_keys=True, default=_store._json_default)
    seed = int(train_config.get("seed", 0))
    scen_json = json.dumps(surrogate.scenario.to_json())
    f = _store.create_run(
        path, L.KIND_MODEL, hyper_json, hashlib.sha256(hyper_json.encode()).hexdigest(), seed, SEED_DERIVATION_MODEL,
        scen_json, argv,
    )
    try:
        g = f.create_group(L.MODEL)
        g.attrs[L.MODEL_HYPERPARAMETERS] = hyper_json
        g.attrs[L.MODEL_FEATURE_SET] = surrogate.feature_set
        g.attrs[L.MODEL_TARGET] = surrogate.target
        g.attrs[L.MODEL_SCENARIO] = scen_json
        g.attrs[L.MODEL_DATASET_HASH] = dataset_hash
        mg = g.create_group(L.MODEL_MEMBERS)
        for spec, grp in zip(ens.specs, ens.groups):
            mg.create_dataset(spec.name, data=group_bytes(grp))
        g.create_dataset(L.MODEL_BLEND_WEIGHTS, data=np.asarray(surrogate.weights))
        g.create_dataset(L.MODEL_X_MEAN, data=np.asarray(ens.x_mean))
        g.create_dataset(L.MODEL_X_STD, data=np.asarray(ens.x_std))
        g.create_dataset(L.MODEL_Y_SCALE, data=np.asarray(ens.y_scale))
        if curves is not None:
            tg = f.create_group(L.TRAINING)
            for name, rec in curves.groups.items():
                gg = tg.create_group(name)
                for k in L.TRAINING_FIELDS:
                    gg.create_dataset(k, data=np.asarray(rec[k]))
                gg.create_dataset(L.TRAINING_BEST_EPOCH, data=np.asarray(curves.best_epoch[name]))
        if evaluation is not None:
            eg = f.create_group(L.EVALUATION)
            for k in L.EVALUATION_FIELDS:
                eg.create_dataset(k, data=np.asarray(evaluation[k]))
        summary = _summary(surrogate, hyper)
        _store.set_status(f, L.STATUS_COMPLETE, summary)
        if train_seconds:  # the file is written after training: add the time that went before it
            f.attrs[L.WALL_SECONDS] = float(f.attrs[L.WALL_SECONDS]) + float(train_seconds)
    except BaseException:
        f.close()
        Path(path).unlink(missing_ok=True)  # a half-written model is useless (training is not resumable): no file
        raise
    f.close()
    return Path(path)


def _summary(surrogate, hyper: dict) -> dict:
    blend = hyper.get("blend", {})
    errs = blend.get("errors", {})
    metric = "val |err|" if surrogate.ensemble.task == "regression" else "val error rate"
    head = (
        f"{surrogate.target} model, {surrogate.ensemble.n_members} members on {surrogate.feature_set!r} features of "
        f"{surrogate.scenario}; blend={blend.get('method', '?')}"
    )
    if "ga" in errs or blend.get("method") in errs:
        best = min(errs.get(k, math.inf) for k in ("ga", "average", "best_member"))
        head += f", {metric} {best:.3g}"
    return {L.HEADLINE: head, "target": surrogate.target, "feature_set": surrogate.feature_set,
            "members": surrogate.ensemble.n_members, "blend": blend}


def read_model(path: str | os.PathLike) -> ModelFile:
    """Read a model run file; ``ValueError`` with a one-line reason for anything that is not a whole, valid one.

    Defensive by construction (the file is untrusted input): links are refused; the hyperparameters must parse
    (``surrogates.skeleton_from_hyperparameters``); the member skeleton's size is computed without allocating it and
    must match the stored bytes; every array is checked for shape and dtype before it is read, and
    ``surrogates.surrogate_from_arrays`` checks that every number the model holds is finite, so a model never
    answers NaN.
    """
    from runs.files._readonly import open_readonly

    path = Path(path)
    with open_readonly(path) as (f, _):  # the one read-only opener: regular files only, a writer's lock tolerated
        kind = _store._text(f.attrs.get(L.KIND))
        if kind != L.KIND_MODEL:
            raise ValueError(f"{path} is not a model run file (kind={kind!r}); train one with bellscope train")
        status = _store._text(f.attrs.get(L.STATUS))
        if status != L.STATUS_COMPLETE or L.MODEL not in f:
            raise ValueError(f"{path} is an incomplete model file (status {status!r})")
        try:
            return _read_model(f, path)
        except ValueError as e:
            msg = str(e).splitlines()[0] if str(e) else "damaged"
            raise ValueError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None
        except (KeyError, TypeError, AttributeError, OverflowError, RecursionError, OSError, IndexError) as e:
            raise ValueError(f"{path}: damaged model file ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
                             ) from None


def _read_model(f, path: Path) -> ModelFile:
    import h5py

    from bellcore import scenario_from_json
    from surrogates import skeleton_from_hyperparameters, surrogate_from_arrays

    from runs.files._readonly import hard_link

    g = hard_link(f, path, f"/{L.MODEL}", h5py.Group)
    hyper = json.loads(_store._text(g.attrs[L.MODEL_HYPERPARAMETERS]))
    skeleton = skeleton_from_hyperparameters(hyper)
    members = hard_link(f, path, f"/{L.MODEL}/{L.MODEL_MEMBERS}", h5py.Group)
    stored = {}
    for s in skeleton.specs:
        ds = hard_link(f, path, f"/{L.MODEL}/{L.MODEL_MEMBERS}/{s.name}", h5py.Dataset)
        if ds.ndim != 1 or ds.dtype != np.uint8 or ds.shape[0] > path.stat().st_size:
            raise ValueError(f"member group {s.name!r} is not the bytes of a member group ({ds.shape}, {ds.dtype})")
        stored[s.name] = ds
    extra = sorted(set(members) - set(stored))
    if extra:
        raise ValueError(f"member groups {extra} are not in its hyperparameters")
    need, have = skeleton.parameter_bytes(), sum(int(ds.shape[0]) for ds in stored.values())
    if need > have:  # forged widths or piece counts are refused before anything is allocated
        raise ValueError(f"its hyperparameters describe {need:,} bytes of member parameters; it stores {have:,}")
    d, k = skeleton.dim, skeleton.n_members
    sur = surrogate_from_arrays(
        skeleton,
        {name: bytes(ds[()]) for name, ds in stored.items()},
        x_mean=_array(f, path, L.MODEL_X_MEAN, (d,)),
        x_std=_array(f, path, L.MODEL_X_STD, (d,)),
        y_scale=_array(f, path, L.MODEL_Y_SCALE, ()),
        weights=_array(f, path, L.MODEL_BLEND_WEIGHTS, (k,)),
        feature_set=_store._text(g.attrs[L.MODEL_FEATURE_SET]),
        scenario=scenario_from_json(json.loads(_store._text(g.attrs[L.MODEL_SCENARIO]))),
        target=_store._text(g.attrs[L.MODEL_TARGET]),
    )
    curves = {}
    if f.get(L.TRAINING, getlink=True) is not None:
        hard_link(f, path, f"/{L.TRAINING}", h5py.Group)
        for name in f[L.TRAINING]:
            gg = hard_link(f, path, f"/{L.TRAINING}/{name}", h5py.Group)
            curves[name] = {k: hard_link(f, path, f"/{L.TRAINING}/{name}/{k}", h5py.Dataset)[()] for k in gg}
    summary = json.loads(_store._text(f.attrs.get(L.SUMMARY)) or "{}")
    return ModelFile(sur, hyper, str(_store._text(g.attrs[L.MODEL_DATASET_HASH])),
                     float(hyper.get("train_median", math.nan)), curves, summary if isinstance(summary, dict) else {})


def _array(f, path: Path, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """``/model/NAME`` as float64, after checking (before reading it) that it is a hard-linked float data set of
    ``shape``; its values are checked by ``surrogates.surrogate_from_arrays``."""
    import h5py

    from runs.files._readonly import hard_link

    ds = hard_link(f, path, f"/{L.MODEL}/{name}", h5py.Dataset)
    if ds.shape != shape or ds.dtype.kind != "f":
        raise ValueError(f"/{L.MODEL}/{name} has shape {ds.shape} and dtype {ds.dtype}; expected floats of shape {shape}")
    return np.asarray(ds[()], np.float64)


def load_model(path: str | os.PathLike):
    """The ``surrogates.Surrogate`` stored in a model run file (see ``read_model`` for the rest of the record)."""
    return read_model(path).surrogate


def remove_incomplete_model(path: Path) -> bool:
    """Delete ``path`` unless it is a complete model file (it was being written by this process; training is not
    resumable, so a partial file has no use). Returns whether a complete model is there."""
    import h5py

    if not path.exists():
        return False
    try:
        with h5py.File(path, "r", locking=False) as f:
            if f.attrs.get(L.KIND) == L.KIND_MODEL and f.attrs.get(L.STATUS) == L.STATUS_COMPLETE:
                return True
    except (OSError, KeyError):
        pass
    path.unlink(missing_ok=True)
    return False
