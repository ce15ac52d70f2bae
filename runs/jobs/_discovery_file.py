"""Reading a discovery run file: its candidates, everything in it (``runs.read_discovery``), and the summary a run
writes at its end (``summary_of``: per-searcher tallies, the best discovery, the surrogate at its certified candidates,
the learning's labels and rounds)."""

from __future__ import annotations

import json
import math
import os
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from runs.files import _layout as L

if TYPE_CHECKING:
    from runs.jobs._discovery_types import DiscoveryConfig

__all__ = ["read_candidates", "read_discovery", "summary_of", "append_candidate_rows", "STRING_STATUS"]

#: Candidate fields stored as HDF5 enums of the one status table (runs/files/_layout.py).
#: (``discover.Candidates`` of Bell and bilocal families carry the first three; network candidates the last.)
CANDIDATE_STATUS = ("nl_status", "nbl_status", "tripartite_status")
STRING_STATUS = CANDIDATE_STATUS + ("network_status",)
#: Candidate fields stored as variable-length strings.
STRING_FIELDS = ("searcher", "inflation")


def append_candidate_rows(f: h5py.File, data: dict[str, np.ndarray], n: int) -> None:
    """Append ``n`` rows to ``/candidates/<field>`` (each created on first use, extendable, described from the
    layout; statuses as codes of the one enum, ``STRING_FIELDS`` as strings), flush, and only then move
    ``rows_complete``: a killed run keeps whole rows only."""
    start = int(f.attrs[L.ROWS_COMPLETE])
    describe = {**L.DISCOVERY_FIELDS, **L.NETWORK_CANDIDATE_FIELDS}
    for k, a in data.items():
        a = np.asarray(a)
        path = L.candidates_path(k)
        if path not in f:
            dtype = L.STATUS_ENUM if k in STRING_STATUS else (h5py.string_dtype() if k in STRING_FIELDS else a.dtype)
            f.create_dataset(path, shape=(0, *a.shape[1:]), maxshape=(None, *a.shape[1:]), dtype=dtype,
                             chunks=(16, *a.shape[1:]))
            f[path].attrs[L.DESCRIPTION] = describe[k]
        ds = f[path]
        ds.resize(start + n, axis=0)
        if n:
            ds[start:start + n] = a
    f.flush()
    f.attrs[L.ROWS_COMPLETE] = start + n
    f.flush()


def summary_of(f: h5py.File, cfg: "DiscoveryConfig", per, seconds: float) -> dict[str, Any]:
    """The run's ``summary`` (JSON at the root): headline, candidates, discoveries, best, per searcher, learning."""
    data = read_candidates(f)
    n = len(data.get("discovery", []))
    disc = np.asarray(data.get("discovery", np.zeros(0, bool)), dtype=bool)
    lower = np.asarray(data[{"nbl": "nbl_lower", "nl": "nl_lower", "network": "network_lower"}[cfg.measure]]) if n \
        else np.zeros(0)
    searchers = np.asarray(data.get("searcher", []), dtype=object)
    for name, p in per.items():
        mine = np.array([str(s).split("@")[0] == name for s in searchers], dtype=bool)
        p["discoveries"] = int((disc & mine).sum())
        p["best_certified"] = float(lower[disc & mine].max()) if (disc & mine).any() else None
        p["discoveries_per_minute"] = p["discoveries"] / max(p["seconds"] / 60, 1e-9)
    what = {"nbl": "NBL", "nl": "NL", "network": "network distance"}[cfg.measure]
    best = None
    if disc.any():
        i = int(np.flatnonzero(disc)[np.argmax(lower[disc])])
        best = {"index": i, "searcher": str(searchers[i]), f"{cfg.measure}_lower": float(lower[i]),
                **{k: float(data[k][i]) if k in data else math.nan for k in ("theta", "brgp", "tripartite_nl")}}
        if "inflation" in data:
            best["inflation"] = str(data["inflation"][i])
        headline = (f"{cfg.name}: {int(disc.sum())}/{n} candidates are discoveries; best certified {what} >= "
                    f"{lower[i]:.4g} ({best['searcher']})")
    else:
        headline = f"{cfg.name}: no discovery among {n} certified candidates"
    out = {"headline": headline, "candidates": n, "discoveries": int(disc.sum()), "best": best,
           "searchers": per, "seconds": seconds, "quick": cfg.quick}
    from runs.files._candidates import candidate_table

    table = candidate_table(f)
    if table is not None:
        def fin(v):
            return None if not math.isfinite(v) else v

        out["surrogate_at_candidates"] = {"mae": fin(table["mae"]), "mae_constant": fin(table["mae_constant"]),
                                          "spearman": fin(table["spearman"]), "n": len(table["rows"])}
    if L.LEARN in f:
        g = f[L.LEARN]
        methods = [m.decode() if isinstance(m, bytes) else str(m) for m in g["method"][()]]
        out["learn"] = {"rows": len(methods), "usable": int(np.asarray(g["usable"][()], bool).sum()),
                        "methods": {m: methods.count(m) for m in sorted(set(methods))},
                        "initial_label_seconds": float(g.attrs["initial_label_seconds"]),
                        "initial_fit_seconds": float(g.attrs["initial_fit_seconds"]),
                        **{k: [None if not math.isfinite(v) else float(v) for v in g["rounds"][k][()]] for k in
                           ("mae", "mae_constant", "spearman", "label_seconds", "fit_seconds", "search_seconds")
                           if "rounds" in g and k in g["rounds"]}}
        sc = out.get("surrogate_at_candidates")
        if sc and sc["mae"] is not None and sc["mae_constant"] is not None:
            out["headline"] += (f"; surrogate at its certified candidates: MAE {sc['mae']:.2g} (constant "
                                f"{sc['mae_constant']:.2g}), Spearman {sc['spearman'] if sc['spearman'] is None else round(sc['spearman'], 2)}")
    return out


def read_candidates(f: h5py.File) -> dict[str, np.ndarray]:
    """``/candidates/*`` of an open discovery file (status enums as names, searcher as str)."""
    out: dict[str, np.ndarray] = {}
    if L.CANDIDATES not in f:
        return out
    rows = int(f.attrs[L.ROWS_COMPLETE])
    for k, ds in f[L.CANDIDATES].items():
        a = ds[:rows]
        if k in STRING_STATUS:
            a = L.decode_status(a, ds.dtype)  # through the file's own enum (old files: none = 0, shifted codes)
        elif k in STRING_FIELDS:
            a = np.array([v.decode() if isinstance(v, bytes) else str(v) for v in a], dtype=object)
        out[k] = a
    return out


def read_discovery(path: str | os.PathLike) -> dict[str, Any]:
    """Everything of a discovery run file: ``config``, ``summary``, ``status``, ``traces`` (name -> dict of arrays
    and attrs), ``candidates`` (field -> array), ``model`` (attrs)."""
    with h5py.File(path, "r") as f:
        if f.attrs.get(L.KIND) != L.KIND_DISCOVERY:
            raise ValueError(f"{path} is not a discovery run (kind={f.attrs.get(L.KIND)!r})")
        traces = {}
        for name, g in f[L.TRACES].items() if L.TRACES in f else ():
            traces[name] = {**{k: g[k][()] for k in L.TRACE_FIELDS}, "attrs": dict(g.attrs)}
        return {
            "config": json.loads(f[L.CONFIG].attrs[L.CONFIG_JSON]),
            "config_hash": str(f[L.CONFIG].attrs[L.CONFIG_HASH]),
            "summary": json.loads(f.attrs[L.SUMMARY]),
            "status": str(f.attrs[L.STATUS]),
            "seed": int(f[L.SEEDS].attrs[L.SEED_MASTER]),
            "model": dict(f[L.MODEL].attrs) if L.MODEL in f else {},
            "traces": traces,
            "candidates": read_candidates(f),
            "learn": ({k: v[()] for k, v in f[L.LEARN].items() if isinstance(v, h5py.Dataset)}
                      | ({"rounds": {k: v[()] for k, v in f[L.LEARN_ROUNDS].items()}} if L.LEARN_ROUNDS in f else {})
                      if L.LEARN in f else {}),
        }
