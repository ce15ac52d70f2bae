"""Reading behaviours from the interchange formats (``docs/run-files.md``): ``.npy``, ``.json`` and ``.h5``."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from bellcore import Behaviour, as_behaviour, real_array, scenario_from_json

from . import _layout as layout

__all__ = ["load_behaviours", "IncompleteRunWarning"]


class IncompleteRunWarning(UserWarning):
    """A run file read before its run completed: only its committed rows are used."""


def load_behaviours(path: str | Path, *, validate: bool = True) -> Behaviour:
    """Load one behaviour or a batch from a file; raises ``ValueError`` with a one-line reason.

    - ``.npy``: a bare numeric array (float64, float32, integer; complex only with a zero imaginary part); the
      scenario is inferred from its shape (``bellcore.infer_scenario``).
    - ``.json``: exactly ``{"scenario": {...}, "p": nested lists of numbers}`` (``p`` may hold a batch; strict:
      no strings for numbers, no unknown fields).
    - ``.h5`` / ``.hdf5``: the dataset ``/behaviours``; the scenario from the run layout (``/scenario`` attr
      ``json``), else a JSON attribute ``scenario`` on the dataset or the root (files written by other tools),
      else inferred from the shape. In a bellscope run file only the first ``rows_complete`` rows are read, with
      an ``IncompleteRunWarning`` when the run's status is not ``complete``.

    The array keeps its precision, so ``validate`` (on by default) checks it at ``bellcore.default_tolerance``
    of its dtype (1e-5 for float32, 1e-9 for float64).
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"no such file: {path}")
    if path.is_dir():
        raise ValueError(f"{path} is a directory, not a file")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        beh = _load_npy(path)
    elif suffix == ".json":
        beh = _load_json(path)
    elif suffix in (".h5", ".hdf5"):
        beh = _load_h5(path)
    else:
        raise ValueError(f"{path}: unknown file type {suffix!r}; expected .npy, .json or .h5")
    if validate:
        try:
            beh.validate()
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None
    return beh


def _behaviour(arr: np.ndarray, scenario, where: str) -> Behaviour:
    try:  # the size check comes before anything scales with the number of deterministic points
        return Behaviour(arr, scenario.check_enumerable() if scenario is not None else None)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None


def _load_npy(path: Path) -> Behaviour:
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, EOFError, OSError) as e:
        raise ValueError(f"{path}: not a readable .npy array ({str(e) or type(e).__name__})") from None
    if not isinstance(arr, np.ndarray):
        raise ValueError(f"{path}: not a single .npy array")
    return _behaviour(real_array(arr, str(path)), None, str(path))


#: Optional fields of the JSON interchange, written by ``bellscope runs export`` and ignored when reading behaviours.
EXPORT_FIELDS = ("labels", "source")


def _load_json(path: Path) -> Behaviour:
    try:
        obj = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: invalid JSON ({e})") from None
    except RecursionError:
        raise ValueError(f"{path}: JSON nested too deeply (a behaviour has at most 7 axes)") from None
    if not isinstance(obj, dict) or "p" not in obj:
        raise ValueError(f"{path}: expected an object {{\"scenario\": {{...}}, \"p\": [...]}}")
    # "labels" and "source" are what ``bellscope runs export`` writes beside p (certified values, statuses, the file
    # they came from); certify does not read them, but they must be objects. Anything else is a typo and refused.
    extra = sorted(set(obj) - {"scenario", "p"} - set(EXPORT_FIELDS))
    if extra:
        raise ValueError(f"{path}: unknown field(s) {', '.join(map(repr, extra))}; expected 'scenario' and 'p' "
                         f"(and optionally {' and '.join(map(repr, EXPORT_FIELDS))})")
    for k in EXPORT_FIELDS:
        if k in obj and not isinstance(obj[k], dict):
            raise ValueError(f"{path}: {k!r} must be an object; got {type(obj[k]).__name__}")
    try:
        scenario = scenario_from_json(obj["scenario"]) if "scenario" in obj else None
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    try:
        arr = np.asarray(obj["p"])
    except ValueError as e:
        raise ValueError(f"{path}: 'p' is not a rectangular array of numbers ({e})") from None
    if arr.dtype.kind not in "fiu":  # strings, booleans, null, ragged lists: refused, never coerced
        raise ValueError(f"{path}: 'p' must be nested lists of numbers; got elements of type {arr.dtype}")
    return _behaviour(np.asarray(arr, dtype=np.float64), scenario, str(path))


def _load_h5(path: Path) -> Behaviour:
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ValueError(f"{path}: not a readable HDF5 file ({e})") from None
    with f:
        ds = f.get(layout.BEHAVIOURS)
        if ds is None:
            raise ValueError(f"{path}: no /{layout.BEHAVIOURS} dataset")
        if not isinstance(ds, h5py.Dataset):
            raise ValueError(f"{path}: /{layout.BEHAVIOURS} is a {type(ds).__name__.lower()}, not a dataset")
        where, text = None, None
        if layout.SCENARIO in f and layout.SCENARIO_JSON in f[layout.SCENARIO].attrs:
            where, text = f"/{layout.SCENARIO} attribute {layout.SCENARIO_JSON!r}", f[layout.SCENARIO].attrs[layout.SCENARIO_JSON]
        elif "scenario" in ds.attrs:
            where, text = f"/{layout.BEHAVIOURS} attribute 'scenario'", ds.attrs["scenario"]
        elif "scenario" in f.attrs:
            where, text = "root attribute 'scenario'", f.attrs["scenario"]
        scenario = None
        if where is not None:
            try:
                scenario = scenario_from_json(json.loads(text if isinstance(text, str) else bytes(text).decode()))
            except (ValueError, TypeError, RecursionError) as e:
                raise ValueError(f"{path}: {where} is not a valid scenario ({e})") from None
        rows = ds.shape[0] if ds.ndim else 0
        if layout.ROWS_COMPLETE in f.attrs:  # a bellscope run file: committed rows only
            rows = int(f.attrs[layout.ROWS_COMPLETE])
            status = f.attrs.get(layout.STATUS)
            status = status.decode() if isinstance(status, bytes) else status
            if status != layout.STATUS_COMPLETE:
                warnings.warn(
                    f"{path}: run status is {status!r}, not complete; reading its {rows} committed rows",
                    IncompleteRunWarning,
                    stacklevel=3,
                )
            if rows == 0:
                raise ValueError(f"{path}: the run has no committed rows yet (status {status!r})")
            arr = ds[:rows]
        else:
            arr = ds[()]
        return _behaviour(real_array(np.asarray(arr), str(path)), scenario, str(path))
