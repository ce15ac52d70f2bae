"""``bellscope certify``: certified NL / visibility / NBL for behaviours read from a file."""

from __future__ import annotations

import json
import math
import sys
import warnings
from pathlib import Path

import typer

from runs.cli._choices import Measure
from runs.cli._errors import fail


def certify_cmd(
    file: Path = typer.Argument(..., help="Behaviour(s) to certify: .npy (shape (2,2,m,m) or (N,2,2,m,m), or a bilocal shape), .json or .h5."),
    measure: Measure = typer.Option(Measure.auto, "--measure", "-m", help="nl: trace distance to the local set; visibility: white-noise visibility; nbl: nonbilocality interval. auto: nl for Bell scenarios, nbl for the bilocal network."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per behaviour on stdout (JSON Lines)."),
    workers: int = typer.Option(1, "--workers", "-w", min=1, help="Worker processes for a batch."),
    tol: float = typer.Option(1e-6, "--tol", help="nbl only: stop when upper - lower <= tol."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar on stderr for batches."),
) -> None:
    """Certify every behaviour in FILE and print the value with its certificate status.

    Each NL value comes with its dual Bell functional, re-checked without a solver (the "nonlocal" verdict
    in exact rational arithmetic); NBL comes as a certified interval [lower, upper] with an explicit
    bilocal model. Exit code 1 when any certificate fails its check, 2 on bad input.
    """
    from runs.files._network_io import is_network_file

    if is_network_file(file):  # {"scenario": {"kind": "network", ...}}: the network interval (docs/networks.md)
        return _certify_network_file(file, measure=measure.value, as_json=as_json, tol=tol)
    import certify
    from bellcore import BilocalScenario

    from runs.files._io import IncompleteRunWarning, load_behaviours
    from runs.cli._progress import rich_progress

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", IncompleteRunWarning)
            beh = load_behaviours(file)
        beh.scenario.check_enumerable()
    except ValueError as e:
        fail(str(e))
    for w in caught:
        typer.echo(f"warning: {w.message}", err=True)
    m = measure.value
    if m == "auto":
        m = "nbl" if isinstance(beh.scenario, BilocalScenario) else "nl"
    if m in ("nl", "visibility") and isinstance(beh.scenario, BilocalScenario):
        fail(f"measure {m!r} needs a bipartite Bell scenario; {beh.scenario} takes --measure nbl")
    if m == "nbl" and not isinstance(beh.scenario, BilocalScenario):
        fail(f"measure 'nbl' needs a bilocal behaviour; got {beh.scenario}")
    kwargs = {"tol": tol} if m == "nbl" else {}
    batch = beh.flatten_batch()
    try:
        with rich_progress(f"certify {m}", len(batch), enabled=progress and len(batch) > 1) as bar:
            results = certify.certify_many(batch, measure=m, workers=workers, progress=bar, **kwargs)
    except ValueError as e:
        fail(str(e))
    checked = [bool(r.certificate_checked) for r in results]
    if as_json:
        for r in results:
            sys.stdout.write(json.dumps(r.to_json()) + "\n")
    else:
        _table(results, m)
    if not all(checked):
        typer.echo(f"error: {checked.count(False)} certificate(s) failed their check", err=True)
        raise typer.Exit(1)


def _fmt(x) -> str:
    return "nan" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.10f}"


def _table(results, measure: str) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"bellscope certify ({measure})")
    t.add_column("#", justify="right")
    if measure == "nbl":
        for c in ("lower", "upper", "status", "nonbilocal", "model checked", "nodes", "time [s]"):
            t.add_column(c)
        for i, r in enumerate(results):
            t.add_row(str(i), _fmt(r.lower), _fmt(r.upper), str(r.status), _yes(r.is_nonbilocal), _yes(r.certificate_checked), str(r.nodes), f"{r.seconds:.3f}")
    else:
        for c in ("value", "status", "nonlocal", "local bound", "certificate"):
            t.add_column(c)
        for i, r in enumerate(results):
            t.add_row(str(i), _fmt(r.value), str(r.status), _yes(r.is_nonlocal), _fmt(r.local_bound), "checked" if r.certificate_checked else "FAILED")
    Console(width=max(120, Console().width)).print(t)


def _yes(b: bool) -> str:
    return "yes" if b else "no"


def _certify_network_file(path: Path, *, measure: str, as_json: bool, tol: float) -> None:
    """Certify every behaviour of a network JSON file; print a table or JSON Lines; exit 1 if a check failed."""
    import certify

    if measure not in ("auto", "network"):
        fail(f"measure {measure!r} does not apply to a network behaviour; it takes the network interval (--measure auto)")
    from runs.files._network_io import load_network_behaviours

    try:
        behs = load_network_behaviours(path)
        results = [certify.network_nonlocality(b, tol=tol) for b in behs]
    except ValueError as e:
        fail(str(e))
    if as_json:
        for r in results:
            sys.stdout.write(json.dumps(r.to_json()) + "\n")
    else:
        _network_table(results)
    bad = sum(not r.certificate_checked for r in results)
    if bad:
        typer.echo(f"error: {bad} certificate(s) failed their check", err=True)
        raise typer.Exit(1)


def _network_table(results) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title="bellscope certify (network: distance to the network-local set)")
    for c in ("#", "lower", "upper", "status", "not network-local", "inflation", "checked", "time [s]"):
        t.add_column(c)
    for i, r in enumerate(results):
        t.add_row(str(i), _fmt(r.lower), _fmt(r.upper), str(r.status), "yes" if r.is_nonlocal else "no", r.inflation or "-",
                  "yes" if r.certificate_checked else "FAILED", f"{r.seconds:.2f}")
    Console(width=max(120, Console().width)).print(t)
