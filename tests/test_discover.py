"""discover: parametrised strategies, objectives, searchers, certification of candidates."""

import jax

jax.config.update("jax_enable_x64", True)

import math  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402

import bellcore as bc  # noqa: E402
import certify  # noqa: E402
import discover as d  # noqa: E402


def _keys(n, seed=0):
    return jax.random.split(jax.random.PRNGKey(seed), n)


# ------------------------------------------------------------------------------------------ components
@pytest.mark.parametrize("cls", [d.PureState, d.MixedState])
def test_states_are_valid_for_any_reals(cls):
    for k in _keys(5):
        rho = np.asarray(cls.random(k, 4, jnp.float64)(jnp.float64))
        assert np.allclose(rho, rho.conj().T, atol=1e-12)
        assert np.trace(rho).real == pytest.approx(1.0, abs=1e-12)
        assert np.linalg.eigvalsh(rho).min() > -1e-12


@pytest.mark.parametrize(
    "make",
    [
        lambda k: d.BlochMeasurements.random(k, 3, jnp.float64),
        lambda k: d.PlaneMeasurements.random(k, 2, "xy", jnp.float64),
        lambda k: d.LossyMeasurements(d.BlochMeasurements.random(k, 2, jnp.float64), 0.7),
        lambda k: d.ProductMeasurements.random(k, jnp.float64),
        lambda k: d.TwoQubitProjective.random(k, 2, jnp.float64),
        lambda k: d.TwoQubitProjective.random(k, 4, jnp.float64),
        lambda k: d.FixedMeasurement("bsm"),
    ],
)
def test_measurements_are_povms_for_any_reals(make):
    for k in _keys(4):
        assert bc.is_povm(np.asarray(make(k)(jnp.float64)), atol=1e-10)


def test_lossy_measurement_no_click_is_plus_one():
    inner = d.PlaneMeasurements((0.3, 1.2))
    m = np.asarray(d.LossyMeasurements(inner, 0.6)(jnp.float64))
    base = np.asarray(inner(jnp.float64))
    assert np.allclose(m[:, 1], 0.6 * base[:, 1]) and np.allclose(m[:, 0], 0.6 * base[:, 0] + 0.4 * np.eye(2))
    with pytest.raises(ValueError):
        d.LossyMeasurements(inner, 1.5)


def test_fixed_parts_are_not_searched():
    s = d.family_from_spec({"scenario": "bilocal", "theta": 0.7, "bob": "brgp"}).init(jax.random.PRNGKey(0))
    assert d.leaf_paths(d.params_of(s)[0]) == ["alice.angles", "charlie.angles"]
    assert s.theta == pytest.approx(0.7)


def test_brgp_strategy_reproduced_by_the_parametrised_network():
    """Phi+ sources (theta = pi/4), A = C in the XZ plane at +-pi/4, B = ZZ / XX: bellcore's reference."""
    meas = d.PlaneMeasurements((math.pi / 4, -math.pi / 4), "xz")
    # bellcore's angle t gives cos(t) Z + sin(t) X; ours cos(t) X + sin(t) Z: t -> pi/2 - t
    meas = d.PlaneMeasurements((math.pi / 2 - math.pi / 4, math.pi / 2 + math.pi / 4), "xz")
    s = d.NetworkStrategy(d.ThetaState(math.pi / 4), d.ThetaState(math.pi / 4), meas, d.FixedMeasurement("brgp"), meas)
    p = s.behaviour(np.float64).p
    assert np.allclose(p, bc.bilocal_werner(1.0).p, atol=1e-12)
    assert float(bc.brgp_value(s.behaviour(np.float64))) == pytest.approx(math.sqrt(2), abs=1e-12)


@pytest.mark.parametrize(
    "spec",
    [
        {"scenario": "bell", "state": "mixed", "settings": 3},
        {"scenario": "bell", "state": "theta", "measurements": "plane", "eta": 0.8},
        {"scenario": "bell", "state": "werner", "v": 0.9},
        {"scenario": "bilocal", "sources": "pure", "bob": "general"},
        {"scenario": "bilocal", "sources": "werner", "bob": "general4"},
        {"scenario": "bilocal", "theta": 0.6, "bob": "bsm"},
    ],
)
def test_family_behaviours_valid_in_both_precisions(spec):
    fam = d.family_from_spec(spec)
    s = fam.init(jax.random.PRNGKey(1))
    b32, b64 = s.behaviour(jnp.float32), s.behaviour(np.float64)
    assert b32.p.dtype == jnp.float32 and isinstance(b64.p, np.ndarray) and b64.p.dtype == np.float64
    assert b64.scenario == fam.scenario
    b64.validate(atol=1e-9)
    assert np.allclose(np.asarray(b32.p), b64.p, atol=1e-5)


def test_family_spec_errors():
    for bad in ({"scenario": "tri"}, {"scenario": "bell", "colour": 1}, {"scenario": "bell", "eta": 0},
                {"scenario": "bilocal", "bob": "magic"}, {"scenario": "bell", "state": "gibbs"}):
        with pytest.raises(ValueError):
            d.family_from_spec(bad)


# ------------------------------------------------------------------------------------------ objectives
class _TinyMLP(eqx.Module):
    """Stand-in for a surrogate in unit tests: features_correlators -> MLP -> (mean, std)."""

    mlp: eqx.nn.MLP

    def __call__(self, p):
        x = bc.features_correlators(bc.Behaviour(p, bc.BilocalScenario("binary"))).astype(jnp.float64)
        y = self.mlp(x)
        return _Pred(y[0], jax.nn.softplus(y[1]))


class _Pred(eqx.Module):
    mean: jax.Array
    std: jax.Array


def _tiny_mlp():
    return _TinyMLP(eqx.nn.MLP(10, 2, 16, 2, key=jax.random.PRNGKey(7), dtype=jnp.float64))


def test_gradient_of_whole_objective_matches_finite_differences():
    """Born rule -> feature map -> MLP (mean + kappa std) - BRGP penalty - bound penalty, in float64."""
    fam = d.family_from_spec({"scenario": "bilocal", "sources": "theta", "bob": "product"}, dtype=jnp.float64)
    s = fam.init(jax.random.PRNGKey(3))
    params, static = d.params_of(s)
    flat, unravel = ravel_pytree(params)
    obj = d.Objective.make(_tiny_mlp(), kappa=0.5, brgp_max=0.2, bounds={"source1.theta": (0.0, 0.1)})

    def f(x):
        return obj(d.with_params(static, unravel(x))).value

    ev = obj(s)
    assert float(ev.penalty) > 0  # both penalties active, so their gradients are tested too
    g = np.asarray(jax.grad(f)(flat))
    h = 1e-6
    fd = np.array([(f(flat.at[i].add(h)) - f(flat.at[i].add(-h))) / (2 * h) for i in range(flat.size)])
    assert np.allclose(g, fd, rtol=1e-5, atol=1e-7)


def test_nan_is_an_explicit_recorded_penalty():
    fam = d.family_from_spec({"scenario": "bell"})
    obj = d.Objective.make(lambda p: jnp.where(p[0, 0, 0, 0] > 0.25, jnp.nan, d.chsh_target(p)))
    res = d.search(d.RandomSearch(batch=32), fam, obj, steps=3, seed=0)
    assert res.trace.nan.sum() > 0
    assert np.all(res.values > -d.NAN_VALUE)  # NaN evaluations never become candidates
    ev = jax.vmap(lambda k: obj(fam.init(k)))(_keys(32))
    assert np.all(np.asarray(ev.value)[np.asarray(ev.nan)] == -d.NAN_VALUE)
    gres = d.search(d.GradientSearch(starts=16), fam, obj, steps=5, seed=0)
    assert gres.trace.nan.sum() > 0 and np.all(np.isfinite(gres.trace.best))


def test_bounds_must_name_searched_parameters():
    fam = d.family_from_spec({"scenario": "bell"})
    obj = d.Objective.make(d.chsh_target, bounds={"nope": (0, 1)})
    with pytest.raises(ValueError, match="unknown parameter"):
        obj(fam.init(jax.random.PRNGKey(0)))


# ------------------------------------------------------------------------------------------ searchers
CHSH = d.Objective.make(d.chsh_target)
BELL = d.family_from_spec({"scenario": "bell", "state": "pure"})


def test_gradient_search_improves_chsh_and_compiles_once():
    cfg = d.GradientSearch(starts=8, learning_rate=0.1)
    engine = d.GradientEngine(cfg, BELL, CHSH, jax.random.PRNGKey(0))
    for _ in range(30):
        engine.step()
    assert engine.compilations == 1
    res = d.search(cfg, BELL, CHSH, steps=150, seed=0)
    assert res.trace.best[0] < 2.6 and res.trace.best[-1] > 2.8  # Tsirelson 2 sqrt 2 = 2.83
    assert np.all(np.diff(res.trace.best) >= 0)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", d.NEVERGRAD_OPTIMISERS)
def test_each_nevergrad_optimiser_improves_and_finishes(name):
    res = d.search(d.NevergradSearch(name, batch=8), BELL, CHSH, steps=40, seed=1)
    assert res.trace.best[-1] > res.trace.value[0] + 0.1
    assert res.trace.best[-1] > 2.3


def test_unknown_optimisers_are_refused():
    with pytest.raises(ValueError):
        d.NevergradSearch("NGOpt")
    with pytest.raises(ValueError):
        d.GradientSearch(optimiser="lbfgs-magic")


@pytest.mark.parametrize(
    "searcher", [d.GradientSearch(starts=4), d.NevergradSearch("TwoPointsDE", batch=4), d.RandomSearch(batch=8)]
)
def test_same_seed_same_trace(searcher):
    a = d.search(searcher, BELL, CHSH, steps=6, seed=5)
    b = d.search(searcher, BELL, CHSH, steps=6, seed=5)
    c = d.search(searcher, BELL, CHSH, steps=6, seed=6)
    assert a.trace.same_as(b.trace) and np.array_equal(a.params, b.params)
    assert not a.trace.same_as(c.trace)


def test_progress_is_called_with_absolute_counts():
    seen = []
    d.search(d.RandomSearch(batch=4), BELL, CHSH, steps=3, seed=0, progress=lambda n, t, i: seen.append((n, t, i)))
    assert [s[:2] for s in seen] == [(1, 3), (2, 3), (3, 3)] and "best" in seen[-1][2]


# ------------------------------------------------------------------------------------------ certification
def test_bipartite_discoveries_are_certified_nonlocal():
    res = d.search(d.GradientSearch(starts=8, learning_rate=0.1), BELL, CHSH, steps=60, seed=0)
    cands = d.certify_candidates([res], top=4)
    assert cands.discovery.any()
    i = cands.best_discovery()
    assert cands.nl_lower[i] > 0.09  # Tsirelson (sqrt2 - 1)/4 = 0.1036
    assert d.check_discoveries(cands.behaviour, cands.discovery, d.Constraints()) == []


def test_candidates_are_distinct_up_to_relabelling():
    beh = bc.tsirelson()
    assert d.signature(beh.p) == d.signature(bc.relabel_settings(beh, 0, [1, 0]).p)
    res = d.search(d.GradientSearch(starts=8, learning_rate=0.1), BELL, CHSH, steps=80, seed=0)
    cands = d.certify_candidates([res], top=8)
    sigs = [d.signature(p) for p in cands.behaviour]
    assert len(set(sigs)) == len(sigs)


def test_bilocal_discoveries_satisfy_their_constraints():
    fam = d.family_from_spec({"scenario": "bilocal", "theta": 0.75, "bob": "product"})
    cons = d.Constraints(brgp_max=1.0, tripartite_local=True)
    res = d.search(d.RandomSearch(batch=64), fam, d.Objective.make(d.brgp_target), steps=2, seed=0)
    cands = d.certify_candidates([res], cons, top=6, nbl_time_limit=5)
    assert len(cands) == 6 and np.all(np.isfinite(cands.brgp)) and np.all(np.isfinite(cands.nbl_lower))
    # recomputed from the stored behaviours: every discovery holds, and every rejection has a reason
    assert d.check_discoveries(cands.behaviour, cands.discovery, cons, cands.nbl_lower) == []
    for i in np.flatnonzero(~cands.discovery):
        assert cands.brgp[i] > 1 or cands.tripartite_nl[i] > 1e-9 or not cands.nbl_lower[i] > 1e-9
    assert np.allclose(cands.theta, 0.75)


def test_surrogate_free_baseline_objective_is_the_nbl_upper_bound():
    fam = d.family_from_spec({"scenario": "bilocal", "theta": 0.75, "bob": "product"})
    s = fam.init(jax.random.PRNGKey(2))
    obj = d.upper_bound_objective()
    r = certify.nonbilocality(s.behaviour(np.float64), max_nodes=1, starts=1)
    assert obj.fn(s) == pytest.approx(r.upper, abs=1e-12)


def test_float32_path_with_x64_off():
    """JAX x64 off: float32 search behaviours go to certify as they are, and float64 ones are still exact."""
    code = textwrap.dedent(
        """
        import jax, numpy as np, jax.numpy as jnp
        assert not jax.config.jax_enable_x64
        import discover as d, certify, bellcore as bc
        fam = d.family_from_spec({"scenario": "bell"})
        res = d.search(d.GradientSearch(starts=4, learning_rate=0.1), fam, d.Objective.make(d.chsh_target),
                       steps=40, seed=0)
        s = res.strategy(0)
        p32 = s.behaviour(jnp.float32).p
        assert p32.dtype == jnp.float32
        r = certify.nonlocality(np.asarray(p32))
        assert r.is_nonlocal, r
        b64 = s.behaviour(np.float64)
        assert b64.p.dtype == np.float64
        b64.validate(atol=1e-12)
        net = d.family_from_spec({"scenario": "bilocal", "theta": 0.7}).init(jax.random.PRNGKey(0))
        q32 = np.asarray(net.behaviour(jnp.float32).p)
        assert q32.dtype == np.float32
        certify.tripartite_nonlocality(q32); certify.nonbilocality(q32, max_nodes=1)
        c = d.certify_candidates([res], top=2)
        assert c.discovery.any() and c.behaviour.dtype == np.float64
        print("ok")
        """
    )
    env = {**os.environ, "JAX_ENABLE_X64": "0", "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]
