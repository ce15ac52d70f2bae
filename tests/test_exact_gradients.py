"""Exact quantities with gradients (discover/_exact.py): values equal certify's, gradients equal central finite
differences along tangent directions where the optimum is unique, subgradients at kinks, jit / vmap / float32 / NaN.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bellcore
import certify
import discover
from certify._nbl_lp import NBLProgram, z_of_q

FIG3B = {"scenario": "bilocal", "sources": "theta", "bob": "product", "measurements": "bloch", "theta": 0.75}
CHSH = bellcore.BellScenario((2, 2), (2, 2))
NET = bellcore.BilocalScenario("binary")


def _directions(scenario, n, seed):
    """``n`` random unit directions tangent to the no-signalling affine set (flat)."""
    basis = bellcore.ns_affine_basis(scenario)[1]
    d = np.random.default_rng(seed).standard_normal((n, basis.shape[1])) @ basis.T
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def _uniform_ns(scenario, seed):
    return bellcore.sample_uniform_ns(scenario, 1, np.random.default_rng(seed)).numpy().reshape(scenario.shape)


def _nl_point():
    """A nonlocal CHSH point: 0.9 Tsirelson + 0.1 a uniform no-signalling point (NL ~ 0.063)."""
    return 0.9 * bellcore.tsirelson().numpy() + 0.1 * _uniform_ns(CHSH, 0)


def _nl3_point():
    """A tripartite-nonlocal network point: 0.8 (PR box between A and B, C answers 0) + 0.2 uniform NS (NL3 ~ 0.18)."""
    c = np.zeros((2, 2))
    c[0, :] = 1.0
    prc = np.einsum("abxy,cz->abcxyz", bellcore.pr_box().numpy(), c)
    return 0.8 * prc + 0.2 * _uniform_ns(NET, 0)


def _family_point(index):
    """Member ``index`` of 80 float64 draws (PRNGKey(0)) of the Fig. 3b family at theta = 0.75."""
    fam = discover.family_from_spec(FIG3B, dtype=jnp.float64)
    key = jax.random.split(jax.random.PRNGKey(0), 80)[index]
    return np.asarray(fam.init(key).probabilities(jnp.float64))


def _central(fn, p, d, h):
    return (fn(p + h * d.reshape(p.shape)) - fn(p - h * d.reshape(p.shape))) / (2 * h)


def _grad(q, p):
    return np.asarray(jax.grad(q)(jnp.asarray(p)), dtype=np.float64)


# -------------------------------------------------------------------------------------------- NL, NL3
def test_nl_value_is_certify_and_gradient_is_its_bell_functional():
    p = _nl_point()
    q = discover.exact_nl(CHSH)
    r = certify.nonlocality(p)
    assert r.value > 0.05
    assert float(q(jnp.asarray(p))) == r.value
    g = _grad(q, p)
    np.testing.assert_array_equal(g, r.bell)
    fn = lambda x: certify.nonlocality(bellcore.Behaviour(x, CHSH), validate=False).value
    for d in _directions(CHSH, 4, 1):
        assert abs(_central(fn, p, d, 1e-6) - g.ravel() @ d) < 1e-8


def test_nl_gradient_carries_no_signal_inside_the_local_set():
    sc = bellcore.BellScenario((2, 2), (3, 3))
    p = _uniform_ns(sc, 1)  # a uniform NS point of the 3322 scenario: local, strictly inside
    assert certify.nonlocality(p).value == 0.0
    g = _grad(discover.exact_nl(sc), p).ravel()
    basis = bellcore.ns_affine_basis(sc)[1]
    assert np.abs(basis.T @ g).max() < 1e-12  # only components normal to the NS affine set (which p cannot move along)


def test_tripartite_nl_value_and_gradient():
    p = _nl3_point()
    q = discover.exact_tripartite_nl()
    r = certify.tripartite_nonlocality(p)
    assert r.value > 0.1
    assert float(q(jnp.asarray(p))) == r.value
    g = _grad(q, p).ravel()
    fn = lambda x: certify.tripartite_nonlocality(x, validate=False).value
    for d in _directions(NET, 4, 2):
        assert abs(_central(fn, p, d, 1e-6) - g @ d) < 1e-8


# ------------------------------------------------------------------------------------------ NBL upper
def _fixed_source_value(p, which, source):
    """The exact NBL LP at the source distribution ``source`` held fixed (the other source and B's response free)."""
    m = NBLProgram(np.asarray(p, dtype=np.float64).ravel(), 2, 2, NET.normalisation)
    z, zero, one = z_of_q(source), np.zeros(3), np.ones(3)
    m.set_box(z, z, zero, one) if which == 1 else m.set_box(zero, one, z, z)
    ok, value, _ = m.solve()
    assert ok
    return value


def test_nbl_upper_value_is_certify_and_gradient_is_a_fixed_source_subgradient():
    p = _family_point(33)  # nonbilocal: certify's upper bound ~0.048
    q = discover.exact_nbl_upper()
    r = certify.nonbilocality(p, max_nodes=1, starts=1, seed=0, validate=False)
    assert r.upper > 0.04
    assert float(q(jnp.asarray(p))) == r.upper
    g = _grad(q, p).ravel()
    np.testing.assert_array_equal(g, r.upper_dual.ravel())
    # The final LP held one of the model's sources fixed; its value is convex in p, equal to the upper bound at p,
    # and g is a subgradient of it: v(p + t d) >= v(p) + t g.d for every step, on both sides.
    # The negated gradient must fail it (the test can tell a wrong sign).
    dirs = _directions(NET, 6, 3)
    holds, negated_holds = [], []
    for which, source in ((1, r.model.q1), (2, r.model.q2)):
        assert abs(_fixed_source_value(p, which, source) - r.upper) < 1e-9
        rises = [(_fixed_source_value(p + t * d.reshape(p.shape), which, source) - r.upper, t * (g @ d))
                 for d in dirs for t in (1e-3, -1e-3, 1e-5, -1e-5)]
        holds.append(all(dv >= lin - 1e-10 for dv, lin in rises))
        negated_holds.append(all(dv >= -lin - 1e-10 for dv, lin in rises))
    assert any(holds) and not any(negated_holds)


def test_nbl_upper_gradient_against_finite_differences_of_certify():
    """At this point certify's upper bound is smooth along the directions below (differences at 1e-4 ... 1e-7
    agree); the envelope gradient ignores how the alternation's chosen source moves with p, measured here as
    |difference - g.d| <= 1.1e-3 against |g.d| of 0.01-0.15 (docs/discover.md)."""
    p = _family_point(33)
    g = _grad(discover.exact_nbl_upper(), p).ravel()
    fn = lambda x: certify.nonbilocality(x, max_nodes=1, starts=1, seed=0, validate=False).upper
    for d in _directions(NET, 4, 4):
        fd = _central(fn, p, d, 1e-6)
        assert abs(fd - g @ d) < 2e-3 + 0.05 * abs(fd)


# ---------------------------------------------------------------------------------- transformations
def _cases():
    return [
        (discover.exact_nl(CHSH), np.stack([_nl_point(), bellcore.isotropic_pr(0.8).numpy(), _uniform_ns(CHSH, 3)])),
        (discover.exact_tripartite_nl(), np.stack([_nl3_point(), _uniform_ns(NET, 4)])),
        (discover.exact_nbl_upper(), np.stack([_family_point(33), _family_point(6)])),
    ]


@pytest.mark.parametrize("case", range(3))
def test_vmap_and_jit_match_host(case):
    q, ps = _cases()[case]
    values, grads = jax.jit(jax.vmap(jax.value_and_grad(q)))(jnp.asarray(ps))
    for p, v, g in zip(ps, np.asarray(values), np.asarray(grads)):
        hv, hg = q.value_and_grad(p)
        assert v == hv
        np.testing.assert_array_equal(g, hg)


@pytest.mark.parametrize("case", range(3))
def test_float32_input_is_computed_in_float64_and_returned_in_float32(case):
    q, ps = _cases()[case]
    with jax.enable_x64(False):
        p32 = jnp.asarray(ps, dtype=jnp.float32)
        values, grads = jax.jit(jax.vmap(jax.value_and_grad(q)))(p32)
        assert values.dtype == jnp.float32 and grads.dtype == jnp.float32
    for p, v, g in zip(np.asarray(p32, dtype=np.float64), np.asarray(values), np.asarray(grads)):
        hv, hg = q.value_and_grad(p)  # the float64 computation on the float32 input's values
        assert v == np.float32(hv)
        np.testing.assert_array_equal(g, hg.astype(np.float32))


@pytest.mark.parametrize("case", range(3))
def test_nan_input_gives_nan_value_and_gradient(case):
    q, ps = _cases()[case]
    p = ps[0].copy()
    p.flat[0] = np.nan
    v, g = jax.value_and_grad(q)(jnp.asarray(p))
    assert math.isnan(float(v)) and np.isnan(np.asarray(g)).all()


def test_unsolved_certify_status_gives_nan(monkeypatch):
    def failed_nl(p, **kw):
        return certify.NonlocalityResult(math.nan, certify.Status.ERROR, "forced failure", CHSH)

    monkeypatch.setattr(certify, "nonlocality", failed_nl)
    v, g = jax.value_and_grad(discover.exact_nl(CHSH))(jnp.asarray(_nl_point()))
    assert math.isnan(float(v)) and np.isnan(np.asarray(g)).all()


def test_bad_shape_is_refused():
    with pytest.raises(ValueError, match="shape"):
        discover.exact_nl(CHSH)(jnp.zeros((2, 2, 3, 3)))
    with pytest.raises(ValueError, match="bipartite"):
        discover.exact_nl(NET)
    with pytest.raises(ValueError, match="starts"):
        discover.exact_nbl_upper(starts=0)


# ------------------------------------------------------------------------------------- as a target
def test_exact_gradient_search_runs_on_the_fig3b_family():
    """Exact-gradient search from random starts: the NBL upper bound as an Objective target, float32 search."""
    family = discover.family_from_spec(FIG3B)
    objective = discover.Objective.make(discover.exact_nbl_upper(), brgp_max=0.99)
    res = discover.search(discover.GradientSearch(starts=3, learning_rate=0.05), family, objective, steps=3, seed=0)
    assert res.trace.nan.sum() == 0
    assert np.isfinite(res.trace.value).all() and np.isfinite(res.values).all()
    assert res.trace.best[-1] >= res.trace.value[0]
    assert res.trace.evaluations[-1] == 9
