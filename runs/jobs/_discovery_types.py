"""Typed search configurations: frozen dataclasses built once from a checked TOML table.

``runs/jobs/_discover_config.py`` reads and checks a search config and fills every default (each default lives
there, once); ``DiscoveryConfig.from_json`` turns the checked table into these objects, and every reader (the
runner, the learning, ``--quick``, the command line's overrides, the campaign's hashes) takes its values from them.
``to_json()`` gives the canonical table back: the run file stores it (``/config``), and the config hash is the
SHA-256 of its sorted, compact JSON, so a stored config says every value the run used.

Changes make new objects (``DiscoveryConfig.override``, ``quick``), re-checked by the same rules as a file.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["SearcherConfig", "ObjectiveConfig", "ModelConfig", "CertifyConfig", "LearnConfig", "NetworkConfig",
           "DiscoveryConfig"]


def _plain(d: Mapping[str, Any]) -> dict[str, Any]:
    """A deep, JSON-ready copy of a table (what a frozen config hands out: changing it changes nothing inside)."""
    return json.loads(json.dumps(dict(d)))


@dataclass(frozen=True)
class SearcherConfig:
    """One ``[[searchers]]`` entry. Fields of other kinds are ``None`` (``gradient``: starts, learning_rate, optimiser,
    refine; ``nevergrad``: optimiser, batch, sigma; ``random``: batch). ``time_budget``: seconds, ``None`` = none."""

    kind: str
    name: str
    target: str
    steps: int
    time_budget: float | None = None
    starts: int | None = None
    learning_rate: float | None = None
    optimiser: str | None = None
    refine: bool | None = None
    batch: int | None = None
    sigma: float | None = None

    @classmethod
    def from_json(cls, s: Mapping[str, Any]) -> "SearcherConfig":
        conv = {"steps": int, "starts": int, "batch": int, "time_budget": float, "learning_rate": float,
                "sigma": float, "refine": bool}
        return cls(**{k: conv[k](v) if k in conv else v for k, v in s.items()})

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    @property
    def surrogate(self) -> bool:
        """Does this searcher climb the surrogate (and so runs in the learning rounds)?"""
        return self.target == "surrogate"


@dataclass(frozen=True)
class ObjectiveConfig:
    """``[objective]``: the searchers' default target, the surrogate's ``mean + kappa * std``, the BRGP penalty
    (``brgp_weight * excess**2`` above ``brgp_max``; ``None``: none), the exact tripartite-NL penalty weight, and
    parameter bounds ``{path: (lo, hi)}``."""

    target: str
    kappa: float
    brgp_max: float | None
    brgp_weight: float
    tripartite_weight: float
    bounds: Mapping[str, Any]

    @classmethod
    def from_json(cls, o: Mapping[str, Any]) -> "ObjectiveConfig":
        return cls(o["target"], float(o["kappa"]), None if o.get("brgp_max") is None else float(o["brgp_max"]),
                   float(o["brgp_weight"]), float(o["tripartite_weight"]), _plain(o.get("bounds") or {}))

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if d["brgp_max"] is None:
            del d["brgp_max"]
        d["bounds"] = _plain(self.bounds)
        return d


@dataclass(frozen=True)
class ModelConfig:
    """``[model]``: a model run file (``path``), or what ``--quick`` trains when there is none (``dataset``,
    ``target`` (``None``: the family's measure), ``preset``, ``members``, ``seed`` (``None``: the master seed))."""

    path: str | None = None
    dataset: str | None = None
    target: str | None = None
    preset: str = "quick"
    members: int = 2
    seed: int | None = None

    @classmethod
    def from_json(cls, m: Mapping[str, Any]) -> "ModelConfig":
        return cls(**{k: int(v) if k in ("members", "seed") and v is not None else v for k, v in m.items()})

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass(frozen=True)
class CertifyConfig:
    """``[certify]``: how many best distinct candidates per scan point are certified (``top``), and the NBL branch
    and bound's gap, seconds and node limit per candidate."""

    top: int
    nbl_tol: float
    nbl_time_limit: float
    nbl_max_nodes: int

    @classmethod
    def from_json(cls, c: Mapping[str, Any]) -> "CertifyConfig":
        return cls(int(c["top"]), float(c["nbl_tol"]), float(c["nbl_time_limit"]), int(c["nbl_max_nodes"]))

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class LearnConfig:
    """``[learn]``: the surrogate learned in the run (each key explained in ``runs/jobs/_learn_run.py``)."""

    rows: int
    rounds: int
    maxima: int
    neighbours: int
    sigma: float
    disagree: int
    repeat: int
    preset: str
    members: int
    feature_set: str
    label_time_limit: float
    workers: int

    @classmethod
    def from_json(cls, lc: Mapping[str, Any]) -> "LearnConfig":
        kw = {f.name: lc[f.name] for f in dataclasses.fields(cls)}
        return cls(**{k: (float(v) if k in ("sigma", "label_time_limit") else v if isinstance(v, str) else int(v))
                      for k, v in kw.items()})

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class NetworkConfig:
    """``[network]`` (network families): the fanout inflation climbed (``copies`` per source), the proxy's
    amplification (0: the exact bound) and the inflation LP's ``D0`` (``None``: its own regula falsi)."""

    copies: tuple[int, ...]
    amplify: float
    D0: float | None = None

    @classmethod
    def from_json(cls, n: Mapping[str, Any]) -> "NetworkConfig":
        return cls(tuple(int(c) for c in n["copies"]), float(n["amplify"]),
                   None if n.get("D0") is None else float(n["D0"]))

    def to_json(self) -> dict[str, Any]:
        d = {"copies": list(self.copies), "amplify": self.amplify}
        if self.D0 is not None:
            d["D0"] = self.D0
        return d


@dataclass(frozen=True)
class DiscoveryConfig:
    """A whole search configuration (``load_discovery_config`` / ``parse_discovery_config`` build it; see the schema in
    ``runs/jobs/_discover_config.py``). ``family`` and ``constraints`` are the tables ``discover.family_from_spec``
    and ``discover.Constraints.from_config`` read; ``scan``: the angles searched one by one (``None``: once)."""

    name: str
    seed: int
    family: Mapping[str, Any]
    objective: ObjectiveConfig
    constraints: Mapping[str, Any]
    model: ModelConfig
    searchers: tuple[SearcherConfig, ...]
    certify: CertifyConfig
    scan: tuple[float, ...] | None = None
    learn: LearnConfig | None = None
    network: NetworkConfig | None = None
    description: str | None = None
    quick: bool = False

    @classmethod
    def from_json(cls, cfg: Mapping[str, Any]) -> "DiscoveryConfig":
        """From a table that ``normalise_discovery_config`` has checked and filled."""
        theta = (cfg.get("scan") or {}).get("theta")
        return cls(
            name=cfg["name"], seed=int(cfg["seed"]), family=_plain(cfg["family"]),
            objective=ObjectiveConfig.from_json(cfg["objective"]), constraints=_plain(cfg.get("constraints") or {}),
            model=ModelConfig.from_json(cfg.get("model") or {}),
            searchers=tuple(SearcherConfig.from_json(s) for s in cfg["searchers"]),
            certify=CertifyConfig.from_json(cfg["certify"]), scan=None if theta is None else tuple(map(float, theta)),
            learn=None if cfg.get("learn") is None else LearnConfig.from_json(cfg["learn"]),
            network=None if cfg.get("network") is None else NetworkConfig.from_json(cfg["network"]),
            description=cfg.get("description"), quick=bool(cfg.get("quick", False)))

    def to_json(self) -> dict[str, Any]:
        """The canonical table: what the run file stores and the config hash covers."""
        d: dict[str, Any] = {
            "name": self.name, "seed": self.seed, "family": _plain(self.family), "objective": self.objective.to_json(),
            "constraints": _plain(self.constraints), "model": self.model.to_json(),
            "searchers": [s.to_json() for s in self.searchers], "certify": self.certify.to_json(),
            "scan": {} if self.scan is None else {"theta": list(self.scan)}}
        if self.learn is not None:
            d["learn"] = self.learn.to_json()
        if self.network is not None:
            d["network"] = self.network.to_json()
        if self.description is not None:
            d["description"] = self.description
        if self.quick:
            d["quick"] = True
        return d

    def canonical_json(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))

    def config_hash(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    # ------------------------------------------------------------------------------------------ derived values
    @property
    def bilocal(self) -> bool:
        return self.family.get("scenario") == "bilocal"

    @property
    def measure(self) -> str:
        """What the surrogate learns and the labels certify: ``"nbl"`` (bilocal family), ``"network"`` (a network
        family: the interval of ``certify.network_nonlocality``) or ``"nl"`` (Bell pair)."""
        return "network" if self.network is not None else "nbl" if self.bilocal else "nl"

    @property
    def thetas(self) -> list[float | None]:
        """The scan points (``[None]``: one search at the family's own angle)."""
        return [None] if self.scan is None else list(self.scan)

    def family_at(self, theta: float | None) -> dict[str, Any]:
        """The ``[family]`` table at one scan point."""
        return _plain(self.family) if theta is None else {**_plain(self.family), "theta": theta}

    @property
    def learning(self) -> bool:
        """Is the surrogate learned in the run (a ``[learn]`` table and no model file named)?"""
        return self.learn is not None and self.model.path is None

    # ------------------------------------------------------------------------------------------ new configs
    def override(self, *, seed: int | None = None, steps: int | None = None, time_budget: float | None = None,
                 theta: list[float] | None = None, top: int | None = None, learn_rounds: int | None = None,
                 model_path: str | None = None) -> "DiscoveryConfig":
        """The command line's overrides (``None``: unchanged), re-checked as a file would be; raises ``ValueError``."""
        from runs.jobs._discover_config import parse_discovery_config

        d = copy.deepcopy(self.to_json())
        if seed is not None:
            d["seed"] = seed
        for s in d["searchers"]:
            if steps is not None:
                s["steps"] = steps
            if time_budget is not None:
                s["time_budget"] = time_budget
        if theta is not None:
            d["scan"] = {"theta": list(theta)}
        if top is not None:
            d["certify"]["top"] = top
        if learn_rounds is not None:
            if "learn" not in d:
                raise ValueError("--learn-rounds needs a [learn] table in the search config")
            d["learn"]["rounds"] = learn_rounds
        if model_path is not None:
            d["model"]["path"] = model_path
        return parse_discovery_config(d)
