"""Learning inside a discovery run: ``discover.learn`` wired to ``certify`` (labels) and ``surrogates`` (fits), and
``/learn`` in the run file.

Lives in ``runs`` because only ``runs`` may import both ``discover`` and ``surrogates``; the loop (initial family
sample, rounds, what is labelled, the error at the searchers' maxima) is library code in ``discover/_learn.py``.

Search-config table (``runs/jobs/_discover_config.py`` holds the defaults, ``LEARN_DEFAULTS``)::

    [learn]
    rows = 600            # family members labelled before the first fit, spread over the scan points
    rounds = 3            # rounds of search -> label -> measure -> warm refit (no refit after the last)
    maxima = 8            # best distinct points of the surrogate searchers labelled per scan point and round
    neighbours = 4        # Gaussian perturbations of each maximum (scale sigma, unconstrained parameters)
    sigma = 0.05
    disagree = 8          # points of largest ensemble std labelled per scan point and round
    repeat = 6            # rows labelled in rounds count this many times in a fit (a few dozen rows against
                          # hundreds of family rows would otherwise barely move the model where the search goes)
    preset = "censored"; members = 4
    feature_set = "network"   # [network for a bilocal family, canonical for a Bell pair]
    label_time_limit = 5.0   # seconds per label's branch and bound (a row that does not close is dropped)
    workers = 2           # processes labelling rows

Labels: ``certify.nbl_label`` (network: the cheapest method that closes the interval to ``[certify] nbl_tol``,
recorded per row) or ``certify.nonlocality`` (Bell pair); target = the interval's midpoint; rows that
``certify.usable_labels`` rejects are dropped. Fits: ``surrogates.fit_surrogate`` with the preset's config, seed
``master + round + 1``, warm-started from the previous surrogate's members after the first fit.
"""

from __future__ import annotations

import functools
import math
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor

import h5py
import numpy as np

from runs.files import _layout as L
from runs.jobs._discovery_types import DiscoveryConfig

__all__ = ["Labeller", "make_fit", "write_learn", "write_learn_round", "learn_in_run"]


def _label_one(p, args) -> tuple[float, float, str, float, str]:
    """One certified label (in a worker process): ``(lower, upper, status, tripartite, method)``."""
    bilocal, tol, time_limit, max_nodes, seed = args
    import certify

    if bilocal:
        r = certify.nbl_label(p, tol=tol, time_limit=time_limit, max_nodes=max_nodes, seed=seed, validate=False)
        return r.lower, r.upper, r.status.value, r.tripartite, r.method
    r = certify.nonlocality(p, validate=False)
    return r.lower, r.upper, r.status.value, math.nan, "lp"


class Labeller:
    """``labeller(x) -> discover.Labels``: certified labels of a batch, in ``workers`` processes (one HiGHS per
    process). Use as a context manager (the pool is closed at exit)."""

    def __init__(self, cfg: DiscoveryConfig, scenario):
        from bellcore import BilocalScenario

        lc, cert = cfg.learn, cfg.certify
        self.bilocal = isinstance(scenario, BilocalScenario)
        self.args = (self.bilocal, cert.nbl_tol, lc.label_time_limit, cert.nbl_max_nodes, cfg.seed)
        self.workers = lc.workers
        self.pool = None

    def __enter__(self):
        if self.workers > 1:  # spawn: JAX is multithreaded, and a forked child of it may deadlock
            self.pool = ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"))
        return self

    def __exit__(self, *exc):
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        return False

    def __call__(self, x: np.ndarray):
        import discover as d
        from bellcore import ordered_map
        from certify import nbl_target, usable_labels
        from runs import _signals as signals

        # the one ordered fan-out (bellcore.ordered_map), fed to this labeller's pool: it lives across rounds, so
        # the workers' imports are paid once per run, not once per round
        fn = functools.partial(_label_one, args=self.args)
        items = [np.asarray(p, np.float64) for p in x]
        kw = {"submit": self.pool.submit, "window": 2 * self.workers} if self.pool is not None else {}
        rows = list(ordered_map(fn, items, check=signals.check, **kw))
        lower = np.array([r[0] for r in rows], np.float64)
        upper = np.array([r[1] for r in rows], np.float64)
        status = np.array([r[2] for r in rows], dtype=object)
        y = nbl_target(lower, upper) if self.bilocal else lower
        ok = usable_labels(status, y, "nbl" if self.bilocal else "nl") if len(rows) else np.zeros(0, bool)
        return d.Labels(np.where(ok, y, math.nan), np.asarray(ok, bool), lower, upper,
                        np.array([r[3] for r in rows], np.float64), np.array([r[4] for r in rows], dtype=object))


def make_fit(cfg: DiscoveryConfig, scenario, progress=None):
    """``fit(x, y, previous) -> Surrogate``: ``surrogates.fit_surrogate`` on the usable rows, warm-started from
    ``previous``'s members when there is one. The first call's rows are the family sample; rows beyond them in later
    calls (labelled in rounds) count ``[learn] repeat`` times."""
    import surrogates as S

    lc, target = cfg.learn, cfg.measure
    state = {"calls": 0, "n_family": None}

    def fit(x: np.ndarray, y: np.ndarray, previous):
        if state["n_family"] is None:
            state["n_family"] = len(y)
        n0, rep = state["n_family"], lc.repeat
        if rep > 1 and len(y) > n0:
            x = np.concatenate([x] + [x[n0:]] * (rep - 1))
            y = np.concatenate([y] + [y[n0:]] * (rep - 1))
        tc = S.preset_config(lc.preset, target, members=lc.members, seed=cfg.seed + state["calls"] + 1)
        state["calls"] += 1
        res = S.fit_surrogate(x, y, scenario, feature_set=lc.feature_set, target=target, config=tc,
                              progress=progress, init=previous)
        return res.surrogate

    return fit


def write_learn_round(f: h5py.File, rec) -> None:
    """Append one ``discover.LearnRound`` to ``/learn/rounds/<field>`` and flush."""
    import discover as d

    g = f.require_group(L.LEARN_ROUNDS)
    for k in d.LEARN_FIELDS:
        v = getattr(rec, k)
        if k not in g:
            dt = np.float64 if isinstance(v, float) else np.int64
            ds = g.create_dataset(k, shape=(0,), maxshape=(None,), dtype=dt, chunks=(16,))
            ds.attrs[L.DESCRIPTION] = L.LEARN_ROUND_FIELDS[k]
        ds = g[k]
        ds.resize(len(ds) + 1, axis=0)
        ds[-1] = v
    f.flush()


def write_learn(f: h5py.File, res, thetas) -> None:
    """``/learn/<field>``: every labelled row (behaviour, certified interval, method, why, round, scan point)."""
    import discover as d

    g = f.require_group(L.LEARN)
    lab = res.labels
    cols = {"behaviour": res.x, "y": lab.y, "usable": lab.ok, "lower": lab.lower, "upper": lab.upper,
            "tripartite_nl": lab.tripartite, "method": np.array([str(m) for m in lab.method], dtype=object),
            "source": np.array([d.LABEL_SOURCES[i] for i in res.source], dtype=object), "round": res.row_round,
            "theta": np.array([math.nan if thetas[j] is None else thetas[j] for j in res.point], np.float64)}
    for k, a in cols.items():
        if k in g:
            del g[k]
        a = np.asarray(a)
        ds = g.create_dataset(k, data=a, dtype=h5py.string_dtype() if a.dtype == object else a.dtype)
        ds.attrs[L.DESCRIPTION] = L.LEARN_ROW_FIELDS[k]
    g.attrs["initial_label_seconds"], g.attrs["initial_fit_seconds"] = res.initial_seconds
    f.flush()


def learn_in_run(f, cfg: DiscoveryConfig, fams, thetas, per, progress, done, total):
    """``discover.learn`` over the scan: the surrogate trained on the family, refined at its searchers' maxima
    round by round; rounds to ``/learn/rounds``, labelled rows to ``/learn``, traces ``<name>@round=<r>``."""
    import discover as d

    from runs.jobs._discover_run import _objective, _tally, run_searcher, searcher_seed

    lc, master = cfg.learn, cfg.seed
    sur = [(i, s) for i, s in enumerate(cfg.searchers) if s.surrogate]
    ref = [(i, s) for i, s in enumerate(cfg.searchers) if s.refine]
    fit = make_fit(cfg, fams[0].scenario)

    last: dict[int, list] = {}

    def search(pred, j: int, r: int):
        """The surrogate searchers, then the refine searchers from their best points (every round: the model
        learns where refinement goes). From round 1 on, half of each surrogate searcher's starts continue from the
        previous round's best points (labelled since, so the model is now trained where the search continues), the
        other half are fresh members (exploration); in the last round every start continues (its candidates are
        the ones certified)."""
        out = []
        for group in (sur, ref):
            starts_from = list(out)
            for i, s in group:
                name = f"{s.name}@round={r}" + ("" if thetas[j] is None else f"@theta={thetas[j]:g}")
                n = s.starts
                if s.refine:
                    starts = d.best_distinct(starts_from, n, fams[j])
                elif s.kind == "gradient" and last.get(j):
                    final = r == lc.rounds - 1  # the last round exploits: every start continues
                    starts = d.best_distinct(last[j], n if final else max(1, n // 2), fams[j], each=True)
                else:
                    starts = None
                res = run_searcher(f, s, name, _objective(s.target, cfg, pred), fams[j], thetas[j],
                                   searcher_seed(master, j, i, r), done, total, progress, starts=starts)
                out.append(res)
                _tally(per, s.name, res)
        last[j] = out
        return out

    def say(phase: str, info) -> None:
        if progress is not None:
            progress(done[0], total, {f"learn_{phase}": float(info.get("round", 0.0)),
                                      **{k: float(v) for k, v in info.items() if k != "round"}})

    with Labeller(cfg, fams[0].scenario) as label:
        res = d.learn(fams, label=label, fit=fit, search=search, rows=lc.rows, rounds=lc.rounds,
                      maxima=lc.maxima, neighbours=lc.neighbours, sigma=lc.sigma, disagree=lc.disagree, seed=master, on_round=lambda rec: write_learn_round(f, rec),
                      progress=say)
    write_learn(f, res, thetas)
    return res
