"""Running a campaign's stages: the job runners they call (``Runners``, the real ones by default), what an existing
stage file allows (reused, resumed, moved aside, or refused when it is not the stage's), and running one stage.

A stage is reused only when its file's kind, scenario and stored configuration hash are the ones expected; a failed
or killed file is moved aside to ``<stem>.failed-<k>.h5`` (never overwritten, never deleted).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import h5py

from runs.files import _layout as L
from runs.files import _store
from runs.files._readonly import open_readonly
from runs.jobs._dataset_run import run_dataset
from runs.jobs._discover_run import run_discover
from runs.jobs._model_run import run_train
from runs.pipeline._certify_stage import certify_stage
from runs.pipeline._hashing import dataset_spec, discover_config
from runs.pipeline._record import text
from runs.pipeline._spec import Campaign, Stage


@dataclass(frozen=True)
class Runners:
    """The job runners a campaign's stages call; the real ones by default (tests hand in fakes). Each writes the run
    file ``out`` and takes ``argv`` (recorded in its provenance) and ``progress(done, total, info)``:

    - ``dataset(spec, out, *, workers, scheduler, resume, argv, progress)``: ``runs.jobs._dataset_run.run_dataset``;
    - ``train(dataset_file, out, *, progress, workers, argv, **options)``: ``runs.jobs._model_run.run_train``
      (options: the [[train]] table's target, preset, members, seed, feature_set, max_rows, overrides);
    - ``discover(config, out, *, quick, model, progress, argv)``: ``runs.jobs._discover_run.run_discover``.
    """

    dataset: Callable[..., Any] = run_dataset
    train: Callable[..., Any] = run_train
    discover: Callable[..., Any] = run_discover


_TRAIN_OPTIONS = ("target", "preset", "members", "seed", "feature_set", "max_rows", "overrides")


def run_stage(s: Stage, out: Path, campaign: Campaign, files, hashes, *, runners: Runners, resume, scheduler, workers,
              argv, progress, done) -> None:
    """Compute stage ``s`` into ``out`` (``resume``: continue a dataset file's committed chunks); ``files`` and
    ``hashes`` by stage key, ``done`` the results of the stages before it (the certify stage's record lists them)."""

    def step(done, total, info=None):
        if progress:
            progress(int(done), int(total), dict(info or {}))

    if s.kind == "dataset":
        runners.dataset(dataset_spec(s), out, workers=1 if scheduler else workers, scheduler=scheduler, resume=resume,
                        argv=argv, progress=step)
    elif s.kind == "train":
        kw = {k: s.options[k] for k in _TRAIN_OPTIONS if k in s.options}
        runners.train(files[s.needs[0]], out, progress=step, workers=1 if scheduler else workers, argv=argv, **kw)
    elif s.kind == "discover":
        model = files[s.needs[0]] if s.needs else None
        runners.discover(discover_config(s, campaign), out, quick=bool(s.options.get("quick", False)), model=model,
                         progress=step, argv=argv)
    elif s.kind == "certify":
        certify_stage(s, out, campaign, files, hashes, argv=argv, progress=step, done=done, workers=workers,
                      scheduler=scheduler)
    else:  # pragma: no cover - parse_campaign admits no other kind
        raise ValueError(f"unknown stage kind {s.kind!r}")


def plan(campaign: Campaign, files: Mapping[str, Path], hashes: Mapping[str, str]) -> dict[str, str]:
    """What to do with every stage, judged from the files already there before any work: ``{stage key: "reused" |
    "resumed" | "computed" | "move-aside"}``. Raises ``ValueError`` for a file that is not a regular file, one held
    by a live writer, and a complete (or resumable) file that is not the stage's (``verify_reusable``)."""
    out_plan: dict[str, str] = {}
    for s in campaign.stages:
        out = files[s.key]
        out_plan[s.key] = "computed"
        if out.exists() or out.is_symlink():
            if out.is_symlink() or not out.is_file():
                raise ValueError(f"{out} (stage {s.kind} {s.name}) is not a regular file; move it away")
            status, live = file_state(out)
            if live:
                raise ValueError(f"{out} is being written by another process (stage {s.key}); wait for it or stop it")
            if status == L.STATUS_COMPLETE:
                verify_reusable(s, out, campaign, hashes, files)
                out_plan[s.key] = "reused"
            elif s.kind == "dataset" and status in (L.STATUS_RUNNING, L.STATUS_FAILED):
                verify_reusable(s, out, campaign, hashes, files)  # resumed only into a file of the same config
                out_plan[s.key] = "resumed"
            else:
                out_plan[s.key] = "move-aside"
    return out_plan


def file_state(path: Path) -> tuple[str, bool]:
    """(status, held by a live writer) of an existing run file; ("corrupt", False) if unreadable."""
    from runs.files._browse import inspect_run

    info = inspect_run(path)
    return info.status, "open by a writer" in info.note


def move_aside(path: Path) -> Path:
    """Rename a failed or killed stage file to ``<stem>.failed-<k>.h5`` (the first free k); returns the new path."""
    k = 1
    while True:
        dest = path.with_name(f"{path.stem}.failed-{k}{path.suffix}")
        if not dest.exists():
            path.rename(dest)
            return dest
        k += 1


def headline(path: Path) -> str:
    """The summary headline of a stage's run file (``runs ls`` prints the same)."""
    from runs.files._browse import inspect_run

    return inspect_run(path).headline


def wall_seconds(path: Path) -> float:
    """The wall time a run file records (NaN when it cannot be read)."""
    try:
        with h5py.File(path, "r") as f:
            return float(f.attrs.get(L.WALL_SECONDS, math.nan))
    except OSError:
        return math.nan


def left_state(path: Path) -> str:
    """What a stopped stage left: "none" (no file), else the file's status ("failed", "running", ...)."""
    if not path.exists():
        return "none"
    for kw in ({}, {"locking": False}):  # {}: the stopped runner's handle may still be open in this process
        try:
            with h5py.File(path, "r", **kw) as f:
                return text(f.attrs.get(L.STATUS, "unknown"))
        except (OSError, KeyError):
            continue
    return "unreadable"



_STAGE_KIND = {"dataset": L.KIND_DATASET, "train": L.KIND_MODEL, "discover": L.KIND_DISCOVERY,
               "certify": L.KIND_CAMPAIGN}


def verify_reusable(s: Stage, path: Path, campaign: Campaign, hashes: Mapping[str, str],
                     files: Mapping[str, Path]) -> None:
    """Refuse (``ValueError``) a stage file whose content is not the stage's: its kind, its scenario, and the
    config hash stored inside it (dataset, certify: the stage hash itself; train: the hash of the dataset it was
    trained on, its target, preset, members and seed; discover: its discovery config and the model's hash)."""

    def mismatch(why: str):
        return ValueError(f"stage {s.kind} {s.name}: {path} has this stage's file name but {why}; it was not made by "
                          "this stage: move it away (it is never overwritten) and run the campaign again")

    try:
        with open_readonly(path) as (f, _):  # regular files only: a pipe under a stage's name would block
            kind = text(f.attrs.get(L.KIND, ""))
            if kind != _STAGE_KIND[s.kind]:
                raise mismatch(f"kind {kind!r} (a {s.kind} stage writes {_STAGE_KIND[s.kind]!r})")
            cfg_json, cfg_hash = _store.read_config(f)
            scen = text(f[L.SCENARIO].attrs.get(L.SCENARIO_JSON, "")) if L.SCENARIO in f else ""
            if s.kind in ("dataset", "certify"):
                if cfg_hash != hashes[s.key]:
                    raise mismatch(f"config hash {cfg_hash[:12]} (expected {hashes[s.key][:12]})")
            if s.kind == "dataset":
                _same_scenario(scen, dataset_spec(s).scenario, mismatch)
            elif s.kind == "train":
                ds = next(x for x in campaign.stages if x.key == s.needs[0])
                spec = dataset_spec(ds)
                _same_scenario(scen, spec.scenario, mismatch)
                g = f.get(L.MODEL)
                attrs = dict(g.attrs) if isinstance(g, h5py.Group) else {}
                dh = text(attrs.get(L.MODEL_DATASET_HASH, ""))
                if dh != hashes[s.needs[0]]:
                    raise mismatch(f"was trained on dataset {dh[:12] or '(none)'} (expected {hashes[s.needs[0]][:12]})")
                from runs.jobs._model_run import _DEFAULT_TARGET

                target = s.options.get("target") or _DEFAULT_TARGET[spec.kind]
                if text(attrs.get(L.MODEL_TARGET, "")) != target:
                    raise mismatch(f"target {text(attrs.get(L.MODEL_TARGET, ''))!r} (expected {target!r})")
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
                a, b = cfg.to_json(), json.loads(json.dumps(stored))
                for c in (a, b):  # the model's path depends on the results folder's spelling; its hash is checked
                    if isinstance(c.get("model"), dict):
                        c["model"].pop("path", None)
                if a != b:
                    raise mismatch("another discovery config")
                if s.needs:
                    mfile = files[s.needs[0]]
                    g = f.get(L.MODEL)
                    mh = text(g.attrs.get(L.MODEL_CONFIG_HASH, "")) if isinstance(g, h5py.Group) else ""
                    if mfile.exists():
                        with open_readonly(mfile) as (m, _):
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
