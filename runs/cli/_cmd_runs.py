"""``bellscope runs ls|show|plot|export``: browse, plot and export run files (any HDF5 tool reads them too)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Optional

import typer

from runs.cli._choices import ExportFormat
from runs.cli._errors import fail

runs_app = typer.Typer(
    help="Browse run files: list them, show their tree, plot them, export their behaviours.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)

_STATUS_STYLE = {"complete": "green", "running": "yellow", "failed": "red", "foreign": "magenta", "corrupt": "magenta"}


def _console():
    from rich.console import Console

    # rich honours NO_COLOR and plain output when stdout is not a terminal; keep tables readable in pipes.
    return Console(width=max(140, Console().width))


@runs_app.command("ls")
def ls_cmd(
    directory: Path = typer.Argument(Path("."), help="Folder of run files (`*.h5`, `*.hdf5`), or one file."),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="Also look in sub-folders."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per file on stdout (JSON Lines)."),
) -> None:
    """One line per run file, from its root attributes only (fast on big files).

    Columns: id (file name without suffix), kind, status, created (UTC), scenario, headline. A run killed without
    a chance to mark itself stays `running` (the note says whether a writer still holds it); files that are
    not bellscope runs are listed as `foreign` or `corrupt` with the reason.
    """
    from runs.files._browse import list_runs

    try:
        infos = list_runs(directory, recursive)
    except ValueError as e:
        fail(str(e))
    if as_json:
        for r in infos:
            sys.stdout.write(json.dumps(r.to_json()) + "\n")
        return
    if not infos:
        typer.echo(f"no run files (*.h5, *.hdf5) in {directory}", err=True)
        return
    from rich.markup import escape
    from rich.table import Table

    from runs.files._untrusted import shown

    t = Table(title=f"runs in {escape(shown(str(directory)))}", title_justify="left")
    for c in ("id", "kind", "status", "created (UTC)", "scenario"):
        t.add_column(c, no_wrap=True)
    t.add_column("headline", overflow="fold")
    for r in infos:  # RunInfo fields are escaped and cut already (runs.files._untrusted.shown); markup is escaped here
        status = f"[{_STATUS_STYLE.get(r.status, 'white')}]{escape(r.status)}[/]"
        head = r.headline if not r.note else (f"{r.headline} ({r.note})" if r.headline else r.note)
        created = r.created.replace("+00:00", "")[:16].replace("T", " ")
        t.add_row(*(escape(x) for x in (r.id, r.kind)), status, *(escape(x) for x in (created, r.scenario, head)))
    _console().print(t)


def _add_node(parent, node, show_attrs: bool, max_attr: int) -> None:
    from rich.markup import escape

    name = node.path.rsplit("/", 1)[-1] or "/"
    if node.link:
        parent.add(f"[bold yellow]{escape(name)}[/]  [yellow]{escape(node.link)}[/]  [dim](link: not followed)[/]")
        return
    if node.is_group:
        label = f"[bold blue]{escape(name)}/[/]"
    else:
        shape = "×".join(str(s) for s in node.shape) if node.shape else "scalar"
        label = f"[bold]{escape(name)}[/]  [cyan]{shape}[/] [magenta]{escape(node.dtype)}[/]"
    if node.description:
        label += f"  [dim]— {escape(node.description)}[/]"
    branch = parent.add(label)
    if show_attrs:
        for k, v in node.attrs.items():
            v = v if len(v) <= max_attr else v[: max_attr - 1] + "…"
            branch.add(f"[green]@{escape(k)}[/] = {escape(v)}")
    for kid in node.children:
        _add_node(branch, kid, show_attrs, max_attr)


@runs_app.command("show")
def show_cmd(
    run: str = typer.Argument(..., help="A run file, or the id `runs ls` prints (looked up as ID.h5 here, then in ./bellscope-results/)."),
    path: str = typer.Argument("/", help="Group or data set inside the file (default: the whole tree)."),
    rows: int = typer.Option(5, "--rows", "-n", min=0, help="Data set path: how many first rows to print."),
    attrs: bool = typer.Option(True, "--attrs/--no-attrs", help="Show attributes (`@name = value`)."),
    full: bool = typer.Option(False, "--full", help="Do not shorten long attribute values (JSON configs, argv)."),
    as_json: bool = typer.Option(False, "--json", help="Data set path: the preview as one JSON object."),
) -> None:
    """The file's tree, like h5glance: groups, data sets with shape and dtype, attributes, label descriptions.

    Status data sets are HDF5 enums and are shown by name. Given a data set PATH (e.g. `/labels/nl`), prints its
    first rows and a summary of its committed rows (count, NaN, min/mean/max, or counts per name).
    """
    import h5py

    from runs.files._browse import open_readonly, preview, resolve_run, tree
    from runs.files._readonly import link_kind
    from runs.files._untrusted import shown

    try:
        run = resolve_run(run)
        with open_readonly(run) as (f, _):
            kind = link_kind(f, path) if path.strip("/") else "hard"
            if kind is None:
                top = ", ".join(shown(k, 40) for k in sorted(f.keys())[:50]) or "(empty)"
                fail(f"{shown(str(run))}: no {shown(path)!r} in the file; top level: {top}")
            if kind == "hard" and isinstance(f[path], h5py.Dataset):
                pv = preview(f, path, rows)
                if as_json:
                    sys.stdout.write(json.dumps(pv, default=_nan_none) + "\n")
                else:
                    _print_preview(pv)
                return
            node = tree(f, path)
    except ValueError as e:
        fail(str(e))
    from rich.markup import escape
    from rich.tree import Tree

    root = Tree(f"[bold]{escape(shown(str(run)))}[/]:{escape(shown(path))}")
    if attrs:
        for k, v in node.attrs.items():
            v = v if full or len(v) <= 100 else v[:99] + "…"
            root.add(f"[green]@{escape(k)}[/] = {escape(v)}")
    for kid in node.children:
        _add_node(root, kid, attrs, 10**9 if full else 100)
    _console().print(root)
    if not path.strip("/"):
        _print_candidates(run)


def _print_candidates(run) -> None:
    """A discovery file's (or campaign record's) candidates: the surrogate's prediction beside the certified
    interval, and its error against the constant median predictor."""
    from rich.markup import escape
    from rich.table import Table

    from runs.files._browse import open_readonly
    from runs.files._candidates import candidate_table

    try:
        with open_readonly(run) as (f, _):
            t = candidate_table(f)
    except (ValueError, OSError, KeyError):
        return  # the tree above is what this command promises; the table is a courtesy
    if t is None:
        return
    table = Table(title="candidates: surrogate prediction against certified value")
    for c in ("#", "searcher", "θ", "predicted", "certified [lower, upper]", "discovery"):
        table.add_column(c)
    for i, r in enumerate(t["rows"]):
        table.add_row(str(i), escape(r["searcher"]), f"{r['theta']:.3g}", f"{r['predicted']:.4f}",
                      f"[{r['lower']:.4f}, {r['upper']:.4f}]", "yes" if r["discovery"] else "")
    _console().print(table)
    _console().print(f"mean |predicted - certified midpoint| = {t['mae']:.4g}; constant median predictor "
                     f"({t['constant']:.3g}): {t['mae_constant']:.4g}; Spearman {t['spearman']:.3f}")


def _nan_none(x):
    return None


def _print_preview(pv: dict) -> None:
    shape = "×".join(str(s) for s in pv["shape"]) or "scalar"
    typer.echo(f"{pv['path']}  {shape} {pv['dtype']}  ({pv['rows_valid']} committed rows)")
    head = pv["head"]
    if isinstance(head, list):
        for i, row in enumerate(head):
            typer.echo(f"[{i}] {_fmt(row)}")
    else:
        typer.echo(_fmt(head))
    if pv.get("summary"):
        typer.echo("summary: " + ", ".join(f"{k} {_fmt(v)}" for k, v in pv["summary"].items()))


def _fmt(x) -> str:
    if isinstance(x, float):
        return "nan" if not math.isfinite(x) else f"{x:.6g}"
    if isinstance(x, list):
        return "[" + ", ".join(_fmt(v) for v in x) + "]"
    if isinstance(x, dict):
        return "{" + ", ".join(f"{k}: {_fmt(v)}" for k, v in x.items()) + "}"
    return str(x)


@runs_app.command("plot")
def plot_cmd(
    run: str = typer.Argument(..., help="A run file, or the id `runs ls` prints."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="PNG to write (default: RUN.png next to the run; never overwritten)."),
) -> None:
    """Draw the plot that fits the run's kind and print where it went.

    dataset: NL histogram + local fraction (Bell), certified NBL intervals (bilocal), class counts (CHSH);
    model: training curves + predicted vs exact; discovery: search traces + certified NBL lower bound vs θ
    with discoveries marked and the BRGP value (the paper's Fig. 3b).
    """
    from runs.files._browse import resolve_run
    from runs.files._plot import plot_run

    try:
        p = plot_run(resolve_run(run), out)
    except (ValueError, FileExistsError) as e:
        fail(str(e))
    typer.echo(str(p))


@runs_app.command("export")
def export_cmd(
    run: str = typer.Argument(..., help="A run file, or the id `runs ls` prints."),
    path: Optional[str] = typer.Argument(None, help="Behaviours data set or its group (default: /behaviours of a dataset, /candidates of a discovery, /certified of a campaign)."),
    fmt: ExportFormat = typer.Option(ExportFormat.json, "--format", "-f", help="json: the `{\"scenario\", \"p\", \"labels\"}` interchange `bellscope certify` reads; npy: arrays."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="File to write (json: default stdout; npy: required; labels go to OUT_STEM.<label>.npy)."),
) -> None:
    """Export behaviours as arrays in `p[outcomes…, settings…]` order (leading batch axis) with their labels.

    Labels are the certified values, statuses (by name) and certificates stored beside the behaviours; only
    committed rows are exported. Files are never overwritten.
    """
    from runs.files._browse import resolve_run
    from runs.files._export import read_export, write_json, write_npy

    if fmt == ExportFormat.npy and out is None:
        fail("--format npy needs --out FILE.npy")
    try:
        e = read_export(resolve_run(run), path)
        if fmt == ExportFormat.json:
            text = write_json(e, out)
            if out is None:
                sys.stdout.write(text + "\n")
            else:
                typer.echo(f"{out}: {len(e.p)} behaviours, labels {', '.join(e.labels) or '(none)'}", err=True)
        else:
            paths = write_npy(e, out)
            typer.echo(f"{paths[0]}: {len(e.p)} behaviours {e.p.shape[1:]}; labels in " + (", ".join(str(p.name) for p in paths[1:]) or "(none)"), err=True)
    except (ValueError, FileExistsError) as err:
        fail(str(err))
