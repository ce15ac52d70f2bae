"""The commands that should answer at once import neither JAX nor the solvers (benchmarks/cli_start.py times them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ._runfiles import make_model

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("jax", "highspy", "scipy.optimize", "cvxpy", "nevergrad", "equinox", "optax", "bellcore", "certify")

PROBE = """
import sys, io, contextlib
sys.argv = ["bellscope", *{argv!r}]
from runs._main import main
out = io.StringIO()
code = 0
try:
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        main()
except SystemExit as e:
    code = e.code
print("exit", code)
print("heavy:" + ",".join(m for m in {heavy!r} if m in sys.modules))
"""


@pytest.fixture(scope="module")
def run_file(tmp_path_factory) -> Path:
    return make_model(tmp_path_factory.mktemp("start") / "model.h5")


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["runs", "--help"], ["runs", "ls", "DIR"], ["runs", "show", "FILE"]],
                         ids=["help", "version", "runs-help", "runs-ls", "runs-show"])
def test_fast_commands_import_no_heavy_module(run_file, argv):
    argv = [str(run_file.parent) if a == "DIR" else str(run_file) if a == "FILE" else a for a in argv]
    res = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv, heavy=HEAVY)], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    lines = res.stdout.splitlines()
    assert "exit 0" in lines, res.stdout + res.stderr
    assert lines[-1] == "heavy:", f"{argv} imported {lines[-1]}"
