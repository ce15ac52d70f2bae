"""Export behaviours (dataset rows, discovery candidates, certified candidates) with their labels / certificates.

The JSON form is the interchange ``bellscope certify`` reads (``{"scenario": {...}, "p": [...]}``) plus
``labels`` (one list per label or certificate field, NaN as null, status enums by name) and ``source`` (file,
path, kind, config hash). The ``.npy`` form writes ``p`` to the given file and each label next to it as
``<stem>.<field>.npy`` (enums as unicode names; no pickle). ``p`` is always in ``p[outcomes..., settings...]``
order with a leading batch axis.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from runs.files import _layout as L
from runs.files._browse import enum_names
from runs.files._readonly import check_size, dataset_at, link_kind, open_readonly, read_rows
from runs.files._untrusted import shown

__all__ = ["Export", "read_export", "write_json", "write_npy", "export_json_obj"]

#: Where the behaviours of each kind live, and the group whose other 1-D data sets are their labels.
_DEFAULT_SOURCE = {
    L.KIND_DATASET: (f"/{L.BEHAVIOURS}", f"/{L.LABELS}"),
    L.KIND_DISCOVERY: (f"/{L.CANDIDATES}/{L.CAND_BEHAVIOUR}", f"/{L.CANDIDATES}"),
    L.KIND_CAMPAIGN: (f"/{L.CERTIFIED}/{L.CAND_BEHAVIOUR}", f"/{L.CERTIFIED}"),
}


@dataclass(frozen=True)
class Export:
    """Behaviours ``p`` (N, *shape) with per-row ``labels`` (field -> (N,) array) read from a run file."""

    p: np.ndarray
    scenario: dict[str, Any] | None
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)


def _decode(a: np.ndarray, names: dict[int, str] | None) -> np.ndarray:
    if names is not None:
        return np.array([shown(names.get(int(c), str(int(c))), 80) for c in a.ravel()], dtype=str).reshape(a.shape)
    if a.dtype.kind in "SOU":
        return np.array([shown(x, 10**4) for x in a.ravel()], dtype=str).reshape(a.shape)
    return a


def read_export(path: str | os.PathLike, h5path: str | None = None) -> Export:
    """Read behaviours and labels from a run file; ``h5path`` picks the behaviours data set or its group.

    Raises ``ValueError`` (one line) for a file without behaviours at that place.
    """
    where = shown(str(path))
    with open_readonly(path) as (f, _):
        kind = shown(f.attrs.get(L.KIND, ""), 40)
        if h5path is None:
            if kind not in _DEFAULT_SOURCE:
                raise ValueError(
                    f"{where}: a {kind or 'foreign'} file has no behaviours to export; give a data set PATH "
                    f"(see `bellscope runs show {where}`)"
                )
            bpath, lpath = _DEFAULT_SOURCE[kind]
        else:
            link = link_kind(f, h5path) if h5path.strip("/") else "hard"
            if link is None:
                raise ValueError(f"{where}: no {shown(h5path)!r} in the file (see `bellscope runs show {where}`)")
            if link != "hard":
                raise ValueError(f"{where}: {shown(h5path)} goes through {'an' if link == 'external' else 'a'} {link} link; bellscope does not follow links")
            obj = f[h5path]
            if isinstance(obj, h5py.Group):
                for name in (L.BEHAVIOURS, L.CAND_BEHAVIOUR):
                    if name in obj:
                        bpath, lpath = f"{obj.name.rstrip('/')}/{name}", obj.name
                        break
                else:
                    raise ValueError(f"{where}: group {shown(h5path)} holds no '{L.BEHAVIOURS}' or '{L.CAND_BEHAVIOUR}' data set")
            else:
                bpath, lpath = obj.name, obj.parent.name
                if bpath == f"/{L.BEHAVIOURS}":
                    lpath = f"/{L.LABELS}"
        ds = dataset_at(f, bpath, where)
        if ds is None:
            raise ValueError(f"{where}: no {shown(bpath)} (the run may have stopped before writing it)")
        p = read_rows(f, ds, where).astype(np.float64)
        n = len(p)
        labels: dict[str, np.ndarray] = {}
        group = f.get(lpath) if link_kind(f, lpath) == "hard" else None
        if isinstance(group, h5py.Group):
            for name in group:
                full = f"{group.name.rstrip('/')}/{name}"
                if link_kind(f, full) != "hard":
                    raise ValueError(f"{where}: {shown(full)} is a link; bellscope reads data sets stored in the file only")
                obj = group[name]
                if isinstance(obj, h5py.Dataset) and obj.name != bpath and obj.ndim >= 1 and obj.shape[:1] == ds.shape[:1]:
                    check_size(obj, n, where)
                    labels[shown(name, 80)] = _decode(np.asarray(obj[:n]), enum_names(obj.dtype))
        if bpath == f"/{L.BEHAVIOURS}" and link_kind(f, "correlators") == "hard":
            corr = dataset_at(f, "correlators", where)
            labels["correlators"] = read_rows(f, corr, where)[:n]
        scenario = None
        if L.SCENARIO in f and L.SCENARIO_JSON in f[L.SCENARIO].attrs:
            raw = f[L.SCENARIO].attrs[L.SCENARIO_JSON]
            try:
                scenario = json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
            except (json.JSONDecodeError, RecursionError, UnicodeDecodeError):
                raise ValueError(f"{where}: /{L.SCENARIO} attribute {L.SCENARIO_JSON!r} is not JSON (damaged run file)") from None
            if not isinstance(scenario, dict):
                raise ValueError(f"{where}: /{L.SCENARIO} attribute {L.SCENARIO_JSON!r} is not a JSON object (damaged run file)")
        source = {"file": str(path), "path": bpath, "kind": kind}
        if L.CONFIG in f and L.CONFIG_HASH in f[L.CONFIG].attrs:
            source["config_sha256"] = shown(f[L.CONFIG].attrs[L.CONFIG_HASH], 80)
    if scenario is None:
        try:
            from bellcore import infer_scenario

            scenario = infer_scenario(p.shape)[0].to_json()
        except Exception:  # noqa: BLE001 - the scenario stays unknown; certify then infers it itself
            scenario = None
    return Export(p, scenario, labels, source)


def _jsonable(a: np.ndarray) -> Any:
    if a.dtype.kind in "fc":
        obj = a.astype(object)
        obj[~np.isfinite(a)] = None
        return obj.tolist()
    return a.tolist()


def export_json_obj(e: Export) -> dict[str, Any]:
    """The JSON interchange object (NaN as null)."""
    obj: dict[str, Any] = {}
    if e.scenario is not None:
        obj["scenario"] = e.scenario
    obj["p"] = e.p.tolist()
    obj["labels"] = {k: _jsonable(v) for k, v in e.labels.items()}
    obj["source"] = e.source
    return obj


def write_json(e: Export, out: Path | None) -> str:
    text = json.dumps(export_json_obj(e), allow_nan=False)
    if out is not None:
        _refuse_existing(out)
        out.write_text(text + "\n")
    return text


def label_path(out: Path, name: str) -> Path:
    """Where ``write_npy`` puts a label next to ``out``: ``<stem>.<name>.npy``."""
    return out.with_name(f"{out.stem}.{name}.npy")


def write_npy(e: Export, out: Path) -> list[Path]:
    """``p`` to ``out`` and every label to ``label_path(out, name)``; returns the files written."""
    if out.suffix != ".npy":
        out = out.with_suffix(out.suffix + ".npy") if out.suffix else out.with_suffix(".npy")
    paths = [out] + [label_path(out, k) for k in e.labels]
    for p in paths:
        _refuse_existing(p)
    np.save(out, e.p, allow_pickle=False)
    for k, v in e.labels.items():
        np.save(label_path(out, k), v, allow_pickle=False)
    return paths


def _refuse_existing(p: Path) -> None:
    if p.exists():
        raise FileExistsError(f"{p} exists (bellscope never overwrites; choose another --out)")


def nan_equal(a: Any, b: Any) -> bool:
    """Equality with NaN == None == NaN (for tests of the JSON round trip)."""
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(nan_equal(x, y) for x, y in zip(a, b))
    na = a is None or (isinstance(a, float) and math.isnan(a))
    nb = b is None or (isinstance(b, float) and math.isnan(b))
    return na == nb and (na or a == b)
