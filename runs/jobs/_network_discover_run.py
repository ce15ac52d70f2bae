"""Discovery runs over network families (the triangle): ``run_discover``'s path when ``[family]`` is a network's.

The searchers climb the certified lower bound of one cheap fanout inflation (``[network] copies``;
``discover.network_objective``), through the proxy ``amplify`` when it is > 0; searchers with ``refine = true`` climb
the exact bound (amplify 0) from the other searchers' best distinct points. Then the ``[certify] top`` best distinct
points are certified in full (``discover.certify_network_candidates``: explicit network-local model above, the
inflation ladder below, ``[certify] nbl_tol`` as the gap tolerance and ``nbl_time_limit`` as seconds per candidate)
and written to ``/candidates`` (``network_lower``, ``network_upper``, ``network_status``, ``inflation``). A
candidate is a discovery by the one rule (``discover.is_discovery``: certified lower bound > ZERO_TOL, checks
passed, parameter bounds held). Seeds: searcher i uses ``master + i`` (``searcher_seed`` at scan point 0, round 0).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import h5py
import numpy as np

from runs.files import _layout as L
from runs.files._failure import closed_or_failed, create_guarded
from runs.files._store import create_run, set_status
from runs.jobs._discovery_file import append_candidate_rows, summary_of
from runs.jobs._discovery_types import DiscoveryConfig

__all__ = ["run_network_discover"]


def _append(f: h5py.File, cands) -> None:
    """``/candidates/<field>`` rows of ``discover.NetworkCandidate`` s; flushed, then ``rows_complete`` moves."""
    n = len(cands)
    r = [c.result for c in cands]
    data = {
        "behaviour": np.array([c.behaviour for c in cands]).reshape((n,) + (cands[0].behaviour.shape if n else ())),
        "params": np.array([c.params for c in cands], np.float64).reshape(n, -1),
        "value": np.array([c.search_value for c in cands], np.float64),
        "network_lower": np.array([x.lower for x in r], np.float64),
        "network_upper": np.array([x.upper for x in r], np.float64),
        "network_status": np.array([L.status_code(x.status.value) for x in r], np.uint8),
        "inflation": np.array([x.inflation or "" for x in r], dtype=object),
        "discovery": np.array([c.discovery for c in cands], bool),
        "searcher": np.array([c.searcher for c in cands], dtype=object),
        "theta": np.full(n, math.nan),
        "seconds": np.array([x.seconds for x in r], np.float64),
    }
    append_candidate_rows(f, data, n)


def run_network_discover(cfg: DiscoveryConfig, out: Path, *,
                         progress: Callable[[int, int, Mapping[str, float]], None] | None = None,
                         argv: list[str] | None = None) -> Path:
    """Search and certify a network family into a new discovery run file ``out`` (module docstring)."""
    import discover as d
    from runs.jobs._discover_run import _searcher, _tally, run_searcher, searcher_seed

    fam = d.family_from_spec(cfg.family_at(None))
    net, cert = cfg.network, cfg.certify
    cons = d.Constraints.from_config(cfg.constraints)
    objectives = {amp: d.network_objective(fam.scenario, net.copies, net.D0, amp) for amp in {net.amplify, 0.0}}
    for s in cfg.searchers:
        _searcher(s)
    total = sum(s.steps for s in cfg.searchers) + cert.top
    done = [0]
    master = cfg.seed
    f = create_guarded(out, lambda: create_run(out, L.KIND_DISCOVERY, cfg.canonical_json(), cfg.config_hash(), master,
                                               "searcher i: master + i; certification: master",
                                               json.dumps(fam.scenario.to_json()), argv))
    t0 = time.perf_counter()
    with closed_or_failed(f):
        g = f.create_group(L.MODEL)
        g.attrs.update({L.MODEL_TARGET: json.dumps(["inflation"]), L.MODEL_PATH: "", L.MODEL_CONFIG_HASH: ""})
        f.create_group(L.TRACES)
        per: dict = {}
        results: list = []
        for i, s in enumerate(cfg.searchers):
            found = [r for r, t in zip(results, cfg.searchers) if not t.refine]
            starts = d.best_distinct(found, s.starts, fam, each=True) if s.refine else None
            obj = objectives[0.0 if s.refine else net.amplify]
            res = run_searcher(f, s, s.name, obj, fam, None, searcher_seed(master, 0, i), done, total, progress,
                               starts=starts)
            results.append(res)
            _tally(per, s.name, res)
        base = done[0]

        def report(stage, info):
            if stage == "certify":
                done[0] = base + int(info["k"]) + 1
                if progress is not None:
                    progress(done[0], total, {"certified": float(info["k"] + 1), "lower": float(info["lower"])})

        cands = d.certify_network_candidates(
            results, fam, top=cert.top, constraints=cons, progress=report,
            certify_options={"tol": cert.nbl_tol, "time_limit": cert.nbl_time_limit, "seed": master})
        _append(f, cands)
        set_status(f, L.STATUS_COMPLETE, summary_of(f, cfg, per, time.perf_counter() - t0))
    return out
