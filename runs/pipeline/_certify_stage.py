"""The campaign's certify stage: the best candidates of every discovery (those meeting its constraints first, then by
certified lower bound, then by prediction) re-certified at a tighter tolerance, on local processes or a Dask
cluster, and written to the campaign record's ``/certified`` (same field names as ``/candidates``) with the best
discovery in its summary."""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Any, Mapping

import h5py
import numpy as np

from runs.files import _layout as L
from runs.files import _store
from runs.files._failure import failure_reason
from runs.pipeline._record import create_record, finish_record, text
from runs.pipeline._spec import CERTIFY_STAGE_DEFAULTS, Campaign, Stage


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
        scenario = scenario_from_json(json.loads(text(f[L.SCENARIO].attrs[L.SCENARIO_JSON])))
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


def _certify_one(kw: dict, item: tuple[np.ndarray, dict]):
    """One certified NBL interval of ``item = (behaviour array, scenario JSON)`` (a top-level function: worker
    processes and Dask workers import it; each builds its own HiGHS objects)."""
    import certify
    from bellcore import Behaviour, scenario_from_json

    p, scenario_json = item
    return certify.nonbilocality(Behaviour(p, scenario_from_json(scenario_json)), validate=False, **kw)


def _certify_all(behs, kw, *, workers: int, scheduler: str | None, progress) -> list:
    """Certified NBL of every (validated) behaviour, in order (``bellcore.ordered_map``): local processes
    (``workers``) or a Dask cluster."""
    from bellcore import ordered_map

    from runs import _signals as signals

    if not behs:
        return []
    items = [(b.numpy(), b.scenario.to_json()) for b in behs]
    fn = functools.partial(_certify_one, kw)
    if not scheduler:
        return list(ordered_map(fn, items, workers=min(workers, len(items)), progress=progress, check=signals.check))
    from runs.jobs._scheduler import dask_client

    with dask_client(scheduler) as client:  # every item in flight at once: the cluster runs them all meanwhile
        return list(ordered_map(fn, items, submit=lambda f, x: client.submit(f, x, pure=False), window=len(items),
                                progress=progress, check=signals.check))


def certify_stage(s: Stage, out: Path, campaign: Campaign, files, hashes, *, argv, progress, done, workers, scheduler):
    from bellcore import Behaviour, scenario_from_json

    o = {**CERTIFY_STAGE_DEFAULTS, **s.options}
    top = int(o["top"])
    kw = {"tol": float(o["tol"]), "max_nodes": int(o["max_nodes"]), "time_limit": float(o["time_limit"])}
    picked = []  # (source file, index, behaviour, extra fields)
    for key in s.needs:  # every source read and checked before the record is created
        with h5py.File(files[key], "r") as src:
            if L.CANDIDATES not in src:
                continue
            scenario = scenario_from_json(json.loads(text(src[L.SCENARIO].attrs[L.SCENARIO_JSON])))
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
    f = create_record(out, campaign, hashes[s.key], argv)
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
        finish_record(f, campaign, list(done), best)  # the record lists the stages before it
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
