"""certify.nonlocality / visibility: golden values (bellcore.golden, docs/golden.md), properties, certificates."""

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import bellcore as bc
import certify
from certify import Status

from ._ns import chsh_max, mixture, ns_vertices_m2

S2 = math.sqrt(2)
G = bc.golden
VERTS = ns_vertices_m2()
weights24 = arrays(np.float64, 24, elements=st.floats(0, 1)).filter(lambda w: w.sum() > 1e-3)
sparse24 = st.tuples(arrays(np.float64, 24, elements=st.floats(0, 1)), arrays(np.bool_, 24)).map(
    lambda t: t[0] * t[1]
).filter(lambda w: w.sum() > 1e-3)


# ------------------------------------------------------------------------------- golden values
def test_pr_box():
    r = certify.nonlocality(bc.pr_box())
    assert r.status == Status.OPTIMAL and r.message == "Optimal"
    assert r.value == pytest.approx(0.25, abs=1e-12)
    assert r.is_nonlocal and r.certificate_checked and r.exact_violation > 0


def test_tsirelson():
    assert certify.nonlocality(bc.tsirelson()).value == pytest.approx(G.NL_TSIRELSON, abs=1e-12)
    assert G.NL_TSIRELSON == pytest.approx(0.1035533906, abs=1e-10)
    assert G.NL_TSIRELSON == pytest.approx((S2 - 1) / 4, abs=1e-15)


@pytest.mark.parametrize("v", [0.0, 0.3, 0.5, 0.51, 0.75, 0.9, 1.0])
def test_isotropic_pr(v):
    r = certify.nonlocality(bc.isotropic_pr(v))
    assert r.value == pytest.approx(G.nl_isotropic_pr(v), abs=1e-12)
    assert r.is_nonlocal == (v > 0.5)


def test_chained_m3_equality_and_bound_for_larger_m():
    r = certify.nonlocality(bc.chained(3))
    assert r.value == pytest.approx(G.nl_chained_bound(3), abs=1e-12)
    assert G.nl_chained_bound(3) == pytest.approx((3 * math.sqrt(3) - 4) / 18, abs=1e-15)
    assert r.value == pytest.approx(0.066453, abs=1e-6)
    for m in (2, 4, 5):
        assert certify.nonlocality(bc.chained(m)).value >= G.nl_chained_bound(m) - 1e-12


@pytest.mark.parametrize("m", [3, 4, 5])
@pytest.mark.parametrize("fill", ["copy", "noise"])
def test_embedding_law(m, fill):
    for beh in (bc.pr_box(), bc.tsirelson(), bc.isotropic_pr(0.8)):
        nl2 = certify.nonlocality(beh).value
        assert certify.nonlocality(bc.embed(beh, m, fill)).value == pytest.approx(G.nl_embedded(nl2, m), abs=1e-12)


def test_m2_closed_form_on_many_random_ns_points(rng):
    """NL = max(0, (CHSH_max - 2)/8) on the whole NS polytope (m = 2): 300 points, dense and sparse mixtures."""
    n_nonlocal = 0
    for i in range(300):
        # a random PR box mixed with a random local point (Dirichlet, dense or sparse): both sides of the boundary
        local = mixture(VERTS[:16], rng.dirichlet(np.full(16, 0.2 if i % 2 else 1.0)))
        t = rng.uniform()
        p = t * VERTS[16 + rng.integers(8)] + (1 - t) * local
        expected = G.nl_from_chsh(chsh_max(p))
        r = certify.nonlocality(p)
        assert r.value == pytest.approx(expected, abs=1e-10)
        assert r.certificate_checked
        n_nonlocal += expected > 1e-9
    assert 50 < n_nonlocal < 250  # the test exercises both sides of the local boundary


@pytest.mark.parametrize(
    "beh, expected",
    [(bc.pr_box(), G.VISIBILITY_PR_BOX), (bc.tsirelson(), G.VISIBILITY_TSIRELSON), (bc.isotropic_pr(0.8), 0.625),
     (bc.isotropic_pr(0.3), G.visibility_isotropic_pr(0.3))],
)
def test_visibility_golden(beh, expected):
    r = certify.visibility(beh)
    assert r.value == pytest.approx(expected, abs=1e-12)
    assert r.lower == pytest.approx(expected, abs=1e-10) and r.upper == pytest.approx(expected, abs=1e-10)
    assert r.certificate_checked
    assert r.is_nonlocal == (expected < 1)


def test_visibility_of_chained_m3():
    assert certify.visibility(bc.chained(3)).value == pytest.approx(G.visibility_chained(3), abs=1e-10)


# ------------------------------------------------------------------------------ properties
@given(w=sparse24, seed=st.integers(0, 2**32 - 1))
def test_relabelling_invariance_m2(w, seed):
    p = bc.Behaviour(mixture(VERTS, w))
    q = bc.random_relabelling(p, np.random.default_rng(seed))
    assert certify.nonlocality(q).value == pytest.approx(certify.nonlocality(p).value, abs=1e-10)
    assert certify.visibility(q).value == pytest.approx(certify.visibility(p).value, abs=1e-9)


@given(
    a=arrays(np.float64, (3, 3), elements=st.floats(-1, 1)),
    b=arrays(np.float64, (3, 3), elements=st.floats(-1, 1)),
    theta=st.floats(0, math.pi / 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_relabelling_invariance_quantum_m3(a, b, theta, seed):
    a, b = a + np.array([0, 0, 1e-2]), b + np.array([1e-2, 0, 0])
    strat = bc.QuantumStrategy.qubits(bc.pure_two_qubit_state(theta), a, b)
    p = bc.Behaviour(np.asarray(strat.probabilities()), strat.scenario)
    q = bc.random_relabelling(p, np.random.default_rng(seed))
    r_p, r_q = certify.nonlocality(p), certify.nonlocality(q)
    assert r_q.value == pytest.approx(r_p.value, abs=1e-10)
    assert r_p.certificate_checked and r_q.certificate_checked


@given(w=arrays(np.float64, 64, elements=st.floats(0, 1)).filter(lambda w: w.sum() > 1e-3))
def test_local_mixtures_are_local(w):
    sc = bc.BellScenario.binary(3)
    p = mixture(sc.deterministic_points(), w)
    r = certify.nonlocality(p)
    assert r.value <= 1e-12 and not r.is_nonlocal and r.certificate_checked
    assert certify.visibility(p).value == pytest.approx(1.0, abs=1e-9)


@given(w=weights24 | sparse24)
def test_primal_equals_dual_and_certificates_check(w):
    p = mixture(VERTS, w)
    r = certify.nonlocality(p)
    # values at or below ZERO_TOL are reported as 0 (README, Conventions), so the bounds may sit that far from it
    # (hypothesis found a mixture with 1e-11 of a PR-like vertex: upper 1.00000004e-10, value 0)
    assert r.lower == pytest.approx(r.value, abs=certify.ZERO_TOL)
    assert r.upper == pytest.approx(r.value, abs=certify.ZERO_TOL)
    assert np.abs(r.bell).max() <= 1 / 8 + 1e-15
    check = certify.check_nonlocality(p, r)
    assert check.ok, check.reason
    v = certify.visibility(p)
    assert v.certificate_checked
    # visibility and NL agree on the verdict
    assert v.is_nonlocal == r.is_nonlocal


@pytest.mark.parametrize("m", [2, 3, 4])
def test_highs_equals_cvxpy(m, rng):
    for _ in range(3):
        a, b = rng.normal(size=(m, 3)), rng.normal(size=(m, 3))
        strat = bc.QuantumStrategy.qubits(bc.pure_two_qubit_state(rng.uniform(0, math.pi / 4)), a, b)
        p = bc.Behaviour(np.asarray(strat.probabilities()), strat.scenario).mix(rng.uniform(0.7, 1.0))
        h = certify.nonlocality(p)
        c = certify.nonlocality(p, backend="cvxpy")
        assert c.status in (Status.OPTIMAL, Status.INACCURATE)
        assert c.value == pytest.approx(h.value, abs=1e-6)


def test_more_outcomes_scenario():
    # A 3-outcome party that merges two outcomes of a PR box is as nonlocal as the PR box.
    pr = bc.pr_box().numpy()
    p = np.zeros((3, 2, 2, 2))
    p[0], p[1] = pr[0], pr[1]
    r = certify.nonlocality(bc.Behaviour(p, bc.BellScenario((3, 2), (2, 2))))
    assert r.value == pytest.approx(0.25, abs=1e-12) and r.certificate_checked


# ---------------------------------------------------------------------------- certificates
def test_tampered_certificates_fail_the_check():
    p = bc.tsirelson()
    r = certify.nonlocality(p)
    assert certify.check_nonlocality(p, r).ok
    # a functional that is not the optimum does not reproduce the value
    assert not certify.check_nonlocality(p, dataclasses.replace(r, bell=r.bell * 0.5)).ok
    # a claimed value that the certificate does not support
    assert not certify.check_nonlocality(p, dataclasses.replace(r, value=r.value + 1e-6)).ok
    # a functional outside the box |B| <= 1/8
    assert not certify.check_nonlocality(p, dataclasses.replace(r, bell=r.bell * 2)).ok
    # a local model that is not a distribution
    assert not certify.check_nonlocality(p, dataclasses.replace(r, weights=r.weights * 2)).ok


def test_exact_violation_is_rational_and_matches():
    r = certify.nonlocality(bc.pr_box())
    ex = certify.exact_violation(r.bell, bc.pr_box().numpy(), r.scenario, cap=1 / 8)
    assert ex == certify.exact_violation(r.bell, bc.pr_box().numpy(), r.scenario, cap=1 / 8)
    assert float(ex) == pytest.approx(0.25, abs=1e-10)
    # a local point is never certified nonlocal, whatever functional is used
    det = bc.BellScenario.binary(2).deterministic_points()[5]
    assert certify.exact_violation(r.bell, det, r.scenario) <= 0


def test_batch_api_order_and_workers():
    vs = np.linspace(0, 1, 40)
    batch = bc.Behaviour(np.stack([bc.isotropic_pr(v).numpy() for v in vs]))
    one = certify.nonlocality_many(batch)
    two = certify.nonlocality_many(batch, workers=2, chunk_size=7)
    expected = np.maximum(0, (vs - 0.5) / 2)
    np.testing.assert_allclose([r.value for r in one], expected, atol=1e-12)
    np.testing.assert_allclose([r.value for r in two], expected, atol=1e-12)
    vis = certify.visibility_many([bc.pr_box(), bc.tsirelson()])
    assert [round(r.value, 9) for r in vis] == [0.5, round(1 / S2, 9)]


def test_bad_inputs_raise_value_error():
    with pytest.raises(ValueError, match="not normalised"):
        certify.nonlocality(bc.pr_box().numpy() * 0.5)
    with pytest.raises(ValueError, match="batch"):
        certify.nonlocality(np.stack([bc.pr_box().numpy()] * 2))
    with pytest.raises(ValueError, match="backend"):
        certify.nonlocality(bc.pr_box(), backend="gurobi")
    with pytest.raises(ValueError, match="measure"):
        certify.certify_many([bc.pr_box()], measure="volume")


def test_json_result_fields():
    js = certify.nonlocality(bc.pr_box()).to_json()
    for key in ("value", "status", "nonlocal", "bell", "local_bound", "certificate_checked"):
        assert key in js
    assert np.asarray(js["bell"]).shape == (2, 2, 2, 2)


@pytest.mark.parametrize("beh", [bc.tsirelson(), bc.chained(4), bc.isotropic_pr(0.7), bc.embed(bc.pr_box(), 5, "noise")])
def test_exact_violation_equals_plain_fraction_arithmetic(beh):
    """The fast exact path (integer mantissas, float64 integer sums) gives the same rational as Fractions."""
    from fractions import Fraction

    from certify._certificate import BITS, _integer_functional

    r = certify.nonlocality(beh)
    sc, q = beh.scenario, beh.numpy().reshape(-1)
    b_int = _integer_functional(r.bell, sc.normalisation)
    d = sc.deterministic_points().reshape(sc.n_deterministic, -1).astype(np.int64)
    slow = (sum(Fraction(float(x)) * int(y) for x, y in zip(q, b_int)) - int((d @ b_int).max())) / 2**BITS
    assert r.exact_violation == slow
    assert certify.exact_violation(r.bell, q, sc, cap=sc.normalisation) == slow


@pytest.mark.parametrize("m", [2, 3, 4])
def test_results_do_not_depend_on_what_was_solved_before(m):
    """Datasets rely on it (worker-count and resume identity): same q -> bit-identical result."""
    from certify._nl import _program

    sc = bc.BellScenario.binary(m)
    batch = list(bc.sample_uniform_ns(sc, 30, np.random.default_rng(m)))
    first = [certify.nonlocality(b) for b in batch]
    _program.cache_clear()
    second = [certify.nonlocality(b) for b in reversed(batch)][::-1]
    for a, b in zip(first, second):
        assert a.value == b.value and a.exact_violation == b.exact_violation
        np.testing.assert_array_equal(a.bell, b.bell)
        np.testing.assert_array_equal(a.weights, b.weights)
