"""Preset ``censored`` on the Fig. 3b family: training time, test error, ranking, the latent output, warm refits.

    nice -n 10 python benchmarks/censored_preset.py --n 1500 --seed 7 --cache out/family_upper_1500.npz

Draws ``--n`` members of the family of ``benchmarks/discover_family_model.py`` (sources cos(theta)|00> +
sin(theta)|11>, theta uniform in [0.3, pi/4], product measurements for B, Bloch measurements for A and C), labels each
with certify's NBL upper bound at ``--max-nodes`` nodes (1: the fast alternating-LP upper bound, the cheap label;
more nodes: a certified interval's midpoint), keeps 20 % as a test set and, on the rest, fits (10 % validation):
preset ``censored`` on ``network`` features (with their symmetry augmentation) and on bilocal ``full`` features
(none), and preset ``quick`` on ``full`` features. Per fit one JSON line: wall seconds (the first fit in the
process includes JAX compilation), test mean |error| beside the median constant's, Spearman correlation, precision
of the top 10 % of predictions (fraction with label > 1e-6, beside the base rate), and on the test points the model
predicts exactly 0, how often the latent output is below 0 and its Spearman correlation with the label there.
Then a warm refit: ``censored`` / ``network`` trained on the first half of the training rows, refitted on all of them
with ``--refit-epochs`` epochs from the previous members, against fresh members with the same epochs.
Labels are cached in ``--cache`` (numpy .npz, no pickle). ``--timing N``: instead, fit ``censored`` / ``network``
on the first N rows three times in one process and print each wall time (the first includes compilation).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import numpy as np


def _family(n: int, seed: int, max_nodes: int):
    import jax

    import certify
    import discover as d

    fam = d.family_from_spec({"scenario": "bilocal", "sources": "theta", "bob": "product"})
    rng = np.random.default_rng(seed)
    behs, ys = [], []
    t0 = time.perf_counter()
    for i, k in enumerate(jax.random.split(jax.random.PRNGKey(seed), n)):
        s = fam.init(k)
        theta = rng.uniform(0.3, math.pi / 4)
        s = d.NetworkStrategy(d.ThetaState(theta), d.ThetaState(theta), s.alice, s.bob, s.charlie)
        b = s.behaviour(np.float64)
        r = certify.nonbilocality(b, tol=1e-4, max_nodes=max_nodes, time_limit=30, seed=seed)
        behs.append(b.p)
        ys.append(r.upper if max_nodes == 1 else 0.5 * (r.lower + r.upper))
        if (i + 1) % 100 == 0:
            print(json.dumps({"labelled": i + 1, "seconds": round(time.perf_counter() - t0, 1)}), flush=True)
    return np.stack(behs), np.array(ys)


def _spearman(a, b) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic) if np.std(a) > 0 and np.std(b) > 0 else float("nan")


def _score(sur, x, y, y_train) -> dict:
    pred = np.asarray(sur(x).mean, np.float64)
    lat = np.asarray(sur.latent(x).mean, np.float64)
    top = np.argsort(-pred)[: max(1, len(y) // 10)]
    zero = pred == 0
    return {
        "test_mae": float(np.abs(pred - y).mean()), "median_mae": float(np.abs(np.median(y_train) - y).mean()),
        "spearman": _spearman(pred, y), "top10_precision": float((y[top] > 1e-6).mean()),
        "base_rate": float((y > 1e-6).mean()), "predicted_zero": float(zero.mean()),
        "latent_below_0_where_zero": float((lat[zero] < 0).mean()) if zero.any() else float("nan"),
        "latent_spearman_where_zero": _spearman(lat[zero], y[zero]) if zero.sum() > 2 else float("nan"),
        "latent_spearman": _spearman(lat, y),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--max-nodes", type=int, default=1)
    ap.add_argument("--refit-epochs", type=int, default=20)
    ap.add_argument("--cache", default=None, help=".npz file of labelled behaviours (written if missing)")
    ap.add_argument("--timing", type=int, default=None, help="only time fits on the first N rows (see above)")
    args = ap.parse_args()

    import surrogates as S
    from bellcore import BilocalScenario

    if args.cache and os.path.exists(args.cache):
        with np.load(args.cache) as z:
            beh, y = z["behaviours"], z["y"]
    else:
        beh, y = _family(args.n, args.seed, args.max_nodes)
        if args.cache:
            np.savez(args.cache, behaviours=beh, y=y)
    sc = BilocalScenario("binary")
    if args.timing:
        cfg = S.preset_config("censored", "nbl", seed=args.seed)
        for rep in range(3):
            t = time.perf_counter()
            res = S.fit_surrogate(beh[: args.timing], y[: args.timing], sc, feature_set="network", target="nbl",
                                  config=cfg)
            print(json.dumps({"rows": args.timing, "members": cfg.n_members, "repeat": rep,
                              "seconds": round(time.perf_counter() - t, 2),
                              "epochs_run": {k: int(len(v["step"])) for k, v in res.curves.groups.items()},
                              "load": os.getloadavg()}), flush=True)
        return
    perm = np.random.default_rng(args.seed).permutation(len(y))
    te, tr = perm[: len(y) // 5], perm[len(y) // 5 :]
    print(json.dumps({"rows": len(y), "train": len(tr), "test": len(te), "nonbilocal": float((y > 1e-6).mean()),
                      "max_label": float(y.max()), "load": os.getloadavg()}), flush=True)
    for preset, fs in (("censored", "network"), ("censored", "full"), ("quick", "full")):
        cfg = S.preset_config(preset, "nbl", seed=args.seed)
        t = time.perf_counter()
        res = S.fit_surrogate(beh[tr], y[tr], sc, feature_set=fs, target="nbl", config=cfg)
        sec = time.perf_counter() - t
        epochs = {k: int(len(v["step"])) for k, v in res.curves.groups.items()}
        print(json.dumps({"preset": preset, "features": fs, "members": cfg.n_members, "train_rows": len(tr),
                          "seconds": round(sec, 1), "epochs_run": epochs, "load": os.getloadavg(),
                          **_score(res.surrogate, beh[te], y[te], y[tr])}), flush=True)
    half = tr[: len(tr) // 2]
    cfg = S.preset_config("censored", "nbl", seed=args.seed)
    prev = S.fit_surrogate(beh[half], y[half], sc, feature_set="network", target="nbl", config=cfg)
    short = S.preset_config("censored", "nbl", seed=args.seed, epochs=args.refit_epochs, patience=args.refit_epochs)
    out = {"previous (half the rows)": _score(prev.surrogate, beh[te], y[te], y[half])}
    for name, init in (("warm", prev.surrogate), ("fresh", None)):
        t = time.perf_counter()
        res = S.fit_surrogate(beh[tr], y[tr], sc, feature_set="network", target="nbl", config=short, init=init)
        out[name] = {"seconds": round(time.perf_counter() - t, 1), **_score(res.surrogate, beh[te], y[te], y[tr])}
    print(json.dumps({"refit_epochs": args.refit_epochs, **out, "load": os.getloadavg()}), flush=True)


if __name__ == "__main__":
    main()
