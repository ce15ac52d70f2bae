"""``bellscope certify`` and ``bellscope demo``: formats, JSON output, exit codes, one-line errors."""

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

import bellcore as bc
from runs.cli._cli import app

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def files(tmp_path):
    out = {}
    out["npy"] = tmp_path / "pr.npy"
    np.save(out["npy"], bc.pr_box().numpy())
    out["batch"] = tmp_path / "batch.npy"
    np.save(out["batch"], np.stack([bc.isotropic_pr(v).numpy() for v in (0.2, 0.6, 1.0)]))
    out["json"] = tmp_path / "chained.json"
    out["json"].write_text(json.dumps(bc.chained(3).to_json()))
    out["h5"] = tmp_path / "data.h5"
    with h5py.File(out["h5"], "w") as f:
        ds = f.create_dataset("behaviours", data=np.stack([bc.tsirelson().numpy(), bc.isotropic_pr(0.3).numpy()]))
        ds.attrs["scenario"] = json.dumps(bc.BellScenario.binary(2).to_json())
    return out


def test_certify_table(files):
    res = _run("certify", files["npy"])
    assert res.exit_code == 0, res.output
    assert "0.2500000000" in res.output and "checked" in res.output


def test_certify_json_batch(files):
    res = _run("certify", files["batch"], "--json", "--no-progress")
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.stdout.strip().splitlines()]
    assert [round(r["value"], 12) for r in rows] == [0.0, 0.05, 0.25]
    assert [r["nonlocal"] for r in rows] == [False, True, True]
    for r in rows:
        assert r["status"] == "optimal" and r["certificate_checked"] is True
        assert np.asarray(r["bell"]).shape == (2, 2, 2, 2)
        assert isinstance(r["local_bound"], float)


def test_certify_json_and_h5_and_visibility(files):
    res = _run("certify", files["json"], "--json")
    assert json.loads(res.stdout)["value"] == pytest.approx((3 * 3**0.5 - 4) / 18, abs=1e-10)
    res = _run("certify", files["h5"], "--json", "--measure", "visibility", "--no-progress")
    rows = [json.loads(line) for line in res.stdout.strip().splitlines()]
    assert rows[0]["value"] == pytest.approx(2**-0.5, abs=1e-10) and rows[1]["value"] == pytest.approx(1.0)


def _bad_files(tmp_path):
    good = bc.pr_box().numpy()
    cases = {}
    cases["missing"] = tmp_path / "nope.npy"
    for name, arr in {
        "nan": np.where(np.arange(16).reshape(good.shape) == 0, np.nan, good),
        "negative": good + np.array([[[[-0.6, 0], [0, 0]], [[0.6, 0], [0, 0]]], [[[0, 0], [0, 0]], [[0, 0], [0, 0]]]]),
        "unnormalised": good * 0.9,
        "shape": np.ones((3, 3)),
    }.items():
        cases[name] = tmp_path / f"{name}.npy"
        np.save(cases[name], arr)
    sig = bc.isotropic_pr(0.5).numpy().copy()
    sig[0, 0, 1, 1] += 0.07
    sig[1, 0, 1, 1] -= 0.07
    cases["signalling"] = tmp_path / "signalling.npy"
    np.save(cases["signalling"], sig)
    cases["scenario"] = tmp_path / "scenario.json"
    cases["scenario"].write_text(json.dumps({"scenario": {"kind": "triangle"}, "p": good.tolist()}))
    cases["suffix"] = tmp_path / "p.csv"
    cases["suffix"].write_text("1,2")
    return cases


@pytest.mark.parametrize("case", ["missing", "nan", "negative", "unnormalised", "shape", "signalling", "scenario", "suffix"])
def test_bad_input_exit_2_one_line(tmp_path, case):
    path = _bad_files(tmp_path)[case]
    res = _run("certify", path)
    assert res.exit_code == 2, (case, res.output)
    err = res.stderr.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1, err
    assert "Traceback" not in res.output


def test_real_subprocess_no_traceback(tmp_path):
    path = _bad_files(tmp_path)["signalling"]
    proc = subprocess.run([sys.executable, "-m", "runs", "certify", str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    err = proc.stderr.strip()
    assert err.startswith("error: ") and "signalling" in err and "Traceback" not in err and len(err.splitlines()) == 1
    assert proc.stdout == ""


def test_demo_runs_and_agrees_with_closed_forms():
    res = _run("demo", "--json")
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.stdout.strip().splitlines()]
    assert len(rows) >= 10 and all(r["certified"] for r in rows)


def test_help_explains():
    res = _run("certify", "--help")
    assert res.exit_code == 0 and "Bell functional" in res.output


def test_certify_bilocal_json(tmp_path):
    path = tmp_path / "swap.npy"
    np.save(path, np.stack([np.asarray(bc.bilocal_werner(v, "bsm").p) for v in (0.6, 0.9)]))
    res = _run("certify", path, "--json", "--tol", "1e-4", "--no-progress")
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.stdout.strip().splitlines()]
    for r, expected in zip(rows, (0.0, (0.81 - 0.5) / 4)):
        assert r["lower"] - 1e-9 <= expected <= r["upper"] + 1e-9
        assert r["status"] == "optimal" and r["model"]["variant"] == "bsm" and r["certificate_checked"]
    assert _run("certify", path, "--measure", "nl").exit_code == 2


def test_certify_reads_a_bellscope_dataset(tmp_path):
    out = tmp_path / "d.h5"
    res = _run("dataset", "--scenario", "bell", "--settings", "3", "--n", "12", "--seed", "4", "--out", out, "--no-progress")
    assert res.exit_code == 0, res.output
    res = _run("certify", out, "--json", "--no-progress")
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.stdout.strip().splitlines()]
    with h5py.File(out, "r") as f:
        stored = f["labels/nl"][...]
    assert len(rows) == 12 and rows[0]["scenario"]["settings"] == [3, 3]
    np.testing.assert_array_equal([r["value"] for r in rows], stored)  # deterministic: bit-identical labels
