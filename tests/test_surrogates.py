"""Surrogates: vectorised ensembles, GA blend, differentiable Surrogate, augmentation, persistence."""

import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bellcore as bc
import certify
import surrogates as S


def _nl_m2(p):
    """Closed form at m = 2 (docs/surrogates.md): NL = max(0, (max |CHSH| - 2) / 8)."""
    s = np.array([1.0, -1.0])
    E = np.einsum("nabxy,a,b->nxy", p, s, s)
    return np.maximum(0.0, (bc.chsh_max(E) - 2) / 8)


@pytest.fixture(scope="module")
def m2_data():
    sc = bc.BellScenario.binary(2)
    beh = bc.sample("uniform-ns", sc, 6000, np.random.default_rng(3)).numpy()
    return sc, beh, _nl_m2(beh)


def test_closed_form_labels_match_certify(m2_data):
    sc, beh, y = m2_data
    for k in range(0, 6000, 997):
        assert certify.nonlocality(bc.Behaviour(beh[k], sc)).value == pytest.approx(y[k], abs=1e-9)


@pytest.fixture(scope="module")
def fitted(m2_data):
    sc, beh, y = m2_data
    cfg = S.TrainConfig(
        groups=(S.GroupSpec("mlp", 2, 64, 2, "gelu"), S.GroupSpec("maxaffine", 1, pieces=16, lr_scale=5.0), S.GroupSpec("icnn", 1, 32, 2, "softplus")),
        epochs=20, patience=20, batch_size=64, learning_rate=5e-3, blend_budget=200, seed=5,
    )
    seen = []
    res = S.fit_surrogate(beh, y, sc, feature_set="full", target="nl", config=cfg, progress=lambda d, t, i: seen.append((d, t, dict(i))))
    return res, seen


# ----------------------------------------------------------------------------------------------- features
def test_full_features_determine_the_behaviour():
    sc = bc.BellScenario.binary(3)
    p = bc.sample("uniform-ns", sc, 5, np.random.default_rng(0)).numpy()
    x = np.asarray(S.features(p, sc, "full"))
    assert x.shape == (5, 15)
    A, B, E = x[:, :3], x[:, 3:6], x[:, 6:].reshape(5, 3, 3)
    s = np.array([1.0, -1.0])
    q = (1 + np.einsum("a,nx->nax", s, A)[:, :, None, :, None] + np.einsum("b,ny->nby", s, B)[:, None, :, None, :]
         + np.einsum("a,b,nxy->nabxy", s, s, E)) / 4
    np.testing.assert_allclose(q, p, atol=1e-12)


def test_feature_sets_have_their_dimensions():
    bil = bc.bilocal_werner(0.8, "bsm")
    assert S.features(bil.p, bil.scenario, "ij").shape == (4,)
    assert S.features(bil.p, bil.scenario, "abc").shape == (10,)
    assert S.features(bil.p, bil.scenario, "full").shape == (35,)
    assert S.features(bc.tsirelson().p, bc.BellScenario.binary(2), "correlators").shape == (4,)
    x = np.asarray(S.features(bc.tsirelson().p, bc.BellScenario.binary(2), "correlators-asin"))
    np.testing.assert_allclose(x[4:], np.arcsin(x[:4]), atol=1e-6)
    with pytest.raises(ValueError, match="bilocal"):
        S.features(bc.tsirelson().p, bc.BellScenario.binary(2), "ij")
    with pytest.raises(ValueError, match="unknown feature set"):
        S.feature_map("nope")


@pytest.mark.parametrize("m", [2, 3])
def test_augmentation_is_a_relabelling(m):
    """Augmented 'full' features are those of a behaviour with the same NL (a genuine relabelling)."""
    sc = bc.BellScenario.binary(m)
    p = bc.sample("uniform-ns", sc, 6, np.random.default_rng(m)).numpy()
    x = jnp.asarray(S.features(p, sc, "full"))
    aug = S.augmentation("full", sc)
    keys = jax.random.split(jax.random.PRNGKey(0), 6)
    x2 = np.asarray(jax.jit(jax.vmap(aug))(keys, x))
    assert not np.allclose(x2, np.asarray(x))
    s = np.array([1.0, -1.0])
    A, B, E = x2[:, :m], x2[:, m : 2 * m], x2[:, 2 * m :].reshape(6, m, m)
    q = (1 + np.einsum("a,nx->nax", s, A)[:, :, None, :, None] + np.einsum("b,ny->nby", s, B)[:, None, :, None, :]
         + np.einsum("a,b,nxy->nabxy", s, s, E)) / 4
    for k in range(6):
        assert certify.nonlocality(bc.Behaviour(q[k], sc)).value == pytest.approx(
            certify.nonlocality(bc.Behaviour(p[k], sc)).value, abs=1e-9)


def test_abc_and_correlator_augmentations_keep_the_label_invariants():
    E = np.random.default_rng(1).uniform(-1, 1, (50, 4))
    E2 = np.asarray(jax.jit(jax.vmap(S.augmentation("correlators", bc.BellScenario.binary(2))))(
        jax.random.split(jax.random.PRNGKey(1), 50), jnp.asarray(E)))
    np.testing.assert_array_equal(bc.chsh_class(E.reshape(-1, 2, 2)), bc.chsh_class(E2.reshape(-1, 2, 2)))
    # correlators-asin: one relabelling of both blocks; the second block stays arcsin of the first
    x = jnp.asarray(np.concatenate([E, np.arcsin(E)], axis=1))
    x2 = np.asarray(jax.jit(jax.vmap(S.augmentation("correlators-asin", bc.BellScenario.binary(2))))(
        jax.random.split(jax.random.PRNGKey(1), 50), x))
    np.testing.assert_allclose(x2[:, 4:], np.arcsin(x2[:, :4]), atol=1e-12)
    np.testing.assert_array_equal(bc.chsh_class(E.reshape(-1, 2, 2)), bc.chsh_class(x2[:, :4].reshape(-1, 2, 2)))
    # abc: |<A_x B_y C_z>| multiset and |A_x| multiset are preserved
    x = np.random.default_rng(2).uniform(-0.4, 0.4, (20, 10))
    x2 = np.asarray(jax.jit(jax.vmap(S.augmentation("abc", bc.BilocalScenario("bsm"))))(jax.random.split(jax.random.PRNGKey(2), 20), jnp.asarray(x)))
    np.testing.assert_allclose(np.sort(np.abs(x2[:, :8]), 1), np.sort(np.abs(x[:, :8]), 1))
    assert S.augmentation("ij", bc.BilocalScenario("bsm")) is None


def test_margins_member_represents_the_classes_exactly():
    """With the 8 signed CHSH combinations on E and the 8 signed TLM ones on arcsin E as pieces, a ``Margins``
    member's argmax is the exact class (the inductive bias of the classifier, docs/surrogates.md)."""
    signs = []
    for odd in range(4):
        v = np.ones(4)
        v[odd] = -1
        signs += [v, -v]
    signs = np.array(signs)  # (8, 4)
    z = np.zeros_like(signs)
    w = np.stack([np.concatenate([signs, z], 1), np.concatenate([z, signs], 1)])  # (2, 8, 8)
    b = np.stack([np.full(8, -2.0), np.full(8, -np.pi)])
    member = S.Margins(jax.random.PRNGKey(0), 8, 3, 8, jnp.float64)
    member = eqx.tree_at(lambda m: (m.w, m.b), member, (jnp.asarray(w), jnp.asarray(b)))
    E = bc.sample("chsh-correlators", bc.BellScenario.binary(2), 3000, np.random.default_rng(0)).correlators()
    E = np.asarray(E).reshape(-1, 4)
    x = jnp.asarray(np.concatenate([E, np.arcsin(E)], 1))
    pred = np.asarray(jax.vmap(member)(x)).argmax(-1)
    np.testing.assert_array_equal(pred, bc.chsh_class(E.reshape(-1, 2, 2)))
    with pytest.raises(ValueError, match="three-class"):
        S.Margins(jax.random.PRNGKey(0), 8, 1, 8)


# ------------------------------------------------------------------------------------------------ ensemble
def test_vmapped_ensemble_equals_loop_over_members(fitted):
    res, _ = fitted
    ens = res.surrogate.ensemble
    x = jnp.asarray(np.random.default_rng(0).normal(size=(7, ens.dim)), jnp.float32)
    out = np.asarray(ens.members_output(x))
    xs = (x - ens.x_mean) / ens.x_std
    k = 0
    for spec, group in zip(ens.specs, ens.groups):
        for i in range(spec.members):
            member = jax.tree.map(lambda a: a[i] if eqx.is_array(a) else a, group)
            f = np.asarray(jnp.stack([member(xi)[0] for xi in xs]))
            if spec.floor:
                f = np.maximum(f, 0)
            np.testing.assert_allclose(out[k], f * float(ens.y_scale), rtol=1e-5, atol=1e-7)
            k += 1
    assert k == ens.n_members == out.shape[0]


def test_quick_training_reaches_the_stated_error(fitted, m2_data):
    """6,000 uniform-NS points at m = 2, 20 epochs: the blend's validation error is below 0.35x the trivial one."""
    res, seen = fitted
    y_val = res.y_val
    trivial = np.abs(y_val - res.train_median).mean()
    blended = np.abs(np.tensordot(res.blend.weights, res.members_val, axes=1) - y_val).mean()
    assert blended < 0.35 * trivial, (blended, trivial)
    # progress: absolute counts, monotone, ending at the total, with loss and validation error
    assert seen[-1][0] == seen[-1][1] == 3 * 20
    assert all(a[0] <= b[0] for a, b in zip(seen, seen[1:]))
    assert {"loss", "val_mae"} <= set(seen[0][2])


def test_blend_is_never_worse_than_the_best_member(fitted):
    res, _ = fitted
    b = res.blend
    chosen = S.blend_error(b.weights, res.members_val, res.y_val)
    assert chosen <= b.member_errors.min() + 1e-12
    assert chosen <= b.errors["average"] + 1e-12
    assert np.all(b.weights >= 0) and b.weights.sum() == pytest.approx(1)


@pytest.mark.timeout(60)
def test_ga_respects_budget_and_seed():
    rng = np.random.default_rng(0)
    y = rng.normal(size=300)
    members = y[None] + rng.normal(size=(5, 300)) * np.array([0.1, 0.2, 0.3, 0.5, 1.0])[:, None]
    for opt in S.BLEND_OPTIMIZERS:
        a = S.blend(members, y, budget=40, seed=11, optimizer=opt)
        b = S.blend(members, y, budget=60, seed=11, optimizer=opt)
        assert a.evaluations == 40, opt
        np.testing.assert_array_equal(a.weights, b.weights, err_msg=opt)
        assert a.errors[a.method.replace("-", "_")] <= a.errors["best_member"] + 1e-12
    with pytest.raises(ValueError, match="NGOpt"):
        S.blend(members, y, optimizer="NGOpt")


def test_classification_blend_uses_probabilities():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    good = np.eye(3)[y] * 0.8 + 0.2 / 3
    members = np.stack([good, np.full((200, 3), 1 / 3)])
    r = S.blend(members, y, task="classification", budget=50, seed=0)
    assert r.weights[0] > 0.9


def test_classifier_blend_prefers_accuracy_over_cross_entropy():
    """The classifier blend is chosen by validation error rate: a confident member that misclassifies 10 % of the
    points has the lower cross-entropy, a hesitant one that classifies every point right the higher; the blend must
    follow the hesitant one (cross-entropy alone kept an MLP over more accurate margins members, docs/surrogates.md)."""
    rng = np.random.default_rng(0)
    n = 500
    y = rng.integers(0, 3, n)
    onehot = np.eye(3)[y]
    hesitant = 0.4 * onehot + 0.3 * (1 - onehot)  # right everywhere, p(true) = 0.4
    confident = 0.998 * onehot + 0.001 * (1 - onehot)
    wrong = np.flatnonzero(rng.random(n) < 0.1)
    confident[wrong] = 0.3
    confident[wrong, (y[wrong] + 1) % 3] = 0.4  # p(true) = 0.3 < p(other) = 0.4
    members = np.stack([confident, hesitant])
    ce = -np.log(members[:, np.arange(n), y]).mean(axis=1)
    assert ce[0] < 0.2 < 0.9 < ce[1]  # the premise: cross-entropy prefers the confident member
    r = S.blend(members, y, task="classification", budget=60, seed=0)
    assert r.member_errors[1] < r.member_errors[0]
    pred = np.tensordot(r.weights, members, axes=1).argmax(-1)
    np.testing.assert_array_equal(pred, y)
    assert r.weights[1] > r.weights[0]


@pytest.fixture(scope="module")
def class_fit():
    """A short margins-preset training on 3,000 balanced chsh-correlators points (25 epochs), validated on 600 points
    of which 15 % carry a wrong label: as a member sharpens, its validation cross-entropy rises (confident on the
    wrong labels) while its error rate still falls, so the two criteria pick different epochs."""
    sc = bc.BellScenario.binary(2)
    beh = bc.sample("chsh-correlators", sc, 3600, np.random.default_rng(5), balance=True)
    y = bc.chsh_class(np.asarray(beh.correlators())).astype(np.int64)
    x = np.asarray(S.features(jnp.asarray(beh.numpy(), jnp.float32), sc, "correlators-asin"))
    rng = np.random.default_rng(6)
    y_val = y[3000:].copy()
    flip = rng.random(len(y_val)) < 0.15
    y_val[flip] = (y_val[flip] + rng.integers(1, 3, flip.sum())) % 3
    cfg = S.preset_config("margins", "class", epochs=25, patience=25)
    ens, curves = S.train_ensemble(x[:3000], y[:3000], x[3000:], y_val, cfg, task="classification")
    return ens, curves, x[3000:], y[3000:], y_val


def test_classifier_members_keep_parameters_by_error_rate(class_fit):
    """Each classifier member keeps the parameters of its epoch of lowest validation error rate (cross-entropy only
    breaks ties), and the kept parameters reproduce that error rate; 25 epochs reach 95 % on the true labels."""
    ens, curves, x_val, y_true, y_val = class_fit
    (name, cur), = curves.groups.items()
    err, ce = cur["val_mae"].astype(np.float64), cur["val_loss"].astype(np.float64)
    best = curves.best_epoch[name]
    np.testing.assert_array_equal(best, (err + S.CE_WEIGHT * ce).argmin(axis=0))
    assert np.any(best != ce.argmin(axis=0))  # the premise: cross-entropy would have kept another epoch
    out = np.asarray(ens.members_output(jnp.asarray(x_val)))  # (M, N, 3)
    kept = (out.argmax(-1) != y_val[None]).mean(axis=1)
    np.testing.assert_allclose(kept, err[best, np.arange(err.shape[1])], atol=1e-6)
    assert np.all((out.argmax(-1) == y_true[None]).mean(axis=1) >= 0.95)


# ------------------------------------------------------------------------------------------ the Surrogate
def test_surrogate_gradients_match_finite_differences(fitted):
    res, _ = fitted
    sur = res.surrogate
    p = jnp.asarray(bc.tsirelson().mix(0.8).p, jnp.float64)
    f = jax.jit(lambda q: sur(q).mean)
    assert float(f(p)) > 0  # nonlocal point: off the floor, where the function is differentiable
    g = jax.grad(f)(p)
    assert np.all(np.isfinite(np.asarray(g)))
    p0, basis = bc.ns_affine_basis(sur.scenario)
    d = (basis @ np.random.default_rng(0).normal(size=basis.shape[1])).reshape(p.shape)
    eps = 1e-5
    fd = (float(f(p + eps * d)) - float(f(p - eps * d))) / (2 * eps)
    assert float(jnp.sum(g * d)) == pytest.approx(fd, rel=1e-3, abs=1e-6)


def test_surrogate_under_jit_vmap_and_batches(fitted):
    res, _ = fitted
    sur = res.surrogate
    p = jnp.asarray(bc.sample("uniform-ns", sur.scenario, 8, np.random.default_rng(1)).numpy())
    a = sur(p)  # eager
    b = eqx.filter_jit(lambda s, q: s(q))(sur, p)
    c = jax.jit(jax.vmap(lambda q: sur(q).mean))(p)
    np.testing.assert_allclose(a.mean, b.mean, rtol=1e-6)
    np.testing.assert_allclose(a.mean, c, rtol=1e-6)
    assert a.mean.shape == a.std.shape == (8,) and a.members.shape == (sur.ensemble.n_members, 8)
    assert eqx.filter_jit(lambda s, q: s(q))(sur, p.reshape(2, 4, *sur.scenario.shape)).mean.shape == (2, 4)


def test_x64_off_path(fitted):
    res, _ = fitted
    sur = res.surrogate
    p64 = bc.sample("uniform-ns", sur.scenario, 16, np.random.default_rng(2)).numpy()
    ref = np.asarray(eqx.filter_jit(lambda s, q: s(q).mean)(sur, jnp.asarray(p64)))
    with jax.enable_x64(False):
        p32 = jnp.asarray(p64, jnp.float32)
        out = eqx.filter_jit(lambda s, q: s(q))(sur, p32)
        g = jax.jit(jax.grad(lambda q: sur(q).mean.sum()))(p32)
        assert out.mean.dtype == jnp.float32 and g.dtype == jnp.float32
        np.testing.assert_allclose(np.asarray(out.mean), ref, atol=2e-5)
        assert np.all(np.isfinite(np.asarray(g)))


def test_surrogate_refuses_another_scenario(fitted):
    res, _ = fitted
    with pytest.raises(ValueError, match="not a behaviour of"):
        res.surrogate(jnp.asarray(bc.sample("uniform-ns", bc.BellScenario.binary(3), 2, np.random.default_rng(0)).numpy()))
    with pytest.raises(ValueError, match="features of length"):
        res.surrogate.predict_features(jnp.zeros((3, 5)))


def test_training_is_reproducible_from_its_seed(m2_data):
    sc, beh, y = m2_data
    cfg = S.TrainConfig(groups=(S.GroupSpec("mlp", 2, 16, 1, "tanh"),), epochs=2, batch_size=256, blend_budget=20, seed=9)
    a = S.fit_surrogate(beh[:1500], y[:1500], sc, feature_set="full", target="nl", config=cfg)
    b = S.fit_surrogate(beh[:1500], y[:1500], sc, feature_set="full", target="nl", config=cfg)
    np.testing.assert_array_equal(a.members_val, b.members_val)
    np.testing.assert_array_equal(a.blend.weights, b.blend.weights)


def test_config_validation():
    with pytest.raises(ValueError, match="unknown member kind"):
        S.GroupSpec("transformer")
    with pytest.raises(ValueError, match="unknown loss"):
        S.TrainConfig(loss="l3")
    with pytest.raises(ValueError, match="unknown preset"):
        S.preset_config("huge", "nl")
    assert S.preset_config("paper", "nl", members=5).n_members == 5
    with pytest.raises(ValueError, match="nl target only"):
        S.preset_config("maxaffine", "class")
    assert {g.kind for g in S.preset_config("maxaffine", "nl").groups} == {"maxaffine"}
    assert "margins" in {g.kind for g in S.preset_config("quick", "class").groups}
    assert {g.kind for g in S.preset_config("margins", "class").groups} == {"margins"}
    with pytest.raises(ValueError, match="class target only"):
        S.preset_config("margins", "nl")
    with pytest.raises(ValueError, match="classifier members"):
        S.Ensemble.init((S.GroupSpec("margins", 1, pieces=4),), 8, "regression", jax.random.PRNGKey(0))
    cfg = S.preset_config("quick", "nl", seed=3)
    assert S.TrainConfig.from_json(json.loads(json.dumps(cfg.to_json()))) == cfg


# ------------------------------------------------------------------------------------------- persistence
def test_save_load_gives_bit_identical_predictions(fitted, tmp_path):
    import h5py

    import runs

    res, _ = fitted
    sur = res.surrogate
    path = runs.save_model(tmp_path / "m.h5", sur, train_config={"seed": 5}, dataset_hash="abc", curves=res.curves,
                           evaluation={"y_true": res.y_val, "y_pred": res.y_val, "y_std": res.y_val})
    back = runs.load_model(path)
    p = jnp.asarray(bc.sample("uniform-ns", sur.scenario, 32, np.random.default_rng(4)).numpy())
    a, b = sur(p), back(p)
    np.testing.assert_array_equal(np.asarray(a.mean), np.asarray(b.mean))
    np.testing.assert_array_equal(np.asarray(a.members), np.asarray(b.members))
    assert back.scenario == sur.scenario and back.feature_set == "full" and back.target == "nl"
    with h5py.File(path, "r") as f:
        assert f.attrs["kind"] == "model" and f.attrs["status"] == "complete"
        assert f["model/members"][sur.ensemble.specs[0].name].dtype == np.uint8
        assert "headline" in json.loads(f.attrs["summary"])
    with pytest.raises(FileExistsError):
        runs.save_model(path, sur, train_config={}, dataset_hash="abc")
    with pytest.raises(ValueError, match="not a model run file"):
        runs.load_model(_dataset_file(tmp_path))


def _dataset_file(tmp_path):
    import runs
    from surrogates import DatasetSpec

    spec = DatasetSpec.create("bell", bc.BellScenario.binary(2), "uniform-ns", 20, 1)
    runs.run_dataset(spec, tmp_path / "d.h5")
    return tmp_path / "d.h5"
