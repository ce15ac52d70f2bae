"""The ``bellscope`` command line (typer).

``app`` is created here and every command is registered here, from plain functions (or ``typer.Typer`` sub-apps)
defined in the ``_cmd_*.py`` modules; those modules never import this one.
"""

from __future__ import annotations

import os
import sys

import typer
from typer.exceptions import TyperException

from runs.cli._cmd_campaign import campaign, reproduce
from runs.cli._cmd_certify import certify_cmd
from runs.cli._cmd_dataset import dataset_cmd
from runs.cli._cmd_demo import demo_cmd
from runs.cli._cmd_runs import runs_app
from runs.cli._cmd_train import evaluate_cmd, predict_cmd, train_cmd
from runs.cli._cmd_discover import discover_cmd
from runs import _signals as signals
from runs._signals import EXIT_SIGINT, catch_signals, exit_code, interrupted_line
from runs.files._untrusted import shown

app = typer.Typer(
    name="bellscope",
    help="Discover and certify nonlocal quantum correlations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)

def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"bellscope {version('bellscope')}")
        except PackageNotFoundError:  # run from a source tree without installing
            typer.echo("bellscope (not installed)")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Discover and certify nonlocal quantum correlations."""


app.command("certify")(certify_cmd)
app.command("dataset")(dataset_cmd)
app.command("demo")(demo_cmd)
app.command("campaign")(campaign)
app.command("reproduce")(reproduce)
app.add_typer(runs_app, name="runs")
app.command("train")(train_cmd)
app.command("predict")(predict_cmd)
app.command("evaluate")(evaluate_cmd)
app.command("discover")(discover_cmd)


def main() -> None:
    """Entry point of ``bellscope``.

    Usage errors, like every bad input, are one ``error:`` line and exit 2. SIGINT and SIGTERM end any command with
    exit 130 / 143 and one line (commands that write files say what they left; see ``runs._signals``). An
    exception no command foresaw is still one line (exit 2); ``BELLSCOPE_DEBUG=1`` shows its traceback.
    """
    signals.state.update(received=None, announced=False)
    try:
        with catch_signals():
            code = app(standalone_mode=False, prog_name="bellscope")
    except TyperException as e:  # click's family: unknown command or option, bad value, missing argument
        ctx = getattr(e, "ctx", None)
        where = f"{ctx.command_path}: " if ctx is not None else ""
        message = e.format_message() if hasattr(e, "format_message") else str(e)
        typer.echo(f"error: {where}{shown(' '.join(message.split()), 400)} (see --help)", err=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        code = EXIT_SIGINT
    except (Exception, MemoryError) as e:  # noqa: BLE001 - the last net: one line, never a traceback
        if os.environ.get("BELLSCOPE_DEBUG"):
            raise
        reason = shown(str(e).splitlines()[0] if str(e) else "", 300)
        typer.echo(f"error: unexpected {type(e).__name__}: {reason} (BELLSCOPE_DEBUG=1 shows the traceback)", err=True)
        sys.exit(2)
    if signals.state["received"] is not None or code == EXIT_SIGINT:
        # typer ends an uncaught KeyboardInterrupt with a silent exit 130 (SIGTERM's too); a command that handled
        # it has said what it left (``exit_interrupted``). Otherwise say it here, with the signal's own code.
        if not signals.state["announced"]:
            typer.echo(interrupted_line(None, "stopped before finishing"), err=True)
        sys.exit(exit_code())
    sys.exit(code if isinstance(code, int) else 0)
