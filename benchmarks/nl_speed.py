"""Benchmark: certify.nonlocality_many (HiGHS, several behaviours per solver call) vs a naive cvxpy loop and a
scipy linprog loop.

For m = 2, 3, 4, 5 it draws the same N uniform no-signalling behaviours (hit-and-run, seed 0) and times
  - bellscope: ``certify.nonlocality_many(batch, blocks=True)``, the batch API with several behaviours per HiGHS
    call (validation of the batch, the LPs, the solver-free certificate check of every result including the
    exact-arithmetic verdict for nonlocal points: everything a user gets), one process;
  - many: ``certify.nonlocality_many(batch)`` without blocks (one LP per behaviour, results bit-identical to
    ``nonlocality``'s, certificates checked for the whole batch at once); for reference;
  - single: ``certify.nonlocality(p)`` per behaviour (one call per behaviour); for reference;
  - naive cvxpy: a new ``cp.Problem`` per behaviour, ``min c*sum|q - D lambda|``, cvxpy's default solver;
  - scipy linprog loop: ``scipy.optimize.linprog(method="highs")`` on the same LP built anew per behaviour (value
    only, no certificate).
Each path is called once before its timing (cvxpy's first call alone costs ~30 ms; our first batch call builds the
LPs of the scenario and of its block sizes): one-offs per process are excluded for all. It prints ms per behaviour, the speed-ups of the
batch API over both loops, and the largest |difference| of the values (target <= 1e-7), over all points and over
the points where cvxpy itself answers "optimal" (its "optimal_inaccurate" answers are off by up to ~1e-6; ours
are certified by primal = dual to ~1e-15), and the largest |blocks - single| difference (it asserts that the
values without blocks equal the single calls' bit for bit).

    python benchmarks/nl_speed.py [--n 200] [--ms 2 3 4 5] [--clock wall|cpu]

``--clock cpu`` times with this process's CPU time (``time.process_time``, all its threads) instead of the wall
clock: on a machine shared with other jobs (load above the core count) the wall clock mostly measures waiting
for a core, in proportions that change from one path to the next.
    python benchmarks/nl_speed.py --scale [--ms 6 8 10 12 16] [--n 2] [--sampler quantum|uniform-ns]

``--scale``: NL and visibility by column generation (``method="colgen"``) for binary scenarios with m settings
per party, one fresh process per m: seconds per behaviour (visibility's include its own NL start), columns
generated and LP rounds (visibility's: its own master, after NL's columns), and the process's peak
resident memory (``ru_maxrss``: Python, numpy, HiGHS and the behaviours together). Points: Haar-random two-qubit
states with Haar-random measurements (``quantum``, default: cheap to draw at any m) or uniform NS points
(``uniform-ns``: hit-and-run, whose burn-in grows with m; drawing time excluded).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def linprog_loop(q: np.ndarray, d: np.ndarray, c: float) -> float:
    """The same LP through ``scipy.optimize.linprog`` (HiGHS inside), built anew per behaviour, value only."""
    from scipy.optimize import linprog

    n, k = d.shape
    eye = np.eye(n)
    a_eq = np.block([[d, eye, -eye], [np.ones((1, k)), np.zeros((1, 2 * n))]])
    cost = np.concatenate([np.zeros(k), np.full(2 * n, c)])
    res = linprog(cost, A_eq=a_eq, b_eq=np.append(q, 1.0), bounds=(0, None), method="highs")
    return float(res.fun)


def naive_cvxpy(q: np.ndarray, d: np.ndarray, c: float) -> tuple[float, str]:
    import cvxpy as cp

    lam = cp.Variable(d.shape[1], nonneg=True)
    prob = cp.Problem(cp.Minimize(c * cp.sum(cp.abs(q - d @ lam))), [cp.sum(lam) == 1])
    prob.solve()
    return float(prob.value), prob.status


def scale_one(m: int, n: int, sampler: str, seed: int) -> None:
    """One row per behaviour of the scale table (run in a fresh process: the peak memory is this m's)."""
    import os
    import resource

    import bellcore as bc
    import certify
    import certify._colgen as cg

    rounds = []
    init = cg._Master.__init__

    def counting_init(self, *a, **k):  # count LP rounds and columns of every master built
        init(self, *a, **k)
        rounds.append(self)

    cg._Master.__init__ = counting_init
    sc = bc.BellScenario.binary(m)
    batch = bc.sample(sampler, sc, n, np.random.default_rng(seed)).numpy()
    for p in batch:
        t0 = time.perf_counter()
        r = certify.nonlocality(p, method="colgen")
        mn = rounds[-1]
        t1 = time.perf_counter()
        v = certify.visibility(p, method="colgen")  # runs NL's column generation first for its starting columns
        t2 = time.perf_counter()
        mv = next(x for x in reversed(rounds) if x.row_map is not None)  # visibility's own master
        print(f"{m:>3} {sc.n_deterministic:>14,} {t1 - t0:>8.2f} {len(mn.cols):>7} {mn.rounds:>6} {r.value:>11.7f} "
              f"{str(r.certificate_checked):>5} {t2 - t1:>8.2f} {len(mv.cols):>7} {mv.rounds:>6} {v.value:>10.7f} "
              f"{str(v.certificate_checked):>5} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:>8.0f} "
              f"{os.getloadavg()[0]:>5.2f}", flush=True)


def scale(args) -> None:
    import subprocess
    import sys

    print(f"column generation, binary (m, m) scenarios, {args.n} {args.sampler} point(s) per m, one process per m")
    print(f"{'m':>3} {'det. points':>14} {'NL s':>8} {'columns':>7} {'rounds':>6} {'NL':>11} {'chk':>5} "
          f"{'vis s':>8} {'columns':>7} {'rounds':>6} {'visibility':>10} {'chk':>5} {'RSS MiB':>8} {'load':>5}", flush=True)
    for m in args.ms:
        subprocess.run([sys.executable, __file__, "--scale-one", str(m), "--n", str(args.n), "--sampler", args.sampler,
                        "--seed", str(args.seed)], check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=None)
    ap.add_argument("--ms", type=int, nargs="+", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scale", action="store_true", help="the column-generation scale table instead")
    ap.add_argument("--scale-one", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--sampler", default="quantum", choices=("quantum", "uniform-ns"))
    ap.add_argument("--clock", default="wall", choices=("wall", "cpu"), help="wall clock or this process's CPU time")
    args = ap.parse_args()
    if args.scale_one is not None:
        return scale_one(args.scale_one, args.n, args.sampler, args.seed)
    if args.scale:
        args.n, args.ms = args.n or 2, args.ms or [6, 8, 10, 12, 16]
        return scale(args)
    args.n, args.ms = args.n or 200, args.ms or [2, 3, 4, 5]

    import warnings

    import bellcore as bc
    import certify
    from bellcore import sample_uniform_ns

    warnings.filterwarnings("ignore", message="Solution may be inaccurate")
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    print(f"clock: {args.clock}; uniform NS points, seed {args.seed}")
    print(f"{'m':>2} {'N':>4} {'blocks ms':>9} {'many ms':>9} {'single ms':>9} {'cvxpy ms':>9} {'speed-up':>9} {'linprog ms':>11} "
          f"{'speed-up':>9} {'max |diff|':>11} {'(cvxpy opt.)':>12} {'blocks-single':>13} {'cvxpy inacc.':>12} "
          f"{'nonlocal':>8} {'certified':>9}  load")
    for m in args.ms:
        sc = bc.BellScenario.binary(m)
        batch = sample_uniform_ns(sc, args.n, np.random.default_rng(args.seed))
        d = sc.deterministic_points().reshape(sc.n_deterministic, -1).T
        q0 = batch[0].numpy().reshape(-1)
        # one-offs excluded (see above): the LPs of the scenario, of its block sizes, cvxpy's first call
        certify.nonlocality_many(batch, blocks=True), certify.nonlocality(batch[0])
        naive_cvxpy(q0, d, sc.normalisation), linprog_loop(q0, d, sc.normalisation)
        t0 = clock()
        ours = certify.nonlocality_many(batch, blocks=True)
        t_ours = (clock() - t0) / args.n * 1e3
        t0 = clock()
        many = certify.nonlocality_many(batch)
        t_many = (clock() - t0) / args.n * 1e3
        t0 = clock()
        single = [certify.nonlocality(b) for b in batch]
        t_single = (clock() - t0) / args.n * 1e3
        t0 = clock()
        theirs = [naive_cvxpy(b.numpy().reshape(-1), d, sc.normalisation) for b in batch]
        t_cvx = (clock() - t0) / args.n * 1e3
        t0 = clock()
        lin = [linprog_loop(b.numpy().reshape(-1), d, sc.normalisation) for b in batch]
        t_lin = (clock() - t0) / args.n * 1e3
        diff = max(max(abs(r.value - v) for r, (v, _) in zip(ours, theirs)),
                   max(abs(r.value - v) for r, v in zip(ours, lin)))
        diff_opt = max((abs(r.value - v) for r, (v, st) in zip(ours, theirs) if st == "optimal"), default=float("nan"))
        diff_single = max(abs(r.value - s.value) for r, s in zip(ours, single))
        assert all(r.value == s.value for r, s in zip(many, single)), "nonlocality_many without blocks: not identical"
        inacc = sum(s != "optimal" for _, s in theirs)
        nonlocal_ = sum(r.is_nonlocal for r in ours)
        checked = sum(r.certificate_checked for r in ours)
        print(f"{m:>2} {args.n:>4} {t_ours:>9.3f} {t_many:>9.3f} {t_single:>9.3f} {t_cvx:>9.2f} {t_cvx / t_ours:>8.1f}x {t_lin:>11.2f} "
              f"{t_lin / t_ours:>8.1f}x {diff:>11.2e} {diff_opt:>12.2e} {diff_single:>13.2e} {inacc:>12} "
              f"{nonlocal_:>8} {checked:>9}  {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
