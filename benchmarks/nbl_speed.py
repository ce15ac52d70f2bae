"""Benchmark: certified NBL of uniform random tripartite no-signalling behaviours and of the Werner/BRGP family.

    .venv/bin/python benchmarks/nbl_speed.py [--n 50] [--tol 1e-4] [--seed 0] [--time-limit 60] [--variant both]
    .venv/bin/python benchmarks/nbl_speed.py --family --tol 1e-4   # Werner/BRGP family v = 0.55..1, both variants
    .venv/bin/python benchmarks/nbl_speed.py --werner --tol 1e-5     # certified Werner curves against the formulas
    .venv/bin/python benchmarks/nbl_speed.py --labels features-ij --variant bsm --n 40   # dataset labels

Samples ``n`` points uniformly in the tripartite NS polytope of each variant (hit-and-run in correlator
coordinates, one independent chain per point: ``bellcore.sample_uniform_ns``), certifies each with
``certify.nonbilocality`` on one core (HiGHS single-threaded) and prints a per-point table, then per variant the
median / p95 / max time per point, the nodes, the interval widths and the time of the initial upper bound alone.
Before/after comparisons: run it once with ``PYTHONPATH`` pointing at an export of the old ``certify/`` first.
``--labels SAMPLER`` times a dataset's label path instead: ``certify.nbl_label`` (what ``make_chunk`` calls) against
a plain ``nonbilocality`` (what datasets called before) on the sampler's points (the dataset's own chunk generator,
``surrogates.chunk_rng``), and checks that both are optimal and that their intervals overlap.
Saves nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from bellcore import Behaviour, BilocalScenario, sample_uniform_ns  # noqa: E402
from certify import nonbilocality  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--quiet", action="store_true", help="summary only")
    ap.add_argument("--werner", action="store_true", help="certify the Werner curves (both variants) instead")
    ap.add_argument("--family", action="store_true", help="time the Werner/BRGP family (both variants) instead")
    ap.add_argument("--variant", choices=("binary", "bsm", "both"), default="both")
    ap.add_argument("--labels", metavar="SAMPLER", help="time nbl_label against nonbilocality on a dataset sampler")
    ap.add_argument("--max-nodes", type=int, default=2000, help="node limit (--labels; the datasets' default)")
    args = ap.parse_args(argv)
    if args.werner:
        return werner_curves(args.tol)
    if args.labels:
        return labels(args)
    variants = ("binary", "bsm") if args.variant == "both" else (args.variant,)

    try:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    except (AttributeError, OSError):
        pass
    import certify

    print(f"certify from {certify.__file__}; load average {os.getloadavg()[0]:.2f}")
    for variant in variants:
        sc = BilocalScenario(variant)
        if args.family:
            import jax

            jax.config.update("jax_enable_x64", True)
            from bellcore import bilocal_werner

            pts = [bilocal_werner(v, variant).numpy() for v in np.linspace(0.55, 1.0, 10)]
            label = f"Werner/BRGP family v = 0.55..1 (10 values, {variant} variant)"
        else:
            # the production sampler (hit-and-run, independent chains, documented burn-in): one chain per point
            pts = sample_uniform_ns(sc, args.n, np.random.default_rng(args.seed), chains=args.n).numpy()
            label = f"{args.n} uniform tripartite NS points ({variant} variant)"
        summary(label, sc, pts, args)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


def summary(label, sc, pts, args) -> None:
    """Certify every point of ``pts`` and print the per-point table (unless --quiet) and the summary."""
    nonbilocality(Behaviour(pts[0], sc), tol=1e-2)  # warm-up (imports, first HiGHS construction)
    rows = []
    t_all = time.perf_counter()
    for i, p in enumerate(pts):
        r = nonbilocality(Behaviour(p, sc), tol=args.tol, time_limit=args.time_limit, seed=args.seed)
        rows.append(r)
        if not args.quiet:
            print(
                f"{i:3d}  lower {r.lower:.6f}  upper {r.upper:.6f}  width {r.gap:.2e}  {str(r.status):8s} "
                f"nodes {r.nodes:6d}  LPs {r.lps:6d}  time {r.seconds:7.3f} s  (upper alone {r.upper_seconds:.3f} s)",
                flush=True,
            )
    total = time.perf_counter() - t_all
    t = np.array([r.seconds for r in rows])
    tu = np.array([r.upper_seconds for r in rows])
    ex = np.array([r.upper_initial - r.upper for r in rows])  # how far the upper bound alone was from the final
    nodes = np.array([r.nodes for r in rows])
    lps = np.array([r.lps for r in rows])
    w = np.array([r.gap for r in rows])
    lo = np.array([r.lower for r in rows])
    n_opt = sum(str(r.status) == "optimal" for r in rows)
    print()
    print(f"NBL certification, {label}, tol {args.tol:g}, one core")
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    print(f"{'':28s}{'median':>10s}{'mean':>10s}{'p95':>10s}{'max':>10s}")
    for name, v, fmt in (("time per point [s]", t, ".3f"), ("upper bound alone [s]", tu, ".3f"),
                         ("upper alone - final upper", ex, ".2e"), ("boxes (nodes)", nodes, ".0f"),
                         ("LPs", lps, ".0f"), ("interval width", w, ".2e"), ("NBL lower bound", lo, ".4f")):
        stats = (np.median(v), v.mean(), np.percentile(v, 95), v.max())
        print(f"{name:28s}" + "".join(f"{x:10{fmt}}" for x in stats))
    print(f"certified to tol: {n_opt}/{len(rows)};  NBL > 0: {sum(r.is_nonbilocal for r in rows)}/{len(rows)};  "
          f"per LP {1e3 * t.sum() / lps.sum():.3f} ms;  total {total:.1f} s")


def labels(args) -> int:
    """Per variant: label time per row of ``nbl_label`` and of a plain ``nonbilocality``, methods, agreement."""
    from bellcore import sample
    from certify import nbl_label
    from surrogates import chunk_rng

    try:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    except (AttributeError, OSError):
        pass
    print(f"load average {os.getloadavg()[0]:.2f}")
    bad = 0
    for variant in (("binary", "bsm") if args.variant == "both" else (args.variant,)):
        sc = BilocalScenario(variant)
        pts = sample(args.labels, sc, args.n, chunk_rng(args.seed, 0))
        nbl_label(pts[0], tol=1e-2)  # warm-up
        tl, tb, meth, nodes = [], [], {}, []
        for k in range(args.n):
            t = time.perf_counter()
            lab = nbl_label(pts[k], tol=args.tol, max_nodes=args.max_nodes, time_limit=args.time_limit, validate=False)
            tl.append(time.perf_counter() - t)
            t = time.perf_counter()
            r = nonbilocality(pts[k], tol=args.tol, max_nodes=args.max_nodes, time_limit=args.time_limit, validate=False)
            tb.append(time.perf_counter() - t)
            nodes.append(r.nodes)
            meth[lab.method] = meth.get(lab.method, 0) + 1
            ok = (str(lab.status) == "optimal" and str(r.status) == "optimal" and lab.lower <= r.upper + 1e-9
                  and r.lower <= lab.upper + 1e-9)
            if not ok:
                bad += 1
                print(f"  DISAGREE row {k}: label {lab}, nonbilocality [{r.lower}, {r.upper}] {r.status}")
        tl, tb = 1e3 * np.array(tl), 1e3 * np.array(tb)
        print(f"{args.labels} ({variant}), {args.n} rows, tol {args.tol:g}, max nodes {args.max_nodes}: "
              f"ms per row median / mean / p95 -- nbl_label {np.median(tl):.1f} / {tl.mean():.1f} / "
              f"{np.percentile(tl, 95):.1f}; nonbilocality {np.median(tb):.1f} / {tb.mean():.1f} / "
              f"{np.percentile(tb, 95):.1f}; methods {meth}; median boxes {np.median(nodes):.0f}")
    print(f"rows where the two disagree or are not optimal: {bad}; load average after {os.getloadavg()[0]:.2f}")
    return 1 if bad else 0


def werner_curves(tol: float) -> int:
    """Certified NBL of Werner sources with the BRGP measurements, both variants, against the closed forms
    binary max(0, (sqrt2 v - 1)/4) and bsm max(0, (v^2 - 1/2)/4) (= the paper's v^2 - 1/2 divided by 4)."""
    import jax

    jax.config.update("jax_enable_x64", True)
    from bellcore import bilocal_werner

    print(f"Werner sources + BRGP measurements, tol {tol:g}")
    print(f"{'variant':8s}{'v':>7s}{'lower':>12s}{'upper':>12s}{'formula':>12s}{'4*upper':>10s}{'v^2-1/2':>10s}"
          f"{'nodes':>7s}{'time [s]':>10s}")
    for variant in ("bsm", "binary"):
        for v in (0.6, 0.7, 0.71, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0):
            r = nonbilocality(bilocal_werner(v, variant), tol=tol)
            f = max(0.0, (v * v - 0.5) / 4) if variant == "bsm" else max(0.0, (2**0.5 * v - 1) / 4)
            ok = r.lower - 1e-9 <= f <= r.upper + 1e-9
            print(f"{variant:8s}{v:7.2f}{r.lower:12.7f}{r.upper:12.7f}{f:12.7f}{4 * r.upper:10.5f}{max(0, v * v - .5):10.5f}"
                  f"{r.nodes:7d}{r.seconds:10.2f}  {'contains formula' if ok else 'FORMULA OUTSIDE'}  {r.status}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
