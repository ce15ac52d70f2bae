"""Small run files of every kind, written through runs.files._store with the layout contract's names (for the readers'
tests: browsing, plots, export). Values are synthetic but shaped and typed as the writers store them."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import h5py
import numpy as np

import bellcore as bc
from runs.files import _layout as L
from runs.files import _store
from surrogates import STATUS_NAMES


def dataset_cli(*args: str) -> list[str]:
    """argv of ``bellscope dataset ARGS`` in a fresh interpreter (for the kill / signal / resume tests)."""
    return [sys.executable, "-m", "runs", "dataset", *args]


def rows_complete(path: Path) -> int:
    """Committed rows of a run file that another process may still be writing (0 before it exists)."""
    try:
        with h5py.File(path, "r", locking=False) as f:
            return int(f.attrs.get(L.ROWS_COMPLETE, 0))
    except (OSError, KeyError):
        return 0


def _create(path: Path, kind: str, config: dict, scenario) -> h5py.File:
    cj = json.dumps(config, sort_keys=True)
    return _store.create_run(
        path, kind, cj, hashlib.sha256(cj.encode()).hexdigest(), 3, "test", json.dumps(scenario.to_json()), ["test"]
    )


def make_model(path: Path, groups=("mlp",), members: int = 3, steps: int = 20, n_val: int = 40, target: str = "nbl") -> Path:
    rng = np.random.default_rng(0)
    f = _create(path, L.KIND_MODEL, {"target": target, "members": members}, bc.BilocalScenario("bsm"))
    with f:
        g = f.create_group(L.MODEL)
        g.attrs[L.MODEL_HYPERPARAMETERS] = json.dumps({"width": 32, "depth": 2})
        g.attrs[L.MODEL_FEATURE_SET] = "ij"
        g.attrs[L.MODEL_TARGET] = target
        g.attrs[L.MODEL_SCENARIO] = json.dumps(bc.BilocalScenario("bsm").to_json())
        m = g.create_group(L.MODEL_MEMBERS)
        for name in groups:
            m.create_dataset(name, data=np.frombuffer(rng.bytes(64), np.uint8))
        g.create_dataset(L.MODEL_BLEND_WEIGHTS, data=np.full(len(groups), 1 / len(groups)))
        t = f.create_group(L.TRAINING)
        for name in groups:
            tg = t.create_group(name)
            step = np.arange(steps)
            decay = np.exp(-step / 6.0)[:, None] * (1 + 0.1 * rng.random((steps, members)))
            tg.create_dataset(L.TRAIN_STEP, data=step)
            tg.create_dataset(L.TRAIN_LOSS, data=0.01 * decay)
            tg.create_dataset(L.VAL_LOSS, data=0.012 * decay)
            tg.create_dataset(L.VAL_MAE, data=0.05 * decay)
        e = f.create_group(L.EVALUATION)
        if target == "class":
            yt = rng.integers(0, 3, n_val)
            yp = np.where(rng.random(n_val) < 0.9, yt, (yt + 1) % 3)
        else:
            yt = rng.random(n_val) * 0.05
            yp = yt + 0.002 * rng.standard_normal(n_val)
        e.create_dataset(L.EVAL_Y_TRUE, data=yt)
        e.create_dataset(L.EVAL_Y_PRED, data=yp)
        e.create_dataset(L.EVAL_Y_STD, data=np.full(n_val, 0.002))
        _store.set_status(f, L.STATUS_COMPLETE, {L.HEADLINE: "val MAE 1.6e-3 (3 members)"})
    return path


def make_discovery(path: Path, n: int = 12, steps: int = 30, status: str = L.STATUS_COMPLETE,
                   constraints: dict | None = None, tripartite_nl=None) -> Path:
    """A discovery run over the θ family with BSM Werner-like candidates (valid behaviours)."""
    rng = np.random.default_rng(1)
    sc = bc.BilocalScenario("bsm")
    cfg = {"family": "theta", "n": n, **({"constraints": constraints} if constraints else {})}
    f = _create(path, L.KIND_DISCOVERY, cfg, sc)
    with f:
        tr = f.create_group(L.TRACES)
        for name in ("gradient", "cma"):
            g = tr.create_group(name)
            v = rng.random(steps) * 0.02
            g.create_dataset(L.TRACE_STEP, data=np.arange(steps))
            g.create_dataset(L.TRACE_TIME, data=np.linspace(0, 1, steps))
            g.create_dataset(L.TRACE_VALUE, data=v)
            g.create_dataset(L.TRACE_BEST, data=np.maximum.accumulate(v))
        c = f.create_group(L.CANDIDATES)
        vs = np.linspace(0.6, 1.0, n)
        beh = np.stack([np.asarray(bc.bilocal_werner(float(v), "bsm").p) for v in vs])
        c.create_dataset(L.CAND_BEHAVIOUR, data=beh)
        c.create_dataset(L.CAND_PARAMS, data=rng.random((n, 4)))
        c.create_dataset(L.CAND_PRED_MEAN, data=np.maximum(0, (vs**2 - 0.5) / 4))
        c.create_dataset(L.CAND_PRED_STD, data=np.full(n, 1e-3))
        c.create_dataset(L.CAND_BRGP, data=vs**2 * 0.9)
        c.create_dataset(L.CAND_TRIPARTITE_NL, data=np.zeros(n) if tripartite_nl is None else np.asarray(tripartite_nl, float))
        lo = np.maximum(0, (vs**2 - 0.5) / 4)
        lo[::4] = np.nan  # not certified
        c.create_dataset(L.CAND_NBL_LOWER, data=lo)
        c.create_dataset(L.CAND_NBL_UPPER, data=lo + 1e-4)
        codes = np.where(np.isnan(lo), STATUS_NAMES.index("limit"), 0).astype(np.uint8)
        c.create_dataset(L.CAND_NBL_STATUS, data=codes, dtype=h5py.enum_dtype({s: i for i, s in enumerate(STATUS_NAMES)}, basetype="u1"))
        c.create_dataset(L.CAND_DISCOVERY, data=(lo > 1e-9) & (vs**2 * 0.9 <= 1))
        c.create_dataset(L.CAND_SEARCHER, data=np.array(["gradient", "cma"] * (n // 2), dtype=h5py.string_dtype()))
        c.create_dataset(L.CAND_THETA, data=np.linspace(0.1, np.pi / 4, n))
        f.attrs[L.ROWS_COMPLETE] = n  # every candidate committed, as the discovery runner marks them
        if status != L.STATUS_RUNNING:
            _store.set_status(f, status, {L.HEADLINE: f"best certified NBL >= {np.nanmax(lo):.4f}"})
    return path
