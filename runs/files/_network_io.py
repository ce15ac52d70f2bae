"""Reading network behaviours (docs/networks.md) from the JSON interchange form; ``bellscope certify`` prints
their certified interval (runs/cli/_cmd_certify.py).

The form: ``{"scenario": {"kind": "network", "parties": {"A": {"settings": 1, "outcomes": 2}, ...},
"sources": [["B", "C"], ...]}, "p": [...]}`` with ``p[a, b, c, ..., x, y, z, ...]`` (outcomes first, then settings,
parties in the listed order), or a batch of such arrays on a leading axis.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from runs.files._io import MAX_JSON_BYTES
from runs.files._untrusted import shown

__all__ = ["is_network_file", "load_network_behaviours"]


def is_network_file(path: Path) -> bool:
    """True for a readable ``.json`` file whose ``scenario`` has ``"kind": "network"`` (anything else: False, and
    the usual loader reports what is wrong with it)."""
    path = Path(path)
    if path.suffix.lower() != ".json" or not path.is_file() or path.stat().st_size > MAX_JSON_BYTES:
        return False
    try:
        obj = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError, RecursionError, OSError):
        return False
    return isinstance(obj, dict) and isinstance(obj.get("scenario"), dict) and obj["scenario"].get("kind") == "network"


def load_network_behaviours(path: Path) -> list:
    """The behaviours of a network JSON file, validated; ``ValueError`` (one line, prefixed by the path)."""
    from bellcore import network_behaviour, network_from_json

    obj = json.loads(Path(path).read_text())
    extra = sorted(set(obj) - {"scenario", "p"})
    if extra:
        raise ValueError(f"{shown(str(path))}: unknown field(s) {', '.join(repr(shown(k, 40)) for k in extra[:10])}; "
                         "expected 'scenario' and 'p'")
    if "p" not in obj:
        raise ValueError(f"{path}: missing 'p'")
    try:
        sc = network_from_json(obj["scenario"])
        arr = np.asarray(obj["p"])
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"{path}: 'p' must be nested lists of numbers; got elements of type {arr.dtype}")
    arr = arr.astype(np.float64)
    batch = arr.reshape((-1,) + sc.shape) if arr.ndim == len(sc.shape) + 1 and arr.shape[1:] == sc.shape else arr[None]
    out = []
    for i, p in enumerate(batch):
        try:
            out.append(network_behaviour(p, sc))
        except ValueError as e:
            where = f" (behaviour {i})" if len(batch) > 1 else ""
            raise ValueError(f"{path}: {e}{where}") from None
    return out
