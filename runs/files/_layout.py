"""Every group, dataset and attribute name of a bellscope run file, in one place.

A run file (one per run, HDF5, created with mode ``"w-"``)::

    /                      attrs: kind, schema_version, status (running -> complete | failed), summary (JSON),
                                  created, updated, rows_complete, chunks_complete, wall_seconds (time spent
                                  computing, summed over resumes; set on complete / failed)
    /provenance            attrs: git_sha, git_dirty, packages (JSON), jax_backend, jax_x64, python, argv (JSON),
                                  hostname, cpu_count, resumes (JSON list of {time, argv})
    /config                attrs: json (sorted canonical JSON of the run's spec), sha256 (of that JSON)
    /seeds                 attrs: master, derivation (how every other seed follows from the master)
    /scenario              attrs: json
    dataset runs:
    /behaviours            (N, *behaviour shape) float64
    /correlators           (N, 2, 2) float64            (chsh-correlators datasets)
    /labels/<field>        (N,) e.g. nl, nl_status, nl_certified, nonlocal, nbl_lower, nbl_upper, nbl_status, class,
                           network_lower, network_upper, network_status

Only the first ``rows_complete`` rows of a data set are valid: a run killed mid-chunk may leave longer data sets,
which ``--resume`` truncates. Label status data sets use an HDF5 enum type (h5dump shows the names).
"""

from __future__ import annotations

import h5py
import numpy as np

SCHEMA_VERSION = 1

#: The results folder a campaign writes to by default, and where ``runs show ID`` looks after the current folder.
DEFAULT_RUNS_DIR = "bellscope-results"

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
    "network_lower": "certified lower bound on the distance to the network-local set: fanout-inflation LP, dual "
                     "re-checked in exact arithmetic (NaN if none)",
    "network_upper": "certified upper bound on that distance: an explicit network-local model (NaN if none)",
    "network_status": "certify.Status of the network interval (limit: the gap did not close; both bounds valid)",
    "class": "0 local, 1 quantum (not local), 2 postquantum: CHSH and TLM criteria (docs/measures.md)",
}


def data_path(field: str) -> str:
    """Where a data field of ``surrogates.make_chunk`` lives in the file."""
    return f"/{field}" if field in _TOP_LEVEL_FIELDS else f"/{LABELS}/{field}"


# ================================================================================================================
# Model runs (surrogates helper). A model file (root attr kind = "model")::
#
#     /model                 attrs: hyperparameters (JSON: training config, groups, task, dims, dtype, blend choice,
#                                   trivial predictor), feature_set, target, scenario (JSON), dataset_hash
#     /model/members/<group> (bytes,) uint8: eqx.tree_serialise_leaves of the group's pytree (member axis first)
#     /model/blend_weights   (K,) blend weights, one per member (groups in order)
#     /model/x_mean, x_std   (d,) feature standardisation; /model/y_scale () target scale
#     /training/<group>/step (T,); train_loss, val_loss, val_mae (T, members); best_epoch (members,)
#     /evaluation/y_true, y_pred, y_std   the validation split: labels, blended prediction, member spread
#                                         (classification: y_pred = predicted class, y_std = spread of the
#                                         predicted class's probability)
# ================================================================================================================
KIND_MODEL = "model"
MODEL = "model"
MODEL_HYPERPARAMETERS = "hyperparameters"
MODEL_FEATURE_SET = "feature_set"
MODEL_TARGET = "target"
MODEL_SCENARIO = "scenario"
MODEL_DATASET_HASH = "dataset_hash"
MODEL_MEMBERS = "members"
MODEL_BLEND_WEIGHTS = "blend_weights"
MODEL_X_MEAN = "x_mean"
MODEL_X_STD = "x_std"
MODEL_Y_SCALE = "y_scale"
TRAINING = "training"
TRAINING_FIELDS = ("step", "train_loss", "val_loss", "val_mae")
TRAINING_BEST_EPOCH = "best_epoch"
EVALUATION = "evaluation"
EVALUATION_FIELDS = ("y_true", "y_pred", "y_std")
HEADLINE = "headline"


# ===================================================================================== discovery runs (discover)
# A discovery run (``bellscope discover``)::
#
#     /model                 attrs: target (what the searchers maximised), path, config_hash (of the model run
#                                   file's /config, "" when no model was used), feature_set, scenario
#     /traces/<name>/        step, time, value, best, nan, evaluations (T,); attrs: searcher, objective, seed,
#                                   theta, seconds, params_paths (JSON)
#     /candidates/<field>    (N, ...) see DISCOVERY_FIELDS; rows appended (and flushed) after each scan point
#
# <name> is the searcher's name, suffixed "@theta=<value>" when the campaign scans theta.
KIND_DISCOVERY = "discovery"
MODEL_TARGET = "target"
MODEL_PATH = "path"
MODEL_CONFIG_HASH = "config_hash"
TRACES = "traces"
TRACE_FIELDS = ("step", "time", "value", "best", "nan", "evaluations")
CANDIDATES = "candidates"
DISCOVERY_STATUS_NONE = "none"  # enum value of a status that was not computed (e.g. nbl_status of a Bell pair)

DISCOVERY_FIELDS = {
    "behaviour": "p[outcomes..., settings...] of the candidate, float64, recomputed from its parameters",
    "params": "flattened searched parameters (jax.flatten_util.ravel_pytree order; see /traces/*/params_paths)",
    "value": "objective value found by the search (the searcher maximised it)",
    "pred_mean": "surrogate's predicted mean at the candidate (NaN without a surrogate)",
    "pred_std": "surrogate ensemble's std at the candidate (NaN without a surrogate)",
    "brgp": "sqrt|I| + sqrt|J| (bilocal only; > 1 proves nonbilocality), NaN otherwise",
    "tripartite_nl": "certified tripartite NL: distance to an explicit tripartite local model (NaN if not computed)",
    "tripartite_status": "certify.Status of the tripartite NL LP",
    "nl_lower": "bipartite: certified NL lower bound (violation of the dual Bell functional), NaN otherwise",
    "nl_upper": "bipartite: distance to an explicit local model, NaN otherwise",
    "nl_status": "certify.Status of the NL LP",
    "nbl_lower": "certified lower bound on NBL (branch-and-bound), NaN if not certified",
    "nbl_upper": "certified upper bound on NBL (distance to an explicit bilocal model), NaN if not certified",
    "nbl_status": "certify.Status of the NBL branch-and-bound",
    "discovery": "certified lower bound > 0 and every constraint of the campaign holds",
    "searcher": "name of the trace (searcher) that found the candidate",
    "theta": "source angle of cos(theta)|00> + sin(theta)|11> sources, NaN if the family has none",
    "seconds": "certification wall time of the candidate (s)",
}


#: A network family's candidates (runs/jobs/_network_discover_run.py): these fields, and of DISCOVERY_FIELDS the
#: behaviour, params, value, discovery, searcher, theta (NaN) and seconds.
NETWORK_CANDIDATE_FIELDS = {
    "network_lower": "certified lower bound on the distance to the network-local set (inflation LP, dual re-checked "
                     "in exact arithmetic)",
    "network_upper": "distance to an explicit network-local model",
    "network_status": "certify.Status of the network interval (limit: the gap did not close; both bounds valid)",
    "inflation": "the fanout inflation that gave the lower bound ('' if none did)",
}


def candidates_path(field: str) -> str:
    return f"/{CANDIDATES}/{field}"


def trace_path(name: str) -> str:
    return f"/{TRACES}/{name}"


# ---------------------------------------------------------------------------------------------------------------
# runs browsing, provenance, discovery readers, campaigns (browse helper, issue 10)
# Discovery names follow the brief's layout contract; writers (discover helper) and readers (runs ls/show/plot/
# export, campaigns) share them.
# ---------------------------------------------------------------------------------------------------------------
KIND_CAMPAIGN = "campaign"
KINDS = (KIND_DATASET, KIND_MODEL, KIND_DISCOVERY, KIND_CAMPAIGN)

WALL_SECONDS = "wall_seconds"  # root attr set at completion (or failure): seconds spent computing
JAX_X64 = "jax_x64"  # provenance attr: "true" / "false", whether jax_enable_x64 was on
HOSTNAME_CPUS = "cpu_count"  # provenance attr

# model runs, one name per field for the readers (the same strings as the writer's tuples above)
TRAIN_STEP, TRAIN_LOSS, VAL_LOSS, VAL_MAE = TRAINING_FIELDS
EVAL_Y_TRUE, EVAL_Y_PRED, EVAL_Y_STD = EVALUATION_FIELDS

# discovery runs: one name per field for the readers (the writer's DISCOVERY_FIELDS / TRACE_FIELDS keys)
TRACE_STEP = "step"
TRACE_TIME = "time"
TRACE_VALUE = "value"
TRACE_BEST = "best"
CAND_BEHAVIOUR = "behaviour"
CAND_PARAMS = "params"
CAND_PRED_MEAN = "pred_mean"
CAND_PRED_STD = "pred_std"
CAND_BRGP = "brgp"
CAND_TRIPARTITE_NL = "tripartite_nl"
CAND_NBL_LOWER = "nbl_lower"
CAND_NBL_UPPER = "nbl_upper"
CAND_NBL_STATUS = "nbl_status"
CAND_DISCOVERY = "discovery"
CAND_SEARCHER = "searcher"
CAND_THETA = "theta"

# campaign runs: one record per campaign (the stages it ran, their files and hashes) and its certified best
CAMPAIGN_STAGES = "stages"  # attr of /config: JSON list of {stage, kind, file, sha256, outcome, wall_seconds}
CAMPAIGN_TOML = "toml"  # attr of /config: the campaign file's text as given
CERTIFIED = "certified"  # group: re-certified candidates (same field names as /candidates) + source_file/index
CERT_SOURCE_INDEX = "source_index"  # (N,) row of the candidate in its discovery file's /candidates
CERT_SOURCE_FILE = "source_file"  # (N,) string: that discovery file's name



# /learn: the surrogate learned inside a discovery run (runs/jobs/_learn_run.py). One row per labelled behaviour,
# and /learn/rounds/<field> one entry per round (discover.LEARN_FIELDS).
LEARN = "learn"
LEARN_ROUNDS = "learn/rounds"
LEARN_ROW_FIELDS = {
    "behaviour": "labelled behaviour p[outcomes..., settings...] (float64)",
    "y": "training target: midpoint of the certified interval (NaN where not usable)",
    "usable": "the label is usable (certify.usable_labels: interval closed to the campaign's tolerance)",
    "lower": "certified lower bound (NBL: max of the branch and bound's and the tripartite NL's; Bell pair: NL)",
    "upper": "certified upper bound (distance to an explicit model)",
    "tripartite_nl": "tripartite NL (bilocal network; NaN for a Bell pair)",
    "method": "how the interval was closed (certify.LABEL_METHODS: model | tripartite | branch-and-bound; lp)",
    "source": "why the row was labelled (discover.LABEL_SOURCES: family | maximum | neighbour | disagreement)",
    "round": "learning round that labelled it (-1: the initial family sample)",
    "theta": "scan point (source angle) of its family (NaN without a scan)",
}
LEARN_ROUND_FIELDS = {
    "round": "round index",
    "n_train": "usable training rows of the surrogate that searched in this round",
    "n_maxima": "distinct maxima of the surrogate searchers labelled (all scan points)",
    "mae": "mean |surrogate - certified target| at those maxima",
    "mae_constant": "the same for the constant median of the surrogate's training targets",
    "spearman": "Spearman rank correlation between surrogate and certified target at the maxima",
    "best_label": "largest certified lower bound among the maxima",
    "n_added": "usable rows added to the training data this round",
    "search_seconds": "wall seconds of the round's surrogate searches",
    "label_seconds": "wall seconds of the round's labels",
    "fit_seconds": "wall seconds of the warm refit after the round (0 after the last)",
}


# ------------------------------------------------------------------------------------------------------------------
# Status codes: one table for every file kind (dataset labels, discovery candidates, a campaign's /certified).
# Code i is the i-th ``certify.Status`` (optimal 0, inaccurate 1, limit 2, infeasible 3, error 4, the order
# ``surrogates.STATUS_NAMES`` also has); ``none`` (a status that was not computed) is 255 and shifts nothing.
# Writers store these data sets with ``STATUS_ENUM``, an HDF5 enum type, so every file carries its own
# name <-> code mapping; readers decode through that stored mapping (``status_names``), which also reads discovery
# files written before this table, whose enum had ``none`` = 0 and every certify code shifted by one.
# ------------------------------------------------------------------------------------------------------------------
# The codes are written down here, not derived from ``certify.Status`` at import: a file format's codes never move,
# and ``bellscope runs ls`` must not import the solvers. tests/test_discover_rules.py checks that they follow
# ``certify.Status``.
STATUS_NONE = DISCOVERY_STATUS_NONE
STATUS_CODES: dict[str, int] = {"optimal": 0, "inaccurate": 1, "limit": 2, "infeasible": 3, "error": 4, STATUS_NONE: 255}
STATUS_ENUM = h5py.enum_dtype(STATUS_CODES, basetype="u1")


def status_code(name: str | None) -> int:
    """The code of a status name (``""`` / None: ``none``); an unknown name raises ``ValueError``."""
    name = str(name or STATUS_NONE)
    if name not in STATUS_CODES:
        raise ValueError(f"unknown status {name!r}; expected one of {sorted(STATUS_CODES)}")
    return STATUS_CODES[name]


def status_names(dtype: np.dtype) -> dict[int, str]:
    """``{code: name}`` stored with an HDF5 enum status data set (old and new tables alike); ``ValueError`` when
    the data set is not an enum of known status names."""
    m = h5py.check_enum_dtype(dtype)
    if m is None:
        raise ValueError(f"a status data set must be an HDF5 enum; got {dtype}")
    unknown = set(m) - set(STATUS_CODES)
    if unknown:
        raise ValueError(f"a status data set names unknown statuses {sorted(unknown)}")
    return {int(v): k for k, v in m.items()}


def decode_status(codes: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Status names (object array) of stored ``codes`` through the file's own enum mapping ``dtype``."""
    names = status_names(dtype)
    codes = np.asarray(codes)
    bad = set(np.unique(codes).tolist()) - set(names)
    if bad:
        raise ValueError(f"a status data set holds codes {sorted(bad)} its enum type does not name")
    return np.array([names[int(c)] for c in codes.ravel()], dtype=object).reshape(codes.shape)
