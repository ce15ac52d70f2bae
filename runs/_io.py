"""Reading behaviours from the interchange formats of DESIGN.md: ``.npy``, ``.json`` and ``.h5``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bellcore import Behaviour, scenario_from_json

__all__ = ["load_behaviours"]


def load_behaviours(path: str | Path) -> Behaviour:
    """Load one behaviour or a batch from a file; raises ``ValueError`` with a one-line reason.

    - ``.npy``: a bare array; the scenario is inferred from its shape (``bellcore.infer_scenario``).
    - ``.json``: ``{"scenario": {...}, "p": nested lists}`` (``p`` may hold a batch).
    - ``.h5`` / ``.hdf5``: the dataset ``/behaviours`` of a bellscope dataset or run file; the scenario is
      read from the JSON attribute ``scenario`` of the dataset or of the file root, else inferred.
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
            if "behaviours" not in f:
                raise ValueError(f"{path}: no /behaviours dataset")
            ds = f["behaviours"]
            arr = np.asarray(ds[...], dtype=np.float64)
            sc_attr = ds.attrs.get("scenario", f.attrs.get("scenario"))
            scenario = scenario_from_json(json.loads(sc_attr)) if sc_attr is not None else None
            return Behaviour(arr, scenario)
    raise ValueError(f"{path}: unknown file type {suffix!r}; expected .npy, .json or .h5")
