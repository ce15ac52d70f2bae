"""Every group, dataset and attribute name of a bellscope run file, in one place.

A run file (one per run, HDF5, created with mode ``"w-"``)::

    /                      attrs: kind, schema_version, status (running -> complete | failed), summary (JSON),
                                  created, updated, rows_complete, chunks_complete
    /provenance            attrs: git_sha, git_dirty, packages (JSON), jax_backend, python, argv (JSON),
                                  hostname, resumes (JSON list of {time, argv})
    /config                attrs: json (sorted canonical JSON of the run's spec), sha256 (of that JSON)
    /seeds                 attrs: master, derivation (how every other seed follows from the master)
    /scenario              attrs: json
    dataset runs:
    /behaviours            (N, *behaviour shape) float64
    /correlators           (N, 2, 2) float64            (chsh-correlators datasets)
    /labels/<field>        (N,) e.g. nl, nl_status, nl_certified, nonlocal, nbl_lower, nbl_upper, nbl_status, class

Only the first ``rows_complete`` rows of a data set are valid: a run killed mid-chunk may leave longer data sets,
which ``--resume`` truncates. Label status data sets use an HDF5 enum type (h5dump shows the names).
"""

from __future__ import annotations

SCHEMA_VERSION = 1

# root attributes
KIND = "kind"
SCHEMA = "schema_version"
STATUS = "status"
SUMMARY = "summary"
CREATED = "created"
UPDATED = "updated"
ROWS_COMPLETE = "rows_complete"
CHUNKS_COMPLETE = "chunks_complete"

STATUS_RUNNING = "running"
STATUS_COMPLETE = "complete"
STATUS_FAILED = "failed"

KIND_DATASET = "dataset"

# groups and their attributes
PROVENANCE = "provenance"
GIT_SHA = "git_sha"
GIT_DIRTY = "git_dirty"
PACKAGES = "packages"
JAX_BACKEND = "jax_backend"
PYTHON = "python"
ARGV = "argv"
HOSTNAME = "hostname"
RESUMES = "resumes"

CONFIG = "config"
CONFIG_JSON = "json"
CONFIG_HASH = "sha256"

SEEDS = "seeds"
SEED_MASTER = "master"
SEED_DERIVATION = "derivation"

SCENARIO = "scenario"
SCENARIO_JSON = "json"

# data
BEHAVIOURS = "behaviours"
LABELS = "labels"
DESCRIPTION = "description"
CLASS_NAMES = "classes"

_TOP_LEVEL_FIELDS = {BEHAVIOURS, "correlators"}

FIELD_DESCRIPTIONS = {
    "behaviours": "p[a, b, ..., x, y, ...] per point (outcomes first, then settings)",
    "correlators": "E[x, y] of the CHSH scenario (marginals are zero)",
    "nl": "NL, trace distance to the local set (docs/measures.md); NaN unless nl_status is optimal or inaccurate",
    "nl_status": "certify.Status of the NL LP",
    "nl_certified": "1 if the NL certificate (dual Bell functional) passed the solver-free check",
    "nonlocal": "1 if the certified lower bound on NL exceeds certify's ZERO_TOL",
    "nbl_lower": "certified lower bound on NBL (NaN if none)",
    "nbl_upper": "certified upper bound on NBL: distance to an explicit bilocal model (NaN if none)",
    "nbl_status": "certify.Status of the NBL branch-and-bound",
    "class": "0 local, 1 quantum (not local), 2 postquantum: CHSH and TLM criteria (docs/measures.md)",
}


def data_path(field: str) -> str:
    """Where a data field of ``surrogates.make_chunk`` lives in the file."""
    return f"/{field}" if field in _TOP_LEVEL_FIELDS else f"/{LABELS}/{field}"
