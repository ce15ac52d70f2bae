"""Reading behaviours from the interchange formats (``docs/run-files.md``): ``.npy``, ``.json`` and ``.h5``."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from bellcore import Behaviour, real_array, scenario_from_json

from runs.files import _layout as layout
from runs.files._readonly import MAX_READ_BYTES, check_size, dataset_at, open_readonly, read_rows, regular_file
from runs.files._untrusted import shown

__all__ = ["load_behaviours", "IncompleteRunWarning"]


class IncompleteRunWarning(UserWarning):
    """A run file read before its run completed: only its committed rows are used."""


def load_behaviours(path: str | Path, *, validate: bool = True) -> Behaviour:
    """Load one behaviour or a batch from a file; raises ``ValueError`` with a one-line reason.

    - ``.npy``: a bare numeric array (float64, float32, integer; never complex); the
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
    path = regular_file(path, "behaviour file (.npy, .json or .h5)")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        beh = _load_npy(path)
    elif suffix == ".json":
        beh = _load_json(path)
    elif suffix in (".h5", ".hdf5"):
        beh = _load_h5(path)
    else:
        raise ValueError(f"{shown(str(path))}: unknown file type {shown(suffix, 20)!r}; expected .npy, .json or .h5")
    if beh.is_batch and 0 in beh.batch_shape:
        raise ValueError(f"{shown(str(path))}: an empty batch (shape {tuple(np.shape(beh.p))}): no behaviours to read")
    if validate:
        try:
            beh.validate()
        except ValueError as e:
            raise ValueError(f"{shown(str(path))}: {e}") from None
    return beh


def _behaviour(arr: np.ndarray, scenario, where: str) -> Behaviour:
    try:  # the size check comes before anything scales with the number of deterministic points
        return Behaviour(arr, scenario.check_enumerable() if scenario is not None else None)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None


def _npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """``(shape, dtype, data offset)`` from a .npy header, read without touching the data."""
    with open(path, "rb") as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version in ((2, 0), (3, 0)):
            shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise ValueError(f"unsupported .npy version {version}")
        return tuple(shape), np.dtype(dtype), fh.tell()


def _load_npy(path: Path) -> Behaviour:
    try:
        shape, dtype, offset = _npy_header(path)
    except (ValueError, EOFError, OSError, SyntaxError, TypeError) as e:
        raise ValueError(f"{shown(str(path))}: not a readable .npy array ({shown(str(e) or type(e).__name__, 120)})") from None
    if dtype.hasobject:
        raise ValueError(f"{shown(str(path))}: a .npy of Python objects; bellscope reads numeric arrays only")
    # A header of a few bytes can declare 10^12 rows: compare with what the file holds before numpy allocates.
    declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
    held = path.stat().st_size - offset
    if declared > held:
        raise ValueError(f"{shown(str(path))}: the .npy header declares shape {shape} ({declared} bytes) but the file "
                         f"holds {held} bytes (truncated or damaged)")
    if declared > MAX_READ_BYTES:
        raise ValueError(f"{shown(str(path))}: {declared / 2**30:.3g} GiB of behaviours; bellscope reads at most "
                         f"{MAX_READ_BYTES / 2**30:.3g} GiB at once (split the file)")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, EOFError, OSError) as e:
        raise ValueError(f"{shown(str(path))}: not a readable .npy array ({shown(str(e) or type(e).__name__, 120)})") from None
    if not isinstance(arr, np.ndarray):
        raise ValueError(f"{shown(str(path))}: not a single .npy array")
    return _behaviour(real_array(arr, shown(str(path))), None, shown(str(path)))


#: The largest .json behaviour file read (JSON costs ~20x its size in memory while parsed).
MAX_JSON_BYTES = 256 * 2**20

#: Optional fields of the JSON interchange, written by ``bellscope runs export`` and ignored when reading behaviours.
EXPORT_FIELDS = ("labels", "source")


def _load_json(path: Path) -> Behaviour:
    where = shown(str(path))
    size = path.stat().st_size
    if size > MAX_JSON_BYTES:
        raise ValueError(f"{shown(str(path))}: {size / 2**20:.0f} MiB of JSON; bellscope reads at most "
                         f"{MAX_JSON_BYTES / 2**20:.0f} MiB (use .npy or .h5 for large batches)")
    try:
        obj = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{where}: invalid JSON ({shown(e, 120)})") from None
    except RecursionError:
        raise ValueError(f"{where}: JSON nested too deeply (a behaviour has at most 7 axes)") from None
    if not isinstance(obj, dict) or "p" not in obj:
        raise ValueError(f"{where}: expected an object {{\"scenario\": {{...}}, \"p\": [...]}}")
    # "labels" and "source" are what ``bellscope runs export`` writes beside p (certified values, statuses, the file
    # they came from); certify does not read them, but they must be objects. Anything else is a typo and refused.
    extra = sorted(set(obj) - {"scenario", "p"} - set(EXPORT_FIELDS))
    if extra:
        raise ValueError(f"{where}: unknown field(s) {', '.join(repr(shown(k, 40)) for k in extra[:10])}; expected 'scenario' and 'p' "
                         f"(and optionally {' and '.join(map(repr, EXPORT_FIELDS))})")
    for k in EXPORT_FIELDS:
        if k in obj and not isinstance(obj[k], dict):
            raise ValueError(f"{where}: {k!r} must be an object; got {type(obj[k]).__name__}")
    try:
        scenario = scenario_from_json(obj["scenario"]) if "scenario" in obj else None
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None
    try:
        arr = np.asarray(obj["p"])
    except ValueError as e:
        raise ValueError(f"{where}: 'p' is not a rectangular array of numbers ({shown(e, 120)})") from None
    if arr.dtype.kind not in "fiu":  # strings, booleans, null, ragged lists: refused, never coerced
        raise ValueError(f"{where}: 'p' must be nested lists of numbers; got elements of type {arr.dtype}")
    return _behaviour(np.asarray(arr, dtype=np.float64), scenario, str(path))


def _load_h5(path: Path) -> Behaviour:
    where = shown(str(path))
    with open_readonly(path) as (f, _):
        ds = dataset_at(f, layout.BEHAVIOURS, where)
        if ds is None:
            raise ValueError(f"{where}: no /{layout.BEHAVIOURS} dataset")
        src, text = None, None
        if layout.SCENARIO in f and layout.SCENARIO_JSON in f[layout.SCENARIO].attrs:
            src, text = f"/{layout.SCENARIO} attribute {layout.SCENARIO_JSON!r}", f[layout.SCENARIO].attrs[layout.SCENARIO_JSON]
        elif "scenario" in ds.attrs:
            src, text = f"/{layout.BEHAVIOURS} attribute 'scenario'", ds.attrs["scenario"]
        elif "scenario" in f.attrs:
            src, text = "root attribute 'scenario'", f.attrs["scenario"]
        scenario = None
        if src is not None:
            try:
                scenario = scenario_from_json(json.loads(text if isinstance(text, str) else bytes(text).decode()))
            except (ValueError, TypeError, RecursionError) as e:
                raise ValueError(f"{where}: {src} is not a valid scenario ({shown(e, 120)})") from None
        if layout.ROWS_COMPLETE in f.attrs:  # a bellscope run file: committed rows only
            status = shown(f.attrs.get(layout.STATUS, ""), 40)
            arr = read_rows(f, ds, where)
            if status != layout.STATUS_COMPLETE:
                warnings.warn(
                    f"{where}: run status is {status!r}, not complete; reading its {len(arr)} committed rows",
                    IncompleteRunWarning,
                    stacklevel=3,
                )
            if len(arr) == 0:
                raise ValueError(f"{where}: the run has no committed rows yet (status {status!r})")
        else:
            if ds.dtype.kind not in "fiubc":
                raise ValueError(f"{where}: /{layout.BEHAVIOURS} has dtype {shown(ds.dtype)}, not numbers")
            check_size(ds, None, where)
            arr = ds[()]
        return _behaviour(real_array(np.asarray(arr), where), scenario, where)
