"""What a run file records about the process that wrote it (its ``/provenance`` group, ``runs/files/_layout.py``):
git sha and dirty flag (read-only git calls), package versions, JAX backend and x64 flag, Python, argv, host."""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from runs.files import _layout as L

__all__ = ["provenance"]

_PACKAGES = (
    "bellscope", "numpy", "scipy", "h5py", "highspy", "cvxpy", "jax", "jaxlib", "equinox", "optax", "nevergrad",
    "dask", "distributed", "typer", "rich", "matplotlib",
)
_REPO = Path(__file__).resolve().parents[2]


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "--no-optional-locks", *args], cwd=_REPO, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def provenance(argv: list[str] | None = None) -> dict[str, Any]:
    """Git sha and dirty flag (read-only git calls), package versions, JAX backend and x64 flag, Python, argv, host."""
    sha = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no")
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    try:
        import jax

        backend = jax.default_backend()
        x64 = "true" if jax.config.read("jax_enable_x64") else "false"
    except Exception as e:  # pragma: no cover - jax is a dependency
        backend, x64 = f"unavailable: {e}", "unknown"
    return {
        L.GIT_SHA: sha or "unknown",
        L.GIT_DIRTY: "unknown" if status is None else ("true" if status else "false"),
        L.PACKAGES: json.dumps(versions, sort_keys=True),
        L.JAX_BACKEND: backend,
        L.JAX_X64: x64,
        L.HOSTNAME_CPUS: os.cpu_count() or 0,
        L.PYTHON: f"{platform.python_implementation()} {platform.python_version()}",
        L.ARGV: json.dumps(list(sys.argv if argv is None else argv)),
        L.HOSTNAME: socket.gethostname(),
        L.RESUMES: "[]",
    }
