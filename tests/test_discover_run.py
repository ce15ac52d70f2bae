"""runs.run_discover, campaign files and ``bellscope discover``."""

import jax

jax.config.update("jax_enable_x64", True)

import json  # noqa: E402

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

import discover as d  # noqa: E402
import runs  # noqa: E402
from runs.files import _layout as L  # noqa: E402
from runs.jobs._discover_config import QUICK, normalise_discovery_config, quick_config  # noqa: E402
from runs.cli._cli import app  # noqa: E402

runner = CliRunner()

SMALL = {
    "name": "tiny",
    "seed": 4,
    "family": {"scenario": "bilocal", "sources": "theta", "bob": "product"},
    "scan": {"theta": [0.7, 0.75]},
    "objective": {"target": "brgp", "brgp_max": 0.98},
    "constraints": {"brgp_max": 1.0, "tripartite_local": True},
    "searchers": [
        {"kind": "gradient", "starts": 4, "steps": 4},
        {"kind": "nevergrad", "optimiser": "OnePlusOne", "batch": 4, "steps": 3},
        {"kind": "random", "name": "baseline", "target": "nbl-upper", "batch": 2, "steps": 1},
    ],
    "certify": {"top": 4, "nbl_time_limit": 5.0},
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("disc") / "run.h5"
    seen = []
    runs.run_discover(SMALL, out, progress=lambda n, t, i: seen.append((n, t)))
    return out, seen


def test_run_file_round_trips(tiny_run):
    out, seen = tiny_run
    run = runs.read_discovery(out)
    assert run["status"] == "complete" and run["seed"] == 4
    assert run["config"]["name"] == "tiny" and len(run["config_hash"]) == 64
    assert set(run["traces"]) == {f"{n}@theta={t:g}" for n in ("gradient", "nevergrad-OnePlusOne", "baseline")
                                  for t in (0.7, 0.75)}
    tr = run["traces"]["gradient@theta=0.7"]
    assert list(tr["step"]) == [1, 2, 3, 4] and np.all(np.diff(tr["best"]) >= 0)
    c = run["candidates"]
    for field in L.DISCOVERY_FIELDS:
        assert field in c and len(c[field]) == len(c["discovery"])
    assert c["behaviour"].shape[1:] == (2, 2, 2, 2, 2, 2) and c["behaviour"].dtype == np.float64
    assert set(np.round(c["theta"], 6)) == {0.7, 0.75}
    assert set(c["nbl_status"]) <= {"optimal", "limit", "inaccurate"}
    s = run["summary"]
    assert s["headline"].startswith("tiny:") and s["candidates"] == len(c["discovery"])
    assert seen and seen[-1][0] == seen[-1][1]  # progress reaches its total
    with h5py.File(out, "r") as f:  # any HDF5 tool sees named enums and descriptions
        assert h5py.check_enum_dtype(f["/candidates/nbl_status"].dtype)
        assert f["/candidates/brgp"].attrs[L.DESCRIPTION] == L.DISCOVERY_FIELDS["brgp"]


def test_stored_discoveries_hold_when_recomputed(tiny_run):
    out, _ = tiny_run
    c = runs.read_discovery(out)["candidates"]
    cons = d.Constraints(brgp_max=1.0, tripartite_local=True)
    assert d.check_discoveries(c["behaviour"], c["discovery"], cons, c["nbl_lower"]) == []
    # and the stored columns agree with the behaviours they came from
    import bellcore as bc

    for p, b in zip(c["behaviour"], c["brgp"]):
        assert float(bc.brgp_value(bc.Behaviour(p))) == pytest.approx(b, abs=1e-12)


def test_same_seed_same_traces(tiny_run, tmp_path):
    out, _ = tiny_run
    cfg = {**SMALL, "scan": {"theta": [0.7]}, "searchers": SMALL["searchers"][:2]}
    runs.run_discover(cfg, tmp_path / "again.h5")
    a, b = runs.read_discovery(out)["traces"], runs.read_discovery(tmp_path / "again.h5")["traces"]
    for name in b:
        for k in ("value", "best", "evaluations"):
            assert np.array_equal(a[name][k], b[name][k])


def test_never_overwrites(tiny_run):
    out, _ = tiny_run
    with pytest.raises(FileExistsError):
        runs.run_discover(SMALL, out)


def test_shipped_campaigns_load_by_name_and_path():
    names = runs.discovery_config_names()
    assert {"fig3b", "fig3b-baselines", "restricted-eta", "restricted-plane", "smoke"} <= set(names)
    for n in names:
        cfg = runs.load_discovery_config(n)
        q = quick_config(cfg)
        for s in q.searchers:
            assert s.steps <= QUICK["steps"] and s.time_budget <= QUICK["time_budget"]
        assert len(q.thetas) <= QUICK["scan"] and q.quick and not cfg.quick
    from importlib import resources

    path = resources.files("runs.jobs").joinpath("searches", "smoke.toml")
    assert runs.load_discovery_config(str(path)).name == "smoke"


@pytest.mark.parametrize(
    "patch, match",
    [
        ({"colour": 1}, "unknown key"),
        ({"searchers": [{"kind": "gradient", "target": "nbl-upper"}]}, "without a gradient"),
        ({"searchers": [{"kind": "anneal"}]}, "searcher kind"),
        ({"searchers": [{"kind": "random", "target": "chsh"}]}, "needs a bell family"),
        ({"family": {"scenario": "bilocal", "bob": "magic"}}, "bob"),
    ],
)
def test_bad_campaigns_are_refused(patch, match):
    with pytest.raises(ValueError, match=match):
        normalise_discovery_config({**SMALL, **patch})


def test_surrogate_target_needs_a_model(tmp_path):
    cfg = {**SMALL, "objective": {"target": "surrogate"}, "searchers": [{"kind": "gradient", "steps": 1}]}
    with pytest.raises(ValueError, match="model"):
        runs.run_discover(cfg, tmp_path / "x.h5")
    assert not (tmp_path / "x.h5").exists()  # nothing written


def test_cli_errors_are_one_line(tmp_path):
    r = runner.invoke(app, ["discover", "--config", "no-such-campaign", "--out", str(tmp_path / "a.h5")])
    assert r.exit_code == 2 and "error:" in r.output and "shipped" in r.output
    bad = tmp_path / "bad.toml"
    bad.write_text('[family]\nscenario = "bell"\n[[searchers]]\nkind = "gradient"\ntarget = "nl"\n')
    r = runner.invoke(app, ["discover", "--config", str(bad), "--out", str(tmp_path / "b.h5")])
    assert r.exit_code == 2 and "without a gradient" in r.output
    assert not (tmp_path / "b.h5").exists()


def test_cli_end_to_end_bipartite(tmp_path):
    """restricted-plane (X-Z plane, theta = 0.3) with tiny budgets from the command line: certified NL > 0."""
    out = tmp_path / "plane.h5"
    r = runner.invoke(app, ["discover", "--config", "restricted-plane", "--out", str(out), "--steps", "60",
                            "--time-budget", "20", "--top", "3", "--no-progress", "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output.strip().splitlines()[-1])
    assert summary["file"] == str(out) and "headline" in summary
    assert summary["discoveries"] >= 1 and summary["best"]["nl_lower"] > 0.03  # Horodecki: (2.297 - 2)/8 = 0.0371
    c = runs.read_discovery(out)["candidates"]
    assert set(c["nbl_status"]) == {"none"} and np.isnan(c["nbl_lower"]).all()
    assert d.check_discoveries(c["behaviour"], c["discovery"], d.Constraints()) == []


def test_typed_config_is_frozen_complete_and_round_trips():
    """One parse: a shipped config becomes frozen dataclasses whose canonical table holds every default and parses
    back to the same object (and hash); overrides make a new, re-checked config."""
    import dataclasses

    from runs.jobs._discover_config import (CERTIFY_DEFAULTS, MODEL_DEFAULTS, OBJECTIVE_DEFAULTS, SEARCHER_DEFAULTS,
                                            parse_discovery_config)

    cfg = runs.load_discovery_config("fig3b")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 3
    assert parse_discovery_config(cfg.to_json()) == cfg
    assert parse_discovery_config(json.loads(cfg.canonical_json())).config_hash() == cfg.config_hash()
    tiny = parse_discovery_config({"family": SMALL["family"], "objective": {"target": "brgp"},
                                   "searchers": [{"kind": k} for k in SEARCHER_DEFAULTS]})
    table = tiny.to_json()
    assert {k: table["certify"][k] for k in CERTIFY_DEFAULTS} == CERTIFY_DEFAULTS
    assert {k: table["objective"][k] for k in OBJECTIVE_DEFAULTS if k != "target"} == {
        k: v for k, v in OBJECTIVE_DEFAULTS.items() if k != "target"}
    assert {k: table["model"][k] for k in MODEL_DEFAULTS} == MODEL_DEFAULTS
    for s in tiny.searchers:
        assert all(getattr(s, k) == v for k, v in SEARCHER_DEFAULTS[s.kind].items())
    new = cfg.override(seed=7, top=2, theta=[0.5], steps=3)
    assert (new.seed, new.certify.top, new.thetas, {s.steps for s in new.searchers}) == (7, 2, [0.5], {3})
    assert cfg.seed != 7 and new.config_hash() != cfg.config_hash()
    with pytest.raises(ValueError, match="seed"):
        cfg.override(seed=-1)
    with pytest.raises(ValueError, match="learn"):
        tiny.override(learn_rounds=2)
