"""One point of the margins-classifier sweep of docs/surrogates.md ("Table II at >= 99.9 %").

    nice -n 10 python benchmarks/margins_sweep.py --train out/chsh_bal_train.h5 --test out/repro/chsh_test.h5 \\
        --lr-scale 300 --epochs 200

Trains margins members only (``surrogates.fit_surrogate``, correlators-asin features, 10 % validation, no weight decay)
on a chsh-correlators dataset and scores the GA blend, every member and their plain average on a labelled test set
(``surrogates.evaluate_classification``). Prints one JSON line: settings, training seconds, kept epochs, test
accuracy, per class, on the 10 % of test points nearest a class boundary. The sweep's rows with a fixed logit scale
were run before ``Margins.log_scale`` existed (commit fac7dee); this script reproduces the learned-scale rows.
"""

from __future__ import annotations

import argparse
import json
import time

import h5py
import numpy as np

from bellcore import BellScenario
from surrogates import GroupSpec, TrainConfig, evaluate_classification, fit_surrogate


def _load(path: str, n: int | None = None):
    with h5py.File(path, "r") as f:
        return f["behaviours"][:n], f["labels/class"][:n].astype(np.int64)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", required=True, help="chsh-correlators dataset run file (training + validation)")
    ap.add_argument("--test", required=True, help="chsh-correlators dataset run file never seen in training")
    ap.add_argument("--rows", type=int, default=None, help="use the first N training rows only")
    ap.add_argument("--members", type=int, default=2)
    ap.add_argument("--pieces", type=int, default=16)
    ap.add_argument("--lr-scale", type=float, default=300.0)
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    bt, yt = _load(a.train, a.rows)
    bs, ys = _load(a.test)
    cfg = TrainConfig(groups=(GroupSpec("margins", a.members, pieces=a.pieces, lr_scale=a.lr_scale),), epochs=a.epochs,
                      patience=a.epochs, batch_size=a.batch, learning_rate=3e-3, weight_decay=0.0, blend_budget=100,
                      seed=a.seed)
    t = time.perf_counter()
    res = fit_surrogate(bt, yt, BellScenario.binary(2), feature_set="correlators-asin", target="class", config=cfg)
    seconds = time.perf_counter() - t
    rep = evaluate_classification(res.surrogate, bs, ys)
    print(json.dumps(dict(
        settings=vars(a), train_s=round(seconds, 1), kept_epochs=next(iter(res.curves.best_epoch.values())).tolist(),
        blend=res.blend.method, accuracy=rep.accuracy, per_class=rep.per_class.tolist(),
        nearest_10pct=rep.boundary_accuracy, members=rep.member_accuracy.tolist(), average=rep.average_accuracy,
    )))


if __name__ == "__main__":
    main()
