"""The NL batch path (certify._nl_batch: several behaviours per HiGHS call, certificates checked for all rows at
once) against the one-behaviour path."""

import dataclasses

import numpy as np
import pytest

import bellcore as bc
import certify
from certify._nl import _check_rows, local_bound
from certify._nl_batch import _block_program, block_size, nonlocality_rows


def _agree(batch_results, behaviours, identical=False):
    for r, p in zip(batch_results, behaviours):
        s = certify.nonlocality(p)
        if identical:  # without blocks: the same LP solves as the single calls, bit for bit
            assert r.value == s.value and r.lp_value == s.lp_value and r.exact_violation == s.exact_violation
            np.testing.assert_array_equal(r.bell, s.bell)
            np.testing.assert_array_equal(r.weights, s.weights)
        assert r.status in certify.SOLVED and r.certificate_checked
        assert abs(r.value - s.value) <= 1e-9 and abs(r.lower - s.lower) <= 1e-9 and abs(r.upper - s.upper) <= 1e-9
        assert r.is_nonlocal == s.is_nonlocal
        assert (r.exact_violation is None) == (s.exact_violation is None)
        assert r.exact_violation is None or r.exact_violation > 0
        assert certify.check_nonlocality(p, r).ok  # the stored certificate re-checks on its own
        assert r.weights.shape == (p.scenario.n_deterministic,)


@pytest.mark.parametrize("sc, n", [
    (bc.BellScenario.binary(2), 40),
    (bc.BellScenario.binary(3), 24),
    (bc.BellScenario.binary(4), 10),
    (bc.BellScenario.binary(5), 4),
    (bc.BellScenario((3, 3), (2, 2)), 20),  # qutrits
    (bc.BellScenario((2, 2), (2, 3)), 20),  # unequal settings
    (bc.BellScenario((3, 2), (3, 2)), 12),  # unequal outcomes
])
def test_batch_equals_single_calls(sc, n):
    rng = np.random.default_rng(sc.n_deterministic)
    beh = bc.sample_uniform_ns(sc, n, rng)
    # mix in exact nonlocal and local points: a PR-type corner and deterministic points
    pts = [beh[i] for i in range(n)] + [bc.Behaviour(sc.deterministic_points()[3], sc)]
    results = certify.nonlocality_many(pts, blocks=True)
    assert len(results) == len(pts)
    _agree(results, pts)
    _agree(certify.nonlocality_many(pts, chunk_size=7), pts, identical=True)


def test_known_values_through_the_batch():
    vs = np.linspace(0, 1, 37)  # more than one block, the last one shorter
    rs = certify.nonlocality_many(np.stack([bc.isotropic_pr(v).numpy() for v in vs]), blocks=True)
    np.testing.assert_allclose([r.value for r in rs], np.maximum(0, (vs - 0.5) / 2), atol=1e-12)
    assert [r.is_nonlocal for r in rs] == list(vs > 0.5 + 1e-9)


def test_blocks_are_history_free_and_bit_identical():
    sc = bc.BellScenario.binary(3)
    q = bc.sample_uniform_ns(sc, 2 * block_size(sc) + 3, np.random.default_rng(7)).numpy().reshape(-1, 36)
    first = nonlocality_rows(q, sc, blocks=True)
    nonlocality_rows(q[::-1].copy(), sc, blocks=True)  # other blocks solved in between
    again = nonlocality_rows(q, sc, blocks=True)
    for a, b in zip(first, again):
        assert a.value == b.value and a.exact_violation == b.exact_violation
        np.testing.assert_array_equal(a.bell, b.bell)
        np.testing.assert_array_equal(a.weights, b.weights)


def test_a_block_that_stops_early_is_solved_row_by_row():
    sc = bc.BellScenario.binary(2)
    size = block_size(sc)
    q = bc.sample_uniform_ns(sc, size, np.random.default_rng(3)).numpy().reshape(size, -1)
    q[0] = bc.pr_box().numpy().reshape(-1)
    prog = _block_program(sc, size)
    prog.h.setOptionValue("simplex_iteration_limit", 1)  # the block LP cannot finish
    try:
        assert prog.solve(q) is None
        rs = nonlocality_rows(q, sc, blocks=True)
    finally:
        _block_program.cache_clear()
    assert all(r.certificate_checked for r in rs)
    assert rs[0].value == pytest.approx(0.25, abs=1e-12)
    _agree(rs, [bc.Behaviour(x.reshape(sc.shape), sc) for x in q])


def test_float32_input_without_jax():
    sc = bc.BellScenario.binary(3)
    p32 = bc.sample_uniform_ns(sc, 12, np.random.default_rng(5)).numpy().astype(np.float32)
    rs = certify.nonlocality_many(p32, blocks=True)
    for r, p in zip(rs, p32):
        s = certify.nonlocality(p)
        assert r.certificate_checked and abs(r.value - s.value) <= 1e-9


def test_tampered_certificates_inside_a_batch_fail():
    sc = bc.BellScenario.binary(3)
    beh = bc.sample_uniform_ns(sc, 12, np.random.default_rng(11))
    rs = certify.nonlocality_many(beh, blocks=True)
    k = next(i for i, r in enumerate(rs) if r.is_nonlocal)
    r = rs[k]
    tampered = [
        dataclasses.replace(r, bell=r.bell * 0.5),  # not the optimum: does not reproduce the value
        dataclasses.replace(r, value=r.value + 1e-6),  # a value the certificate does not support
        dataclasses.replace(r, bell=r.bell * 2),  # outside the box |B| <= c
        dataclasses.replace(r, weights=r.weights * 2),  # not a distribution
    ]
    for t in tampered:
        assert not certify.check_nonlocality(beh[k], t).ok
    # the row-wise check: one tampered row among good ones fails alone, with its reason
    q = beh.numpy().reshape(len(rs), -1)
    bells = np.stack([x.bell.reshape(-1) for x in rs])
    values = np.array([x.value for x in rs])
    w = np.stack([x.weights for x in rs])
    d = sc.deterministic_points().reshape(sc.n_deterministic, -1)
    c = sc.normalisation

    def run(bells, values, w):
        lbs = np.array([local_bound(b, sc) for b in bells])
        models = w @ d
        duals = np.einsum("ij,ij->i", bells, q) - lbs
        primals = c * np.abs(q - models).sum(axis=1)
        return _check_rows(q, bells, values, w, sc, lbs, models, duals, primals)

    assert all(ch.ok for ch in run(bells, values, w))
    for change, reason in [("bell_half", "dual value"), ("value", "dual value"), ("bell_box", "box"),
                           ("weights", "local model"), ("sign", "")]:
        b2, v2, w2 = bells.copy(), values.copy(), w.copy()
        if change == "bell_half":
            b2[k] *= 0.5
        elif change == "value":
            v2[k] += 1e-6
        elif change == "bell_box":
            b2[k] *= 2
        elif change == "weights":
            w2[k] *= 2
        else:  # a functional and value that do not certify q: the negated functional of another row's optimum
            b2[k] = -bells[k]
            lb = local_bound(b2[k], sc)
            v2[k] = b2[k] @ q[k] - lb
        checks = run(b2, v2, w2)
        assert [i for i, ch in enumerate(checks) if not ch.ok] == [k], change
        assert reason in checks[k].reason


def test_blocks_option_is_checked():
    with pytest.raises(ValueError, match="blocks must be True or False"):
        certify.nonlocality_many([bc.pr_box()], blocks="yes")
    with pytest.raises(ValueError, match="blocks=True needs backend 'highs'"):
        certify.nonlocality_many([bc.pr_box()], blocks=True, backend="cvxpy")
    r = certify.nonlocality_many([bc.pr_box()], backend="cvxpy")[0]  # other paths still one call each
    assert r.backend == "cvxpy" and abs(r.value - 0.25) < 1e-6
