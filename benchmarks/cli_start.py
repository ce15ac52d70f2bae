"""Start-up time of the ``bellscope`` commands that should answer at once, and which heavy modules they import.

    python benchmarks/cli_start.py [--repeat 5] [--runs-dir bellscope-results]
    PYTHONPATH=OLD_TREE python benchmarks/cli_start.py      # the same commands on another checkout

For each command: the median wall time over ``--repeat`` fresh interpreters, and whether JAX, the LP solvers
(highspy, scipy.optimize, cvxpy) or nevergrad were imported. Quote the load average beside the numbers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAVY = ("jax", "highspy", "scipy.optimize", "cvxpy", "nevergrad", "equinox", "optax")

PROBE = """
import sys, io, contextlib
sys.argv = ["bellscope", *{argv!r}]
try:
    from runs._main import main
except ImportError:  # a tree from before runs/_main.py (for before/after comparisons)
    from runs._cli import main
out = io.StringIO()
try:
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        main()
except SystemExit:
    pass
print("heavy:" + ",".join(m for m in {heavy!r} if m in sys.modules))
"""


def heavy_imports(argv: list[str]) -> str:
    code = PROBE.format(argv=argv, heavy=HEAVY)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("heavy:")]
    return lines[-1][len("heavy:"):] if lines else "?"


def wall(argv: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "runs", *argv], capture_output=True, timeout=120)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--runs-dir", default=None, help="a folder of run files for `runs ls` / `runs show`")
    args = ap.parse_args()
    runs_dir = Path(args.runs_dir) if args.runs_dir else Path(tempfile.mkdtemp())
    files = sorted(runs_dir.glob("*.h5"))
    cmds = [["--help"], ["--version"], ["runs", "ls", str(runs_dir)]]
    if files:
        cmds.append(["runs", "show", str(files[0])])
    t0 = time.perf_counter()
    for _ in range(args.repeat):
        subprocess.run([sys.executable, "-c", "pass"], capture_output=True)
    bare = (time.perf_counter() - t0) / args.repeat
    print(f"load average {os.getloadavg()[0]:.2f}; bare interpreter {bare:.3f} s")
    print("| command | median wall (s) | heavy modules imported |")
    print("|---|---|---|")
    for argv in cmds:
        print(f"| bellscope {' '.join(argv)} | {wall(argv, args.repeat):.3f} | {heavy_imports(argv) or 'none'} |")


if __name__ == "__main__":
    main()
