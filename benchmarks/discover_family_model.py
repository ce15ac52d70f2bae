"""Train an NBL surrogate on the Fig. 3b family itself (docs/discover.md).

The datasets of ``bellscope dataset`` sample the whole network (uniform NS, Haar-random quantum strategies: 98.6 %
of 1,500 Haar points are bilocal); a searcher needs a model that is accurate where it searches. This script draws
``--n`` random members of the family (sources cos(theta)|00> + sin(theta)|11> with theta uniform in
[``--theta-min``, pi/4], product measurements for B, Bloch measurements for A and C), labels each with the
midpoint of its certified NBL interval (``certify.nonbilocality``, gap ``--tol``; only status optimal kept), fits a
``surrogates`` ensemble (preset ``quick``, feature set ``full``) and writes a model run file (``runs.save_model``).

    python benchmarks/discover_family_model.py --n 1000 --seed 7 --out family_model.h5
"""

from __future__ import annotations

import argparse
import hashlib
import math
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--theta-min", type=float, default=0.3)
    ap.add_argument("--members", type=int, default=None)
    ap.add_argument("--tol", type=float, default=1e-3, help="NBL gap tolerance of the labels (label error <= tol/2)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    import jax

    import certify
    import discover as d
    import runs
    import surrogates as S
    from bellcore import BilocalScenario

    fam = d.family_from_spec({"scenario": "bilocal", "sources": "theta", "bob": "product"})
    keys = jax.random.split(jax.random.PRNGKey(args.seed), args.n)
    rng = np.random.default_rng(args.seed)
    behs, ys, t0 = [], [], time.perf_counter()
    for i, k in enumerate(keys):
        s = fam.init(k)
        theta = rng.uniform(args.theta_min, math.pi / 4)
        s = d.NetworkStrategy(d.ThetaState(theta), d.ThetaState(theta), s.alice, s.bob, s.charlie)
        b = s.behaviour(np.float64)
        r = certify.nonbilocality(b, tol=args.tol, max_nodes=2000, time_limit=30, seed=args.seed)
        if r.status == certify.Status.OPTIMAL:
            behs.append(b.p)
            ys.append(0.5 * (r.lower + r.upper))
        if (i + 1) % 100 == 0:
            print(f"{i + 1}/{args.n} labelled, {time.perf_counter() - t0:.0f} s, nonbilocal {np.mean(np.array(ys) > 1e-6):.2f}",
                  flush=True)
    x, y = np.stack(behs), np.array(ys)
    print(f"labels: {len(y)} optimal of {args.n}; NBL > 1e-6 in {np.mean(y > 1e-6):.2f}; max {y.max():.4f}; "
          f"{time.perf_counter() - t0:.0f} s")
    cfg = S.preset_config("quick", "nbl", members=args.members, seed=args.seed)
    res = S.fit_surrogate(x, y, BilocalScenario("binary"), feature_set="full", target="nbl", config=cfg)
    w = np.asarray(res.blend.weights)
    mv = res.members_val
    pred = np.tensordot(w, mv, axes=1)
    print(f"validation MAE {np.abs(pred - res.y_val).mean():.5f} (median predictor "
          f"{np.abs(np.median(y) - res.y_val).mean():.5f}), {len(res.y_val)} points")
    digest = hashlib.sha256(x.tobytes() + y.tobytes()).hexdigest()
    runs.save_model(args.out, res.surrogate, train_config=cfg.to_json(), dataset_hash=digest, curves=res.curves,
                    evaluation={"y_true": res.y_val, "y_pred": pred, "y_std": mv.std(axis=0)},
                    extra={"data": {"source": "benchmarks/discover_family_model.py", "n": args.n, "seed": args.seed,
                                    "theta_min": args.theta_min}})
    print(f"wrote {args.out} in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
