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


def test_the_command_lines_name_lists_are_the_librarys():
    """``runs/_names.py`` (light, for --help) holds the library's registries, in their order."""
    import bellcore
    import certify
    import surrogates
    from runs import _names as N
    from runs.cli import _choices as C
    from runs.pipeline import _reproduce

    assert N.SAMPLERS == tuple(bellcore.SAMPLERS)
    assert N.BILOCAL_VARIANTS == bellcore.BILOCAL_VARIANTS
    assert N.MEASURES == certify.MEASURES
    assert N.DATASET_KINDS == surrogates.DATASET_KINDS
    assert N.MODEL_TARGETS == surrogates.TARGETS
    assert N.MODEL_PRESETS == surrogates.PRESETS
    assert N.FEATURE_SETS == tuple(surrogates.FEATURE_SETS)
    assert (_reproduce.TARGETS, _reproduce.PRESETS) == (N.REPRODUCE_TARGETS, N.REPRODUCE_PRESETS)
    assert [m.value for m in C.ModelPreset] == list(surrogates.PRESETS)
    assert [m.value for m in C.Measure] == ["auto", *certify.MEASURES]
