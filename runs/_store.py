"""The HDF5 run store: create a self-describing run file, append flushed chunks, mark it complete or failed.

Never pickles: arrays are HDF5 data sets, everything else is JSON in attributes. A run file is created with mode
``"w-"`` (an existing file is never overwritten) and appended chunk by chunk, each chunk followed by a flush, so a
process killed at any moment (SIGKILL included) leaves a readable file whose first ``rows_complete`` rows are valid.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import socket
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from . import _layout as L

__all__ = [
    "provenance",
    "create_run",
    "open_run",
    "ensure_data",
    "append_rows",
    "truncate",
    "read_data",
    "set_status",
    "read_config",
]

_PACKAGES = (
    "bellscope", "numpy", "scipy", "h5py", "highspy", "cvxpy", "jax", "jaxlib", "equinox", "optax", "nevergrad",
    "dask", "distributed", "typer", "rich", "matplotlib",
)
_REPO = Path(__file__).resolve().parent.parent


#: Monotonic start time of this process's session on each open run file (keyed by file name): ``set_status``
#: adds the session's duration to the root attr ``wall_seconds`` when the run completes or fails, so a resumed
#: run's wall time counts only the time spent computing, not the time it lay interrupted.
_SESSION_START: dict[str, float] = {}


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "--no-optional-locks", *args], cwd=_REPO, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def provenance(argv: list[str] | None = None) -> dict[str, Any]:
    """Git sha and dirty flag (read-only git calls), package versions, JAX backend and x64 flag, Python, argv, host."""
    sha = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no")
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    try:
        import jax

        backend = jax.default_backend()
        x64 = "true" if jax.config.read("jax_enable_x64") else "false"
    except Exception as e:  # pragma: no cover - jax is a dependency
        backend, x64 = f"unavailable: {e}", "unknown"
    return {
        L.GIT_SHA: sha or "unknown",
        L.GIT_DIRTY: "unknown" if status is None else ("true" if status else "false"),
        L.PACKAGES: json.dumps(versions, sort_keys=True),
        L.JAX_BACKEND: backend,
        L.JAX_X64: x64,
        L.HOSTNAME_CPUS: os.cpu_count() or 0,
        L.PYTHON: f"{platform.python_implementation()} {platform.python_version()}",
        L.ARGV: json.dumps(list(sys.argv if argv is None else argv)),
        L.HOSTNAME: socket.gethostname(),
        L.RESUMES: "[]",
    }


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
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} already exists (use --resume to continue it, or choose another --out)")
    f = h5py.File(path, "w-")
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


def open_run(path: str | os.PathLike, kind: str, argv: list[str] | None = None) -> h5py.File:
    """Open an existing run file for appending (``--resume``); records the resume in the provenance."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: nothing to resume (drop --resume to start it)")
    try:
        f = h5py.File(path, "r+")
    except OSError as e:
        raise ValueError(f"{path} is not a readable HDF5 run file: {e}") from None
    if f.attrs.get(L.KIND) != kind:
        f.close()
        raise ValueError(f"{path} is not a {kind} run (kind={f.attrs.get(L.KIND)!r})")
    g = f[L.PROVENANCE]
    resumes = json.loads(g.attrs.get(L.RESUMES, "[]"))
    resumes.append({"time": _now(), "argv": list(sys.argv if argv is None else argv)})
    g.attrs[L.RESUMES] = json.dumps(resumes)
    _SESSION_START[f.filename] = time.monotonic()
    return f


def read_config(f: h5py.File) -> tuple[str, str]:
    g = f[L.CONFIG]
    return str(g.attrs[L.CONFIG_JSON]), str(g.attrs[L.CONFIG_HASH])


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


def read_data(f: h5py.File, fields) -> dict[str, np.ndarray]:
    """The valid rows of every field (plain numpy arrays; status enums as their integer codes)."""
    rows = int(f.attrs[L.ROWS_COMPLETE])
    out = {}
    for field in fields:
        ds = f[L.data_path(field)]
        a = ds[:rows]
        out[field] = a.astype(np.uint8) if h5py.check_enum_dtype(ds.dtype) else a
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
