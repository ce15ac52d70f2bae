"""Dataset throughput: labelled points per second, 1 vs 2 workers, and the statistics of uniform-NS datasets.

    .venv/bin/python benchmarks/dataset_speed.py speed   # m = 2..5, 1 and 2 workers; sampler cost; bilocal NBL
    .venv/bin/python benchmarks/dataset_speed.py stats   # 20,000-point uniform-ns datasets per m (local fraction, NL)

"speed" reports, per configuration, the end-to-end rate (process start-up included) and the steady-state rate
(between the first and the last chunk written; start-up excluded). Target: 2 workers >= 1.8x one worker.
Options: --ms 2,3,4,5  --scale 1.0 (multiplies the point counts)  --repeats 2  --out DIR (keep the files there)
         stats: --n 20000 --workers 2
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import bellcore as bc
from bellcore import sample
from runs import read_dataset, run_dataset
from runs.jobs._dataset_run import _single_threaded  # the same BLAS limit as the workers (what is measured)
from surrogates import DatasetSpec, chunk_rng

SPEED_N = {2: 16000, 3: 12000, 4: 6000, 5: 4000}


def _cpu() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def _timed_run(spec: DatasetSpec, path: Path, workers: int) -> tuple[float, float, float]:
    """(end-to-end rate, steady rate, cores used on average = CPU seconds of this process and its workers / wall)."""
    marks: list[tuple[float, int]] = []
    c0, t0 = _cpu(), time.perf_counter()
    run_dataset(spec, path, workers=workers, progress=lambda d, t, info: marks.append((time.perf_counter(), d)))
    wall = time.perf_counter() - t0
    cores = (_cpu() - c0) / wall  # pool workers are reaped when the run ends, so RUSAGE_CHILDREN holds them
    marks = [m for m in marks if m[1] > 0]
    (ta, ra), (tb, rb) = marks[0], marks[-1]
    steady = (rb - ra) / (tb - ta) if tb > ta else float("nan")
    return spec.n / wall, steady, cores


def speed(ms: list[int], scale: float, outdir: Path, repeats: int) -> None:
    print(f"# dataset speed: {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"uniform-ns + certified NL labels, chunks of <= 500 points; 1w and 2w runs alternate, {repeats} of each")
    print("# rates in labelled points/s: e2e = end to end (worker start-up included), steady = first to last chunk;")
    print("# best and median over the repeats; load = 1-minute load average before the m's runs (other users count);")
    print("# cores = CPU seconds of the run (main process + workers) / wall seconds: < 2 for 2w means the CPUs were shared")
    print(f"{'m':>2} {'n':>6} {'sampler ms/pt':>13} {'label ms/pt':>11} {'1w e2e':>8} {'2w e2e':>8} {'1w steady':>9} "
          f"{'2w steady':>9} {'e2e 2w/1w':>9} {'steady 2w/1w':>12} {'median steady 2w/1w':>19} {'load':>5} {'1w cores':>8} {'2w cores':>8}")
    from surrogates import make_chunk

    for m in ms:
        n = max(64, int(SPEED_N.get(m, 4000) * scale))
        chunk = max(1, min(500, n // 8))
        spec = DatasetSpec.create("bell", bc.BellScenario.binary(m), "uniform-ns", n, 1, chunk_size=chunk)
        # sampler cost alone (one chunk), and labelling cost (one chunk through make_chunk minus sampling)
        with _single_threaded():  # as in the workers
            t = time.perf_counter()
            sample("uniform-ns", spec.scenario, chunk, chunk_rng(1, 0), **spec.params)
            t_sample = (time.perf_counter() - t) / chunk
            t = time.perf_counter()
            make_chunk(spec, 0)
            t_label = (time.perf_counter() - t) / chunk - t_sample
        load = os.getloadavg()[0]
        runs = {1: [], 2: []}
        for rep in range(repeats):
            for w in (1, 2):
                path = outdir / f"speed_m{m}_w{w}_r{rep}.h5"
                runs[w].append(_timed_run(spec, path, w))
                path.unlink()
        e1, s1 = max(r[0] for r in runs[1]), max(r[1] for r in runs[1])
        e2, s2 = max(r[0] for r in runs[2]), max(r[1] for r in runs[2])
        med = float(np.median([b[1] / a[1] for a, b in zip(runs[1], runs[2])]))
        c1, c2 = max(r[2] for r in runs[1]), max(r[2] for r in runs[2])
        print(f"{m:>2} {n:>6} {t_sample * 1e3:>13.3f} {t_label * 1e3:>11.3f} {e1:>8.1f} {e2:>8.1f} {s1:>9.1f} {s2:>9.1f} "
              f"{e2 / e1:>9.2f} {s2 / s1:>12.2f} {med:>19.2f} {load:>5.2f} {c1:>8.2f} {c2:>8.2f}", flush=True)
    _bilocal(outdir, scale, repeats)


def _bilocal(outdir: Path, scale: float, repeats: int) -> None:
    print("# bilocal NBL labels (tol 1e-4, max 2000 nodes per point); steady rates in labelled points/s, best of the repeats")
    for variant, sampler in (("binary", "features-ij"), ("bsm", "features-ij"), ("binary", "uniform-ns")):
        n = max(8, int(24 * scale))
        spec = DatasetSpec.create("bilocal", bc.BilocalScenario(variant), sampler, n, 1, chunk_size=max(1, n // 8))
        r = {1: [], 2: []}
        for rep in range(repeats):
            for w in (1, 2):
                path = outdir / f"nbl_{variant}_{sampler}_w{w}_r{rep}.h5"
                r[w].append(_timed_run(spec, path, w)[1])
        _, data, _ = read_dataset(outdir / f"nbl_{variant}_{sampler}_w1_r0.h5")
        gap = np.nanmax(data["nbl_upper"] - data["nbl_lower"])
        st = np.bincount(data["nbl_status"], minlength=5)
        r1, r2 = max(r[1]), max(r[2])
        print(f"# bilocal {variant:6} {sampler:11} n={n}: 1w {r1:.3f} pts/s ({1 / r1:.2f} s/pt), 2w {r2:.3f} pts/s, "
              f"2w/1w {r2 / r1:.2f}; NBL upper median {np.nanmedian(data['nbl_upper']):.4f}, max gap {gap:.2e}; "
              f"status (optimal, inaccurate, limit, infeasible, error) {st.tolist()}", flush=True)


def stats(ms: list[int], n: int, workers: int, outdir: Path) -> None:
    print(f"# uniform-ns datasets, n={n} per m, seed 2019, {workers} workers")
    print(f"{'m':>2} {'local frac':>10} {'± se':>7} {'NL q05':>9} {'q25':>9} {'median':>9} {'q75':>9} {'q95':>9} {'max':>9} {'mean':>9} {'wall s':>7}")
    for m in ms:
        spec = DatasetSpec.create("bell", bc.BellScenario.binary(m), "uniform-ns", n, 2019, chunk_size=500)
        path = outdir / f"uniform_ns_m{m}_n{n}.h5"
        t = time.perf_counter()
        run_dataset(spec, path, workers=workers, resume=path.exists())
        wall = time.perf_counter() - t
        _, d, _ = read_dataset(path)
        ok = d["nl_status"] == 0
        nl = d["nl"][ok]
        f = 1 - d["nonlocal"][ok].mean()
        q = np.quantile(nl, [0.05, 0.25, 0.5, 0.75, 0.95])
        print(f"{m:>2} {f:>10.4f} {np.sqrt(f * (1 - f) / ok.sum()):>7.4f} " + " ".join(f"{x:>9.5f}" for x in q)
              + f" {nl.max():>9.5f} {nl.mean():>9.5f} {wall:>7.1f}   (not optimal: {(~ok).sum()})", flush=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["speed", "stats"])
    ap.add_argument("--ms", default="2,3,4,5")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args(argv)
    ms = [] if a.ms == "none" else [int(x) for x in a.ms.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        outdir = a.out or Path(tmp)
        outdir.mkdir(parents=True, exist_ok=True)
        if a.mode == "speed":
            if a.out:
                for p in outdir.glob("speed_*.h5"):
                    p.unlink()
                for p in outdir.glob("nbl_*.h5"):
                    p.unlink()
            if a.ms != "none":
                speed(ms, a.scale, outdir, a.repeats)
            else:
                _bilocal(outdir, a.scale, a.repeats)
        else:
            stats(ms, a.n, a.workers, outdir)


if __name__ == "__main__":
    sys.exit(main())
