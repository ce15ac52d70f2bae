"""One rule per concept (issue 14): what a discovery is (``discover.is_discovery``, used by ``discover`` and by the
campaign's certify stage) and what a status code in a file means (``runs.files._layout.STATUS_CODES``, one table for
dataset, discovery and campaign files; old discovery files read through their stored enum mapping)."""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass

import h5py
import numpy as np
import pytest

import certify
import discover as d
import runs
from runs.files import _layout as L
from runs.pipeline._campaign import parse_campaign, run_campaign

TINY = """
[campaign]
name = "rules"
seed = 4

[[discover]]
name = "tiny"
[discover.config]
name = "tiny"
seed = 4
[discover.config.family]
scenario = "bilocal"
sources = "theta"
bob = "product"
theta = 0.75
[discover.config.objective]
target = "brgp"
[discover.config.constraints]
brgp_max = 1.0
tripartite_local = true
bounds = { "alice.angles" = [-2.0, 2.0] }
[[discover.config.searchers]]
kind = "random"
name = "brgp"
batch = 4
steps = 2
[[discover.config.searchers]]
kind = "random"
name = "upper"
target = "nbl-upper"
batch = 2
steps = 1
[discover.config.certify]
top = 6
nbl_tol = 1e-4
nbl_time_limit = 20.0
nbl_max_nodes = 4000

[certify]
top = 6
tol = 1e-4
max_nodes = 4000
time_limit = 20
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A real discovery (surrogate-free, bilocal, with every kind of constraint) and the campaign's certify stage
    over all its candidates."""
    res = run_campaign(parse_campaign(TINY), tmp_path_factory.mktemp("rules"))
    return res.stages[0].file, res.record


# --------------------------------------------------------------------------------------------------- discovery
@dataclass
class _R:  # a certification result as is_discovery reads it
    lower: float
    certificate_checked: bool

    @property
    def is_nonbilocal(self) -> bool:
        return self.lower > certify.ZERO_TOL


CONS = d.Constraints(brgp_max=1.0, tripartite_local=True)


@pytest.mark.parametrize("result, brgp, tri, bounds_ok, expected", [
    (_R(0.01, True), 0.9, 0.0, True, True),
    (_R(0.01, False), 0.9, 0.0, True, False),  # certificate not re-checked (the campaign used to accept it)
    (_R(0.0, True), 0.9, 0.0, True, False),
    (_R(0.01, True), 1.01, 0.0, True, False),
    (_R(0.01, True), math.nan, 0.0, True, False),  # no BRGP value: not shown (the campaign used to pass NaN)
    (_R(0.01, True), 0.9, 0.02, True, False),
    (_R(0.01, True), 0.9, math.nan, True, False),  # tripartite NL not certified
    (_R(0.01, True), 0.9, 0.0, False, False),  # outside the parameter bounds (the campaign never checked)
])
def test_is_discovery_table(result, brgp, tri, bounds_ok, expected):
    assert d.is_discovery(result, CONS, bilocal=True, brgp=brgp, tripartite_nl=tri, bounds_ok=bounds_ok) is expected


def test_constraints_of_a_damaged_run_config_are_an_error():
    assert d.Constraints.from_run_config(json.dumps({"constraints": {"brgp_max": 1}})).brgp_max == 1.0
    for bad in ('{"constraints": {"brgp_max": 1', "[1, 2]", '{"constraints": {"brgp_max": "x"}}',
                '{"constraints": {"bounds": {"a": [2, 1]}}}', '{"constraints": {"colour": 1}}', b"\xff", 3):
        with pytest.raises(ValueError):
            d.Constraints.from_run_config(bad)


def test_bounds_of_a_stored_row_are_those_of_its_parameters():
    fam = d.family_from_spec({"scenario": "bilocal", "sources": "theta", "bob": "product", "theta": 0.75})
    import jax
    from jax.flatten_util import ravel_pytree

    params, _ = d.params_of(fam.init(jax.random.PRNGKey(3)))
    flat = np.asarray(ravel_pytree(params)[0], np.float64)
    x = np.asarray(dict(zip(d.leaf_paths(params), jax.tree_util.tree_leaves(params)))["alice.angles"])
    for bounds in ({"alice.angles": (-10.0, 10.0)}, {"alice.angles": (float(np.max(x)) + 1, 20.0)}):
        assert d.bounds_hold_flat(fam, flat, bounds) == d.bounds_hold(params, bounds)
    with pytest.raises(ValueError, match="not a parameter"):
        d.bounds_hold(params, {"nope": (0, 1)})


def test_discover_and_campaign_agree_on_the_same_candidates(tiny):
    disc_file, record = tiny
    c = runs.read_discovery(disc_file)["candidates"]
    with h5py.File(record, "r") as f:
        g = f[L.CERTIFIED]
        idx = g[L.CERT_SOURCE_INDEX][()]
        flags = g[L.CAND_DISCOVERY][()]
        status = L.decode_status(g[L.CAND_NBL_STATUS][()], g[L.CAND_NBL_STATUS].dtype)
    assert len(idx) == len(c["discovery"]) >= 2  # every candidate re-certified
    same = status == c["nbl_status"][idx]  # both certifications ended alike (same tolerance and limits)
    assert same.all(), (status, c["nbl_status"][idx])
    np.testing.assert_array_equal(flags, c["discovery"][idx])
    # and each flag is the rule applied to the stored values
    cfg = runs.read_discovery(disc_file)["config"]
    cons = d.Constraints.from_config(cfg["constraints"])
    assert cons.bounds and cons.tripartite_local and cons.brgp_max == 1.0


# ------------------------------------------------------------------------------------------------ status codes
def test_one_status_table_for_every_writer():
    from runs.files._store import _status_enum
    from surrogates import STATUS_NAMES
    from surrogates._dataset import SOLVED_CODES

    for i, s in enumerate(certify.Status):  # the literal table follows certify's order
        assert L.STATUS_CODES[s.value] == i
    for i, name in enumerate(STATUS_NAMES):  # dataset files: surrogates' table is the same codes
        assert L.STATUS_CODES[name] == i
    assert h5py.check_enum_dtype(_status_enum(STATUS_NAMES)).items() <= L.STATUS_CODES.items()
    assert [L.STATUS_CODES[s.value] for s in certify.SOLVED] == list(SOLVED_CODES)
    assert L.STATUS_CODES[L.STATUS_NONE] == 255 and len(set(L.STATUS_CODES.values())) == len(L.STATUS_CODES)


def test_discovery_and_campaign_files_store_the_table(tiny):
    from runs.files._browse import enum_names

    disc_file, record = tiny
    with h5py.File(disc_file, "r") as f, h5py.File(record, "r") as r:
        for ds in (f["candidates/nbl_status"], f["candidates/nl_status"], f["candidates/tripartite_status"],
                   r[L.CERTIFIED][L.CAND_NBL_STATUS]):
            assert h5py.check_enum_dtype(ds.dtype) == L.STATUS_CODES
            names = enum_names(ds.dtype)  # the browsing reader agrees
            assert [names[int(v)] for v in ds[()]] == L.decode_status(ds[()], ds.dtype).tolist()
    c = runs.read_discovery(disc_file)["candidates"]
    assert set(c["nl_status"]) == {"none"}  # a network candidate has no bipartite NL status
    assert set(c["nbl_status"]) <= {s.value for s in certify.Status}


def test_old_discovery_files_still_read(tiny, tmp_path):
    """Files written before the one table had ``none`` = 0 and every certify code shifted by one; the reader goes
    through the enum mapping stored with each data set, so they decode to the same names."""
    disc_file, _ = tiny
    old = tmp_path / "old.h5"
    shutil.copy(disc_file, old)
    old_table = ("none", "optimal", "inaccurate", "limit", "infeasible", "error")
    old_enum = h5py.enum_dtype({n: i for i, n in enumerate(old_table)}, basetype="u1")
    with h5py.File(old, "r+") as f:
        for k in ("nl_status", "nbl_status", "tripartite_status"):
            ds = f[f"candidates/{k}"]
            names = L.decode_status(ds[()], ds.dtype)
            del f[f"candidates/{k}"]
            f.create_dataset(f"candidates/{k}", data=np.array([old_table.index(n) for n in names], np.uint8),
                             dtype=old_enum)
    a, b = runs.read_discovery(disc_file)["candidates"], runs.read_discovery(old)["candidates"]
    for k in ("nl_status", "nbl_status", "tripartite_status"):
        assert a[k].tolist() == b[k].tolist()
    with h5py.File(old, "r+") as f:  # a code its enum does not name is an error, not a wrong name
        f["candidates/nbl_status"][0] = 9
    with pytest.raises(ValueError, match="does not name"):
        runs.read_discovery(old)
