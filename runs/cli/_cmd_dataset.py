"""``bellscope dataset``: sample, certify and store a dataset in one HDF5 run file (resumable, parallel)."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Optional

import typer

from runs._names import SAMPLERS
from runs.cli._choices import DatasetScenario, Variant
from runs.cli._errors import fail
from runs._signals import catch_signals, exit_interrupted


def _parse_params(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            fail(f"--param expects KEY=VALUE (VALUE in JSON, e.g. alpha=0.1 or balance=true); got {item!r}")
        key, value = item.split("=", 1)
        try:
            out[key.strip().replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip().replace("-", "_")] = value  # a bare string, e.g. b_measurement=bell
    return out


def dataset_cmd(
    scenario: DatasetScenario = typer.Option(..., "--scenario", help="bell (needs --settings), bilocal (--variant), chsh-correlators or network (needs --network)."),
    network: Optional[str] = typer.Option(None, "--network", help="network: triangle, bilocal, chainN, starN (N sources) or a .json/.toml network description (docs/networks.md). Labels: the certified interval of certify.network_nonlocality."),
    settings: Optional[int] = typer.Option(None, "--settings", "-m", help="bell: settings per party (m); network: settings per party of a named network (triangle 1, chains and stars 2 by default)."),
    outcomes: int = typer.Option(2, "--outcomes", "-d", help="bell: outcomes per setting (d); network: outcomes per party of a named network."),
    variant: Variant = typer.Option(Variant.binary, "--variant", help="bilocal: binary (B has 2 settings) or bsm (Bell-state measurement)."),
    sampler: Optional[str] = typer.Option(None, "--sampler", help=f"{', '.join(SAMPLERS)} (default uniform-ns)."),
    param: list[str] = typer.Option([], "--param", help="Sampler parameter KEY=VALUE (repeatable), e.g. alpha=0.1, chains=128, balance=true."),
    balance: bool = typer.Option(False, "--balance", help="chsh-correlators: equal class counts (as the paper's test set)."),
    measures: Optional[str] = typer.Option(None, "--measures", help="Comma-separated labels (default: nl for bell, nbl for bilocal, class for chsh-correlators)."),
    nbl_tol: float = typer.Option(1e-4, "--nbl-tol", help="Gap tolerance of the NBL branch-and-bound (network: of the interval)."),
    nbl_max_nodes: int = typer.Option(2000, "--nbl-max-nodes", help="Node limit of the NBL branch-and-bound per point (status 'limit' beyond; the interval stays valid)."),
    nbl_time_limit: float = typer.Option(600.0, "--nbl-time-limit", help="Safety time limit per NBL (or network) point in seconds (a label stopped by time depends on the machine)."),
    n: int = typer.Option(..., "--n", help="Number of points."),
    seed: int = typer.Option(..., "--seed", help="Master seed (every chunk's seed derives from it)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output HDF5 file (never overwritten; see --resume)."),
    chunk_size: int = typer.Option(500, "--chunk-size", help="Points per chunk: the unit of work, of flushing and of resuming."),
    workers: int = typer.Option(1, "--workers", "-w", help="Local worker processes."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler address (e.g. tcp://host:8786): run the chunks there."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run in --out (same arguments)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar on stderr."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout instead of a table."),
) -> None:
    """Sample N behaviours with a stated measure, label them with certified answers, store them in OUT.

    The file is written chunk by chunk with a flush after each; a killed run continues with --resume and ends
    identical to an uninterrupted one. Results do not depend on --workers or --scheduler.
    """
    from bellcore import BellScenario, BilocalScenario
    from surrogates import DatasetSpec

    from runs.jobs._dataset_run import run_dataset
    from runs.cli._progress import rich_progress

    if workers < 1:
        fail(f"--workers must be >= 1; got {workers}")
    if scheduler is not None and workers != 1:
        fail("--workers and --scheduler are exclusive: with --scheduler the cluster's workers do the work")
    params = _parse_params(param)
    if balance:
        if scenario.value != "chsh-correlators":
            fail("--balance applies to --scenario chsh-correlators only")
        params["balance"] = True
    if network is not None and scenario.value != "network":
        fail("--network applies to --scenario network only")
    try:
        if scenario.value == "network":
            if network is None:
                fail("--scenario network needs --network (triangle, bilocal, chainN, starN or a description file)")
            from runs.files._network_io import network_scenario_named

            sc = network_scenario_named(network, outcomes=outcomes, settings=settings, variant=variant.value)
        elif scenario == DatasetScenario.bell:
            if settings is None:
                fail("--scenario bell needs --settings M")
            sc = BellScenario((outcomes, outcomes), (settings, settings))
        elif scenario == DatasetScenario.bilocal:
            if settings is not None:
                fail("--settings applies to --scenario bell only (the bilocal network is fixed by --variant)")
            sc = BilocalScenario(variant.value)
        else:
            if settings not in (None, 2):
                fail("--scenario chsh-correlators is the m=2 scenario; drop --settings")
            sc = None
        ms = tuple(s.strip() for s in measures.split(",") if s.strip()) if measures else None
        spec = DatasetSpec.create(
            scenario.value, sc, sampler, n, seed, params, chunk_size, ms, nbl_tol, nbl_max_nodes, nbl_time_limit
        )
    except ValueError as e:
        fail(str(e))

    if resume and not out.exists():
        typer.echo(f"note: {out} does not exist yet; starting it (--resume continues a run only once it exists)", err=True)
        resume = False
    t0 = time.perf_counter()
    first_done: list[int] = []  # rows found already done (on --resume): not counted as made now

    try:
        with catch_signals(), rich_progress("dataset", spec.n, enabled=progress) as bar:

            def report(done: int, total: int, info) -> None:
                if not first_done:
                    first_done.append(done)
                bar(done, total, info)

            summary = run_dataset(
                spec, out, workers=workers, scheduler=scheduler, resume=resume, argv=sys.argv, progress=report
            )
    except (ValueError, OSError, RuntimeError) as e:  # OSError: file exists / missing / disk full (RunWriteError)
        if getattr(e, "leaked", False):  # HDF5 holds unflushable objects: tearing them down at exit would crash
            typer.echo(f"error: {str(e).splitlines()[0]}", err=True)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(2)
        fail(str(e).splitlines()[0] if str(e) else type(e).__name__)
    except KeyboardInterrupt as e:  # Ctrl-C or SIGTERM: the file is marked failed and keeps its complete chunks
        exit_interrupted(e, f"{out} keeps its complete chunks; continue with --resume")
    wall = time.perf_counter() - t0
    made = spec.n - (first_done[0] if first_done else 0)
    if as_json:
        sys.stdout.write(json.dumps({"file": str(out), "wall_s": wall, "points_made": made, **summary}, default=str) + "\n")
    else:
        _print_summary(spec, out, summary, wall, made)


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return "nan" if not math.isfinite(x) else f"{x:.6g}"
    if isinstance(x, dict):
        return ", ".join(f"{k} {_fmt(v)}" for k, v in x.items())
    return str(x)


def _print_summary(spec, out: Path, summary: dict[str, Any], wall: float, made: int) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"bellscope dataset: {out}")
    t.add_column("quantity")
    t.add_column("value")
    t.add_row("scenario / sampler", f"{spec.kind}: {spec.scenario}, {spec.sampler} {json.dumps(spec.params)}")
    t.add_row("points", f"{summary.get('n')} ({made} made now, {wall:.1f} s, {made / max(wall, 1e-9):,.1f} pts/s)")
    for key in ("fraction_local", "fraction_bilocal", "fraction_nonbilocal", "classes", "nl_status", "nl_certified", "nl_mean", "nl_quantiles",
                "nbl_status", "nbl_lower_quantiles", "nbl_upper_quantiles", "nbl_max_gap", "fraction_network_local",
                "fraction_network_nonlocal", "network_status", "network_lower_quantiles", "network_upper_quantiles",
                "network_max_gap"):
        if key in summary:
            t.add_row(key.replace("_", " "), _fmt(summary[key]))
    Console().print(t)
