"""What makes two campaign stages the same work: canonical JSON, every stage's SHA-256 (its options and the hashes
of the stages it reads), the dataset spec and discovery config a stage stands for, and the stage file names
``<kind>-<name>-<hash12>.h5``."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runs.jobs._discover_config import load_discovery_config, parse_discovery_config
from runs.jobs._discovery_types import DiscoveryConfig

if TYPE_CHECKING:
    from runs.pipeline._spec import Campaign, Stage

#: Version of what the pipeline itself computes in a stage (the certify stage, ``_certify_stage``; hashed with its
#: options): bump it when that stage's output changes meaning, so that old files are not reused for new work.
#: (dataset, train and discover stages hash their inputs as their own runners define them.)
STAGE_VERSION = {"certify": 2}


def canonical(obj: Any) -> str:
    """Sorted, compact JSON: the text a stage hash is taken of."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def sha(obj: Any) -> str:
    """SHA-256 (hex) of ``canonical(obj)``."""
    return hashlib.sha256(canonical(obj).encode()).hexdigest()


def dataset_spec(stage: Stage):
    """The ``surrogates.DatasetSpec`` a [[dataset]] stage stands for (its config hash is the stage's hash)."""
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
    elif kind == "network":
        from runs.files._network_io import network_scenario_named

        if "network" not in o:
            raise ValueError(f"dataset {stage.name!r}: scenario 'network' needs network (triangle, chainN, starN, "
                             "bilocal or a description file)")
        try:
            sc = network_scenario_named(str(o["network"]), outcomes=int(o.get("outcomes", 2)),
                                           settings=None if "settings" not in o else int(o["settings"]),
                                           variant=str(o.get("variant", "binary")))
        except ValueError as e:
            raise ValueError(f"dataset {stage.name!r}: {e}") from None
    else:
        raise ValueError(f"dataset {stage.name!r}: scenario must be bell, bilocal, chsh-correlators or network; got "
                         f"{kind!r}")
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
            out[s.key] = dataset_spec(s).config_hash()  # the dataset's own config hash (bellscope dataset's)
            continue
        opts = dict(s.options)
        opts.pop("dataset", None)
        opts.pop("model", None)
        if s.kind == "discover":
            opts["config"] = discover_config(s, campaign).to_json()  # the content, not its name: an edited file is new work
        out[s.key] = sha({"stage": s.kind, "options": opts, "inputs": {n: out[n] for n in s.needs},
                           **({"version": STAGE_VERSION[s.kind]} if s.kind in STAGE_VERSION else {})})
    return out


def discover_config(stage: Stage, campaign: Campaign) -> DiscoveryConfig:
    """The discovery config of a discover stage (a shipped name, a TOML path relative to the campaign file, or an
    inline table), loaded and validated by ``runs/jobs/_discover_config.py``; raises ``ValueError``."""
    cfg = stage.options.get("config", {})
    if isinstance(cfg, str):
        path = Path(cfg)
        if not path.is_absolute() and campaign.base_dir is not None and (campaign.base_dir / path).exists():
            cfg = str(campaign.base_dir / path)
        return load_discovery_config(cfg)
    return parse_discovery_config(dict(cfg))


def stage_file(runs_dir: Path, stage: Stage, sha: str, campaign: Campaign) -> Path:
    """``<kind>-<name>-<hash12>.h5`` in ``runs_dir``; the certify stage's file is the campaign record."""
    kind = "campaign" if stage.kind == "certify" else stage.kind
    return runs_dir / f"{kind}-{slug(stage.name if stage.kind != 'certify' else campaign.name)}-{sha[:12]}.h5"


def slug(s: str) -> str:
    """A stage or campaign name made safe for a file name."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in s) or "x"


def record_file(runs_dir: Path, campaign: Campaign, hashes: dict[str, str]) -> tuple[Path, str]:
    """``(path, sha)`` of the record of a campaign without a certify stage (the certify stage's file is the record
    otherwise): its hash covers every stage's hash."""
    h = sha({"stage": "campaign", "inputs": hashes})
    return runs_dir / f"campaign-{slug(campaign.name)}-{h[:12]}.h5", h
