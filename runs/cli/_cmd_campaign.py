"""``bellscope campaign``: run a campaign TOML (dataset(s) -> train -> discover -> certify), reusing finished stages."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Optional

import typer

from runs.files import _layout as L
from runs.cli._choices import ReproducePreset, ReproduceTarget
from runs.cli._errors import fail
from runs._signals import check as check_interrupt

#: Results folder of the default campaign (relative to the working directory; git-ignored).
DEFAULT_RUNS_DIR = Path(L.DEFAULT_RUNS_DIR)


def campaign(
    config: Optional[Path] = typer.Argument(None, help="Campaign TOML file (default: the built-in small campaign; print it with --print-default)."),
    runs_dir: Path = typer.Option(DEFAULT_RUNS_DIR, "--runs-dir", "-d", help="Results folder: one run file per stage (created if missing)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler address (tcp://host:8786): dataset stages run their chunks there."),
    workers: Optional[int] = typer.Option(None, "--workers", "-w", min=1, help="Local worker processes for dataset stages (default: [campaign] workers, else 1)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress display on stderr (stage, step, ETA)."),
    print_default: bool = typer.Option(False, "--print-default", help="Print the built-in campaign TOML and exit."),
) -> None:
    """Run every stage of a campaign; a stage whose complete run file (same config hash) exists is reused.

    Each stage writes `<kind>-<name>-<hash>.h5` under the results folder; re-running the same command continues
    an interrupted campaign (a killed dataset resumes from its last chunk; a failed stage is computed again, its
    old file kept as `*.failed-<k>.h5`). Ends by printing the best certified discovery, where the files are, and
    how to browse them. TOML schema: `docs/runs.md`.
    """
    from runs.pipeline._campaign import DEFAULT_CAMPAIGN, load_campaign, parse_campaign, run_campaign

    if print_default:
        sys.stdout.write(DEFAULT_CAMPAIGN)
        return
    try:
        camp = parse_campaign(DEFAULT_CAMPAIGN) if config is None else load_campaign(config)
    except ValueError as e:
        fail(f"{config or 'default campaign'}: {e}")
    if scheduler is not None and workers not in (None, 1):
        fail("--workers and --scheduler are exclusive: with --scheduler the cluster's workers do the work")
    _check_scheduler(scheduler)
    if runs_dir.exists() and not runs_dir.is_dir():
        fail(f"--runs-dir {runs_dir} is a file, not a folder")

    result = _with_display(progress, lambda display: run_campaign(
        camp, runs_dir, scheduler=scheduler, workers=workers, argv=sys.argv, on_stage=display.on_stage,
        progress=display.progress))
    _report(result, runs_dir, camp)


def _check_scheduler(scheduler) -> None:
    from runs.jobs._scheduler import check_scheduler_address

    if scheduler is not None:
        try:
            check_scheduler_address(scheduler)
        except ValueError as e:
            fail(str(e))


#: Hints written for the single-run commands, said the campaign's way (a campaign continues by re-running it).
_CAMPAIGN_HINTS = (
    ("(use --resume to continue it, or choose another --out)", "(run the same campaign command again to continue it)"),
    ("continue with --resume once the cause is fixed", "run the same campaign command again once the cause is fixed"),
    ("; --resume needs the same arguments", ""),
    ("(drop --resume to start it)", ""),
    ("--resume", "re-running the campaign"),
)


def campaign_text(message: str) -> str:
    """A stage's message with ``--resume`` advice (meant for ``bellscope dataset``) said for campaign users."""
    for old, new in _CAMPAIGN_HINTS:
        message = message.replace(old, new)
    return message


def _left(e: BaseException) -> str:
    """What the stage that stopped left on disk, from the ``bellscope_stage`` note ``run_campaign`` attaches."""
    info = getattr(e, "bellscope_stage", None)
    if not info:
        return ""
    name = Path(info["file"]).name
    state = info["state"]
    if state == "none":
        what = f"no file was written for stage {info['stage']}"
    elif state == "failed":
        what = f"{name} is marked failed (the next run {'resumes' if info['stage'].startswith('dataset') else 'recomputes'} it)"
    else:
        what = f"{name} is left {state}"
    return f"stage {info['index'] + 1}/{info['n']} {info['stage']} stopped: {what}"


def _with_display(progress: bool, run):
    """``run(display)`` under one progress display; every way a campaign can stop becomes one line on stderr:
    ``error:`` (exit 2 for a refused input, 1 for a crashed stage), or SIGINT / SIGTERM (exit 130 / 143)."""
    from rich.console import Console

    from runs import _signals as signals

    display = _Display(Console(stderr=True), progress)
    try:
        with signals.catch_signals(), display:
            return run(display)
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (Terminated)
        left = _left(e)
        signals.exit_interrupted(e, (f"{left}; " if left else "") + "finished stages are kept; run the same command again to "
                         "continue")
    except (ValueError, FileExistsError, FileNotFoundError) as e:
        left = _left(e)
        fail(campaign_text(str(e).splitlines()[0] if str(e) else type(e).__name__) + (f" ({left})" if left else ""))
    except Exception as e:  # noqa: BLE001 - a stage crashed: one line, not a traceback
        first = campaign_text(str(e).splitlines()[0]) if str(e) else ""
        left = _left(e) or "no stage file was written"
        fail(f"a stage failed with {type(e).__name__}: {first} ({left}; run the same command again to recompute it)",
             code=1)


class _Display:
    """One rich progress display: a line per stage (stage i/n, kind, name, steps, elapsed, ETA)."""

    def __init__(self, console, enabled: bool):
        self.console, self.enabled = console, enabled
        self._progress = None
        self._task = None

    def __enter__(self):
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            from rich.table import Column

            # fixed-width columns first, the stage's own numbers last (cut, never wrapped) on narrow terminals
            self._progress = Progress(
                TextColumn("{task.description}", table_column=Column(no_wrap=True)),
                BarColumn(bar_width=12), MofNCompleteColumn(table_column=Column(no_wrap=True)),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                TextColumn("{task.fields[info]}", table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1)),
                console=self.console, transient=False,
            )
            self._progress.__enter__()
        return self

    def __exit__(self, *exc):
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def _say(self, text: str) -> None:
        if self._progress is not None:
            self._progress.console.print(text, highlight=False)
        else:
            self.console.print(text, highlight=False)

    def on_stage(self, i, n, stage, state, info) -> None:
        if state in ("start", "reused"):
            check_interrupt()  # progress ticks raise an interrupt that was swallowed on the way (runs/_signals.py)
        label = f"stage {i + 1}/{n} {stage.kind} {stage.name}"
        name = Path(info.get("file", "")).name
        if state == "reused":
            self._say(f"{label}: reused {name} (complete, same config hash; nothing recomputed)")
        elif state == "start":
            verb = "resuming" if info.get("outcome") == "resumed" else "computing"
            self._say(f"{label}: {verb} -> {name}")
            if self._progress is not None:
                self._task = self._progress.add_task(label, total=None, info="")
        elif state in ("computed", "resumed"):
            if self._progress is not None and self._task is not None:
                t = self._progress.tasks[-1]
                self._progress.update(self._task, total=t.total or 1, completed=t.total or 1)
            self._say(f"{label}: {state} in {info.get('wall_seconds', math.nan):.1f} s")
        elif state == "failed":
            st = info.get("state")
            what = ("no file was written" if st == "none" else
                    f"{name} is marked failed; the next run {'resumes' if stage.kind == 'dataset' else 'recomputes'} it"
                    if st == "failed" else f"{name} is left {st}")
            self._say(f"{label}: [red]stopped[/] ({what})")

    def progress(self, done: int, total: int, info) -> None:
        check_interrupt()
        if self._progress is not None and self._task is not None:
            extra = "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in info.items())
            self._progress.update(self._task, completed=done, total=total, info=extra)


def _report(result, runs_dir: Path, camp) -> None:
    reused = sum(s.outcome == "reused" for s in result.stages)
    lines = []
    if len(result.stages) and reused == len(result.stages):
        lines.append(f"all {reused} stages reused: nothing recomputed")
    b = result.best
    if b is not None:
        brgp = b.get("brgp", math.nan)
        brgp_txt = "" if not _finite(brgp) else f", BRGP {brgp:.3f} ({'not violated' if brgp <= 1 else 'violated'})"
        tri = b.get("tripartite_nl", math.nan)
        tri_txt = "" if not _finite(tri) else (", tripartite local" if tri <= 1e-9 else f", tripartite NL {tri:.3g}")
        theta = b.get("theta", math.nan)
        theta_txt = "" if not _finite(theta) else f" at θ = {theta:.4f}"
        head = ("best certified discovery" if b.get("discovery") else
                "no discovery (constraints unmet); best certified" if b.get("nonbilocal") else
                "no discovery (nothing certified nonbilocal); best certified")
        lines.append(
            f"{head}: NBL in [{b['nbl_lower']:.5f}, {b['nbl_upper']:.5f}] ({b['status']}){theta_txt}{brgp_txt}"
            f"{tri_txt}; {b['source_file']} candidate {b['source_index']}"
        )
    elif any(s.kind == "discover" for s in result.stages):
        lines.append("no candidates were certified")
    lines.append(f"files: {runs_dir}/ ({len(result.stages)} stage files; record {result.record.name})")
    lines.append(f"browse: bellscope runs ls {runs_dir}   (then: bellscope runs show|plot {runs_dir}/<file>.h5)")
    sys.stdout.write("\n".join(lines) + "\n")


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def reproduce(
    target: ReproduceTarget = typer.Argument(..., help="table1 (NL / NBL regression errors), table2 (CHSH classifier), fig2 (exact vs predicted, from the table1 models), fig3 (certified discoveries vs θ)."),
    preset: ReproducePreset = typer.Option(ReproducePreset.quick, "--preset", help="quick: minutes on a laptop; paper: the paper's scale (hours); dual: quick, with Table I's NL models trained with the dual-vertex member (train --preset dual)."),
    runs_dir: Path = typer.Option(DEFAULT_RUNS_DIR, "--runs-dir", "-d", help="Results folder (run files, Markdown table, figure)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler address for the fan-out stages."),
    workers: Optional[int] = typer.Option(None, "--workers", "-w", min=1, help="Local worker processes for dataset and certify stages."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress display on stderr."),
) -> None:
    """Reproduce one of the paper's results as a campaign; write a Markdown table and a figure beside its run files.

    Stages already computed (same config hash) are reused, so a second call only redraws; an interrupted one
    continues. Test sets are separate datasets that training never sees.
    """
    from runs.pipeline._reproduce import reproduce as run

    if scheduler is not None and workers not in (None, 1):
        fail("--workers and --scheduler are exclusive")
    _check_scheduler(scheduler)
    if runs_dir.exists() and not runs_dir.is_dir():
        fail(f"--runs-dir {runs_dir} is a file, not a folder")
    res = _with_display(progress, lambda display: run(
        target.value, preset.value, runs_dir, workers=workers, scheduler=scheduler, argv=sys.argv,
        on_stage=display.on_stage, progress=display.progress))
    sys.stdout.write(res.markdown.read_text())
    sys.stdout.write(f"\ntable: {res.markdown}\nfigure: {res.figure}\n")
