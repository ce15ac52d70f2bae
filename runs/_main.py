"""The process entry point of ``bellscope`` (``python -m runs`` too): signals first, then the command line.

SIGINT and SIGTERM get ``runs._signals``' handler before anything heavy is imported, and an interrupt while the
command line itself is being imported ends like one during a command: one line, exit 130 / 143.
"""

from __future__ import annotations

import sys

from ._signals import exit_code, install, interrupted_line


def main() -> None:
    """Run ``bellscope`` with ``sys.argv``."""
    try:
        install()
        from ._cli import main as cli_main
    except KeyboardInterrupt as e:
        sys.stderr.write(interrupted_line(e, "stopped before finishing") + "\n")
        sys.exit(exit_code(e))
    cli_main()
