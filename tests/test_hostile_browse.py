"""Hostile inputs to ``certify`` and ``runs ls|show|plot|export``: one table, one row per case.

Each refusal row checks: the exit code, exactly one ``error:`` line (no traceback, no escape sequence), every file
in the folder byte-identical and nothing created. Each display row checks that what a file supplies reaches the
terminal escaped and cut. Interrupt rows send SIGINT / SIGTERM to a real process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

import bellcore as bc
from runs.files import _layout as L

from ._hostile import ESC, assert_one_error, run_cli, snapshot
from ._runfiles import make_model

ROOT = Path(__file__).resolve().parents[1]


def _tsirelson() -> np.ndarray:
    return bc.tsirelson().numpy()


def _many_distinct_m4(n: int) -> np.ndarray:
    """``n`` different m = 4 behaviours (a PR box on settings 0-1 mixed with white noise at visibilities spread
    over [0.3, 0.9]): each one is its own LP, so no shortcut makes the batch fast."""
    m = 4
    pr = np.zeros((2, 2, m, m))
    for a in range(2):
        for b in range(2):
            for x in range(m):
                for y in range(m):
                    pr[a, b, x, y] = 0.5 if (a ^ b) == (x * y if x < 2 and y < 2 else 0) else 0.0
    v = np.linspace(0.3, 0.9, n)[:, None, None, None, None]
    return v * pr + (1 - v) * 0.25


# ------------------------------------------------------------------------------------------ file builders
def _npy_header_only(path: Path) -> None:
    """A valid .npy header declaring 10^12 behaviours, and no data."""
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(
            fh, {"descr": "<f8", "fortran_order": False, "shape": (10**12, 2, 2, 2, 2)}
        )


def _h5(build):
    def write(path: Path) -> None:
        with h5py.File(path, "w") as f:
            build(f)

    return write


def _run_like(rows_complete, n: int = 3, status: str = L.STATUS_COMPLETE):
    """A file with bellscope's root attributes and ``n`` behaviours, claiming ``rows_complete``."""

    def build(f):
        f.attrs[L.KIND] = L.KIND_DATASET
        f.attrs[L.STATUS] = status
        f.attrs[L.ROWS_COMPLETE] = rows_complete
        f.create_dataset(L.BEHAVIOURS, data=np.stack([_tsirelson()] * n))

    return _h5(build)


def _soft_self(f):
    f[L.BEHAVIOURS] = h5py.SoftLink("/" + L.BEHAVIOURS)


def _external(f):
    f[L.BEHAVIOURS] = h5py.ExternalLink("elsewhere.h5", "/" + L.BEHAVIOURS)


def _terabytes(f):
    f.create_dataset(L.BEHAVIOURS, shape=(10**12, 2, 2, 2, 2), dtype="f8", chunks=(1, 2, 2, 2, 2))


def _external_label(f):
    f.attrs.update({L.KIND: L.KIND_DATASET, L.STATUS: L.STATUS_COMPLETE, L.ROWS_COMPLETE: 1})
    f.create_dataset(L.BEHAVIOURS, data=_tsirelson()[None])
    f.create_group(L.LABELS)["nl"] = h5py.ExternalLink("other.h5", "/nl")


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _link_loop(path: Path) -> None:
    os.symlink(path.name, path)


def _dir(path: Path) -> None:
    path.mkdir()


# name, builder, argv (FILE = the built file), exit code, substring of the error line
CERTIFY_ROWS = [
    ("header-1e12.npy", _npy_header_only, ["certify", "FILE"], 2, "declares shape"),
    ("complex-zero-imag.npy", lambda p: np.save(p, _tsirelson().astype(complex)), ["certify", "FILE"], 2, "complex"),
    ("empty-batch.npy", lambda p: np.save(p, np.zeros((0, 2, 2, 2, 2))), ["certify", "FILE"], 2, "empty batch"),
    ("soft-loop.h5", _h5(_soft_self), ["certify", "FILE"], 2, "soft link"),
    ("external.h5", _h5(_external), ["certify", "FILE"], 2, "external link"),
    ("terabytes.h5", _h5(_terabytes), ["certify", "FILE"], 2, "GiB"),
    ("rows-negative.h5", _run_like(-5), ["certify", "FILE"], 2, "outside 0..3"),
    ("rows-past-end.h5", _run_like(100), ["certify", "FILE"], 2, "outside 0..3"),
    ("rows-text.h5", _run_like("3"), ["certify", "FILE"], 2, "not an integer"),
    ("fifo.npy", _fifo, ["certify", "FILE"], 2, "not a regular file"),
    ("loop.npy", _link_loop, ["certify", "FILE"], 2, "cannot read"),
    ("folder.npy", _dir, ["certify", "FILE"], 2, "is a directory"),
    ("fifo.h5", _fifo, ["runs", "show", "FILE"], 2, "not a regular file"),
    ("terabytes-show.h5", _h5(_terabytes), ["runs", "show", "FILE", "/behaviours"], 2, "GiB"),
    ("soft-path.h5", _h5(lambda f: (f.create_group("g"), f.__setitem__("s", h5py.SoftLink("/g")))),
     ["runs", "show", "FILE", "/s"], 2, "soft link"),
    ("fifo-plot.h5", _fifo, ["runs", "plot", "FILE"], 2, "not a regular file"),
    ("soft-export.h5", _h5(_soft_self), ["runs", "export", "FILE", "/behaviours"], 2, "soft link"),
    ("rows-negative-export.h5", _run_like(-5), ["runs", "export", "FILE"], 2, "outside 0..3"),
    ("external-label.h5", _h5(lambda f: _external_label(f)), ["runs", "export", "FILE"], 2, "is a link"),
]


@pytest.mark.parametrize("name,build,argv,code,match", CERTIFY_ROWS, ids=[r[0] for r in CERTIFY_ROWS])
def test_hostile_file_is_refused_in_one_line(tmp_path, name, build, argv, code, match):
    path = tmp_path / name
    build(path)
    before = snapshot(tmp_path)
    res = run_cli(*[str(path) if a == "FILE" else a for a in argv])
    assert_one_error(res, code, match)
    assert snapshot(tmp_path) == before


# ------------------------------------------------------------------------------------------- plot outputs
@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    return make_model(tmp_path_factory.mktemp("model") / "model.h5")


@pytest.mark.parametrize(
    "out,code,match",
    [("missing/plot.png", 2, "does not exist"), ("folder", 2, "is a folder"), ("exists.png", 2, "exists")],
    ids=["missing-folder", "a-folder", "existing-file"],
)
def test_plot_output_is_checked_before_reading(tmp_path, model_file, out, code, match):
    (tmp_path / "folder").mkdir()
    (tmp_path / "exists.png").write_bytes(b"keep me")
    before = snapshot(tmp_path)
    res = run_cli("runs", "plot", str(model_file), "--out", str(tmp_path / out))
    assert_one_error(res, code, match)
    assert snapshot(tmp_path) == before


def test_plot_of_a_damaged_model_is_one_line(tmp_path, model_file):
    path = tmp_path / "damaged.h5"
    path.write_bytes(model_file.read_bytes())
    with h5py.File(path, "a") as f:
        del f[L.TRAINING]
        f.create_dataset(L.TRAINING, data=np.zeros(3))  # a data set where the layout has a group
    before = snapshot(tmp_path)
    res = run_cli("runs", "plot", str(path), "--out", str(tmp_path / "p.png"))
    assert_one_error(res, 2, "damaged model file")
    assert snapshot(tmp_path) == before


# ------------------------------------------------------------------------------- untrusted text on display
def _hostile_run(path: Path, headline: str, kind: str = L.KIND_DATASET) -> None:
    with h5py.File(path, "w") as f:
        f.attrs[L.KIND] = kind
        f.attrs[L.STATUS] = "complete\x1b[2J"
        f.attrs[L.CREATED] = "2026\x1b]0;pwned\x07"
        f.attrs[L.SUMMARY] = json.dumps({L.HEADLINE: headline})
        f.create_group(L.SCENARIO).attrs[L.SCENARIO_JSON] = "\x1b[31mred"


def test_ls_escapes_and_cuts_what_files_say(tmp_path):
    _hostile_run(tmp_path / "esc.h5", "\x1b[2J\x1b[H clear screen [bold]markup[/bold]")
    _hostile_run(tmp_path / "big.h5", "x" * 2_000_000)
    _hostile_run(tmp_path / "weird.h5", "ok", kind="\x1b[5mblink")
    for argv in (["runs", "ls", str(tmp_path)], ["runs", "ls", str(tmp_path), "--json"]):
        res = run_cli(*argv)
        assert res.code == 0, res.stderr
        assert ESC not in res.stdout and "\x07" not in res.stdout
        assert len(res.stdout) < 20_000, len(res.stdout)  # a 2 MB headline is cut
    table = run_cli("runs", "ls", str(tmp_path)).stdout
    assert "\\x1b" in table and "[bold]markup" in table  # shown as text, not executed


def test_show_does_not_follow_links_or_cycles(tmp_path):
    path = tmp_path / "links.h5"
    with h5py.File(path, "w") as f:
        g = f.create_group("g")
        g["cycle"] = g  # a hard link back to its own group
        g["soft"] = h5py.SoftLink("/g")
        g["ext"] = h5py.ExternalLink("/etc/hostname", "/x")
        g.attrs["note"] = "\x1b[2Jhello"
    before = snapshot(tmp_path)
    res = run_cli("runs", "show", str(path))
    assert res.code == 0, res.stderr
    assert "cycle" in res.stdout and "soft -> /g" in res.stdout and "external -> /etc/hostname" in res.stdout
    assert ESC not in res.stdout
    assert snapshot(tmp_path) == before


def test_show_accepts_the_id_ls_prints(tmp_path, model_file):
    (tmp_path / "m.h5").write_bytes(model_file.read_bytes())
    listed = json.loads(run_cli("runs", "ls", str(tmp_path), "--json").stdout.splitlines()[0])
    assert listed["id"] == "m"
    res = run_cli("runs", "show", listed["id"], cwd=tmp_path)
    assert res.code == 0 and "model" in res.stdout, res.stderr
    res = run_cli("runs", "show", "nosuchid", cwd=tmp_path)
    assert_one_error(res, 2, "no such file: nosuchid")


# ------------------------------------------------------------------------------------------------ signals
@pytest.mark.parametrize("sig,code,head", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
@pytest.mark.parametrize("after", [1.5, 5.0], ids=["while-importing", "while-certifying"])
def test_certify_interrupted_exits_with_the_signals_code(tmp_path, sig, code, head, after):
    path = tmp_path / "many.npy"
    np.save(path, _many_distinct_m4(20_000))  # minutes of LPs: the signal always comes first
    before = snapshot(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "runs", "certify", str(path), "--json", "--no-progress"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(after)
    assert proc.poll() is None
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, (proc.returncode, err)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(head), err
    assert out == "" and "Traceback" not in err
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("address", ["notaurl", "tcp://host:99999", "ftp://host:1"])
def test_dataset_bad_scheduler_is_refused_before_any_file(tmp_path, address):
    before = snapshot(tmp_path)
    res = run_cli("dataset", "--scenario", "bell", "--settings", "2", "--n", "10", "--seed", "1",
                  "--out", str(tmp_path / "d.h5"), "--scheduler", address, "--no-progress")
    assert_one_error(res, 2, "--scheduler")
    assert snapshot(tmp_path) == before


def test_discover_refuses_a_damaged_model_in_one_line(tmp_path):
    (tmp_path / "bad.h5").write_bytes(b"garbage, not HDF5")
    before = snapshot(tmp_path)
    res = run_cli("discover", "--config", "fig3b", "--model", str(tmp_path / "bad.h5"), "--out", str(tmp_path / "d.h5"),
                  "--no-progress")
    assert_one_error(res, 2, "not an HDF5 file")  # was exit 1, "discover stopped with OSError"
    assert snapshot(tmp_path) == before
