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

The TOML schema is documented in ``docs/runs.md`` and in ``CAMPAIGN_KEYS``. This module runs the stages in order;
what it calls lives next to it: the spec (``_spec``), stage hashes and file names (``_hashing``), the stage runner and
its reuse checks (``_stages``), the certify stage (``_certify_stage``) and the record (``_record``).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from runs.files import _layout as L
from runs.files import _store
from runs.files._failure import create_guarded, failure_reason, mark_failed
from runs.pipeline._certify_stage import is_discovery_row
from runs.pipeline._hashing import STAGE_VERSION, discover_config, record_file, stage_file, stage_hashes
from runs.pipeline._record import best_certified, create_record, finish_record, record_matches
from runs.pipeline._spec import (CAMPAIGN_KEYS, DEFAULT_CAMPAIGN, STAGE_ORDER, Campaign, Stage, check_campaign,
                                 load_campaign, parse_campaign)
from runs.pipeline._stages import (Runners, file_state, headline, left_state, move_aside, plan, run_stage,
                                   wall_seconds)

__all__ = [
    "Stage",
    "Campaign",
    "StageResult",
    "CampaignResult",
    "Runners",
    "DEFAULT_RUNNERS",
    "load_campaign",
    "parse_campaign",
    "check_campaign",
    "run_campaign",
    "stage_hashes",
    "stage_file",
    "discover_config",
    "is_discovery_row",
    "failure_reason",
    "create_guarded",
    "mark_failed",
    "CAMPAIGN_KEYS",
    "DEFAULT_CAMPAIGN",
    "STAGE_ORDER",
    "STAGE_VERSION",
]

Progress = Callable[[int, int, Mapping[str, float]], None]
#: ``on_stage(index, n_stages, stage, state, info)``; state: "start", "reused", "resumed", "computed", "failed".
OnStage = Callable[[int, int, "Stage", str, Mapping[str, Any]], None]

#: The runners ``run_campaign`` calls when it is given none: the real ones. The command line (``bellscope campaign``,
#: ``reproduce``) passes none, so a test of the command line replaces this one name.
DEFAULT_RUNNERS = Runners()


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


def run_campaign(
    campaign: Campaign,
    runs_dir: str | os.PathLike,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    argv: list[str] | None = None,
    on_stage: OnStage | None = None,
    progress: Progress | None = None,
    runners: Runners | None = None,
) -> CampaignResult:
    """Run (or continue) every stage of ``campaign`` into ``runs_dir``; returns what each stage did.

    ``progress(done, total, info)`` reports the current stage's steps (points, training steps, evaluations);
    ``on_stage`` reports each stage's start and outcome; ``runners`` are the job runners the dataset, train and
    discover stages call (default ``DEFAULT_RUNNERS``, the real ones). Before any stage runs, every option of every
    stage is checked (``check_campaign``), the scheduler address's form too, and every stage file already there: a
    complete file is reused only when its kind, scenario and stored config hash are the stage's (else
    ``ValueError``: it is never overwritten). Raises ``ValueError`` (bad stage config, a foreign or live file) and
    lets a stage's own errors through; the exception then carries ``bellscope_stage``, a dict ``{stage, file,
    state}`` saying what the stage left on disk (``state``: "none" when no file exists, else the file's status).
    """
    from runs.jobs._scheduler import check_scheduler_address

    runners = DEFAULT_RUNNERS if runners is None else runners
    if scheduler is not None:
        check_scheduler_address(scheduler)
    hashes = check_campaign(campaign)
    runs_dir = Path(runs_dir)
    if runs_dir.exists() and not runs_dir.is_dir():
        raise ValueError(f"{runs_dir} is a file, not a folder")
    workers = workers or campaign.workers
    files = {s.key: stage_file(runs_dir, s, hashes[s.key], campaign) for s in campaign.stages}
    todo = plan(campaign, files, hashes)  # every existing file judged before any work
    runs_dir.mkdir(parents=True, exist_ok=True)
    results: list[StageResult] = []
    n = len(campaign.stages)
    best = None
    for i, s in enumerate(campaign.stages):
        sha = hashes[s.key]
        out = files[s.key]
        outcome = todo[s.key]
        if outcome == "move-aside":
            move_aside(out)
            outcome = "computed"
        if on_stage:
            on_stage(i, n, s, "start" if outcome != "reused" else "reused", {"file": str(out), "outcome": outcome})
        if outcome != "reused":
            t0 = time.perf_counter()
            try:
                run_stage(s, out, campaign, files, hashes, runners=runners, resume=outcome == "resumed",
                          scheduler=scheduler, workers=workers, argv=argv, progress=progress, done=results)
            except BaseException as e:
                state = left_state(out)
                if state == L.STATUS_RUNNING:  # the stage's runner was stopped before it could mark its file
                    mark_failed(out, failure_reason(e))
                    state = left_state(out)
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
            wall = wall_seconds(out)
        results.append(StageResult(s.kind, s.name, out, sha, outcome, wall, headline(out)))
        if s.kind == "certify":
            best = best_certified(out)
    record_outcome = "computed"
    if campaign.stages[-1].kind == "certify":
        record = files[campaign.stages[-1].key]
        record_outcome = results[-1].outcome
    else:
        # no certify stage: a small record of the stages alone (same reuse rule)
        record, sha = record_file(runs_dir, campaign, hashes)
        if record.exists() and file_state(record)[0] == L.STATUS_COMPLETE and record_matches(record, sha):
            record_outcome = "reused"
        else:
            if record.exists():
                move_aside(record)
            f = create_record(record, campaign, sha, argv)
            try:
                finish_record(f, campaign, results, None)
            except BaseException as e:
                _store.set_status(f, L.STATUS_FAILED, {L.HEADLINE: f"failed: {failure_reason(e)}"})
                raise
            finally:
                f.close()
    return CampaignResult(record, tuple(results), best, record_outcome)
