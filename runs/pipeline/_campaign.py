"""Campaigns: a TOML file describing dataset(s) -> train -> discover -> certify, each stage one run file.

Every stage has a canonical config (sorted JSON of what determines its result, including the hashes of the stages
it reads) and its SHA-256; its run file is ``<results>/<kind>-<name>-<hash12>.h5``. Running a campaign:

- a stage whose file exists and is ``complete`` is **reused** (nothing recomputed);
- a dataset stage whose file is ``running`` (killed) or ``failed`` is **resumed** from its committed chunks;
- any other stage whose file is ``failed`` or was left ``running`` by a killed process is moved aside to
  ``<stem>.failed-<k>.h5`` (never overwritten, never deleted) and **computed** again;
- a file still held by a live writer stops the campaign with a clear error.

The campaign's own record, ``campaign-<name>-<hash12>.h5`` (kind ``campaign``), holds the stage list (files,
hashes, reused or computed, wall time), the TOML text, and the certify stage's output: the best candidates of
every discovery re-certified at a tighter tolerance (``/certified``, same field names as ``/candidates``).

The TOML schema is documented in ``docs/runs.md`` and in ``CAMPAIGN_KEYS`` below.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import h5py
import numpy as np

from runs.files import _layout as L
from runs.files import _store
from runs.jobs._discover_config import load_discovery_config, normalise_discovery_config

__all__ = [
    "Stage",
    "Campaign",
    "StageResult",
    "CampaignResult",
    "load_campaign",
    "parse_campaign",
    "run_campaign",
    "CAMPAIGN_KEYS",
    "DEFAULT_CAMPAIGN",
]

Progress = Callable[[int, int, Mapping[str, float]], None]
#: ``on_stage(index, n_stages, stage, state, info)``; state: "start", "reused", "resumed", "computed", "failed".
OnStage = Callable[[int, int, "Stage", str, Mapping[str, Any]], None]

#: Allowed keys per table, with their meaning (the schema; ``docs/runs.md`` repeats it).
CAMPAIGN_KEYS: dict[str, dict[str, str]] = {
    "campaign": {
        "name": "campaign name (file name of the record; default: the TOML file name)",
        "seed": "default seed of every stage that sets none",
        "workers": "local worker processes for stages that fan out (not part of any hash)",
    },
    "dataset": {
        "name": "stage name, referenced by train.dataset",
        "scenario": "bell | bilocal | chsh-correlators",
        "settings": "bell: settings per party",
        "outcomes": "bell: outcomes per setting (default 2)",
        "variant": "bilocal: binary | bsm",
        "sampler": "sampler name (bellscope dataset --help)",
        "params": "sampler parameters (table)",
        "measures": "labels, e.g. [\"nl\"] / [\"nbl\"] / [\"class\"]",
        "n": "number of points",
        "seed": "master seed",
        "chunk_size": "points per chunk (unit of resuming)",
        "nbl_tol": "NBL branch-and-bound gap",
        "nbl_max_nodes": "NBL node limit per point",
        "nbl_time_limit": "NBL time limit per point (s)",
    },
    "train": {
        "name": "stage name, referenced by discover.model",
        "dataset": "name of the dataset stage to train on",
        "target": "label to learn: nl | nbl | class (default: the dataset's measure)",
        "preset": "training preset: quick | paper | maxaffine | dual",
        "members": "ensemble members in total",
        "seed": "training seed",
        "feature_set": "surrogates.FEATURE_SETS name (default: full; ij / abc for feature-sampled bilocal data)",
        "max_rows": "train on the first max_rows rows only",
        "overrides": "table of TrainConfig fields to change",
    },
    "discover": {
        "name": "stage name",
        "model": "name of a train stage whose surrogate is the objective (optional)",
        "quick": "small budgets (bool)",
        "config": "discovery config: a shipped name (fig3b, smoke, ...), a TOML path (relative to the campaign "
                  "file), or an inline table (bellscope discover --help)",
    },
    "certify": {
        "top": "re-certify the best `top` candidates of each discovery (by certified lower bound, then prediction)",
        "tol": "NBL branch-and-bound gap",
        "max_nodes": "node limit per candidate",
        "time_limit": "time limit per candidate (s)",
    },
}

STAGE_ORDER = ("dataset", "train", "discover", "certify")

#: Version of what this module computes in a stage (hashed with its options): bump it when a stage's output
#: changes meaning, so that old files are not reused for new work. (dataset, train and discover stages hash their
#: inputs as their own runners define them.)
STAGE_VERSION = {"certify": 2}

#: The README's first command: a small bilocal (BSM) campaign that fits in minutes on two cores.
DEFAULT_CAMPAIGN = """\
# bellscope's default campaign (Fig. 3b, small): learn NBL of the entanglement-swapping network from certified
# labels on (I, J, <A0>, <A1>) features, maximise the surrogate over quantum strategies with cos θ|00> + sin θ|11>
# sources while keeping BRGP satisfied, and certify the best candidates (NBL interval by branch-and-bound).
[campaign]
name = "demo"
seed = 1
workers = 2

[[dataset]]
name = "swap-ij"
scenario = "bilocal"
variant = "binary"
sampler = "features-ij"
n = 240
chunk_size = 30
nbl_max_nodes = 300

[[train]]
name = "swap-ij"
dataset = "swap-ij"
target = "nbl"
preset = "quick"
members = 3
feature_set = "ij"

[[discover]]
name = "fig3b"
model = "swap-ij"
quick = true
config = "fig3b"

[certify]
top = 3
tol = 1e-4
max_nodes = 5000
time_limit = 30
"""


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def _sha(obj: Any) -> str:
    return hashlib.sha256(_canonical(obj).encode()).hexdigest()


@dataclass(frozen=True)
class Stage:
    """One stage: ``kind`` in STAGE_ORDER, its ``name``, the TOML ``options``, the names it ``needs``."""

    kind: str
    name: str
    options: Mapping[str, Any]
    needs: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}"


@dataclass(frozen=True)
class Campaign:
    """A parsed campaign: its name, default seed, workers, stages in execution order, and the TOML text."""

    name: str
    seed: int
    workers: int
    stages: tuple[Stage, ...]
    toml: str = ""
    base_dir: Path | None = None  # folder of the TOML file (relative paths in it are relative to it)


@dataclass(frozen=True)
class StageResult:
    """What one stage did: ``outcome`` is "reused", "resumed" or "computed"; ``headline`` from its summary."""

    kind: str
    name: str
    file: Path
    sha256: str
    outcome: str
    wall_seconds: float
    headline: str

    def to_json(self) -> dict[str, Any]:
        return {
            "stage": self.kind, "name": self.name, "file": self.file.name, "sha256": self.sha256,
            "outcome": self.outcome, "wall_seconds": self.wall_seconds, "headline": self.headline,
        }


@dataclass(frozen=True)
class CampaignResult:
    """The record file, every stage's result, and the best certified candidate (None without discovery)."""

    record: Path
    stages: tuple[StageResult, ...]
    best: Mapping[str, Any] | None = None
    record_outcome: str = "computed"

    @property
    def recomputed(self) -> list[StageResult]:
        return [s for s in self.stages if s.outcome != "reused"]


# ------------------------------------------------------------------------------------------------------ parsing
def load_campaign(path: str | os.PathLike) -> Campaign:
    """Read and validate a campaign TOML file; raises ``ValueError`` with a one-line reason."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"no such campaign file: {path}")
    text = path.read_text()
    return parse_campaign(text, default_name=path.stem, base_dir=path.resolve().parent)


def parse_campaign(text: str, default_name: str = "campaign", base_dir: Path | None = None) -> Campaign:
    """Validate a campaign given as TOML text (see ``CAMPAIGN_KEYS``); unnamed campaigns take ``default_name``."""
    try:
        obj = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"invalid TOML: {e}") from None
    unknown = set(obj) - set(CAMPAIGN_KEYS)
    if unknown:
        raise ValueError(f"unknown table(s) {sorted(unknown)}; a campaign has {', '.join(CAMPAIGN_KEYS)}")
    head = obj.get("campaign", {})
    _check_keys("campaign", head)
    name = str(head.get("name", default_name))
    seed = head.get("seed", 0)
    workers = head.get("workers", 1)
    _check_seed(seed, "[campaign] seed")
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"[campaign] workers must be an integer >= 1; got {workers!r}")
    stages: list[Stage] = []
    names: dict[str, set[str]] = {k: set() for k in STAGE_ORDER}
    for kind in ("dataset", "train", "discover"):
        entries = obj.get(kind, [])
        if isinstance(entries, dict):
            entries = [entries]
        for i, e in enumerate(entries):
            where = f"[[{kind}]] #{i + 1}"
            if not isinstance(e, dict):
                raise ValueError(f"{where} must be a table")
            _check_keys(kind, e, where)
            sname = str(e.get("name", kind if len(entries) == 1 else f"{kind}{i + 1}"))
            if sname in names[kind]:
                raise ValueError(f"{where}: a {kind} stage named {sname!r} exists already; names must be unique")
            names[kind].add(sname)
            opts = {k: v for k, v in e.items() if k != "name"}
            if kind in ("dataset", "train"):
                opts.setdefault("seed", seed)
                _check_seed(opts["seed"], f"{where} seed")
            if kind == "train":
                _check_train_options(opts, where)
            if kind == "discover" and not isinstance(opts.get("quick", False), bool):
                raise ValueError(f"{where}: quick must be true or false; got {opts['quick']!r}")
            needs: tuple[str, ...] = ()
            if kind == "train":
                ds = e.get("dataset")
                if ds is None and len(names["dataset"]) == 1:
                    ds = next(iter(names["dataset"]))
                if ds not in names["dataset"]:
                    raise ValueError(f"{where}: dataset = {ds!r} names no [[dataset]] stage ({sorted(names['dataset'])})")
                opts["dataset"] = ds
                needs = (f"dataset:{ds}",)
            if kind == "discover":
                m = e.get("model")
                if m is not None:
                    if m not in names["train"]:
                        raise ValueError(f"{where}: model = {m!r} names no [[train]] stage ({sorted(names['train'])})")
                    needs = (f"train:{m}",)
                if not isinstance(e.get("config", {}), (dict, str)):
                    raise ValueError(f"{where}: config must be a discovery config name, a TOML path or a table")
            stages.append(Stage(kind, sname, opts, needs))
    if "certify" in obj:
        c = obj["certify"]
        if not isinstance(c, dict):
            raise ValueError("[certify] must be a single table")
        _check_keys("certify", c, "[certify]")
        if not names["discover"]:
            raise ValueError("[certify] re-certifies discovery candidates: add a [[discover]] stage")
        _check_certify_options(c)
        stages.append(Stage("certify", name, dict(c), tuple(f"discover:{d}" for d in sorted(names["discover"]))))
    if not stages:
        raise ValueError("the campaign has no stages: add [[dataset]], [[train]], [[discover]] or [certify] tables")
    return Campaign(name, seed, workers, tuple(stages), text, base_dir)


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _check_seed(seed: Any, where: str) -> None:
    from runs.jobs._discover_config import MAX_SEED

    if not _is_int(seed) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"{where} must be an integer in 0..{MAX_SEED}; got {seed!r}")


def _check_train_options(o: Mapping[str, Any], where: str) -> None:
    """Types and names of a [[train]] table (the rest, with the dataset it reads, in ``check_campaign``)."""
    import surrogates as S

    if "target" in o and o["target"] not in ("nl", "nbl", "class"):
        raise ValueError(f"{where}: target must be nl, nbl or class; got {o['target']!r}")
    if "preset" in o and o["preset"] not in S.PRESETS:
        raise ValueError(f"{where}: preset must be one of {', '.join(S.PRESETS)}; got {o['preset']!r}")
    if "members" in o and (not _is_int(o["members"]) or not 1 <= o["members"] <= 1000):
        raise ValueError(f"{where}: members must be an integer in 1..1000; got {o['members']!r}")
    if "max_rows" in o and (not _is_int(o["max_rows"]) or o["max_rows"] < 10):
        raise ValueError(f"{where}: max_rows must be an integer >= 10; got {o['max_rows']!r}")
    if "feature_set" in o and o["feature_set"] not in S.FEATURE_SETS:
        raise ValueError(f"{where}: feature_set must be one of {', '.join(S.FEATURE_SETS)}; got {o['feature_set']!r}")
    if "overrides" in o and not isinstance(o["overrides"], dict):
        raise ValueError(f"{where}: overrides must be a table of TrainConfig fields")


def _check_certify_options(c: Mapping[str, Any]) -> None:
    def num(k, positive=True):
        v = c[k]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or (positive and v <= 0):
            raise ValueError(f"[certify] {k} must be a finite number > 0; got {v!r}")

    top = c.get("top", 5)
    if not _is_int(top) or top < 1:
        raise ValueError(f"[certify] top must be an integer >= 1; got {top!r}")
    if "max_nodes" in c and (not _is_int(c["max_nodes"]) or c["max_nodes"] < 1):
        raise ValueError(f"[certify] max_nodes must be an integer >= 1; got {c['max_nodes']!r}")
    for k in ("tol", "time_limit"):
        if k in c:
            num(k)


def check_campaign(campaign: Campaign) -> dict[str, str]:
    """Every check that needs no work, for every stage, before any stage runs: dataset specs, discovery configs
    (both inside ``stage_hashes``), and each train stage's preset, overrides and target against the labels of the
    dataset it reads. Returns the stage hashes; raises ``ValueError`` with a one-line reason."""
    import surrogates as S

    from runs.jobs._model_run import _DEFAULT_TARGET

    hashes = stage_hashes(campaign)
    by_key = {s.key: s for s in campaign.stages}
    for s in campaign.stages:
        if s.kind != "train":
            continue
        o = s.options
        spec = _dataset_spec(by_key[s.needs[0]])
        target = o.get("target") or _DEFAULT_TARGET[spec.kind]
        field = {"nl": "nl", "nbl": "nbl_lower", "class": "class"}[target]
        if field not in S.label_fields(spec):
            raise ValueError(f"[[train]] {s.name!r}: target {target!r} needs {field} labels; dataset {o['dataset']!r} "
                             f"has {', '.join(sorted(S.label_fields(spec)))}")
        try:
            S.preset_config(o.get("preset", "quick"), target, members=o.get("members"), seed=int(o.get("seed", 0)),
                            **dict(o.get("overrides", {})))
        except (TypeError, ValueError) as e:
            raise ValueError(f"[[train]] {s.name!r}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    return hashes


def _check_keys(kind: str, table: Mapping[str, Any], where: str | None = None) -> None:
    bad = set(table) - set(CAMPAIGN_KEYS[kind])
    if bad:
        raise ValueError(f"{where or '[' + kind + ']'}: unknown key(s) {sorted(bad)}; allowed: {', '.join(CAMPAIGN_KEYS[kind])}")


# ------------------------------------------------------------------------------------------------------ hashing
def _dataset_spec(stage: Stage):
    from bellcore import BellScenario, BilocalScenario
    from surrogates import DatasetSpec

    o = dict(stage.options)
    kind = o.get("scenario")
    if kind == "bell":
        if "settings" not in o:
            raise ValueError(f"dataset {stage.name!r}: scenario 'bell' needs settings")
        d = int(o.get("outcomes", 2))
        sc = BellScenario((d, d), (int(o["settings"]),) * 2)
    elif kind == "bilocal":
        sc = BilocalScenario(str(o.get("variant", "binary")))
    elif kind == "chsh-correlators":
        sc = None
    else:
        raise ValueError(f"dataset {stage.name!r}: scenario must be bell, bilocal or chsh-correlators; got {kind!r}")
    if "n" not in o:
        raise ValueError(f"dataset {stage.name!r}: n (number of points) is required")
    kw = {k: o[k] for k in ("chunk_size", "nbl_tol", "nbl_max_nodes", "nbl_time_limit") if k in o}
    return DatasetSpec.create(
        kind, sc, o.get("sampler"), int(o["n"]), int(o.get("seed", 0)), dict(o.get("params", {})),
        measures=o.get("measures"), **kw,
    )


def stage_hashes(campaign: Campaign) -> dict[str, str]:
    """``{stage key: sha256}``; a stage's hash covers its options and the hashes of the stages it reads."""
    out: dict[str, str] = {}
    for s in campaign.stages:
        if s.kind == "dataset":
            out[s.key] = _dataset_spec(s).config_hash()  # the dataset's own config hash (bellscope dataset's)
            continue
        opts = dict(s.options)
        opts.pop("dataset", None)
        opts.pop("model", None)
        if s.kind == "discover":
            opts["config"] = discover_config(s, campaign)  # the content, not its name: an edited file is new work
        out[s.key] = _sha({"stage": s.kind, "options": opts, "inputs": {n: out[n] for n in s.needs},
                           **({"version": STAGE_VERSION[s.kind]} if s.kind in STAGE_VERSION else {})})
    return out


def discover_config(stage: Stage, campaign: Campaign) -> dict[str, Any]:
    """The discovery config of a discover stage (a shipped name, a TOML path relative to the campaign file, or an
    inline table), loaded and validated by ``runs/jobs/_discover_config.py``; raises ``ValueError``."""
    cfg = stage.options.get("config", {})
    if isinstance(cfg, str):
        path = Path(cfg)
        if not path.is_absolute() and campaign.base_dir is not None and (campaign.base_dir / path).exists():
            cfg = str(campaign.base_dir / path)
        return load_discovery_config(cfg)
    return normalise_discovery_config(dict(cfg))


def stage_file(runs_dir: Path, stage: Stage, sha: str, campaign: Campaign) -> Path:
    kind = "campaign" if stage.kind == "certify" else stage.kind
    return runs_dir / f"{kind}-{_slug(stage.name if stage.kind != 'certify' else campaign.name)}-{sha[:12]}.h5"


def _slug(s: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in s) or "x"


# ------------------------------------------------------------------------------------------------------ running
def _file_state(path: Path) -> tuple[str, bool]:
    """(status, held by a live writer) of an existing run file; ("corrupt", False) if unreadable."""
    from runs.files._browse import inspect_run

    info = inspect_run(path)
    return info.status, "open by a writer" in info.note


def _move_aside(path: Path) -> Path:
    k = 1
    while True:
        dest = path.with_name(f"{path.stem}.failed-{k}{path.suffix}")
        if not dest.exists():
            path.rename(dest)
            return dest
        k += 1


def _headline(path: Path) -> str:
    from runs.files._browse import inspect_run

    return inspect_run(path).headline


def _wall(path: Path) -> float:
    try:
        with h5py.File(path, "r") as f:
            return float(f.attrs.get(L.WALL_SECONDS, math.nan))
    except OSError:
        return math.nan


def run_campaign(
    campaign: Campaign,
    runs_dir: str | os.PathLike,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    argv: list[str] | None = None,
    on_stage: OnStage | None = None,
    progress: Progress | None = None,
) -> CampaignResult:
    """Run (or continue) every stage of ``campaign`` into ``runs_dir``; returns what each stage did.

    ``progress(done, total, info)`` reports the current stage's steps (points, training steps, evaluations);
    ``on_stage`` reports each stage's start and outcome. Before any stage runs, every option of every stage is
    checked (``check_campaign``), the scheduler address's form too, and every stage file already there: a complete
    file is reused only when its kind, scenario and stored config hash are the stage's (else ``ValueError``: it is
    never overwritten). Raises ``ValueError`` (bad stage config, a foreign or live file, missing train / discover
    support) and lets a stage's own errors through; the exception then carries ``bellscope_stage``, a dict
    ``{stage, file, state}`` saying what the stage left on disk (``state``: "none" when no file exists, else the
    file's status).
    """
    from runs.jobs._scheduler import check_scheduler_address

    if scheduler is not None:
        check_scheduler_address(scheduler)
    hashes = check_campaign(campaign)
    runs_dir = Path(runs_dir)
    if runs_dir.exists() and not runs_dir.is_dir():
        raise ValueError(f"{runs_dir} is a file, not a folder")
    workers = workers or campaign.workers
    files = {s.key: stage_file(runs_dir, s, hashes[s.key], campaign) for s in campaign.stages}
    plan: dict[str, str] = {}  # stage key -> "reused" | "resumed" | "computed" | "move-aside"
    for s in campaign.stages:  # every existing file judged before any work
        out = files[s.key]
        plan[s.key] = "computed"
        if out.exists() or out.is_symlink():
            if out.is_symlink() or not out.is_file():
                raise ValueError(f"{out} (stage {s.kind} {s.name}) is not a regular file; move it away")
            status, live = _file_state(out)
            if live:
                raise ValueError(f"{out} is being written by another process (stage {s.key}); wait for it or stop it")
            if status == L.STATUS_COMPLETE:
                _verify_reusable(s, out, campaign, hashes, files)
                plan[s.key] = "reused"
            elif s.kind == "dataset" and status in (L.STATUS_RUNNING, L.STATUS_FAILED):
                _verify_reusable(s, out, campaign, hashes, files)  # resumed only into a file of the same config
                plan[s.key] = "resumed"
            else:
                plan[s.key] = "move-aside"
    runs_dir.mkdir(parents=True, exist_ok=True)
    results: list[StageResult] = []
    n = len(campaign.stages)
    best = None
    for i, s in enumerate(campaign.stages):
        sha = hashes[s.key]
        out = files[s.key]
        outcome = plan[s.key]
        if outcome == "move-aside":
            _move_aside(out)
            outcome = "computed"
        if on_stage:
            on_stage(i, n, s, "start" if outcome != "reused" else "reused", {"file": str(out), "outcome": outcome})
        if outcome != "reused":
            t0 = time.perf_counter()
            try:
                _run_stage(s, out, campaign, files, hashes, resume=outcome == "resumed", scheduler=scheduler,
                           workers=workers, argv=argv, progress=progress, done=results)
            except BaseException as e:
                state = _left_state(out)
                if state == L.STATUS_RUNNING:  # the stage's runner was stopped before it could mark its file
                    mark_failed(out, failure_reason(e))
                    state = _left_state(out)
                try:
                    e.bellscope_stage = {"stage": f"{s.kind} {s.name}", "index": i, "n": n, "file": str(out),
                                         "state": state}
                except AttributeError:  # pragma: no cover - exceptions with __slots__
                    pass
                if on_stage:
                    on_stage(i, n, s, "failed", {"file": str(out), "state": state})
                raise
            wall = time.perf_counter() - t0
            if on_stage:
                on_stage(i, n, s, outcome, {"file": str(out), "wall_seconds": wall})
        else:
            wall = _wall(out)
        results.append(StageResult(s.kind, s.name, out, sha, outcome, wall, _headline(out)))
        if s.kind == "certify":
            best = _best_certified(out)
    record = None
    record_outcome = "computed"
    if campaign.stages[-1].kind == "certify":
        record = files[campaign.stages[-1].key]
        record_outcome = results[-1].outcome
    else:
        # no certify stage: a small record of the stages alone (same reuse rule)
        sha = _sha({"stage": "campaign", "inputs": hashes})
        record = runs_dir / f"campaign-{_slug(campaign.name)}-{sha[:12]}.h5"
        if record.exists() and _file_state(record)[0] == L.STATUS_COMPLETE and _record_matches(record, sha):
            record_outcome = "reused"
        else:
            if record.exists():
                _move_aside(record)
            f = _create_record(record, campaign, sha, argv)
            try:
                _finish_record(f, campaign, results, None)
            except BaseException as e:
                _store.set_status(f, L.STATUS_FAILED, {L.HEADLINE: f"failed: {failure_reason(e)}"})
                raise
            finally:
                f.close()
    return CampaignResult(record, tuple(results), best, record_outcome)


def failure_reason(e: BaseException) -> str:
    """What stopped a run, for its file's ``failed`` headline: the signal, or the error's type and first line."""
    from runs._signals import Terminated

    if isinstance(e, Terminated):
        return "terminated (SIGTERM)"
    if isinstance(e, KeyboardInterrupt):
        return "interrupted (SIGINT)"
    first = str(e).splitlines()[0] if str(e) else ""
    return f"{type(e).__name__}: {first}" if first else type(e).__name__


def create_guarded(path: Path, create: Callable[[], h5py.File]) -> h5py.File:
    """``create()`` (which makes the run file ``path``); if it is stopped half-way (a signal while it writes the
    provenance, a full disk) the half-made file is marked failed with the reason instead of being left running."""
    path = Path(path)
    existed = path.exists()
    try:
        return create()
    except BaseException as e:
        if not existed and path.exists():
            mark_failed(path, failure_reason(e))
        raise


def mark_failed(path: Path, reason: str) -> None:
    """Mark an existing run file failed (``summary.headline`` = "failed: REASON"); best effort, never raises."""
    try:
        with h5py.File(path, "r+") as f:
            f.attrs[L.STATUS] = L.STATUS_FAILED
            f.attrs[L.SUMMARY] = json.dumps({L.HEADLINE: f"failed: {reason}"})
    except Exception:  # noqa: BLE001 - the file may be unreadable: nothing more can be done
        pass


def _left_state(path: Path) -> str:
    """What a stopped stage left: "none" (no file), else the file's status ("failed", "running", ...)."""
    if not path.exists():
        return "none"
    for kw in ({}, {"locking": False}):  # {}: the stopped runner's handle may still be open in this process
        try:
            with h5py.File(path, "r", **kw) as f:
                return _text(f.attrs.get(L.STATUS, "unknown"))
        except (OSError, KeyError):
            continue
    return "unreadable"


def _text(v: Any) -> str:
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


_STAGE_KIND = {"dataset": L.KIND_DATASET, "train": L.KIND_MODEL, "discover": L.KIND_DISCOVERY,
               "certify": L.KIND_CAMPAIGN}


def _record_matches(path: Path, sha: str) -> bool:
    try:
        with h5py.File(path, "r") as f:
            return _text(f.attrs.get(L.KIND)) == L.KIND_CAMPAIGN and _store.read_config(f)[1] == sha
    except (OSError, KeyError, ValueError):
        return False


def _verify_reusable(s: Stage, path: Path, campaign: Campaign, hashes: Mapping[str, str],
                     files: Mapping[str, Path]) -> None:
    """Refuse (``ValueError``) a stage file whose content is not the stage's: its kind, its scenario, and the
    config hash stored inside it (dataset, certify: the stage hash itself; train: the hash of the dataset it was
    trained on, its target, preset, members and seed; discover: its discovery config and the model's hash)."""

    def mismatch(why: str):
        return ValueError(f"stage {s.kind} {s.name}: {path} has this stage's file name but {why}; it was not made by "
                          "this stage: move it away (it is never overwritten) and run the campaign again")

    try:
        with h5py.File(path, "r") as f:
            kind = _text(f.attrs.get(L.KIND, ""))
            if kind != _STAGE_KIND[s.kind]:
                raise mismatch(f"kind {kind!r} (a {s.kind} stage writes {_STAGE_KIND[s.kind]!r})")
            cfg_json, cfg_hash = _store.read_config(f)
            scen = _text(f[L.SCENARIO].attrs.get(L.SCENARIO_JSON, "")) if L.SCENARIO in f else ""
            if s.kind in ("dataset", "certify"):
                if cfg_hash != hashes[s.key]:
                    raise mismatch(f"config hash {cfg_hash[:12]} (expected {hashes[s.key][:12]})")
            if s.kind == "dataset":
                _same_scenario(scen, _dataset_spec(s).scenario, mismatch)
            elif s.kind == "train":
                ds = next(x for x in campaign.stages if x.key == s.needs[0])
                spec = _dataset_spec(ds)
                _same_scenario(scen, spec.scenario, mismatch)
                g = f.get(L.MODEL)
                attrs = dict(g.attrs) if isinstance(g, h5py.Group) else {}
                dh = _text(attrs.get(L.MODEL_DATASET_HASH, ""))
                if dh != hashes[s.needs[0]]:
                    raise mismatch(f"was trained on dataset {dh[:12] or '(none)'} (expected {hashes[s.needs[0]][:12]})")
                from runs.jobs._model_run import _DEFAULT_TARGET

                target = s.options.get("target") or _DEFAULT_TARGET[spec.kind]
                if _text(attrs.get(L.MODEL_TARGET, "")) != target:
                    raise mismatch(f"target {_text(attrs.get(L.MODEL_TARGET, ''))!r} (expected {target!r})")
                hyper = _json_object(cfg_json, mismatch)
                want = {"preset": s.options.get("preset", "quick"), "seed": s.options.get("seed"),
                        "n_members": s.options.get("members")}
                have = {"preset": hyper.get("preset"), "seed": (hyper.get("train_config") or {}).get("seed"),
                        "n_members": hyper.get("n_members")}
                for k, v in want.items():
                    if v is not None and have[k] != v:
                        raise mismatch(f"{k} {have[k]!r} (expected {v!r})")
            elif s.kind == "discover":
                from runs.jobs._discover_config import quick_config

                cfg = discover_config(s, campaign)
                if s.options.get("quick"):
                    cfg = quick_config(cfg)
                stored = _json_object(cfg_json, mismatch)
                a, b = json.loads(json.dumps(cfg)), json.loads(json.dumps(stored))
                for c in (a, b):  # the model's path depends on the results folder's spelling; its hash is checked
                    if isinstance(c.get("model"), dict):
                        c["model"].pop("path", None)
                if a != b:
                    raise mismatch("another discovery config")
                if s.needs:
                    mfile = files[s.needs[0]]
                    g = f.get(L.MODEL)
                    mh = _text(g.attrs.get(L.MODEL_CONFIG_HASH, "")) if isinstance(g, h5py.Group) else ""
                    if mfile.exists():
                        with h5py.File(mfile, "r") as m:
                            want_h = _store.read_config(m)[1]
                        if mh != want_h:
                            raise mismatch(f"used model {mh[:12] or '(none)'}, not {mfile.name} ({want_h[:12]})")
    except (OSError, KeyError, TypeError) as e:
        raise mismatch(f"cannot be read as a {s.kind} run ({type(e).__name__}: {e})") from None


def _json_object(text: str, mismatch) -> dict:
    try:
        obj = json.loads(text)
    except ValueError:
        raise mismatch("its config is not valid JSON") from None
    if not isinstance(obj, dict):
        raise mismatch("its config is not a JSON object")
    return obj


def _same_scenario(stored: str, scenario, mismatch) -> None:
    if scenario is None:
        return
    try:
        same = json.loads(stored) == json.loads(json.dumps(scenario.to_json()))
    except ValueError:
        same = False
    if not same:
        raise mismatch(f"scenario {stored[:80]!r} (expected {json.dumps(scenario.to_json())[:80]!r})")


def _run_stage(s: Stage, out: Path, campaign: Campaign, files, hashes, *, resume, scheduler, workers, argv, progress, done):
    import runs

    def step(done, total, info=None):
        if progress:
            progress(int(done), int(total), dict(info or {}))

    if s.kind == "dataset":
        from runs.jobs._dataset_run import run_dataset

        spec = _dataset_spec(s)
        run_dataset(spec, out, workers=1 if scheduler else workers, scheduler=scheduler, resume=resume, argv=argv,
                    progress=step)
    elif s.kind == "train":
        fn = getattr(runs, "run_train", None)
        if fn is None:
            raise ValueError("this build has no training (runs.run_train is missing): drop the [[train]] stages")
        o = s.options
        kw = {k: o[k] for k in ("target", "preset", "members", "seed", "feature_set", "max_rows", "overrides") if k in o}
        fn(files[s.needs[0]], out, progress=step, workers=1 if scheduler else workers, **kw, **_argv_kw(fn, argv))
    elif s.kind == "discover":
        fn = getattr(runs, "run_discover", None)
        if fn is None:
            raise ValueError("this build has no discovery (runs.run_discover is missing): drop the [[discover]] stages")
        o = s.options
        model = files[s.needs[0]] if s.needs else None
        fn(discover_config(s, campaign), out, quick=bool(o.get("quick", False)), model=model, progress=step,
           **_argv_kw(fn, argv))
    elif s.kind == "certify":
        _certify_stage(s, out, campaign, files, hashes, argv=argv, progress=step, done=done, workers=workers,
                       scheduler=scheduler)
    else:  # pragma: no cover - parse_campaign admits no other kind
        raise ValueError(f"unknown stage kind {s.kind!r}")


def _argv_kw(fn, argv) -> dict[str, Any]:
    """``{"argv": argv}`` when the stage runner records argv in its provenance, else nothing."""
    import inspect

    try:
        return {"argv": argv} if "argv" in inspect.signature(fn).parameters else {}
    except (TypeError, ValueError):
        return {}


# ------------------------------------------------------------------------------------------------------ certify
def _create_record(path: Path, campaign: Campaign, sha: str, argv) -> h5py.File:
    cfg = {"campaign": campaign.name, "seed": campaign.seed,
           "stages": [{"kind": s.kind, "name": s.name, "options": dict(s.options)} for s in campaign.stages]}

    def create() -> h5py.File:
        f = _store.create_run(path, L.KIND_CAMPAIGN, _canonical(cfg), sha, campaign.seed,
                              "every stage carries its own seed (default: the campaign seed)", "{}", argv)
        try:
            f[L.CONFIG].attrs[L.CAMPAIGN_TOML] = campaign.toml
        except BaseException:
            f.close()
            raise
        return f

    return create_guarded(path, create)


def _finish_record(f: h5py.File, campaign: Campaign, results: list[StageResult], best) -> None:
    f[L.CONFIG].attrs[L.CAMPAIGN_STAGES] = json.dumps([r.to_json() for r in results])
    if best is not None:
        what = "best discovery" if best.get("discovery") else "no discovery; best"
        head = (f"{what}: certified NBL >= {best['nbl_lower']:.4g} (upper {best['nbl_upper']:.4g}, "
                f"BRGP {best['brgp']:.3f}, θ={best['theta']:.4g})")
    else:
        head = f"{len(results)} stages: " + ", ".join(f"{r.kind} {r.name}" for r in results)
    _store.set_status(f, L.STATUS_COMPLETE, {L.HEADLINE: head, "best": best, "stages": [r.to_json() for r in results]})


def _project_ns(p: np.ndarray, scenario) -> np.ndarray:
    """Nearest point (least squares) of p on the affine hull of the no-signalling polytope, clipped at 0.

    Candidates computed in float32 miss the normalisation / no-signalling equalities by ~1e-7, more than the
    validator's tolerance; this moves them by that much, and the stored behaviour is the one certified.
    """
    norm, sig = scenario.no_signalling_constraints()
    A = np.vstack([np.asarray(norm, float), np.asarray(sig, float)])
    b = np.concatenate([np.ones(A.shape[0] - np.asarray(sig).shape[0]), np.zeros(np.asarray(sig).shape[0])])
    x = p.reshape(-1).astype(np.float64)
    x = x - A.T @ np.linalg.lstsq(A @ A.T, A @ x - b, rcond=None)[0]
    return np.clip(x, 0.0, None).reshape(p.shape)


def _rules(f: h5py.File):
    """``(constraints, bilocal, bounds_ok)`` of an open discovery run: its ``[constraints]`` (a config that does not
    decode is an error, never "no constraints"), whether its scenario is the network, and per candidate whether its
    stored parameters lie in the constraint bounds (``discover.bounds_hold_flat`` over the run's family)."""
    import discover as d
    from bellcore import BilocalScenario, scenario_from_json

    where = Path(f.filename).name
    try:
        cfg_json, _ = _store.read_config(f)
        cons = d.Constraints.from_run_config(cfg_json)
        scenario = scenario_from_json(json.loads(_text(f[L.SCENARIO].attrs[L.SCENARIO_JSON])))
    except (KeyError, ValueError, TypeError) as e:
        raise ValueError(f"{where}: cannot read the discovery constraints or scenario ({e})") from None
    c = f[L.CANDIDATES]
    n = c[L.CAND_BEHAVIOUR].shape[0]
    bounds_ok = np.ones(n, bool)
    if cons.bounds:
        try:
            fam = d.family_from_spec(json.loads(cfg_json)["family"])
            params = np.asarray(c[L.CAND_PARAMS][()], np.float64)
            bounds_ok = np.array([d.bounds_hold_flat(fam, params[j], cons.bounds) for j in range(n)], bool)
        except (KeyError, ValueError, TypeError) as e:
            raise ValueError(f"{where}: cannot check the parameter bounds of its candidates ({e})") from None
    return cons, isinstance(scenario, BilocalScenario), bounds_ok


def _meets(cons, bilocal: bool, brgp: np.ndarray, tri: np.ndarray, bounds_ok: np.ndarray) -> np.ndarray:
    """Rows meeting the discovery constraints (``discover.meets_constraints``, the rule ``discover`` uses)."""
    import discover as d

    return np.array([d.meets_constraints(cons, bilocal=bilocal, brgp=float(brgp[k]), tripartite_nl=float(tri[k]),
                                         bounds_ok=bool(bounds_ok[k])) for k in range(len(brgp))], bool)


def _select(f: h5py.File, top: int, rules=None) -> np.ndarray:
    """The ``top`` candidates to re-certify: those meeting the constraints first, then by certified lower bound,
    then by the surrogate's prediction (uncertified last)."""
    c = f[L.CANDIDATES]
    n = c[L.CAND_BEHAVIOUR].shape[0]

    def col(k, fill):
        return np.asarray(c[k], float) if k in c else np.full(n, fill)

    cons, bilocal, bounds_ok = rules if rules is not None else _rules(f)
    lo, pred = col(L.CAND_NBL_LOWER, np.nan), col(L.CAND_PRED_MEAN, 0.0)
    meets = _meets(cons, bilocal, col(L.CAND_BRGP, np.nan), col(L.CAND_TRIPARTITE_NL, np.nan), bounds_ok)
    order = np.lexsort((-np.nan_to_num(pred, nan=-np.inf), -np.nan_to_num(lo, nan=-np.inf), ~meets))
    return order[:top]


def _certify_one(p: np.ndarray, scenario_json: dict, kw: dict):
    """One certified NBL interval (a top-level function, so Dask workers can import it)."""
    import certify
    from bellcore import Behaviour, scenario_from_json

    return certify.nonbilocality(Behaviour(p, scenario_from_json(scenario_json)), **kw)


def _certify_all(behs, kw, *, workers: int, scheduler: str | None, progress) -> list:
    """Certified NBL of every behaviour, in order: local processes (``workers``) or a Dask cluster."""
    import certify

    if not behs:
        return []
    if scheduler:
        try:
            from distributed import Client
        except ImportError as e:  # pragma: no cover - a dependency
            raise RuntimeError(f"--scheduler needs dask.distributed: {e}") from None
        try:
            client = Client(scheduler, timeout="10s", set_as_default=False)
        except (OSError, TimeoutError, ValueError) as e:
            raise ValueError(f"cannot connect to the Dask scheduler at {scheduler!r}: {e}") from None
        try:
            futs = [client.submit(_certify_one, b.numpy(), b.scenario.to_json(), kw, pure=False) for b in behs]
            res = []
            for fu in futs:  # in order; all run concurrently on the cluster meanwhile
                res.append(fu.result())
                if progress:
                    progress(len(res), len(behs), {})
            return res
        finally:
            client.close()
    out: list = [None] * len(behs)
    groups: dict[str, list[int]] = {}
    for i, b in enumerate(behs):
        groups.setdefault(json.dumps(b.scenario.to_json(), sort_keys=True), []).append(i)
    done = 0
    for idx in groups.values():
        base = done

        def step(d, t, info, base=base):
            if progress:
                progress(base + d, len(behs), info)

        res = certify.certify_many([behs[i] for i in idx], measure="nbl", workers=min(workers, len(idx)),
                                   chunk_size=1, progress=step, **kw)
        for i, r in zip(idx, res):
            out[i] = r
        done += len(idx)
    return out


def _certify_stage(s: Stage, out: Path, campaign: Campaign, files, hashes, *, argv, progress, done, workers, scheduler):
    from bellcore import Behaviour, scenario_from_json

    o = s.options
    top = int(o.get("top", 5))
    kw = {"tol": float(o.get("tol", 1e-5)), "max_nodes": int(o.get("max_nodes", 20000)),
          "time_limit": float(o.get("time_limit", 120.0))}
    picked = []  # (source file, index, behaviour, extra fields)
    for key in s.needs:  # every source read and checked before the record is created
        with h5py.File(files[key], "r") as src:
            if L.CANDIDATES not in src:
                continue
            scenario = scenario_from_json(json.loads(_text(src[L.SCENARIO].attrs[L.SCENARIO_JSON])))
            c = src[L.CANDIDATES]
            rules = _rules(src)
            if not rules[1]:
                raise ValueError(f"{files[key].name}: the certify stage re-certifies NBL of bilocal candidates; this "
                                 f"discovery searched a {type(scenario).__name__}")
            for j in _select(src, top, rules):
                extra = {k: float(c[k][j]) for k in (L.CAND_THETA, L.CAND_BRGP, L.CAND_PRED_MEAN, L.CAND_PRED_STD,
                                                     L.CAND_TRIPARTITE_NL) if k in c}
                extra["constraints"] = rules[0].to_json()
                extra["_rule"] = (rules[0], bool(rules[2][j]))
                picked.append((files[key].name, int(j), np.asarray(c[L.CAND_BEHAVIOUR][j], np.float64), extra, scenario))
    f = _create_record(out, campaign, hashes[s.key], argv)
    try:
        if picked:
            f[L.SCENARIO].attrs[L.SCENARIO_JSON] = json.dumps(picked[0][4].to_json())
        behs = []
        for src, j, p, extra, scenario in picked:
            try:
                Behaviour(p, scenario).validate()
            except ValueError:
                p = _project_ns(p, scenario)
                Behaviour(p, scenario).validate()
            behs.append(Behaviour(p, scenario))
        res = _certify_all(behs, kw, workers=workers, scheduler=scheduler, progress=progress)
        rows = [(src, j, b.numpy(), extra, r) for (src, j, _, extra, _), b, r in zip(picked, behs, res)]
        disc = _write_certified(f, rows)
        best = None
        if rows:
            # the best discovery (certified nonbilocal and every constraint met), else the best certified bound
            lo = np.array([r.lower for *_, r in rows])
            pool = np.flatnonzero(disc) if disc.any() else np.flatnonzero(np.isfinite(lo))
            b = int(pool[np.argmax(lo[pool])]) if len(pool) else 0
            src, j, p, extra, r = rows[b]
            best = {"source_file": src, "source_index": j, "nbl_lower": r.lower, "nbl_upper": r.upper,
                    "status": str(r.status.value), "theta": extra.get(L.CAND_THETA, math.nan),
                    "brgp": extra.get(L.CAND_BRGP, math.nan), "tripartite_nl": extra.get(L.CAND_TRIPARTITE_NL, math.nan),
                    "nonbilocal": bool(r.is_nonbilocal), "discovery": bool(disc[b]),
                    "constraints": extra.get("constraints", {})}
        _finish_record(f, campaign, list(done), best)  # the record lists the stages before it
    except BaseException as e:
        _store.set_status(f, L.STATUS_FAILED, {L.HEADLINE: f"failed: {failure_reason(e)}"})
        raise
    finally:
        f.close()


def _write_certified(f: h5py.File, rows) -> np.ndarray:
    """Write ``/certified``; returns the ``discovery`` flags (certified nonbilocal and the source's constraints met)."""
    g = f.create_group(L.CERTIFIED)
    n = len(rows)
    if not n:
        return np.zeros(0, bool)
    g.create_dataset(L.CAND_BEHAVIOUR, data=np.stack([p for _, _, p, _, _ in rows]))
    g.create_dataset(L.CAND_NBL_LOWER, data=np.array([r.lower for *_, r in rows], float))
    g.create_dataset(L.CAND_NBL_UPPER, data=np.array([r.upper for *_, r in rows], float))
    g.create_dataset(L.CAND_NBL_STATUS, data=np.array([L.status_code(r.status.value) for *_, r in rows], np.uint8),
                     dtype=L.STATUS_ENUM)
    for key in (L.CAND_THETA, L.CAND_BRGP, L.CAND_PRED_MEAN, L.CAND_PRED_STD, L.CAND_TRIPARTITE_NL):
        g.create_dataset(key, data=np.array([e.get(key, math.nan) for _, _, _, e, _ in rows], float))
    disc = np.array([is_discovery_row(r, e) for _, _, _, e, r in rows], bool)
    g.create_dataset(L.CAND_DISCOVERY, data=disc)
    g[L.CAND_DISCOVERY].attrs[L.DESCRIPTION] = (
        "discover.is_discovery: certified nonbilocal (lower bound > 0, certificate re-checked) and the discovery "
        "run's constraints met (parameter bounds, BRGP <= brgp_max, tripartite NL = 0 when tripartite_local)")
    g.create_dataset(L.CERT_SOURCE_INDEX, data=np.array([j for _, j, *_ in rows], np.int64))
    g.create_dataset(L.CERT_SOURCE_FILE, data=np.array([s for s, *_ in rows], dtype=h5py.string_dtype()))
    f.flush()
    return disc


def is_discovery_row(result, extra: Mapping[str, Any]) -> bool:
    """``discover.is_discovery`` of one re-certified candidate, with the values stored with it in its source run."""
    import discover as d

    cons, bounds_ok = extra["_rule"]
    return d.is_discovery(result, cons, bilocal=True, brgp=extra.get(L.CAND_BRGP, math.nan),
                          tripartite_nl=extra.get(L.CAND_TRIPARTITE_NL, math.nan), bounds_ok=bounds_ok)


def _best_certified(path: Path) -> dict[str, Any] | None:
    with h5py.File(path, "r") as f:
        return json.loads(f.attrs.get(L.SUMMARY, "{}")).get("best")
