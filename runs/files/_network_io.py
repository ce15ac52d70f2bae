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

__all__ = ["is_network_file", "load_network_behaviours", "network_scenario_named", "NAMED_NETWORKS"]

#: Networks named on the command line (``--network``); N is the number of sources (2..8).
NAMED_NETWORKS = ("triangle", "bilocal", "chainN", "starN")


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


def network_scenario_named(network: str, *, outcomes: int = 2, settings: int | None = None, variant: str = "binary"):
    """A network as ``bellscope dataset --network`` and a campaign's ``[[dataset]] network`` name it: ``triangle``
    (settings 1 unless given), ``bilocal`` (the bilocal chain of ``variant``), ``chainN`` / ``starN`` (N sources,
    settings 2 unless given), or a ``.json`` / ``.toml`` file holding a network description (the ``scenario`` object of docs/networks.md, alone or under ``"scenario"``).
    ``ValueError`` with one line otherwise."""
    import re
    import tomllib

    import bellcore as bc

    name = str(network).strip()
    m = re.fullmatch(r"(chain|star)(\d+)", name)
    if name == "triangle":
        return bc.triangle(outcomes=outcomes, settings=1 if settings is None else settings)
    if name == "bilocal":
        return bc.bilocal_network(variant)
    if m:
        n = int(m.group(2))
        if not 2 <= n <= 8:
            raise ValueError(f"network {name}: between 2 and 8 sources; got {n}")
        fn = bc.chain if m.group(1) == "chain" else bc.star
        return fn(n, outcomes=outcomes, settings=2 if settings is None else settings)
    path = Path(name)
    if path.suffix.lower() not in (".json", ".toml"):
        raise ValueError(f"network {shown(name, 60)!r}: expected one of {', '.join(NAMED_NETWORKS)} or a .json / "
                         ".toml file with a network description (docs/networks.md)")
    if not path.is_file():
        raise ValueError(f"network {shown(name, 80)}: no such file" if not path.exists()
                         else f"network {shown(name, 80)}: not a regular file")
    if path.stat().st_size > MAX_JSON_BYTES:
        raise ValueError(f"network {shown(name, 80)}: {path.stat().st_size} bytes is too large for a network "
                         "description")
    try:
        text = path.read_text()
        obj = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise ValueError(f"network {shown(name, 80)}: not valid {path.suffix[1:].upper()} "
                         f"({shown(str(e).splitlines()[0] if str(e) else type(e).__name__, 80)})") from None
    if isinstance(obj, dict) and isinstance(obj.get("scenario"), dict):
        obj = obj["scenario"]
    try:
        return bc.network_from_json(obj)
    except ValueError as e:
        raise ValueError(f"network {shown(name, 80)}: {e}") from None
