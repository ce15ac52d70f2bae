"""Browsing run files: one-line descriptions for ``runs ls``, the tree for ``runs show``, data set previews.

Everything here reads; nothing writes. A file that is not a readable HDF5 file ("corrupt") or an HDF5 file that is
not a bellscope run ("foreign") is described in one line, never raised as a traceback. A file still held open by
its writer (HDF5 file locking) is read without the lock, so a live run shows up as ``running``.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from runs.files import _layout as L
from runs.files._readonly import check_size, committed_rows, dataset_at, link_kind, open_readonly
from runs.files._untrusted import shown

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
    "committed_rows",
    "RUN_SUFFIXES",
    "resolve_run",
]

RUN_SUFFIXES = (".h5", ".hdf5")

#: Status shown for files that are not bellscope runs.
FOREIGN = "foreign"
CORRUPT = "corrupt"

#: The most characters of a headline or note ``runs ls`` shows (a file's summary may hold megabytes).
HEADLINE_CHARS = 300


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


def _short(e: Exception) -> str:
    return shown(str(e).splitlines()[0] if str(e) else type(e).__name__, 120)


def _attr_str(attrs, key: str, default: str = "", limit: int | None = None) -> str:
    """A root attribute as text (raw: callers that print it pass ``limit``, which also escapes it)."""
    try:
        v = attrs.get(key, default)
    except (OSError, RuntimeError, ValueError, TypeError):  # an unreadable attribute reads as missing
        v = default
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    if isinstance(v, np.generic):
        v = v.item()
    return str(v) if limit is None else shown(v, limit)


def _scenario_text(obj: Any) -> str:
    """A scenario's JSON description as ``str(Scenario)`` would print it, without importing bellcore (and JAX):
    ``runs ls`` must start at once. Display only; nothing is validated here."""
    if not isinstance(obj, dict):
        return shown(obj, 60)
    kind = obj.get("kind")
    if kind == "bell" and isinstance(obj.get("settings"), list) and len(obj["settings"]) == 2:
        (ma, mb), (da, db) = obj["settings"], obj.get("outcomes", [2, 2])
        return shown(f"bell(mA={ma}, mB={mb}, dA={da}, dB={db})", 60)
    if kind == "bilocal":
        return shown(f"bilocal({obj.get('variant', 'binary')})", 60)
    parties, sources = obj.get("parties"), obj.get("sources")
    if kind == "network" and isinstance(parties, dict) and isinstance(sources, list):
        # parties with settings x outcomes, then the sources: network(A[1x2],B[1x2],C[1x2]; (B,C) (A,C) (A,B))
        ps = ",".join(f"{k}[{v.get('settings', '?')}x{v.get('outcomes', '?')}]" if isinstance(v, dict) else str(k)
                      for k, v in list(parties.items())[:8])
        ss = " ".join("(" + ",".join(map(str, s)) + ")" if isinstance(s, list) else str(s) for s in sources[:8])
        return shown(f"network({ps}; {ss})", 60)
    return shown(kind if kind is not None else json.dumps(obj), 60)


def scenario_label(f: h5py.File) -> str:
    """The scenario of a run as text (``bell(mA=3, ...)``, ``bilocal(bsm)``), or "" if it has none."""
    g = f.get(L.SCENARIO)
    if not isinstance(g, h5py.Group) or L.SCENARIO_JSON not in g.attrs:
        return ""
    raw = _attr_str(g.attrs, L.SCENARIO_JSON)
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError):
        return shown(raw, 60)
    return _scenario_text(obj) if obj else ""


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
        if "network_lower_quantiles" in summary:
            return (
                f"{n} points; network-nonlocal (certified) {_pct(summary.get('fraction_network_nonlocal'))}, "
                f"network-local model {_pct(summary.get('fraction_network_local'))}, "
                f"max gap {summary.get('network_max_gap', math.nan):.2g}"
            )
        if "nl_mean" in summary:
            return f"{n} points; local {_pct(summary.get('fraction_local'))}, mean NL {summary['nl_mean']:.4g}"
        return f"{n} points"
    return ""


def inspect_run(path: str | os.PathLike) -> RunInfo:
    """Describe one file from its root attributes; never raises for a bad file (it becomes foreign/corrupt).

    Every field is display-safe (``runs.files._untrusted.shown``): the file's strings are escaped and cut.
    """
    path = Path(path)
    rid = shown(path.stem, 80)
    try:
        with open_readonly(path) as (f, locked):
            a = f.attrs
            kind = _attr_str(a, L.KIND, limit=40)
            if not kind or L.STATUS not in a:
                return RunInfo(path, rid, "-", FOREIGN, "", "", "", "HDF5 file without bellscope run attributes")
            status = _attr_str(a, L.STATUS, limit=40)
            try:
                summary = json.loads(_attr_str(a, L.SUMMARY, "{}"))
                if not isinstance(summary, dict):
                    summary = {}
            except (json.JSONDecodeError, RecursionError):
                summary = {}
            try:
                head = shown(headline_of(kind, summary), HEADLINE_CHARS)
            except (TypeError, ValueError, KeyError):  # a summary of the wrong types: no headline, not a crash
                head = ""
            note = ""
            if status == L.STATUS_RUNNING:
                rows = np.asarray(a.get(L.ROWS_COMPLETE, -1))
                note = "open by a writer" if locked else "not open: killed, or written by another host"
                if rows.shape == () and rows.dtype.kind in "iu" and kind == L.KIND_DATASET:
                    head = head or f"{int(rows)} rows so far"
                note += f"; updated {_attr_str(a, L.UPDATED, limit=40)}"
            elif status == L.STATUS_FAILED:
                note = shown(summary["error"], HEADLINE_CHARS) if isinstance(summary.get("error"), str) else ""
            if kind not in L.KINDS:
                note = (note + "; " if note else "") + f"unknown kind {kind!r} (newer bellscope?)"
            return RunInfo(path, rid, kind, status, _attr_str(a, L.CREATED, limit=40), scenario_label(f), head, note)
    except ValueError as e:
        return RunInfo(path, rid, "-", CORRUPT, "", "", "", shown(str(e).split(": ", 1)[-1], HEADLINE_CHARS))
    except Exception as e:  # noqa: BLE001 - a listing must survive any one bad file
        return RunInfo(path, rid, "-", CORRUPT, "", "", "", _short(e))


def resolve_run(arg: str | os.PathLike) -> Path:
    """The run file ``arg`` names: a path as given when it exists, else the id ``runs ls`` prints (the file name
    without suffix) looked up as ``ID.h5`` / ``ID.hdf5`` in the current folder, then in ``bellscope-results/``.
    A name found nowhere is returned as given, so the reader's "no such file" names what the user typed."""
    p = Path(arg)
    if p.exists() or p.is_symlink() or p.suffix.lower() in RUN_SUFFIXES or len(p.parts) != 1:
        return p
    for folder in (Path("."), Path(L.DEFAULT_RUNS_DIR)):
        for suffix in RUN_SUFFIXES:
            q = folder / f"{p.name}{suffix}"
            if q.is_file():
                return q
    return p


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
    """One group, data set or link of a run file, for ``runs show``'s tree.

    ``link`` is ``""`` for a stored object, else ``"soft -> TARGET"`` / ``"external -> FILE:PATH"``: links are shown,
    never followed (a loop, or another file chosen by the writer). A hard link back to a group already shown
    is a ``"cycle"`` with no children. All text is display-safe (``shown``), but not yet markup-escaped.
    """

    path: str
    is_group: bool
    shape: tuple[int, ...] | None
    dtype: str
    attrs: dict[str, str]
    description: str
    children: tuple["Node", ...] = ()
    link: str = ""


#: The deepest a tree is walked and the most children shown per group (a hostile file may nest without end).
MAX_DEPTH = 32
MAX_CHILDREN = 1000


def _dtype_str(dt: np.dtype) -> str:
    names = enum_names(dt)
    if names is not None:
        return "enum(" + ", ".join(shown(names[k], 40) for k in sorted(names)) + ")"
    if h5py.check_string_dtype(dt) is not None:
        return "string"
    return shown(dt, 80)


def _attr_text(v: Any, limit: int = 10**6) -> str:
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray):
        return shown(np.array2string(v, threshold=8), limit)
    if isinstance(v, np.generic):
        v = v.item()
    return shown(v, limit)


def _attrs(obj) -> dict[str, str]:
    out: dict[str, str] = {}
    for i, k in enumerate(obj.attrs.keys()):
        if i >= MAX_CHILDREN:
            out["…"] = f"{len(obj.attrs) - MAX_CHILDREN} more attributes not shown"
            break
        if k == L.DESCRIPTION:
            continue
        try:
            out[shown(k, 80)] = _attr_text(obj.attrs[k])
        except (OSError, RuntimeError, ValueError, TypeError) as e:
            out[shown(k, 80)] = f"(unreadable: {_short(e)})"
    return out


def _link_node(parent, name: str, path: str) -> Node | None:
    link = parent.get(name, getlink=True)
    if isinstance(link, h5py.SoftLink):
        return Node(shown(path, 400), False, None, "", {}, "", (), f"soft -> {shown(link.path, 200)}")
    if isinstance(link, h5py.ExternalLink):
        return Node(shown(path, 400), False, None, "", {}, "", (), f"external -> {shown(link.filename, 200)}:{shown(link.path, 200)}")
    return None


def _node(obj, seen: set, depth: int) -> Node:
    desc = _attr_text(obj.attrs.get(L.DESCRIPTION, "")) if L.DESCRIPTION in obj.attrs else ""
    name = shown(obj.name, 400)
    if isinstance(obj, h5py.Group):
        if obj.id in seen:
            return Node(name, True, None, "", {}, desc, (), "cycle (hard link to a group above; not followed)")
        seen = seen | {obj.id}
        kids: list[Node] = []
        for i, k in enumerate(obj.keys()):
            if i >= MAX_CHILDREN:
                kids.append(Node(f"{name}/…", False, None, "", {}, f"{len(obj) - MAX_CHILDREN} more not shown"))
                break
            child_path = f"{obj.name.rstrip('/')}/{k}"
            as_link = _link_node(obj, k, child_path)
            if as_link is not None:
                kids.append(as_link)
            elif depth >= MAX_DEPTH:
                kids.append(Node(shown(child_path, 400), False, None, "", {}, f"deeper than {MAX_DEPTH} levels: not shown"))
            else:
                try:
                    kids.append(_node(obj[k], seen, depth + 1))
                except (KeyError, OSError, RuntimeError, ValueError) as e:
                    kids.append(Node(shown(child_path, 400), False, None, "", {}, f"unreadable: {_short(e)}"))
        return Node(name, True, None, "", _attrs(obj), desc, tuple(kids))
    if not desc:
        leaf = obj.name.rsplit("/", 1)[-1]
        desc = L.FIELD_DESCRIPTIONS.get(leaf, "")
    return Node(name, False, tuple(obj.shape or ()), _dtype_str(obj.dtype), _attrs(obj), desc)


def tree(f: h5py.File, path: str = "/") -> Node:
    """The node at ``path`` and everything below it (raises ``KeyError`` if there is none, ``ValueError`` if the
    path goes through a soft or external link)."""
    kind = link_kind(f, path) if path.strip("/") else "hard"
    if kind is None:
        raise KeyError(path)
    if kind != "hard":
        raise ValueError(f"{shown(path)} goes through {'an' if kind == 'external' else 'a'} {kind} link; bellscope does not follow links")
    return _node(f[path], set(), 0)


def preview(f: h5py.File, path: str, rows: int = 5, where: str = "") -> dict[str, Any]:
    """The first ``rows`` rows of a data set (enum codes shown by name) and a summary of its committed rows.

    Returns ``{"path", "shape", "dtype", "rows_valid", "head": list, "summary": {...}}``; the summary holds
    count / NaN count / min / mean / max for numbers, counts per name for enums, counts for booleans. A data set
    larger than ``runs.files._readonly.MAX_READ_BYTES`` is refused (``ValueError``) before it is read.
    """
    where = where or shown(f.filename)
    ds = dataset_at(f, path, where)
    if ds is None:
        raise KeyError(path)
    n = committed_rows(f, ds, where) if ds.shape else 0
    names = enum_names(ds.dtype)
    out: dict[str, Any] = {"path": shown(ds.name, 400), "shape": list(ds.shape or ()), "dtype": _dtype_str(ds.dtype), "rows_valid": n}
    check_size(ds, n if ds.shape else None, where)
    if not ds.shape:
        v = ds[()]
        out["head"] = shown(v, 10**4) if isinstance(v, (bytes, str)) else np.asarray(v).tolist()
        out["summary"] = {}
        return out
    data = ds[:n]
    head = data[:rows]
    if names is not None:
        out["head"] = [names.get(int(c), str(int(c))) for c in np.asarray(head).ravel()]
        codes, counts = np.unique(np.asarray(data).astype(np.int64), return_counts=True)
        out["summary"] = {"counts": {names.get(int(c), str(int(c))): int(k) for c, k in zip(codes, counts)}}
        return out
    if data.dtype.kind in "SOU" or h5py.check_string_dtype(ds.dtype) is not None:
        dec = [shown(x, 200) for x in np.asarray(data).ravel()]
        out["head"] = dec[:rows]
        vals, counts = np.unique(dec, return_counts=True) if dec else ([], [])
        out["summary"] = {"counts": {str(v): int(c) for v, c in zip(vals, counts)}} if len(vals) <= 20 else {"distinct": len(vals)}
        return out
    if data.dtype.kind not in "fiub":  # compound, opaque, references: shown by shape and dtype only
        out["head"] = f"({_dtype_str(ds.dtype)}: not previewed)"
        out["summary"] = {}
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

