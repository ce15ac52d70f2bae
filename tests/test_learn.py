"""Learning where the search goes: certified labels at the lowest price (certify.nbl_label), the learning loop's
bookkeeping (discover.learn), refine starts, and the [learn] table of search configs."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import certify
import discover as d
from bellcore import BilocalScenario
from runs.jobs._discover_config import normalise_discovery_config

FIG3B = {"scenario": "bilocal", "sources": "theta", "bob": "product", "measurements": "bloch"}


def _pr_box_network(v=0.8):
    """``v`` (PR box between A and B, with B's answer independent of C) + (1 - v) uniform: tripartite nonlocal."""
    p = np.zeros((2, 2, 2, 2, 2, 2))
    for a, b, c, x, y, z in np.ndindex(*p.shape):
        pr = 0.5 if (a ^ b) == (x & y) else 0.0
        p[a, b, c, x, y, z] = v * pr * (1.0 if c == 0 else 0.0) + (1 - v) / 8
    return p


# --------------------------------------------------------------------------------------------- nbl_label
def test_label_of_a_bilocal_member_closes_with_its_model():
    p = d.family_from_spec({**FIG3B, "theta": 0.75}).sample(jax.random.PRNGKey(3), 24)
    labels = [certify.nbl_label(q, tol=1e-4) for q in p]
    model = [lab for lab in labels if lab.method == "model"]
    assert len(model) > 12  # most members are bilocal
    for lab in model:
        assert lab.status == certify.Status.OPTIMAL and 0.0 <= lab.lower <= lab.upper <= 1e-4


def test_label_closed_by_the_tripartite_bound_agrees_with_branch_and_bound():
    p = _pr_box_network()
    lab = certify.nbl_label(p, tol=1e-4)
    assert lab.method == "tripartite" and lab.status == certify.Status.OPTIMAL
    full = certify.nonbilocality(p, tol=1e-4)
    # the two certified intervals must overlap (independent routes: tripartite dual vs branch and bound)
    assert lab.lower <= full.upper + 1e-9 and full.lower <= lab.upper + 1e-9
    assert lab.lower == pytest.approx(lab.tripartite, abs=1e-7) and lab.lower > 0.05


def test_label_needing_branch_and_bound_matches_nonbilocality():
    fam = d.family_from_spec({**FIG3B, "theta": 0.75})
    p = fam.sample(jax.random.PRNGKey(0), 60)
    done = 0
    for q in p:
        lab = certify.nbl_label(q, tol=1e-4)
        if lab.method != "branch-and-bound":
            continue
        full = certify.nonbilocality(q, tol=1e-4)
        assert lab.lower <= full.upper + 1e-9 and full.lower <= lab.upper + 1e-9
        assert lab.lower >= full.lower - 1e-12  # raised to the tripartite bound, never lowered
        done += 1
        if done == 2:
            break
    assert done == 2


def test_label_refuses_bad_input():
    with pytest.raises(ValueError):
        certify.nbl_label(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="tol"):
        certify.nbl_label(_pr_box_network(), tol=-1.0)


# --------------------------------------------------------------------------------------- the learning loop
class _Chsh:
    """A stand-in predictor: the CHSH value (mean) and a fixed std, batched over behaviours."""

    def __init__(self, n):
        self.n = n

    def __call__(self, p):
        p = jnp.asarray(p)
        e = jnp.einsum("...abxy,a,b->...xy", p, jnp.array([1.0, -1.0]), jnp.array([1.0, -1.0]))
        chsh = e[..., 0, 0] + e[..., 0, 1] + e[..., 1, 0] - e[..., 1, 1]
        return type("P", (), {"mean": chsh, "std": jnp.abs(chsh) * 0.01})()


def test_learn_trains_only_on_certified_rows_and_warm_starts():
    fams = [d.family_from_spec({"scenario": "bell", "state": "theta", "theta": t, "measurements": "plane"})
            for t in (0.3, 0.6)]
    fits = []

    def label(x):
        y = np.arange(len(x), dtype=float)
        ok = np.arange(len(x)) % 3 != 0  # every third row "did not close": never trained on
        return d.Labels(np.where(ok, y, math.nan), ok, y, y, np.full(len(x), math.nan),
                        np.array(["lp"] * len(x), dtype=object))

    def fit(x, y, previous):
        assert np.isfinite(y).all() and len(x) == len(y)
        fits.append((len(y), previous))
        return _Chsh(len(y))

    def search(pred, j, r):
        obj = d.Objective.make(lambda p: pred(p).mean)
        return [d.search(d.GradientSearch(4, 0.1), fams[j], obj, steps=3, seed=10 * r + j)]

    res = d.learn(fams, label=label, fit=fit, search=search, rows=9, rounds=3, maxima=2, neighbours=1, disagree=1,
                  seed=0)
    assert [r.round for r in res.rounds] == [0, 1, 2]
    assert len(fits) == 3  # first fit + after rounds 0 and 1, none after the last round
    assert fits[0][1] is None and all(isinstance(prev, _Chsh) for _, prev in fits[1:])
    assert fits[0][0] == 6  # 9 family rows, every third dropped
    assert res.rounds[1].n_train == fits[1][0]
    assert len(res.x) == len(res.labels.y) == len(res.source) == len(res.row_round) == len(res.point)
    assert set(res.row_round) == {-1, 0, 1, 2}
    assert {d.LABEL_SOURCES[s] for s in res.source} == set(d.LABEL_SOURCES)
    first = res.row_round == 0
    assert res.rounds[0].n_added == int(res.labels.ok[first].sum())
    assert np.all(res.rounds[0].n_maxima <= 4)
    assert res.predictor is not None and len(res.results) == 2


def test_refine_starts_where_it_is_told():
    fam = d.family_from_spec({"scenario": "bell", "state": "theta", "theta": 0.5, "measurements": "plane"})
    obj = d.Objective.make(d.chsh_target)
    first = d.search(d.GradientSearch(4, 0.1), fam, obj, steps=20, seed=1)
    starts = first.params[:2]
    again = d.search(d.GradientSearch(2, 1e-9), fam, obj, steps=1, seed=99, starts=starts)
    # with a vanishing step the first evaluation is the given starts' value
    assert again.trace.value[0] == pytest.approx(max(first.values[:2]), abs=1e-4)
    with pytest.raises(ValueError, match="shape"):
        d.search(d.GradientSearch(2, 0.1), fam, obj, steps=1, seed=0, starts=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="gradient"):
        d.search(d.RandomSearch(4), fam, obj, steps=1, seed=0, starts=starts)


def test_behaviours_of_matches_one_by_one():
    fam = d.family_from_spec({**FIG3B, "theta": 0.55})
    res = d.search(d.RandomSearch(5), fam, d.Objective.make(d.brgp_target), steps=1, seed=2)
    batch = d.behaviours_of(fam, res.params)
    for i in range(len(res.params)):
        np.testing.assert_allclose(batch[i], res.strategy(i).behaviour(np.float64).p, atol=1e-6)
    assert batch.shape == (len(res.params), *BilocalScenario("binary").shape)


# -------------------------------------------------------------------------------------------- the config
def _cfg(**learn):
    return {"name": "x", "family": {**FIG3B, "theta": 0.75}, "objective": {"target": "surrogate"},
            "searchers": [{"kind": "gradient"}, {"kind": "gradient", "name": "r", "target": "exact", "refine": True}],
            "learn": learn}


def test_learn_table_defaults_and_checks():
    cfg = normalise_discovery_config(_cfg())
    from runs.jobs._discover_config import LEARN_DEFAULTS

    assert {k: cfg["learn"][k] for k in LEARN_DEFAULTS} == {**LEARN_DEFAULTS, "feature_set": "network"}
    for bad, msg in [({"rows": 1}, "rows"), ({"preset": "huge"}, "preset"), ({"feature_set": "x"}, "feature_set"),
                     ({"colour": 1}, "unknown key"), ({"sigma": -1}, "sigma")]:
        with pytest.raises(ValueError, match=msg):
            normalise_discovery_config(_cfg(**bad))
    with pytest.raises(ValueError, match="active"):
        normalise_discovery_config({**_cfg(), "active": {}})
    no_sur = _cfg()
    no_sur["searchers"] = [{"kind": "gradient", "target": "exact", "refine": True}]
    with pytest.raises(ValueError, match="surrogate"):
        normalise_discovery_config(no_sur)
    bad_refine = _cfg()
    bad_refine["searchers"] = [{"kind": "gradient", "refine": True}]
    with pytest.raises(ValueError, match="exact"):
        normalise_discovery_config(bad_refine)
    with pytest.raises(ValueError, match="gradient"):
        normalise_discovery_config({**_cfg(), "searchers": [{"kind": "gradient"},
                                                            {"kind": "random", "target": "exact"}]})


# ---------------------------------------------------------------------------------------- a real learned run
def test_learned_run_stores_only_certified_labels_and_true_discoveries(tmp_path):
    """A tiny [learn] run on a Bell family (NL labels: one LP each): every usable /learn row is a certified value
    (re-solved here), the rounds are recorded, every discovery's constraints hold when recomputed from the stored
    behaviour, and the summary reports the surrogate at its certified candidates."""
    import runs

    cfg = {
        "name": "learn-tiny", "seed": 4,
        "family": {"scenario": "bell", "state": "theta", "theta": 0.4, "measurements": "plane", "plane": "xz"},
        "objective": {"target": "surrogate", "kappa": -1.0},
        "learn": {"rows": 24, "rounds": 2, "maxima": 2, "neighbours": 1, "disagree": 1, "members": 1, "workers": 1},
        "searchers": [{"kind": "gradient", "name": "sur", "starts": 4, "steps": 6, "learning_rate": 0.1},
                      {"kind": "gradient", "name": "refine", "target": "exact", "refine": True, "starts": 2,
                       "steps": 3, "learning_rate": 0.05}],
        "certify": {"top": 3},
    }
    out = runs.run_discover(cfg, tmp_path / "run.h5")
    run = runs.read_discovery(out)
    lr = run["learn"]
    assert list(lr["rounds"]["round"]) == [0, 1] and lr["rounds"]["fit_seconds"][-1] == 0.0
    usable = np.asarray(lr["usable"], bool)
    assert usable.sum() >= 20 and np.isfinite(lr["y"][usable]).all() and np.isnan(lr["y"][~usable]).all()
    sc = d.family_from_spec(cfg["family"]).scenario
    for i in np.flatnonzero(usable)[:: max(1, usable.sum() // 5)]:
        r = certify.nonlocality(lr["behaviour"][i])
        assert r.value == pytest.approx(lr["y"][i], abs=1e-9)
    assert {s.decode() if isinstance(s, bytes) else s for s in lr["source"]} <= set(d.LABEL_SOURCES)
    c = run["candidates"]
    assert len(c["discovery"]) >= 1 and np.isfinite(c["pred_mean"]).all()
    assert any(str(s).startswith("sur@round=1") or str(s).startswith("refine@round=1") for s in c["searcher"])
    cons = d.Constraints.from_config(run["config"]["constraints"])
    assert d.check_discoveries(c["behaviour"], c["discovery"], cons) == []
    s = run["summary"]
    assert s["learn"]["rows"] == len(usable) and s["surrogate_at_candidates"]["n"] == len(c["discovery"])
    assert sc.shape == c["behaviour"].shape[1:]
