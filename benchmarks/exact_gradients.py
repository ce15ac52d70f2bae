"""Benchmark: per-call cost of the exact quantities with gradients (discover/_exact.py) on Fig. 3b family points.

Draws N members of the Fig. 3b family (sources cos t|00> + sin t|11>, B product measurements, A and C Bloch
measurements; theta = 0.75 unless ``--theta``), float64 behaviours, and times per behaviour:

  - ``jit(value_and_grad(q))`` one point per call (compiled once before timing), for q = exact_nbl_upper()
    (starts=1), exact_tripartite_nl(), and exact_nl on the A-B marginal p(a, b | x, y) (summed over c at z = 0);
  - the same certify call alone (no JAX), to show the callback's overhead;
  - ``jit(vmap(value_and_grad(q)))`` over all N at once (sequential host calls), per point.

It prints ms per call (mean and median) and how many values are > 1e-6, and ``os.getloadavg()`` (the machine is
shared: read timings beside it).

``--search S``: also run an exact-gradient search from random starts (GradientSearch, S starts, ``--steps``
steps, learning rate 0.05, float32 family, target ``exact_nbl_upper() - W * exact_tripartite_nl()`` with
``W = --nl3-weight`` (0: the upper bound alone), BRGP <= 0.99), print its trace's best value per step and its wall
time, then certify its ``--certify`` best candidates in float64 in full (``certify.nonbilocality``, branch and bound,
60 s limit each; tripartite NL; BRGP) and decide with ``discover.is_discovery`` (NBL lower > 0 with the model
re-checked, BRGP <= 1, tripartite NL = 0).

    python benchmarks/exact_gradients.py [--n 50] [--theta 0.75] [--search 16 --steps 20 --nl3-weight 2]
"""

from __future__ import annotations

import argparse
import os
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import bellcore  # noqa: E402
import certify  # noqa: E402
import discover  # noqa: E402


def _points(theta: float, n: int, seed: int) -> np.ndarray:
    fam = discover.family_from_spec(
        {"scenario": "bilocal", "sources": "theta", "bob": "product", "measurements": "bloch", "theta": theta},
        dtype=jnp.float64,
    )
    keys = jax.random.split(jax.random.PRNGKey(seed), n)
    return np.stack([np.asarray(fam.init(k).probabilities(jnp.float64)) for k in keys])


def _time(fn, xs) -> np.ndarray:
    out = []
    for x in xs:
        t0 = time.perf_counter()
        fn(x)
        out.append(time.perf_counter() - t0)
    return 1e3 * np.asarray(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--theta", type=float, default=0.75)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--search", type=int, default=0, help="starts of an exact-gradient search (0: none)")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--nl3-weight", type=float, default=0.0,
                    help="weight of tripartite NL subtracted from the target")
    ap.add_argument("--certify", type=int, default=3, help="best search candidates certified in full")
    a = ap.parse_args()
    ps = _points(a.theta, a.n, a.seed)
    ab = ps[:, :, :, :, :, :, 0].sum(axis=2)  # p(a, b | x, y) at z = 0: (N, 2, 2, 2, 2)
    chsh = bellcore.BellScenario((2, 2), (2, 2))
    cases = [
        ("nbl-upper", discover.exact_nbl_upper(), ps,
         lambda q: certify.nonbilocality(q, max_nodes=1, starts=1, seed=0, validate=False)),
        ("nl3", discover.exact_tripartite_nl(), ps, lambda q: certify.tripartite_nonlocality(q, validate=False)),
        ("nl (A-B marginal)", discover.exact_nl(chsh), ab,
         lambda q: certify.nonlocality(bellcore.Behaviour(q, chsh), validate=False)),
    ]
    print(f"{a.n} Fig. 3b points, theta = {a.theta}; load average {os.getloadavg()}")
    print(f"{'quantity':>18} {'jit vg mean':>12} {'median':>8} {'certify alone':>14} {'vmap / point':>13} {'> 1e-6':>7}")
    for name, q, xs, raw in cases:
        f = jax.jit(jax.value_and_grad(q))
        jax.block_until_ready(f(jnp.asarray(xs[0])))  # compile
        t = _time(lambda x: jax.block_until_ready(f(jnp.asarray(x))), xs)
        t_raw = _time(raw, xs)
        fv = jax.jit(jax.vmap(jax.value_and_grad(q)))
        jax.block_until_ready(fv(jnp.asarray(xs)))  # compile
        t0 = time.perf_counter()
        values, _ = jax.block_until_ready(fv(jnp.asarray(xs)))
        t_vmap = 1e3 * (time.perf_counter() - t0) / len(xs)
        positive = int((np.asarray(values) > 1e-6).sum())
        print(f"{name:>18} {t.mean():>9.1f} ms {np.median(t):>5.1f} ms {t_raw.mean():>11.1f} ms {t_vmap:>10.1f} ms "
              f"{positive:>7}")
    print(f"load average after: {os.getloadavg()}")
    if a.search:
        fam = discover.family_from_spec(
            {"scenario": "bilocal", "sources": "theta", "bob": "product", "measurements": "bloch", "theta": a.theta})
        nbl, nl3, w = discover.exact_nbl_upper(), discover.exact_tripartite_nl(), a.nl3_weight
        target = nbl if w == 0 else (lambda p: nbl(p) - w * nl3(p))
        obj = discover.Objective.make(target, brgp_max=0.99)
        res = discover.search(discover.GradientSearch(starts=a.search, learning_rate=0.05), fam, obj,
                              steps=a.steps, seed=a.seed)
        print(f"exact-gradient search (NBL upper - {w:g} NL3), {a.search} starts x {a.steps} steps: "
              f"{res.seconds:.1f} s; best per step:")
        print(np.array2string(res.trace.best, precision=4))
        cons = discover.Constraints(brgp_max=1.0, tripartite_local=True)  # what a Fig. 3b discovery needs
        for i in range(min(a.certify, len(res.values))):
            top = res.strategy(i).behaviour(np.float64)
            t0 = time.perf_counter()
            r = certify.nonbilocality(top, time_limit=60.0, validate=False)
            r3 = certify.tripartite_nonlocality(top, validate=False)
            brgp = float(bellcore.brgp_value(top))
            tri = r3.upper if r3.status in certify.SOLVED else float("nan")
            found = discover.is_discovery(r, cons, bilocal=True, brgp=brgp, tripartite_nl=tri)
            print(f"candidate {i}: objective {res.values[i]:.4f}; NBL in [{r.lower:.4f}, {r.upper:.4f}] ({r.status}, "
                  f"{time.perf_counter() - t0:.1f} s); NL3 {r3.value:.4f}; BRGP {brgp:.3f}; discovery: {found}")
        print(f"load average: {os.getloadavg()}")

if __name__ == "__main__":
    main()
