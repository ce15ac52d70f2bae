"""Figure of merit of the discover searchers at the same wall-clock budget (docs/discover.md).

For each seed and each searcher: search the Fig. 3b family (binary-B bilocal network, product measurements for
B, sources cos(theta)|00> + sin(theta)|11> at one theta) for ``--budget`` seconds, then certify the ``--top``
best distinct candidates (BRGP, tripartite NL, NBL interval). Reports, per searcher: the largest certified NBL
lower bound among discoveries (BRGP <= 1, tripartite NL = 0, NBL lower > 0), the number of discoveries and
discoveries per minute of (search + certification) wall time.

    python benchmarks/discover_merit.py --model MODEL.h5 --theta 0.75 --budget 30 --seeds 1 2 --top 6

Without ``--model`` only the surrogate-free searchers run.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None)
    ap.add_argument("--theta", type=float, default=0.75)
    ap.add_argument("--budget", type=float, default=30.0, help="search wall-clock seconds per searcher and seed")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--top", type=int, default=6)
    ap.add_argument("--kappa", type=float, default=0.0)
    ap.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = ap.parse_args()

    import discover as d

    fam = d.family_from_spec({"scenario": "bilocal", "sources": "theta", "bob": "product", "theta": args.theta})
    cons = d.Constraints(brgp_max=1.0, tripartite_local=True)
    ub = d.upper_bound_objective(brgp_max=0.98, brgp_weight=100.0, tripartite_weight=1.0)
    searchers = [
        ("random-nbl-upper (no model)", d.RandomSearch(batch=8), ub),
        ("cma-nbl-upper (no model)", d.NevergradSearch("CMA", batch=8), ub),
    ]
    predict = None
    if args.model:
        import runs

        sur = runs.load_model(args.model)
        predict = sur
        obj = d.Objective.make(sur, kappa=args.kappa, brgp_max=0.98, brgp_weight=100.0)
        searchers = [
            ("gradient (surrogate)", d.GradientSearch(starts=32, learning_rate=0.05), obj),
            ("cma (surrogate)", d.NevergradSearch("CMA", batch=16), obj),
            ("random (surrogate)", d.RandomSearch(batch=64), obj),
        ] + searchers
    rows = []
    for seed in args.seeds:
        for name, s, obj in searchers:
            t0 = time.perf_counter()
            res = d.search(s, fam, obj, steps=10**6, seed=seed, time_budget=args.budget)
            t1 = time.perf_counter()
            c = d.certify_candidates([res], cons, top=args.top, predict=predict, nbl_time_limit=10.0, seed=seed)
            t2 = time.perf_counter()
            disc = c.discovery
            best = float(c.nbl_lower[disc].max()) if disc.any() else float("nan")
            row = {"searcher": name, "seed": seed, "search_s": t1 - t0, "certify_s": t2 - t1,
                   "evaluations": int(res.trace.evaluations[-1]), "certified": len(c), "discoveries": int(disc.sum()),
                   "best_nbl_lower": best, "per_minute": float(disc.sum()) / ((t2 - t0) / 60),
                   "max_nbl_lower_any": float(np.nanmax(c.nbl_lower)) if len(c) else float("nan"),
                   "brgp_of_best": float(c.brgp[disc][np.argmax(c.nbl_lower[disc])]) if disc.any() else float("nan")}
            rows.append(row)
            print(json.dumps(row), flush=True)
    print()
    print(f"theta = {args.theta}, budget {args.budget:g} s search per run, top {args.top} certified, seeds {args.seeds}")
    print("| searcher | seed | evaluations | discoveries / certified | best certified NBL lower (discovery) | "
          "BRGP of it | discoveries per minute |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['searcher']} | {r['seed']} | {r['evaluations']} | {r['discoveries']} / {r['certified']} | "
              f"{r['best_nbl_lower']:.4f} | {r['brgp_of_best']:.3f} | {r['per_minute']:.2f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
