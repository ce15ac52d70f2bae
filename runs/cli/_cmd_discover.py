"""``bellscope discover``: searches over quantum strategies + certification into one run file."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Optional

import typer

from runs.jobs._discover_config import discovery_config_names
from runs.cli._errors import fail

_SHIPPED = ", ".join(discovery_config_names())


def discover_cmd(
    config: str = typer.Option(..., "--config", "-c", help=f"Search configuration: a TOML file, or the name of a shipped one ({_SHIPPED})."),
    out: Path = typer.Option(..., "--out", "-o", help="Output HDF5 run file (never overwritten)."),
    quick: bool = typer.Option(False, "--quick", help="Shrink every budget (steps, time, scan points, certification) to finish within ~5 minutes; trains the surrogate if the configuration names none."),
    model: Optional[Path] = typer.Option(None, "--model", help="Surrogate model run file (overrides [model] path)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Master seed (overrides the configuration's)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Steps of every searcher (overrides the configuration)."),
    time_budget: Optional[float] = typer.Option(None, "--time-budget", help="Wall-clock seconds per searcher (overrides the configuration)."),
    theta: Optional[str] = typer.Option(None, "--theta", help="Comma-separated source angles to scan (overrides [scan] theta)."),
    top: Optional[int] = typer.Option(None, "--top", help="Distinct candidates certified per scan point."),
    learn_rounds: Optional[int] = typer.Option(None, "--learn-rounds", min=1, help="Learning rounds (overrides [learn] rounds; needs a [learn] table)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar on stderr."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout instead of a table."),
) -> None:
    """Search parametrised quantum strategies for nonlocality and certify the best distinct candidates.

    Each searcher of the configuration maximises its target (a surrogate's prediction, or a surrogate-free one:
    brgp, nbl-upper, chsh, nl, or exact: an LP value with its dual as gradient); the best distinct candidates (up
    to relabelling) are certified: NL with its Bell functional, or the NBL interval, BRGP and tripartite NL for the
    network. A **discovery** has a certified lower bound > 0 and meets every constraint of the campaign. Flags
    override the search config.

    A network family (the shipped `triangle`: [family] scenario = "triangle") is searched on target inflation, the
    certified lower bound of the fanout inflation in its [network] table, and its candidates get the network
    interval (an explicit network-local model above, the inflation ladder below; docs/networks.md).

    With a [learn] table and no --model (the shipped `fig3b` has one), the surrogate is learned in the run on the
    searched family: certified labels of family members, then rounds of surrogate search -> exact-gradient
    refinement (searchers with refine = true) -> certified labels at their maxima, neighbours and points of
    largest ensemble disagreement -> warm refit. The surrogate's error at its searchers' maxima is recorded per
    round (/learn/rounds), and its prediction at every certified candidate is shown beside the certified value.
    """
    from runs.jobs._discover_config import load_discovery_config
    from runs.jobs._discover_run import run_discover
    from runs.jobs._discovery_file import read_discovery
    from runs.cli._progress import rich_progress

    try:
        if top is not None and top < 1:
            raise ValueError(f"--top must be >= 1; got {top}")
        thetas = None
        if theta is not None:
            try:
                thetas = [float(t) for t in theta.split(",") if t.strip()]
            except ValueError:
                raise ValueError(f"--theta expects comma-separated numbers; got {theta!r}") from None
        cfg = load_discovery_config(config).override(seed=seed, steps=steps, time_budget=time_budget, theta=thetas,
                                                     top=top, learn_rounds=learn_rounds)
    except ValueError as e:
        fail(str(e))
    if out.exists() or out.is_symlink():
        fail(f"{out} already exists (choose another --out; run files are never overwritten)")
    if model is not None and not model.is_file():
        fail(f"model file {model} does not exist" if not model.exists() else f"--model {model} is not a file")
    from runs import _signals as signals

    try:
        with signals.catch_signals(), rich_progress("discover", None, enabled=progress) as bar:
            def tick(done, total, info):
                signals.check()  # an interrupt swallowed on the way (runs/_signals.py) stops us here
                if bar is not None:
                    bar(done, total, info)

            run_discover(cfg, out, quick=quick, model=model, progress=tick, argv=sys.argv)
    except (ValueError, FileExistsError) as e:
        fail(str(e).splitlines()[0] if str(e) else type(e).__name__)
    except KeyboardInterrupt as e:
        signals.exit_interrupted(e, _left_behind(out))
    except Exception as e:  # noqa: BLE001 - a crash inside the searches: one line; the file says failed and why
        first = str(e).splitlines()[0] if str(e) else ""
        fail(f"discover stopped with {type(e).__name__}: {first} ({_left_behind(out, crashed=True)})", code=1)
    run = read_discovery(out)
    if as_json:
        sys.stdout.write(json.dumps({"file": str(out), **run["summary"]}, default=str) + "\n")
    else:
        _print(out, run)


def _left_behind(out: Path, crashed: bool = False) -> str:
    """What an interrupted or crashed run left on disk, from the files themselves (never a file that is not there)."""
    import h5py

    from runs.files import _layout as L

    parts = []
    if out.exists():
        got = None
        for kw in ({}, {"locking": False}):  # {}: the stopped run's own handle may still be open in this process
            try:
                with h5py.File(out, "r", **kw) as f:
                    got = str(f.attrs.get(L.STATUS, "?")), int(f.attrs.get(L.ROWS_COMPLETE, 0))
                break
            except (OSError, KeyError, ValueError):
                continue
        if got is None:
            parts.append(f"{out} exists but cannot be read")
        else:
            keeps = "keeps the traces and candidates finished so far" if not crashed else "keeps what finished"
            parts.append(f"{out} {keeps} ({got[1]} candidates; status {got[0]})")
    else:
        parts.append(f"nothing was written to {out}")
    trained = out.with_name(out.stem + ".model.h5")
    if trained.exists():
        parts.append(f"the --quick surrogate is in {trained}")
    return "; ".join(parts)


def _f(x) -> str:
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.4g}"


def _print(out: Path, run) -> None:
    from rich.console import Console
    from rich.table import Table

    s = run["summary"]
    t = Table(title=f"bellscope discover: {out}", caption=s["headline"])
    for col in ("searcher", "best value", "evaluations", "seconds", "discoveries", "best certified", "per minute"):
        t.add_column(col)
    for name, p in s["searchers"].items():
        t.add_row(name, _f(p["best_value"]), str(p["evaluations"]), f"{p['seconds']:.1f}", str(p["discoveries"]),
                  _f(p["best_certified"]), _f(p["discoveries_per_minute"]))
    Console().print(t)
    c = run["candidates"]
    if "network_lower" in c and len(c["network_lower"]):  # a network family: every certified interval
        from runs.files._untrusted import shown

        t = Table(title="certified candidates: distance to the network-local set")
        for col in ("#", "searcher", "search value", "lower", "upper", "status", "inflation", "discovery"):
            t.add_column(col)
        for i in range(len(c["network_lower"])):
            t.add_row(str(i), shown(str(c["searcher"][i]), 40), _f(float(c["value"][i])),
                      f"{float(c['network_lower'][i]):.6f}", f"{float(c['network_upper'][i]):.6f}",
                      str(c["network_status"][i]), shown(str(c["inflation"][i]) or "-", 30),
                      "yes" if bool(c["discovery"][i]) else "no")
        Console().print(t)
    a = s.get("learn")
    if a and a.get("mae"):
        t = Table(title=f"learning: {a['rows']} certified labels ({', '.join(f'{k} {v}' for k, v in a['methods'].items())}); "
                        "the surrogate at its searchers' maxima, round by round")
        for col in ("round", "MAE", "MAE constant", "Spearman", "search s", "label s", "fit s"):
            t.add_column(col)
        for i in range(len(a["mae"])):
            t.add_row(str(i), _f(a["mae"][i]), _f(a["mae_constant"][i]), _f(a["spearman"][i]),
                      f"{a['search_seconds'][i]:.0f}", f"{a['label_seconds'][i]:.0f}", f"{a['fit_seconds'][i]:.0f}")
        Console().print(t)
