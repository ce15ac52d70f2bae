"""Column generation for NL and visibility, and the separable local bound (certify/_colgen.py, docs/measures.md)."""

import jax

jax.config.update("jax_enable_x64", True)

import dataclasses  # noqa: E402
import math  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from bellcore import BellScenario, sample_uniform_ns, tsirelson  # noqa: E402
from certify import check_nonlocality, check_visibility, exact_violation, local_bound, nonlocality, visibility  # noqa: E402
from certify._certificate import scenario_data  # noqa: E402
from certify._colgen import points_model, separable  # noqa: E402

# every scenario where both forms run: binary m = 2..6, qutrits, unequal settings and outcomes
SCENARIOS = [
    ((2, 2), (2, 2)), ((2, 2), (3, 3)), ((2, 2), (4, 4)), ((2, 2), (5, 5)), ((2, 2), (6, 6)),
    ((3, 3), (2, 2)), ((3, 3), (3, 3)), ((2, 2), (4, 2)), ((2, 2), (2, 5)), ((2, 3), (3, 2)), ((3, 2), (2, 4)),
    ((2, 2), (1, 3)), ((3, 2), (1, 4)),
]


def _points(outcomes, settings, n, seed=0):
    sc = BellScenario(outcomes, settings)
    return sc, sample_uniform_ns(sc, n, np.random.default_rng(seed), chains=n).numpy()


@pytest.mark.parametrize("outcomes,settings", SCENARIOS, ids=[f"{d}x{m}" for d, m in SCENARIOS])
def test_colgen_agrees_with_enumeration(outcomes, settings):
    sc, pts = _points(outcomes, settings, 1 if settings == (6, 6) else 3)
    for p in pts:
        a, b = nonlocality(p, method="enumerate"), nonlocality(p, method="colgen")
        assert a.certificate_checked and b.certificate_checked
        assert abs(a.value - b.value) <= 1e-9
        assert b.support is not None and len(b.weights) == len(b.support) < sc.n_deterministic + 1
        assert check_nonlocality(p, b)
        va, vb = visibility(p, method="enumerate"), visibility(p, method="colgen")
        assert va.certificate_checked and vb.certificate_checked
        assert abs(va.value - vb.value) <= 1e-9
        assert check_visibility(p, vb)


@pytest.mark.parametrize("outcomes,settings", SCENARIOS, ids=[f"{d}x{m}" for d, m in SCENARIOS])
def test_separable_local_bound_is_the_enumerated_one(outcomes, settings):
    sc = BellScenario(outcomes, settings)
    rng = np.random.default_rng(1)
    dk = scenario_data(sc).dk
    for _ in range(5):
        bell = rng.normal(size=sc.shape)
        assert separable(sc).local_bound(bell) == pytest.approx(float((dk @ bell.ravel()).max()), abs=1e-12)
        assert local_bound(bell, sc) == pytest.approx(float((dk @ bell.ravel()).max()), abs=1e-12)
        b_int = rng.integers(-(2**40), 2**40, size=sc.size)
        assert separable(sc).local_bound_int(b_int) == int((dk.astype(np.int64) @ b_int).max())
    k = rng.choice(sc.n_deterministic, 7, replace=False)
    w = rng.dirichlet(np.ones(7))
    assert np.allclose(points_model(sc, k, w), scenario_data(sc).d[:, k] @ w, atol=1e-15)


def _duplicated(p2: np.ndarray, m: int) -> np.ndarray:
    """The 2-setting behaviour with every setting copied m/2 times: NL and visibility are unchanged (a local model
    of the copy restricted to any pair of copies is local; copying strategies gives the converse)."""
    idx = np.arange(m) % 2
    return p2[:, :, idx][:, :, :, idx]


def test_ten_settings_by_column_generation():
    """m = 10 (2**20 deterministic points, refused by enumeration): the copied Tsirelson behaviour keeps its
    m = 2 NL and visibility 1/sqrt2, with checked certificates."""
    p2 = tsirelson().numpy()
    p = _duplicated(p2, 10)
    with pytest.raises(ValueError, match="listing them all is supported up to"):
        nonlocality(p, method="enumerate")
    r = nonlocality(p)
    assert r.support is not None and r.certificate_checked and check_nonlocality(p, r)
    assert abs(r.value - nonlocality(p2).value) <= 1e-9
    v = visibility(p)
    assert v.certificate_checked and check_visibility(p, v)
    assert abs(v.value - 1 / math.sqrt(2)) <= 1e-9
    assert exact_violation(v.bell, p, r.scenario) > 0


def test_tampered_colgen_certificates_fail():
    sc, pts = _points((2, 2), (4, 4), 1, seed=3)
    p = pts[0]
    r = nonlocality(p, method="colgen")
    assert r.value > 1e-3 and check_nonlocality(p, r)
    bell = r.bell.copy()
    bell.flat[int(np.argmax(np.abs(bell)))] *= 0.5
    assert not check_nonlocality(p, dataclasses.replace(r, bell=bell))
    support = r.support.copy()
    support[int(np.argmax(r.weights))] = (support[int(np.argmax(r.weights))] + 1) % sc.n_deterministic
    assert not check_nonlocality(p, dataclasses.replace(r, support=support))
    assert not check_nonlocality(p, dataclasses.replace(r, value=r.value + 1e-6))
    out = r.support.copy()
    out[0] = sc.n_deterministic  # out of range: refused, not wrapped onto another point
    assert "support indices" in check_nonlocality(p, dataclasses.replace(r, support=out)).reason
    v = visibility(p, method="colgen")
    assert v.value < 1 and check_visibility(p, v)
    vb = v.bell.copy()
    vb.flat[int(np.argmax(np.abs(vb)))] *= 0.5
    assert not check_visibility(p, dataclasses.replace(v, bell=vb))
    vs = v.support.copy()
    vs[int(np.argmax(v.weights))] = (vs[int(np.argmax(v.weights))] + 1) % sc.n_deterministic
    assert not check_visibility(p, dataclasses.replace(v, support=vs))
    assert "does not match" in check_visibility(p, dataclasses.replace(v, support=vs[:-1])).reason


def test_method_argument():
    p = tsirelson().numpy()
    with pytest.raises(ValueError, match="unknown method"):
        nonlocality(p, method="fast")
    with pytest.raises(ValueError, match="highs backend"):
        nonlocality(p, method="colgen", backend="cvxpy")
    assert nonlocality(p).support is None  # auto: m = 2 enumerates
