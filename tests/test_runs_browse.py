"""runs ls / show / plot / export on run files of every kind; foreign, corrupt, failed and still-running files."""

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

import bellcore as bc
from runs.files import _layout as L
from runs.files._browse import inspect_run, list_runs
from runs.cli._cli import app
from runs.jobs._dataset_run import run_dataset
from runs.files._export import export_json_obj, nan_equal, read_export
from surrogates import DatasetSpec

from ._runfiles import make_discovery, make_model

runner = CliRunner()


@pytest.fixture(scope="module")
def rundir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("runs")
    run_dataset(DatasetSpec.create("bell", bc.BellScenario.binary(2), "uniform-ns", 60, 5, chunk_size=30), d / "bell.h5")
    run_dataset(DatasetSpec.create("chsh-correlators", None, None, 90, 5, chunk_size=90), d / "chsh.h5")
    run_dataset(
        DatasetSpec.create("bilocal", bc.BilocalScenario("bsm"), "features-ij", 6, 5, chunk_size=6, nbl_max_nodes=200),
        d / "swap.h5",
    )
    make_model(d / "model.h5")
    make_model(d / "classifier.h5", target="class")
    make_discovery(d / "disc.h5")
    make_discovery(d / "crashed.h5", status=L.STATUS_FAILED)
    make_discovery(d / "killed.h5", status=L.STATUS_RUNNING)
    with h5py.File(d / "foreign.h5", "w") as f:
        f["x"] = np.arange(3)
    (d / "corrupt.h5").write_bytes(b"not an hdf5 file at all" * 10)
    # a truncated run file: an HDF5 signature but cut short
    (d / "truncated.h5").write_bytes((d / "bell.h5").read_bytes()[:3000])
    return d


def test_ls_lists_every_file_with_its_status(rundir):
    infos = {r.id: r for r in list_runs(rundir)}
    assert infos["bell"].status == "complete" and infos["bell"].kind == "dataset"
    assert infos["bell"].scenario == "bell(mA=2, mB=2, dA=2, dB=2)"
    assert "60 points" in infos["bell"].headline and "local" in infos["bell"].headline
    assert infos["swap"].scenario == "bilocal(bsm)" and "nonbilocal" in infos["swap"].headline
    assert "classes" in infos["chsh"].headline
    assert infos["model"].kind == "model" and infos["model"].headline.startswith("val MAE")
    assert infos["disc"].kind == "discovery" and "best certified NBL" in infos["disc"].headline
    assert infos["crashed"].status == "failed"
    assert infos["killed"].status == "running" and "not open" in infos["killed"].note
    assert infos["foreign"].status == "foreign"
    assert infos["corrupt"].status == "corrupt" and "not an HDF5 file" in infos["corrupt"].note
    assert infos["truncated"].status == "corrupt"


def test_ls_cli_table_and_json(rundir):
    r = runner.invoke(app, ["runs", "ls", str(rundir)], env={"NO_COLOR": "1", "COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "\x1b[" not in r.output  # NO_COLOR and no terminal: plain text
    for name in ("bell", "swap", "model", "disc", "crashed", "killed", "foreign", "corrupt", "truncated"):
        assert name in r.output
    assert "Traceback" not in r.output
    r = runner.invoke(app, ["runs", "ls", str(rundir), "--json"])
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert {row["status"] for row in rows} == {"complete", "failed", "running", "foreign", "corrupt"}
    r = runner.invoke(app, ["runs", "ls", str(rundir / "nope")])
    assert r.exit_code == 2 and "error: no such directory" in r.output


def test_running_file_held_by_a_writer_is_listed(tmp_path):
    from runs.files import _store

    f = _store.create_run(tmp_path / "live.h5", "dataset", "{}", "h", 1, "d", json.dumps(bc.BellScenario.binary(2).to_json()))
    try:
        info = inspect_run(tmp_path / "live.h5")
        assert info.status == "running" and info.kind == "dataset"
    finally:
        f.close()


def test_show_tree_and_dataset_preview(rundir):
    r = runner.invoke(app, ["runs", "show", str(rundir / "bell.h5")], env={"NO_COLOR": "1", "COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    out = r.output
    for s in ("provenance/", "@git_sha", "@jax_x64", "behaviours", "60×2×2×2×2", "float64", "labels/", "nl_status",
              "enum(optimal, inaccurate, limit, infeasible, error)", "trace distance to the local set"):
        assert s in out, s
    r = runner.invoke(app, ["runs", "show", str(rundir / "bell.h5"), "/labels/nl_status", "--rows", "3"])
    assert r.exit_code == 0 and "[0] optimal" in r.output and "counts" in r.output
    r = runner.invoke(app, ["runs", "show", str(rundir / "bell.h5"), "/labels/nl", "--json"])
    pv = json.loads(r.stdout)
    assert pv["rows_valid"] == 60 and len(pv["head"]) == 5 and pv["summary"]["count"] == 60
    r = runner.invoke(app, ["runs", "show", str(rundir / "disc.h5"), "/candidates/searcher"])
    assert r.exit_code == 0 and "gradient" in r.output
    r = runner.invoke(app, ["runs", "show", str(rundir / "bell.h5"), "/nope"])
    assert r.exit_code == 2 and r.output.startswith("error:") and "top level" in r.output
    r = runner.invoke(app, ["runs", "show", str(rundir / "corrupt.h5")])
    assert r.exit_code == 2 and "not an HDF5 file" in r.output


@pytest.mark.parametrize("name", ["bell", "chsh", "swap", "model", "classifier", "disc"])
def test_plot_every_kind(rundir, tmp_path, name):
    out = tmp_path / f"{name}.png"
    r = runner.invoke(app, ["runs", "plot", str(rundir / f"{name}.h5"), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    r = runner.invoke(app, ["runs", "plot", str(rundir / f"{name}.h5"), "--out", str(out)])
    assert r.exit_code == 2 and "exists" in r.output  # never overwritten


def test_plot_refuses_foreign_in_one_line(rundir, tmp_path):
    r = runner.invoke(app, ["runs", "plot", str(rundir / "foreign.h5"), "--out", str(tmp_path / "x.png")])
    assert r.exit_code == 2 and r.output.count("\n") == 1 and "no plot" in r.output


def test_export_json_round_trip_and_certify_reads_it(rundir, tmp_path):
    out = tmp_path / "bell.json"
    r = runner.invoke(app, ["runs", "export", str(rundir / "bell.h5"), "--out", str(out)])
    assert r.exit_code == 0, r.output
    obj = json.loads(out.read_text())
    e = read_export(rundir / "bell.h5")
    with h5py.File(rundir / "bell.h5") as f:
        np.testing.assert_array_equal(np.asarray(obj["p"]), f["behaviours"][:])
        assert nan_equal(obj["labels"]["nl"], f["labels/nl"][:].tolist())
    assert set(obj["labels"]["nl_status"]) <= {"optimal", "inaccurate", "limit", "infeasible", "error"}
    assert obj["scenario"] == {"kind": "bell", "outcomes": [2, 2], "settings": [2, 2]}
    assert json.loads(json.dumps(export_json_obj(e))) == obj
    beh = bc.Behaviour.from_json(obj)
    assert beh.p.shape == (60, 2, 2, 2, 2)
    # the interchange certify reads
    r = runner.invoke(app, ["certify", str(out), "--json", "--no-progress"])
    assert r.exit_code == 0, r.output
    vals = [json.loads(line)["value"] for line in r.stdout.splitlines()]
    assert np.allclose(np.nan_to_num(np.asarray(vals, float)), np.nan_to_num(e.labels["nl"]), atol=1e-9)


def test_export_npy_discovery_read_back_equal(rundir, tmp_path):
    out = tmp_path / "cand.npy"
    r = runner.invoke(app, ["runs", "export", str(rundir / "disc.h5"), "--format", "npy", "--out", str(out)])
    assert r.exit_code == 0, r.output
    with h5py.File(rundir / "disc.h5") as f:
        np.testing.assert_array_equal(np.load(out), f["candidates/behaviour"][:])
        np.testing.assert_array_equal(np.load(tmp_path / "cand.nbl_lower.npy"), f["candidates/nbl_lower"][:])
    status = np.load(tmp_path / "cand.nbl_status.npy")
    assert status.dtype.kind == "U" and set(status) == {"optimal", "limit"}
    r = runner.invoke(app, ["runs", "export", str(rundir / "disc.h5"), "--format", "npy", "--out", str(out)])
    assert r.exit_code == 2 and "exists" in r.output
    r = runner.invoke(app, ["runs", "export", str(rundir / "model.h5")])
    assert r.exit_code == 2 and "no behaviours" in r.output
    r = runner.invoke(app, ["runs", "export", str(rundir / "disc.h5"), "--format", "npy"])
    assert r.exit_code == 2 and "--out" in r.output


def test_provenance_of_a_dataset_run(rundir):
    with h5py.File(rundir / "bell.h5") as f:
        prov = f[L.PROVENANCE].attrs
        pk = json.loads(prov[L.PACKAGES])
        for name in ("jax", "equinox", "optax", "highspy", "cvxpy", "nevergrad", "h5py"):
            assert name in pk
        assert prov[L.JAX_X64] in ("true", "false") and prov[L.JAX_BACKEND]
        assert prov[L.GIT_DIRTY] in ("true", "false", "unknown")
        assert f.attrs[L.WALL_SECONDS] > 0
        assert f[L.SEEDS].attrs[L.SEED_MASTER] == 5


@pytest.mark.parametrize("cmd", [[], ["ls"], ["show"], ["plot"], ["export"]])
def test_runs_help(cmd):
    r = runner.invoke(app, ["runs", *cmd, "--help"])
    assert r.exit_code == 0 and "Usage" in r.output


def test_reader_layout_names_are_the_writers():
    """The readers' one-name-per-field constants are the writers' field names (models, discoveries)."""
    for name in dir(L):
        if name.startswith("CAND_"):
            assert getattr(L, name) in L.DISCOVERY_FIELDS, name
        if name.startswith("TRACE_") and name != "TRACE_FIELDS":
            assert getattr(L, name) in L.TRACE_FIELDS, name
    assert {L.TRAIN_STEP, L.TRAIN_LOSS, L.VAL_LOSS, L.VAL_MAE} == set(L.TRAINING_FIELDS)
    assert {L.EVAL_Y_TRUE, L.EVAL_Y_PRED, L.EVAL_Y_STD} == set(L.EVALUATION_FIELDS)
    assert set(L.KINDS) == {L.KIND_DATASET, L.KIND_MODEL, L.KIND_DISCOVERY, L.KIND_CAMPAIGN}


@pytest.mark.parametrize(
    "cmd", [["certify"], ["dataset"], ["demo"], ["campaign"], ["reproduce"], ["train"], ["predict"], ["evaluate"],
            ["discover"], ["runs"], []],
)
def test_every_command_has_help(cmd):
    r = runner.invoke(app, [*cmd, "--help"])
    assert r.exit_code == 0 and "Usage" in r.output, r.output


def test_candidate_table_ranks_only_values_the_certificates_tell_apart(tmp_path):
    """Spearman between prediction and certified value is reported only when the certified intervals separate some
    candidates; all-zero values (round-off ~1e-15) give NaN, not a rank over noise."""
    import math

    import h5py
    import numpy as np

    from runs.files import _layout as L
    from runs.files._candidates import candidate_table

    def table(lo, up, pred):
        p = tmp_path / f"c{len(list(tmp_path.iterdir()))}.h5"
        with h5py.File(p, "w") as f:
            g = f.create_group(L.CANDIDATES)
            for k, v in ((L.CAND_PRED_MEAN, pred), (L.CAND_NBL_LOWER, lo), (L.CAND_NBL_UPPER, up)):
                g.create_dataset(k, data=np.asarray(v, float))
        with h5py.File(p, "r") as f:
            return candidate_table(f)

    pred = [0.01, 0.02, 0.03, 0.04]
    zeros = table([0.0] * 4, [1e-15, 3e-16, 2e-15, 0.0], pred)
    assert math.isnan(zeros["spearman"]) and zeros["mae"] > 0
    apart = table([0.0, 0.01, 0.02, 0.03], [1e-12, 0.0101, 0.0201, 0.0301], pred)
    assert apart["spearman"] == 1.0
