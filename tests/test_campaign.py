"""Campaigns: TOML validation, stage reuse by config hash, resume after an interruption, failed stages recomputed,
the certify stage, and the CLI's report."""

import dataclasses
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from runs.files import _layout as L
import runs.pipeline._campaign as C
from runs.pipeline._campaign import DEFAULT_CAMPAIGN, Runners, parse_campaign, run_campaign, stage_hashes
from runs.cli._cli import app

from ._runfiles import make_discovery, make_model

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]

DATASETS = """
[campaign]
name = "t"
seed = 3

[[dataset]]
name = "m2"
scenario = "bell"
settings = 2
n = 120
chunk_size = 40

[[dataset]]
name = "chsh"
scenario = "chsh-correlators"
n = 30
chunk_size = 30
"""

FULL = DATASETS + """
[[train]]
name = "net"
dataset = "m2"
target = "nl"
preset = "quick"
members = 2

[[discover]]
name = "search"
model = "net"
quick = true
config = "smoke"

[certify]
top = 2
tol = 1e-3
max_nodes = 300
"""


def _mtimes(d: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in d.glob("*.h5")}


def test_parse_errors():
    with pytest.raises(ValueError, match="unknown key"):
        parse_campaign("[[dataset]]\nname='a'\nscenario='bell'\nsettings=2\nn=10\nbogus=1\n")
    with pytest.raises(ValueError, match="names no"):
        parse_campaign(DATASETS + "[[train]]\ndataset='nope'\n")
    with pytest.raises(ValueError, match="unknown table"):
        parse_campaign("[datasets]\n")
    with pytest.raises(ValueError, match="invalid TOML"):
        parse_campaign("[campaign\n")
    with pytest.raises(ValueError, match="no stages"):
        parse_campaign("[campaign]\nname='x'\n")
    with pytest.raises(ValueError, match="add a"):
        parse_campaign(DATASETS + "[certify]\ntop=1\n")
    with pytest.raises(ValueError, match="unique"):
        parse_campaign(DATASETS + "[[dataset]]\nname='m2'\nscenario='bell'\nsettings=2\nn=5\n")
    parse_campaign(DEFAULT_CAMPAIGN)  # the built-in campaign is valid


def test_hash_depends_on_options_and_inputs():
    a = stage_hashes(parse_campaign(FULL))
    b = stage_hashes(parse_campaign(FULL.replace("n = 120", "n = 121")))
    assert a["dataset:m2"] != b["dataset:m2"] and a["dataset:chsh"] == b["dataset:chsh"]
    assert a["train:net"] != b["train:net"]  # a changed input changes every stage downstream
    assert a["discover:search"] != b["discover:search"] and a["certify:t"] != b["certify:t"]
    c = stage_hashes(parse_campaign(FULL.replace("[campaign]", "[campaign]\nworkers = 2")))
    assert c == a  # workers do not change results


def test_second_run_reuses_everything_and_says_so(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(DATASETS)
    d = tmp_path / "res"
    r = runner.invoke(app, ["campaign", str(cfg), "--runs-dir", str(d), "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "computing" in r.output and "browse: bellscope runs ls" in r.output
    first = _mtimes(d)
    assert len(first) == 3  # two datasets and the campaign record
    r = runner.invoke(app, ["campaign", str(cfg), "--runs-dir", str(d), "--no-progress"])
    assert r.exit_code == 0, r.output
    assert r.output.count("reused") >= 2 and "nothing recomputed" in r.output and "computing" not in r.output
    assert _mtimes(d) == first  # no file touched
    with h5py.File(next(d.glob("campaign-*.h5"))) as f:
        stages = json.loads(f[L.CONFIG].attrs[L.CAMPAIGN_STAGES])
        assert [s["name"] for s in stages] == ["m2", "chsh"]
        assert f[L.CONFIG].attrs[L.CAMPAIGN_TOML] == DATASETS


def test_interrupted_campaign_continues(tmp_path):
    camp = parse_campaign(DATASETS)
    d = tmp_path / "res"
    calls = []

    def interrupt(done, total, info):
        calls.append(done)
        if done == 40 and len(calls) > 1:  # after the first chunk is committed
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_campaign(camp, d, progress=interrupt)
    (m2,) = d.glob("dataset-m2-*.h5")
    with h5py.File(m2) as f:
        assert f.attrs[L.STATUS] == L.STATUS_FAILED and f.attrs[L.ROWS_COMPLETE] == 40
    res = run_campaign(camp, d)
    assert [s.outcome for s in res.stages] == ["resumed", "computed"]
    ref = tmp_path / "ref"
    run_campaign(camp, ref)
    (m2_ref,) = ref.glob("dataset-m2-*.h5")
    assert m2.name == m2_ref.name
    with h5py.File(m2) as a, h5py.File(m2_ref) as b:
        assert a.attrs[L.STATUS] == b.attrs[L.STATUS] == L.STATUS_COMPLETE
        np.testing.assert_array_equal(a["behaviours"][:], b["behaviours"][:])
        np.testing.assert_array_equal(a["labels/nl"][:], b["labels/nl"][:])
        assert json.loads(a[L.PROVENANCE].attrs[L.RESUMES])  # the resume is recorded
    assert [s.outcome for s in run_campaign(camp, d).stages] == ["reused", "reused"]


@pytest.mark.timeout(120)
def test_sigkilled_campaign_is_listed_running_then_continues(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[campaign]\nname = "k"\n[[dataset]]\nname = "swap"\nscenario = "bilocal"\nvariant = "bsm"\n'
        'sampler = "features-ij"\nn = 24\nchunk_size = 3\nnbl_max_nodes = 300\n'
    )
    d = tmp_path / "res"
    proc = subprocess.Popen([sys.executable, "-m", "runs", "campaign", str(cfg), "--runs-dir", str(d), "--no-progress"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 90
        killed = False
        while time.time() < deadline and proc.poll() is None:
            files = list(d.glob("dataset-swap-*.h5"))
            if files:
                try:
                    with h5py.File(files[0], "r", locking=False) as f:
                        if f.attrs[L.ROWS_COMPLETE] >= 3:
                            proc.send_signal(signal.SIGKILL)
                            killed = True
                            break
                except (OSError, KeyError):
                    pass
            time.sleep(0.1)
    finally:
        proc.wait(timeout=30)
    if not killed:
        pytest.skip("the dataset finished before it could be killed")
    r = runner.invoke(app, ["runs", "ls", str(d), "--json"])
    (row,) = [json.loads(x) for x in r.stdout.splitlines()]
    assert row["status"] == "running" and "not open" in row["note"]
    r = runner.invoke(app, ["campaign", str(cfg), "--runs-dir", str(d), "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "resuming" in r.output
    (f,) = d.glob("dataset-swap-*.h5")
    with h5py.File(f) as h:
        assert h.attrs[L.STATUS] == L.STATUS_COMPLETE and h.attrs[L.ROWS_COMPLETE] == 24


def _set_config(f: h5py.File, obj) -> None:
    import hashlib

    text = json.dumps(obj, sort_keys=True)
    f[L.CONFIG].attrs[L.CONFIG_JSON] = text
    f[L.CONFIG].attrs[L.CONFIG_HASH] = hashlib.sha256(text.encode()).hexdigest()


def stamp_model(out: Path, dataset: Path, *, target: str, preset: str, members: int, seed: int) -> Path:
    """Give a fake model file what a real run_train stores of its inputs: the dataset's scenario and config hash,
    the target, and the training config (preset, seed, members), so that the campaign's reuse check accepts it."""
    with h5py.File(dataset, "r") as d, h5py.File(out, "r+") as f:
        f[L.SCENARIO].attrs[L.SCENARIO_JSON] = d[L.SCENARIO].attrs[L.SCENARIO_JSON]
        f[L.MODEL].attrs[L.MODEL_DATASET_HASH] = d[L.CONFIG].attrs[L.CONFIG_HASH]
        f[L.MODEL].attrs[L.MODEL_TARGET] = target
        _set_config(f, {"preset": preset, "train_config": {"seed": seed}, "n_members": members})
    return out


def stamp_discovery(out: Path, config, *, quick: bool, model) -> Path:
    """Give a fake discovery file the config and model hash a real run_discover stores."""
    from runs.jobs._discover_config import parse_discovery_config, quick_config

    cfg = parse_discovery_config(config)
    cfg = quick_config(cfg) if quick else cfg
    if model is not None:
        cfg = cfg.override(model_path=str(model))
    with h5py.File(out, "r+") as f:
        _set_config(f, cfg.to_json())
        g = f.require_group(L.MODEL)
        if model is not None:
            with h5py.File(model, "r") as m:
                g.attrs[L.MODEL_CONFIG_HASH] = m[L.CONFIG].attrs[L.CONFIG_HASH]
    return out


@pytest.fixture
def fake_engines():
    """Train and discover runners writing small files of the contract's layout, handed to ``run_campaign`` as
    ``runners=fake_engines["runners"]`` (the command line's through ``cli_runners``); the real dataset runner."""
    calls = {"train": 0, "discover": 0, "fail_train": 1}

    def run_train(dataset, out, *, target, preset, members, seed, progress=None, **kw):
        calls["train"] += 1
        assert Path(dataset).exists() and target == "nl" and members == 2 and seed == 3
        if calls["fail_train"]:
            calls["fail_train"] -= 1
            from runs.files import _store

            f = _store.create_run(out, L.KIND_MODEL, "{}", "x", seed, "d", "{}")
            _store.set_status(f, L.STATUS_FAILED)
            f.close()
            raise RuntimeError("training diverged")
        if progress:
            progress(5, 5, {"loss": 0.1})
        make_model(Path(out))
        return stamp_model(Path(out), Path(dataset), target=target, preset=preset, members=members, seed=seed)

    def run_discover(config, out, *, quick=False, model=None, progress=None, **kw):
        calls["discover"] += 1
        assert config.name == "smoke" and config.family["sources"] == "theta" and quick and Path(model).exists()
        make_discovery(Path(out), n=8)
        return stamp_discovery(Path(out), config, quick=quick, model=model)

    calls["runners"] = Runners(train=run_train, discover=run_discover)
    return calls


def cli_runners(monkeypatch, runners: Runners) -> None:
    """The command line passes no runners: it gets ``DEFAULT_RUNNERS``, replaced here."""
    monkeypatch.setattr(C, "DEFAULT_RUNNERS", runners)


def test_full_campaign_failed_stage_recomputed_and_certify(tmp_path, fake_engines):
    camp = parse_campaign(FULL)
    d = tmp_path / "res"
    fakes = fake_engines["runners"]
    with pytest.raises(RuntimeError, match="diverged"):
        run_campaign(camp, d, runners=fakes)
    (failed,) = d.glob("train-*.h5")
    res = run_campaign(camp, d, runners=fakes)
    assert [s.outcome for s in res.stages] == ["reused", "reused", "computed", "computed", "computed"]
    assert list(d.glob("train-*.failed-1.h5"))  # the failed file was kept aside, not overwritten
    assert fake_engines["train"] == 2 and fake_engines["discover"] == 1
    assert res.record.name.startswith("campaign-t-") and res.best is not None
    b = res.best
    assert b["nbl_lower"] <= b["nbl_upper"] and b["nonbilocal"] and b["discovery"]
    # the best two candidates by certified lower bound are the strongest Werner visibilities: v = 1 gives 1/8
    assert abs(b["nbl_upper"] - 0.125) < 2e-3
    with h5py.File(res.record) as f:
        c = f[L.CERTIFIED]
        assert c[L.CAND_BEHAVIOUR].shape == (2, 2, 4, 2, 2, 1, 2)
        assert set(c.keys()) >= {L.CAND_NBL_LOWER, L.CAND_NBL_UPPER, L.CAND_NBL_STATUS, L.CAND_DISCOVERY,
                                 L.CERT_SOURCE_INDEX, L.CERT_SOURCE_FILE, L.CAND_THETA, L.CAND_BRGP}
        assert json.loads(f.attrs[L.SUMMARY])["headline"].startswith("best discovery: certified NBL")
        stages = json.loads(f[L.CONFIG].attrs[L.CAMPAIGN_STAGES])
        assert [(s["stage"], s["outcome"]) for s in stages] == [
            ("dataset", "reused"), ("dataset", "reused"), ("train", "computed"), ("discover", "computed")]
    res2 = run_campaign(camp, d, runners=fakes)
    assert not res2.recomputed and fake_engines["train"] == 2 and fake_engines["discover"] == 1
    # the campaign record browses, plots and exports like a discovery
    r = runner.invoke(app, ["runs", "plot", str(res.record), "--out", str(tmp_path / "c.png")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["runs", "export", str(res.record)])
    assert r.exit_code == 0 and len(json.loads(r.stdout)["p"]) == 2


def test_cli_report_names_the_best_discovery(tmp_path, fake_engines, monkeypatch):
    cli_runners(monkeypatch, fake_engines["runners"])
    cfg = tmp_path / "c.toml"
    cfg.write_text(FULL)
    fake_engines["fail_train"] = 0
    r = runner.invoke(app, ["campaign", str(cfg), "--runs-dir", str(tmp_path / "res"), "--no-progress"])
    assert r.exit_code == 0, r.output
    line = next(x for x in r.stdout.splitlines() if x.startswith("best certified discovery: NBL in ["))
    assert "θ =" in line and "BRGP" in line and "tripartite local" in line


def test_cli_errors(tmp_path):
    r = runner.invoke(app, ["campaign", str(tmp_path / "nope.toml")])
    assert r.exit_code == 2 and "no such campaign file" in r.output
    bad = tmp_path / "bad.toml"
    bad.write_text("[[dataset]]\nscenario='bell'\nsettings=2\nn=10\nfoo=1\n")
    r = runner.invoke(app, ["campaign", str(bad), "--runs-dir", str(tmp_path / "x")])
    assert r.exit_code == 2 and "unknown key" in r.output and not (tmp_path / "x").exists()
    r = runner.invoke(app, ["campaign", "--print-default"])
    assert r.exit_code == 0 and parse_campaign(r.stdout).name == "demo"
    r = runner.invoke(app, ["campaign", "--help"])
    assert r.exit_code == 0 and "--runs-dir" in r.output


@pytest.mark.timeout(120)
def test_certify_stage_on_a_dask_cluster_equals_local(tmp_path, fake_engines):
    distributed = pytest.importorskip("distributed")
    fake_engines["fail_train"] = 0
    camp = parse_campaign(FULL)
    local = run_campaign(camp, tmp_path / "local", runners=fake_engines["runners"])
    # processes, one thread each: certify caches HiGHS models per scenario, not shared safely across threads
    with distributed.LocalCluster(n_workers=1, processes=True, threads_per_worker=1, dashboard_address=None,
                                  silence_logs=40) as cluster:
        dask = run_campaign(camp, tmp_path / "dask", scheduler=cluster.scheduler_address,
                            runners=fake_engines["runners"])
    with h5py.File(local.record) as a, h5py.File(dask.record) as b:
        for k in (L.CAND_NBL_LOWER, L.CAND_NBL_UPPER, L.CAND_BEHAVIOUR, L.CERT_SOURCE_INDEX):
            np.testing.assert_array_equal(a[L.CERTIFIED][k][()], b[L.CERTIFIED][k][()])


@pytest.mark.parametrize("target", ["table1", "table2", "fig2", "fig3"])
@pytest.mark.parametrize("preset", ["quick", "paper", "dual"])
def test_reproduction_campaigns_are_valid(target, preset):
    from runs.pipeline._reproduce import campaign_text

    camp = parse_campaign(campaign_text(target, preset))
    hashes = stage_hashes(camp)
    assert len(set(hashes.values())) == len(hashes)  # every stage its own file


def test_fig2_reuses_the_stages_of_table1():
    from runs.pipeline._reproduce import campaign_text

    assert stage_hashes(parse_campaign(campaign_text("fig2", "quick"))) == stage_hashes(
        parse_campaign(campaign_text("table1", "quick")))


def test_reproduce_help_and_errors():
    r = runner.invoke(app, ["reproduce", "--help"])
    assert r.exit_code == 0 and "table1" in r.output
    r = runner.invoke(app, ["reproduce", "table9"])
    assert r.exit_code == 2


def test_reproduce_refuses_a_file_as_runs_dir(tmp_path):
    f = tmp_path / "f.h5"
    f.write_bytes(b"x")
    r = runner.invoke(app, ["reproduce", "fig2", "--runs-dir", str(f)])
    assert r.exit_code == 2 and "is a file, not a folder" in r.output
    assert f.read_bytes() == b"x"


def test_discover_config_by_name_path_or_table_hashes_its_content(tmp_path):
    import runs as R

    shipped = Path(R.__file__).parent / "jobs" / "searches" / "smoke.toml"
    (tmp_path / "mine.toml").write_text(shipped.read_text())
    by_name = parse_campaign(FULL)
    by_path = parse_campaign(FULL.replace('config = "smoke"', 'config = "mine.toml"'), base_dir=tmp_path)
    assert stage_hashes(by_name)["discover:search"] == stage_hashes(by_path)["discover:search"]
    (tmp_path / "mine.toml").write_text(shipped.read_text().replace("steps = 5", "steps = 6"))
    assert stage_hashes(by_name)["discover:search"] != stage_hashes(by_path)["discover:search"]
    inline = parse_campaign(FULL.replace('config = "smoke"', 'config = { bogus = 1 }'))
    with pytest.raises(ValueError):
        stage_hashes(inline)  # a config the discover work refuses is refused before anything runs


def test_certify_stage_keeps_the_discovery_constraints(tmp_path, fake_engines):
    """The strongest candidate violates a tripartite Bell inequality: it is certified but not the discovery."""
    fake_engines["fail_train"] = 0
    tri = np.zeros(8)
    tri[7] = 0.02  # v = 1, the largest NBL

    def run_discover(config, out, *, quick=False, model=None, progress=None, **kw):
        make_discovery(Path(out), n=8, tripartite_nl=tri)
        return stamp_discovery(Path(out), config, quick=quick, model=model)  # smoke: brgp_max 1, tripartite local

    runners = dataclasses.replace(fake_engines["runners"], discover=run_discover)
    res = run_campaign(parse_campaign(FULL), tmp_path / "res", runners=runners)
    with h5py.File(res.record) as f:
        c = f[L.CERTIFIED]
        assert 7 not in c[L.CERT_SOURCE_INDEX][()]  # constraint-meeting candidates are certified first
        assert c[L.CAND_DISCOVERY][()].all()
    assert res.best["discovery"] and res.best["source_index"] == 6


def test_cli_reports_a_crashed_stage_in_one_line(tmp_path, fake_engines, monkeypatch):
    cli_runners(monkeypatch, fake_engines["runners"])
    cfg = tmp_path / "c.toml"
    cfg.write_text(FULL)
    r = runner.invoke(app, ["campaign", str(cfg), "--runs-dir", str(tmp_path / "res"), "--no-progress"])
    assert r.exit_code == 1 and "error: a stage failed with RuntimeError: training diverged" in r.output
    assert "Traceback" not in r.output


def test_dual_reproduction_trains_table1_nl_models_with_the_dual_preset():
    from runs.pipeline._reproduce import campaign_text

    camp = parse_campaign(campaign_text("table1", "dual"))
    presets = {s.name: s.options["preset"] for s in camp.stages if s.kind == "train"}
    assert {k: v for k, v in presets.items() if k.startswith("m")} == {f"m{m}": "dual" for m in (2, 3, 4, 5)}
    assert presets["ij"] == presets["abc"] == "quick"
