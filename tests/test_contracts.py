"""The contracts the other packages build on: CLI registration, progress callbacks, status groups, throw=."""

import subprocess
import sys

import numpy as np
import pytest

import bellcore as bc
import certify
from certify import FAILED, LIMITED, SOLVED, CertificationError, Status


def test_status_groups_partition_the_statuses():
    assert SOLVED | LIMITED | FAILED == frozenset(Status)
    assert not (SOLVED & LIMITED) and not (SOLVED & FAILED) and not (LIMITED & FAILED)
    assert Status.OPTIMAL in SOLVED and Status.INACCURATE in SOLVED and Status.LIMIT in LIMITED


def test_every_result_keeps_the_solvers_native_status():
    assert certify.nonlocality(bc.pr_box()).solver_status == "kOptimal"
    assert certify.visibility(bc.pr_box()).solver_status == "kOptimal"
    r = certify.nonbilocality(bc.bilocal_werner(0.9, "binary"), tol=1e-2)
    assert r.solver_status == "kOptimal" and r.to_json()["solver_status"] == "kOptimal"


def test_throw_raises_with_the_result_attached():
    r = certify.nonbilocality(bc.bilocal_werner(0.9, "binary"), tol=1e-12, max_nodes=2)
    assert r.status in LIMITED
    with pytest.raises(CertificationError) as e:
        certify.nonbilocality(bc.bilocal_werner(0.9, "binary"), tol=1e-12, max_nodes=2, throw=True)
    assert e.value.result.status == Status.LIMIT and "limit" in str(e.value)
    assert certify.nonlocality(bc.pr_box(), throw=True).value == pytest.approx(0.25)


def test_certify_many_throw():
    with pytest.raises(CertificationError) as e:
        certify.certify_many([bc.bilocal_werner(0.9, "binary")], measure="nbl", tol=1e-12, max_nodes=2, throw=True)
    assert e.value.result.status in LIMITED


def test_progress_callbacks_get_absolute_counts():
    seen = []
    batch = np.stack([bc.isotropic_pr(v).numpy() for v in np.linspace(0.3, 1, 5)])
    certify.nonlocality_many(batch, chunk_size=2, progress=lambda d, t, info: seen.append((d, t, dict(info))))
    assert [s[0] for s in seen] == [0, 2, 4, 5] and {s[1] for s in seen} == {5}


def test_rich_progress_draws_on_stderr_and_can_be_disabled(capsys):
    from runs import rich_progress

    with rich_progress("work", 3) as cb:
        for k in range(4):
            cb(k, 3, {"loss": 0.5, "phase": "a"})
    with rich_progress("off", 3, enabled=False) as cb:
        cb(1, 3, {})
    out = capsys.readouterr()
    assert out.out == ""


def test_library_packages_never_import_rich_or_the_cli():
    code = (
        "import sys, bellcore, certify, surrogates, discover; "
        "bad = [m for m in sys.modules if m == 'rich' or m.startswith('rich.') or m.startswith('runs')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_command_modules_do_not_import_the_cli():
    import pathlib

    import runs

    for path in pathlib.Path(runs.__file__).parent.glob("_cmd_*.py"):
        text = path.read_text()
        assert "_cli" not in text, f"{path.name} imports _cli"
    from runs.cli._cli import app

    names = {c.name for c in app.registered_commands}
    assert {"certify", "dataset", "demo"} <= names
