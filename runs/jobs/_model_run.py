"""The train job: a dataset run file in, a model run file out (``run_train``).

The model file itself (writing, reading, the hyperparameters <-> skeleton format) is not here: the HDF5 side is
``runs/files/_model_file.py`` and the format is ``surrogates/_model_file.py``. ``load_model``, ``read_model`` and
``training_data`` are re-exported for the jobs that import them from here.
"""

from __future__ import annotations

import time
import os
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from runs import _signals as signals
from runs.files import _store
from runs.files._model_file import remove_incomplete_model, save_model

__all__ = ["run_train", "training_data", "default_feature_set"]

Progress = Callable[[int, int, Mapping[str, float]], None]

_DEFAULT_TARGET = {"bell": "nl", "bilocal": "nbl", "chsh-correlators": "class", "network": "network"}


# ------------------------------------------------------------------------------------------------ training data
def training_data(spec, data: Mapping[str, np.ndarray], target: str):
    """``surrogates.training_data`` (the usable rows of a dataset for ``target``), for the jobs that import it here."""
    from surrogates import training_data as rows

    return rows(spec, data, target)


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
    beh, y, info = S.training_data(spec, data, target)
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


def _existing(p) -> Path:
    p = Path(p)
    if not p.exists():
        raise ValueError(f"no such dataset file: {p}")
    return p
