"""Tripartite NL of bilocal-network behaviours (certify.tripartite_nonlocality), checked independently."""

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import certify  # noqa: E402
from bellcore import Behaviour, BilocalScenario, bilocal_werner, pr_box, sample_uniform_ns  # noqa: E402


def _pr_times_deterministic_c():
    """PR box between A and B (B's setting y), C outputs 0 always: tripartite NL = NL(PR) = 1/4."""
    pr = np.asarray(pr_box().p)  # p[a, b, x, y]
    c = np.zeros((2, 2))
    c[0, :] = 1.0  # p(c|z)
    p = np.einsum("abxy,cz->abcxyz", pr, c)
    return Behaviour(p, BilocalScenario("binary"))


def test_pr_box_with_a_deterministic_party():
    r = certify.tripartite_nonlocality(_pr_times_deterministic_c())
    assert r.status == certify.Status.OPTIMAL
    assert r.value == pytest.approx(0.25, abs=1e-9) and r.lower == pytest.approx(0.25, abs=1e-9)
    assert r.is_nonlocal and r.certificate_checked
    assert certify.check_nonlocality(_pr_times_deterministic_c(), r).ok


@pytest.mark.parametrize("variant", ["binary", "bsm"])
def test_brgp_werner_points_are_tripartite_local_but_nonbilocal(variant):
    """The BRGP correlations with Phi+ sources: NBL > 0 certified, yet a tripartite local model exists."""
    beh = bilocal_werner(1.0, variant)
    r = certify.tripartite_nonlocality(beh)
    assert r.status == certify.Status.OPTIMAL and r.upper <= 1e-9 and not r.is_nonlocal
    assert certify.nonbilocality(beh, tol=1e-3).lower > 0.05


def test_highs_and_cvxpy_agree_and_nl3_below_nbl():
    """Independent check: the same LP through cvxpy; and tripartite NL <= NBL (bilocal models are local)."""
    rng = np.random.default_rng(3)
    pts = sample_uniform_ns(BilocalScenario("binary"), 4, rng)
    for p in pts.numpy():
        a = certify.tripartite_nonlocality(p)
        b = certify.tripartite_nonlocality(p, backend="cvxpy")
        assert a.status == certify.Status.OPTIMAL
        assert a.value == pytest.approx(b.value, abs=1e-6)
        assert a.certificate_checked
        nbl = certify.nonbilocality(p, max_nodes=1)
        assert a.value <= nbl.upper + 1e-9


def test_rejects_bad_input():
    with pytest.raises(ValueError):
        certify.tripartite_nonlocality(np.zeros((2, 2, 2, 2)))
    with pytest.raises(ValueError):
        certify.tripartite_nonlocality(bilocal_werner(1.0), backend="nope")


def test_float32_arrays_are_accepted_at_their_precision():
    """A float32 Born rule is normalised to ~1e-7 only: certify validates it at the float32 tolerance."""
    p32 = (np.asarray(bilocal_werner(0.9).p) * (1 + 3e-7)).astype(np.float32)  # off by more than 1e-7
    assert certify.tripartite_nonlocality(p32).status == certify.Status.OPTIMAL
    r = certify.nonbilocality(p32, tol=1e-3)
    assert r.is_nonbilocal and r.certificate_checked
    from bellcore import tsirelson

    q32 = (np.asarray(tsirelson().p) * (1 + 3e-7)).astype(np.float32)
    assert certify.nonlocality(q32).is_nonlocal
