"""``bellscope certify FILE.json`` for network behaviours (docs/networks.md): reading the network JSON form and
printing the certified interval. Kept apart so ``_cmd_certify`` only dispatches to it in one call.

The form: ``{"scenario": {"kind": "network", "parties": {"A": {"settings": 1, "outcomes": 2}, ...},
"sources": [["B", "C"], ...]}, "p": [...]}`` with ``p[a, b, c, ..., x, y, z, ...]`` (outcomes first, then settings,
parties in the listed order), or a batch of such arrays on a leading axis.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import typer

from ._errors import fail

__all__ = ["is_network_file", "load_network_behaviours", "certify_network_file"]


def is_network_file(path: Path) -> bool:
    """True for a readable ``.json`` file whose ``scenario`` has ``"kind": "network"`` (anything else: False, and
    the usual loader reports what is wrong with it)."""
    path = Path(path)
    if path.suffix.lower() != ".json" or not path.is_file():
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
        raise ValueError(f"{path}: unknown field(s) {', '.join(map(repr, extra))}; expected 'scenario' and 'p'")
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


def certify_network_file(path: Path, *, measure: str, as_json: bool, tol: float) -> None:
    """Certify every behaviour of a network JSON file; print a table or JSON Lines; exit 1 if a check failed."""
    import certify

    if measure not in ("auto", "network"):
        fail(f"measure {measure!r} does not apply to a network behaviour; it takes the network interval (--measure auto)")
    try:
        behs = load_network_behaviours(path)
        results = [certify.network_nonlocality(b, tol=tol) for b in behs]
    except ValueError as e:
        fail(str(e))
    if as_json:
        for r in results:
            sys.stdout.write(json.dumps(r.to_json()) + "\n")
    else:
        _table(results)
    bad = sum(not r.certificate_checked for r in results)
    if bad:
        typer.echo(f"error: {bad} certificate(s) failed their check", err=True)
        raise typer.Exit(1)


def _fmt(x) -> str:
    return "nan" if x is None or not math.isfinite(x) else f"{x:.10f}"


def _table(results) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title="bellscope certify (network: distance to the network-local set)")
    for c in ("#", "lower", "upper", "status", "not network-local", "inflation", "checked", "time [s]"):
        t.add_column(c)
    for i, r in enumerate(results):
        t.add_row(str(i), _fmt(r.lower), _fmt(r.upper), str(r.status), "yes" if r.is_nonlocal else "no", r.inflation or "-",
                  "yes" if r.certificate_checked else "FAILED", f"{r.seconds:.2f}")
    Console(width=max(120, Console().width)).print(t)
