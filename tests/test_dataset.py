"""Datasets: certified labels, HDF5 run files, kill-and-resume identity, worker and scheduler invariance, CLI errors."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

import bellcore as bc
import certify
from bellcore import chsh_max
from runs.files import _layout as L
from runs.jobs._dataset_run import read_dataset, run_dataset

from ._runfiles import dataset_cli, rows_complete
from surrogates import STATUS_NAMES, DatasetSpec, label_fields, make_chunk, summarise

ROOT = Path(__file__).resolve().parents[1]


def _spec(m=2, n=300, chunk=100, seed=7, **kw):
    return DatasetSpec.create("bell", bc.BellScenario.binary(m), kw.pop("sampler", "uniform-ns"), n, seed, chunk_size=chunk, **kw)


def _assert_same_data(a: Path, b: Path):
    sa, da, attrs_a = read_dataset(a)
    sb, db, attrs_b = read_dataset(b)
    assert sa.canonical_json() == sb.canonical_json()
    assert attrs_a["status"] == attrs_b["status"] == "complete"
    assert attrs_a["summary"] == attrs_b["summary"]
    assert set(da) == set(db)
    for k in da:
        np.testing.assert_array_equal(da[k], db[k], err_msg=k)
    with h5py.File(a) as fa, h5py.File(b) as fb:
        for k in label_fields(sa):
            path = L.data_path(k)
            assert fa[path].shape == fb[path].shape and fa[path].dtype == fb[path].dtype
            np.testing.assert_array_equal(fa[path][()], fb[path][()])
        assert fa[L.CONFIG].attrs[L.CONFIG_HASH] == fb[L.CONFIG].attrs[L.CONFIG_HASH]


# ------------------------------------------------------------------------------------------------- spec
def test_spec_json_round_trip_and_hash():
    s = _spec(m=3, sampler="local", params={"alpha": 0.5})
    t = DatasetSpec.from_json(s.canonical_json())
    assert t == s and t.config_hash() == s.config_hash()
    assert json.loads(s.canonical_json())["params"] == {"alpha": 0.5}
    assert _spec(seed=8).config_hash() != s.config_hash()
    b = DatasetSpec.create("bilocal", bc.BilocalScenario("bsm"), "features-ij", 10, 1)
    assert b.measures == ("nbl",) and DatasetSpec.from_json(b.to_json()) == b
    c = DatasetSpec.create("chsh-correlators", None, None, 10, 1, params={"balance": True})
    assert c.sampler == "chsh-correlators" and c.measures == ("class",)


@pytest.mark.parametrize(
    "args,match",
    [
        (("bell", bc.BellScenario.binary(2), "uniform-ns", 0, 1), "positive"),
        (("bell", bc.BellScenario.binary(2), "uniform-ns", 10, -1), "seed"),
        (("bell", bc.BellScenario.binary(2), "nope", 10, 1), "unknown sampler"),
        (("bell", bc.BilocalScenario("binary"), "uniform-ns", 10, 1), "does not match"),
        (("bilocal", bc.BilocalScenario("binary"), "marginal-first", 10, 1), "does not support"),
        (("bell", bc.BellScenario.binary(2), "chsh-correlators", 10, 1), "chsh-correlators"),
        (("chsh", None, None, 10, 1), "unknown dataset scenario"),
    ],
)
def test_spec_errors(args, match):
    with pytest.raises(ValueError, match=match):
        DatasetSpec.create(*args)
    with pytest.raises(ValueError, match="does not apply"):
        DatasetSpec.create("bell", bc.BellScenario.binary(2), None, 10, 1, measures=["nbl"])


# ----------------------------------------------------------------------------------------------- labels
def test_chunk_labels_equal_certify_and_the_m2_closed_form():
    spec = _spec(m=2, n=250, chunk=250, seed=3)
    c = make_chunk(spec, 0)
    assert c["behaviours"].shape == (250, 2, 2, 2, 2) and c["behaviours"].dtype == np.float64
    assert set(c) == set(label_fields(spec))
    assert np.all(c["nl_status"] == STATUS_NAMES.index("optimal")) and np.all(c["nl_certified"] == 1)
    beh = bc.Behaviour(c["behaviours"], spec.scenario)
    again = np.array([certify.nonlocality(b).value for b in beh])
    np.testing.assert_allclose(c["nl"], again, atol=1e-9)
    closed = np.maximum(0, (chsh_max(beh.correlators()) - 2) / 8)
    np.testing.assert_allclose(c["nl"], closed, atol=1e-9)
    np.testing.assert_array_equal(c["nonlocal"] == 1, closed > 1e-9)
    # the chunk is a pure function of (spec, index)
    d = make_chunk(spec, 0)
    for k in c:
        np.testing.assert_array_equal(c[k], d[k])


def test_chunk_labels_m3_recompute():
    spec = _spec(m=3, n=120, chunk=60, seed=4)
    c = make_chunk(spec, 1)
    beh = bc.Behaviour(c["behaviours"], spec.scenario)
    res = [certify.nonlocality(b) for b in beh]
    np.testing.assert_allclose(c["nl"], [r.value for r in res], atol=1e-9)
    np.testing.assert_array_equal(c["nonlocal"], [r.is_nonlocal for r in res])


def test_unsolved_labels_are_stored_as_status_not_as_numbers(monkeypatch):
    """A label that could not be certified keeps its status and NaN, never a silent number."""
    real = certify.nonlocality
    calls = {"n": 0}

    def flaky(b, **kw):
        calls["n"] += 1
        if calls["n"] % 3 == 0:
            raise RuntimeError("solver exploded")
        if calls["n"] % 3 == 1:
            r = real(b, **kw)
            import dataclasses

            return dataclasses.replace(r, value=float("nan"), status=certify.Status.LIMIT)
        return real(b, **kw)

    monkeypatch.setattr("surrogates._dataset.nonlocality", flaky)  # the name the labeller calls
    c = make_chunk(_spec(n=30, chunk=30), 0)
    names = [STATUS_NAMES[s] for s in c["nl_status"]]
    assert names.count("error") == 10 and names.count("limit") == 10 and names.count("optimal") == 10
    bad = c["nl_status"] != 0
    assert np.all(np.isnan(c["nl"][bad])) and np.all(np.isfinite(c["nl"][~bad]))
    s = summarise(c)
    assert s["nl_status"] == {"optimal": 10, "limit": 10, "error": 10}


def test_chsh_correlators_chunk():
    spec = DatasetSpec.create("chsh-correlators", None, None, 90, 2, params={"balance": True}, chunk_size=90)
    c = make_chunk(spec, 0)
    assert c["correlators"].shape == (90, 2, 2)
    assert list(np.bincount(c["class"], minlength=3)) == [30, 30, 30]
    assert summarise(c)["classes"] == {"local": 30, "quantum": 30, "postquantum": 30}


# ------------------------------------------------------------------------------------------------ store
def test_run_file_layout_and_refusals(tmp_path):
    spec = _spec(m=2, n=250, chunk=100)
    out = tmp_path / "d.h5"
    seen = []
    summary = run_dataset(spec, out, argv=["test"], progress=lambda d, t, info: seen.append(d))
    assert seen[0] == 0 and seen[-1] == 250
    with h5py.File(out) as f:
        assert f.attrs[L.KIND] == "dataset" and f.attrs[L.STATUS] == "complete"
        assert f.attrs[L.SCHEMA] == L.SCHEMA_VERSION and f.attrs[L.ROWS_COMPLETE] == 250
        assert f["/behaviours"].shape == (250, 2, 2, 2, 2) and f["/behaviours"].dtype == np.float64
        for name in ("nl", "nl_status", "nl_certified", "nonlocal"):
            assert f[f"/labels/{name}"].shape == (250,)
        assert h5py.check_enum_dtype(f["/labels/nl_status"].dtype)["optimal"] == 0
        assert f[L.CONFIG].attrs[L.CONFIG_JSON] == spec.canonical_json()
        assert f[L.CONFIG].attrs[L.CONFIG_HASH] == spec.config_hash()
        assert int(f[L.SEEDS].attrs[L.SEED_MASTER]) == 7
        prov = f[L.PROVENANCE].attrs
        assert json.loads(prov[L.PACKAGES])["numpy"] == np.__version__
        assert prov[L.ARGV] == '["test"]' and prov[L.JAX_BACKEND]
        assert json.loads(f[L.SCENARIO].attrs[L.SCENARIO_JSON]) == spec.scenario.to_json()
        assert json.loads(f.attrs[L.SUMMARY]) == json.loads(json.dumps(summary))
    with pytest.raises(FileExistsError, match="already exists"):
        run_dataset(spec, out)
    with pytest.raises(ValueError, match="different configuration"):
        run_dataset(_spec(m=2, n=250, chunk=100, seed=8), out, resume=True)
    with pytest.raises(FileNotFoundError):
        run_dataset(spec, tmp_path / "missing.h5", resume=True)
    # resuming a complete file changes nothing
    assert run_dataset(spec, out, resume=True) == json.loads(json.dumps(summary))


def test_resume_truncates_a_half_written_chunk(tmp_path):
    spec = _spec(m=2, n=300, chunk=100, seed=11)
    ref = tmp_path / "ref.h5"
    run_dataset(spec, ref)
    part = tmp_path / "part.h5"
    with pytest.raises(KeyboardInterrupt):

        def stop(done, total, info):
            if done >= 100:
                raise KeyboardInterrupt

        run_dataset(spec, part, progress=stop)
    with h5py.File(part, "r+") as f:
        assert f.attrs[L.STATUS] == "failed" and f.attrs[L.ROWS_COMPLETE] == 100
        for k in label_fields(spec):  # simulate a kill between the data flush and the row-count commit
            ds = f[L.data_path(k)]
            ds.resize(150, axis=0)
            ds[100:150] = 0
    run_dataset(spec, part, resume=True)
    _assert_same_data(ref, part)


@pytest.mark.timeout(180)
def test_workers_one_and_two_give_identical_files(tmp_path):
    spec = _spec(m=3, n=400, chunk=50, seed=5)
    run_dataset(spec, tmp_path / "w1.h5", workers=1)
    run_dataset(spec, tmp_path / "w2.h5", workers=2)
    _assert_same_data(tmp_path / "w1.h5", tmp_path / "w2.h5")


@pytest.mark.timeout(180)
def test_dask_local_cluster_equals_local_run(tmp_path):
    distributed = pytest.importorskip("distributed")
    spec = _spec(m=2, n=300, chunk=50, seed=9)
    run_dataset(spec, tmp_path / "local.h5")
    with distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None, silence_logs=40
    ) as cluster:
        run_dataset(spec, tmp_path / "dask.h5", scheduler=cluster.scheduler_address)
    _assert_same_data(tmp_path / "local.h5", tmp_path / "dask.h5")


@pytest.mark.timeout(240)
def test_sigkill_and_resume_gives_the_uninterrupted_file(tmp_path):
    args = ["--scenario", "bell", "--settings", "3", "--n", "3000", "--seed", "21", "--chunk-size", "50", "--no-progress"]
    out = tmp_path / "killed.h5"
    proc = subprocess.Popen(dataset_cli(*args, "--out", str(out)), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and rows_complete(out) < 100 and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    with h5py.File(out, "r") as f:  # readable after SIGKILL
        rows = int(f.attrs[L.ROWS_COMPLETE])
        assert 100 <= rows < 3000 and rows % 50 == 0
        assert f.attrs[L.STATUS] == "running"
        assert np.all(np.isfinite(f["/labels/nl"][:rows]))
    done = subprocess.run(dataset_cli(*args, "--out", str(out), "--resume"), cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    with h5py.File(out, "r") as f:
        assert len(json.loads(f[L.PROVENANCE].attrs[L.RESUMES])) == 1
    ref = tmp_path / "ref.h5"
    spec = DatasetSpec.create("bell", bc.BellScenario.binary(3), None, 3000, 21, chunk_size=50)
    run_dataset(spec, ref)
    _assert_same_data(ref, out)


# -------------------------------------------------------------------------------------------------- CLI
def _run_cli(args, tmp_path):
    from typer.testing import CliRunner

    from runs.cli._cli import app

    return CliRunner().invoke(app, ["dataset", *args], catch_exceptions=False)


@pytest.mark.parametrize(
    "args,match",
    [
        (["--scenario", "bell", "--n", "10", "--seed", "1"], "--settings"),
        (["--scenario", "bell", "--settings", "2", "--n", "0", "--seed", "1"], "positive"),
        (["--scenario", "bell", "--settings", "2", "--n", "10", "--seed", "1", "--sampler", "nope"], "unknown sampler"),
        (["--scenario", "bell", "--settings", "2", "--n", "10", "--seed", "1", "--param", "beta=2", "--sampler", "local"], "no parameter"),
        (["--scenario", "bell", "--settings", "2", "--n", "10", "--seed", "1", "--param", "alpha"], "KEY=VALUE"),
        (["--scenario", "bell", "--settings", "5", "--n", "10", "--seed", "1", "--sampler", "vertex-mixture"], "3 settings"),
        (["--scenario", "bell", "--settings", "2", "--n", "10", "--seed", "1", "--workers", "0"], "--workers"),
        (["--scenario", "bell", "--settings", "2", "--n", "10", "--seed", "1", "--balance"], "--balance"),
        (["--scenario", "bilocal", "--settings", "2", "--n", "10", "--seed", "1"], "--settings"),
        (["--scenario", "bell", "--settings", "2", "--n", "10", "--seed", "1", "--measures", "nbl"], "does not apply"),
        (["--scenario", "bell", "--settings", "2", "--n", "10", "--seed", "1", "--scheduler", "tcp://127.0.0.1:1"], "cannot connect"),
    ],
)
def test_cli_bad_arguments_give_one_line_errors(args, match, tmp_path, monkeypatch):
    monkeypatch.setattr("runs.jobs._scheduler.CONNECT_TIMEOUT", "1s")
    out = tmp_path / "x.h5"
    res = _run_cli([*args, "--out", str(out), "--no-progress"], tmp_path)
    assert res.exit_code == 2, res.output
    err = res.stderr.strip()
    assert err.startswith("error: ") and match in err and "\n" not in err and "Traceback" not in err, err


def test_cli_existing_file_and_changed_resume(tmp_path):
    out = tmp_path / "d.h5"
    base = ["--scenario", "chsh-correlators", "--n", "60", "--seed", "3", "--out", str(out), "--no-progress"]
    ok = _run_cli([*base, "--balance", "--json"], tmp_path)
    assert ok.exit_code == 0, ok.output
    summary = json.loads(ok.stdout)
    assert summary["classes"] == {"local": 20, "quantum": 20, "postquantum": 20}
    again = _run_cli([*base, "--balance"], tmp_path)
    assert again.exit_code == 2 and "already exists" in again.stderr
    changed = _run_cli([*base, "--resume"], tmp_path)  # without --balance: another configuration
    assert changed.exit_code == 2 and "different configuration" in changed.stderr
    fresh = _run_cli([*base[:-2], str(tmp_path / "new.h5"), "--no-progress", "--resume"], tmp_path)
    assert fresh.exit_code == 0 and "starting it" in fresh.stderr


# ---------------------------------------------------------------------------------------------- bilocal
@pytest.mark.timeout(240)
def test_bilocal_nbl_labels_equal_nbl_label_and_are_reproducible():
    import certify

    nbl = certify.nonbilocality
    spec = DatasetSpec.create(
        "bilocal", bc.BilocalScenario("binary"), "local", 4, 3, chunk_size=2, nbl_tol=1e-3, nbl_max_nodes=300,
        params={"alpha": 0.3},
    )
    c = make_chunk(spec, 1)
    assert c["behaviours"].shape == (2, 2, 2, 2, 2, 2, 2)
    assert np.all(c["nbl_upper"] <= 1e-6)  # bilocal models by construction
    spec = DatasetSpec.create(
        "bilocal", bc.BilocalScenario("binary"), "features-ij", 3, 3, chunk_size=3, nbl_tol=1e-3, nbl_max_nodes=300
    )
    c = make_chunk(spec, 0)
    beh = bc.Behaviour(c["behaviours"], spec.scenario)
    for k, b in enumerate(beh):  # the one rule: the labels are certify.nbl_label's ...
        lab = certify.nbl_label(b, tol=1e-3, max_nodes=300, time_limit=spec.nbl_time_limit)
        assert STATUS_NAMES[c["nbl_status"][k]] == str(lab.status)
        assert c["nbl_lower"][k] == lab.lower and c["nbl_upper"][k] == lab.upper
        r = nbl(b, tol=1e-3, max_nodes=300, time_limit=spec.nbl_time_limit)  # ... and agree with the full search
        assert r.lower <= lab.upper + 1e-9 and lab.lower <= r.upper + 1e-9
        assert r.lower <= r.upper and lab.lower <= lab.upper
    d = make_chunk(spec, 0)
    for k in c:
        np.testing.assert_array_equal(c[k], d[k])
