"""A campaign's TOML spec: the schema (``CAMPAIGN_KEYS``), the built-in ``DEFAULT_CAMPAIGN``, parsing into
``Campaign`` / ``Stage`` values, and ``check_campaign``: every check that needs no work, for every stage, before any
stage runs. Raises ``ValueError`` with a one-line reason. The schema is documented in ``docs/runs.md`` too.
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from runs.pipeline._hashing import dataset_spec, stage_hashes

#: Allowed keys per table, with their meaning (the schema; ``docs/runs.md`` repeats it).
CAMPAIGN_KEYS: dict[str, dict[str, str]] = {
    "campaign": {
        "name": "campaign name (file name of the record; default: the TOML file name)",
        "seed": "default seed of every stage that sets none",
        "workers": "local worker processes for stages that fan out (not part of any hash)",
    },
    "dataset": {
        "name": "stage name, referenced by train.dataset",
        "scenario": "bell | bilocal | chsh-correlators | network",
        "network": "network: triangle | bilocal | chainN | starN | a .json/.toml description (docs/networks.md)",
        "settings": "bell: settings per party; network: per party of a named network",
        "outcomes": "bell: outcomes per setting (default 2); network: per party of a named network",
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

#: The campaign's ``[certify]`` stage defaults (re-certification of the discovery stages' best candidates): the one
#: place they live.
CERTIFY_STAGE_DEFAULTS = {"top": 5, "tol": 1e-5, "max_nodes": 20000, "time_limit": 120.0}

#: The README's first command: a small bilocal (BSM) campaign that fits in minutes on two cores.
DEFAULT_CAMPAIGN = """\
# bellscope's default campaign (Fig. 3b, small): find behaviours of the entanglement-swapping network that are
# certified nonbilocal although BRGP is satisfied and no tripartite Bell inequality is violated. The surrogate is
# learned inside the discover stage on the searched family itself (the shipped search config `fig3b`, [learn]):
# certified labels of family members, rounds of surrogate search -> exact-gradient refinement -> certified labels
# at the maxima -> warm refit; then its best candidates are certified again (NBL interval by branch and bound).
[campaign]
name = "demo"
seed = 1
workers = 2

[[discover]]
name = "fig3b"
quick = true
config = "fig3b"

[certify]
top = 3
tol = 1e-4
max_nodes = 5000
time_limit = 30
"""


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

    if "target" in o and o["target"] not in S.TARGETS:
        raise ValueError(f"{where}: target must be one of {', '.join(S.TARGETS)}; got {o['target']!r}")
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

    top = c.get("top", CERTIFY_STAGE_DEFAULTS["top"])
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
        spec = dataset_spec(by_key[s.needs[0]])
        target = o.get("target") or _DEFAULT_TARGET[spec.kind]
        field = {"nl": "nl", "nbl": "nbl_lower", "class": "class", "network": "network_lower"}[target]
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
