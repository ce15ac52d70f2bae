"""bellscope train / predict / evaluate: the happy path once, and bad input (one `error:` line, exit 2, no file)."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import bellcore as bc
import runs
from runs.cli._cli import app
from surrogates import DatasetSpec

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli_train")
    runs.run_dataset(DatasetSpec.create("bell", bc.BellScenario.binary(2), "uniform-ns", 600, 1), d / "train.h5")
    runs.run_dataset(DatasetSpec.create("bell", bc.BellScenario.binary(2), "uniform-ns", 150, 2), d / "test.h5")
    runs.run_dataset(DatasetSpec.create("bell", bc.BellScenario.binary(3), "uniform-ns", 20, 3), d / "m3.h5")
    res = runner.invoke(app, ["train", str(d / "train.h5"), "--out", str(d / "model.h5"), "--members", "2",
                              "--epochs", "3", "--seed", "4", "--no-progress"])
    assert res.exit_code == 0, res.output
    return d, res


def _error_line(res):
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.exit_code == 2, res.output
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    return lines[0]


def test_train_prints_validation_errors(files):
    d, res = files
    assert "typical member" in res.stdout and "kept" in res.stdout
    mf = runs.read_model(d / "model.h5")
    assert mf.surrogate.ensemble.n_members == 2 and mf.hyperparameters["train_config"]["seed"] == 4
    assert mf.hyperparameters["data"]["dropped"] == 0
    import h5py

    with h5py.File(d / "model.h5", "r") as f:  # training time counts, not just the ~0.1 s of writing the file
        assert f.attrs["wall_seconds"] > 1.0


def test_predict_json_lines(files):
    d, _ = files
    np.save(d / "p.npy", np.stack([bc.tsirelson().numpy(), bc.pr_box().numpy()]))
    res = runner.invoke(app, ["predict", str(d / "model.h5"), str(d / "p.npy"), "--json"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(ln) for ln in res.stdout.splitlines()]
    assert len(rows) == 2 and set(rows[0]) == {"value", "std"}
    assert np.isfinite(rows[0]["value"]) and rows[0]["std"] >= 0


def test_evaluate_prints_table_row_and_writes_plot(files):
    d, _ = files
    res = runner.invoke(app, ["evaluate", str(d / "model.h5"), str(d / "test.h5"), "--json", "--plot", str(d / "fig.png")])
    assert res.exit_code == 0, res.output
    s = json.loads(res.stdout)
    assert {"typical_member", "average", "blend", "trivial"} <= set(s) and s["n"] == 150
    assert (d / "fig.png").stat().st_size > 1000
    res = runner.invoke(app, ["evaluate", str(d / "model.h5"), str(d / "test.h5"), "--plot", str(d / "fig2.png")])
    assert res.exit_code == 0 and "Table I row" in res.stdout


def test_train_bad_input(files, tmp_path):
    d, _ = files
    out = tmp_path / "m.h5"
    _error_line(runner.invoke(app, ["train", str(tmp_path / "missing.h5"), "--out", str(out)]))
    _error_line(runner.invoke(app, ["train", str(d / "train.h5"), "--out", str(out), "--target", "class"]))
    _error_line(runner.invoke(app, ["train", str(d / "train.h5"), "--out", str(out), "--features", "ij"]))
    _error_line(runner.invoke(app, ["train", str(d / "train.h5"), "--out", str(out), "--members", "0"]))
    _error_line(runner.invoke(app, ["train", str(d / "train.h5"), "--out", str(out), "--dual-pieces", "5"]))  # not --preset dual
    _error_line(runner.invoke(app, ["train", str(d / "train.h5"), "--out", str(out), "--preset", "dual", "--dual-pieces", "0"]))
    assert not out.exists()
    line = _error_line(runner.invoke(app, ["train", str(d / "train.h5"), "--out", str(d / "model.h5")]))
    assert "already exists" in line


def test_predict_and_evaluate_bad_input(files, tmp_path):
    d, _ = files
    np.save(tmp_path / "m3.npy", bc.sample("uniform-ns", bc.BellScenario.binary(3), 2, np.random.default_rng(0)).numpy())
    assert "trained on" in _error_line(runner.invoke(app, ["predict", str(d / "model.h5"), str(tmp_path / "m3.npy")]))
    bad = bc.tsirelson().numpy().copy()
    bad[0, 0, 0, 0] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    _error_line(runner.invoke(app, ["predict", str(d / "model.h5"), str(tmp_path / "nan.npy")]))
    _error_line(runner.invoke(app, ["predict", str(d / "train.h5"), str(tmp_path / "m3.npy")]))  # not a model
    _error_line(runner.invoke(app, ["predict", str(tmp_path / "nope.h5"), str(tmp_path / "m3.npy")]))
    assert "trained on" in _error_line(runner.invoke(app, ["evaluate", str(d / "model.h5"), str(d / "m3.h5")]))
    _error_line(runner.invoke(app, ["evaluate", str(d / "model.h5"), str(tmp_path / "nope.h5")]))


def test_margins_groups_written_before_the_logit_scale_still_load(tmp_path):
    """A margins group stored as ``(w, b)`` only (files written before ``Margins.log_scale``) reads with scale 1;
    bytes that fit no skeleton give a one-line ValueError."""
    import io

    import equinox as eqx
    import jax.numpy as jnp

    import surrogates as S

    spec = S.GroupSpec("margins", 2, pieces=4)
    skeleton = S.skeleton_from_hyperparameters({"groups": [spec.to_json()], "dim": 8, "task": "classification",
                                                "dtype": "float32"})
    like = skeleton.ensemble().groups[0]
    old = eqx.tree_at(lambda m: (m.w, m.b), like, (like.w + 1.0, like.b - 1.0))  # differs from the skeleton
    buf = io.BytesIO()
    eqx.tree_serialise_leaves(buf, (old.w, old.b))
    got = S.group_from_bytes(buf.getvalue(), spec, like)
    np.testing.assert_array_equal(got.w, old.w)
    np.testing.assert_array_equal(got.b, old.b)
    np.testing.assert_array_equal(got.log_scale, jnp.zeros(2))
    with pytest.raises(ValueError, match="does not fit its hyperparameters"):
        S.group_from_bytes(b"not a group", spec, like)


def test_train_dual_preset_keeps_at_most_dual_pieces(files, tmp_path):
    d, _ = files
    out = tmp_path / "dual.h5"
    res = runner.invoke(app, ["train", str(d / "train.h5"), "--out", str(out), "--preset", "dual", "--dual-pieces", "3",
                              "--epochs", "2", "--no-progress"])
    assert res.exit_code == 0, res.output
    mf = runs.read_model(out)
    dual = [s for s in mf.surrogate.ensemble.specs if s.kind == "dual"]
    assert mf.surrogate.feature_set == "canonical" and len(dual) == 1 and 1 <= dual[0].pieces <= 3
    res = runner.invoke(app, ["evaluate", str(out), str(d / "test.h5"), "--json", "--plot", str(tmp_path / "dual.png")])
    assert res.exit_code == 0, res.output
    row = json.loads(res.stdout)
    assert row["blend"] < row["trivial"]  # at m = 2 three CHSH pieces already beat the constant


def test_train_dual_bound_answers_certified_lower_bounds(files, tmp_path):
    import jax.numpy as jnp

    d, _ = files
    out = tmp_path / "bound.h5"
    res = runner.invoke(app, ["train", str(d / "train.h5"), "--out", str(out), "--preset", "dual-bound", "--no-progress"])
    assert res.exit_code == 0, res.output
    sur = runs.load_model(out)
    assert [s.kind for s in sur.ensemble.specs] == ["dual"]
    _, test, _ = runs.read_dataset(d / "test.h5")
    pred = np.asarray(sur(jnp.asarray(test["behaviours"], jnp.float32)).mean)
    assert (pred <= test["nl"] + 1e-6).all()  # a lower bound at points it never saw
    assert np.abs(pred - test["nl"]).mean() < 1e-6  # m = 2: the eight CHSH pieces, exact up to float32
