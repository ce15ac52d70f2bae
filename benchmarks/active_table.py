"""Round-by-round table of an active-learning discovery run (docs/discover.md).

    python benchmarks/active_table.py RUN.h5 [RUN2.h5 ...] --dataset swap.h5

Per round: training rows, the surrogate's mean |error| on its certified candidates (status optimal), the same for
the constant predictor at the median of that round's training targets (base dataset + rows added before the
round; recomputed here so that runs written by any version compare alike), the largest certified NBL lower bound
among the round's candidates (any constraint) and among its discoveries, and the round's wall time.
"""

from __future__ import annotations

import argparse
import math

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--dataset", required=True, help="the base training data ([active] / [model] dataset)")
    args = ap.parse_args()

    import runs
    from runs import read_dataset
    from surrogates import training_data

    spec, data, _ = read_dataset(args.dataset)
    _, y0, _ = training_data(spec, data, "nbl")
    print("| run | round | training rows | MAE on certified candidates | constant median | best NBL lower (any) "
          "| best discovery NBL lower | discoveries | round s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for path in args.runs:
        r = runs.read_discovery(path)
        a, c = r["active"], r["candidates"]
        for k in range(len(a["round"])):
            rows = np.array([f"@round={k}" in str(n) for n in c["searcher"]])
            opt = rows & (c["nbl_status"] == "optimal")
            target = 0.5 * (c["nbl_lower"][opt] + c["nbl_upper"][opt])
            ytr = np.concatenate([y0, a["y"][a["y_round"] < k]]) if len(a.get("y", [])) else y0
            const = float(np.abs(np.median(ytr) - target).mean()) if opt.any() else math.nan
            disc = rows & c["discovery"]
            best_any = float(np.nanmax(c["nbl_lower"][rows])) if rows.any() else math.nan
            best = f"{c['nbl_lower'][disc].max():.4f}" if disc.any() else "-"
            print(f"| {path.split('/')[-1]} | {k} | {a['n_train'][k]} | {a['mae'][k]:.4f} | {const:.4f} | "
                  f"{best_any:.4f} | {best} | {a['discoveries'][k]} | {a['seconds'][k]:.0f} |")


if __name__ == "__main__":
    main()
