"""The ``bellscope`` command line (typer).

``app`` is created here and every command is registered here, from plain functions (or ``typer.Typer`` sub-apps)
defined in the ``_cmd_*.py`` modules; those modules never import this one.
"""

from __future__ import annotations

import sys

import typer
from typer.exceptions import TyperException

from ._cmd_certify import certify_cmd
from ._cmd_dataset import dataset_cmd
from ._cmd_demo import demo_cmd
from ._cmd_train import evaluate_cmd, predict_cmd, train_cmd
from ._cmd_discover import discover_cmd

app = typer.Typer(
    name="bellscope",
    help="Discover and certify nonlocal quantum correlations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)

app.command("certify")(certify_cmd)
app.command("dataset")(dataset_cmd)
app.command("demo")(demo_cmd)
app.command("train")(train_cmd)
app.command("predict")(predict_cmd)
app.command("evaluate")(evaluate_cmd)
app.command("discover")(discover_cmd)


def main() -> None:
    """Entry point of ``bellscope``: usage errors, like every bad input, are one ``error:`` line and exit 2."""
    try:
        code = app(standalone_mode=False, prog_name="bellscope")
    except TyperException as e:  # click's family: unknown command or option, bad value, missing argument
        ctx = getattr(e, "ctx", None)
        where = f"{ctx.command_path}: " if ctx is not None else ""
        message = e.format_message() if hasattr(e, "format_message") else str(e)
        typer.echo(f"error: {where}{' '.join(message.split())} (see --help)", err=True)
        sys.exit(2)
    except typer.Abort:
        typer.echo("error: aborted", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
