"""Hostile inputs to ``campaign``, ``discover`` and ``reproduce`` (issue 14), one row per case: the exit code, exactly
one ``error:`` line on stderr, every input file byte-identical (sha256), and no file the refused command created (in
particular none left ``complete`` or ``running``). Then SIGINT / SIGTERM at several moments, in subprocesses."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import h5py
import pytest
from typer.testing import CliRunner

import runs
import runs.pipeline._campaign as C
from runs.files import _layout as L
from runs.pipeline._campaign import parse_campaign, run_campaign, stage_file, stage_hashes
from runs.cli._cli import app

from ._runfiles import make_discovery, make_model
from .test_campaign import stamp_discovery, stamp_model

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]

REF = """
[campaign]
name = "ref"
seed = 3

[[dataset]]
name = "m2"
scenario = "bell"
settings = 2
n = 40
chunk_size = 40
"""

BILOCAL = """
[campaign]
name = "net"
seed = 3

[[dataset]]
name = "swap"
scenario = "bilocal"
variant = "bsm"
sampler = "features-ij"
n = 24
chunk_size = 3
nbl_max_nodes = 300

[[train]]
name = "net"
dataset = "swap"
target = "nbl"
preset = "quick"
members = 2
feature_set = "ij"
"""

DISCOVER = """
[campaign]
name = "d"
seed = 3

[[discover]]
name = "search"
config = "smoke"
quick = true

[certify]
top = 2
tol = 1e-3
max_nodes = 300
"""


@pytest.fixture(scope="module")
def ref(tmp_path_factory) -> Path:
    """A complete Bell dataset file (the campaign REF's only stage)."""
    d = tmp_path_factory.mktemp("ref")
    res = run_campaign(parse_campaign(REF), d)
    return res.stages[0].file


def _expected(text: str, kind: str, name: str, runs_dir: Path) -> Path:
    camp = parse_campaign(text)
    h = stage_hashes(camp)
    (s,) = [s for s in camp.stages if s.kind == kind and s.name == name]
    return stage_file(runs_dir, s, h[s.key], camp)


def _write(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.write_text(text)
    return p


# ----------------------------------------------------------------------------------------------- case setups
# Each returns the argv of the command; every file it writes is an input (hashed before, compared after).
def foreign_dataset(tmp: Path, ref: Path) -> list[str]:
    """A complete dataset of another config (n = 40) under the name of the n = 60 stage."""
    text = REF.replace("n = 40", "n = 60")
    cfg = _write(tmp, "c.toml", text)
    d = tmp / "res"
    d.mkdir()
    shutil.copy(ref, _expected(text, "dataset", "m2", d))
    return ["campaign", str(cfg), "-d", str(d), "--no-progress"]


def bell_model_in_bilocal_campaign(tmp: Path, ref: Path) -> list[str]:
    """A complete model trained on a Bell dataset under the name of a bilocal campaign's train stage."""
    cfg = _write(tmp, "c.toml", BILOCAL)
    d = tmp / "res"
    d.mkdir()
    out = _expected(BILOCAL, "train", "net", d)
    make_model(out)
    stamp_model(out, ref, target="nbl", preset="quick", members=2, seed=3)
    return ["campaign", str(cfg), "-d", str(d), "--no-progress"]


def model_trained_on_another_dataset(tmp: Path, ref: Path) -> list[str]:
    """Right scenario and options, but trained on a dataset of another config hash."""
    cfg = _write(tmp, "c.toml", BILOCAL)
    d = tmp / "res"
    d.mkdir()
    out = _expected(BILOCAL, "train", "net", d)
    make_model(out)
    stamp_model(out, ref, target="nbl", preset="quick", members=2, seed=3)
    with h5py.File(out, "r+") as f:
        f[L.SCENARIO].attrs[L.SCENARIO_JSON] = json.dumps({"kind": "bilocal", "variant": "bsm"})
    return ["campaign", str(cfg), "-d", str(d), "--no-progress"]


def discovery_of_another_config(tmp: Path, ref: Path) -> list[str]:
    cfg = _write(tmp, "c.toml", DISCOVER)
    d = tmp / "res"
    d.mkdir()
    out = _expected(DISCOVER, "discover", "search", d)
    make_discovery(out, n=4)
    stamp_discovery(out, runs.load_discovery_config("restricted-eta"), quick=True, model=None)
    return ["campaign", str(cfg), "-d", str(d), "--no-progress"]


def model_as_discovery(tmp: Path, ref: Path) -> list[str]:
    cfg = _write(tmp, "c.toml", DISCOVER)
    d = tmp / "res"
    d.mkdir()
    make_model(_expected(DISCOVER, "discover", "search", d))
    return ["campaign", str(cfg), "-d", str(d), "--no-progress"]


def campaign_toml(text: str) -> Callable[[Path, Path], list[str]]:
    def setup(tmp: Path, ref: Path) -> list[str]:
        return ["campaign", str(_write(tmp, "c.toml", text)), "-d", str(tmp / "res"), "--no-progress"]

    return setup


def cli(*args: str) -> Callable[[Path, Path], list[str]]:
    def setup(tmp: Path, ref: Path) -> list[str]:
        return [a.replace("{tmp}", str(tmp)) for a in args]

    return setup


def discover_toml(text: str, *extra: str) -> Callable[[Path, Path], list[str]]:
    def setup(tmp: Path, ref: Path) -> list[str]:
        return ["discover", "--config", str(_write(tmp, "d.toml", text)), "--out", str(tmp / "o.h5"), *extra]

    return setup


SMOKE = (ROOT / "runs" / "jobs" / "searches" / "smoke.toml").read_text()


@dataclass(frozen=True)
class Case:
    id: str
    setup: Callable[[Path, Path], list[str]]
    code: int
    match: str


CASES = [
    # 1. a complete file with a stage's name is reused only when it is that stage's
    Case("campaign-foreign-dataset", foreign_dataset, 2, "not made by this stage"),
    Case("campaign-bell-model-in-bilocal", bell_model_in_bilocal_campaign, 2, "scenario"),
    Case("campaign-model-of-other-dataset", model_trained_on_another_dataset, 2, "was trained on dataset"),
    Case("campaign-discovery-other-config", discovery_of_another_config, 2, "another discovery config"),
    Case("campaign-model-as-discovery", model_as_discovery, 2, "kind 'model'"),
    # 3. every stage's options checked before the first stage runs (the dataset stage is never computed)
    Case("campaign-train-preset", campaign_toml(BILOCAL.replace('preset = "quick"', 'preset = "nope"')), 2, "preset"),
    Case("campaign-train-members-0", campaign_toml(BILOCAL.replace("members = 2", "members = 0")), 2, "members"),
    Case("campaign-train-target-vs-dataset", campaign_toml(BILOCAL.replace('target = "nbl"', 'target = "nl"')), 2,
         "needs nl labels"),
    Case("campaign-train-overrides", campaign_toml(BILOCAL + "overrides = { bogus = 1 }\n"), 2, "bogus"),
    Case("campaign-certify-tol", campaign_toml(DISCOVER.replace("tol = 1e-3", "tol = -1.0")), 2, "tol"),
    Case("campaign-certify-max-nodes", campaign_toml(DISCOVER.replace("max_nodes = 300", "max_nodes = 0")), 2,
         "max_nodes"),
    Case("campaign-negative-seed", campaign_toml(REF.replace("chunk_size = 40", "chunk_size = 40\nseed = -1")), 2,
         "seed"),
    Case("campaign-discover-quick-type", campaign_toml(DISCOVER.replace("quick = true", 'quick = "yes"')), 2, "quick"),
    # 6. minor
    Case("campaign-scheduler-notaurl", lambda t, r: ["campaign", "-d", str(t / "res"), "--scheduler", "notaurl",
                                                     "--no-progress"], 2, "not an address"),
    Case("campaign-scheduler-bad-port", lambda t, r: ["campaign", "-d", str(t / "res"), "--scheduler",
                                                      "tcp://localhost:99999", "--no-progress"], 2, "port"),
    Case("reproduce-scheduler-notaurl", cli("reproduce", "table2", "-d", "{tmp}/res", "--scheduler", "notaurl"), 2,
         "not an address"),
    Case("discover-top-0", cli("discover", "-c", "smoke", "--top", "0", "-o", "{tmp}/o.h5"), 2, "--top"),
    Case("discover-config-outside", cli("discover", "-c", "../../pyproject", "-o", "{tmp}/o.h5"), 2, "does not exist"),
    Case("discover-config-dir", cli("discover", "-c", "{tmp}", "-o", "{tmp}/o.h5"), 2, "folder"),
    Case("discover-negative-seed", cli("discover", "-c", "smoke", "--seed", "-1", "-o", "{tmp}/o.h5"), 2, "seed"),
    Case("discover-huge-seed", cli("discover", "-c", "smoke", "--seed", str(2**40), "-o", "{tmp}/o.h5"), 2, "seed"),
    Case("discover-missing-folder", cli("discover", "-c", "smoke", "-o", "{tmp}/nowhere/o.h5"), 2, "does not exist"),
    Case("discover-missing-model", cli("discover", "-c", "smoke", "--model", "{tmp}/m.h5", "-o", "{tmp}/o.h5"), 2,
         "does not exist"),
    # 2. bad discover options: refused before any file exists (none left failed)
    Case("discover-bad-optimiser", discover_toml(SMOKE + '\n[[searchers]]\nkind = "nevergrad"\noptimiser = "NGOpt"\n'),
         2, "optimiser"),
    Case("discover-bounds-unknown-path", discover_toml(SMOKE.replace("tripartite_local = true",
                                                                     'tripartite_local = true\nbounds = { "nope" = [0, 1] }')),
         2, "nope"),
    Case("discover-brgp-max-text", discover_toml(SMOKE.replace("brgp_max = 1.0", 'brgp_max = "x"')), 2, "brgp_max"),
    Case("discover-steps-0", discover_toml(SMOKE, "--steps", "0"), 2, "steps"),
    Case("discover-time-budget-negative", discover_toml(SMOKE, "--time-budget", "-1"), 2, "time_budget"),
    Case("discover-top-in-toml", discover_toml(SMOKE.replace("top = 3", "top = 0")), 2, "top"),
    Case("discover-theta-nan", discover_toml(SMOKE, "--theta", "nan"), 2, "theta"),
]


def _hashes(root: Path) -> dict[Path, str]:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()}


def _one_error(stderr: str) -> str:
    lines = [x for x in stderr.splitlines() if x.strip()]
    errors = [x for x in lines if x.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr
    return errors[0]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input_is_refused_in_one_line(case: Case, tmp_path: Path, ref: Path):
    argv = case.setup(tmp_path, ref)
    before = _hashes(tmp_path)
    t0 = time.perf_counter()
    r = runner.invoke(app, argv)
    assert r.exit_code == case.code, (r.exit_code, r.stdout, r.stderr)
    line = _one_error(r.stderr)
    assert case.match in line, line
    after = _hashes(tmp_path)
    assert {p: h for p, h in after.items() if p in before} == before  # every input byte-identical
    assert set(after) == set(before), sorted(set(after) - set(before))  # nothing created by a refused command
    assert time.perf_counter() - t0 < 15  # refused up front (the old --scheduler notaurl waited 20 s)


def test_discover_help_names_only_shipped_configs():
    r = runner.invoke(app, ["discover", "--help"], env={"COLUMNS": "400"})
    assert r.exit_code == 0 and "fig3b-theta" not in r.stdout
    for name in runs.discovery_config_names():
        assert name in r.stdout


def test_damaged_discovery_config_is_an_error_not_no_constraints(tmp_path, monkeypatch):
    """The certify stage reads the discovery's constraints: a config that does not decode stops it in one line;
    the campaign record is never created (before: ``{}``, the BRGP and tripartite checks silently dropped)."""

    def run_discover(config, out, *, quick=False, model=None, progress=None, **kw):
        make_discovery(Path(out), n=4)
        with h5py.File(out, "r+") as f:
            f[L.CONFIG].attrs[L.CONFIG_JSON] = '{"constraints": {"brgp_max": 1.0'  # cut short
        return out

    monkeypatch.setattr(C, "DEFAULT_RUNNERS", C.Runners(discover=run_discover))  # the runners the CLI gets
    cfg = _write(tmp_path, "c.toml", DISCOVER)
    r = runner.invoke(app, ["campaign", str(cfg), "-d", str(tmp_path / "res"), "--no-progress"])
    assert r.exit_code == 2
    assert "cannot read the discovery constraints" in _one_error(r.stderr)
    assert not list((tmp_path / "res").glob("campaign-*.h5"))


def test_crashed_stage_message_is_true_when_no_file_was_written(tmp_path, monkeypatch):
    def run_discover(config, out, **kw):
        raise RuntimeError("search exploded")

    monkeypatch.setattr(C, "DEFAULT_RUNNERS", C.Runners(discover=run_discover))
    cfg = _write(tmp_path, "c.toml", DISCOVER)
    r = runner.invoke(app, ["campaign", str(cfg), "-d", str(tmp_path / "res"), "--no-progress"])
    assert r.exit_code == 1
    line = _one_error(r.stderr)
    assert "no file was written" in line and "marked failed" not in line
    assert "marked failed" not in r.stderr


def test_campaign_hints_never_suggest_resume():
    from runs.cli._cmd_campaign import campaign_text

    msgs = ["x.h5 already exists (use --resume to continue it, or choose another --out)",
            "writing x.h5 stopped: disk full; 3 rows kept, continue with --resume once the cause is fixed",
            "x.h5 was made with a different configuration (...); --resume needs the same arguments"]
    for m in msgs:
        assert "--resume" not in campaign_text(m)


# -------------------------------------------------------------------------------------------------- signals
#: A campaign CLI in a fresh interpreter whose train stage / certify stage waits (so that a signal lands inside it)
#: and whose discover stage writes a small discovery file; the stages' runners behave as the real ones do on an
#: interrupt (their own file marked failed, the exception re-raised).
FAKE_CLI = r"""
import sys, time
from pathlib import Path
from runs.files import _store, _layout as L
import runs.pipeline._campaign as C
import runs.pipeline._certify_stage as CS
from tests._runfiles import make_discovery
from tests.test_campaign import stamp_discovery

def slow_train(dataset, out, **kw):
    f = _store.create_run(out, L.KIND_MODEL, "{}", "x", 0, "d", "{}")
    try:
        print("MARK train", file=sys.stderr, flush=True)
        time.sleep(60)
    except BaseException:
        _store.set_status(f, L.STATUS_FAILED)
        f.close()
        raise

def quick_discover(config, out, *, quick=False, model=None, **kw):
    make_discovery(Path(out), n=4)
    return stamp_discovery(Path(out), config, quick=quick, model=model)

def slow_certify(behs, kw, **k):
    print("MARK certify", file=sys.stderr, flush=True)
    time.sleep(60)

C.DEFAULT_RUNNERS = C.Runners(train=slow_train, discover=quick_discover)  # the runners the command line gets
CS._certify_all = slow_certify
from runs.cli._cli import main
sys.argv = ["bellscope", *sys.argv[1:]]
main()
"""

TRAIN_AFTER_CHSH = """
[campaign]
name = "s"
[[dataset]]
name = "chsh"
scenario = "chsh-correlators"
n = 30
chunk_size = 30
[[train]]
name = "net"
dataset = "chsh"
members = 2
"""


def _wait(proc, until: Callable[[], bool], timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if until():
            return
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"finished before the signal: {proc.returncode} {err[-2000:]}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail("the moment to signal never came")


def _status(path: Path) -> tuple[str, str]:
    with h5py.File(path, "r", locking=False) as f:
        return str(f.attrs[L.STATUS]), json.loads(f.attrs.get(L.SUMMARY, "{}")).get(L.HEADLINE, "")


def _marker(proc, text: str) -> Callable[[], bool]:
    """True once ``text`` appeared on the child's stderr (read line by line, kept for the final checks)."""
    os.set_blocking(proc.stderr.fileno(), False)
    seen: list[str] = []

    def check() -> bool:
        while True:
            line = proc.stderr.readline()
            if not line:
                break
            seen.append(line)
        return any(text in x for x in seen)

    proc._seen = seen
    return check


def _finish(proc, sig) -> tuple[int, list[str]]:
    proc.send_signal(sig)
    try:
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    os.set_blocking(proc.stderr.fileno(), True)
    rest = proc.stderr.read()
    lines = [x for x in "".join(getattr(proc, "_seen", [])).splitlines() + rest.splitlines()
             if x.strip() and not x.startswith("MARK")]
    return proc.returncode, lines


def _last_line(lines: list[str], sig) -> str:
    head = "terminated (SIGTERM): " if sig == signal.SIGTERM else "interrupted: "
    final = [x for x in lines if x.startswith(("interrupted:", "terminated", "error:"))]
    assert len(final) == 1 and final[0].startswith(head), lines
    assert not any("Traceback" in x for x in lines), lines
    return final[0]


def _traces(path: Path) -> int:
    try:
        with h5py.File(path, "r", locking=False) as f:
            return len(f[L.TRACES]) if L.TRACES in f else 0
    except (OSError, KeyError):
        return 0


@pytest.mark.timeout(120)
@pytest.mark.parametrize("sig, code, moment", [(signal.SIGINT, 130, "created"), (signal.SIGTERM, 143, "created"),
                                               (signal.SIGTERM, 143, "traced")])
def test_discover_signal(tmp_path, sig, code, moment):
    """As soon as the run file appears (still being created), and after the first search's trace is written."""
    out = tmp_path / "s.h5"
    proc = subprocess.Popen([sys.executable, "-m", "runs", "discover", "-c", "smoke", "-o", str(out), "--no-progress"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _marker(proc, "")  # collect stderr
    _wait(proc, (lambda: out.exists()) if moment == "created" else (lambda: _traces(out) >= 1))
    rc, lines = _finish(proc, sig)
    assert rc == code
    line = _last_line(lines, sig)
    status, headline = _status(out)
    assert status == L.STATUS_FAILED and str(out) in line and "status failed" in line
    assert headline == ("failed: terminated (SIGTERM)" if sig == signal.SIGTERM else "failed: interrupted (SIGINT)")


@pytest.mark.timeout(120)
def test_campaign_sigterm_in_dataset_stage(tmp_path):
    # 96 rows (not 24): on a quiet machine 24 were sometimes certified before the signal landed, and a complete
    # file is then (rightly) not marked failed
    cfg = _write(tmp_path, "c.toml", BILOCAL.split("[[train]]")[0].replace("n = 24", "n = 96"))
    d = tmp_path / "res"
    proc = subprocess.Popen([sys.executable, "-m", "runs", "campaign", str(cfg), "-d", str(d), "--no-progress"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _marker(proc, "")

    def running() -> bool:  # the file exists *and* is marked running (not half-created: that moment is racy)
        for f in d.glob("dataset-*.h5"):
            try:
                return _status(f)[0] == L.STATUS_RUNNING
            except (OSError, KeyError):
                return False
        return False

    _wait(proc, running)
    rc, lines = _finish(proc, signal.SIGTERM)
    assert rc == 143
    line = _last_line(lines, signal.SIGTERM)
    (f,) = d.glob("dataset-*.h5")
    assert _status(f)[0] == L.STATUS_FAILED and f"{f.name} is marked failed (the next run resumes it)" in line


@pytest.mark.timeout(120)
@pytest.mark.parametrize("stage, sig, code", [("train", signal.SIGINT, 130), ("train", signal.SIGTERM, 143),
                                              ("certify", signal.SIGTERM, 143)])
def test_campaign_signal_inside_train_and_certify_stages(tmp_path, stage, sig, code):
    cfg = _write(tmp_path, "c.toml", TRAIN_AFTER_CHSH if stage == "train" else DISCOVER)
    d = tmp_path / "res"
    proc = subprocess.Popen([sys.executable, "-c", FAKE_CLI, "campaign", str(cfg), "-d", str(d), "--no-progress"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _wait(proc, _marker(proc, f"MARK {stage}"))
    rc, lines = _finish(proc, sig)
    assert rc == code
    line = _last_line(lines, sig)
    (f,) = d.glob(("train" if stage == "train" else "campaign") + "-*.h5")
    status, headline = _status(f)
    assert status == L.STATUS_FAILED and f"{f.name} is marked failed (the next run recomputes it)" in line
    if stage == "certify":
        assert headline == "failed: terminated (SIGTERM)"
    for done in d.glob("*.h5"):  # finished stages stay complete, nothing is left running
        assert _status(done)[0] in (L.STATUS_COMPLETE, L.STATUS_FAILED)
