"""What a dual-vertex member contributes to an NL model, and what pruning its pieces costs in error and buys in time.

    nice -n 10 python benchmarks/dual_members.py MODEL.h5 TEST.h5 [--caps 500 2000 8000] [--batch 100000]

MODEL: an NL model with a ``dual`` group (``bellscope train ... --preset dual``); TEST: a labelled dataset of its
scenario the model never saw. Prints the test mean |error| (x1e-3) of: the dual member alone (a certified lower
bound), the best other member alone, the blend of the other members (the model's weights, renormalised),
``max(dual, that blend)`` (what the model answers when it blends the others), and the model as saved; then, for each
cap, the dual member pruned to the ``cap`` pieces that are the maximum at the most training rows (the model's own
training dataset, first ``max_rows`` rows as in training) with its error and its prediction time per behaviour at
``--batch`` (one jitted call: behaviour -> features -> dual member, float32; median of 5).
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
import surrogates as S
from surrogates import training_data
from surrogates import TrainConfig
from surrogates import split_indices


def _time(fn, x, repeats=5) -> float:
    fn(x).block_until_ready()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn(x).block_until_ready()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("test")
    ap.add_argument("--caps", type=int, nargs="*", default=[500, 2000, 8000])
    ap.add_argument("--batch", type=int, default=100_000)
    args = ap.parse_args()
    mf = runs.read_model(args.model)
    sur = mf.surrogate
    ens = sur.ensemble
    if not ens.dual_members:
        raise SystemExit(f"{args.model} has no dual-vertex member (train it with --preset dual)")
    spec, te, _ = runs.read_dataset(args.test)
    beh_t, y_t, _ = training_data(spec, te, "nl")
    mean, _, mem = S.predict_batched(sur, beh_t)
    dual = list(ens.dual_members)
    others = [k for k in range(ens.n_members) if k not in dual]
    d = mem[dual].max(axis=0)
    w = np.asarray(sur.weights, np.float64)[others]
    blend_o = np.tensordot(w / w.sum(), mem[others], axes=1) if w.sum() > 0 else mem[others].mean(axis=0)
    mae = lambda v: float(np.abs(v - y_t).mean()) * 1e3  # noqa: E731
    print(f"model {args.model}: {ens.n_members} members, dual pieces {[ens.specs[g].pieces for g in range(len(ens.specs)) if ens.specs[g].kind == 'dual']}")
    print(f"test {args.test}: {len(y_t)} rows; load average {os.getloadavg()[0]:.2f}; backend {jax.default_backend()}")
    print("| predictor | test mean abs error (x1e-3) |\n|---|---|")
    print(f"| dual member alone (certified lower bound) | {mae(d):.4f} |")
    print(f"| best other member alone | {min(mae(mem[k]) for k in others):.4f} |")
    print(f"| blend of the other members | {mae(blend_o):.4f} |")
    print(f"| max(dual, blend of the others) | {mae(np.maximum(d, blend_o)):.4f} |")
    print(f"| the model as saved ({mf.hyperparameters['blend']['method']}) | {mae(mean):.4f} |")
    print(f"| trivial (median training label) | {mae(np.full_like(y_t, mf.train_median)):.4f} |")
    if not args.caps:
        return
    # the dual pieces in raw-feature units, and the training rows the model counted them on
    g = next(i for i, s in enumerate(ens.specs) if s.kind == "dual")
    W, c = S.dual_group_pieces(ens.groups[g], ens.x_mean, ens.x_std, ens.y_scale)
    data_spec, tr, _ = runs.read_dataset(mf.hyperparameters["data"]["dataset"])
    beh, y, _ = training_data(data_spec, tr, "nl")
    rows = mf.hyperparameters["data"].get("max_rows")
    beh = beh[:rows] if rows else beh
    cfg = TrainConfig.from_json(mf.hyperparameters["train_config"])
    train_idx, _ = split_indices(len(beh), 0.1, cfg.seed)
    x_tr = np.asarray(S.features(jnp.asarray(beh[train_idx], jnp.float32), sur.scenario, sur.feature_set), np.float64)
    rng = np.random.default_rng(0)
    p = jnp.asarray(bc.sample("uniform-ns", sur.scenario, args.batch, rng).numpy(), jnp.float32)
    x_te = np.asarray(S.features(jnp.asarray(beh_t, jnp.float32), sur.scenario, sur.feature_set), np.float64)
    print(f"\n| dual pieces kept | test mean abs error of the dual member (x1e-3) | s per behaviour (batch {args.batch:,}) |\n|---|---|---|")
    for cap in sorted(set(args.caps + [len(c)])):
        keep = S.prune_pieces(W, c, x_tr, cap)
        grp = S.dual_group(W[keep], c[keep], ens.x_mean, ens.x_std, ens.y_scale)
        Wk, ck = W[keep], c[keep]
        err = mae(np.maximum(0.0, (x_te @ Wk.T + ck).max(axis=1)))
        sub = S.Ensemble((grp,), ens.x_mean, ens.x_std, ens.y_scale, (S.GroupSpec("dual", 1, pieces=len(keep)),), "regression")
        one = S.Surrogate(sub, jnp.ones(1, jnp.float32), sur.feature_set, sur.scenario, "nl")
        per = _time(eqx.filter_jit(lambda q: one(q).mean), p) / args.batch
        print(f"| {len(keep)} | {err:.4f} | {per:.2e} |")


if __name__ == "__main__":
    main()
