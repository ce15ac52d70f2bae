"""Benchmark: certify.nonlocality (HiGHS, one LP per scenario, re-solved per behaviour) vs a naive cvxpy loop.

For m = 2, 3, 4, 5 it draws the same N uniform no-signalling behaviours (hit-and-run, seed 0) and times
  - bellscope: ``certify.nonlocality(p)`` per behaviour (validation, LP, solver-free certificate check
    including the exact-arithmetic verdict for nonlocal points: everything a user gets);
  - naive cvxpy: a new ``cp.Problem`` per behaviour, ``min c*sum|q - D lambda|``, cvxpy's default solver.
It prints ms per behaviour, the speed-up, and the largest |difference| of the values (target <= 1e-7), over
all points and over the points where cvxpy itself answers "optimal" (its "optimal_inaccurate" answers are
off by up to ~1e-6; ours are certified by primal = dual to ~1e-15).

    python benchmarks/nl_speed.py [--n 200] [--ms 2 3 4 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def naive_cvxpy(q: np.ndarray, d: np.ndarray, c: float) -> tuple[float, str]:
    import cvxpy as cp

    lam = cp.Variable(d.shape[1], nonneg=True)
    prob = cp.Problem(cp.Minimize(c * cp.sum(cp.abs(q - d @ lam))), [cp.sum(lam) == 1])
    prob.solve()
    return float(prob.value), prob.status


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--ms", type=int, nargs="+", default=[2, 3, 4, 5])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import warnings

    import bellcore as bc
    import certify
    from bellcore import sample_uniform_ns

    warnings.filterwarnings("ignore", message="Solution may be inaccurate")
    print(f"{'m':>2} {'N':>4} {'bellscope ms':>13} {'cvxpy ms':>9} {'speed-up':>9} {'max |diff|':>11} "
          f"{'(cvxpy opt.)':>12} {'cvxpy inacc.':>12} {'nonlocal':>8} {'certified':>9}")
    for m in args.ms:
        sc = bc.BellScenario.binary(m)
        batch = sample_uniform_ns(sc, args.n, np.random.default_rng(args.seed))
        certify.nonlocality(batch[0])  # build the LP once (excluded: a one-off per scenario and process)
        t0 = time.perf_counter()
        ours = [certify.nonlocality(b) for b in batch]
        t_ours = (time.perf_counter() - t0) / args.n * 1e3
        d = sc.deterministic_points().reshape(sc.n_deterministic, -1).T
        t0 = time.perf_counter()
        theirs = [naive_cvxpy(b.numpy().reshape(-1), d, sc.normalisation) for b in batch]
        t_cvx = (time.perf_counter() - t0) / args.n * 1e3
        diff = max(abs(r.value - v) for r, (v, _) in zip(ours, theirs))
        diff_opt = max((abs(r.value - v) for r, (v, st) in zip(ours, theirs) if st == "optimal"), default=float("nan"))
        inacc = sum(s != "optimal" for _, s in theirs)
        nonlocal_ = sum(r.is_nonlocal for r in ours)
        checked = sum(r.certificate_checked for r in ours)
        print(f"{m:>2} {args.n:>4} {t_ours:>13.3f} {t_cvx:>9.2f} {t_cvx / t_ours:>8.1f}x {diff:>11.2e} {diff_opt:>12.2e} "
              f"{inacc:>12} {nonlocal_:>8} {checked:>9}", flush=True)


if __name__ == "__main__":
    main()
