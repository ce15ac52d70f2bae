"""Reading behaviours from the interchange formats of DESIGN.md: ``.npy``, ``.json`` and ``.h5``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bellcore import Behaviour, scenario_from_json

from . import _layout as layout

__all__ = ["load_behaviours"]


def load_behaviours(path: str | Path) -> Behaviour:
    """Load one behaviour or a batch from a file; raises ``ValueError`` with a one-line reason.

    - ``.npy``: a bare array; the scenario is inferred from its shape (``bellcore.infer_scenario``).
    - ``.json``: ``{"scenario": {...}, "p": nested lists}`` (``p`` may hold a batch).
    - ``.h5`` / ``.hdf5``: the dataset ``/behaviours`` of a bellscope dataset or run file; the scenario is
      read from the run layout (``/scenario`` attr ``json``), or a JSON attribute ``scenario`` on the dataset
      or the root (files written by other tools), else inferred from the shape.
    The result is not yet validated.
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"no such file: {path}")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except ValueError as e:
            raise ValueError(f"{path}: not a plain numeric .npy array ({e})") from None
        if not np.issubdtype(arr.dtype, np.number):
            raise ValueError(f"{path}: array of dtype {arr.dtype} is not numeric")
        return Behaviour(arr.astype(np.float64))
    if suffix == ".json":
        try:
            obj = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: invalid JSON ({e})") from None
        return Behaviour.from_json(obj)
    if suffix in (".h5", ".hdf5"):
        import h5py

        try:
            f = h5py.File(path, "r")
        except OSError as e:
            raise ValueError(f"{path}: not a readable HDF5 file ({e})") from None
        with f:
            if layout.BEHAVIOURS not in f:
                raise ValueError(f"{path}: no /{layout.BEHAVIOURS} dataset")
            ds = f[layout.BEHAVIOURS]
            arr = np.asarray(ds[...], dtype=np.float64)
            sc_attr = ds.attrs.get("scenario", f.attrs.get("scenario"))
            if layout.SCENARIO in f and layout.SCENARIO_JSON in f[layout.SCENARIO].attrs:
                sc_attr = f[layout.SCENARIO].attrs[layout.SCENARIO_JSON]
            scenario = scenario_from_json(json.loads(sc_attr)) if sc_attr is not None else None
            return Behaviour(arr, scenario)
    raise ValueError(f"{path}: unknown file type {suffix!r}; expected .npy, .json or .h5")
