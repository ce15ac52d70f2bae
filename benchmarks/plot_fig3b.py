"""Fig. 3b, sharpened: plot and tabulate the certified discoveries of a fig3b discovery run (docs/discover.md).

    python benchmarks/plot_fig3b.py RUN.h5 --out docs/fig3b.png

Left: every certified candidate, BRGP quantity sqrt|I| + sqrt|J| against its certified NBL lower bound; filled
markers are discoveries (BRGP <= 1, tripartite NL = 0, NBL lower > 0), hollow ones fail a constraint (crosses:
tripartite NL > 0). Right: per theta, the largest certified NBL lower bound among discoveries, per searcher.
Prints a markdown table of the best discovery per theta.
"""

from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    import runs

    run = runs.read_discovery(args.run)
    c = run["candidates"]
    disc = c["discovery"].astype(bool)
    theta = c["theta"]
    searcher = np.array([s.split("@")[0] for s in c["searcher"]])
    thetas = sorted(set(np.round(theta, 6)))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    cmap = plt.get_cmap("viridis")
    for k, t in enumerate(thetas):
        col = cmap(k / max(len(thetas) - 1, 1))
        at = np.isclose(theta, t)
        nl3 = c["tripartite_nl"] > 1e-9
        ax1.scatter(c["brgp"][at & disc], c["nbl_lower"][at & disc], color=col, label=f"θ = {t:g}", zorder=3)
        ax1.scatter(c["brgp"][at & ~disc & ~nl3], c["nbl_lower"][at & ~disc & ~nl3], facecolors="none",
                    edgecolors=col, zorder=2)
        ax1.scatter(c["brgp"][at & nl3], c["nbl_lower"][at & nl3], marker="x", color=col, zorder=2)
    ax1.axvline(1.0, color="grey", ls="--", lw=1)
    ax1.set_xlabel("BRGP  √|I| + √|J|")
    ax1.set_ylabel("certified NBL lower bound")
    ax1.set_title("certified candidates (filled: discoveries; x: tripartite NL > 0)")
    ax1.legend(fontsize=8)
    for name in sorted(set(searcher)):
        ys = []
        for t in thetas:
            m = np.isclose(theta, t) & disc & (searcher == name)
            ys.append(c["nbl_lower"][m].max() if m.any() else np.nan)
        ax2.plot(thetas, ys, "o-", label=name)
    ax2.set_xlabel("source angle θ  (cos θ|00⟩ + sin θ|11⟩)")
    ax2.set_ylabel("best certified NBL lower bound (discoveries)")
    ax2.set_title("best certified discovery per θ")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(run["summary"]["headline"])
    print("| θ | discoveries / certified | best NBL lower | its NBL upper | BRGP | tripartite NL | searcher |")
    print("|---|---|---|---|---|---|---|")
    for t in thetas:
        at = np.isclose(theta, t)
        m = at & disc
        if m.any():
            i = np.flatnonzero(m)[np.argmax(c["nbl_lower"][m])]
            print(f"| {t:g} | {int(m.sum())} / {int(at.sum())} | {c['nbl_lower'][i]:.4f} | {c['nbl_upper'][i]:.4f} | "
                  f"{c['brgp'][i]:.3f} | {c['tripartite_nl'][i]:.1e} | {searcher[i]} |")
        else:
            print(f"| {t:g} | 0 / {int(at.sum())} | - | - | - | - | - |")


if __name__ == "__main__":
    main()
