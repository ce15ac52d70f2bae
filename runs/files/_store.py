"""The HDF5 run store: create a self-describing run file, append flushed chunks, mark it complete or failed.

What the file records about its writer is ``_provenance``; the free-space check and the guard that marks a run
failed on any early exit are ``_write_guard``.

Never pickles: arrays are HDF5 data sets, everything else is JSON in attributes. A run file is created with mode
``"w-"`` (an existing file is never overwritten) and appended chunk by chunk, each chunk followed by a flush, so a
process killed at any moment (SIGKILL included) leaves a readable file whose first ``rows_complete`` rows are valid.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from runs.files import _layout as L
from runs.files._provenance import provenance  # create_run calls it by this module's name (tests patch it here)
from runs.files._write_guard import check_space

__all__ = [
    "create_run",
    "open_run",
    "ensure_data",
    "append_rows",
    "truncate",
    "read_data",
    "set_status",
    "read_config",
    "check_out_path",
]

#: Monotonic start time of this process's session on each open run file (keyed by file name): ``set_status``
#: adds the session's duration to the root attr ``wall_seconds`` when the run completes or fails, so a resumed
#: run's wall time counts only the time spent computing, not the time it lay interrupted.
_SESSION_START: dict[str, float] = {}


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _text(v) -> str | None:
    """An HDF5 string attribute as ``str`` (h5py may hand back bytes)."""
    return v.decode() if isinstance(v, bytes) else (None if v is None else str(v))


def check_out_path(path: str | os.PathLike) -> Path:
    """Refuse an output path that cannot become a new run file, before anything is computed or written.

    Raises ``FileExistsError`` (exists; a directory is named as such) or ``ValueError`` (missing parent folder,
    or a parent that is not a folder).
    """
    path = Path(path)
    if path.is_dir():
        raise FileExistsError(f"{path} is a directory; --out names the run file to create, e.g. {path / 'run.h5'}")
    if path.exists():
        raise FileExistsError(f"{path} already exists (use --resume to continue it, or choose another --out)")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.exists():
        raise ValueError(f"folder {parent} does not exist; create it first (bellscope does not create folders)")
    if not parent.is_dir():
        raise ValueError(f"{parent} is not a folder")
    return path


def create_run(
    path: str | os.PathLike,
    kind: str,
    config_json: str,
    config_hash: str,
    seed: int,
    seed_derivation: str,
    scenario_json: str,
    argv: list[str] | None = None,
) -> h5py.File:
    """Create a new run file (mode ``"w-"``: raises ``FileExistsError`` if it exists) and return it open."""
    path = check_out_path(path)
    try:
        f = h5py.File(path, "w-")
    except OSError as e:
        raise ValueError(f"cannot create {path}: {_os_reason(e)}") from None
    now = _now()
    f.attrs[L.KIND] = kind
    f.attrs[L.SCHEMA] = L.SCHEMA_VERSION
    f.attrs[L.STATUS] = L.STATUS_RUNNING
    f.attrs[L.SUMMARY] = "{}"
    f.attrs[L.CREATED] = now
    f.attrs[L.UPDATED] = now
    f.attrs[L.ROWS_COMPLETE] = 0
    f.attrs[L.CHUNKS_COMPLETE] = 0
    f.attrs[L.WALL_SECONDS] = 0.0
    _SESSION_START[f.filename] = time.monotonic()
    g = f.create_group(L.PROVENANCE)
    for k, v in provenance(argv).items():
        g.attrs[k] = v
    g = f.create_group(L.CONFIG)
    g.attrs[L.CONFIG_JSON] = config_json
    g.attrs[L.CONFIG_HASH] = config_hash
    g = f.create_group(L.SEEDS)
    g.attrs[L.SEED_MASTER] = np.uint64(seed)
    g.attrs[L.SEED_DERIVATION] = seed_derivation
    g = f.create_group(L.SCENARIO)
    g.attrs[L.SCENARIO_JSON] = scenario_json
    f.flush()
    return f


def _os_reason(e: OSError) -> str:
    """The useful part of an h5py ``OSError`` (its errno text, without HDF5's internal call chain)."""
    text = str(e)
    if "error message = '" in text:
        return text.split("error message = '", 1)[1].split("'", 1)[0]
    return e.strerror or text.split("(", 1)[0].strip() or type(e).__name__


def open_run(
    path: str | os.PathLike, kind: str, argv: list[str] | None = None, *, config_hash: str | None = None
) -> h5py.File:
    """Open an existing run file for appending (``--resume``) and record the resume in its provenance.

    Every check runs on a read-only handle first -- a bellscope run file of this ``kind`` with its ``/config`` and
    ``/provenance`` groups and, when ``config_hash`` is given, the same configuration -- so a refused resume
    (``ValueError``; ``FileNotFoundError`` when there is no file) leaves the file byte-identical.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: nothing to resume (drop --resume to start it)")
    if path.is_dir():
        raise ValueError(f"{path} is a directory, not a run file")
    try:
        ro = h5py.File(path, "r")
    except OSError as e:
        raise ValueError(f"{path} is not a readable HDF5 file ({_os_reason(e)})") from None
    with ro:
        found = _text(ro.attrs.get(L.KIND))
        if found is None:
            raise ValueError(f"{path} has no {L.KIND!r} attribute: not a bellscope run file, nothing to resume")
        if found != kind:
            raise ValueError(f"{path} is a bellscope {found!r} run, not a {kind!r} run")
        for group in (L.PROVENANCE, L.CONFIG):
            if not isinstance(ro.get(group), h5py.Group):
                raise ValueError(f"{path} lacks its /{group} group: not a complete bellscope run file")
        stored_json, stored_hash = read_config(ro)
        if config_hash is not None and stored_hash != config_hash:
            raise ValueError(
                f"{path} was made with a different configuration ({stored_json}); --resume needs the same arguments"
            )
    try:
        f = h5py.File(path, "r+")
    except OSError as e:
        raise ValueError(f"cannot open {path} for writing ({_os_reason(e)})") from None
    g = f[L.PROVENANCE]
    resumes = json.loads(g.attrs.get(L.RESUMES, "[]"))
    resumes.append({"time": _now(), "argv": list(sys.argv if argv is None else argv)})
    g.attrs[L.RESUMES] = json.dumps(resumes)
    _SESSION_START[f.filename] = time.monotonic()
    return f


def read_config(f: h5py.File) -> tuple[str, str]:
    """``(config JSON, its sha256)``; ``ValueError`` when a run file lacks them."""
    g = f.get(L.CONFIG)
    if not isinstance(g, h5py.Group) or L.CONFIG_JSON not in g.attrs or L.CONFIG_HASH not in g.attrs:
        raise ValueError(f"{f.filename} has no /{L.CONFIG} attributes {L.CONFIG_JSON!r}, {L.CONFIG_HASH!r}")
    return _text(g.attrs[L.CONFIG_JSON]), _text(g.attrs[L.CONFIG_HASH])


def _status_enum(names) -> np.dtype:
    return h5py.enum_dtype({name: i for i, name in enumerate(names)}, basetype="u1")


def ensure_data(
    f: h5py.File,
    fields: dict[str, tuple[np.dtype, tuple[int, ...]]],
    chunk_rows: int,
    status_names: tuple[str, ...] = (),
    class_names: tuple[str, ...] = (),
) -> None:
    """Create the resizable data sets of ``fields`` (field -> (dtype, per-row shape)) if they do not exist yet."""
    for field, (dtype, shape) in fields.items():
        path = L.data_path(field)
        if path in f:
            continue
        if field.endswith("_status") and status_names:
            dtype = _status_enum(status_names)
        rows = max(1, min(int(chunk_rows), 4096))
        ds = f.create_dataset(
            path, shape=(0, *shape), maxshape=(None, *shape), dtype=dtype, chunks=(rows, *shape)
        )
        if field in L.FIELD_DESCRIPTIONS:
            ds.attrs[L.DESCRIPTION] = L.FIELD_DESCRIPTIONS[field]
        if field == "class" and class_names:
            ds.attrs[L.CLASS_NAMES] = json.dumps(list(class_names))
    f.flush()


def append_rows(f: h5py.File, arrays: dict[str, np.ndarray], chunks_complete: int) -> int:
    """Append one chunk's arrays at row ``rows_complete``, flush, then commit the new row count and flush again.

    A kill before the second flush leaves rows past ``rows_complete``; ``truncate`` removes them on resume.
    Returns the new ``rows_complete``.
    """
    check_space(f, arrays)
    start = int(f.attrs[L.ROWS_COMPLETE])
    k = {len(a) for a in arrays.values()}
    if len(k) != 1:
        raise ValueError(f"chunk arrays of different lengths: { {n: len(a) for n, a in arrays.items()} }")
    k = k.pop()
    for field, a in arrays.items():
        ds = f[L.data_path(field)]
        ds.resize(start + k, axis=0)
        ds[start : start + k] = a
    f.flush()
    f.attrs[L.ROWS_COMPLETE] = start + k
    f.attrs[L.CHUNKS_COMPLETE] = int(chunks_complete)
    f.attrs[L.UPDATED] = _now()
    f.flush()
    return start + k


def truncate(f: h5py.File, fields) -> int:
    """Cut every data set back to ``rows_complete`` rows (drops a half-written chunk); returns that count."""
    rows = int(f.attrs[L.ROWS_COMPLETE])
    for field in fields:
        path = L.data_path(field)
        if path in f and f[path].shape[0] != rows:
            f[path].resize(rows, axis=0)
    f.flush()
    return rows


def read_data(f: h5py.File, fields, status_names: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """The committed rows (``rows_complete``) of every field, as plain numpy arrays.

    An HDF5 enum field (label statuses) is read through the file's own enum names: with ``status_names`` its
    values come back as indices into ``status_names`` whatever codes the file used (a file written before the
    names were reordered still reads correctly; a name unknown to ``status_names`` raises ``ValueError``);
    without, as the file's codes.
    """
    rows = int(f.attrs[L.ROWS_COMPLETE])
    out = {}
    for field in fields:
        ds = f[L.data_path(field)]
        a = ds[:rows]
        names = h5py.check_enum_dtype(ds.dtype)
        if names is not None:
            a = np.asarray(a, dtype=np.int64)
            if status_names:
                lut = np.zeros(max(names.values(), default=0) + 1, dtype=np.uint8)
                for name, code in names.items():
                    if name not in status_names:
                        raise ValueError(f"{f.filename}: {field} holds status {name!r}, unknown to this version")
                    lut[code] = status_names.index(name)
                a = lut[a]
            out[field] = a.astype(np.uint8)
        else:
            out[field] = a
    return out


def set_status(f: h5py.File, status: str, summary: dict[str, Any] | None = None) -> None:
    """Set the root ``status`` (and ``summary``); on complete / failed also add this session's ``wall_seconds``."""
    if status in (L.STATUS_COMPLETE, L.STATUS_FAILED) and f.filename in _SESSION_START:
        spent = time.monotonic() - _SESSION_START.pop(f.filename)
        f.attrs[L.WALL_SECONDS] = float(f.attrs.get(L.WALL_SECONDS, 0.0)) + spent
    elif status == L.STATUS_RUNNING:
        _SESSION_START.setdefault(f.filename, time.monotonic())
    f.attrs[L.STATUS] = status
    if summary is not None:
        f.attrs[L.SUMMARY] = json.dumps(summary, sort_keys=True, default=_json_default)
    f.attrs[L.UPDATED] = _now()
    f.flush()


def _json_default(x):
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    raise TypeError(f"not JSON serialisable: {type(x)}")
