"""Canonical relabelling and dual-vertex members: NL's own affine pieces from certify's certificates."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bellcore as bc
import certify
import surrogates as S


@pytest.fixture(scope="module")
def m3():
    sc = bc.BellScenario.binary(3)
    beh = bc.sample("uniform-ns", sc, 700, np.random.default_rng(11)).numpy()
    y = np.array([certify.nonlocality(bc.Behaviour(p, sc)).value for p in beh])
    return sc, beh, y


# ----------------------------------------------------------------------------------------------- canonical form
def test_canonical_form_is_one_representative_per_relabelling_class(m3):
    sc, beh, _ = m3
    c = S.canonical_behaviour(beh[:40], sc, np)
    rng = np.random.default_rng(0)
    for k in range(40):
        q = bc.random_relabelling(bc.Behaviour(beh[k], sc), rng).numpy()
        np.testing.assert_allclose(S.canonical_behaviour(q[None], sc, np)[0], c[k], atol=1e-15)
        # only entries move: the multiset of values is the behaviour's
        np.testing.assert_array_equal(np.sort(c[k].ravel()), np.sort(beh[k].ravel()))
    A = c[:, 0, :, :, 0].sum(1) - c[:, 1, :, :, 0].sum(1)
    B = c[:, :, 0, 0, :].sum(1) - c[:, :, 1, 0, :].sum(1)
    assert (A >= 0).all() and (B >= 0).all()
    assert (np.diff(A, axis=1) <= 0).all() and (np.diff(B, axis=1) <= 0).all() and (A[:, 0] >= B[:, 0]).all()


def test_canonical_form_keeps_nl_and_matches_in_jax(m3):
    sc, beh, y = m3
    c = S.canonical_behaviour(beh[:12], sc, np)
    for k in range(12):
        assert certify.nonlocality(bc.Behaviour(c[k], sc)).value == pytest.approx(y[k], abs=1e-9)
    cj = np.asarray(S.canonical_behaviour(jnp.asarray(beh[:12]), sc))
    np.testing.assert_allclose(cj, c, atol=1e-6)
    f = S.features(jnp.asarray(beh[:12]), sc, "canonical")
    np.testing.assert_allclose(np.asarray(f), np.asarray(S.features(c, sc, "full")), atol=1e-6)
    assert S.feature_map("canonical").applies(sc) and not S.feature_map("canonical").applies(bc.BilocalScenario("bsm"))


# ----------------------------------------------------------------------------------------------- dual pieces
def test_dual_pieces_are_lower_bounds_exact_at_their_rows(m3):
    sc, beh, y = m3
    rows = np.flatnonzero(y > 1e-9)[:60]
    pieces = S.dual_pieces(beh[rows], sc)
    assert pieces.solved == len(rows) and pieces.unsolved == 0 and 0 < pieces.n_pieces <= len(rows)
    W, c = S.pieces_on_features(pieces, sc)
    f = np.asarray(S.features(beh, sc, "full"), np.float64)  # float32 features: compare at 1e-6
    direct = np.einsum("pabxy,nabxy->np", pieces.bell, beh) - pieces.local_bound
    np.testing.assert_allclose(f @ W.T + c, direct, atol=1e-6)
    bank = np.maximum(0.0, direct.max(axis=1))
    assert (bank <= y + 1e-9).all()  # weak duality: a lower bound at every behaviour
    np.testing.assert_allclose(bank[rows], y[rows], atol=1e-9)  # and exact where its functional was optimal
    assert (bank < y - 1e-4).any()  # not exact everywhere: this test could fail


def test_a_tampered_piece_breaks_the_lower_bound(m3):
    sc, beh, y = m3
    rows = np.flatnonzero(y > 1e-9)[:20]
    pieces = S.dual_pieces(beh[rows], sc)
    bad = S.DualPieces(pieces.bell, pieces.local_bound - 0.01, pieces.solved, pieces.unsolved)  # a lie about L
    direct = np.einsum("pabxy,nabxy->np", bad.bell, beh) - bad.local_bound
    assert (direct.max(axis=1) > y + 1e-3).any()


@pytest.fixture(scope="module")
def dual_fit(m3):
    sc, beh, y = m3
    cfg = S.TrainConfig(groups=(S.GroupSpec("mlp", 1, 16, 1, "gelu"), S.GroupSpec("dual", 1, pieces=200)),
                        epochs=2, patience=2, batch_size=64, blend_budget=30, seed=2)
    seen = []
    res = S.fit_surrogate(beh[:600], y[:600], sc, feature_set="canonical", target="nl", config=cfg,
                          progress=lambda d, t, i: seen.append((d, t, dict(i))))
    # the epoch bar counts the trained groups only (the dual group is collected): it ends at its total
    epochs = [(d, t) for d, t, i in seen if "loss" in i]
    assert epochs[-1][0] == epochs[-1][1] == cfg.epochs
    assert any("certified" in i for _, _, i in seen)
    return res


def test_fit_with_a_dual_member_answers_at_least_the_certified_bound(dual_fit, m3):
    sc, beh, y = m3
    sur = dual_fit.surrogate
    assert sur.ensemble.dual_members == (1,) and sur.ensemble.specs[1].pieces <= 200
    pr = sur(jnp.asarray(beh[600:]))  # rows the model never saw
    dual = np.asarray(pr.members[1])
    assert (dual <= y[600:] + 1e-6).all()  # float32 weights: a lower bound up to rounding
    blended = np.tensordot(np.asarray(sur.weights), np.asarray(pr.members), axes=1)
    np.testing.assert_allclose(np.asarray(pr.mean), np.maximum(blended, dual), rtol=1e-6, atol=1e-9)
    err = np.abs(np.asarray(pr.mean) - y[600:]).mean()
    assert err < np.abs(y[600:] - np.median(y[:600])).mean()  # beats the trivial predictor


def test_dual_group_pieces_invert_dual_group(m3):
    sc, beh, y = m3
    pieces = S.dual_pieces(beh[np.flatnonzero(y > 1e-9)[:15]], sc)
    W, c = S.pieces_on_features(pieces, sc)
    mu, sd, ys = np.linspace(-0.1, 0.1, W.shape[1]), np.linspace(0.5, 1.5, W.shape[1]), 0.03
    W2, c2 = S.dual_group_pieces(S.dual_group(W, c, mu, sd, ys), mu, sd, ys)
    np.testing.assert_allclose(W2, W, rtol=1e-6, atol=1e-8)  # float32 storage
    np.testing.assert_allclose(c2, c, rtol=1e-5, atol=1e-7)


def test_dual_member_save_load_and_gradient(dual_fit, m3, tmp_path):
    import runs

    sc, beh, _ = m3
    sur = dual_fit.surrogate
    path = runs.save_model(tmp_path / "dual.h5", sur, train_config={}, dataset_hash="x")
    back = runs.load_model(path)
    p = jnp.asarray(beh[600:640])
    np.testing.assert_array_equal(np.asarray(sur(p).mean), np.asarray(back(p).mean))
    g = jax.grad(lambda q: back(q).mean.sum())(p)
    assert np.isfinite(np.asarray(g)).all()


def test_dual_member_refuses_what_it_cannot_be(m3):
    sc, beh, y = m3
    with pytest.raises(ValueError, match="one member"):
        S.GroupSpec("dual", 2)
    cfg = S.TrainConfig(groups=(S.GroupSpec("dual", 1, pieces=10),), epochs=1, blend_budget=0)
    with pytest.raises(ValueError, match="dual-vertex members need"):
        S.fit_surrogate(beh[:50], y[:50], sc, feature_set="full", target="nbl", config=cfg)
    with pytest.raises(ValueError, match="classification ensembles take"):
        S.Ensemble.init((S.GroupSpec("dual", 1, pieces=3),), 15, "classification", jax.random.PRNGKey(0))


@pytest.mark.parametrize("m", [2, 3, 4])
def test_canonical_features_equal_full_features_of_the_canonical_behaviour(m):
    from surrogates._features import _full_matrix

    sc = bc.BellScenario.binary(m)
    p = bc.sample("uniform-ns", sc, 300, np.random.default_rng(m)).numpy()
    fast = np.asarray(S.features(jnp.asarray(p), sc, "canonical"))
    slow = np.asarray(S.features(S.canonical_behaviour(jnp.asarray(p), sc), sc, "full"))
    np.testing.assert_allclose(fast, slow, atol=3e-7)
    # the one-matrix "full" map against the definition: A_x = sum_ab (-1)^a p(ab|x, y) at every y (no-signalling)
    s = np.array([1.0, -1.0])
    full = p.reshape(len(p), -1) @ _full_matrix(m, m)
    for y in range(m):
        np.testing.assert_allclose(full[:, :m], np.einsum("nabx,a->nx", p[..., y], s), atol=1e-12)
    np.testing.assert_allclose(full[:, 2 * m :], np.einsum("nabxy,a,b->nxy", p, s, s).reshape(len(p), -1), atol=1e-12)


@pytest.mark.parametrize("kind,out", [("maxaffine", 1), ("margins", 3), ("dual", 1)])
def test_max_affine_groups_apply_as_their_per_row_call(kind, out):
    import equinox as eqx

    from surrogates._ensemble import group_apply
    from surrogates._members import make_group

    spec = S.GroupSpec(kind, 1 if kind == "dual" else 3, pieces=7)
    g = make_group(spec, jax.random.split(jax.random.PRNGKey(0), spec.members), 6, out)
    if kind == "margins":  # a trained logit scale, not the initial 1
        g = eqx.tree_at(lambda t: t.log_scale, g, jnp.array([0.5, -1.0, 2.0]))
    for xs in (jax.random.normal(jax.random.PRNGKey(1), (11, 6)), jax.random.normal(jax.random.PRNGKey(2), (spec.members, 11, 6))):
        per_row = eqx.filter_vmap(lambda mdl, xx: jax.vmap(mdl)(xx), in_axes=(eqx.if_array(0), 0 if xs.ndim == 3 else None))(g, xs)
        np.testing.assert_allclose(np.asarray(group_apply(g, xs)), np.asarray(per_row), atol=1e-6)
