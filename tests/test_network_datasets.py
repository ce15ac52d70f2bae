"""Datasets over networks: the network-local sampler, certified interval labels, training on them, and the command
line's ``--scenario network --network ...`` with its refusals (docs/networks.md)."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

import bellcore as bc
import surrogates as S
from tests._hostile import assert_one_error, run_cli, snapshot


def test_network_scenarios_round_trip_through_scenario_from_json():
    for sc in (bc.triangle(2), bc.triangle(3, settings=2), bc.chain(3), bc.star(2), bc.bilocal_network("bsm")):
        assert bc.scenario_from_json(json.loads(json.dumps(sc.to_json()))) == sc
    with pytest.raises(ValueError, match="receives no source"):
        bc.scenario_from_json({"kind": "network", "parties": {"A": {"outcomes": 2}, "B": {"outcomes": 2}},
                               "sources": [["A"]]})


def test_network_local_sampler_matches_an_explicit_sum_over_source_values():
    """Each sample is the model formula; recompute one by an explicit loop over every source value."""
    import itertools

    sc = bc.chain(2, outcomes=2, settings=2)  # A - B - C with inputs: 2 sources, B fed by both
    rng = np.random.default_rng(5)
    k = 2
    w = [rng.dirichlet(np.ones(k)) for _ in range(sc.n_sources)]
    r = [rng.integers(0, sc.outcomes[j], size=(sc.settings[j],) + (k,) * len(sc.party_sources(j)))
         for j in range(sc.n_parties)]
    p = bc.network_local_probabilities(sc, w, r)
    brute = np.zeros(sc.shape)
    for lam in itertools.product(range(k), repeat=sc.n_sources):
        weight = np.prod([w[s][lam[s]] for s in range(sc.n_sources)])
        for x in itertools.product(*(range(m) for m in sc.settings)):
            a = tuple(int(r[j][(x[j],) + tuple(lam[s] for s in sc.party_sources(j))]) for j in range(sc.n_parties))
            brute[a + x] += weight
    assert np.allclose(p, brute, atol=1e-15)
    beh = bc.sample("network-local", bc.triangle(2), 5, np.random.default_rng(0), alphabet=2)
    beh.validate(1e-9)
    with pytest.raises(ValueError, match="does not support"):
        bc.sampler_params("network-local", {}, bc.BellScenario.binary(2))
    with pytest.raises(ValueError, match="alphabet"):
        bc.sample("network-local", bc.triangle(2), 1, np.random.default_rng(0), alphabet=0)


def test_network_dataset_chunk_labels_and_training_rows():
    spec = S.DatasetSpec.create("network", bc.triangle(2), "network-local", 2, 3, {"alphabet": 2}, 2,
                                nbl_time_limit=20.0)
    assert set(S.label_fields(spec)) == {"behaviours", "network_lower", "network_upper", "network_status"}
    a, b = S.make_chunk(spec, 0), S.make_chunk(spec, 0)
    assert all(np.array_equal(a[k], b[k]) for k in a)  # a pure function of (spec, i)
    assert np.all(a["network_lower"] == 0) and np.all(a["network_upper"] <= 1e-9)
    assert S.DatasetSpec.from_json(spec.canonical_json()) == spec
    data = {k: np.concatenate([a[k], a[k]]) for k in a}  # 4 rows whose statuses are set below
    data["network_status"][0] = S.STATUS_NAMES.index("limit")  # a gap that did not close: lower bound still usable
    data["network_status"][1] = S.STATUS_NAMES.index("error")
    with pytest.raises(ValueError, match="usable network label"):
        S.training_data(spec, data, "network")  # 3 usable rows < the minimum
    ok = S.usable_labels(data["network_status"], data["network_lower"], "network", status_names=S.STATUS_NAMES)
    assert ok.tolist() == [True, False, True, True]
    with pytest.raises(ValueError, match="does not match"):
        S.DatasetSpec.create("bilocal", bc.triangle(2), None, 4, 3)
    with pytest.raises(ValueError, match="does not apply"):
        S.DatasetSpec.create("network", bc.triangle(2), None, 4, 3, measures=("nbl",))


def test_cli_network_dataset_end_to_end(tmp_path):
    out = tmp_path / "tri.h5"
    r = run_cli("dataset", "--scenario", "network", "--network", "triangle", "--sampler", "network-local", "--n", "4",
                "--seed", "1", "--chunk-size", "2", "--out", out, "--no-progress", "--json")
    assert r.code == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["n"] == 4 and summary["fraction_network_local"] == 1.0
    with h5py.File(out, "r") as f:
        assert bc.scenario_from_json(json.loads(f["scenario"].attrs["json"])) == bc.triangle(2)
        assert f["labels/network_upper"].shape == (4,)
    ls = run_cli("runs", "ls", tmp_path)
    assert "network(A[1x2],B[1x2],C[1x2]" in ls.stdout and "network-local model 100.0%" in ls.stdout.replace("\n", " ")
    desc = tmp_path / "net.json"
    desc.write_text(json.dumps({"scenario": bc.chain(2, settings=1).to_json()}))
    r = run_cli("dataset", "--scenario", "network", "--network", desc, "--sampler", "network-local", "--n", "2",
                "--seed", "1", "--out", tmp_path / "chain.h5", "--no-progress", "--json")
    assert r.code == 0, r.stderr


@pytest.mark.parametrize("args, words", [
    (["--scenario", "network"], "needs --network"),
    (["--scenario", "bell", "--settings", "2", "--network", "triangle"], "applies to --scenario network only"),
    (["--scenario", "network", "--network", "pentagon"], "expected one of"),
    (["--scenario", "network", "--network", "chain99"], "between 2 and 8"),
    (["--scenario", "network", "--network", "missing.json"], "no such file"),
    (["--scenario", "network", "--network", "bad.json"], "not valid JSON"),
    (["--scenario", "network", "--network", "nosource.toml"], "receives no source"),
    (["--scenario", "network", "--network", "triangle", "--sampler", "features-ij"], "does not support"),
])
def test_cli_network_dataset_refusals(tmp_path, args, words):
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "nosource.toml").write_text('sources = [["A"]]\n[parties.A]\noutcomes = 2\n[parties.B]\noutcomes = 2\n')
    before = snapshot(tmp_path)
    r = run_cli("dataset", *args, "--n", "2", "--seed", "1", "--out", "x.h5", "--no-progress", cwd=tmp_path)
    assert_one_error(r, 2, words)
    assert snapshot(tmp_path) == before


def test_campaign_dataset_stage_over_a_network():
    """A campaign's [[dataset]] takes scenario = "network" with the same network names as the command line; its hash
    covers the network, and a [[train]] on it defaults to the network target."""
    from runs.pipeline._campaign import parse_campaign, stage_hashes
    from runs.pipeline._hashing import dataset_spec
    from runs.pipeline._spec import check_campaign

    text = ('[[dataset]]\nname = "t"\nscenario = "network"\nnetwork = "{net}"\nsampler = "network-local"\nn = 4\n'
            '[[train]]\nname = "m"\ndataset = "t"\n')
    tri, star = parse_campaign(text.format(net="triangle")), parse_campaign(text.format(net="star3"))
    assert dataset_spec(tri.stages[0]).scenario == bc.triangle(2)
    assert dataset_spec(star.stages[0]).scenario == bc.star(3)
    assert stage_hashes(tri)["dataset:t"] != stage_hashes(star)["dataset:t"]
    check_campaign(tri)  # the train stage finds its network labels
    with pytest.raises(ValueError, match="needs network"):
        dataset_spec(parse_campaign(text.replace('network = "{net}"\n', "")).stages[0])
    with pytest.raises(ValueError, match="expected one of"):
        dataset_spec(parse_campaign(text.format(net="pentagon")).stages[0])


def test_network_quantum_sampler_matches_dense_kronecker_products():
    """The triangle's quantum sampler against dense linear algebra: the same random draws (sources' states in order,
    then each party's basis), the global state permuted into party order, outcome probabilities as squared overlaps
    with Kronecker products of basis vectors, grouped i mod d."""
    import itertools

    from bellcore._sampling import _haar_states, _haar_unitaries

    for d in (2, 3, 4):
        sc = bc.triangle(d)
        p = bc.sample("quantum", sc, 1, np.random.default_rng(11)).numpy()[0]
        rng = np.random.default_rng(11)
        states = [_haar_states(rng, 1, 4)[0].reshape(2, 2) for _ in sc.sources]  # axes: the source's parties, sorted
        bases = [_haar_unitaries(rng, (1,), 4)[0] for _ in range(sc.n_parties)]  # columns: basis vectors
        # global tensor with axes (source, party) in source order, then moved into party order
        psi = np.einsum("ab,cd,ef->abcdef", *states)
        axis = {}
        for s, members in enumerate(sc.sources):
            for t, j in enumerate(members):
                axis[(s, j)] = 2 * s + t
        order = [axis[(s, j)] for j in range(3) for s in sc.party_sources(j)]
        vec = np.transpose(psi, order).reshape(-1)
        want = np.zeros((d, d, d))
        for i in itertools.product(range(4), repeat=3):
            u = np.kron(np.kron(bases[0][:, i[0]], bases[1][:, i[1]]), bases[2][:, i[2]])
            want[i[0] % d, i[1] % d, i[2] % d] += abs(np.vdot(u, vec)) ** 2
        assert np.allclose(p[..., 0, 0, 0], want, atol=1e-12), d
    with pytest.raises(ValueError, match="outcomes"):
        bc.sample("quantum", bc.chain(2, outcomes=3), 1, np.random.default_rng(0))  # A holds one qubit
