"""The triangle's quantum family, the differentiable inflation lower bound and the network search (discover)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bellcore
import certify
import discover
from certify._inflation import InflationCertificate
from discover._network_exact import _solve_at


def _explicit_born(strategy) -> np.ndarray:
    """p[a, b, c, x, y, z] by building the 64 x 64 state and the measurement operators (no einsum bookkeeping)."""
    ra, rb, rg = (np.asarray(s(jnp.float64)) for s in (strategy.alpha, strategy.beta, strategy.gamma))
    ma, mb, mc = (np.asarray(m(jnp.float64)) for m in (strategy.alice, strategy.bob, strategy.charlie))
    rho = np.kron(np.kron(ra, rb), rg).reshape([2] * 12)  # qubits: alpha (B, C), beta (A, C), gamma (A, B)
    perm = [2, 4, 0, 5, 1, 3]  # -> A (beta, gamma), B (alpha, gamma), C (alpha, beta)
    rho = rho.transpose(perm + [k + 6 for k in perm]).reshape(64, 64)
    m, o = ma.shape[:2]
    p = np.zeros((o, o, o, m, m, m))
    for idx in np.ndindex(p.shape):
        a, b, c, x, y, z = idx
        op = np.kron(np.kron(ma[x, a], mb[y, b]), mc[z, c])
        p[idx] = np.trace(rho @ op).real
    return p


@pytest.mark.parametrize("spec", [
    {"scenario": "triangle", "outcomes": 3, "sources": "mixed"},
    {"scenario": "triangle", "outcomes": 2, "settings": 2},
])
def test_family_behaviours_valid_and_born_rule_matches_explicit(spec):
    fam = discover.family_from_spec(spec)
    assert fam.scenario == bellcore.triangle(outcomes=spec["outcomes"], settings=spec.get("settings", 1))
    P = fam.sample(jax.random.PRNGKey(1), 3)  # one jitted, vmapped float64 Born rule
    for p in P:
        bellcore.network_behaviour(p, fam.scenario).validate(atol=1e-10)  # normalised, >= 0, no-signalling
    s = fam.init(jax.random.split(jax.random.PRNGKey(1), 3)[0])  # the first sampled member
    assert np.abs(P[0] - _explicit_born(s)).max() < 1e-10


def test_qubit_order_each_party_sees_its_own_sources():
    """|Phi+> on gamma only, every party reads its qubits in Z: A's gamma bit equals B's gamma bit, C sees nothing
    of gamma (a wrong source/qubit order correlates other pairs)."""
    fam = discover.family_from_spec({"scenario": "triangle", "outcomes": 4})
    phi = discover.PureState(jnp.array([1.0, 0, 0, 1]), jnp.zeros(4))
    zero = discover.PureState(jnp.array([1.0, 0, 0, 0]), jnp.zeros(4))
    z = discover.JointMeasurement(jnp.zeros((1, 4, 4)), (0, 1, 2, 3))  # computational basis: outcome = 2 q1 + q2
    s = discover.TriangleStrategy(zero, zero, phi, z, z, z)
    p = np.asarray(s.probabilities(jnp.float64))[..., 0, 0, 0]
    # A = (beta, gamma) bits, B = (alpha, gamma), C = (alpha, beta): A's and B's second bits equal, C always 0
    assert p[0, 0, 0] == pytest.approx(0.5) and p[1, 1, 0] == pytest.approx(0.5)
    assert fam.scenario.shape == (4, 4, 4, 1, 1, 1)


def test_product_sources_are_triangle_local():
    fam = discover.family_from_spec({"scenario": "triangle", "outcomes": 2})
    s = fam.init(jax.random.PRNGKey(3))
    rng = np.random.default_rng(0)

    def product():
        u, v = rng.normal(size=2) + 1j * rng.normal(size=2), rng.normal(size=2) + 1j * rng.normal(size=2)
        psi = np.kron(u, v)
        return discover.PureState(jnp.asarray(psi.real), jnp.asarray(psi.imag))

    s = discover.TriangleStrategy(product(), product(), product(), s.alice, s.bob, s.charlie)
    res = certify.network_nonlocality(s.behaviour(np.float64), time_limit=30)
    assert res.upper <= 1e-9 and res.lower == 0.0 and res.model is not None
    assert not discover.is_discovery(res, discover.Constraints(), bilocal=False)


def test_bad_triangle_family_specs():
    for spec, msg in [({"scenario": "triangle", "outcomes": 5}, "outcomes"),
                      ({"scenario": "triangle", "sources": "theta"}, "sources"),
                      ({"scenario": "triangle", "outcomes": 2, "groups": [0, 0, 0, 0]}, "groups"),
                      ({"scenario": "triangle", "bob": "bsm"}, "unknown key")]:
        with pytest.raises(ValueError, match=msg):
            discover.family_from_spec(spec)
    with pytest.raises(ValueError, match="copies|copy"):
        discover.exact_inflation_lower(bellcore.triangle(), (1, 2))


def _generic_ghz(seed):
    rng = np.random.default_rng(seed)
    return 0.8 * bellcore.ghz_triangle(1).p.ravel() + 0.2 * rng.dirichlet(np.ones(8))


@pytest.mark.parametrize("copies", [(1, 1, 2), (1, 2, 2)])
def test_inflation_gradient_matches_finite_differences(copies):
    """At a generic nonlocal point: the envelope gradient at fixed D0 equals central differences of the re-solved
    LP, dg/dD0 likewise, and the implicit gradient of the certified lower (D0 optimised) equals central differences
    of the certified lower itself, along directions tangent to the (no-input) behaviours."""
    sc = bellcore.triangle()
    q = _generic_ghz(5)
    rng = np.random.default_rng(7)
    value, grad, cert = discover.inflation_lower_and_grad(sc, copies, q)
    assert value > 0.1 and cert.lower == value
    y, delta, obj = _solve_at(sc, copies, q, cert.D0)
    g, dq, dD = discover.dual_bound_parts(sc, copies, q, cert.D0, y, delta)
    assert g == pytest.approx(obj, abs=1e-8)
    h = 1e-6
    fdD = (_solve_at(sc, copies, q, cert.D0 + h)[2] - _solve_at(sc, copies, q, cert.D0 - h)[2]) / (2 * h)
    assert dD == pytest.approx(fdD, abs=1e-6) and dD < 0
    for _ in range(3):
        v = rng.dirichlet(np.ones(8)) - q
        fd = (_solve_at(sc, copies, q + h * v, cert.D0)[2] - _solve_at(sc, copies, q - h * v, cert.D0)[2]) / (2 * h)
        assert dq @ v == pytest.approx(fd, abs=1e-6)
        h2 = 1e-4  # the certified lower's D0 comes from regula falsi (relative tolerance 1e-4): a larger step
        lo = [discover.inflation_lower_and_grad(sc, copies, q + t * h2 * v)[0] for t in (1, -1)]
        assert grad @ v == pytest.approx((lo[0] - lo[1]) / (2 * h2), abs=2e-5)


def test_exact_inflation_lower_is_certified_and_differentiable_in_jax():
    sc = bellcore.triangle()
    bound = discover.exact_inflation_lower(sc, (1, 1, 2))
    qs = np.stack([_generic_ghz(s).reshape(sc.shape) for s in (1, 2)])
    vals = jax.jit(jax.vmap(bound))(jnp.asarray(qs))
    grads = jax.grad(lambda p: bound(p))(jnp.asarray(qs[0]))
    v0, g0, cert = discover.inflation_lower_and_grad(sc, (1, 1, 2), qs[0].ravel())
    assert float(vals[0]) == v0 and np.allclose(np.asarray(grads).ravel(), g0)
    # the value is the certificate's exact re-check, not a solver objective
    chk = certify.check_inflation_certificate(sc, qs[0].ravel(), cert)
    assert chk.ok and v0 == max(0.0, chk.recomputed)
    bad = InflationCertificate(cert.copies, cert.D0, cert.y, v0 + 1e-3)
    assert not certify.check_inflation_certificate(sc, qs[0].ravel(), bad).ok
    # fixed D0: min(D0, f(D0)); inside the local set: 0 with a zero gradient; float32 works
    fixed = discover.exact_inflation_lower(sc, (1, 1, 2), D0=0.1)
    assert 0 < float(fixed(jnp.asarray(qs[0]))) <= 0.1
    uniform = jnp.full(sc.shape, 1 / 8)
    assert float(bound(uniform)) == 0.0 and not np.any(np.asarray(jax.grad(bound)(uniform)))
    v32 = bound(jnp.asarray(qs[0], jnp.float32))
    assert v32.dtype == jnp.float32 and abs(float(v32) - v0) < 1e-4


def test_amplified_objective_through_the_born_rule():
    fam = discover.family_from_spec({"scenario": "triangle", "outcomes": 2})
    s = fam.init(jax.random.PRNGKey(0))
    p = s.probabilities(jnp.float64)
    p32 = s.probabilities(jnp.float32)
    assert p32.dtype == jnp.float32 and np.abs(np.asarray(p32) - np.asarray(p)).max() < 1e-5
    assert discover.Family is type(fam) and s.behaviour(np.float64).scenario == bellcore.triangle()
    a = discover.amplified(p, 3.0)
    assert np.isclose(float(a.sum()), 1.0) and float(a.min()) >= 0
    assert np.allclose(discover.amplified(p, 0.0), p)
    obj = discover.network_objective(fam.scenario, (1, 1, 2), amplify=3.0)
    ev = obj(s)
    assert np.isfinite(float(ev.value)) and float(ev.value) >= 0
    with pytest.raises(ValueError, match="amplify"):
        discover.network_objective(bellcore.triangle(settings=2), amplify=1.0)


def test_network_search_certifies_candidates_with_the_one_discovery_rule():
    fam = discover.family_from_spec({"scenario": "triangle", "outcomes": 2})
    out = discover.network_search(fam, amplify=3.0, searchers=[discover.RandomSearch(batch=8)], steps=1, top=2,
                                  certify_options={"time_limit": 10, "inflations": [(1, 1, 2)]}, seed=1)
    assert 1 <= len(out.candidates) <= 2 and out.seconds >= out.search_seconds
    for c in out.candidates:
        assert c.result.lower <= c.result.upper and c.behaviour.shape == fam.scenario.shape
        assert np.allclose(c.behaviour, discover.behaviours_of(fam, c.params[None])[0])
        assert c.discovery == discover.is_discovery(c.result, discover.Constraints(), bilocal=False)
    assert out.to_json()["discoveries"] == len(out.discoveries)
    # a given start is certified as it is (searcher "start"), beside the searchers' points
    start = out.candidates[0].params[None]
    seeded = discover.network_search(fam, searchers=[discover.GradientSearch(starts=1)], steps=1, top=1,
                                     starts=start, certify_starts=True, seed=2,
                                     certify_options={"time_limit": 10, "inflations": [(1, 1, 2)]})
    assert any(c.searcher in ("start", "gradient") and np.allclose(c.params, start[0]) for c in seeded.candidates)
    # the rule on a certified nonlocal network result (GHZ triangle, one cheap inflation)
    ghz = certify.network_nonlocality(bellcore.ghz_triangle(), inflations=[(1, 1, 2)], time_limit=30)
    assert ghz.lower > 0.2 and discover.is_discovery(ghz, discover.Constraints(), bilocal=False)
    with pytest.raises(ValueError, match="bilocal"):
        discover.network_search(fam, constraints=discover.Constraints(brgp_max=1.0))
