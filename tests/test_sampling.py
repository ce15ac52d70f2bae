"""Samplers (bellcore._sampling): stated measures, valid behaviours, reproducible seeds."""

import itertools

import numpy as np
import pytest

import bellcore as bc
from bellcore import (
    CHSH_CLASSES,
    SAMPLERS,
    chsh_class,
    chsh_max,
    hit_and_run,
    ns_affine_basis,
    ns_vertices,
    sample,
    sampler_params,
)

from ._ns import ns_vertices_m2

SCENARIOS = {
    "bell2": bc.BellScenario.binary(2),
    "bell3": bc.BellScenario.binary(3),
    "bell5": bc.BellScenario.binary(5),
    "bell-d3": bc.BellScenario((3, 3), (2, 2)),
    "binary": bc.BilocalScenario("binary"),
    "bsm": bc.BilocalScenario("bsm"),
}


def _supported():
    for (sname, sc), (name, info) in itertools.product(SCENARIOS.items(), SAMPLERS.items()):
        kind = "bilocal" if isinstance(sc, bc.BilocalScenario) else "bell"
        if kind not in info.kinds:
            continue
        binary_bell = isinstance(sc, bc.BellScenario) and sc.outcomes == (2, 2)
        if name in ("marginal-first", "vertex-mixture", "chsh-correlators") and not binary_bell:
            continue
        if name == "vertex-mixture" and max(sc.settings) > 3:
            continue
        if name == "chsh-correlators" and sc.settings != (2, 2):
            continue
        yield sname, name


SUPPORTED = list(_supported())


def _params(name, sc):
    # a short uniform-ns chain keeps this test fast; its measure is tested separately
    return {"burn_in": 200, "thin": 5} if name == "uniform-ns" else {}


@pytest.mark.parametrize("sname,name", SUPPORTED)
def test_samples_are_valid_behaviours_and_reproducible(sname, name):
    sc = SCENARIOS[sname]
    kw = _params(name, sc)
    a = sample(name, sc, 64, np.random.default_rng(3), **kw)
    assert a.scenario == sc and a.batch_shape == (64,)
    assert a.p.dtype == np.float64
    a.validate(1e-9)
    b = sample(name, sc, 64, np.random.default_rng(3), **kw)
    np.testing.assert_array_equal(a.p, b.p)
    c = sample(name, sc, 64, np.random.default_rng(4), **kw)
    assert not np.array_equal(a.p, c.p)


def test_ns_affine_dimensions():
    for m in (2, 3, 4, 5):
        p0, basis = ns_affine_basis(bc.BellScenario.binary(m))
        assert basis.shape == (4 * m * m, m * m + 2 * m)
        np.testing.assert_allclose(basis.T @ basis, np.eye(basis.shape[1]), atol=1e-12)
    assert ns_affine_basis(bc.BilocalScenario("binary"))[1].shape[1] == 26
    assert ns_affine_basis(bc.BilocalScenario("bsm"))[1].shape[1] == 35
    # d = 3, m = 2: (m(d-1)+1)^2 - 1 = 24
    assert ns_affine_basis(bc.BellScenario((3, 3), (2, 2)))[1].shape[1] == 24


def test_uniform_ns_local_fraction_m2_is_16_over_17():
    """Exact volume ratio 16/17 (docs/golden.md); local <=> all 8 CHSH <= 2."""
    sc = bc.BellScenario.binary(2)
    local = []
    for chunk in range(40):
        b = sample("uniform-ns", sc, 1000, np.random.default_rng(np.random.SeedSequence(2024, spawn_key=(chunk,))))
        local.append(chsh_max(b.correlators()) <= 2)
    frac = np.concatenate(local).mean()
    se = np.sqrt(16 / 17 * (1 / 17) / 40_000)
    assert abs(frac - 16 / 17) < 4 * se, (frac, 16 / 17, se)


def test_uniform_ns_short_burn_in_is_detectably_biased():
    """The burn-in matters: chains started at white noise and stopped early over-weight the local centre."""
    sc = bc.BellScenario.binary(2)
    b = sample("uniform-ns", sc, 40_000, np.random.default_rng(5), chains=4000, burn_in=2, thin=1)
    frac = (chsh_max(b.correlators()) <= 2).mean()
    assert frac > 16 / 17 + 0.01


def test_hit_and_run_uniform_on_a_square():
    """Hit-and-run on the triangle {x >= 0} of a 2-D slice: marginals match the uniform law."""
    # p = (x, y, 1 - x - y) >= 0 in the plane sum = 1: uniform on the triangle => E[x] = 1/3, P(x < 1/2) = 3/4
    basis = np.linalg.qr(np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]))[0]
    start = np.full((256, 3), 1 / 3)
    pts = hit_and_run(np.random.default_rng(0), start, basis, burn_in=200, thin=5, draws=100).reshape(-1, 3)
    assert np.all(pts >= -1e-12)
    np.testing.assert_allclose(pts.sum(axis=1), 1, atol=1e-12)
    assert abs(pts[:, 0].mean() - 1 / 3) < 0.01
    assert abs((pts[:, 0] < 0.5).mean() - 0.75) < 0.01


def test_ns_vertices():
    V2 = ns_vertices(bc.BellScenario.binary(2))
    assert V2.shape == (24, 2, 2, 2, 2)
    ref = ns_vertices_m2().reshape(24, -1)
    got = V2.reshape(24, -1)
    assert {tuple(r) for r in np.round(ref, 12)} == {tuple(r) for r in np.round(got, 12)}
    # m = 3: every listed point is a vertex (its zeros and the NS equalities pin it down uniquely)
    sc = bc.BellScenario.binary(3)
    V3 = ns_vertices(sc).reshape(-1, sc.size)
    p0, basis = ns_affine_basis(sc)
    assert len({tuple(r) for r in np.round(V3, 12)}) == len(V3) == 64 + 1344
    for v in V3[::37]:
        zeros = np.flatnonzero(v < 1e-12)
        assert np.linalg.matrix_rank(basis[zeros]) == basis.shape[1]
    with pytest.raises(ValueError, match="3 settings"):
        ns_vertices(bc.BellScenario.binary(4))


def test_vertex_mixture_dirichlet_one_is_local_at_m2_and_sparse_is_not():
    sc = bc.BellScenario.binary(2)
    dense = sample("vertex-mixture", sc, 2000, np.random.default_rng(1), alpha=1.0)
    assert np.all(chsh_max(dense.correlators()) <= 2 + 1e-12)
    sparse = sample("vertex-mixture", sc, 2000, np.random.default_rng(1), alpha=0.05)
    assert np.mean(chsh_max(sparse.correlators()) > 2) > 0.1


def test_local_and_quantum_respect_their_bounds():
    sc = bc.BellScenario.binary(2)
    loc = sample("local", sc, 2000, np.random.default_rng(1), alpha=0.1)
    assert np.all(chsh_max(loc.correlators()) <= 2 + 1e-12)
    q = sample("quantum", sc, 2000, np.random.default_rng(1))
    cm = chsh_max(q.correlators())
    assert np.all(cm <= 2 * np.sqrt(2) + 1e-9) and np.any(cm > 2)


def _brgp(beh):
    """sqrt|I| + sqrt|J| for binary bilocal behaviours (docs/golden.md)."""
    E = beh.correlator((0, 1, 2))  # (N, x, y, z)
    s = np.array([[1.0, -1.0], [-1.0, 1.0]])
    I = E[:, :, 0, :].sum(axis=(1, 2)) / 4
    J = (E[:, :, 1, :] * s).sum(axis=(1, 2)) / 4
    return np.sqrt(np.abs(I)) + np.sqrt(np.abs(J)), I, J


def test_bilocal_local_models_satisfy_brgp_and_bell_bsm_quantum_can_violate():
    sc = bc.BilocalScenario("binary")
    loc = sample("local", sc, 2000, np.random.default_rng(2), alpha=0.2)
    assert np.all(_brgp(loc)[0] <= 1 + 1e-9)
    q = sample("quantum", sc, 3000, np.random.default_rng(2), b_measurement="bell")
    val = _brgp(q)[0]
    assert np.all(val <= np.sqrt(2) + 1e-9)
    bsm = sample("quantum", bc.BilocalScenario("bsm"), 50, np.random.default_rng(2), b_measurement="bell")
    bsm.validate(1e-9)


def test_feature_families_have_only_their_features():
    sc = bc.BilocalScenario("binary")
    b = sample("features-ij", sc, 500, np.random.default_rng(0))
    val, I, J = _brgp(b)
    E = b.correlator((0, 1, 2))
    np.testing.assert_allclose(E[:, :, 0, :], np.broadcast_to(I[:, None, None], (500, 2, 2)), atol=1e-12)
    for pair in [(0, 1), (1, 2), (0, 2), (1,), (2,)]:
        np.testing.assert_allclose(b.correlator(pair), 0, atol=1e-12)
    assert np.abs(b.correlator((0,))).max() > 0.3
    b = sample("features-abc", sc, 500, np.random.default_rng(0))
    for pair in [(0, 1), (1, 2), (0, 2), (1,), (2,)]:
        np.testing.assert_allclose(b.correlator(pair), 0, atol=1e-12)
    assert np.abs(b.correlator((0, 1, 2))).max() > 0.5


def test_chsh_classes_reference_points_and_fractions():
    pr = np.array([[1.0, 1.0], [1.0, -1.0]])
    assert list(chsh_class(np.stack([pr, 0.95 * pr / np.sqrt(2), 0.5 * pr, np.ones((2, 2))]))) == [2, 1, 0, 0]
    sc = bc.BellScenario.binary(2)
    b = sample("chsh-correlators", sc, 30_000, np.random.default_rng(0))
    np.testing.assert_allclose(b.marginals()[0], 0, atol=1e-15)
    c = chsh_class(b.correlators())
    frac = np.bincount(c, minlength=3) / len(c)
    np.testing.assert_allclose(frac, [2 / 3, 3 * np.pi**2 / 32 - 2 / 3, 1 - 3 * np.pi**2 / 32], atol=0.012)
    bal = sample("chsh-correlators", sc, 301, np.random.default_rng(0), balance=True)
    assert list(np.bincount(chsh_class(bal.correlators()), minlength=3)) == [101, 100, 100]
    assert CHSH_CLASSES == ("local", "quantum", "postquantum")


def test_sampler_parameter_errors():
    sc = bc.BellScenario.binary(2)
    with pytest.raises(ValueError, match="unknown sampler"):
        sample("nope", sc, 3, np.random.default_rng(0))
    with pytest.raises(ValueError, match="no parameter"):
        sample("local", sc, 3, np.random.default_rng(0), beta=2)
    with pytest.raises(ValueError, match="does not support"):
        sample("features-ij", sc, 3, np.random.default_rng(0))
    with pytest.raises(ValueError, match="binary-outcome"):
        sample("marginal-first", bc.BellScenario((3, 3), (2, 2)), 3, np.random.default_rng(0))
    with pytest.raises(ValueError, match="alpha"):
        sample("local", sc, 3, np.random.default_rng(0), alpha=0)
    assert sampler_params("uniform-ns")["chains"] == 16
