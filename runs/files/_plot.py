"""``runs plot``: the figure that fits a run's kind, drawn with matplotlib (Agg, no display needed).

- dataset, Bell scenario: histogram of certified NL values and the local fraction;
- dataset, bilocal: certified NBL intervals [lower, upper] per point (sorted) and the histogram of lower bounds;
- dataset, CHSH correlators: class counts and the CHSH value per class;
- model: training curves (train/val loss, val MAE) and predicted vs exact on the validation split;
- discovery: search traces (best value so far per searcher) and the paper's Fig. 3b picture: the certified NBL
  lower bound vs the source angle θ, discoveries (nonbilocal while BRGP is not violated) marked, BRGP value
  √|I| + √|J| on a second axis with its bilocal bound 1.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import h5py
import numpy as np

from runs.files import _layout as L
from runs.files._browse import enum_names
from runs.files._readonly import dataset_at, open_readonly, read_rows
from runs.files._untrusted import shown

__all__ = ["plot_run", "default_plot_path", "check_plot_path"]


def default_plot_path(run: str | os.PathLike) -> Path:
    """``RUN.png`` next to the run file."""
    return Path(run).with_suffix(".png")


def check_plot_path(out: Path) -> Path:
    """Refuse a PNG path that cannot be written, before anything is read or drawn: it exists (never overwritten),
    names a folder, or its folder does not exist."""
    if out.is_dir():
        raise ValueError(f"{shown(str(out))} is a folder; --out names the PNG to write, e.g. {shown(str(out / 'plot.png'))}")
    if out.exists() or out.is_symlink():
        raise FileExistsError(f"{shown(str(out))} exists (bellscope never overwrites; choose another --out)")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(f"folder {shown(str(parent))} does not exist; create it first (bellscope does not create folders)")
    return out


def _figure(ncols: int):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if ncols <= 2:
        fig, axes = plt.subplots(1, ncols, figsize=(6.0 * ncols, 4.4), constrained_layout=True)
        return fig, np.atleast_1d(axes)
    # three or four panels: two rows of two (a row of four is too wide to read)
    fig, axes = plt.subplots(2, 2, figsize=(12.0, 8.8), constrained_layout=True)
    axes = axes.ravel()
    for ax in axes[ncols:]:
        ax.axis("off")
    return fig, axes[:ncols]


def _rows(f: h5py.File, path: str) -> np.ndarray:
    """The committed rows at ``path`` (checked: hard-linked, sized, numeric); ``KeyError`` when absent."""
    where = shown(f.filename)
    ds = dataset_at(f, path, where)
    if ds is None:
        raise KeyError(path)
    return read_rows(f, ds, where)


def _status_ok(f: h5py.File, path: str) -> np.ndarray:
    """Rows whose status is in ``certify.SOLVED`` (a usable value), read from the HDF5 enum's names."""
    import certify

    codes = _rows(f, path).astype(np.int64)
    names = enum_names(f[path].dtype) or {i: s.value for i, s in enumerate(certify.Status)}
    solved = {s.value for s in certify.SOLVED}
    return np.isin(codes, [c for c, n in names.items() if n in solved])


def plot_run(run: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Draw the plot of ``run`` into ``out`` (default ``RUN.png``); returns the PNG's path.

    Raises ``ValueError`` (one line) for a foreign file, a kind without a plot, or a run without data yet;
    ``FileExistsError`` if ``out`` exists (never overwritten).
    """
    out = check_plot_path(Path(out) if out is not None else default_plot_path(run))
    with open_readonly(run) as (f, _):
        kind = shown(f.attrs.get(L.KIND, ""), 40)
        status = shown(f.attrs.get(L.STATUS, ""), 40)
        title = f"{shown(Path(run).stem, 80)}  ({kind}, {status})"
        draw = {L.KIND_DATASET: _plot_dataset, L.KIND_MODEL: _plot_model}.get(kind)
        if draw is None and kind in (L.KIND_DISCOVERY, L.KIND_CAMPAIGN):
            draw = lambda f, title: _plot_discovery(f, title, kind)  # noqa: E731
        if draw is None:
            raise ValueError(f"{shown(str(run))}: no plot for a {kind or 'foreign'} file")
        try:
            fig = draw(f, title)
        except ValueError:
            raise
        except (KeyError, IndexError, TypeError, AttributeError, OSError, RuntimeError, MemoryError) as e:
            # The layout promised by the kind is not there (a member deleted, wrong shapes or types): one line.
            reason = shown(str(e).splitlines()[0] if str(e) else type(e).__name__, 120)
            raise ValueError(f"{shown(str(run))}: damaged {kind} file, cannot plot it ({reason})") from None
    fig.savefig(out, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return out


# ---------------------------------------------------------------------------------------------------- dataset
def _plot_dataset(f: h5py.File, title: str):
    labels = f.get(L.LABELS)
    if labels is None or f.attrs.get(L.ROWS_COMPLETE, 0) == 0:
        raise ValueError("the dataset has no complete rows yet: nothing to plot")
    if "nl" in labels:
        return _plot_nl(f, title)
    if "nbl_lower" in labels:
        return _plot_nbl(f, title)
    if "network_lower" in labels:
        return _plot_nbl(f, title, "network")
    if "class" in labels:
        return _plot_classes(f, title)
    raise ValueError(f"dataset labels {sorted(labels)} have no plot")


def _plot_nl(f, title):
    nl = _rows(f, "/labels/nl")
    ok = _status_ok(f, "/labels/nl_status")
    nonlocal_ = _rows(f, "/labels/nonlocal").astype(bool)
    vals = nl[ok & np.isfinite(nl)]
    frac_local = 1 - nonlocal_[ok].mean() if ok.any() else math.nan
    fig, (a, b) = _figure(2)
    pos = vals[vals > 1e-9]
    a.hist(pos, bins=60, color="tab:blue", alpha=0.85, label=f"nonlocal ({len(pos)})")
    a.set_xlabel("certified NL (trace distance to the local set)")
    a.set_ylabel("points")
    a.set_title(f"NL of the {len(vals)} solved points (local points at NL = 0 not binned)")
    a.legend()
    n_local, n_nonlocal, n_unc = int((ok & ~nonlocal_).sum()), int((ok & nonlocal_).sum()), int((~ok).sum())
    bars = b.bar(["local", "nonlocal", "not solved"], [n_local, n_nonlocal, n_unc], color=["tab:green", "tab:blue", "tab:gray"])
    b.bar_label(bars)
    b.set_title(f"local fraction {100 * frac_local:.1f}% (of solved points)")
    b.set_ylabel("points")
    fig.suptitle(title)
    return fig


#: What the interval plot names, per label prefix: (quantity, upper bound's witness, lower bound's, positive lower).
_INTERVAL_WORDS = {
    "nbl": ("NBL", "explicit bilocal model", "branch-and-bound", "nonbilocal"),
    "network": ("distance to the network-local set", "explicit network-local model", "inflation LP",
                "network-nonlocal"),
}


def _plot_nbl(f, title, prefix: str = "nbl"):
    """Certified intervals of a bilocal (``nbl_*``) or network (``network_*``) dataset, sorted, and the histogram of
    their lower bounds."""
    what, upper_by, lower_by, positive = _INTERVAL_WORDS[prefix]
    lo, up = _rows(f, f"/labels/{prefix}_lower"), _rows(f, f"/labels/{prefix}_upper")
    order = np.argsort(np.where(np.isfinite(up), up, np.inf))
    lo, up = lo[order], up[order]
    fig, (a, b) = _figure(2)
    i = np.arange(len(lo))
    a.vlines(i, np.nan_to_num(lo, nan=0.0), up, color="tab:blue", lw=1.2)
    a.plot(i, up, "o", mfc="none", color="tab:blue", ms=5, label=f"upper bound ({upper_by})")
    a.plot(i, lo, "_", color="tab:red", ms=9, mew=2, label=f"lower bound ({lower_by})")
    a.set_xlabel("point (sorted by upper bound)")
    a.set_ylabel(what)
    a.set_title(f"certified intervals ({len(lo)} points; max gap {np.nanmax(up - lo):.2g})")
    a.legend(loc="upper left")
    fin = lo[np.isfinite(lo)]
    b.hist(fin, bins=40, color="tab:red", alpha=0.8)
    frac = float((fin > 1e-9).mean()) if len(fin) else math.nan
    b.set_xlabel("certified lower bound")
    b.set_ylabel("points")
    b.set_title(f"certified {positive}: {100 * frac:.1f}% of points")
    fig.suptitle(title)
    return fig


def _plot_classes(f, title):
    c = _rows(f, "/labels/class").astype(int)
    names_attr = f["/labels/class"].attrs.get(L.CLASS_NAMES)
    names = json.loads(names_attr) if names_attr is not None else ["local", "quantum", "postquantum"]
    fig, (a, b) = _figure(2)
    counts = [int((c == k).sum()) for k in range(len(names))]
    colors = ["tab:green", "tab:blue", "tab:red", "tab:gray"]
    bars = a.bar(names, counts, color=colors[: len(names)])
    a.bar_label(bars)
    a.set_ylabel("points")
    a.set_title(f"class counts ({len(c)} points)")
    if "correlators" in f:
        e = _rows(f, "/correlators")
        signs = np.array([[1, 1, 1, -1], [1, 1, -1, 1], [1, -1, 1, 1], [-1, 1, 1, 1]])
        chsh = np.abs(e.reshape(len(e), 4) @ signs.T).max(axis=1)
        for k, name in enumerate(names):
            b.hist(chsh[c == k], bins=40, alpha=0.6, label=name, color=colors[k % len(colors)])
        b.axvline(2, color="k", ls="--", lw=1, label="local bound 2")
        b.axvline(2 * math.sqrt(2), color="k", ls=":", lw=1, label="Tsirelson 2√2")
        b.set_xlabel("max CHSH value")
        b.set_ylabel("points")
        b.legend()
    else:
        b.axis("off")
    fig.suptitle(title)
    return fig


# ------------------------------------------------------------------------------------------------------ model
def _plot_model(f, title):
    if L.TRAINING not in f and L.EVALUATION not in f:
        raise ValueError("the model run has no training curves or evaluation yet: nothing to plot")
    fig, (a, b) = _figure(2)
    colors = iter(["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"])
    for name, g in (f[L.TRAINING].items() if L.TRAINING in f else []):
        if not isinstance(g, h5py.Group) or L.TRAIN_STEP not in g:
            continue
        col = next(colors, "k")
        step = np.asarray(g[L.TRAIN_STEP])
        for key, style in ((L.TRAIN_LOSS, "-"), (L.VAL_LOSS, "--"), (L.VAL_MAE, ":")):
            if key in g:
                y = np.asarray(g[key], dtype=float)
                y = y.reshape(len(y), -1)
                for j in range(y.shape[1]):
                    a.plot(step, y[:, j], style, color=col, lw=1, alpha=0.8 if y.shape[1] == 1 else 0.5,
                           label=f"{name} {key}" if j == 0 else None)
    a.set_yscale("log")
    a.set_xlabel("step")
    a.set_ylabel("loss / MAE")
    a.set_title("training curves (solid train loss, dashed val loss, dotted val MAE)")
    a.legend(fontsize=7)
    if L.EVALUATION in f:
        e = f[L.EVALUATION]
        yt, yp = np.asarray(e[L.EVAL_Y_TRUE], dtype=float), np.asarray(e[L.EVAL_Y_PRED], dtype=float)
        ys = np.asarray(e[L.EVAL_Y_STD], dtype=float) if L.EVAL_Y_STD in e else None
        target = f[L.MODEL].attrs.get(L.MODEL_TARGET, "target") if L.MODEL in f else "target"
        if target == "class":
            _confusion(b, yt.astype(int), yp.astype(int))
            fig.suptitle(title)
            return fig
        b.errorbar(yt, yp, yerr=ys, fmt=".", ms=3, alpha=0.6, elinewidth=0.6, color="tab:blue")
        lo, hi = float(np.nanmin([yt.min(), yp.min()])), float(np.nanmax([yt.max(), yp.max()]))
        b.plot([lo, hi], [lo, hi], "k--", lw=1, label="exact = predicted")
        mae = float(np.nanmean(np.abs(yt - yp)))
        b.set_xlabel(f"exact {target}")
        b.set_ylabel(f"predicted {target}")
        b.set_title(f"validation: predicted vs exact ({len(yt)} points, MAE {mae:.3g})")
        b.legend()
    else:
        b.axis("off")
    fig.suptitle(title)
    return fig


def _confusion(ax, yt: np.ndarray, yp: np.ndarray) -> None:
    names = ["local", "quantum", "postquantum"]
    k = max(3, int(max(yt.max(initial=0), yp.max(initial=0))) + 1)
    m = np.zeros((k, k), int)
    np.add.at(m, (yt, yp), 1)
    ax.imshow(m, cmap="Blues")
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(m[i, j]), ha="center", va="center", color="w" if m[i, j] > m.max() / 2 else "k")
    labels = (names + [str(i) for i in range(3, k)])[:k]
    ax.set_xticks(range(k), labels)
    ax.set_yticks(range(k), labels)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("exact class")
    ax.set_title(f"validation confusion matrix: accuracy {100 * np.trace(m) / max(m.sum(), 1):.2f}% ({m.sum()} points)")


# -------------------------------------------------------------------------------------------------- discovery
def _plot_discovery(f, title, kind):
    group = L.CANDIDATES if kind == L.KIND_DISCOVERY else L.CERTIFIED
    if L.TRACES not in f and group not in f:
        raise ValueError(f"the {kind} run has no traces or candidates yet: nothing to plot")
    from runs.files._candidates import candidate_table

    table = candidate_table(f)
    learn = f[L.LEARN_ROUNDS] if L.LEARN_ROUNDS in f and "mae" in f[L.LEARN_ROUNDS] else None
    fig, axes = _figure(2 + (table is not None) + (learn is not None))
    a, b = axes[0], axes[1]
    extra = list(axes[2:])
    if table is not None:
        _plot_predicted(extra.pop(0), table)
    if learn is not None:
        _plot_learning(extra.pop(0), learn)
    if L.TRACES in f and len(f[L.TRACES]):
        for k, (name, g) in enumerate(f[L.TRACES].items()):
            x = np.asarray(g[L.TRACE_STEP])
            color = f"C{k}"
            if L.TRACE_VALUE in g:
                a.plot(x, np.asarray(g[L.TRACE_VALUE]), ".", ms=3, alpha=0.35, color=color)
            if L.TRACE_BEST in g:
                a.plot(x, np.asarray(g[L.TRACE_BEST]), "-", lw=1.5, color=color, label=f"{name} (best so far)")
        a.set_xlabel("step (objective evaluations)")
        a.set_ylabel("objective")
        a.set_title("search traces (dots: each value)")
        a.legend(fontsize=7, loc="best")
    elif kind == L.KIND_CAMPAIGN:
        _plot_stages(a, f)
    else:
        a.axis("off")
    if group in f and L.CAND_BEHAVIOUR in f[group]:
        c = f[group]

        def col(name):
            return np.asarray(c[name], dtype=float) if name in c else np.full(c[L.CAND_BEHAVIOUR].shape[0], np.nan)

        theta, lo, up, brgp = col(L.CAND_THETA), col(L.CAND_NBL_LOWER), col(L.CAND_NBL_UPPER), col(L.CAND_BRGP)
        what = "NBL"
        if "network_lower" in c:  # a network family's candidates: the distance to the network-local set
            lo, up, what = col("network_lower"), col("network_upper"), "network distance"
        disc = np.asarray(c[L.CAND_DISCOVERY], dtype=bool) if L.CAND_DISCOVERY in c else (lo > 1e-9) & ~(brgp > 1)
        x = theta if np.isfinite(theta).any() else np.arange(len(lo), dtype=float)
        xlabel = "source angle θ  (cos θ|00⟩ + sin θ|11⟩)" if np.isfinite(theta).any() else "candidate"
        cert = np.isfinite(lo)
        b.errorbar(x[cert], lo[cert], yerr=[np.zeros(cert.sum()), np.nan_to_num(up[cert] - lo[cert])], fmt="o", ms=4,
                   color="tab:blue", ecolor="tab:blue", alpha=0.7, capsize=2, label=f"certified {what} [lower, upper]")
        if disc.any():
            b.plot(x[disc], lo[disc], "*", ms=13, color="tab:red",
                   label=f"discovery ({int(disc.sum())}): {what} > 0, constraints met")
        b.axhline(0, color="k", lw=0.6)
        if not (np.nan_to_num(up, nan=0.0) > 1e-6).any():  # all bilocal: show the zero line at a readable scale
            b.set_ylim(-1e-3, 1e-2)
        b.set_xlabel(xlabel)
        b.set_ylabel(f"certified {what} lower bound")
        best = np.nanmax(lo) if cert.any() else math.nan
        b.set_title(f"certified candidates ({int(cert.sum())} of {len(lo)}); best lower bound {best:.4g}")
        if np.isfinite(brgp).any():
            t = b.twinx()
            t.plot(x, brgp, "s", ms=3, color="tab:green", alpha=0.6, label="BRGP √|I|+√|J|")
            t.axhline(1, color="tab:green", ls="--", lw=1, label="bilocal bound 1")
            t.set_ylabel("BRGP value", color="tab:green")
            t.legend(loc="center right", fontsize=8)
        b.legend(loc="upper left", fontsize=8)
    else:
        b.axis("off")
    fig.suptitle(title)
    return fig


def _plot_predicted(ax, table) -> None:
    """The surrogate's prediction against the certified midpoint, per candidate (discoveries starred)."""
    rows = table["rows"]
    pred = np.array([r["predicted"] for r in rows], float)
    mid = np.array([0.5 * (r["lower"] + r["upper"]) for r in rows], float)
    disc = np.array([r["discovery"] for r in rows], bool)
    ax.plot(mid[~disc], pred[~disc], "o", ms=5, color="tab:blue", alpha=0.7, label="candidate")
    if disc.any():
        ax.plot(mid[disc], pred[disc], "*", ms=11, color="tab:red", label="discovery")
    hi = float(np.nanmax(np.concatenate([mid, pred, [1e-3]])))
    ax.plot([0, hi], [0, hi], "k--", lw=0.8, label="prediction = certified")
    if math.isfinite(table["constant"]):
        ax.axhline(table["constant"], color="tab:gray", lw=0.8, ls=":", label="constant median predictor")
    ax.set_xlabel("certified NBL (interval midpoint)")
    ax.set_ylabel("surrogate prediction")
    ax.set_title(f"at the certified candidates: MAE {table['mae']:.3g} (constant {table['mae_constant']:.3g}), "
                 f"Spearman {table['spearman']:.2f}", fontsize=9)
    ax.legend(fontsize=7, loc="best")


def _plot_learning(ax, g) -> None:
    """Round by round: the surrogate's error at its searchers' own maxima against the constant predictor's."""
    r = np.asarray(g["round"][()], float)
    ax.plot(r, np.asarray(g["mae"][()], float), "o-", color="tab:blue", label="surrogate MAE at its maxima")
    ax.plot(r, np.asarray(g["mae_constant"][()], float), "s--", color="tab:gray", label="constant median predictor")
    if "best_label" in g:
        ax.plot(r, np.asarray(g["best_label"][()], float), "^:", color="tab:red", label="best certified label there")
    ax.set_xlabel("learning round")
    ax.set_ylabel("NBL")
    ax.set_xticks(r)
    ax.set_title("learning where the search goes (certified labels at the maxima)", fontsize=9)
    ax.legend(fontsize=7, loc="best")


def _plot_stages(ax, f: h5py.File) -> None:
    """A campaign record's stages: wall time of each, coloured by what the last run did (computed / reused)."""
    try:
        stages = json.loads(f[L.CONFIG].attrs[L.CAMPAIGN_STAGES])
    except (KeyError, ValueError, TypeError):
        ax.axis("off")
        return
    if not stages:
        ax.axis("off")
        return
    names = [f"{s['stage']} {s['name']}" for s in stages]
    wall = [float(s.get("wall_seconds") or 0.0) for s in stages]
    colors = {"computed": "tab:blue", "resumed": "tab:orange", "reused": "tab:gray"}
    y = np.arange(len(stages))[::-1]
    ax.barh(y, wall, color=[colors.get(s["outcome"], "k") for s in stages])
    for yi, w, s in zip(y, wall, stages):
        ax.text(w, yi, f" {w:.0f} s ({s['outcome']})", va="center", fontsize=8)
    ax.set_yticks(y, names)
    ax.set_xlabel("wall time of the stage's own run [s]")
    ax.set_title("campaign stages (outcome of the run that wrote this record)")
    ax.set_xlim(0, max(wall) * 1.35 if max(wall) > 0 else 1)
