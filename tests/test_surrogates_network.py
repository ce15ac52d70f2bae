"""The bilocal network's "network" features, their symmetry augmentation, warm-started refits and the latent output."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bellcore as bc
import certify
import surrogates as S
from surrogates._augment import relabel_network_features


def _party_relabellings(sc, party):
    """Every relabelling of one party as a function Behaviour -> Behaviour (settings, then outcomes per setting)."""
    m, d = sc.settings[party], sc.outcomes[party]
    out = []
    for sp in itertools.permutations(range(m)):
        for ops in itertools.product(list(itertools.permutations(range(d))), repeat=m):
            out.append(lambda b, sp=sp, ops=ops: bc.relabel_outcomes(bc.relabel_settings(b, party, sp), party, np.array(ops)))
    return out


def _all_relabellings(sc):
    """The whole relabelling group of the network, as bellcore maps on the behaviour (A, B, C, then A <-> C)."""
    maps = []
    for fa, fb, fc in itertools.product(*(_party_relabellings(sc, k) for k in range(3))):
        for swap in (False, True):
            maps.append(lambda b, fa=fa, fb=fb, fc=fc, swap=swap: (bc.swap_parties if swap else (lambda q: q))(fc(fb(fa(b)))))
    return maps


def _rows(x):
    """Rows as a set of rounded tuples (distinct relabellings of a generic behaviour give distinct features)."""
    return {tuple(r) for r in np.round(np.asarray(x, np.float64), 9)}


def _signed_perms(n):
    return [np.diag(s) @ np.eye(n)[list(p)] for p in itertools.permutations(range(n)) for s in itertools.product([1.0, -1.0], repeat=n)]


@pytest.mark.parametrize("variant", ["binary", "bsm"])
def test_network_features_determine_the_behaviour(variant):
    """26 / 35 numbers: the map is injective on the no-signalling subspace (its matrix has full rank there) and the
    blocks are the correlators bellcore computes."""
    sc = bc.BilocalScenario(variant)
    p = bc.sample("quantum", sc, 4, np.random.default_rng(1)).numpy()
    x = np.asarray(S.features(p, sc, "network"))
    lay = S.network_layout(variant)
    assert x.shape == (4, 26 if variant == "binary" else 35)
    assert sum(int(np.prod(sh)) for _, sh in lay.values()) == x.shape[1]
    E, A, C = bc.network_correlators(bc.Behaviour(p, sc))
    o, sh = lay["ABC"]
    np.testing.assert_allclose(x[:, o : o + int(np.prod(sh))].reshape(4, *sh)[:, :, :2], np.asarray(E), atol=1e-12)
    np.testing.assert_allclose(x[:, lay["A"][0] : lay["A"][0] + 2], A, atol=1e-12)
    np.testing.assert_allclose(x[:, lay["C"][0] : lay["C"][0] + 2], C, atol=1e-12)
    # injective on the no-signalling affine space: the features restricted to its directions have full rank, and there
    # are as many features as directions
    _, basis = bc.ns_affine_basis(sc)
    M = S._features._network_matrix(variant)
    assert np.linalg.matrix_rank(M.T @ basis) == basis.shape[1] == x.shape[1]


def test_network_features_are_differentiable():
    sc = bc.BilocalScenario("binary")
    p = jnp.asarray(bc.bilocal_werner(0.9).p)
    g = jax.grad(lambda q: S.features(q, sc, "network")[-1])(p)  # d <A1 B1 C1> / dp
    s = np.array([1.0, -1.0])
    want = np.zeros(sc.shape)
    want[:, :, :, 1, 1, 1] = np.einsum("a,b,c->abc", s, s, s)
    np.testing.assert_allclose(np.asarray(g), want, atol=1e-12)


@pytest.mark.parametrize("variant", ["binary", "bsm"])
def test_network_relabellings_are_bellcore_relabellings(variant):
    """The feature-space group (signed permutations per party, A <-> C) is exactly the image of bellcore's
    relabel_settings / relabel_outcomes / swap_parties on the behaviour; every random augmentation lies in it."""
    sc = bc.BilocalScenario(variant)
    p = bc.sample("quantum", sc, 1, np.random.default_rng(7)).numpy()[0]
    beh = bc.Behaviour(p, sc)
    bell = _rows(S.features(np.stack([f(beh).numpy() for f in _all_relabellings(sc)]), sc, "network"))
    x = jnp.asarray(S.features(p, sc, "network"))
    if variant == "binary":
        SBs = _signed_perms(2)
    else:  # permutations of (b0, b1, b0 + b1) with signs (s0, s1, s0 s1)
        SBs = [np.diag([s0, s1, s0 * s1]) @ np.eye(3)[list(q)] for q in itertools.permutations(range(3))
               for s0 in (1.0, -1.0) for s1 in (1.0, -1.0)]
    combos = list(itertools.product(_signed_perms(2), SBs, _signed_perms(2), (False, True)))
    args = [jnp.asarray(np.stack([c[i] for c in combos])) for i in range(4)]
    fn = jax.jit(jax.vmap(lambda SA, SB, SC, sw: relabel_network_features(x, SA, SB, SC, sw, variant)))
    ours = _rows(fn(*args))
    assert len(bell) == len(ours) == (1024 if variant == "binary" else 3072)
    assert ours == bell
    aug = S.augmentation("network", sc)
    x2 = np.asarray(jax.jit(jax.vmap(aug, in_axes=(0, None)))(jax.random.split(jax.random.PRNGKey(0), 400), x))
    got = _rows(x2)
    assert got <= bell and len(got) > 250  # a random element each time, swaps included
    lay = S.network_layout(variant)
    a, c = lay["A"][0], lay["C"][0]
    assert any(np.allclose(np.sort(np.abs(r[a : a + 2])), np.sort(np.abs(np.asarray(x)[c : c + 2]))) for r in x2)


def test_certified_nbl_is_unchanged_by_each_relabelling():
    """Certified NBL intervals (gap 1e-5) of a nonbilocal point (NBL ~ 0.0036) and a bilocal one agree with those of
    their images under one instance of each generator (A's, B's, C's settings and outcomes, A <-> C).

    Not tested at one node: there the alternating-LP upper bound is a heuristic and depends on the labelling
    (measured: Werner v = 0.9, true NBL 0.068198, one-node upper 0.077500 or 0.068918 by relabelling;
    docs/surrogates.md)."""
    sc = bc.BilocalScenario("binary")
    p = bc.sample("quantum", sc, 4, np.random.default_rng(3)).numpy()
    gens = [
        lambda b: bc.relabel_settings(b, 0, [1, 0]),
        lambda b: bc.relabel_settings(b, 1, [1, 0]),
        lambda b: bc.relabel_settings(b, 2, [1, 0]),
        lambda b: bc.relabel_outcomes(b, 0, [[1, 0], [0, 1]]),
        lambda b: bc.relabel_outcomes(b, 1, [[0, 1], [1, 0]]),
        lambda b: bc.relabel_outcomes(b, 2, [[1, 0], [1, 0]]),
        bc.swap_parties,
    ]
    refs = [certify.nonbilocality(bc.Behaviour(q, sc), tol=1e-5) for q in p[[0, 2]]]
    assert refs[0].upper < 1e-9 and refs[1].lower > 3e-3  # one bilocal point, one nonbilocal point
    for q, ref in zip(p[[0, 2]], refs):
        for g in gens:
            r = certify.nonbilocality(g(bc.Behaviour(q, sc)), tol=1e-5)
            assert r.upper - r.lower <= 1e-5 + 1e-12
            assert r.lower <= ref.upper + 1e-9 and ref.lower <= r.upper + 1e-9


# ------------------------------------------------------------------------------------- warm start and latent output
def _chsh_margin(p):
    """A stand-in label with the shape of NL (0 on most points, linear above): max(0, CHSH - 0.5) / 8 with
    CHSH = E00 + E01 + E10 - E11 (not invariant under relabellings: these fits run without augmentation)."""
    s = np.array([1.0, -1.0])
    E = np.einsum("nabxy,a,b->nxy", p, s, s)
    return np.maximum(0.0, E[:, 0, 0] + E[:, 0, 1] + E[:, 1, 0] - E[:, 1, 1] - 0.5) / 8


_GROUPS = (S.GroupSpec("mlp", 2, 32, 2, "gelu", floor=True),)


def _cfg(**kw):
    base = dict(groups=_GROUPS, epochs=15, patience=15, batch_size=64, learning_rate=5e-3, blend_budget=0, seed=3,
                augment=False)
    base.update(kw)
    return S.TrainConfig(**base)


@pytest.fixture(scope="module")
def m2():
    """Uniform-NS m = 2 points, the stand-in label (0 on most points); a floored model trained on the first 1,500."""
    sc = bc.BellScenario.binary(2)
    beh = bc.sample("uniform-ns", sc, 5000, np.random.default_rng(11)).numpy()
    y = _chsh_margin(beh)
    prev = S.fit_surrogate(beh[:1500], y[:1500], sc, feature_set="full", target="nl", config=_cfg())
    return sc, beh, y, prev


def _leaves(tree):
    import equinox as eqx

    return [np.asarray(v) for v in jax.tree_util.tree_leaves(eqx.filter(tree, eqx.is_array))]


def test_warm_start_starts_from_the_previous_members(m2):
    """With learning rate 0 nothing moves: the refit's members, standardisation and scale are the previous ones, and
    its first epoch's validation error is the previous members' error on the new split (a fresh start would differ)."""
    sc, beh, y, prev = m2
    x = np.asarray(S.features(beh, sc, "full"))
    xt, yt, xv, yv = x[1500:3000], y[1500:3000], x[3000:3500], y[3000:3500]  # other rows: other statistics
    ens, curves = S.train_ensemble(xt, yt, xv, yv, _cfg(learning_rate=0.0, epochs=2), init=prev.surrogate.ensemble)
    for a, b in zip(_leaves(ens), _leaves(prev.surrogate.ensemble)):
        np.testing.assert_array_equal(a, b)
    want = np.abs(np.asarray(prev.surrogate.ensemble.members_output(jnp.asarray(xv, jnp.float32))) - yv).mean(axis=1)
    name = _GROUPS[0].name
    np.testing.assert_allclose(curves.initial_val_mae[name], want, rtol=1e-5)
    np.testing.assert_allclose(curves.groups[name]["val_mae"][0], want, rtol=1e-5)
    np.testing.assert_array_equal(curves.best_epoch[name], [-1, -1])
    fresh, fc = S.train_ensemble(xt, yt, xv, yv, _cfg(learning_rate=0.0, epochs=2))
    assert not np.allclose(fc.groups[name]["val_mae"][0], want, rtol=1e-3)
    assert not np.allclose(np.asarray(fresh.x_mean), np.asarray(prev.surrogate.ensemble.x_mean))


def test_warm_start_refuses_what_does_not_match(m2):
    sc, beh, y, prev = m2
    x = np.asarray(S.features(beh[:100], sc, "full"))
    other = (S.GroupSpec("mlp", 2, 16, 2, "gelu"),)
    with pytest.raises(ValueError, match="member specs must be the same"):
        S.train_ensemble(x[:80], y[:80], x[80:], y[80:100], _cfg(groups=other), init=prev.surrogate.ensemble)
    with pytest.raises(ValueError, match="features from members trained on 8"):
        S.train_ensemble(x[:80, :5], y[:80], x[80:, :5], y[80:100], _cfg(), init=prev.surrogate.ensemble)
    with pytest.raises(ValueError, match="float64 training from float32 members"):
        S.train_ensemble(x[:80], y[:80], x[80:], y[80:100], _cfg(dtype="float64"), init=prev.surrogate.ensemble)
    with pytest.raises(ValueError, match="feature set canonical"):
        S.fit_surrogate(beh[:100], y[:100], sc, feature_set="canonical", target="nl", config=_cfg(), init=prev.surrogate)
    with pytest.raises(ValueError, match="target nbl"):
        S.fit_surrogate(beh[:100], y[:100], sc, feature_set="full", target="nbl", config=_cfg(), init=prev.surrogate)
    with pytest.raises(ValueError, match="scenario"):
        b3 = bc.sample("uniform-ns", bc.BellScenario((2, 2), (2, 3)), 20, np.random.default_rng(0)).numpy()
        S.fit_surrogate(b3, np.zeros(20), bc.BellScenario((2, 2), (2, 3)), feature_set="full",
                        target="nl", config=_cfg(), init=prev.surrogate)


def test_warm_refit_with_more_rows_beats_a_fresh_fit_of_equal_epochs(m2):
    """Active learning's refit: previous rows + 1,500 new ones, 3 epochs. Started from the previous members it ends
    with a lower held-out error than fresh members trained for the same 3 epochs."""
    sc, beh, y, prev = m2
    rows = slice(0, 3000)
    short = _cfg(epochs=3, patience=3)
    warm = S.fit_surrogate(beh[rows], y[rows], sc, feature_set="full", target="nl", config=short, init=prev.surrogate)
    fresh = S.fit_surrogate(beh[rows], y[rows], sc, feature_set="full", target="nl", config=short)
    test_x, test_y = beh[3500:], y[3500:]
    err = {k: float(np.abs(np.asarray(r.surrogate(test_x).mean) - test_y).mean()) for k, r in
           (("warm", warm), ("fresh", fresh), ("prev", prev))}
    assert err["warm"] < 0.8 * err["fresh"], err
    assert err["warm"] <= err["prev"] * 1.05, err


def test_latent_output_is_the_unfloored_blend(m2):
    """Where every floored member is above 0 the latent output is the prediction; where the prediction is 0 it goes
    below 0, with a gradient in the behaviour that the floored prediction lacks."""
    sc, beh, y, prev = m2
    sur = prev.surrogate
    p = beh[3500:]
    pred, lat = sur(p), sur.latent(p)
    pos = np.all(np.asarray(pred.members) > 0, axis=0)
    zero = np.asarray(pred.mean) == 0
    assert pos.sum() > 10 and zero.sum() > 100
    np.testing.assert_allclose(np.asarray(lat.mean)[pos], np.asarray(pred.mean)[pos], rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(lat.members)[:, pos], np.asarray(pred.members)[:, pos])
    np.testing.assert_array_equal(np.asarray(sur.predict_features(sur.features(p), latent=True).mean), np.asarray(lat.mean))
    assert np.all(np.asarray(lat.mean) <= np.asarray(pred.mean) + 1e-7)
    assert (np.asarray(lat.mean)[zero] < 0).mean() > 0.5
    k = int(np.flatnonzero(zero & (np.asarray(lat.mean) < 0))[0])
    g_pred = jax.grad(lambda q: sur(q).mean)(jnp.asarray(p[k]))
    g_lat = jax.grad(lambda q: sur.latent(q).mean)(jnp.asarray(p[k]))
    assert float(jnp.abs(g_pred).max()) == 0.0 and float(jnp.abs(g_lat).max()) > 0
    with pytest.raises(ValueError, match="latent output is a regression"):
        cls = S.Ensemble.init((S.GroupSpec("mlp", 1, 8, 1),), 4, "classification", jax.random.PRNGKey(0))
        cls.predict(jnp.zeros((2, 4)), latent=True)


# ------------------------------------------------------------------------------ the censored preset, model files
def test_censored_preset():
    cfg = S.preset_config("censored", "nbl", seed=1)
    assert cfg.n_members == 4 and len(cfg.groups) == 1 and cfg.groups[0].floor and cfg.groups[0].kind == "mlp"
    assert cfg.loss == "huber"
    assert (cfg.epochs, cfg.patience, cfg.batch_size) == (120, 25, 32)  # not the nbl target's x4 epochs of other presets
    assert S.preset_config("censored", "nl").groups == cfg.groups
    with pytest.raises(ValueError, match="censored"):
        S.preset_config("censored", "class")
    assert S.TrainConfig.from_json(cfg.to_json()) == cfg


def test_network_model_round_trips_through_a_model_file(tmp_path):
    """A model on the new feature set, saved and loaded by runs (TrainConfig JSON + feature set name), answers the
    same, latent output included, and warm-starts a refit with the network augmentation on."""
    import runs

    sc = bc.BilocalScenario("binary")
    beh = bc.sample("quantum", sc, 200, np.random.default_rng(5)).numpy()
    y = np.maximum(0.0, np.asarray(bc.brgp_value(bc.Behaviour(beh, sc))) - 0.6)  # a stand-in label, often 0
    cfg = S.TrainConfig(groups=(S.GroupSpec("mlp", 2, 16, 1, "gelu", floor=True),), epochs=2, batch_size=32,
                        blend_budget=10, seed=1)
    res = S.fit_surrogate(beh, y, sc, feature_set="network", target="nbl", config=cfg)
    path = runs.save_model(tmp_path / "m.h5", res.surrogate, train_config=cfg.to_json(), dataset_hash="0" * 64,
                           curves=res.curves)
    back = runs.load_model(path)
    assert back.feature_set == "network" and back.ensemble.specs == res.surrogate.ensemble.specs
    np.testing.assert_allclose(np.asarray(back(beh[:20]).mean), np.asarray(res.surrogate(beh[:20]).mean), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(back.latent(beh[:20]).mean), np.asarray(res.surrogate.latent(beh[:20]).mean), rtol=1e-6)
    again = S.fit_surrogate(beh, y, sc, feature_set="network", target="nbl", config=cfg, init=back)
    np.testing.assert_array_equal(np.asarray(again.surrogate.ensemble.x_mean), np.asarray(back.ensemble.x_mean))
    path2 = runs.save_model(tmp_path / "m2.h5", again.surrogate, train_config=cfg.to_json(), dataset_hash="0" * 64,
                            curves=again.curves)  # best_epoch -1 (kept starting parameters) is stored as it is
    assert runs.read_model(path2).surrogate.feature_set == "network"


def test_round_off_labels_count_as_zero_for_the_censored_loss():
    """Certified labels of bilocal points are ~1e-16, not 0; at or below certify.ZERO_TOL they are 0 to the floored
    members' censored loss, so training on them is training on exact zeros."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (400, 3))
    y = np.maximum(0.0, x[:, 0] + x[:, 1] - 0.5)
    noisy = np.where(y == 0, rng.uniform(0, 5e-16, len(y)), y)
    assert (y == 0).mean() > 0.5
    cfg = _cfg(epochs=2, groups=(S.GroupSpec("mlp", 1, 8, 1, "gelu", floor=True),))
    a, _ = S.train_ensemble(x[:300], y[:300], x[300:], y[300:], cfg)
    b, _ = S.train_ensemble(x[:300], noisy[:300], x[300:], noisy[300:], cfg)
    for u, v in zip(_leaves(a), _leaves(b)):
        np.testing.assert_array_equal(u, v)
