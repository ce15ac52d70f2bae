"""Hostile input to train / predict / evaluate, and interrupts of train (issue 14).

Every row of ``CASES``: a command on a damaged copy of a valid file must exit 2 with exactly one ``error:`` line,
leave every input byte-identical, and leave no output file behind. Interrupts: SIGINT / SIGTERM at named moments of
``train`` leave exit 130 / 143, one true line, and no model file unless a complete one. The four places that decide
whether a label is usable agree (``surrogates.usable_labels``).
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

import bellcore as bc
import runs
import surrogates
from runs.files import _layout as L
from runs.cli._cli import app
from surrogates import STATUS_NAMES, DatasetSpec

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
TRAIN = ["--members", "1", "--epochs", "3", "--no-progress", "--no-augment", "--seed", "1"]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile_train")
    spec = DatasetSpec.create("bell", bc.BellScenario.binary(2), "uniform-ns", 60, 1, chunk_size=60)
    runs.run_dataset(spec, d / "data.h5")
    res = runner.invoke(app, ["train", str(d / "data.h5"), "--out", str(d / "model.h5"), *TRAIN])
    assert res.exit_code == 0, res.output
    np.save(d / "p.npy", np.stack([bc.tsirelson().numpy(), bc.pr_box().numpy()]))
    return d


def _sha(paths) -> dict[str, str]:
    return {str(p): hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths if Path(p).is_file()}


# ------------------------------------------------------------------------------------------------ damage
def _attr(path, name, value, where="/"):
    with h5py.File(path, "r+") as f:
        f[where].attrs[name] = value


def _nan_behaviour(p):
    with h5py.File(p, "r+") as f:
        f["behaviours"][3, 0, 0, 0, 0] = np.nan


def _scenario(p):
    _attr(p, L.SCENARIO_JSON, json.dumps(bc.BellScenario.binary(3).to_json()), f"/{L.SCENARIO}")


def _terabytes(p):
    with h5py.File(p, "r+") as f:
        cfg = json.loads(f[L.CONFIG].attrs[L.CONFIG_JSON])
        cfg["n"] = 10**12
        f[L.CONFIG].attrs[L.CONFIG_JSON] = json.dumps(cfg)
        for name in ("behaviours", "labels/nl", "labels/nl_status", "labels/nl_certified", "labels/nonlocal"):
            f[name].resize(10**12, axis=0)
        f.attrs[L.ROWS_COMPLETE] = 10**12


def _link_loop(p):
    with h5py.File(p, "r+") as f:
        del f["labels/nl"]
        f["labels/nl"] = h5py.SoftLink("/labels/nl")


def _external(p):
    with h5py.File(p, "r+") as f:
        del f["labels/nl"]
        f["labels/nl"] = h5py.ExternalLink("elsewhere.h5", "/nl")


def _float32_behaviours(p):
    with h5py.File(p, "r+") as f:
        b = f["behaviours"][()]
        del f["behaviours"]
        f.create_dataset("behaviours", data=b.astype(np.float32))


def _model_member_deleted(p):
    with h5py.File(p, "r+") as f:
        g = f[f"{L.MODEL}/{L.MODEL_MEMBERS}"]
        del g[next(iter(g))]


def _model_attr_removed(p):
    with h5py.File(p, "r+") as f:
        del f[L.MODEL].attrs[L.MODEL_HYPERPARAMETERS]


def _model_array(name, fn):
    def damage(p):
        with h5py.File(p, "r+") as f:
            a = f[f"{L.MODEL}/{name}"][()]
            del f[f"{L.MODEL}/{name}"]
            f.create_dataset(f"{L.MODEL}/{name}", data=fn(a))
    return damage


def _model_nan_weights(p):
    """NaN member parameters, written as the serialised bytes a trained member would have."""
    import equinox as eqx
    import io
    import jax

    mf = runs.read_model(p)
    spec, grp = mf.surrogate.ensemble.specs[0], mf.surrogate.ensemble.groups[0]
    bad = jax.tree_util.tree_map(lambda x: x * np.nan if eqx.is_array(x) else x, grp)
    buf = io.BytesIO()
    eqx.tree_serialise_leaves(buf, bad)
    with h5py.File(p, "r+") as f:
        ds = f[f"{L.MODEL}/{L.MODEL_MEMBERS}/{spec.name}"]
        assert ds.shape[0] == len(buf.getvalue())
        ds[...] = np.frombuffer(buf.getvalue(), np.uint8)


def _forged_hyper(p):
    with h5py.File(p, "r+") as f:
        h = json.loads(f[L.MODEL].attrs[L.MODEL_HYPERPARAMETERS])
        h["groups"][0]["members"] = 1000  # the group's name keeps; its skeleton needs 1000x the stored bytes
        f[L.MODEL].attrs[L.MODEL_HYPERPARAMETERS] = json.dumps(h)


def _npy_huge(d):
    """A .npy whose header declares 10**12 behaviours of 16 numbers over 128 bytes of data."""
    p = d / "huge.npy"
    np.save(p, np.zeros((1, 2, 2, 2, 2)))
    raw = p.read_bytes()
    header = raw[: raw.index(b"\n") + 1].replace(b"(1, 2, 2, 2, 2)", b"(1000000000000, 2, 2, 2, 2)")
    body = raw[raw.index(b"\n") + 1:]
    pad = (64 - (len(header) % 64)) % 64
    header = header[:-1] + b" " * pad + b"\n"
    header = header[:8] + (len(header) - 10).to_bytes(2, "little") + header[10:]
    p.write_bytes(header + body)
    return p


def _npy_empty(d):
    np.save(d / "empty.npy", np.zeros((0, 2, 2, 2, 2)))
    return d / "empty.npy"


# (name, command template, file to damage ("data" / "model" / None), damage, expected text in the error line).
# The command template's {data} / {model} / {out} / {plot} / {inputs} are filled per case.
CASES = [
    ("rows_complete -5", ["train", "{data}", "--out", "{out}"], "data", lambda p: _attr(p, L.ROWS_COMPLETE, -5), "rows_complete"),
    ("rows_complete past the data", ["train", "{data}", "--out", "{out}"], "data", lambda p: _attr(p, L.ROWS_COMPLETE, 10**6), "rows_complete"),
    ("NaN behaviour", ["train", "{data}", "--out", "{out}"], "data", _nan_behaviour, "NaN"),
    ("scenario attribute changed", ["train", "{data}", "--out", "{out}"], "data", _scenario, "scenario"),
    ("dataset still running", ["train", "{data}", "--out", "{out}"], "data", lambda p: _attr(p, L.STATUS, "running"), "running"),
    ("dataset failed", ["train", "{data}", "--out", "{out}"], "data", lambda p: _attr(p, L.STATUS, "failed"), "failed"),
    ("declares terabytes", ["train", "{data}", "--out", "{out}"], "data", _terabytes, "declares"),
    ("soft-link loop", ["train", "{data}", "--out", "{out}"], "data", _link_loop, "SoftLink"),
    ("external link", ["train", "{data}", "--out", "{out}"], "data", _external, "ExternalLink"),
    ("float32 behaviours", ["train", "{data}", "--out", "{out}"], "data", _float32_behaviours, "dtype"),
    ("negative seed", ["train", "{data}", "--out", "{out}", "--seed", "-1"], None, None, "--seed"),
    ("seed 2**63", ["train", "{data}", "--out", "{out}", "--seed", str(2**63)], None, None, "--seed"),
    ("members 1e9", ["train", "{data}", "--out", "{out}", "--members", "1000000000"], None, None, "--members"),
    ("--out in a missing folder", ["train", "{data}", "--out", "{missing}/x.h5"], None, None, "does not exist"),
    ("--max-rows 5", ["train", "{data}", "--out", "{out}", "--max-rows", "5"], None, None, "--max-rows"),
    ("model: NaN member weights", ["predict", "{model}", "{inputs}", "--json"], "model", _model_nan_weights, "NaN"),
    ("model: NaN x_std", ["predict", "{model}", "{inputs}", "--json"], "model", _model_array(L.MODEL_X_STD, lambda a: a * np.nan), "NaN"),
    ("model: NaN blend weights", ["predict", "{model}", "{inputs}", "--json"], "model", _model_array(L.MODEL_BLEND_WEIGHTS, lambda a: a * np.nan), "NaN"),
    ("model: member deleted", ["predict", "{model}", "{inputs}"], "model", _model_member_deleted, "lacks"),
    ("model: attribute removed", ["predict", "{model}", "{inputs}"], "model", _model_attr_removed, "damaged"),
    ("model: x_mean wrong shape", ["predict", "{model}", "{inputs}"], "model", _model_array(L.MODEL_X_MEAN, lambda a: a[:3]), "shape"),
    ("model: weights as integers", ["predict", "{model}", "{inputs}"], "model", _model_array(L.MODEL_BLEND_WEIGHTS, lambda a: a.astype(np.int64)), "dtype"),
    ("model: forged member count", ["predict", "{model}", "{inputs}"], "model", _forged_hyper, "bytes"),
    ("model: evaluate a damaged model", ["evaluate", "{model}", "{data}", "--plot", "{plot}"], "model", _model_member_deleted, "lacks"),
    ("predict an empty batch", ["predict", "{model}", "{empty}"], None, None, "no behaviours"),
    ("predict a .npy declaring 1e12 rows", ["predict", "{model}", "{huge}"], None, None, "header"),
    ("evaluate --plot to a missing folder", ["evaluate", "{model}", "{data}", "--plot", "{missing}/f.png"], None, None, "does not exist"),
    ("evaluate --plot over an existing file", ["evaluate", "{model}", "{data}", "--plot", "{existing}"], None, None, "already exists"),
    ("evaluate --plot without a figure suffix", ["evaluate", "{model}", "{data}", "--plot", "{out}"], None, None, "--plot"),
    ("evaluate on a running test set", ["evaluate", "{model}", "{data}", "--plot", "{plot}"], "data", lambda p: _attr(p, L.STATUS, "running"), "running"),
]


@pytest.mark.parametrize("name,cmd,damaged,damage,expect", CASES, ids=[c[0] for c in CASES])
def test_hostile_input_is_refused_in_one_line(base, tmp_path, name, cmd, damaged, damage, expect):
    data, model = tmp_path / "data.h5", tmp_path / "model.h5"
    shutil.copy(base / "data.h5", data)
    shutil.copy(base / "model.h5", model)
    (tmp_path / "existing.png").write_bytes(b"not to be overwritten")
    if damage is not None:
        damage({"data": data, "model": model}[damaged])
    names = {"data": data, "model": model, "out": tmp_path / "out.h5", "plot": tmp_path / "fig.png",
             "inputs": base / "p.npy", "missing": tmp_path / "missing", "existing": tmp_path / "existing.png",
             "empty": _npy_empty(tmp_path), "huge": _npy_huge(tmp_path)}
    args = [a.format(**names) for a in cmd]
    inputs = [data, model, base / "p.npy", names["empty"], names["huge"], names["existing"]]
    before = _sha(inputs)
    res = runner.invoke(app, args)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.exit_code == 2, (res.exit_code, res.output, repr(res.exception))
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert expect in lines[0], lines[0]
    assert res.stdout == "", res.stdout  # nothing printed (predict never prints a NaN)
    assert _sha(inputs) == before
    assert not (tmp_path / "out.h5").exists() and not (tmp_path / "fig.png").exists()
    assert not (tmp_path / "missing").exists()


# ------------------------------------------------------------------------------------------------ interrupts
_SENT: list[int] = []


def _signal_self(sig):
    """One signal per test, however often the patched function is called (a second one would reach the test
    process after the command has restored the default handlers)."""
    if not _SENT:
        _SENT.append(sig)
        os.kill(os.getpid(), sig)


def _moment(monkeypatch, moment: str, sig):
    """Arrange for ``sig`` to reach this process at ``moment`` of the next ``train``."""
    _SENT.clear()
    import runs.files._model_file as mr
    import runs.files._store as st
    import surrogates._surrogate as ss

    if moment in ("epoch", "gc"):
        real = surrogates.fit_surrogate

        def fit(*a, progress=None, **k):
            sent = []

            def cb(done, total, info):
                if done >= 1 and not sent:
                    sent.append(1)
                    if moment == "epoch":
                        _signal_self(sig)
                    else:  # delivered inside a gc callback: Python reports it as "ignored" and goes on
                        def in_gc(phase, info):
                            if phase == "start" and in_gc in gc.callbacks:
                                gc.callbacks.remove(in_gc)
                                _signal_self(sig)
                        gc.callbacks.append(in_gc)
                        gc.collect()
                if progress is not None:
                    progress(done, total, info)

            return real(*a, progress=cb, **k)

        monkeypatch.setattr(surrogates, "fit_surrogate", fit)
    elif moment == "blend":
        real_blend = ss.blend
        monkeypatch.setattr(ss, "blend", lambda *a, **k: (_signal_self(sig), real_blend(*a, **k))[1])
    elif moment == "create":
        real_prov = st.provenance
        monkeypatch.setattr(st, "provenance", lambda *a, **k: (_signal_self(sig), real_prov(*a, **k))[1])
    elif moment == "write":
        real_summary = mr._summary
        monkeypatch.setattr(mr, "_summary", lambda *a, **k: (_signal_self(sig), real_summary(*a, **k))[1])
    elif moment == "after":
        real_read = mr.read_model
        monkeypatch.setattr(mr, "read_model", lambda *a, **k: (_signal_self(sig), real_read(*a, **k))[1])


MOMENTS = [("epoch", signal.SIGINT), ("epoch", signal.SIGTERM), ("gc", signal.SIGINT), ("gc", signal.SIGTERM),
           ("blend", signal.SIGINT), ("create", signal.SIGTERM), ("write", signal.SIGINT), ("after", signal.SIGTERM)]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the gc rows: the swallow itself
@pytest.mark.parametrize("moment,sig", MOMENTS, ids=[f"{m}-{s.name}" for m, s in MOMENTS])
def test_interrupted_train_leaves_no_partial_model(base, tmp_path, monkeypatch, moment, sig):
    out = tmp_path / "m.h5"
    before = _sha([base / "data.h5"])
    _moment(monkeypatch, moment, sig)
    res = runner.invoke(app, ["train", str(base / "data.h5"), "--out", str(out), *TRAIN])
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.exit_code == (130 if sig == signal.SIGINT else 143), (res.output, repr(res.exception))
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("interrupted: " if sig == signal.SIGINT else "terminated (SIGTERM): "), lines
    assert _sha([base / "data.h5"]) == before
    if moment == "after":  # the model was complete before the signal: it stays, and the line says so
        assert "is complete" in lines[0] and runs.read_model(out).surrogate.ensemble.n_members == 1
    else:
        assert "no model was written" in lines[0] and not out.exists()


_DRIVER = """
import os, signal, sys
import jax._src.compiler as compiler
sig = getattr(signal, sys.argv[1])
real = compiler.backend_compile_and_load
def compile_and_signal(*a, **k):
    os.kill(os.getpid(), sig)  # delivered when XLA's compile returns to Python
    return real(*a, **k)
compiler.backend_compile_and_load = compile_and_signal
sys.argv = ["bellscope", "train", *sys.argv[2:]]
from runs.cli._cli import main
main()
"""


@pytest.mark.parametrize("sig,repeat", [("SIGINT", 0), ("SIGTERM", 0), ("SIGINT", 1)])
def test_interrupt_during_compile_from_the_command_line(base, tmp_path, sig, repeat):
    """The real entry point (not CliRunner): an interrupt inside JAX compilation once crashed the interpreter's
    teardown intermittently (exit 139); now 130 / 143 and one line, every time."""
    out = tmp_path / "m.h5"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONFAULTHANDLER": "1"}
    p = subprocess.run([sys.executable, "-c", _DRIVER, sig, str(base / "data.h5"), "--out", str(out), *TRAIN],
                       capture_output=True, text=True, env=env, timeout=300)
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == (130 if sig == "SIGINT" else 143), p.stderr[-2000:]
    assert len(lines) == 1 and "no model was written" in lines[0], p.stderr[-2000:]
    assert not out.exists()


# ------------------------------------------------------------------------------------------------ one label rule
def test_the_label_rules_agree(base, tmp_path, monkeypatch):
    """training_data, reproduce's test set and the learning labeller (runs/jobs/_learn_run.py) admit exactly the
    rows ``surrogates.usable_labels`` admits, for NL (a Bell pair) and NBL (a network)."""
    import certify
    from runs.pipeline import _reproduce
    from runs.jobs._learn_run import Labeller
    from runs.jobs._dataset_run import read_dataset
    from surrogates import training_data

    statuses = [s.value for s in certify.Status]
    n = 60
    st = [statuses[i % len(statuses)] for i in range(n)]
    lo = np.linspace(0.0, 0.5, n)
    up = lo + 0.01
    lo[5], up[7] = np.nan, np.inf  # non-finite ends are never labels
    for target in ("nl", "nbl"):
        expect = surrogates.usable_labels(np.array(st, object), surrogates.nbl_target(lo, up), target)
        assert 10 <= expect.sum() < n
        # the learning labeller (certify stubbed to answer the statuses above)
        rows = iter(range(n))

        def fake(*a, **k):
            i = next(rows)
            return SimpleNamespace(status=certify.Status(st[i]), lower=lo[i], upper=up[i], tripartite=0.0,
                                   method="branch-and-bound")

        monkeypatch.setattr(certify, "nonlocality", fake)
        monkeypatch.setattr(certify, "nbl_label", fake)
        scen = bc.BilocalScenario("bsm") if target == "nbl" else bc.BellScenario.binary(2)
        cfg = SimpleNamespace(seed=0, certify=SimpleNamespace(nbl_tol=1e-4, nbl_time_limit=10.0, nbl_max_nodes=10),
                              learn=SimpleNamespace(label_time_limit=1.0, workers=1))  # what Labeller reads
        with Labeller(cfg, scen) as label:
            got = label(np.zeros((n, *scen.shape)))
        assert np.array_equal(got.ok, expect), target
        assert np.isfinite(got.y[got.ok]).all() and np.isnan(got.y[~got.ok]).all()
    # training_data and reproduce's test set on a dataset file holding these NL statuses and values
    f = tmp_path / "labels.h5"
    shutil.copy(base / "data.h5", f)
    with h5py.File(f, "r+") as h:
        enum = h5py.check_enum_dtype(h["labels/nl_status"].dtype)
        h["labels/nl_status"][...] = np.array([enum[s] for s in st], np.uint8)
        h["labels/nl"][...] = up
    spec, data, _ = read_dataset(f)
    expect = surrogates.usable_labels(np.array(st, object), up, "nl")
    _, y, info = training_data(spec, data, "nl")
    assert info["used"] == expect.sum() and np.array_equal(y, up[expect])
    _, y_test = _reproduce._test_set({"dataset:x-test": f}, "x", "nl")
    assert np.array_equal(y_test, up[expect])
    assert STATUS_NAMES  # codes are read through the file's enum names
