"""bellcore: scenarios, Behaviour validation, symmetries, Born rule, reference behaviours."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import bellcore as bc


def test_scenario_shape_and_deterministic_points():
    for m, k in [(2, 16), (3, 64), (4, 256), (5, 1024)]:
        sc = bc.BellScenario.binary(m)
        assert sc.shape == (2, 2, m, m)
        d = sc.deterministic_points()
        assert d.shape == (k, 2, 2, m, m)
        assert sc.deterministic_points() is d  # cached
        bc.Behaviour(d, sc).validate()
        assert len({row.tobytes() for row in d}) == k  # all distinct
    sc = bc.BellScenario((3, 2), (2, 3))
    assert sc.n_deterministic == 3**2 * 2**3
    assert hash(sc) == hash(bc.BellScenario((3, 2), (2, 3)))


def test_deterministic_strategy_roundtrip():
    sc = bc.BellScenario.binary(3)
    b = bc.deterministic(sc, ((0, 1, 1), (1, 0, 0)))
    p = b.numpy()
    assert p[0, 1, 0, 0] == 1 and p[1, 1, 1, 0] == 1 and p[1, 0, 2, 2] == 1 and p.sum() == 9
    with pytest.raises(ValueError):
        bc.deterministic(sc, ((0, 2, 1), (1, 0, 0)))


def test_infer_scenario_rules():
    assert bc.infer_scenario((2, 2, 3, 3)) == (bc.BellScenario.binary(3), ())
    assert bc.infer_scenario((7, 2, 2, 4, 4)) == (bc.BellScenario.binary(4), (7,))
    assert bc.infer_scenario((2, 4, 2, 2, 1, 2))[0] == bc.BilocalScenario("bsm")
    assert bc.infer_scenario((5, 2, 2, 2, 2, 2, 2)) == (bc.BilocalScenario("binary"), (5,))
    with pytest.raises(ValueError, match="cannot infer"):
        bc.infer_scenario((3, 3))


def test_scenario_json_roundtrip():
    for sc in [bc.BellScenario((2, 3), (4, 2)), bc.BilocalScenario("binary"), bc.BilocalScenario("bsm")]:
        assert bc.scenario_from_json(sc.to_json()) == sc
    with pytest.raises(ValueError, match="unknown scenario kind"):
        bc.scenario_from_json({"kind": "triangle"})
    with pytest.raises(ValueError, match="variant"):
        bc.BilocalScenario("ghz")


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda p: p.__setitem__((0, 0, 0, 0), np.nan), "not finite"),
        (lambda p: p.__setitem__((0, 0, 1, 1), -0.2), "negative probability"),
        (lambda p: p.__imul__(0.93), "not normalised: sum over outcomes for x=0,y=0 is 0.93"),
    ],
)
def test_validate_reports_problem_and_size(mutate, message):
    p = bc.pr_box().numpy().copy()
    mutate(p)
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        bc.Behaviour(p).validate()


def test_validate_signalling_says_by_how_much():
    # A's marginal depends on y: move 0.05 of weight between outcomes of B only at y=1 for a=0.
    p = bc.isotropic_pr(0.5).numpy().copy()
    p[0, 0, 0, 1] += 0.05
    p[0, 1, 0, 1] -= 0.05
    p[1, 0, 0, 1] -= 0.05
    p[1, 1, 0, 1] += 0.05  # normalised, B's marginal at (x=0,y=1) changed by 0 but A's... keep NS-violating below
    p[0, 0, 1, 1] += 0.07
    p[1, 0, 1, 1] -= 0.07  # B's marginal fixed, A's marginal at x=1 now depends on y by 0.07
    with pytest.raises(ValueError, match=r"signalling: .* by up to 0\.07"):
        bc.Behaviour(p).validate()


def test_validate_batch_names_behaviour():
    p = np.stack([bc.pr_box().numpy(), bc.pr_box().numpy() * 1.1])
    with pytest.raises(ValueError, match=r"behaviour \(1,\)"):
        bc.Behaviour(p).validate()


def test_shape_mismatch_is_a_value_error():
    with pytest.raises(ValueError, match="does not fit scenario"):
        bc.Behaviour(np.zeros((2, 2, 3, 3)), bc.BellScenario.binary(2))


def test_batch_indexing_and_correlators():
    p = np.stack([bc.isotropic_pr(v).numpy() for v in (0.2, 0.5, 1.0)])
    b = bc.Behaviour(p)
    assert b.batch_shape == (3,) and len(b) == 3
    np.testing.assert_allclose(b.correlators()[:, 1, 1], [-0.2, -0.5, -1.0])
    np.testing.assert_allclose(b[2].p, bc.pr_box().p)
    np.testing.assert_allclose(b.marginals()[0], 0.0, atol=1e-15)


def test_from_correlators_roundtrip(rng):
    E = rng.uniform(-0.3, 0.3, (3, 3))
    A, B = rng.uniform(-0.3, 0.3, 3), rng.uniform(-0.3, 0.3, 3)
    b = bc.from_correlators(E, A, B).validate()
    np.testing.assert_allclose(b.correlators(), E)
    np.testing.assert_allclose(b.marginals()[0], A)
    np.testing.assert_allclose(b.marginals()[1], B)


def test_symmetries_keep_validity_and_invert(rng):
    b = bc.chained(3)
    for _ in range(10):
        c = bc.random_relabelling(b, rng).validate()
        assert c.scenario == b.scenario
    perm = np.array([2, 0, 1])
    c = bc.relabel_settings(b, 0, perm)
    np.testing.assert_allclose(c.numpy()[:, :, perm[1], :], b.numpy()[:, :, 1, :])
    np.testing.assert_allclose(bc.swap_parties(bc.swap_parties(b)).p, b.p)
    flips = np.array([[1, 0], [0, 1], [0, 1]])
    c = bc.relabel_outcomes(b, 0, flips)
    np.testing.assert_allclose(c.correlators()[0], -b.correlators()[0])
    with pytest.raises(ValueError):
        bc.relabel_settings(b, 0, [0, 0, 1])


def test_reference_correlators():
    s = 1 / math.sqrt(2)
    np.testing.assert_allclose(bc.tsirelson().correlators(), [[s, s], [s, -s]])
    np.testing.assert_allclose(bc.werner_chsh(0.6).p, bc.tsirelson().mix(0.6).p, atol=1e-14)
    E = bc.chained(4).correlators()
    k = np.arange(4)
    np.testing.assert_allclose(E, np.cos(k[:, None] * np.pi / 4 - (k[None, :] + 0.5) * np.pi / 4), atol=1e-14)


@given(
    theta=st.floats(0, math.pi / 2),
    a=st.lists(st.floats(-1, 1), min_size=9, max_size=9),
    b=st.lists(st.floats(-1, 1), min_size=9, max_size=9),
)
def test_quantum_behaviours_validate(theta, a, b):
    a = np.asarray(a).reshape(3, 3) + np.array([0, 0, 1e-3])  # avoid zero vectors
    b = np.asarray(b).reshape(3, 3) + np.array([1e-3, 0, 0])
    strat = bc.QuantumStrategy.qubits(bc.pure_two_qubit_state(theta), a, b)
    beh = strat.behaviour()
    assert beh.p.dtype == jnp.float64
    beh.validate(1e-9)
    assert bc.is_povm(np.asarray(strat.alice)) and bc.is_povm(np.asarray(strat.bob))


def test_born_rule_is_differentiable():
    """d CHSH / d angle through the Born rule matches a finite difference."""

    def chsh(t):
        strat = bc.QuantumStrategy(
            bc.werner_state(1.0),
            bc.qubit_measurements_xz(jnp.array([0.0, t])),
            bc.qubit_measurements_xz(jnp.array([jnp.pi / 4, -jnp.pi / 4])),
        )
        E = strat.behaviour().correlators()
        return E[0, 0] + E[0, 1] + E[1, 0] - E[1, 1]

    t0 = 1.2
    g = jax.grad(chsh)(t0)
    fd = (chsh(t0 + 1e-6) - chsh(t0 - 1e-6)) / 2e-6
    assert abs(g - fd) < 1e-6
    assert abs(chsh(jnp.pi / 2) - 2 * math.sqrt(2)) < 1e-12


def test_povm_behaviour_with_three_outcomes():
    # trine POVM on A (3 outcomes), projective on B.
    ang = 2 * np.pi * np.arange(3) / 3
    trine = np.stack([(np.eye(2) + np.cos(t) * bc.PAULI[2] + np.sin(t) * bc.PAULI[0]) / 3 for t in ang])
    alice = trine[None]  # one setting
    assert bc.is_povm(alice)
    bob = bc.qubit_measurements_xz(np.array([0.0, np.pi / 2]))
    beh = bc.QuantumStrategy(jnp.asarray(bc.phi_plus()), jnp.asarray(alice), bob).behaviour().validate()
    assert beh.scenario == bc.BellScenario((3, 2), (1, 2))


def test_uniform_and_mix():
    sc = bc.BellScenario((3, 2), (2, 2))
    u = bc.Behaviour.uniform(sc).validate()
    np.testing.assert_allclose(u.p, 1 / 6)
    np.testing.assert_allclose(bc.pr_box().mix(0.0).p, 0.25)
    assert float(bc.pr_box().distance(bc.Behaviour.uniform(bc.pr_box().scenario))) == pytest.approx(0.5)
