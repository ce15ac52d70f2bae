"""Search configurations: a TOML file (shipped ones by name, or any path) -> a checked ``DiscoveryConfig``.

Every default lives here, once (``OBJECTIVE_DEFAULTS``, ``MODEL_DEFAULTS``, ``SEARCHER_DEFAULTS``,
``CERTIFY_DEFAULTS``, ``LEARN_DEFAULTS``); the checked, filled table becomes the frozen dataclasses of
``runs/jobs/_discovery_types.py``, which every reader uses.

Schema (every table optional except ``[family]``; defaults in brackets)::

    name = "fig3b"                    # [file stem]
    seed = 1                          # master seed [0]
    description = "..."

    [family]                          # discover.family_from_spec keys (docs/discover.md)
    scenario = "bilocal"; sources = "theta"; bob = "product"; measurements = "bloch"; eta = 1.0; theta = 0.75

    [scan]                            # optional: one search per value (a fixed family parameter)
    theta = [0.45, 0.6, 0.75]

    [objective]                       # what the searchers maximise (defaults: OBJECTIVE_DEFAULTS)
    target = "surrogate"              # surrogate | brgp | chsh | nbl-upper | nl | exact (gradient: LP + dual)
                                      # | inflation (network families: certified fanout-inflation lower bound)
    kappa = 0.0                       # surrogate: mean + kappa * std
    brgp_max = 0.98                   # bilocal: penalise sqrt|I| + sqrt|J| above this during the search
    brgp_weight = 10.0                # its weight (penalty weight * excess**2)
    tripartite_weight = 0.0           # bilocal: subtract weight * tripartite NL (an LP per evaluation; exact)
    bounds = { "source1.theta" = [0.3, 0.8] }

    [constraints]                     # what a certified candidate must satisfy to be a discovery
    brgp_max = 1.0; tripartite_local = true; bounds = {...}

    [model]                           # the surrogate of target = "surrogate"
    path = "model.h5"                 # a model run file (runs.load_model); --model overrides
    dataset = "swap.h5"; target = "nbl"; preset = "small"; members = 4   # what --quick trains when no path
                                      # [preset quick, members 2, target: the family's measure, seed: master]

    [[searchers]]                     # in order; each may override the objective's target
    kind = "gradient"                 # gradient | nevergrad | random
    name = "gradient"                 # trace name [kind, or nevergrad-<optimiser>]
    target = "nbl-upper"              # [objective.target]
    steps = 200; time_budget = 60.0   # seconds (optional): stop early at this wall time
    starts = 32; learning_rate = 0.05; optimiser = "adam"      # gradient
    refine = true                     # gradient, exact target: start from the surrogate searchers' best points
    optimiser = "CMA"; batch = 16; sigma = 0.5                 # nevergrad
    batch = 64                                                 # random

    [certify]
    top = 8; nbl_tol = 1e-5; nbl_time_limit = 20.0; nbl_max_nodes = 20000

    [network]                         # network families only (scenario = "triangle"; targets: "inflation")
    copies = [1, 1, 2]; amplify = 3.0   # the inflation climbed, the proxy's push (NETWORK_DEFAULTS); refine
                                        # searchers climb the exact bound from the others' best points

    [learn]                           # the surrogate learned in the run, on the searched family, refined round by
    rows = 600; rounds = 3; maxima = 8  # round at the searchers' maxima (runs/jobs/_learn_run.py; defaults in
    neighbours = 4; disagree = 8        # LEARN_DEFAULTS). --model skips it and uses that model as it is.


``--quick`` shrinks every budget (steps, time budgets, scan points, certification) so that a campaign ends
within 5 minutes on a 2-core machine (``quick_config``).
"""

from __future__ import annotations

import copy
import math
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from runs.jobs._discovery_types import DiscoveryConfig, SearcherConfig

__all__ = ["load_discovery_config", "parse_discovery_config", "normalise_discovery_config", "quick_config",
           "discovery_config_names", "TARGETS", "DiscoveryConfig"]

TARGETS = ("surrogate", "brgp", "chsh", "nbl-upper", "nl", "exact", "inflation")
_TOP = {"name", "seed", "description", "family", "scan", "objective", "constraints", "model", "searchers", "certify",
        "learn", "quick", "network"}
#: ``[learn]``: the surrogate learned in the run (runs/jobs/_learn_run.py explains each key). The one place its
#: defaults live.
LEARN_DEFAULTS: dict[str, Any] = {"rows": 600, "rounds": 3, "maxima": 8, "neighbours": 4, "sigma": 0.05,
                                  "disagree": 8, "repeat": 6, "preset": "censored", "members": 4, "feature_set": None,
                                  "label_time_limit": 5.0, "workers": 2}
_SEARCHER_KEYS = {
    "gradient": {"kind", "name", "target", "steps", "time_budget", "starts", "learning_rate", "optimiser", "refine"},
    "nevergrad": {"kind", "name", "target", "steps", "time_budget", "optimiser", "batch", "sigma"},
    "random": {"kind", "name", "target", "steps", "time_budget", "batch"},
}
#: Each searcher kind's defaults and ``[certify]``'s: the one place they live. ``normalise_discovery_config`` fills
#: them in, so every reader (the runner, ``--quick``, the learning) takes the stored value.
SEARCHER_DEFAULTS: dict[str, dict[str, Any]] = {
    "gradient": {"steps": 100, "starts": 32, "learning_rate": 0.05, "optimiser": "adam", "refine": False},
    "nevergrad": {"steps": 100, "optimiser": "CMA", "batch": 16, "sigma": 0.5},
    "random": {"steps": 100, "batch": 64},
}
CERTIFY_DEFAULTS: dict[str, Any] = {"top": 8, "nbl_tol": 1e-5, "nbl_time_limit": 20.0, "nbl_max_nodes": 20000}
#: ``[objective]``'s defaults (``brgp_max`` absent: no BRGP penalty) and ``[model]``'s (what ``--quick`` trains when
#: no model file is named; ``target`` absent: the family's measure, ``seed`` absent: the master seed).
OBJECTIVE_DEFAULTS: dict[str, Any] = {"target": "surrogate", "kappa": 0.0, "brgp_weight": 10.0, "tripartite_weight": 0.0,
                                      "bounds": {}}
MODEL_DEFAULTS: dict[str, Any] = {"preset": "quick", "members": 2}
#: ``[network]`` (network families, e.g. the triangle): the fanout inflation whose certified lower bound the
#: searchers climb (copies per source), the proxy's amplification (``discover.network_objective``; refine searchers
#: climb the exact bound, amplify 0), and the inflation LP's D0 (absent: the bound's own regula falsi).
NETWORK_DEFAULTS: dict[str, Any] = {"copies": [1, 1, 2], "amplify": 0.0}
_NETWORK_KEYS = {"copies", "amplify", "D0"}
_OBJ_KEYS = {"target", "kappa", "brgp_max", "brgp_weight", "tripartite_weight", "bounds"}
_CONS_KEYS = {"brgp_max", "tripartite_local", "bounds"}
_MODEL_KEYS = {"path", "dataset", "target", "preset", "members", "seed"}
_CERT_KEYS = {"top", "nbl_tol", "nbl_time_limit", "nbl_max_nodes"}

#: --quick: caps on each searcher, on the scan and on certification (5 minutes in all on 2 cores).
QUICK = {"steps": 40, "time_budget": 15.0, "scan": 2, "top": 4, "nbl_time_limit": 5.0, "nbl_max_nodes": 3000,
         "starts": 16, "batch": 16, "learn_rows": 240, "learn_rounds": 3}


def discovery_config_names() -> list[str]:
    """Names of the search configurations shipped with bellscope (``runs/jobs/searches/*.toml``)."""
    return sorted(p.name[:-5] for p in resources.files("runs.jobs").joinpath("searches").iterdir()
                  if p.name.endswith(".toml"))


def load_discovery_config(source: str | Path) -> DiscoveryConfig:
    """Read a search configuration: the plain name of a shipped one (``fig3b``, one of ``discovery_config_names()``), or
    a path to a TOML file. Validated; raises ``ValueError`` with a one-line reason."""
    source = str(source)
    shipped = discovery_config_names()
    if source in shipped:  # a plain name from the list: never a path, so "../x" cannot reach outside the package
        text, stem = resources.files("runs.jobs").joinpath("searches", f"{source}.toml").read_text(), source
    else:
        path = Path(source)
        if path.is_dir():
            raise ValueError(f"search config {source} is a folder, not a TOML file")
        if not path.exists():
            if path.suffix == ".toml" or len(path.parts) > 1:
                raise ValueError(f"search config {path} does not exist")
            raise ValueError(f"no search config {source!r} and no shipped search config of that name; shipped: "
                             f"{', '.join(shipped)}")
        if not path.is_file():
            raise ValueError(f"search config {source} is not a regular file")
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            raise ValueError(f"search config {path} is not UTF-8 text") from None
        except OSError as e:
            raise ValueError(f"cannot read search config {path}: {e.strerror or e}") from None
        stem = path.stem
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"search config {source}: not valid TOML: {e}") from None
    raw.setdefault("name", stem)
    return parse_discovery_config(raw)


def parse_discovery_config(raw: Mapping[str, Any] | DiscoveryConfig) -> DiscoveryConfig:
    """A search config table (as TOML gives it, or a stored ``/config``) -> a checked ``DiscoveryConfig``."""
    if isinstance(raw, DiscoveryConfig):
        return raw
    return DiscoveryConfig.from_json(normalise_discovery_config(raw))


#: Master seeds (and derived ones: + 1000 * scan point + searcher + 100 * round) stay below 2**31.
MAX_SEED = 2**31 - 2**20


def _int(x: Any, what: str, lo: int, hi: int | None = None) -> int:
    if isinstance(x, bool) or not isinstance(x, int) and not (isinstance(x, float) and x.is_integer()):
        raise ValueError(f"{what} must be an integer; got {x!r}")
    x = int(x)
    if x < lo or (hi is not None and x > hi):
        raise ValueError(f"{what} must be >= {lo}" + ("" if hi is None else f" and <= {hi}") + f"; got {x}")
    return x


def _num(x: Any, what: str, *, positive: bool = False, nonneg: bool = False) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(float(x)):
        raise ValueError(f"{what} must be a finite number; got {x!r}")
    x = float(x)
    if positive and not x > 0:
        raise ValueError(f"{what} must be > 0; got {x}")
    if nonneg and not x >= 0:
        raise ValueError(f"{what} must be >= 0; got {x}")
    return x


def _keys(table: Mapping, allowed: set, where: str) -> None:
    if not isinstance(table, Mapping):
        raise ValueError(f"[{where}] must be a table")
    bad = set(table) - allowed
    if bad:
        raise ValueError(f"unknown key(s) {sorted(bad)} in [{where}]; allowed: {sorted(allowed)}")


def normalise_discovery_config(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Check every key and value that can be checked without running; fill every default. Returns the filled table
    (``parse_discovery_config`` makes it typed). Raises ``ValueError``."""
    cfg = copy.deepcopy(dict(raw))
    if "active" in cfg:
        raise ValueError("[active] was replaced by [learn] (the surrogate learned on the searched family and refined "
                         "at its searchers' maxima; docs/discover.md)")
    _keys(cfg, _TOP, "search config")
    if "family" not in cfg:
        raise ValueError("a search config needs a [family] table")
    from discover import family_from_spec

    from discover import Constraints

    if not isinstance(cfg["family"], Mapping):
        raise ValueError("[family] must be a table")
    family = family_from_spec(cfg["family"])  # raises on bad family keys
    _int(cfg.get("seed", 0), "seed", 0, MAX_SEED)
    cfg["seed"] = int(cfg.get("seed", 0))
    cfg.setdefault("name", "campaign")
    if not isinstance(cfg["name"], str) or not cfg["name"]:
        raise ValueError(f"name must be a non-empty string; got {cfg['name']!r}")
    obj = cfg.setdefault("objective", {})
    _keys(obj, _OBJ_KEYS, "objective")
    for k, v in OBJECTIVE_DEFAULTS.items():
        obj.setdefault(k, copy.deepcopy(v))
    if not isinstance(obj["target"], str):
        raise ValueError(f"[objective] target must be a string; got {obj['target']!r}")
    _num(obj["kappa"], "[objective] kappa")
    if obj.get("brgp_max") is not None:
        _num(obj["brgp_max"], "[objective] brgp_max")
    for k in ("brgp_weight", "tripartite_weight"):
        if k in obj:
            _num(obj[k], f"[objective] {k}", nonneg=True)
    cons = cfg.setdefault("constraints", {})
    _keys(cons, _CONS_KEYS, "constraints")
    bounds = {**Constraints.from_config(cons).bounds,
              **Constraints.from_config({"bounds": obj.get("bounds", {}) or {}}).bounds}
    if bounds:  # every bound names a parameter of the family (a misspelt path would never be checked)
        import jax

        from discover import bounds_hold, params_of

        bounds_hold(params_of(family.init(jax.random.PRNGKey(0)))[0], bounds)
    model = cfg.setdefault("model", {})
    _keys(model, _MODEL_KEYS, "model")
    for k, v in MODEL_DEFAULTS.items():
        model.setdefault(k, v)
    if "members" in model:
        _int(model["members"], "[model] members", 1)
    if "seed" in model:
        _int(model["seed"], "[model] seed", 0, MAX_SEED)
    for k in ("path", "dataset", "target", "preset"):
        if k in model and not isinstance(model[k], str):
            raise ValueError(f"[model] {k} must be a string; got {model[k]!r}")
    cert = cfg.setdefault("certify", {})
    _keys(cert, _CERT_KEYS, "certify")
    for k, v in CERTIFY_DEFAULTS.items():
        cert.setdefault(k, v)
    _int(cert["top"], "[certify] top", 1)
    _num(cert["nbl_tol"], "[certify] nbl_tol", positive=True)
    _num(cert["nbl_time_limit"], "[certify] nbl_time_limit", positive=True)
    _int(cert["nbl_max_nodes"], "[certify] nbl_max_nodes", 1)
    if not isinstance(cfg.get("quick", False), bool):
        raise ValueError(f"quick must be true or false; got {cfg['quick']!r}")
    if cfg.get("description") is not None and not isinstance(cfg["description"], str):
        raise ValueError(f"description must be a string; got {cfg['description']!r}")
    scan = cfg.setdefault("scan", {})
    _keys(scan, {"theta"}, "scan")
    if "theta" in scan:
        if not isinstance(scan["theta"], list) or not scan["theta"]:
            raise ValueError("[scan] theta must be a non-empty list of angles")
        scan["theta"] = [_num(t, "[scan] theta") for t in scan["theta"]]
    bilocal = cfg["family"].get("scenario", "bell") == "bilocal"
    network = _network_check(cfg, family)
    searchers = cfg.setdefault("searchers", [{"kind": "gradient"}])
    if not isinstance(searchers, list) or not searchers:
        raise ValueError("[[searchers]] must list at least one searcher")
    names = set()
    for s in searchers:
        if not isinstance(s, Mapping):
            raise ValueError("each [[searchers]] entry must be a table")
        kind = s.get("kind")
        if kind not in _SEARCHER_KEYS:
            raise ValueError(f"searcher kind {kind!r} unknown; expected one of {sorted(_SEARCHER_KEYS)}")
        _keys(s, _SEARCHER_KEYS[kind], f"searchers ({kind})")
        s.setdefault("target", obj["target"])
        for k, v in SEARCHER_DEFAULTS[kind].items():
            s.setdefault(k, v)
        s.setdefault("name", f"nevergrad-{s['optimiser']}" if kind == "nevergrad" else kind)
        if s["name"] in names:
            raise ValueError(f"two searchers named {s['name']!r}; give them distinct names")
        names.add(s["name"])
        if s["target"] not in TARGETS:
            raise ValueError(f"unknown target {s['target']!r}; expected one of {TARGETS}")
        if kind == "gradient" and s["target"] in ("nbl-upper", "nl"):
            raise ValueError(f"searcher {s['name']!r}: target {s['target']!r} is an LP without a gradient here; use "
                             "target 'exact' (the same LP with its dual as gradient), nevergrad or random")
        if kind != "gradient" and s["target"] == "exact":
            raise ValueError(f"searcher {s['name']!r}: target 'exact' is for gradient searchers (nevergrad and random "
                             "use 'nbl-upper' / 'nl')")
        if "refine" in s and not isinstance(s["refine"], bool):
            raise ValueError(f"searcher {s['name']!r}: refine must be true or false; got {s['refine']!r}")
        if (s["target"] == "inflation") != network:
            raise ValueError(f"searcher {s['name']!r}: " + ("a network family is searched on target 'inflation' (the "
                             "certified inflation lower bound); set [objective] target = 'inflation'" if network else
                             "target 'inflation' needs a network family (e.g. scenario = 'triangle')"))
        if s.get("refine") and s["target"] == "surrogate":
            raise ValueError(f"searcher {s['name']!r}: refine starts from the surrogate searchers' best points; its "
                             "target must be an exact one ('exact')")
        if s["target"] in ("brgp", "nbl-upper") and not bilocal:
            raise ValueError(f"target {s['target']!r} needs a bilocal family")
        if s["target"] in ("chsh", "nl") and bilocal:
            raise ValueError(f"target {s['target']!r} needs a bell family")
        _int(s["steps"], f"searcher {s['name']!r}: steps", 1)
        if s.get("time_budget") is not None:
            _num(s["time_budget"], f"searcher {s['name']!r}: time_budget", positive=True)
        for k in ("starts", "batch"):
            if k in s:
                _int(s[k], f"searcher {s['name']!r}: {k}", 1)
        for k in ("learning_rate", "sigma"):
            if k in s:
                _num(s[k], f"searcher {s['name']!r}: {k}", positive=True)
        _searcher_check(s)
    if "learn" in cfg:
        _learn_check(cfg, searchers)
    if network:
        if not any(not s.get("refine") for s in searchers):
            raise ValueError("a refine searcher starts from the other searchers' best points: add one without refine")
    elif any(s.get("refine") for s in searchers) and not any(s["target"] == "surrogate" for s in searchers):
        raise ValueError("a refine searcher starts from the surrogate searchers' best points: add a searcher with "
                         "target 'surrogate'")
    return cfg


def _network_check(cfg: dict[str, Any], family) -> bool:
    """For a network family: fill and check ``[network]`` (``NETWORK_DEFAULTS``) and refuse what does not apply to
    it. Returns whether the family is a network's."""
    from bellcore import NetworkScenario

    if not isinstance(family.scenario, NetworkScenario):
        if "network" in cfg:
            raise ValueError("[network] applies to network families (e.g. [family] scenario = 'triangle')")
        return False
    for table in ("learn", "scan"):
        if cfg.get(table):
            raise ValueError(f"[{table}] is not available for network families yet (docs/networks.md)")
    if cfg["constraints"].get("brgp_max") is not None or cfg["constraints"].get("tripartite_local"):
        raise ValueError("[constraints] brgp_max and tripartite_local are bilocal-network constraints; a network "
                         "family takes bounds only")
    net = cfg.setdefault("network", {})
    _keys(net, _NETWORK_KEYS, "network")
    for k, v in NETWORK_DEFAULTS.items():
        net.setdefault(k, copy.deepcopy(v))
    copies = net["copies"]
    n_src = family.scenario.n_sources
    if not isinstance(copies, list) or len(copies) != n_src:
        raise ValueError(f"[network] copies must list one copy count per source ({n_src}); got {copies!r}")
    net["copies"] = [_int(c, "[network] copies", 1, 3) for c in copies]
    net["amplify"] = _num(net["amplify"], "[network] amplify", nonneg=True)
    if net.get("D0") is not None:
        net["D0"] = _num(net["D0"], "[network] D0", nonneg=True)
    return True


def _learn_check(cfg: dict[str, Any], searchers) -> None:
    """Fill ``[learn]``'s defaults (``LEARN_DEFAULTS``) and check each value."""
    from surrogates import FEATURE_SETS, PRESETS

    lc = cfg["learn"]
    _keys(lc, set(LEARN_DEFAULTS), "learn")
    for k, v in LEARN_DEFAULTS.items():
        lc.setdefault(k, v)
    if lc["feature_set"] is None:  # the network's correlators (symmetries as augmentation); a Bell pair's own
        lc["feature_set"] = "network" if cfg["family"].get("scenario") == "bilocal" else "canonical"
    lo = {"rows": 2, "rounds": 1, "maxima": 1, "neighbours": 0, "disagree": 0, "repeat": 1, "members": 1, "workers": 1}
    for k, m in lo.items():
        lc[k] = _int(lc[k], f"[learn] {k}", m, 10**6)
    lc["sigma"] = _num(lc["sigma"], "[learn] sigma", nonneg=True)
    lc["label_time_limit"] = _num(lc["label_time_limit"], "[learn] label_time_limit", positive=True)
    if lc["preset"] not in PRESETS:
        raise ValueError(f"[learn] preset must be one of {', '.join(PRESETS)}; got {lc['preset']!r}")
    if lc["feature_set"] not in FEATURE_SETS:
        raise ValueError(f"[learn] feature_set must be one of {', '.join(FEATURE_SETS)}; got {lc['feature_set']!r}")
    if not any(s["target"] == "surrogate" for s in searchers):
        raise ValueError("[learn] trains the surrogate the searchers use: at least one searcher must have target "
                         "'surrogate'")


def _searcher_check(s: Mapping[str, Any]) -> None:
    """Build the searcher once (its own checks: optimiser names) so that a bad one is refused before any work."""
    from runs.jobs._discover_run import _searcher

    _searcher(SearcherConfig.from_json(s))


def quick_config(cfg: DiscoveryConfig | Mapping[str, Any]) -> DiscoveryConfig:
    """The same campaign with every budget shrunk (``QUICK``)."""
    q = copy.deepcopy(parse_discovery_config(cfg).to_json())
    for s in q["searchers"]:
        s["steps"] = min(int(s["steps"]), QUICK["steps"])
        s["time_budget"] = min(float(s.get("time_budget", QUICK["time_budget"])), QUICK["time_budget"])
        if s["kind"] == "gradient":
            s["starts"] = min(int(s["starts"]), QUICK["starts"])
        if s["kind"] in ("nevergrad", "random"):
            s["batch"] = min(int(s["batch"]), QUICK["batch"])
    if "theta" in q["scan"]:
        th = q["scan"]["theta"]
        q["scan"]["theta"] = th if len(th) <= QUICK["scan"] else [th[0], th[-1]]
    c = q["certify"]
    c["top"] = min(int(c["top"]), QUICK["top"])
    c["nbl_time_limit"] = min(float(c["nbl_time_limit"]), QUICK["nbl_time_limit"])
    c["nbl_max_nodes"] = min(int(c["nbl_max_nodes"]), QUICK["nbl_max_nodes"])
    q["model"]["members"] = min(int(q["model"]["members"]), 2)
    if "learn" in q:
        q["learn"]["rows"] = min(int(q["learn"]["rows"]), QUICK["learn_rows"])
        q["learn"]["rounds"] = min(int(q["learn"]["rounds"]), QUICK["learn_rounds"])
    q["quick"] = True
    return parse_discovery_config(q)
