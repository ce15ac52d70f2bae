"""Networks beyond the chain: descriptions, network-local models, fanout inflations, certified intervals
(docs/networks.md)."""

import dataclasses
import itertools
import json
import math

import numpy as np
import pytest

import bellcore
import certify
from bellcore import Behaviour, bilocal_network, chain, ghz_triangle, star, triangle, w_triangle
from certify import CertificationError, NetworkModel, Status, check_inflation_certificate, check_network_model
from certify._inflation import Inflation, inflation_bound, remainder_bound
from certify._network import network_nonlocality


def random_model(sc, k, rng):
    w = tuple(rng.dirichlet(np.ones(k)) for _ in range(sc.n_sources))
    r = tuple(rng.integers(0, sc.outcomes[j], size=(sc.settings[j],) + (k,) * len(sc.party_sources(j))) for j in range(sc.n_parties))
    return NetworkModel(sc, w, r)


def brute_force(model):
    """The model's behaviour by an explicit loop over every source value (independent of the einsum)."""
    sc = model.scenario
    p = np.zeros(sc.shape)
    for lam in itertools.product(*(range(len(w)) for w in model.weights)):
        weight = math.prod(model.weights[s][v] for s, v in enumerate(lam))
        for x in itertools.product(*(range(m) for m in sc.settings)):
            a = tuple(int(model.responses[j][(x[j],) + tuple(lam[s] for s in sc.party_sources(j))]) for j in range(sc.n_parties))
            p[a + x] += weight
    return p


# ------------------------------------------------------------------------------------------ descriptions
def test_instances_shapes_and_json_round_trip():
    assert triangle().shape == (2, 2, 2, 1, 1, 1)
    assert bilocal_network().shape == bellcore.BilocalScenario("binary").shape
    assert bilocal_network("bsm").shape == bellcore.BilocalScenario("bsm").shape
    assert chain(3).sources == ((0, 1), (1, 2), (2, 3))
    assert star(3).sources == ((0, 3), (1, 3), (2, 3))
    for sc in (triangle(4), chain(2), star(3, settings=1), bilocal_network("bsm")):
        assert bellcore.network_from_json(json.loads(json.dumps(sc.to_json()))) == sc
    assert triangle().party_sources(0) == (1, 2)  # A: beta, gamma


@pytest.mark.parametrize(
    "obj, words",
    [
        ({"parties": {"A": {"settings": 1, "outcomes": 2}}, "sources": [[]]}, "source 0 feeds no party"),
        ({"parties": {"A": {"settings": 1, "outcomes": 2}, "B": {"settings": 1, "outcomes": 2}}, "sources": [["A"]]}, "party 'B' receives no source"),
        ({"parties": {"A": {"settings": 1, "outcomes": 2}}, "sources": [["A", "Z"]]}, "unknown party 'Z'"),
        ({"parties": {"A": {"settings": 0, "outcomes": 2}}, "sources": [["A"]]}, "settings must be an integer >= 1"),
        ({"parties": {"A": {"settings": 1, "outcomes": 1}}, "sources": [["A"]]}, "outcomes must be an integer >= 2"),
        ({"parties": {"A": {"settings": 1, "outcomes": 2}}, "sources": [["A", "A"]]}, "more than once"),
        ({"parties": {"A": {"settings": 1, "outcomes": 2}}, "sources": []}, "sources"),
        ({"parties": {"A": {"settings": 1, "outcomes": 2}}, "sources": [["A"]], "extra": 1}, "unknown field"),
    ],
)
def test_bad_descriptions_one_clear_line(obj, words):
    with pytest.raises(ValueError, match=words) as e:
        bellcore.network_from_json({"kind": "network", **obj})
    assert "\n" not in str(e.value)


def test_behaviour_of_wrong_shape_or_invalid_is_refused():
    with pytest.raises(ValueError, match=r"has shape \(2, 2, 2, 1, 1, 1\).*got \(2, 2, 2\)") as e:
        bellcore.network_behaviour(np.full((2, 2, 2), 1 / 8), triangle())
    assert "\n" not in str(e.value)
    bad = np.full(bilocal_network().shape, 1 / 8)
    bad[0, 0, 0, 1, 0, 0] += 0.1
    bad[1, 0, 0, 1, 0, 0] -= 0.1  # A's marginal fine, but B, C's marginal depends on x: signalling
    with pytest.raises(ValueError, match="signalling"):
        bellcore.network_behaviour(bad, bilocal_network())
    with pytest.raises(ValueError, match="not normalised"):
        network_nonlocality(np.full((2, 2, 2, 1, 1, 1), 0.2), triangle())


# ------------------------------------------------------------------------------------------ models
@pytest.mark.parametrize("sc", [triangle(), triangle(3), bilocal_network(), star(3, settings=1), chain(3, settings=1)])
def test_model_behaviour_equals_brute_force(sc, rng):
    model = random_model(sc, 2, rng)
    p = model.probabilities()
    np.testing.assert_allclose(p, brute_force(model), atol=1e-14)
    Behaviour(p, sc).validate()
    assert check_network_model(p, model) <= 1e-15
    again = NetworkModel.from_json(json.loads(json.dumps(model.to_json())), sc)
    np.testing.assert_allclose(again.probabilities(), p, atol=0)


def test_model_validation():
    sc = triangle()
    m = random_model(sc, 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="not a distribution"):
        dataclasses.replace(m, weights=(np.array([0.7, 0.7]),) + m.weights[1:]).validate()
    with pytest.raises(ValueError, match="outcomes 0..1"):
        dataclasses.replace(m, responses=(m.responses[0] + 2,) + m.responses[1:]).validate()


def test_triangle_local_point_gets_zero_interval(rng):
    sc = triangle()
    local = random_model(sc, 3, np.random.default_rng(7)).behaviour()
    r = network_nonlocality(local, inflations=[(1, 1, 2)])
    assert r.status == Status.OPTIMAL and r.lower == 0.0 and r.upper <= 1e-9
    assert not r.is_nonlocal and r.certificate_checked
    # the stored model's recomputed behaviour is what the result claims
    assert abs(check_network_model(local, r.model) - r.upper) <= 1e-12
    np.testing.assert_allclose(r.model.probabilities(), brute_force(r.model), atol=1e-13)
    # the inflation LP alone cannot go above 0 on a network-local point
    out = inflation_bound(sc, local.numpy().ravel(), (1, 2, 2), upper=0.2)
    assert out.lower <= 1e-12


# ------------------------------------------------------------------------------------------ inflations
def test_ghz_is_not_triangle_local_and_certificate_checks():
    r = network_nonlocality(ghz_triangle(), inflations=[(1, 1, 2)], starts=2, kicks=0)
    assert r.is_nonlocal and r.lower > 0.2 and r.lower <= r.upper
    assert r.inflation == "fanout(1,1,2)" and r.status == Status.LIMIT and r.certificate_checked
    q = ghz_triangle().numpy()
    cert = r.certificate
    chk = check_inflation_certificate(triangle(), q, cert)
    assert chk.ok and chk.recomputed >= cert.lower
    # tampered certificates fail
    assert not check_inflation_certificate(triangle(), q, dataclasses.replace(cert, lower=cert.lower + 1e-6)).ok
    assert not check_inflation_certificate(triangle(), q, dataclasses.replace(cert, y=cert.y * 1.1)).ok
    assert not check_inflation_certificate(triangle(), q, dataclasses.replace(cert, D0=cert.lower / 2)).ok
    assert not check_inflation_certificate(triangle(), q, dataclasses.replace(cert, y=cert.y[:-1])).ok
    # nor does a certificate carry over to another behaviour
    assert not check_inflation_certificate(triangle(), ghz_triangle(0.3).numpy(), cert).ok
    with pytest.raises(CertificationError):
        network_nonlocality(ghz_triangle(), inflations=[(1, 1, 2)], starts=1, kicks=0, throw=True)


def test_w_is_not_triangle_local():
    r = network_nonlocality(w_triangle(), inflations=[(2, 2, 2)], starts=2, kicks=0)
    assert r.is_nonlocal and r.inflation == "fanout(2,2,2)" and r.certificate_checked
    assert 0.04 < r.lower < r.upper
    # the smaller inflations do not see it (docs/networks.md)
    assert inflation_bound(triangle(), w_triangle().numpy().ravel(), (1, 2, 2), r.upper).lower == 0.0


def test_remainder_bound_covers_true_remainders(rng):
    """sum |delta_T1 (x) delta_T2 (x) ...| <= remainder_bound for q, q* both no-signalling (bilocal network)."""
    sc = bilocal_network()
    inf = Inflation.build(sc, (1, 2))
    from certify._inflation import _marginal_matrix

    for _ in range(5):
        q = random_model(sc, 2, rng).probabilities().ravel()
        qs = random_model(sc, 2, rng).probabilities().ravel()
        D = sc.normalisation * np.abs(q - qs).sum()
        for fam in inf.products:
            ds = [_marginal_matrix(sc, T) @ (qs - q) for _, T in fam]
            qm = [_marginal_matrix(sc, T) @ q for _, T in fam]
            prod_q, prod_s, linear = qm[0], qm[0] + ds[0], ds[0]
            for k in range(1, len(fam)):  # prod(q + d) - prod q - linear terms, factor by factor
                linear = np.outer(linear, qm[k]).ravel() + np.outer(prod_q, ds[k]).ravel()
                prod_q = np.outer(prod_q, qm[k]).ravel()
                prod_s = np.outer(prod_s, qm[k] + ds[k]).ravel()
            rem = np.abs(prod_s - prod_q - linear).sum()
            Ms = [math.prod(sc.settings[j] for j in T) for _, T in fam]
            assert rem <= remainder_bound(Ms, D, 1.0, [0.0] * len(fam)) + 1e-12


# ------------------------------------------------------------------------------------------ bilocal agreement
def _bilocal_points():
    rng = np.random.default_rng(3)
    pts = [bellcore.bilocal_werner(v) for v in (0.6, 0.9)]
    m = random_model(bilocal_network(), 2, rng).probabilities()
    pts.append(Behaviour(0.5 * bellcore.bilocal_werner(1.0).numpy() + 0.5 * m, bellcore.BilocalScenario("binary")))
    return pts


@pytest.mark.parametrize("beh", _bilocal_points(), ids=["werner0.6", "werner0.9", "mixed"])
def test_bilocal_intervals_overlap_nonbilocality(beh):
    nbl = certify.nonbilocality(beh, tol=1e-3, time_limit=4)  # a limit keeps its interval valid
    net = network_nonlocality(beh, inflations=[(1, 1), (1, 2)], starts=1, kicks=0)
    assert net.certificate_checked and nbl.certificate_checked
    assert net.lower <= nbl.upper + 1e-9 and nbl.lower <= net.upper + 1e-9
    assert net.upper >= nbl.lower - 1e-9  # same distance, same normalisation


# ------------------------------------------------------------------------------------------ CLI
def _network_file(tmp_path, sc, p, name="net.json"):
    path = tmp_path / name
    path.write_text(json.dumps({"scenario": sc.to_json(), "p": np.asarray(p).tolist()}))
    return path


def test_cli_certify_network_json(tmp_path):
    from typer.testing import CliRunner

    from runs.cli._cli import app

    runner = CliRunner()
    # A and C of the chain A - B - C share no source, yet are perfectly correlated: certified by the products
    sc = chain(2, settings=1)
    p = np.zeros(sc.shape)
    for a, b in itertools.product(range(2), repeat=2):
        p[a, b, a] = 0.25
    path = _network_file(tmp_path, sc, p)
    res = runner.invoke(app, ["certify", str(path), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.splitlines()[0])
    assert out["lower"] > 0.1 and out["upper"] >= out["lower"] and out["status"] in ("limit", "optimal")
    assert out["certificate_checked"] and out["inflation"].startswith("fanout(") and out["nonlocal"]
    # the bilocal network written in the network form: same array as the bilocal scenario
    local = random_model(bilocal_network(), 2, np.random.default_rng(1)).probabilities()
    res = runner.invoke(app, ["certify", str(_network_file(tmp_path, bilocal_network(), local, "b.json")), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.splitlines()[0])
    assert out["lower"] == 0.0 and out["upper"] <= 1e-9 and out["status"] == "optimal"
    res = runner.invoke(app, ["certify", str(tmp_path / "b.json")])
    assert res.exit_code == 0 and "optimal" in res.stdout


@pytest.mark.parametrize(
    "scenario, p, words",
    [
        ({"kind": "network", "parties": {"A": {"settings": 1, "outcomes": 2}}, "sources": [["A"], []]}, [[0.5], [0.5]], "source 1 feeds no party"),
        ({"kind": "network", "parties": {"A": {"settings": 1, "outcomes": 2}, "B": {"settings": 1, "outcomes": 2}}, "sources": [["A"]]}, [[[[0.25]]]], "party 'B' receives no source"),
        (triangle().to_json(), [0.5, 0.5], "has shape"),
    ],
)
def test_cli_bad_network_file_one_line(tmp_path, scenario, p, words):
    from typer.testing import CliRunner

    from runs.cli._cli import app

    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"scenario": scenario, "p": p}))
    res = CliRunner().invoke(app, ["certify", str(path)])
    assert res.exit_code == 2
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and words in lines[0]


@pytest.mark.parametrize("seed", range(4))
def test_lower_bound_never_exceeds_a_known_model_distance(seed):
    """q = (1 - t) p_L + t GHZ / W with p_L triangle-local: every certified lower bound is <= c |q - p_L| (D0 starts
    at the trivial 1, so only the validity of the bound keeps it below the known distance)."""
    rng = np.random.default_rng(seed)
    sc = triangle()
    pl = random_model(sc, 3, rng).probabilities()
    target = (ghz_triangle() if seed % 2 else w_triangle()).numpy()
    for t in (0.1, 0.4, 0.8):
        q = (1 - t) * pl + t * target
        known = sc.normalisation * np.abs(q - pl).sum()
        for copies in ((1, 1, 2), (1, 2, 2)):
            out = inflation_bound(sc, q.ravel(), copies, upper=1.0)  # D <= 1 always: the cap does not help
            assert out.lower <= known + 1e-12
            assert check_inflation_certificate(sc, q, out.certificate).ok


def test_toml_description():
    import tomllib

    text = """
sources = [["B", "C"], ["A", "C"], ["A", "B"]]
[parties.A]
settings = 1
outcomes = 2
[parties.B]
settings = 1
outcomes = 2
[parties.C]
settings = 1
outcomes = 4
"""
    sc = bellcore.network_from_json(tomllib.loads(text))
    assert sc.shape == (2, 2, 4, 1, 1, 1) and sc.sources == triangle().sources


# ------------------------------------------------------------------------------------------ scenario JSON / run files
def test_scenario_from_json_reads_networks_and_h5_round_trip(tmp_path):
    import h5py

    from runs.files import _layout as layout
    from runs.files._io import load_behaviours

    for sc in (triangle(4), bilocal_network("bsm"), star(3, settings=1), chain(2)):
        assert bellcore.scenario_from_json(json.loads(json.dumps(sc.to_json()))) == sc
    beh = w_triangle(0.7)
    back = Behaviour.from_json(json.loads(json.dumps(beh.to_json())))
    assert back.scenario == triangle() and np.array_equal(back.numpy(), beh.numpy())
    # a run-file-style .h5: /behaviours (a batch) and the scenario JSON on /scenario
    batch = np.stack([ghz_triangle(v).numpy() for v in (0.5, 1.0)])
    path = tmp_path / "tri.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset(layout.BEHAVIOURS, data=batch)
        f.create_group(layout.SCENARIO).attrs[layout.SCENARIO_JSON] = json.dumps(triangle().to_json())
    got = load_behaviours(path)
    assert got.scenario == triangle() and np.array_equal(got.numpy(), batch)
    with pytest.raises(ValueError, match="unknown field"):
        bellcore.scenario_from_json({**triangle().to_json(), "extra": 1})
    with pytest.raises(ValueError, match="expected 'bell', 'bilocal' or 'network'"):
        bellcore.scenario_from_json({"kind": "tripartite"})


# ------------------------------------------------------------------------------------------ symmetry reduction
@pytest.mark.parametrize(
    "sc, q, copies",
    [
        (triangle(), w_triangle().numpy(), (1, 2, 2)),
        (triangle(), ghz_triangle(0.8).numpy(), (2, 2, 2)),
        (bilocal_network(), 0.5 * bellcore.bilocal_werner(1.0).numpy() + 0.5 * random_model(bilocal_network(), 2, np.random.default_rng(5)).probabilities(), (1, 2)),
    ],
    ids=["W-122", "GHZ0.8-222", "bilocal-mixed-12"],
)
def test_reduced_lp_has_the_full_lp_optimum(sc, q, copies):
    """The LP reduced by the copy permutations and q's symmetries has the full LP's optimum (docs/networks.md):
    the same certified bound from two different LPs, each certificate checked exactly."""
    red = inflation_bound(sc, q.ravel(), copies, 0.3)
    full = inflation_bound(sc, q.ravel(), copies, 0.3, symmetric=False)
    assert red.columns < full.columns and red.certificate.symmetric and not full.certificate.symmetric
    assert abs(red.lower - full.lower) <= 1e-7
    for out in (red, full):
        assert check_inflation_certificate(sc, q, out.certificate).ok
        # a certificate belongs to its own LP: the other one has another row count
        other = dataclasses.replace(out.certificate, symmetric=not out.certificate.symmetric)
        assert not check_inflation_certificate(sc, q, other).ok


def test_orbit_counts_and_symmetries():
    from certify._inflation_orbits import _identity, _layout, n_orbits, q_symmetries

    for sc, copies in ((bilocal_network(), (1, 2)), (triangle(), (2, 2, 2)), (triangle(3), (1, 1, 2)), (star(2, settings=1), (2, 1))):
        inf = Inflation.build(sc, copies)
        lay = _layout(inf, (_identity(sc),))  # copy permutations only: enumerated orbits = Burnside's count
        assert lay.R.shape[1] == n_orbits(sc, copies)
        assert np.array_equal(np.asarray(lay.R.sum(axis=0)).ravel().astype(int).sum(), inf.n_columns)
    # GHZ: the 6 party permutations x flipping every outcome; W: the party permutations; a random point: none
    assert len(q_symmetries(triangle(), ghz_triangle().numpy().ravel(), (2, 2, 2))) == 12
    assert len(q_symmetries(triangle(), w_triangle().numpy().ravel(), (2, 2, 2))) == 6
    assert len(q_symmetries(triangle(), w_triangle().numpy().ravel(), (1, 2, 2))) == 2  # B <-> C keeps the copies
    local = random_model(triangle(), 3, np.random.default_rng(2)).probabilities().ravel()
    assert len(q_symmetries(triangle(), local, (2, 2, 2))) == 1
    H = q_symmetries(bilocal_network(), bellcore.bilocal_werner(0.8).numpy().ravel(), (2, 2))
    perms = {h.q_perm(bilocal_network()).tobytes() for h in H}
    assert len(H) == 64 and all(a.q_perm(bilocal_network())[b.q_perm(bilocal_network())].tobytes() in perms for a in H for b in H)
    q = bellcore.bilocal_werner(0.8).numpy().ravel()
    assert all(np.abs(q[h.q_perm(bilocal_network())] - q).max() <= 1e-12 for h in H)  # each one fixes q


def test_nearly_symmetric_q_pays_its_asymmetry():
    """q that is symmetric only to 1e-13: the LP is that of its symmetrised qbar, and the certificate subtracts
    c |q - qbar|_1 exactly; the tampered claims still fail."""
    sc = triangle()
    q = ghz_triangle(0.9).numpy().ravel().copy()
    q[0] += 4e-13
    q[7] -= 4e-13
    out = inflation_bound(sc, q, (1, 2, 2), 0.3)
    exact = inflation_bound(sc, ghz_triangle(0.9).numpy().ravel(), (1, 2, 2), 0.3)
    assert out.certificate.symmetric and 0 < exact.lower - out.lower <= 1e-11
    chk = check_inflation_certificate(sc, q, out.certificate)
    assert chk.ok and chk.recomputed >= out.lower
    assert not check_inflation_certificate(sc, q, dataclasses.replace(out.certificate, lower=exact.lower)).ok


def test_certificate_json_round_trip_and_legacy_form():
    from certify import InflationCertificate

    sc, q = triangle(), ghz_triangle().numpy()
    for sym in (True, False):
        cert = inflation_bound(sc, q.ravel(), (1, 1, 2), 0.3, symmetric=sym).certificate
        back = InflationCertificate.from_json(json.loads(json.dumps(cert.to_json())))
        assert back.symmetric == sym and check_inflation_certificate(sc, q, back).ok
    legacy = {k: v for k, v in cert.to_json().items() if k != "symmetric"}  # certificates written before the reduction
    assert not InflationCertificate.from_json(legacy).symmetric and check_inflation_certificate(sc, q, InflationCertificate.from_json(legacy)).ok


def test_bilocal_fanout22_sees_the_werner_point():
    """The reduced bilocal fanout(2,2) certifies the BRGP point at v = 1 (one LP at D0 = 0.05 < f(0.05))."""
    sc = bilocal_network()
    q = bellcore.bilocal_werner(1.0).numpy().ravel()
    assert (2, 2) in certify._inflation.default_inflations(sc)
    out = inflation_bound(sc, q, (2, 2), 0.05, iterations=0)
    assert out.lower == pytest.approx(0.05) and out.lps == 1
    assert check_inflation_certificate(sc, q, out.certificate).ok
    assert not check_inflation_certificate(sc, bellcore.bilocal_werner(0.7).numpy(), out.certificate).ok
