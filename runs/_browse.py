"""Browsing run files: one-line descriptions for ``runs ls``, the tree for ``runs show``, data set previews.

Everything here reads; nothing writes. A file that is not a readable HDF5 file ("corrupt") or an HDF5 file that is
not a bellscope run ("foreign") is described in one line, never raised as a traceback. A file still held open by
its writer (HDF5 file locking) is read without the lock, so a live run shows up as ``running``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import h5py
import numpy as np

from . import _layout as L

__all__ = [
    "RunInfo",
    "inspect_run",
    "list_runs",
    "open_readonly",
    "headline_of",
    "Node",
    "tree",
    "preview",
    "enum_names",
    "RUN_SUFFIXES",
]

RUN_SUFFIXES = (".h5", ".hdf5")
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

#: Status shown for files that are not bellscope runs.
FOREIGN = "foreign"
CORRUPT = "corrupt"


@dataclass(frozen=True)
class RunInfo:
    """What ``runs ls`` shows of one file (root attributes and the scenario only: no data are read).

    ``status`` is the run's own (running / complete / failed) or ``foreign`` / ``corrupt``; ``note`` says why for
    the latter, or that a running file is held open by a writer.
    """

    path: Path
    id: str
    kind: str
    status: str
    created: str
    scenario: str
    headline: str
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "file": str(self.path),
            "kind": self.kind,
            "status": self.status,
            "created": self.created,
            "scenario": self.scenario,
            "headline": self.headline,
            "note": self.note,
        }


def _has_hdf5_signature(path: Path) -> bool:
    # The superblock may sit at 0, 512, 1024, 2048, ... (a user block before it); check the usual places.
    try:
        with open(path, "rb") as fh:
            for off in (0, 512, 1024, 2048, 4096):
                fh.seek(off)
                if fh.read(8) == _HDF5_SIGNATURE:
                    return True
    except OSError:
        return False
    return False


@contextlib.contextmanager
def open_readonly(path: str | os.PathLike) -> Iterator[tuple[h5py.File, bool]]:
    """Open ``path`` read-only; yields ``(file, locked_by_writer)``.

    A file its writer still holds (HDF5 file locking) is reopened without the lock: the root attributes and the
    flushed rows are readable (the store flushes after each chunk). Raises ``ValueError`` with a one-line reason
    for a missing or non-HDF5 file.
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"no such file: {path}")
    if path.is_dir():
        raise ValueError(f"{path} is a directory, not a run file")
    locked = False
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        if not _has_hdf5_signature(path):
            raise ValueError(f"{path}: not an HDF5 file (corrupt or another format)") from None
        try:
            f = h5py.File(path, "r", locking=False)
            locked = "lock" in str(e).lower()
        except OSError as e2:
            raise ValueError(f"{path}: unreadable HDF5 file (truncated or corrupt: {_short(e2)})") from None
    try:
        yield f, locked
    finally:
        f.close()


def _short(e: Exception) -> str:
    s = str(e).splitlines()[0] if str(e) else type(e).__name__
    return s[:120]


def _attr_str(attrs, key: str, default: str = "") -> str:
    v = attrs.get(key, default)
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    if isinstance(v, np.generic):
        v = v.item()
    return str(v)


def scenario_label(f: h5py.File) -> str:
    """The scenario of a run as text (``bell(mA=3, ...)``, ``bilocal(bsm)``), or "" if it has none."""
    g = f.get(L.SCENARIO)
    if g is None or L.SCENARIO_JSON not in g.attrs:
        return ""
    raw = _attr_str(g.attrs, L.SCENARIO_JSON)
    try:
        from bellcore import scenario_from_json

        obj = json.loads(raw)
        return str(scenario_from_json(obj)) if obj else ""
    except (ValueError, TypeError):
        return raw[:60]


def _pct(x: Any) -> str:
    return "n/a" if not isinstance(x, (int, float)) or not math.isfinite(x) else f"{100 * x:.1f}%"


def headline_of(kind: str, summary: dict[str, Any]) -> str:
    """The summary's ``headline`` string, or one derived from a dataset summary (files written before headlines)."""
    if isinstance(summary.get(L.HEADLINE), str):
        return summary[L.HEADLINE]
    if kind == L.KIND_DATASET and "n" in summary:
        n = summary["n"]
        if "classes" in summary:
            c = summary["classes"]
            return f"{n} points; classes " + ", ".join(f"{k} {v}" for k, v in c.items())
        if "nbl_lower_quantiles" in summary:
            return (
                f"{n} points; nonbilocal (certified) {_pct(summary.get('fraction_nonbilocal'))}, "
                f"bilocal model {_pct(summary.get('fraction_bilocal'))}, max gap {summary.get('nbl_max_gap', math.nan):.2g}"
            )
        if "nl_mean" in summary:
            return f"{n} points; local {_pct(summary.get('fraction_local'))}, mean NL {summary['nl_mean']:.4g}"
        return f"{n} points"
    return ""


def inspect_run(path: str | os.PathLike) -> RunInfo:
    """Describe one file from its root attributes; never raises for a bad file (it becomes foreign/corrupt)."""
    path = Path(path)
    rid = path.stem
    try:
        with open_readonly(path) as (f, locked):
            a = f.attrs
            kind = _attr_str(a, L.KIND)
            if not kind or L.STATUS not in a:
                return RunInfo(path, rid, "-", FOREIGN, "", "", "", "HDF5 file without bellscope run attributes")
            status = _attr_str(a, L.STATUS)
            try:
                summary = json.loads(_attr_str(a, L.SUMMARY, "{}"))
                if not isinstance(summary, dict):
                    summary = {}
            except json.JSONDecodeError:
                summary = {}
            head = headline_of(kind, summary)
            note = ""
            if status == L.STATUS_RUNNING:
                rows = a.get(L.ROWS_COMPLETE)
                note = "open by a writer" if locked else "not open: killed, or written by another host"
                if rows is not None and kind == L.KIND_DATASET:
                    head = head or f"{int(rows)} rows so far"
                note += f"; updated {_attr_str(a, L.UPDATED)}"
            elif status == L.STATUS_FAILED:
                note = summary.get("error", "") if isinstance(summary.get("error"), str) else ""
            if kind not in L.KINDS:
                note = (note + "; " if note else "") + f"unknown kind {kind!r} (newer bellscope?)"
            return RunInfo(path, rid, kind, status, _attr_str(a, L.CREATED), scenario_label(f), head, note)
    except ValueError as e:
        return RunInfo(path, rid, "-", CORRUPT, "", "", "", str(e).split(": ", 1)[-1])
    except Exception as e:  # noqa: BLE001 - a listing must survive any one bad file
        return RunInfo(path, rid, "-", CORRUPT, "", "", "", _short(e))


def list_runs(directory: str | os.PathLike, recursive: bool = False) -> list[RunInfo]:
    """Every ``.h5``/``.hdf5`` file under ``directory`` (sorted by creation time, then name)."""
    d = Path(directory)
    if not d.exists():
        raise ValueError(f"no such directory: {d}")
    if not d.is_dir():
        return [inspect_run(d)]
    pattern = "**/*" if recursive else "*"
    files = sorted(p for p in d.glob(pattern) if p.suffix.lower() in RUN_SUFFIXES and p.is_file())
    infos = [inspect_run(p) for p in files]
    return sorted(infos, key=lambda r: (r.created or "~", str(r.path)))


# ------------------------------------------------------------------------------------------------------ tree
def enum_names(dtype: np.dtype) -> dict[int, str] | None:
    """``{code: name}`` of an HDF5 enum data set's dtype, else None."""
    m = h5py.check_enum_dtype(dtype)
    return None if m is None else {int(v): k for k, v in m.items()}


@dataclass(frozen=True)
class Node:
    """One group or data set of a run file, for ``runs show``'s tree."""

    path: str
    is_group: bool
    shape: tuple[int, ...] | None
    dtype: str
    attrs: dict[str, str]
    description: str
    children: tuple["Node", ...] = ()


def _dtype_str(dt: np.dtype) -> str:
    names = enum_names(dt)
    if names is not None:
        return "enum(" + ", ".join(names[k] for k in sorted(names)) + ")"
    if h5py.check_string_dtype(dt) is not None:
        return "string"
    return str(dt)


def _attr_text(v: Any) -> str:
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray):
        return np.array2string(v, threshold=8)
    if isinstance(v, np.generic):
        v = v.item()
    return str(v)


def _node(obj) -> Node:
    attrs = {k: _attr_text(v) for k, v in obj.attrs.items() if k != L.DESCRIPTION}
    desc = _attr_text(obj.attrs.get(L.DESCRIPTION, ""))
    if isinstance(obj, h5py.Group):
        kids = tuple(_node(obj[k]) for k in obj.keys())
        return Node(obj.name, True, None, "", attrs, desc, kids)
    if not desc:
        leaf = obj.name.rsplit("/", 1)[-1]
        desc = L.FIELD_DESCRIPTIONS.get(leaf, "")
    return Node(obj.name, False, tuple(obj.shape), _dtype_str(obj.dtype), attrs, desc)


def tree(f: h5py.File, path: str = "/") -> Node:
    """The node at ``path`` and everything below it (raises ``KeyError`` if there is none)."""
    if path not in f:
        raise KeyError(path)
    return _node(f[path])


def valid_rows(f: h5py.File, ds: h5py.Dataset) -> int:
    """How many leading rows of ``ds`` are committed: ``rows_complete`` for a dataset run's row data, else all."""
    n = ds.shape[0] if ds.shape else 0
    if f.attrs.get(L.KIND) == L.KIND_DATASET and L.ROWS_COMPLETE in f.attrs:
        top = ds.name.split("/")[1] if ds.name.count("/") >= 1 else ""
        if top in (L.BEHAVIOURS, L.LABELS, "correlators"):
            return min(n, int(f.attrs[L.ROWS_COMPLETE]))
    return n


def preview(f: h5py.File, path: str, rows: int = 5) -> dict[str, Any]:
    """The first ``rows`` rows of a data set (enum codes shown by name) and a summary of its committed rows.

    Returns ``{"path", "shape", "dtype", "rows_valid", "head": list, "summary": {...}}``; the summary holds
    count / NaN count / min / mean / max for numbers, counts per name for enums, counts for booleans.
    """
    ds = f[path]
    if not isinstance(ds, h5py.Dataset):
        raise TypeError(f"{path} is a group")
    n = valid_rows(f, ds) if ds.shape else 0
    names = enum_names(ds.dtype)
    out: dict[str, Any] = {"path": ds.name, "shape": list(ds.shape), "dtype": _dtype_str(ds.dtype), "rows_valid": n}
    if not ds.shape:
        v = ds[()]
        out["head"] = v.decode() if isinstance(v, bytes) else np.asarray(v).tolist()
        out["summary"] = {}
        return out
    data = ds[:n]
    head = data[:rows]
    if names is not None:
        out["head"] = [names.get(int(c), str(int(c))) for c in np.asarray(head).ravel()]
        codes, counts = np.unique(np.asarray(data).astype(np.int64), return_counts=True)
        out["summary"] = {"counts": {names.get(int(c), str(int(c))): int(k) for c, k in zip(codes, counts)}}
        return out
    if data.dtype.kind in "SO" or h5py.check_string_dtype(ds.dtype) is not None:
        dec = [x.decode() if isinstance(x, bytes) else str(x) for x in np.asarray(data).ravel()]
        out["head"] = dec[:rows]
        vals, counts = np.unique(dec, return_counts=True) if dec else ([], [])
        out["summary"] = {"counts": {str(v): int(c) for v, c in zip(vals, counts)}} if len(vals) <= 20 else {"distinct": len(vals)}
        return out
    out["head"] = np.asarray(head).tolist()
    a = np.asarray(data)
    if a.dtype == bool:
        out["summary"] = {"true": int(a.sum()), "false": int((~a).sum())}
    elif np.issubdtype(a.dtype, np.number) and a.size:
        fin = a[np.isfinite(a)] if np.issubdtype(a.dtype, np.floating) else a
        out["summary"] = {
            "count": int(a.size),
            "nan": int(a.size - fin.size),
            "min": float(fin.min()) if fin.size else math.nan,
            "mean": float(fin.mean()) if fin.size else math.nan,
            "max": float(fin.max()) if fin.size else math.nan,
        }
    else:
        out["summary"] = {}
    return out
