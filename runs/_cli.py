"""The ``bellscope`` command line (typer). Each command lives in its own ``_cmd_*.py`` module."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="bellscope",
    help="Discover and certify nonlocal quantum correlations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)

# New-style registration (command modules never import ``_cli``).
from ._cmd_campaign import campaign  # noqa: E402
from ._cmd_runs import runs_app  # noqa: E402

app.command("campaign")(campaign)
app.add_typer(runs_app, name="runs")


def _register() -> None:
    from . import _cmd_certify, _cmd_dataset, _cmd_demo  # noqa: F401  (each adds its commands to ``app``)


def main() -> None:
    _register()
    app()
