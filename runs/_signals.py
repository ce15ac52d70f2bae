"""SIGINT and SIGTERM as one exception, and the exit codes and message each gets.

Every long command runs its work inside ``with catch_signals():``. Ctrl-C already raises ``KeyboardInterrupt``;
inside the block SIGTERM raises ``Terminated`` (a ``KeyboardInterrupt`` too), so the same ``finally`` and
``except KeyboardInterrupt`` clauses mark files failed (resumable) for both. The command then calls
``exit_interrupted(exc, what)``: one true line on stderr and exit 130 (SIGINT) or 143 (SIGTERM), the shell's codes.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from typing import Iterator, NoReturn

import typer

EXIT_SIGINT = 130
EXIT_SIGTERM = 143


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is so that it stops as Ctrl-C does."""


def _on_sigterm(signum, frame) -> None:
    raise Terminated()


@contextlib.contextmanager
def catch_signals() -> Iterator[None]:
    """Route SIGTERM to ``Terminated`` for the block (off the main thread only the default handling is possible, so
    there it does nothing) and restore the previous handler after."""
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # signal handlers can only be set from the main thread
        previous = None
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def exit_code(exc: BaseException) -> int:
    """130 for Ctrl-C, 143 for SIGTERM."""
    return EXIT_SIGTERM if isinstance(exc, Terminated) else EXIT_SIGINT


def exit_interrupted(exc: BaseException, what: str) -> NoReturn:
    """Print ``interrupted: WHAT`` (or ``terminated (SIGTERM): WHAT``) and exit with the signal's code.

    ``what`` must say what is left on disk and be true: say "nothing was written" when nothing was.
    """
    head = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
    typer.echo(f"{head}: {what}", err=True)
    sys.stderr.flush()
    raise typer.Exit(exit_code(exc))
