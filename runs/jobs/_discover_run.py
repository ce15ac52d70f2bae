"""``runs.run_discover``: a campaign's searches, certification of their candidates, one discovery run file.

Order of work (each step flushed to the file as it completes, so a killed run keeps what it finished):
for each scan point (or once): every searcher in turn writes ``/traces/<name>``; then the pooled candidates of
that scan point are certified and appended to ``/candidates``. Root ``status`` becomes ``complete`` with a
``summary`` (JSON, with a ``headline``) at the end, or ``failed`` with the error.

Seeds: searcher i at scan point j in learning round r (0 without one) uses ``master + 1000 * j + i + 100 * r``
(``searcher_seed``); certification uses ``master``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import h5py
import jax
import numpy as np

from runs.files import _layout as L
from runs.jobs._discover_config import parse_discovery_config, quick_config
from runs.jobs._discovery_types import DiscoveryConfig, SearcherConfig
from runs.files._failure import closed_or_failed, create_guarded
from runs.files._store import create_run, set_status
from runs.jobs._discovery_file import read_discovery, summary_of  # noqa: F401  (read_discovery: the runner's reader)
from runs.jobs._learn_run import learn_in_run

__all__ = ["run_discover", "read_discovery", "SEED_DERIVATION"]

SEED_DERIVATION = ("searcher i at scan point j (learning round r, 0 without one): master + 1000*j + i + 100*r; "
                   "certification and labels: master; the learned surrogate's fits: master + 1 + k (k-th fit)")


def searcher_seed(master: int, j: int, i: int, r: int = 0) -> int:
    """The seed of searcher ``i`` at scan point ``j`` in learning round ``r`` (``SEED_DERIVATION``)."""
    return master + 1000 * j + i + 100 * r


def run_searcher(f: h5py.File, s: SearcherConfig, name: str, objective, fam, theta, seed: int, done: list[int],
                 total: int, progress, starts=None) -> Any:
    """Run one searcher (``s``: its config) on ``objective`` over ``fam`` and write its trace as ``name``; the one
    searcher loop of ``run_discover`` and of the learning rounds. ``done`` counts steps across searchers
    (for ``progress``); returns the search result, renamed."""
    import discover as d

    base = done[0]

    def report(n, tot, info):
        done[0] = base + n
        if progress is not None:
            progress(done[0], total, {"searcher": name, **info})

    res = d.search(_searcher(s), fam, objective, steps=s.steps, seed=seed, time_budget=s.time_budget,
                   progress=report, starts=starts)
    done[0] = base + s.steps
    res = _rename(res, name)
    params0, _ = d.params_of(fam.init(jax.random.PRNGKey(0)))
    _write_trace(f, name, res, s, seed, math.nan if theta is None else theta, d.leaf_paths(params0))
    return res
from runs.jobs._discovery_file import CANDIDATE_STATUS as _STRING_STATUS, append_candidate_rows


# ------------------------------------------------------------------------------------------------ model
def _surrogate(cfg: DiscoveryConfig, model: Path | None, quick: bool, out: Path, progress):
    """The surrogate named by ``--model`` / ``[model] path``, or (``--quick``) one trained now. Returns
    ``(surrogate, path, config_hash)``."""
    from runs.files._readonly import open_readonly
    from runs.files._model_file import load_model
    from runs.jobs._model_run import run_train

    m = cfg.model
    path = model if model is not None else m.path
    if path is None:
        if not quick:
            raise ValueError("target 'surrogate' needs a model: give --model MODEL.h5 or [model] path (or use --quick "
                             "to train a small one from [model] dataset)")
        if m.dataset is None:
            raise ValueError("--quick trains a surrogate from [model] dataset = 'DATASET.h5'; the campaign names none")
        path = out.with_name(out.stem + ".model.h5")
        run_train(Path(m.dataset), path, target=m.target or cfg.measure, preset=m.preset, members=m.members,
                  seed=cfg.seed if m.seed is None else m.seed, progress=progress)
    path = Path(path)
    if not path.exists():
        raise ValueError(f"model file {path} does not exist")
    surrogate = load_model(path)  # the checked reader first: a damaged or foreign file is one ValueError
    with open_readonly(path) as (f, _):
        chash = str(f[L.CONFIG].attrs.get(L.CONFIG_HASH, "")) if L.CONFIG in f else ""
    return surrogate, str(path), chash


# --------------------------------------------------------------------------------------------- searches
def _objective(target: str, cfg: DiscoveryConfig, surrogate):
    import discover as d

    o = cfg.objective
    bounds = dict(o.bounds) or None
    common = dict(brgp_max=o.brgp_max, brgp_weight=o.brgp_weight)
    tw = o.tripartite_weight if cfg.bilocal else 0.0
    if target == "surrogate":
        return d.Objective.make(surrogate, kappa=o.kappa, bounds=bounds, tripartite_weight=tw, **common)
    if target == "exact":  # the exact LP value, its optimal dual as gradient (discover/_exact.py)
        fn = (d.exact_nbl_upper(seed=cfg.seed) if cfg.bilocal
              else d.exact_nl(d.family_from_spec(cfg.family_at(None)).scenario))
        return d.Objective.make(fn, bounds=bounds, tripartite_weight=tw, **common)
    if target == "brgp":
        return d.Objective.make(d.brgp_target, bounds=bounds, **common)
    if target == "chsh":
        return d.Objective.make(d.chsh_target, bounds=bounds)
    if target == "nbl-upper":
        return d.upper_bound_objective(**common, tripartite_weight=tw, seed=cfg.seed)
    if target == "nl":
        return _nl_objective()
    raise ValueError(f"unknown target {target!r}")


def _nl_objective():
    """Bipartite surrogate-free baseline: the exact NL LP's certified lower bound, maximised directly."""
    import certify
    import discover as d

    def fn(strategy) -> float:
        r = certify.nonlocality(strategy.behaviour(np.float64), validate=False)
        return float(r.lower) if r.status in certify.SOLVED else math.nan

    return d.PythonObjective(fn, "nl")


def _searcher(s: SearcherConfig):
    import discover as d

    if s.kind == "gradient":
        return d.GradientSearch(s.starts, s.learning_rate, s.optimiser, s.name)
    if s.kind == "nevergrad":
        return d.NevergradSearch(s.optimiser, s.batch, s.sigma, s.name)
    return d.RandomSearch(s.batch, s.name)


def _write_trace(f: h5py.File, name: str, res, s: SearcherConfig, seed: int, theta: float, paths: list[str]) -> None:
    g = f.create_group(L.trace_path(name))
    for k in L.TRACE_FIELDS:
        g.create_dataset(k, data=getattr(res.trace, k))
    g.attrs.update({"searcher": s.kind, "objective": s.target, "seed": seed, "theta": theta,
                    "seconds": res.seconds, "params_paths": json.dumps(paths)})
    f.flush()


def _append_candidates(f: h5py.File, cands) -> None:
    n = len(cands)
    data = {
        "behaviour": cands.behaviour, "params": cands.params, "value": cands.value, "pred_mean": cands.pred_mean,
        "pred_std": cands.pred_std, "brgp": cands.brgp, "tripartite_nl": cands.tripartite_nl,
        "nl_lower": cands.nl_lower, "nl_upper": cands.nl_upper, "nbl_lower": cands.nbl_lower,
        "nbl_upper": cands.nbl_upper, "discovery": cands.discovery, "theta": cands.theta, "seconds": cands.seconds,
    }
    for k in _STRING_STATUS:  # codes of the one status table (runs/files/_layout.py)
        data[k] = np.array([L.status_code(v) for v in getattr(cands, k)], dtype=np.uint8)
    data["searcher"] = np.array(cands.searcher, dtype=object)
    append_candidate_rows(f, data, n)


def _tally(per: dict, name: str, res) -> None:
    """Add one search result to its searcher's totals (best value, evaluations, seconds) over scan points/rounds."""
    p = per.setdefault(name, {"best_value": -math.inf, "evaluations": 0, "seconds": 0.0})
    p["best_value"] = max(p["best_value"], float(res.trace.best[-1]))
    p["evaluations"] += int(res.trace.evaluations[-1])
    p["seconds"] += res.seconds


def run_discover(config: DiscoveryConfig | Mapping[str, Any], out: Path, *, quick: bool = False, model: Path | None = None,
                 progress: Callable[[int, int, Mapping[str, float]], None] | None = None,
                 argv: list[str] | None = None) -> Path:
    """Run a discovery campaign (a ``DiscoveryConfig`` as ``load_discovery_config`` returns, or a table it accepts)
    into a new run file ``out``.

    ``quick`` shrinks every budget (``runs.jobs._discover_config.QUICK``); ``model`` overrides ``[model] path``.
    ``progress(done, total, info)`` counts search steps and certified candidates over the whole campaign.
    Raises ``ValueError`` (bad config, missing model) or ``FileExistsError`` before anything is written.
    """
    import discover as d

    cfg = parse_discovery_config(config)
    if quick:
        cfg = quick_config(cfg)
    out = Path(out)
    if out.exists() or out.is_symlink():
        raise FileExistsError(f"{out} already exists (choose another --out; run files are never overwritten)")
    from runs.files._store import check_out_path

    check_out_path(out)  # a missing folder is refused now, not after the searches (or a --quick training)
    if model is not None:
        model = Path(model)
        if not model.is_file():
            raise ValueError(f"model file {model} does not exist" if not model.exists() else f"--model {model} is not a file")
    if cfg.network is not None:  # a network family: its own path (runs/jobs/_network_discover_run.py)
        if model is not None or cfg.model.path is not None:
            raise ValueError("a network family is searched on its certified inflation bound; it takes no model")
        from runs.jobs._network_discover_run import run_network_discover

        return run_network_discover(cfg, out, progress=progress, argv=argv)
    # everything the searches will build, built once now: a bad searcher, family or objective is refused here,
    # before any file exists (the surrogate's objective is checked once the model is loaded, still before)
    thetas = cfg.thetas
    fams = [d.family_from_spec(cfg.family_at(t)) for t in thetas]
    for s in cfg.searchers:
        _searcher(s)
    cons = d.Constraints.from_config(cfg.constraints)
    learning = cfg.learning and model is None
    needs_model = any(s.surrogate for s in cfg.searchers) and not learning
    if needs_model and model is None and cfg.model.path is None and not quick:
        raise ValueError("target 'surrogate' needs a model: give --model MODEL.h5 or [model] path (or use --quick "
                         "to train a small one from [model] dataset)")
    for s in cfg.searchers:
        if not s.surrogate:
            _objective(s.target, cfg, None)
    if learning:  # what the learning needs, refused before any file exists
        import surrogates as S

        S.preset_config(cfg.learn.preset, cfg.measure)
        if not S.feature_map(cfg.learn.feature_set).applies(fams[0].scenario):
            raise ValueError(f"[learn] feature_set {cfg.learn.feature_set!r} does not apply to "
                             f"{fams[0].scenario}")
    surrogate, mpath, mhash = (_surrogate(cfg, model, quick, out, progress) if needs_model else (None, "", ""))
    if needs_model:
        _objective("surrogate", cfg, surrogate)
    if model is not None:
        cfg = cfg.override(model_path=str(model))
    fam0 = fams[0]
    cert = cfg.certify
    total = len(thetas) * (sum(s.steps for s in cfg.searchers) + max(cert.top, len(cfg.searchers)))
    if learning:  # the surrogate and refine searchers run once per learning round
        sur = [s for s in cfg.searchers if s.surrogate or s.refine]
        total += len(thetas) * (cfg.learn.rounds - 1) * sum(s.steps for s in sur)
    done = [0]

    master = cfg.seed
    f = create_guarded(out, lambda: create_run(out, L.KIND_DISCOVERY, cfg.canonical_json(), cfg.config_hash(), master,
                                               SEED_DERIVATION, json.dumps(fam0.scenario.to_json()), argv))
    t0 = time.perf_counter()
    with closed_or_failed(f):
        g = f.create_group(L.MODEL)
        g.attrs.update({L.MODEL_TARGET: json.dumps(sorted({s.target for s in cfg.searchers})),
                        L.MODEL_PATH: "(learned in this run: /learn)" if learning else mpath,
                        L.MODEL_CONFIG_HASH: mhash})
        f.create_group(L.TRACES)
        per: dict[str, dict[str, Any]] = {}
        learned = None
        if learning:
            learned = learn_in_run(f, cfg, fams, thetas, per, progress, done, total)
            surrogate = learned.predictor
        for j, theta in enumerate(thetas):
            fam = fams[j]
            results = list(learned.results[j]) if learned is not None else []
            proposals = list(results)  # the surrogate searchers' results: where refine searchers start
            for i, s in enumerate(cfg.searchers):
                if learned is not None and s.surrogate:
                    continue  # run by the learning rounds
                if learned is not None and s.refine:
                    continue  # run in every learning round, from that round's surrogate searchers
                starts = d.best_distinct(proposals, s.starts, fam) if s.refine else None
                name = s.name if theta is None else f"{s.name}@theta={theta:g}"
                res = run_searcher(f, s, name, _objective(s.target, cfg, surrogate), fam, theta,
                                   searcher_seed(master, j, i), done, total, progress, starts=starts)
                results.append(res)
                if s.surrogate:
                    proposals.append(res)
                _tally(per, s.name, res)
            base = done[0]

            def creport(n, tot, info, base=base):
                done[0] = base + n
                if progress is not None:
                    progress(done[0], total, {"certified": float(n), **info})

            if results:
                cands = d.certify_candidates(
                    results, cons, top=cert.top, predict=surrogate, nbl_tol=cert.nbl_tol,
                    nbl_time_limit=cert.nbl_time_limit, nbl_max_nodes=cert.nbl_max_nodes,
                    seed=master, progress=creport,
                )
                _append_candidates(f, cands)
        summary = summary_of(f, cfg, per, time.perf_counter() - t0)
        set_status(f, L.STATUS_COMPLETE, summary)
    return out


def _rename(res, name):
    import dataclasses

    return dataclasses.replace(res, searcher=name, trace=dataclasses.replace(res.trace, searcher=name))
