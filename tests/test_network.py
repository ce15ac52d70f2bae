"""Bilocal network: Born rule, BRGP quantities, feature maps (docs/measures.md, docs/golden.md)."""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import bellcore as bc  # noqa: E402
from bellcore import (  # noqa: E402
    Behaviour,
    BilocalScenario,
    BilocalStrategy,
    behaviour_from_correlators,
    behaviour_from_ij,
    bell_state_measurement,
    bilocal_werner,
    brgp_ij,
    brgp_measurement,
    brgp_strategy,
    brgp_value,
    features_correlators,
    features_ij,
    is_povm,
    noisy_bell_state_measurement,
    pure_two_qubit_state,
    qubit_measurements_xz,
    two_qubit_projective,
    werner_state,
)


@pytest.mark.parametrize("variant", ["binary", "bsm"])
@pytest.mark.parametrize("v", [0.0, 0.5, 1 / np.sqrt(2), 0.9, 1.0])
def test_werner_brgp(variant, v):
    beh = bilocal_werner(v, variant)
    assert beh.scenario == BilocalScenario(variant)
    assert beh.p.shape == BilocalScenario(variant).shape
    beh.validate()
    I, J = brgp_ij(beh)
    assert float(I) == pytest.approx(v**2 / 2, abs=1e-12)
    assert float(J) == pytest.approx(v**2 / 2, abs=1e-12)
    assert float(brgp_value(beh)) == pytest.approx(np.sqrt(2) * v, abs=1e-12)


def test_bsm_outcomes_are_bell_states():
    m = bell_state_measurement()
    assert is_povm(m)
    s = 1 / np.sqrt(2)
    states = {0: [s, 0, 0, s], 1: [s, 0, 0, -s], 2: [0, s, s, 0], 3: [0, s, -s, 0]}  # Phi+, Phi-, Psi+, Psi-
    for b, psi in states.items():
        psi = np.array(psi)
        probs = [np.real(psi.conj() @ m[0, k] @ psi) for k in range(4)]
        assert probs == pytest.approx(np.eye(4)[b].tolist(), abs=1e-12)
    assert is_povm(np.asarray(noisy_bell_state_measurement(0.7)))
    assert is_povm(brgp_measurement())


@pytest.mark.parametrize("v", [0.6, 1.0])
def test_bsm_coarse_grains_to_binary(v):
    """Bit b0 of the BSM is the Z(x)Z outcome (binary y = 0), bit b1 the X(x)X outcome (y = 1)."""
    bsm = np.asarray(bilocal_werner(v, "bsm").p)[:, :, :, :, 0, :].reshape(2, 2, 2, 2, 2, 2)  # a, b0, b1, c, x, z
    binary = np.asarray(bilocal_werner(v, "binary").p)
    np.testing.assert_allclose(bsm.sum(axis=2), binary[:, :, :, :, 0, :], atol=1e-12)
    np.testing.assert_allclose(bsm.sum(axis=1), binary[:, :, :, :, 1, :], atol=1e-12)


def _random_density(rng):
    g = rng.standard_normal((4, 4)) + 1j * rng.standard_normal((4, 4))
    r = g @ g.conj().T
    return r / np.trace(r)


def _random_unitary(rng):
    g = rng.standard_normal((4, 4)) + 1j * rng.standard_normal((4, 4))
    q, _ = np.linalg.qr(g)
    return q


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from(["binary", "bsm"]))
def test_random_strategies_give_valid_behaviours(seed, variant):
    rng = np.random.default_rng(seed)
    alice = bc.qubit_projective(rng.standard_normal((2, 3)))
    charlie = bc.qubit_projective(rng.standard_normal((2, 3)))
    if variant == "binary":  # two 2-outcome measurements: pairs of projectors of a random basis
        u = np.stack([_random_unitary(rng), _random_unitary(rng)])
        proj = np.asarray(two_qubit_projective(u))  # (2, 4, 4, 4)
        bob = np.stack([proj[:, 0] + proj[:, 1], proj[:, 2] + proj[:, 3]], axis=1)
    else:
        bob = np.asarray(two_qubit_projective(_random_unitary(rng)[None]))
    assert is_povm(bob)
    s = BilocalStrategy(jnp.asarray(_random_density(rng)), jnp.asarray(_random_density(rng)), alice, jnp.asarray(bob), charlie)
    beh = s.behaviour()
    assert beh.scenario.variant == variant
    beh.validate(atol=1e-9)
    # source independence: A and C are uncorrelated
    pac = np.asarray(beh.p).sum(axis=1)[..., 0, :]  # p(a, c | x, z) at y = 0
    pa, pc = pac.sum(axis=1)[:, :, 0], pac.sum(axis=0)[:, 0, :]  # p(a|x), p(c|z)
    np.testing.assert_allclose(pac, np.einsum("ax,cz->acxz", pa, pc), atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from(["binary", "bsm"]))
def test_feature_maps_round_trip(seed, variant):
    rng = np.random.default_rng(seed)
    E = rng.uniform(-1, 1, (2, 2, 2)) * 0.3
    A = rng.uniform(-1, 1, 2) * 0.3
    beh = behaviour_from_correlators(E, A, variant)
    beh.validate()
    f = np.asarray(features_correlators(beh))
    np.testing.assert_allclose(f, np.concatenate([E.ravel(), A]), atol=1e-12)
    feats = np.array([0.2, -0.1, 0.3, -0.2])
    np.testing.assert_allclose(np.asarray(features_ij(behaviour_from_ij(feats, variant))), feats, atol=1e-12)


@pytest.mark.parametrize("variant", ["binary", "bsm"])
def test_werner_is_its_features_inverse(variant):
    """Werner + BRGP measurements: every correlator but <A_x B^y C_z> vanishes, so both inverse maps recover it."""
    beh = bilocal_werner(0.8, variant)
    f = np.asarray(features_correlators(beh))
    np.testing.assert_allclose(behaviour_from_correlators(f[:8].reshape(2, 2, 2), f[8:], variant).p, beh.p, atol=1e-12)
    np.testing.assert_allclose(behaviour_from_ij(np.asarray(features_ij(beh)), variant).p, beh.p, atol=1e-12)


def test_batched_features():
    E = np.random.default_rng(0).uniform(-0.3, 0.3, (5, 2, 2, 2))
    beh = behaviour_from_correlators(E)
    assert beh.batch_shape == (5,)
    assert np.asarray(features_correlators(beh)).shape == (5, 10)
    assert np.asarray(features_ij(beh)).shape == (5, 4)


def test_gradient_flows_through_born_rule():
    def objective(theta):
        rho = pure_two_qubit_state(theta)
        s = brgp_strategy(rho, rho, "binary")
        return brgp_value(s.behaviour())

    g = jax.grad(objective)(0.5)
    assert np.isfinite(float(g)) and abs(float(g)) > 0
    # maximally entangled sources give the quantum maximum sqrt 2
    assert float(objective(np.pi / 4)) == pytest.approx(np.sqrt(2), abs=1e-12)


def test_bad_inputs():
    meas = qubit_measurements_xz(jnp.array([0.0, 1.0]))
    rho = werner_state(1.0)
    with pytest.raises(ValueError, match="bob"):
        BilocalStrategy(rho, rho, meas, jnp.zeros((3, 2, 4, 4)), meas)
    with pytest.raises(ValueError, match="source1"):
        BilocalStrategy(jnp.eye(2), rho, meas, jnp.asarray(brgp_measurement()), meas)
    with pytest.raises(ValueError, match="variant"):
        brgp_strategy(rho, rho, "triangle")
    with pytest.raises(ValueError, match="bilocal"):
        brgp_ij(bc.pr_box())
    with pytest.raises(ValueError, match="axes"):
        behaviour_from_correlators(np.zeros((2, 2)))
    with pytest.raises(ValueError):
        Behaviour(np.zeros((2, 4, 2, 2, 2, 2)), BilocalScenario("bsm"))
