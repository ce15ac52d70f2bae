"""Discovery runs over a network family (the triangle) through the search config and ``bellscope discover``:
config checks, one small run end to end, the run file read back, and the certificates re-checked from the file."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

import runs
from tests._hostile import assert_one_error, run_cli, snapshot

TRI = {
    "name": "tri", "seed": 2,
    "family": {"scenario": "triangle", "outcomes": 2},
    "objective": {"target": "inflation"},
    "network": {"copies": [1, 1, 2], "amplify": 3.0},
    "searchers": [{"kind": "random", "batch": 6, "steps": 2},
                  {"kind": "gradient", "name": "refine", "starts": 1, "steps": 1, "refine": True}],
    "certify": {"top": 1, "nbl_time_limit": 5.0},
}


def test_network_config_defaults_and_refusals():
    cfg = runs.parse_discovery_config({**TRI, "network": {}})
    assert cfg.network.copies == (1, 1, 2) and cfg.network.amplify == 0.0 and cfg.measure == "network"
    assert runs.parse_discovery_config(cfg.to_json()) == cfg
    bad = [
        ({"objective": {"target": "surrogate"}}, "target 'inflation'"),
        ({"network": {"copies": [1, 2]}}, "one copy count per source"),
        ({"network": {"copies": [1, 1, 9]}}, "copies"),
        ({"network": {"amplify": -1}}, "amplify"),
        ({"network": {"colour": 1}}, "unknown key"),
        ({"scan": {"theta": [0.5]}}, "not available for network"),
        ({"constraints": {"tripartite_local": True}}, "bounds only"),
        ({"searchers": [{"kind": "gradient", "refine": True}]}, "add one without refine"),
    ]
    for patch, words in bad:
        with pytest.raises(ValueError, match=words):
            runs.parse_discovery_config({**TRI, **patch})
    bilocal = {"family": {"scenario": "bilocal", "sources": "theta", "bob": "product"},
               "objective": {"target": "brgp"}, "searchers": [{"kind": "random"}]}
    with pytest.raises(ValueError, match="needs a network family"):
        runs.parse_discovery_config({**bilocal, "searchers": [{"kind": "random", "target": "inflation"}]})
    with pytest.raises(ValueError, match=r"\[network\] applies"):
        runs.parse_discovery_config({**bilocal, "network": {}})


def test_triangle_discovery_run_end_to_end(tmp_path):
    import certify
    from bellcore import network_behaviour, triangle

    out = runs.run_discover(TRI, tmp_path / "tri.h5")
    data = runs.read_discovery(out)
    c = data["candidates"]
    assert data["status"] == "complete" and len(c["network_lower"]) == 1
    assert set(data["traces"]) == {"random", "refine"}
    assert data["summary"]["headline"].startswith("tri:")
    lo, up = float(c["network_lower"][0]), float(c["network_upper"][0])
    assert 0 <= lo <= up and str(c["network_status"][0]) in ("optimal", "limit")
    # the stored behaviour is re-certified from the file: the same interval (same seed and options)
    r = certify.network_nonlocality(network_behaviour(c["behaviour"][0], triangle(2)), tol=1e-5, time_limit=5.0,
                                    seed=2)
    assert r.lower == pytest.approx(lo, abs=1e-9) and bool(c["discovery"][0]) == (lo > certify.ZERO_TOL)
    with h5py.File(out, "r") as f:
        stored = json.loads(f["config"].attrs["json"])
    assert stored["network"] == {"copies": [1, 1, 2], "amplify": 3.0}
    assert np.isfinite(c["value"]).all()


def test_cli_refuses_a_model_for_a_network_family(tmp_path):
    cfg = tmp_path / "tri.toml"
    cfg.write_text('[family]\nscenario = "triangle"\n[objective]\ntarget = "inflation"\n[[searchers]]\nkind = "random"\n')
    (tmp_path / "m.h5").write_bytes(b"")
    before = snapshot(tmp_path)
    r = run_cli("discover", "--config", cfg, "--out", tmp_path / "x.h5", "--model", tmp_path / "m.h5",
                "--no-progress")
    assert_one_error(r, 2, "takes no model")
    assert snapshot(tmp_path) == before
