"""Datasets: sample behaviours with a stated measure, label them with certified answers, chunk by chunk.

A dataset is fully described by a ``DatasetSpec`` (scenario, sampler and its parameters, n, master seed, chunk size,
measures). It is cut into chunks of ``chunk_size`` points; chunk ``i`` is a pure function of ``(spec, i)``:
its random numbers come from ``numpy.random.SeedSequence(seed, spawn_key=(i,))`` (= ``SeedSequence(seed).spawn``'s
i-th child). So the data do not depend on how many workers compute the chunks, on which machine, or on whether a
run was interrupted and resumed.

``make_chunk`` returns plain numpy arrays keyed by field name (``behaviours``, ``nl``, ``nl_status``, ...); the
run store (``runs``) decides where they live in the HDF5 file.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bellcore import (CHSH_CLASSES, Behaviour, BellScenario, BilocalScenario, NetworkScenario, Scenario, chsh_class, sample,
                      sampler_params)
from bellcore import scenario_from_json
from certify import SOLVED, ZERO_TOL, Status, nbl_label, nonlocality

__all__ = [
    "DatasetSpec",
    "DATASET_MEASURES",
    "STATUS_NAMES",
    "DATASET_KINDS",
    "make_chunk",
    "make_chunk_json",
    "chunk_rng",
    "label_fields",
    "summarise",
]

#: Label status codes written to new files (index = code; the file's HDF5 enum type names each code, and readers go
#: through those names, so a reordered ``certify.Status`` cannot mislabel old files).
STATUS_NAMES = tuple(s.value for s in Status)
#: Codes (in ``STATUS_NAMES``) whose label holds a usable value: ``certify.SOLVED``.
SOLVED_CODES = tuple(STATUS_NAMES.index(s.value) for s in SOLVED)
#: Labels a dataset can carry -> the dataset kinds they apply to (``certify.MEASURES`` are the certify measures).
DATASET_MEASURES = {"nl": ("bell",), "nbl": ("bilocal",), "class": ("chsh-correlators",), "network": ("network",)}
#: Dataset kinds (the CLI's ``--scenario``). ``network``: any ``bellcore.NetworkScenario`` (docs/networks.md),
#: labelled with ``certify.network_nonlocality``'s interval (``network_lower``, ``network_upper``, ``network_status``).
DATASET_KINDS = ("bell", "bilocal", "chsh-correlators", "network")
_DEFAULT_MEASURES = {"bell": ("nl",), "bilocal": ("nbl",), "chsh-correlators": ("class",), "network": ("network",)}


def _status_code(status: Status) -> int:
    return STATUS_NAMES.index(Status(status).value)


@dataclass(frozen=True)
class DatasetSpec:
    """Everything that determines a dataset's contents (and nothing that does not: no worker count, no paths).

    Attributes:
        kind: ``"bell"``, ``"bilocal"`` or ``"chsh-correlators"`` (m=2 behaviours with unbiased marginals).
        scenario: the ``Scenario`` of the behaviours.
        sampler: a name in ``bellcore.SAMPLERS``; ``params`` its parameters (defaults filled in).
        n: number of points; seed: the master seed; chunk_size: points per chunk (the unit of work, flush and resume).
        measures: labels to compute (``"nl"`` for Bell, ``"nbl"`` for bilocal, ``"class"`` for chsh-correlators).
        nbl_tol: gap tolerance of the certified NBL labels (``certify.nbl_label``; 1e-4 by default for datasets).
        nbl_max_nodes: node limit of the branch-and-bound (a label stopped by it keeps its valid interval with
            status ``limit``). nbl_time_limit: seconds per point, a safety net only: a label stopped by time depends
            on the machine's speed, so datasets bound the work by nodes.
    """

    kind: str
    scenario: Scenario
    sampler: str
    n: int
    seed: int
    params: dict[str, Any] = field(default_factory=dict)
    chunk_size: int = 500
    measures: tuple[str, ...] = ()
    nbl_tol: float = 1e-4
    nbl_max_nodes: int = 2000
    nbl_time_limit: float = 600.0

    @classmethod
    def create(
        cls,
        kind: str,
        scenario: Scenario | None,
        sampler: str | None,
        n: int,
        seed: int,
        params: dict[str, Any] | None = None,
        chunk_size: int = 500,
        measures: tuple[str, ...] | list[str] | None = None,
        nbl_tol: float = 1e-4,
        nbl_max_nodes: int = 2000,
        nbl_time_limit: float = 600.0,
    ) -> "DatasetSpec":
        """Validated construction (defaults filled in); raises ``ValueError`` with a clear message."""
        if kind not in DATASET_KINDS:
            raise ValueError(f"unknown dataset scenario {kind!r}; expected one of {', '.join(DATASET_KINDS)}")
        if kind == "chsh-correlators":
            if scenario is not None and scenario != BellScenario.binary(2):
                raise ValueError("the chsh-correlators dataset is defined for the m=2 binary Bell scenario only")
            scenario = BellScenario.binary(2)
            sampler = sampler or "chsh-correlators"
            if sampler != "chsh-correlators":
                raise ValueError(f"--scenario chsh-correlators uses the chsh-correlators sampler, not {sampler!r}")
        elif sampler == "chsh-correlators":
            raise ValueError("the chsh-correlators sampler needs --scenario chsh-correlators")
        if scenario is None:
            raise ValueError("a scenario is required")
        want = ("network" if isinstance(scenario, NetworkScenario)
                else "bilocal" if isinstance(scenario, BilocalScenario) else "bell")
        if want != kind and kind != "chsh-correlators":
            raise ValueError(f"scenario {scenario} does not match dataset kind {kind!r}")
        if sampler is None:
            sampler = "uniform-ns"
        params = sampler_params(sampler, params, scenario)
        n, seed, chunk_size = int(n), int(seed), int(chunk_size)
        if n < 1:
            raise ValueError(f"n must be a positive number of points; got {n}")
        if not 0 <= seed < 2**63:
            raise ValueError(f"seed must be a non-negative integer below 2**63; got {seed}")
        if chunk_size < 1:
            raise ValueError(f"chunk size must be >= 1; got {chunk_size}")
        measures = tuple(measures) if measures else _DEFAULT_MEASURES[kind]
        for m in measures:
            if m not in DATASET_MEASURES:
                raise ValueError(f"unknown measure {m!r}; known: {', '.join(DATASET_MEASURES)}")
            if kind not in DATASET_MEASURES[m]:
                raise ValueError(
                    f"measure {m!r} does not apply to {kind!r} datasets (it applies to {DATASET_MEASURES[m]})"
                )
        if "nl" in measures:
            scenario.check_enumerable()  # the NL LP enumerates the deterministic points: refuse before sampling
        if len(set(measures)) != len(measures):
            raise ValueError(f"repeated measure in {measures}")
        if not (nbl_tol > 0 and math.isfinite(nbl_tol)):
            raise ValueError(f"nbl_tol must be a positive number; got {nbl_tol}")
        if int(nbl_max_nodes) < 1 or not (nbl_time_limit > 0):
            raise ValueError(f"nbl_max_nodes must be >= 1 and nbl_time_limit > 0; got {nbl_max_nodes}, {nbl_time_limit}")
        return cls(
            kind, scenario, sampler, n, seed, params, chunk_size, tuple(measures), float(nbl_tol), int(nbl_max_nodes),
            float(nbl_time_limit),
        )

    # ------------------------------------------------------------------------------------------- chunks
    @property
    def n_chunks(self) -> int:
        return math.ceil(self.n / self.chunk_size)

    def chunk_bounds(self, i: int) -> tuple[int, int]:
        if not 0 <= i < self.n_chunks:
            raise ValueError(f"chunk {i} out of range 0..{self.n_chunks - 1}")
        start = i * self.chunk_size
        return start, min(self.n, start + self.chunk_size)

    # --------------------------------------------------------------------------------------------- JSON
    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "scenario": self.scenario.to_json(),
            "sampler": self.sampler,
            "params": dict(sorted(self.params.items())),
            "n": self.n,
            "seed": self.seed,
            "chunk_size": self.chunk_size,
            "measures": list(self.measures),
            "nbl_tol": self.nbl_tol,
            "nbl_max_nodes": self.nbl_max_nodes,
            "nbl_time_limit": self.nbl_time_limit,
        }

    def canonical_json(self) -> str:
        """Sorted, compact JSON: the stored config, and the input of ``config_hash``."""
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))

    def config_hash(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    @classmethod
    def from_json(cls, obj: dict[str, Any] | str) -> "DatasetSpec":
        if isinstance(obj, str):
            obj = json.loads(obj)
        try:
            return cls.create(
                obj["kind"],
                scenario_from_json(obj["scenario"]),
                obj["sampler"],
                obj["n"],
                obj["seed"],
                obj.get("params"),
                obj.get("chunk_size", 500),
                obj.get("measures"),
                obj.get("nbl_tol", 1e-4),
                obj.get("nbl_max_nodes", 2000),
                obj.get("nbl_time_limit", 600.0),
            )
        except KeyError as e:
            raise ValueError(f"dataset spec lacks field {e}") from None


# ------------------------------------------------------------------------------------------------- labels
def label_fields(spec: DatasetSpec) -> dict[str, tuple[np.dtype, tuple[int, ...]]]:
    """Every array ``make_chunk`` returns: field name -> (dtype, per-point shape)."""
    out: dict[str, tuple[np.dtype, tuple[int, ...]]] = {"behaviours": (np.dtype("f8"), spec.scenario.shape)}
    if spec.kind == "chsh-correlators":
        out["correlators"] = (np.dtype("f8"), (2, 2))
    for m in spec.measures:
        if m == "nl":
            out["nl"] = (np.dtype("f8"), ())
            out["nl_status"] = (np.dtype("u1"), ())
            out["nl_certified"] = (np.dtype("u1"), ())
            out["nonlocal"] = (np.dtype("u1"), ())
        elif m == "nbl":
            out["nbl_lower"] = (np.dtype("f8"), ())
            out["nbl_upper"] = (np.dtype("f8"), ())
            out["nbl_status"] = (np.dtype("u1"), ())
        elif m == "class":
            out["class"] = (np.dtype("i1"), ())
        elif m == "network":
            out["network_lower"] = (np.dtype("f8"), ())
            out["network_upper"] = (np.dtype("f8"), ())
            out["network_status"] = (np.dtype("u1"), ())
    return out


def chunk_rng(seed: int, i: int) -> np.random.Generator:
    """The generator of chunk ``i``: ``SeedSequence(seed, spawn_key=(i,))`` (independent streams per chunk)."""
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(int(i),)))


def _label_nl(beh: Behaviour) -> dict[str, np.ndarray]:
    n = len(beh)
    val = np.full(n, np.nan)
    status = np.zeros(n, np.uint8)
    cert = np.zeros(n, np.uint8)
    nonloc = np.zeros(n, np.uint8)
    for k in range(n):
        try:
            r = nonlocality(beh[k], validate=False)  # make_chunk validated the chunk
        except (RuntimeError, ValueError, ArithmeticError):  # a solver failure is recorded as such, never as a number
            status[k] = _status_code(Status.ERROR)  # (anything else is a bug and stops the run)
            continue
        status[k] = _status_code(r.status)
        val[k] = r.value if r.status in SOLVED else np.nan
        cert[k] = bool(r.certificate_checked)
        nonloc[k] = bool(r.is_nonlocal)
    return {"nl": val, "nl_status": status, "nl_certified": cert, "nonlocal": nonloc}


def _label_intervals(beh: Behaviour, prefix: str, certify_one) -> dict[str, np.ndarray]:
    """``{prefix}_lower``, ``{prefix}_upper``, ``{prefix}_status`` of certified intervals, ``certify_one(p, k)`` per
    point. The bounds stay valid when a limit stopped the search (status ``limit``); a solver failure is recorded
    as status ``error`` with NaN bounds, never as a number (anything else is a bug and stops the run)."""
    n = len(beh)
    lo, up = np.full(n, np.nan), np.full(n, np.nan)
    status = np.zeros(n, np.uint8)
    for k in range(n):
        try:
            r = certify_one(beh[k], k)
        except (RuntimeError, ValueError, ArithmeticError):
            status[k] = _status_code(Status.ERROR)
            continue
        status[k] = _status_code(r.status)
        lo[k], up[k] = float(r.lower), float(r.upper)
    return {f"{prefix}_lower": lo, f"{prefix}_upper": up, f"{prefix}_status": status}


def _label_nbl(beh: Behaviour, spec: "DatasetSpec") -> dict[str, np.ndarray]:
    """``certify.nbl_label`` per point: the one rule for certified NBL labels."""
    return _label_intervals(beh, "nbl", lambda p, k: nbl_label(
        p, validate=False, tol=spec.nbl_tol, max_nodes=spec.nbl_max_nodes, time_limit=spec.nbl_time_limit))


def _label_network(beh: Behaviour, spec: "DatasetSpec") -> dict[str, np.ndarray]:
    """``certify.network_nonlocality``'s interval per point (gap tolerance ``nbl_tol``, seconds ``nbl_time_limit``;
    a point whose gap does not close keeps its valid interval with status ``limit``)."""
    from certify import network_nonlocality

    return _label_intervals(beh, "network", lambda p, k: network_nonlocality(
        p, validate=False, tol=spec.nbl_tol, time_limit=spec.nbl_time_limit, seed=k))


def make_chunk(spec: DatasetSpec, i: int) -> dict[str, np.ndarray]:
    """Sample and label chunk ``i`` of ``spec`` (a pure function of its arguments)."""
    start, stop = spec.chunk_bounds(i)
    beh = sample(spec.sampler, spec.scenario, stop - start, chunk_rng(spec.seed, i), **spec.params)
    beh.validate(1e-9)
    out: dict[str, np.ndarray] = {"behaviours": np.ascontiguousarray(beh.numpy())}
    if spec.kind == "chsh-correlators":
        out["correlators"] = np.asarray(beh.correlators(), dtype=np.float64)
    for m in spec.measures:
        if m == "nl":
            out.update(_label_nl(beh))
        elif m == "nbl":
            out.update(_label_nbl(beh, spec))
        elif m == "class":
            out["class"] = chsh_class(out["correlators"])
        elif m == "network":
            out.update(_label_network(beh, spec))
    return out


def make_chunk_json(spec_json: str, i: int) -> dict[str, np.ndarray]:
    """``make_chunk`` with the spec as its canonical JSON (what workers receive)."""
    return make_chunk(DatasetSpec.from_json(spec_json), i)


# ------------------------------------------------------------------------------------------------ summary
def summarise(data: dict[str, np.ndarray]) -> dict[str, Any]:
    """Summary statistics of (part of) a dataset: counts, status counts, fraction local, quantiles, class balance."""
    out: dict[str, Any] = {"n": int(len(data["behaviours"]))}
    qs = (0.05, 0.25, 0.5, 0.75, 0.95)

    def quantiles(x):
        x = x[np.isfinite(x)]
        return {f"q{int(q * 100):02d}": float(np.quantile(x, q)) for q in qs} if len(x) else {}

    if "nl" in data:
        st = np.asarray(data["nl_status"])
        out["nl_status"] = {STATUS_NAMES[c]: int((st == c).sum()) for c in np.unique(st)}
        ok = np.isin(st, SOLVED_CODES)
        out["nl_certified"] = int(np.asarray(data["nl_certified"]).sum())
        out["fraction_local"] = float(1 - np.asarray(data["nonlocal"])[ok].mean()) if ok.any() else math.nan
        out["nl_quantiles"] = quantiles(np.asarray(data["nl"])[ok])
        out["nl_mean"] = float(np.nanmean(np.asarray(data["nl"])[ok])) if ok.any() else math.nan
    if "nbl_lower" in data:
        st = np.asarray(data["nbl_status"])
        out["nbl_status"] = {STATUS_NAMES[c]: int((st == c).sum()) for c in np.unique(st)}
        lo, up = np.asarray(data["nbl_lower"]), np.asarray(data["nbl_upper"])
        out["nbl_lower_quantiles"] = quantiles(lo)
        out["nbl_upper_quantiles"] = quantiles(up)
        fin = np.isfinite(up)
        out["fraction_bilocal"] = float((up[fin] <= ZERO_TOL).mean()) if fin.any() else math.nan  # explicit model
        flo = np.isfinite(lo)
        out["fraction_nonbilocal"] = float((lo[flo] > ZERO_TOL).mean()) if flo.any() else math.nan  # certified lower
        gap = (up - lo)[np.isfinite(up - lo)]
        out["nbl_max_gap"] = float(gap.max()) if len(gap) else math.nan
    if "network_lower" in data:
        st = np.asarray(data["network_status"])
        out["network_status"] = {STATUS_NAMES[c]: int((st == c).sum()) for c in np.unique(st)}
        lo, up = np.asarray(data["network_lower"]), np.asarray(data["network_upper"])
        out["network_lower_quantiles"] = quantiles(lo)
        out["network_upper_quantiles"] = quantiles(up)
        fin, flo = np.isfinite(up), np.isfinite(lo)
        out["fraction_network_local"] = float((up[fin] <= ZERO_TOL).mean()) if fin.any() else math.nan
        out["fraction_network_nonlocal"] = float((lo[flo] > ZERO_TOL).mean()) if flo.any() else math.nan
        gap = (up - lo)[np.isfinite(up - lo)]
        out["network_max_gap"] = float(gap.max()) if len(gap) else math.nan
    if "class" in data:
        c = np.asarray(data["class"])
        out["classes"] = {name: int((c == k).sum()) for k, name in enumerate(CHSH_CLASSES)}
        out["fraction_local"] = float((c == 0).mean()) if len(c) else math.nan
    return out

