"""The campaign record, ``campaign-<name>-<hash12>.h5`` (kind ``campaign``): created with the campaign's stages and
TOML text, finished with the stage list (files, hashes, reused or computed, wall time) and the best certified
candidate; read back by ``best_certified``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py

from runs.files import _layout as L
from runs.files import _store
from runs.files._failure import create_guarded
from runs.pipeline._hashing import canonical

if TYPE_CHECKING:
    from runs.pipeline._campaign import StageResult
    from runs.pipeline._spec import Campaign


def text(v: Any) -> str:
    """An HDF5 string attribute as ``str`` (undecodable bytes replaced)."""
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def create_record(path: Path, campaign: Campaign, sha: str, argv) -> h5py.File:
    """Create the record (status ``running``) with the campaign's stages and TOML text; returns it open."""
    cfg = {"campaign": campaign.name, "seed": campaign.seed,
           "stages": [{"kind": s.kind, "name": s.name, "options": dict(s.options)} for s in campaign.stages]}

    def create() -> h5py.File:
        f = _store.create_run(path, L.KIND_CAMPAIGN, canonical(cfg), sha, campaign.seed,
                              "every stage carries its own seed (default: the campaign seed)", "{}", argv)
        try:
            f[L.CONFIG].attrs[L.CAMPAIGN_TOML] = campaign.toml
        except BaseException:
            f.close()
            raise
        return f

    return create_guarded(path, create)


def finish_record(f: h5py.File, campaign: Campaign, results: list[StageResult], best) -> None:
    """Write the stage list and mark the record complete; its headline names the best candidate, if any."""
    f[L.CONFIG].attrs[L.CAMPAIGN_STAGES] = json.dumps([r.to_json() for r in results])
    if best is not None:
        what = "best discovery" if best.get("discovery") else "no discovery; best"
        head = (f"{what}: certified NBL >= {best['nbl_lower']:.4g} (upper {best['nbl_upper']:.4g}, "
                f"BRGP {best['brgp']:.3f}, θ={best['theta']:.4g})")
    else:
        head = f"{len(results)} stages: " + ", ".join(f"{r.kind} {r.name}" for r in results)
    _store.set_status(f, L.STATUS_COMPLETE, {L.HEADLINE: head, "best": best, "stages": [r.to_json() for r in results]})


def record_matches(path: Path, sha: str) -> bool:
    """Whether ``path`` is a campaign record of config hash ``sha``."""
    try:
        with h5py.File(path, "r") as f:
            return text(f.attrs.get(L.KIND)) == L.KIND_CAMPAIGN and _store.read_config(f)[1] == sha
    except (OSError, KeyError, ValueError):
        return False


def best_certified(path: Path) -> dict[str, Any] | None:
    """The ``best`` entry of a finished record's summary (None without one)."""
    with h5py.File(path, "r") as f:
        return json.loads(f.attrs.get(L.SUMMARY, "{}")).get("best")
