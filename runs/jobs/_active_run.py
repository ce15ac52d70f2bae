"""Active learning inside a discovery run: the wiring of ``discover.active_learning`` to ``surrogates`` (refit) and
``certify`` (labels), and ``/active`` in the run file.

Lives in ``runs`` because only ``runs`` may import both ``discover`` and ``surrogates``; the loop itself
(rounds, neighbourhoods, error measurement) is library code in ``discover/_active.py``.

Campaign table (``runs/jobs/_discover_config.py``)::

    [active]
    rounds = 3            # rounds of search -> certify -> label -> refit (the last round only searches)
    neighbours = 4        # perturbations labelled per certified candidate
    sigma = 0.05          # their scale in the unconstrained parameters
    dataset = "swap.h5"   # base training data [model] dataset if absent): a dataset run file
    preset = "quick"; members = 2    # the refit's training preset [model] preset / members]

The refit retrains (``surrogates`` has no warm start) on the base dataset's usable rows (``training_data``) plus
every row added so far, with seed ``master + round + 1``. Labels: ``certify.nonbilocality`` (network) or
``certify.nonlocality`` (Bell pair) at the campaign's ``[certify]`` tolerances; target = the midpoint of the
certified interval; rows ``surrogates.usable_labels`` rejects are dropped (the rule training uses).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from runs.files import _layout as L

__all__ = ["base_training_data", "make_label", "make_refit", "write_round", "write_added"]


def active_dataset(cfg: Mapping[str, Any]) -> Path:
    """The dataset run file an ``[active]`` campaign refits on (``[active] dataset``, else ``[model] dataset``);
    ``ValueError`` when it is not named or does not exist (checked before anything is written or trained)."""
    path = cfg["active"].get("dataset", cfg["model"].get("dataset"))
    if path is None:
        raise ValueError("[active] refits the surrogate on its training data plus the new labels: name that data with "
                         "[active] dataset or [model] dataset (a dataset run file)")
    if not Path(path).exists():
        raise ValueError(f"active-learning dataset {path} does not exist")
    return Path(path)


def base_training_data(cfg: Mapping[str, Any], surrogate) -> tuple[np.ndarray, np.ndarray]:
    """The usable rows of ``[active] dataset`` (or ``[model] dataset``) for the surrogate's target."""
    from runs.jobs._dataset_run import read_dataset
    from runs.jobs._model_run import training_data

    path = active_dataset(cfg)
    spec, data, _ = read_dataset(path, require_complete=True)  # a running or failed file is not training data
    if spec.scenario != surrogate.scenario:
        raise ValueError(f"dataset {path} is for {spec.scenario}, the surrogate for {surrogate.scenario}")
    beh, y, _ = training_data(spec, data, surrogate.target)
    return np.asarray(beh, np.float64), np.asarray(y, np.float64)


def make_label(cfg: Mapping[str, Any], scenario):
    """``label(behaviours) -> (y, ok)``: certified interval midpoints, ok where ``surrogates.usable_labels`` says
    the label is usable (the rule training uses: NBL optimal, NL solved; finite)."""
    import certify
    from bellcore import Behaviour, BilocalScenario
    from surrogates import nbl_target, usable_labels

    cert = cfg["certify"]
    bilocal = isinstance(scenario, BilocalScenario)

    def label(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y, status = np.full(len(x), math.nan), np.full(len(x), certify.Status.ERROR.value, dtype=object)
        for i, p in enumerate(x):
            b = Behaviour(np.asarray(p, np.float64), scenario)
            if bilocal:
                r = certify.nonbilocality(b, tol=float(cert["nbl_tol"]), time_limit=float(cert["nbl_time_limit"]),
                                          max_nodes=int(cert["nbl_max_nodes"]), seed=int(cfg["seed"]), validate=False)
            else:
                r = certify.nonlocality(b, validate=False)
            status[i], y[i] = r.status.value, float(nbl_target(r.lower, r.upper))
        ok = usable_labels(status, y, "nbl" if bilocal else "nl")
        return np.where(ok, y, math.nan), ok

    return label


def make_refit(cfg: Mapping[str, Any], surrogate, x0: np.ndarray, y0: np.ndarray, progress=None):
    """``refit(x_added, y_added, round) -> (surrogate, n_train)``: retrain on base + added rows."""
    import surrogates as S

    a, m = cfg["active"], cfg["model"]
    preset = a.get("preset", m.get("preset", "quick"))
    members = a.get("members", m.get("members"))

    def refit(xa: np.ndarray, ya: np.ndarray, r: int):
        x = np.concatenate([x0, np.asarray(xa, np.float64)])
        y = np.concatenate([y0, np.asarray(ya, np.float64)])
        tc = S.preset_config(preset, surrogate.target, members=None if members is None else int(members),
                             seed=int(cfg["seed"]) + r + 1)
        res = S.fit_surrogate(x, y, surrogate.scenario, feature_set=surrogate.feature_set, target=surrogate.target,
                              config=tc, progress=progress)
        return res.surrogate, len(y)

    return refit


def write_round(f: h5py.File, rec) -> None:
    """Append one ``discover.ActiveRound`` to ``/active/<field>`` and flush."""
    import discover as d

    for k in d.ACTIVE_FIELDS:
        path = L.active_path(k)
        v = getattr(rec, k)
        if path not in f:
            dt = np.float64 if isinstance(v, float) else np.int64
            ds = f.create_dataset(path, shape=(0,), maxshape=(None,), dtype=dt, chunks=(16,))
            ds.attrs[L.DESCRIPTION] = L.ACTIVE_ROUND_FIELDS[k]
        ds = f[path]
        ds.resize(len(ds) + 1, axis=0)
        ds[-1] = v
    f.flush()


def write_added(f: h5py.File, x: np.ndarray, y: np.ndarray, rounds: np.ndarray) -> None:
    """``/active/x|y|y_round``: every row added to the training data."""
    g = f.require_group(L.ACTIVE)
    for name, a in ((L.ACTIVE_X, x), (L.ACTIVE_Y, y), (L.ACTIVE_Y_ROUND, rounds)):
        if name in g:
            del g[name]
        g.create_dataset(name, data=np.asarray(a))
    g[L.ACTIVE_Y].attrs[L.DESCRIPTION] = "certified target (interval midpoint, status optimal) of each added row"
    f.flush()
