"""Network intervals: the docs/networks.md table, the white-noise curves and the bilocal comparison.

    PYTHONPATH=. python benchmarks/networks.py table          # GHZ / W / local triangle, 4-outcome triangle
    PYTHONPATH=. python benchmarks/networks.py bilocal        # network path vs certify.nonbilocality (Werner, random)
    PYTHONPATH=. python benchmarks/networks.py werner         # Werner/BRGP threshold of bilocal fanout(2,2) vs NBL
    PYTHONPATH=. python benchmarks/networks.py noise --png docs/networks-noise.png

Prints markdown tables (seconds are wall time on this machine; report ``uptime`` beside them).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

import bellcore
import certify
from bellcore import Behaviour, ghz_triangle, triangle, w_triangle
from certify import NetworkModel
from certify import network_nonlocality


def _random_model(sc, k, seed):
    rng = np.random.default_rng(seed)
    w = tuple(rng.dirichlet(np.ones(k)) for _ in range(sc.n_sources))
    r = tuple(rng.integers(0, sc.outcomes[j], size=(sc.settings[j],) + (k,) * len(sc.party_sources(j))) for j in range(sc.n_parties))
    return NetworkModel(sc, w, r)


def ghz(d: int, v: float = 1.0) -> Behaviour:
    """a = b = c uniformly over d outcomes, mixed with white noise."""
    p = np.zeros((d, d, d, 1, 1, 1))
    for a in range(d):
        p[a, a, a] = 1 / d
    return Behaviour(v * p + (1 - v) / d**3, triangle(d))


def _row(name, r, t):
    return f"| {name} | [{r.lower:.6f}, {r.upper:.6f}] | {r.inflation or '-'} | {r.status} | {t:.1f} |"


def table() -> None:
    cases = [
        ("GHZ (binary)", ghz_triangle(), None),
        ("W (binary)", w_triangle(), None),
        ("triangle-local, random sources (k=3)", _random_model(triangle(), 3, 7).behaviour(), None),
        ("GHZ, 4 outcomes", ghz(4), None),
        ("GHZ, 4 outcomes, v = 0.5", ghz(4, 0.5), None),
        ("triangle-local, 4 outcomes (k=3)", _random_model(triangle(4), 3, 8).behaviour(), None),
    ]
    print("| behaviour | interval | inflation | status | seconds |\n|---|---|---|---|---|")
    for name, beh, infl in cases:
        t0 = time.perf_counter()
        r = network_nonlocality(beh, inflations=infl)
        t = time.perf_counter() - t0
        print(_row(name, r, t), flush=True)
        tried = ", ".join(f"{tuple(d['copies'])}: {d['lower']:.4f} ({d['seconds']:.1f} s, {d['columns']} cols)" for d in r.inflations)
        print(f"|  | tried: {tried} | | | |", flush=True)


def bilocal() -> None:
    pts = [(f"Werner v={v}", bellcore.bilocal_werner(v)) for v in (0.6, 0.7, 0.75, 0.8, 0.9, 1.0)]
    for i in range(3):
        m = _random_model(bellcore.bilocal_network(), 2, 10 + i).probabilities()
        pts.append((f"random mix {i}", Behaviour(0.5 * bellcore.bilocal_werner(1.0).numpy() + 0.5 * m, bellcore.BilocalScenario("binary"))))
    print("| point | NBL interval (branch and bound) | s | network interval | inflation | s | overlap |\n|---|---|---|---|---|---|---|")
    for name, beh in pts:
        t0 = time.perf_counter()
        a = certify.nonbilocality(beh, tol=1e-5, time_limit=60)
        t1 = time.perf_counter()
        b = network_nonlocality(beh)
        t2 = time.perf_counter()
        ok = b.lower <= a.upper + 1e-9 and a.lower <= b.upper + 1e-9
        print(f"| {name} | [{a.lower:.6f}, {a.upper:.6f}] | {t1 - t0:.1f} | [{b.lower:.6f}, {b.upper:.6f}] | {b.inflation or '-'} | {t2 - t1:.1f} | {'yes' if ok else 'NO'} |", flush=True)


def werner() -> None:
    """The binary bilocal Werner/BRGP family: the fanout(2,2) interval against NBL = (sqrt2 v - 1)/4 (certified by
    the branch and bound, docs/golden.md), then the visibility where the fanout(2,2) lower bound becomes > 0
    (bisection on v; at each v one inflation LP pair at D0 = 1e-6: the bound min(D0, f(D0)) is valid for every
    D0, and it is > 0 exactly when f(D0) > 0)."""
    from certify._inflation import inflation_bound

    sc = bellcore.bilocal_network("binary")
    print("| v | NBL = (√2 v − 1)/4 | network interval, fanout(2,2) | NBL - lower | lower / NBL | LP columns x rows | LPs | s |")
    print("|---|---|---|---|---|---|---|---|")
    for v in (0.70, 2**-0.5, 0.72, 0.75, 0.80, 0.85, 0.90, 0.95, 1.00):
        t0 = time.perf_counter()
        r = network_nonlocality(bellcore.bilocal_werner(v), inflations=[(2, 2)], time_limit=120)
        t = time.perf_counter() - t0
        nbl = max(0.0, (2**0.5 * v - 1) / 4)  # exactly 0 at v = 1/sqrt2 (float: ~1e-17)
        d = r.inflations[0] if r.inflations else {"columns": 0, "rows": 0, "lps": 0}
        ratio = f"{r.lower / nbl:.3f}" if nbl > 1e-12 else "-"
        print(f"| {v:.4f} | {nbl:.6f} | [{r.lower:.6f}, {r.upper:.6f}] | {nbl - r.lower:.6f} | {ratio} | {d['columns']} x {d['rows']} | {d['lps']} | {t:.1f} |", flush=True)
    lo, hi = 2**-0.5, 0.80
    t0 = time.perf_counter()
    for _ in range(12):
        mid = (lo + hi) / 2
        out = inflation_bound(sc, bellcore.bilocal_werner(mid).numpy().ravel(), (2, 2), 1e-6, iterations=0)
        if out.lower > certify.ZERO_TOL:
            hi = mid
        else:
            lo = mid
    print(f"fanout(2,2) lower bound > {certify.ZERO_TOL:g} from v = {hi:.5f} (zero at {lo:.5f}); 1/sqrt2 = {2**-0.5:.5f}"
          f" ({time.perf_counter() - t0:.1f} s)", flush=True)


def noise(png: str | None, out: str | None) -> None:
    vs = np.round(np.linspace(0.3, 1.0, 15), 4)
    curves = {}
    for name, make, infl in (("GHZ", ghz_triangle, [(1, 1, 2), (1, 2, 2), (2, 2, 2)]), ("W", w_triangle, [(2, 2, 2)])):
        rows = []
        for v in vs:
            t0 = time.perf_counter()
            r = network_nonlocality(make(float(v)), inflations=infl)
            rows.append({"v": float(v), "lower": r.lower, "upper": r.upper, "inflation": r.inflation, "seconds": time.perf_counter() - t0})
            print(name, rows[-1], flush=True)
        # visibility where the lower bound reaches 0: bisection between the last zero and the first positive v
        pos = [x["v"] for x in rows if x["lower"] > certify.ZERO_TOL]
        zero = [x["v"] for x in rows if x["lower"] <= certify.ZERO_TOL and (not pos or x["v"] < min(pos))]
        v_star = None
        if pos and zero:
            lo, hi = max(zero), min(pos)
            for _ in range(10):
                mid = (lo + hi) / 2
                r = network_nonlocality(make(mid), inflations=infl)
                if r.lower > certify.ZERO_TOL:
                    hi = mid
                else:
                    lo = mid
            v_star = (lo, hi)
        curves[name] = {"rows": rows, "lower_zero_between": v_star}
        print(name, "lower bound > 0 for v >=", v_star, flush=True)
    if out:
        with open(out, "w") as f:
            json.dump(curves, f, indent=1)
    if png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for ax, (name, c) in zip(axes, curves.items()):
            v = [x["v"] for x in c["rows"]]
            ax.fill_between(v, [x["lower"] for x in c["rows"]], [x["upper"] for x in c["rows"]], alpha=0.3, label="certified interval")
            ax.plot(v, [x["upper"] for x in c["rows"]], "o-", ms=3, label="upper (network-local model)")
            ax.plot(v, [x["lower"] for x in c["rows"]], "s-", ms=3, label="lower (fanout inflation)")
            if c["lower_zero_between"]:
                ax.axvline(c["lower_zero_between"][1], color="k", ls=":", lw=1, label=f"lower > 0 from v = {c['lower_zero_between'][1]:.3f}")
            ax.set_title(f"{name}-type triangle distribution + white noise")
            ax.set_xlabel("visibility v")
            ax.set_ylabel("distance to the triangle-local set")
            ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(png, dpi=120)
        print("wrote", png)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["table", "bilocal", "werner", "noise"])
    ap.add_argument("--png")
    ap.add_argument("--out")
    a = ap.parse_args()
    print(f"# load average: {os.getloadavg()}")
    {"table": table, "bilocal": bilocal, "werner": werner}.get(a.what, lambda: noise(a.png, a.out))()
