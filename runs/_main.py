"""The process entry point of ``bellscope`` (``python -m runs`` too): signals first, then the command line.

SIGINT and SIGTERM get ``runs._signals``' handler before anything heavy is imported, and an interrupt while the
command line itself is being imported ends like one during a command: one line, exit 130 / 143.

After an interrupt the process leaves with ``os._exit``: every file has been closed and marked by then, and
interpreter finalisation after an interrupted JAX / HiGHS computation was seen to segfault (exit 139 after the
true line). In-process callers (tests) use ``runs.cli._cli.main``, which ends with an ordinary ``SystemExit``.
"""

from __future__ import annotations

import os
import sys

from runs._signals import exit_code, install, interrupted_line, state


def main() -> None:
    """Run ``bellscope`` with ``sys.argv``."""
    try:
        install()
        from runs.cli._cli import main as cli_main
    except KeyboardInterrupt as e:
        sys.stderr.write(interrupted_line(e, "stopped before finishing") + "\n")
        sys.stderr.flush()
        os._exit(exit_code(e))
    try:
        cli_main()
    except SystemExit as e:
        if state["received"] is None:
            raise
        code = e.code if isinstance(e.code, int) else exit_code()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
