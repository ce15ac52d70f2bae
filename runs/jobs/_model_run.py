"""Model run files: train a surrogate from a dataset run file, save it, load it (no pickle), evaluate it.

Layout: the "Model runs" section of ``runs/files/_layout.py``. Parameters are ``eqx.tree_serialise_leaves`` bytes, one
data set per member group; to load, the skeleton ensemble is rebuilt from the hyperparameters JSON and the bytes are
read into it with ``eqx.tree_deserialise_leaves`` (shapes and dtypes checked by equinox).
"""

from __future__ import annotations

import io
import json
import math
import time
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from runs import _signals as signals
from runs.files import _layout as L
from runs.files import _store

__all__ = ["run_train", "save_model", "load_model", "read_model", "ModelFile", "training_data", "SEED_DERIVATION_MODEL"]

SEED_DERIVATION_MODEL = (
    "member j (over all groups) initialises from jax.random.fold_in(PRNGKey(master), j); minibatches and "
    "augmentation of group g, epoch e from fold_in(fold_in(PRNGKey(master + 1), g), e); validation split from "
    "numpy SeedSequence(master, spawn_key=(7,)); the GA blend from numpy RandomState(master)"
)

Progress = Callable[[int, int, Mapping[str, float]], None]

_DEFAULT_TARGET = {"bell": "nl", "bilocal": "nbl", "chsh-correlators": "class"}


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


def _ser(tree) -> np.ndarray:
    import equinox as eqx

    buf = io.BytesIO()
    eqx.tree_serialise_leaves(buf, tree)
    return np.frombuffer(buf.getvalue(), dtype=np.uint8)


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
    ens = surrogate.ensemble
    hyper = {
        "train_config": dict(train_config),
        "groups": [s.to_json() for s in ens.specs],
        "task": ens.task,
        "dim": ens.dim,
        "dtype": str(np.asarray(ens.x_mean).dtype),
        "n_members": ens.n_members,
        "member_names": ens.member_names(),
        **(dict(extra) if extra else {}),
    }
    hyper_json = json.dumps(hyper, sort_keys=True, default=_json_default)
    import hashlib

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
            mg.create_dataset(spec.name, data=_ser(grp))
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


def _json_default(x):
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    raise TypeError(f"not JSON serialisable: {type(x)}")


def read_model(path: str | os.PathLike) -> ModelFile:
    """Read a model run file; ``ValueError`` with a one-line reason for anything that is not a whole, valid one.

    Defensive by construction (the file is untrusted input): links are refused; the hyperparameters must parse;
    the member skeleton's size is computed without allocating it (``eqx.filter_eval_shape``) and must match the
    stored bytes; every array is checked for shape and dtype before it is read, and every number the model holds
    (member parameters, standardisation, scale, blend weights) must be finite, so a model never answers NaN.
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
    import equinox as eqx
    import h5py
    import jax
    import jax.numpy as jnp

    from bellcore import scenario_from_json
    from surrogates import TARGETS, Ensemble, Surrogate, feature_map
    from surrogates import specs_from_json
    from surrogates import MAX_MEMBERS

    from runs.files._readonly import hard_link

    g = hard_link(f, path, f"/{L.MODEL}", h5py.Group)
    hyper = json.loads(_store._text(g.attrs[L.MODEL_HYPERPARAMETERS]))
    if not isinstance(hyper, dict):
        raise ValueError("its hyperparameters are not a JSON object")
    specs = specs_from_json(hyper["groups"])
    if not specs:
        raise ValueError("its hyperparameters name no member group")
    n_members = sum(int(s.members) for s in specs)
    if not 1 <= n_members <= MAX_MEMBERS:
        raise ValueError(f"its hyperparameters declare {n_members} members (1..{MAX_MEMBERS} allowed)")
    if hyper.get("dtype") not in ("float32", "float64"):
        raise ValueError(f"dtype {hyper.get('dtype')!r} is neither float32 nor float64")
    dtype = {"float32": jnp.float32, "float64": jnp.float64}[hyper["dtype"]]
    if dtype == jnp.float64 and not jax.config.jax_enable_x64:
        raise ValueError("it holds a float64 model; enable jax_enable_x64 to load it")
    task = hyper.get("task")
    dim = hyper.get("dim")
    if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= 1 << 20:
        raise ValueError(f"feature dimension {dim!r} is not a positive integer")
    target = _store._text(g.attrs[L.MODEL_TARGET])
    if target not in TARGETS:
        raise ValueError(f"target {target!r} is not one of {', '.join(TARGETS)}")
    feature_set = _store._text(g.attrs[L.MODEL_FEATURE_SET])
    scenario = scenario_from_json(json.loads(_store._text(g.attrs[L.MODEL_SCENARIO])))
    fm = feature_map(feature_set)
    if not fm.applies(scenario):
        raise ValueError(f"feature set {feature_set!r} does not apply to {scenario}")
    members = hard_link(f, path, f"/{L.MODEL}/{L.MODEL_MEMBERS}", h5py.Group)
    raws = {}
    for s in specs:
        ds = hard_link(f, path, f"/{L.MODEL}/{L.MODEL_MEMBERS}/{s.name}", h5py.Dataset)
        if ds.ndim != 1 or ds.dtype != np.uint8 or ds.shape[0] > path.stat().st_size:
            raise ValueError(f"member group {s.name!r} is not the bytes of a member group ({ds.shape}, {ds.dtype})")
        raws[s.name] = ds
    extra = sorted(set(members) - set(raws))
    if extra:
        raise ValueError(f"member groups {extra} are not in its hyperparameters")
    # the skeleton's size, without allocating it: forged widths or piece counts are refused here
    shapes = eqx.filter_eval_shape(Ensemble.init, specs, dim, task, jax.random.PRNGKey(0), dtype=dtype)
    need = sum(int(np.prod(x.shape)) * x.dtype.itemsize for x in jax.tree_util.tree_leaves(shapes.groups))
    have = sum(int(ds.shape[0]) for ds in raws.values())
    if need > have:
        raise ValueError(f"its hyperparameters describe {need:,} bytes of member parameters; it stores {have:,}")
    skeleton = Ensemble.init(specs, dim, task, jax.random.PRNGKey(0), dtype=dtype)
    groups = []
    for spec, like in zip(specs, skeleton.groups):
        groups.append(_read_group(bytes(raws[spec.name][()]), spec, like, path))
    for spec, grp in zip(specs, groups):
        if not all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree_util.tree_leaves(eqx.filter(grp, eqx.is_array))):
            raise ValueError(f"member group {spec.name!r} holds NaN or infinite parameters")
    x_mean = _array(f, path, L.MODEL_X_MEAN, (dim,))
    x_std = _array(f, path, L.MODEL_X_STD, (dim,))
    y_scale = _array(f, path, L.MODEL_Y_SCALE, ())
    weights = _array(f, path, L.MODEL_BLEND_WEIGHTS, (n_members,))
    if not np.all(x_std > 0):
        raise ValueError(f"{L.MODEL_X_STD} has entries <= 0")
    if not y_scale > 0:
        raise ValueError(f"{L.MODEL_Y_SCALE} = {float(y_scale)} is not positive")
    if np.any(weights < 0) or not abs(float(weights.sum()) - 1) < 1e-3:
        raise ValueError("its blend weights are not non-negative with sum 1")
    ens = Ensemble(groups=tuple(groups), x_mean=jnp.asarray(x_mean, dtype), x_std=jnp.asarray(x_std, dtype),
                   y_scale=jnp.asarray(y_scale, dtype), specs=specs, task=task)
    sur = Surrogate(ens, jnp.asarray(weights, dtype), feature_set, scenario, target)
    curves = {}
    tr = f.get(L.TRAINING, getlink=True)
    if tr is not None:
        hard_link(f, path, f"/{L.TRAINING}", h5py.Group)
        for name in f[L.TRAINING]:
            gg = hard_link(f, path, f"/{L.TRAINING}/{name}", h5py.Group)
            curves[name] = {k: hard_link(f, path, f"/{L.TRAINING}/{name}/{k}", h5py.Dataset)[()] for k in gg}
    summary = json.loads(_store._text(f.attrs.get(L.SUMMARY)) or "{}")
    return ModelFile(sur, hyper, str(_store._text(g.attrs[L.MODEL_DATASET_HASH])),
                     float(hyper.get("train_median", math.nan)), curves, summary if isinstance(summary, dict) else {})


def _array(f, path: Path, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """``/model/NAME`` as float64, after checking it is a hard-linked float dataset of ``shape`` and finite."""
    import h5py

    from runs.files._readonly import hard_link

    ds = hard_link(f, path, f"/{L.MODEL}/{name}", h5py.Dataset)
    if ds.shape != shape or ds.dtype.kind != "f":
        raise ValueError(f"/{L.MODEL}/{name} has shape {ds.shape} and dtype {ds.dtype}; expected floats of shape {shape}")
    a = np.asarray(ds[()], np.float64)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"/{L.MODEL}/{name} holds NaN or infinite values")
    return a


def _read_group(raw: bytes, spec, like, path: Path):
    """One member group's parameters from its ``eqx.tree_serialise_leaves`` bytes into the skeleton ``like``.

    Margins groups written before margins members learned a logit scale hold ``(w, b)`` only: they are read with
    ``log_scale = 0`` (scale 1), the function they were trained as."""
    import equinox as eqx
    import jax.numpy as jnp

    try:
        return eqx.tree_deserialise_leaves(io.BytesIO(raw), like)
    except Exception as e:  # equinox raises several kinds (tree path, shape, dtype) for bytes that do not fit
        if spec.kind == "margins":
            try:
                w, b = eqx.tree_deserialise_leaves(io.BytesIO(raw), (like.w, like.b))
                return eqx.tree_at(lambda m: (m.w, m.b, m.log_scale), like, (w, b, jnp.zeros_like(like.log_scale)))
            except Exception:
                pass
        raise ValueError(f"{path}: member group {spec.name!r} does not fit its hyperparameters ({type(e).__name__}); "
                         "the file is damaged or was written by an incompatible bellscope") from None


def load_model(path: str | os.PathLike):
    """The ``surrogates.Surrogate`` stored in a model run file (see ``read_model`` for the rest of the record)."""
    return read_model(path).surrogate


# ------------------------------------------------------------------------------------------------ training data
def training_data(spec, data: Mapping[str, np.ndarray], target: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """``(behaviours, y, info)`` of the rows usable for ``target`` (``ValueError`` if the dataset lacks it).

    Which rows are usable is ``surrogates.usable_labels`` (the one rule, shared with active learning and the
    reproduction test sets). nl: y = NL. nbl: y = the certified interval's midpoint (``surrogates.nbl_target``).
    class: y = the class code.
    """
    from surrogates import STATUS_NAMES, nbl_target, usable_labels

    beh = np.asarray(data["behaviours"])
    status = None
    if target == "nl":
        if "nl" not in data:
            raise ValueError(f"the dataset has no NL labels (it is a {spec.kind!r} dataset with {list(spec.measures)})")
        status, y = np.asarray(data["nl_status"]), np.asarray(data["nl"], np.float64)
    elif target == "nbl":
        if "nbl_lower" not in data:
            raise ValueError(f"the dataset has no NBL labels (it is a {spec.kind!r} dataset with {list(spec.measures)})")
        status, y = np.asarray(data["nbl_status"]), nbl_target(data["nbl_lower"], data["nbl_upper"])
    elif target == "class":
        if "class" not in data:
            raise ValueError(f"the dataset has no class labels (it is a {spec.kind!r} dataset; use --scenario chsh-correlators)")
        y = np.asarray(data["class"]).astype(np.int64)
    else:
        raise ValueError(f"unknown target {target!r}; expected nl, nbl or class")
    ok = usable_labels(status, y, target, status_names=STATUS_NAMES)
    info = {"rows": int(len(beh)), "used": int(ok.sum()), "dropped": int((~ok).sum())}
    if ok.sum() < 10:
        raise ValueError(f"only {int(ok.sum())} of {len(beh)} rows have a usable {target} label; need at least 10")
    return beh[ok], y[ok], info


def default_feature_set(spec, target: str) -> str:
    if target == "class":
        return "correlators-asin"  # E and arcsin E: both class boundaries are hyperplanes there (docs/surrogates.md)
    if spec.kind == "bilocal":
        return {"features-ij": "ij", "features-abc": "abc"}.get(spec.sampler, "full")
    return "full"


def run_train(
    dataset: str | os.PathLike,
    out: str | os.PathLike,
    *,
    target: str | None = None,
    preset: str = "quick",
    members: int | None = None,
    seed: int = 0,
    feature_set: str | None = None,
    max_rows: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
    argv: list[str] | None = None,
    workers: int = 1,
    dual_pieces: int | None = None,
) -> Path:
    """Train a surrogate on a dataset run file and write it to a new model run file ``out``; return ``out``.

    Args:
        target: ``nl`` / ``nbl`` / ``class`` (default: the dataset's measure).
        preset: a ``surrogates.PRESETS`` name (``surrogates.preset_config``); members: total member count (rescales
            groups).
        feature_set: a ``surrogates.FEATURE_SETS`` name (default: ``full``; ``canonical`` for preset ``dual``;
            ``ij`` / ``abc`` for datasets sampled on those feature families; ``correlators-asin`` for the classifier).
        workers: processes certifying the training rows of a dual-vertex member (preset ``dual``).
        dual_pieces: most pieces the dual-vertex member keeps (preset ``dual``; ``surrogates.preset_config``).
        max_rows: use only the first ``max_rows`` rows of the dataset (learning curves).
        overrides: ``TrainConfig`` fields to change (e.g. ``{"augment": False}``).

    Raises ``FileExistsError`` (``out`` exists; checked before any training) and ``ValueError`` (bad dataset,
    target, feature set or parameters).
    """
    # One interrupt rule (runs/_signals.py): an interrupt swallowed inside JAX's gc callback is raised again at the
    # next epoch's progress tick, before the file is written, or when the block ends.
    with signals.catch_signals():
        return _run_train(dataset, out, target, preset, members, seed, feature_set, max_rows, overrides,
                          _checked(progress, signals.check), argv, workers, dual_pieces, signals.check)


def _checked(progress: Progress | None, check: Callable[[], None]) -> Progress:
    def cb(done, total, info):
        check()
        if progress is not None:
            progress(done, total, info)

    return cb


def _run_train(dataset, out, target, preset, members, seed, feature_set, max_rows, overrides, progress, argv, workers,
               dual_pieces, check_interrupt) -> Path:
    import surrogates as S

    from runs.jobs._dataset_run import read_dataset

    out = Path(out)
    if out.exists() or out.is_symlink():  # training is not resumable: no --resume to suggest
        raise FileExistsError(f"{out} already exists; choose another --out")
    out = _store.check_out_path(out)  # a directory, a missing folder: refused before any work
    if max_rows is not None and max_rows < 10:
        raise ValueError(f"max_rows must be >= 10; got {max_rows}")
    started = time.monotonic()
    spec, data, _ = read_dataset(_existing(dataset), require_complete=True)
    target = target or _DEFAULT_TARGET[spec.kind]
    if target not in S.TARGETS:
        raise ValueError(f"unknown target {target!r}; expected one of {', '.join(S.TARGETS)}")
    # every option that can be checked without the data is checked before anything is trained
    cfg = S.preset_config(preset, target, members=members, seed=seed, dual_pieces=dual_pieces, **dict(overrides or {}))
    if max_rows is not None:
        data = {k: v[:max_rows] for k, v in data.items()}
    beh, y, info = training_data(spec, data, target)
    fs = feature_set or ("canonical" if preset in S.DUAL_PRESETS else default_feature_set(spec, target))
    res = S.fit_surrogate(beh, y, spec.scenario, feature_set=fs, target=target, config=cfg, progress=progress,
                          workers=workers)
    check_interrupt()
    mv = res.members_val
    blended = np.asarray(res.surrogate.ensemble.blend_members(np.asarray(res.blend.weights, mv.dtype), mv), np.float64)
    if res.surrogate.task == "regression":
        evaluation = {"y_true": res.y_val, "y_pred": blended, "y_std": mv.std(axis=0)}
    else:
        cls = blended.argmax(-1)
        evaluation = {"y_true": res.y_val, "y_pred": cls, "y_std": mv.std(axis=0)[np.arange(len(cls)), cls]}
    extra = {
        "blend": {"method": res.blend.method, "errors": res.blend.errors, "member_errors": np.asarray(res.blend.member_errors).tolist(),
                  "evaluations": res.blend.evaluations, "optimizer": cfg.blend_optimizer},
        "train_median": res.train_median,
        "preset": preset,
        "data": {**info, "dataset": str(dataset), "max_rows": max_rows,
                 "target_definition": S.TARGET_DEFINITIONS[target]},
    }
    check_interrupt()
    try:
        return save_model(out, res.surrogate, train_config=cfg.to_json(), dataset_hash=spec.config_hash(),
                          curves=res.curves, evaluation=evaluation, extra=extra, argv=argv,
                          train_seconds=time.monotonic() - started)
    except BaseException:  # an interrupt (or error) at any point of the write: no model file is left half-made
        remove_incomplete_model(out)
        raise


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


def _existing(p) -> Path:
    p = Path(p)
    if not p.exists():
        raise ValueError(f"no such dataset file: {p}")
    return p
