"""Prediction time per behaviour of trained surrogates, for one batch of 100,000 behaviours (jitted, after warm-up).

    nice -n 10 python benchmarks/surrogate_speed.py out/repro/model_m2.h5 out/repro/model_m5.h5 ...

Each model is called on a batch of uniform-NS behaviours of its scenario (chsh-correlators for a classifier) in
one jitted call: behaviour -> features -> all members -> blend and spread. Prints the median of 5 timed calls
(``block_until_ready``) divided by the batch size. Paper: ~1e-4 s per point; target here: <= 1e-6 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import bellcore as bc
import runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--batch", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    print(f"JAX backend: {jax.default_backend()}, devices: {jax.devices()}, CPUs: {os.cpu_count()}")
    print("load average (1, 5, 15 min) at start: " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
    print(f"| model | scenario | features | members | s per behaviour (batch {args.batch:,}) | behaviours/s | load (1 min) |")
    print("|---|---|---|---|---|---|---|")
    call = eqx.filter_jit(lambda s, p: s(p).mean)
    for path in args.models:
        sur = runs.load_model(path)
        rng = np.random.default_rng(0)
        if sur.target == "class":
            p = bc.sample("chsh-correlators", sur.scenario, args.batch, rng).numpy()
        elif sur.feature_set in ("ij", "abc"):
            p = bc.sample(f"features-{sur.feature_set}", sur.scenario, args.batch, rng).numpy()
        else:
            p = bc.sample("uniform-ns", sur.scenario, args.batch, rng).numpy()
        p = jnp.asarray(p, sur.ensemble.x_mean.dtype)
        call(sur, p).block_until_ready()  # compile
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            call(sur, p).block_until_ready()
            times.append(time.perf_counter() - t)
        per = statistics.median(times) / args.batch
        print(f"| {path} | {sur.scenario} | {sur.feature_set} | {sur.ensemble.n_members} | {per:.2e} | {1 / per:,.0f} |"
              f" {os.getloadavg()[0]:.2f} |")


if __name__ == "__main__":
    main()
