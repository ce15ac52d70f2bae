"""Active learning (discover.active_learning wired by runs.run_discover): two tiny rounds on a Bell family.

Labels are certified NL values (fast LPs), so two rounds with a retrain fit in CI time; the same code path serves
the network (NBL labels), measured in docs/discover.md.
"""

import math

import numpy as np
import pytest

import bellcore as bc
import certify
import discover as d
import runs
from runs.jobs._discover_config import normalise_discovery_config
from surrogates import DatasetSpec


def _campaign(dataset, **active):
    return {
        "name": "active-tiny",
        "seed": 3,
        "family": {"scenario": "bell", "state": "theta", "theta": 0.4, "measurements": "plane", "plane": "xz",
                   "settings": 2},
        "objective": {"target": "surrogate"},
        "model": {"dataset": str(dataset), "preset": "quick", "members": 1},
        "searchers": [
            {"kind": "gradient", "name": "gradient", "starts": 4, "steps": 8, "learning_rate": 0.1},
            {"kind": "random", "name": "random", "batch": 8, "steps": 3},
            {"kind": "gradient", "name": "chsh", "target": "chsh", "starts": 4, "steps": 8},
        ],
        "certify": {"top": 3},
        "active": {"rounds": 2, "neighbours": 2, "sigma": 0.1, **active},
    }


@pytest.fixture(scope="module")
def active_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("active")
    runs.run_dataset(DatasetSpec.create("bell", bc.BellScenario.binary(2), "uniform-ns", 200, 1), tmp / "data.h5")
    runs.run_train(tmp / "data.h5", tmp / "model.h5", target="nl", preset="quick", members=1, seed=1,
                   overrides={"epochs": 3})
    out = runs.run_discover(_campaign(tmp / "data.h5"), tmp / "run.h5", model=tmp / "model.h5")
    return tmp, runs.read_discovery(out)


def test_rounds_are_recorded(active_run):
    _, run = active_run
    a = run["active"]
    assert set(d.ACTIVE_FIELDS) <= set(a)
    assert list(a["round"]) == [0, 1]
    # round 0 searched with the given model (200 uniform-NS rows, all solved); round 1 with base + added rows
    assert a["n_train"][0] == 200 and a["n_train"][1] == 200 + a["n_added"][0]
    assert a["n_added"][0] > 0 and a["n_added"][1] == 0
    assert np.all(a["n_candidates"] >= 1) and np.all(a["n_scored"] <= a["n_candidates"])
    assert np.isfinite(a["mae"]).all() and np.all(a["mae"] >= 0)
    assert np.isfinite(a["mae_constant"]).all()
    assert len(a["y"]) == a["n_added"][0] == len(a["x"]) and np.all(a["y_round"] == 0)
    s = run["summary"]["active"]
    assert s["round"] == [0, 1] and "active learning" in run["summary"]["headline"]


def test_candidates_and_traces_of_every_round(active_run):
    _, run = active_run
    names = {str(n) for n in run["candidates"]["searcher"]}
    assert any("@round=0" in n for n in names) and any("@round=1" in n for n in names)
    assert {"gradient@round=0", "gradient@round=1", "random@round=0", "random@round=1", "chsh"} <= set(run["traces"])
    # the surrogate-free searcher ran once, outside the rounds
    assert not any(n.startswith("chsh@round") for n in run["traces"])


def test_added_labels_are_certified(active_run):
    """Every row added to the training data carries its certified NL (recomputed here by a fresh LP)."""
    _, run = active_run
    a = run["active"]
    for p, y in zip(a["x"], a["y"]):
        r = certify.nonlocality(bc.Behaviour(p))
        assert r.status == certify.Status.OPTIMAL
        assert abs(0.5 * (r.lower + r.upper) - y) < 1e-7
    # round 0's certified candidates (status optimal) are among the added rows
    c = run["candidates"]
    r0 = np.array([str(n).endswith("@round=0") for n in c["searcher"]])
    opt = r0 & (c["nl_status"] == "optimal")
    for p in c["behaviour"][opt]:
        assert np.min(np.abs(a["x"] - p).reshape(len(a["x"]), -1).max(axis=1)) < 1e-12


def test_mae_is_the_error_on_certified_candidates(active_run):
    _, run = active_run
    c, a = run["candidates"], run["active"]
    for r in (0, 1):
        rows = np.array([str(n).endswith(f"@round={r}") for n in c["searcher"]]) & (c["nl_status"] == "optimal")
        target = 0.5 * (c["nl_lower"][rows] + c["nl_upper"][rows])
        assert np.isclose(a["mae"][r], np.abs(c["pred_mean"][rows] - target).mean())
        assert a["n_scored"][r] == rows.sum()


def test_active_needs_training_data(tmp_path):
    cfg = _campaign(tmp_path / "missing.h5")
    with pytest.raises(ValueError, match="does not exist"):
        runs.run_discover(cfg, tmp_path / "x.h5", model=tmp_path / "m.h5")
    assert not (tmp_path / "x.h5").exists()
    cfg["model"].pop("dataset")
    with pytest.raises(ValueError, match="dataset"):
        runs.run_discover(cfg, tmp_path / "x.h5", model=tmp_path / "m.h5")
    with pytest.raises(ValueError, match="rounds"):
        normalise_discovery_config(_campaign(tmp_path / "d.h5", rounds=0))


def test_neighbourhood_shapes_and_scale():
    import jax

    fam = d.family_from_spec({"scenario": "bell", "state": "theta", "theta": 0.4, "measurements": "plane",
                              "plane": "xz", "settings": 2})
    p0, _ = d.params_of(fam.init(jax.random.PRNGKey(0)))
    flat = np.asarray(jax.flatten_util.ravel_pytree(p0)[0], np.float64)[None]
    same = d.neighbourhood(fam, flat, 3, 0.0, jax.random.PRNGKey(1))
    assert same.shape == (3, *fam.scenario.shape)
    base = fam.init(jax.random.PRNGKey(0)).behaviour(np.float64).p
    assert np.allclose(same, base, atol=1e-6)
    moved = d.neighbourhood(fam, flat, 3, 0.5, jax.random.PRNGKey(1))
    assert np.abs(moved - base).max() > 1e-3
    with pytest.raises(ValueError, match="entries"):
        d.neighbourhood(fam, np.zeros((1, flat.shape[1] + 1)), 1, 0.1, jax.random.PRNGKey(1))


def test_library_loop_with_fake_callables():
    """discover.active_learning alone: rows whose label is not usable are dropped; refit sees every row added so
    far; the predictor returned by refit is the one searched with next."""
    import jax

    fam = d.family_from_spec({"scenario": "bell", "state": "theta", "theta": 0.4, "measurements": "plane",
                              "plane": "xz", "settings": 2})
    strat = fam.init(jax.random.PRNGKey(2))
    beh = strat.behaviour(np.float64).p
    flat = np.asarray(jax.flatten_util.ravel_pytree(d.params_of(strat)[0])[0], np.float64)
    seen, refits = [], []

    def search(predictor, r):
        seen.append(predictor)
        n = 2
        nan = np.full(n, np.nan)
        return d.Candidates(
            scenario=fam.scenario, behaviour=np.stack([beh] * n), params=np.stack([flat] * n), value=nan,
            pred_mean=np.full(n, 0.1 * (r + 1)), pred_std=nan, nl_lower=np.array([0.2, 0.0]),
            nl_upper=np.array([0.2, 0.0]), nl_status=["optimal", "limit"], brgp=nan, tripartite_nl=nan,
            tripartite_status=["", ""], nbl_lower=nan, nbl_upper=nan, nbl_status=["", ""],
            discovery=np.array([True, False]), searcher=["s", "s"], theta=nan, seconds=np.zeros(n))

    def label(x):
        return np.full(len(x), 0.05), np.arange(len(x)) % 2 == 0  # every other row unusable

    def refit(x, y, r):
        refits.append((len(x), r))
        return f"model{r + 1}", 10 + len(x)

    res = d.active_learning("model0", family=fam, search=search, label=label, refit=refit, n_train=10, rounds=3,
                            neighbours=3, sigma=0.1, seed=0)
    a = res.arrays()
    assert seen == ["model0", "model1", "model2"]
    # per round: 1 usable candidate (the "limit" one dropped) + 2 of its 3 x 2 = 6 neighbours' labels usable (3)
    assert list(a["n_added"]) == [4, 4, 0] and refits == [(4, 0), (8, 1)]
    assert list(a["n_train"]) == [10, 14, 18]
    assert np.allclose(a["mae"], [0.1, 0.0, 0.1]) and list(a["n_scored"]) == [1, 1, 1]
    assert np.allclose(a["best_lower"], 0.2) and list(a["discoveries"]) == [1, 1, 1]
    assert math.isnan(a["mae_constant"][0]) and np.isfinite(a["mae_constant"][1:]).all()
    assert res.x_added.shape == (8, *fam.scenario.shape) and list(res.round_added) == [0] * 4 + [1] * 4
    assert res.predictor == "model2"
