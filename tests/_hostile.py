"""Running the real ``bellscope`` entry point on hostile inputs, and the checks every row of a hostile-input table makes.

``run_cli`` calls ``runs.cli._cli.main`` in-process (no interpreter start per case), so the last-resort net, the
signal handling and the exit codes are the ones a user meets. ``snapshot`` / ``assert_untouched`` compare every
file of a folder by sha256 before and after, so a refused command is seen to leave its inputs byte-identical and
to create nothing. ``assert_no_live_runs`` checks that no run file under a folder is left ``running``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import sys
from dataclasses import dataclass
from pathlib import Path

import h5py

ESC = "\x1b"


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [ln for ln in self.stderr.splitlines() if ln.strip()]


def run_cli(*argv: str, cwd: Path | None = None) -> CliResult:
    """``bellscope ARGV`` through ``runs.cli._cli.main``; returns exit code, stdout, stderr."""
    from runs.cli._cli import main

    out, err = io.StringIO(), io.StringIO()
    old_argv = sys.argv
    sys.argv = ["bellscope", *map(str, argv)]
    code = 0
    with contextlib.ExitStack() as stack:
        if cwd is not None:
            stack.enter_context(contextlib.chdir(cwd))
        stack.enter_context(contextlib.redirect_stdout(out))
        stack.enter_context(contextlib.redirect_stderr(err))
        try:
            main()
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        finally:
            sys.argv = old_argv
    return CliResult(code, out.getvalue(), err.getvalue())


def snapshot(folder: Path) -> dict[str, str]:
    """sha256 of every regular file under ``folder`` (links and pipes by kind), keyed by relative path."""
    out: dict[str, str] = {}
    for p in sorted(folder.rglob("*")):
        key = str(p.relative_to(folder))
        if p.is_symlink():
            out[key] = "link"
        elif p.is_fifo():
            out[key] = "fifo"
        elif p.is_file():
            out[key] = hashlib.sha256(p.read_bytes()).hexdigest()
        elif p.is_dir():
            out[key] = "dir"
    return out


def assert_one_error(res: CliResult, code: int, match: str) -> None:
    assert res.code == code, (res.code, res.stdout[-500:], res.stderr[-2000:])
    lines = res.error_lines
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr[-2000:]
    assert "Traceback" not in res.stderr and ESC not in res.stderr
    assert match in lines[0], lines[0]


def assert_no_live_runs(folder: Path) -> None:
    """No HDF5 file under ``folder`` claims ``status = running``."""
    for p in folder.rglob("*.h5"):
        if p.is_file() and not p.is_symlink():
            try:
                with h5py.File(p, "r", locking=False) as f:
                    status = f.attrs.get("status")
            except OSError:
                continue
            status = status.decode() if isinstance(status, bytes) else status
            assert status != "running", f"{p} left running"
