"""``bellscope reproduce``: the paper's Table I, Table II and Fig. 3b as campaigns, each ending in a Markdown table
and a figure written next to its run files.

Every target is a campaign (``runs.pipeline._campaign``), so a second call reuses what the first computed and an
interrupted one continues. Test sets are separate datasets (other seeds) that training never sees; predictions
come from the stored model through ``runs.load_model`` (the same path a user takes).

- ``table1``: mean |NL_test - NL_pred| (x 1e-3) of the blended ensemble for Bell scenarios m = 2..5 and of the
  bilocal NBL surrogates on the (I, J, <A0>, <A1>) and (<AxByCz>, <Ax>) feature sets.
- ``table2``: the CHSH local / quantum / postquantum classifier on a balanced test set: accuracy per class and the
  confusion matrix.
- ``fig2``: exact value against prediction (the paper's Fig. 2) from the models and test sets of ``table1``
  (the same campaign, so one reuses the other's stages).
- ``fig3``: the discovery campaign (surrogate-guided search over cos θ|00> + sin θ|11> sources, candidates
  certified); the figure is ``runs plot`` of the campaign record.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from runs.files import _layout as L
from runs.pipeline._campaign import CampaignResult, parse_campaign, run_campaign

__all__ = ["TARGETS", "PRESETS", "reproduce", "ReproduceResult", "campaign_text"]

from runs._names import REPRODUCE_PRESETS as PRESETS, REPRODUCE_TARGETS as TARGETS  # noqa: E402  (one list each)

#: Points per training / test dataset: (bell, bilocal, chsh) for each preset. The paper used 5e5 bipartite,
#: 1.5e5 bilocal and 4e5 + 1e5 classifier points; "paper" keeps its ratios at what a workstation can label.
_SIZES = {
    "quick": {"bell": (4000, 1000), "bilocal": (200, 60), "chsh": (6000, 1500)},
    "paper": {"bell": (100_000, 20_000), "bilocal": (20_000, 5000), "chsh": (400_000, 100_000)},
}
_SIZES["dual"] = _SIZES["quick"]

#: The paper's values (Canabarro, Brito & Chaves, PRL 122, 200401: Tables I and II) for the Markdown tables.
PAPER_TABLE1 = {"m=2": 0.05, "m=3": 1.54, "m=4": 6.78, "m=5": 7.31, "I,J,A0,A1": 0.45, "AxByCz,Ax": 3.22}
PAPER_TABLE2_ACCURACY = 99.49


@dataclass(frozen=True)
class ReproduceResult:
    """The Markdown table and figure written, the campaign's result, and the measured rows."""

    target: str
    preset: str
    markdown: Path
    figure: Path | None
    campaign: CampaignResult
    rows: tuple[Mapping[str, Any], ...]


def _dataset(name, scenario, n, seed, extra=""):
    return f'\n[[dataset]]\nname = "{name}"\nscenario = "{scenario}"\nn = {n}\nseed = {seed}\n{extra}'


def _train(name, dataset, target, preset, feature_set=None):
    fs = f'feature_set = "{feature_set}"\n' if feature_set else ""
    return f'\n[[train]]\nname = "{name}"\ndataset = "{dataset}"\ntarget = "{target}"\npreset = "{preset}"\n{fs}'


def campaign_text(target: str, preset: str) -> str:
    """The campaign TOML of a reproduction target."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; expected one of {', '.join(TARGETS)}")
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; expected one of {', '.join(PRESETS)}")
    size = _SIZES[preset]
    nl_preset, preset = preset, "quick" if preset == "dual" else preset  # model presets: NL's, everything else's
    text = f'[campaign]\nname = "{"table1" if target == "fig2" else target}-{nl_preset}"\nseed = 1\n'
    if target in ("table1", "fig2"):  # Fig. 2 draws the models and test sets of Table I (the same stages)
        ntr, nte = size["bell"]
        for m in (2, 3, 4, 5):
            text += _dataset(f"m{m}", "bell", ntr, 1, f"settings = {m}\nchunk_size = 1000\n")
            text += _dataset(f"m{m}-test", "bell", nte, 1001, f"settings = {m}\nchunk_size = 1000\n")
            text += _train(f"m{m}", f"m{m}", "nl", nl_preset)
        ntr, nte = size["bilocal"]
        for fs, sampler in (("ij", "features-ij"), ("abc", "features-abc")):
            nodes = 300 if preset == "quick" else 2000  # quick: wider intervals (status limit), minutes not hours
            extra = f'variant = "binary"\nsampler = "{sampler}"\nchunk_size = 20\nnbl_max_nodes = {nodes}\n'
            text += _dataset(fs, "bilocal", ntr, 1, extra) + _dataset(f"{fs}-test", "bilocal", nte, 1001, extra)
            text += _train(fs, fs, "nbl", preset, fs)
    elif target == "table2":
        ntr, nte = size["chsh"]
        # the margins preset on a class-balanced training set: 99.95 % at 300,000 points (docs/surrogates.md)
        text += _dataset("chsh", "chsh-correlators", ntr, 1, 'chunk_size = 5000\nparams = { balance = true }\n')
        text += _dataset("chsh-test", "chsh-correlators", nte, 1001, 'chunk_size = 5000\nparams = { balance = true }\n')
        text += _train("chsh", "chsh", "class", "margins", "correlators-asin")
    else:
        from runs.pipeline._campaign import DEFAULT_CAMPAIGN

        text = DEFAULT_CAMPAIGN.replace('name = "demo"', f'name = "fig3-{nl_preset}"')
        if preset == "paper":
            text = text.replace("n = 400", "n = 5000").replace('preset = "quick"', 'preset = "paper"')
            text = text.replace("quick = true", "quick = false").replace("top = 3", "top = 20")
    return text


def _predict(model: Path, p: np.ndarray, batch: int = 4096) -> np.ndarray:
    from runs.files._model_file import load_model

    sur = load_model(model)
    out = []
    for i in range(0, len(p), batch):
        out.append(np.asarray(sur(p[i : i + batch]).mean))
    return np.concatenate(out)


def _files(res: CampaignResult) -> dict[str, Path]:
    return {f"{s.kind}:{s.name}": s.file for s in res.stages}


def _test_set(files: Mapping[str, Path], name: str, field: str) -> tuple[np.ndarray, np.ndarray]:
    """Behaviours and certified targets of a held-out test set: the rows and targets training would use
    (``training_data``, i.e. ``surrogates.usable_labels``: NL of solved rows, the NBL interval's midpoint of
    optimal rows)."""
    from runs.jobs._dataset_run import read_dataset
    from surrogates import training_data

    spec, data, _ = read_dataset(files[f"dataset:{name}-test"])
    beh, y, _ = training_data(spec, data, field)
    return beh, y


_TABLE1_CASES = [(f"m={m}", f"m{m}", "nl") for m in (2, 3, 4, 5)] + [("I,J,A0,A1", "ij", "nbl"), ("AxByCz,Ax", "abc", "nbl")]


def _table1(res: CampaignResult) -> list[dict[str, Any]]:
    """One row per column of the paper's Table I: typical member, plain average, blend and the trivial predictor
    (the median training label), all mean |error| x 1e-3 on the held-out test set."""
    from surrogates import evaluate_regression

    from runs.files._model_file import read_model

    files = _files(res)
    rows = []
    for label, name, field in _TABLE1_CASES:
        p, y = _test_set(files, name, field)
        model = read_model(files[f"train:{name}"])
        rep = evaluate_regression(model.surrogate, p, y, model.train_median)
        rows.append({"case": label, "test_points": rep.n, "typical_e3": 1e3 * rep.typical_member,
                     "average_e3": 1e3 * rep.average, "mae_e3": 1e3 * rep.blend, "trivial_e3": 1e3 * rep.trivial,
                     "blend/trivial": rep.blend / rep.trivial if rep.trivial > 0 else math.nan,
                     "paper_e3": PAPER_TABLE1[label]})
    return rows


def _fig2(res: CampaignResult, out: Path) -> list[dict[str, Any]]:
    """The paper's Fig. 2: exact (certified) value against the surrogate's prediction. (a) m = 2 on the quantum
    family cos t|00> + sin t|11> with the measurements that maximise CHSH for each t (exact NL from certify);
    (b) m = 3, (c) m = 5, (d) bilocal (I, J, <A0>, <A1>): held-out test points sorted by their exact value."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import bellcore as bc
    import certify
    from surrogates import predict_batched

    from runs.files._model_file import load_model

    files = _files(res)
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5), constrained_layout=True)
    rows = []
    # (a) Horodecki: CHSH_max = 2 sqrt(1 + sin^2 2t); optimal measurements A: Z, X; B: cos(u) Z +- sin(u) X.
    ts = np.linspace(0.0, np.pi / 4, 41)
    p_a = []
    for t in ts:
        u = np.arctan(np.sin(2 * t))
        strategy = bc.QuantumStrategy(bc.pure_two_qubit_state(t), bc.qubit_measurements_xz(np.array([0.0, np.pi / 2])),
                                      bc.qubit_measurements_xz(np.array([u, -u])))
        p_a.append(np.asarray(strategy.behaviour().p))  # float32 unless x64 is on: certify validates at its precision
    p_a = np.stack(p_a)
    exact_a = np.array([certify.nonlocality(q).value for q in p_a])
    pred_a = predict_batched(load_model(files["train:m2"]), p_a)[0]
    panels = [("(a) m = 2, cos t|00> + sin t|11>, CHSH-optimal measurements", ts, exact_a, pred_a, "t (rad)")]
    for tag, name, field, title in (("(b)", "m3", "nl", "m = 3"), ("(c)", "m5", "nl", "m = 5"),
                                    ("(d)", "ij", "nbl", "bilocal, features (I, J, <A0>, <A1>)")):
        p, y = _test_set(files, name, field)
        order = np.argsort(y, kind="stable")
        pred = predict_batched(load_model(files[f"train:{name}"]), p)[0]
        panels.append((f"{tag} {title}, held-out test points", np.arange(len(y)), y[order], pred[order],
                       "test point i (sorted by exact value)"))
    for ax, (title, x, exact, pred, xlabel) in zip(axes.ravel(), panels):
        ax.plot(x, exact, "-", color="tab:blue", lw=2, label="exact (certified)")
        ax.plot(x, pred, "o", color="tab:red", ms=3, mfc="none", label="surrogate (blend)")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("NBL" if "bilocal" in title else "NL")
        ax.legend(fontsize=8)
        rows.append({"panel": title, "points": len(x), "mae_e3": 1e3 * float(np.abs(pred - exact).mean()),
                     "max_err_e3": 1e3 * float(np.abs(pred - exact).max())})
    fig.suptitle("Fig. 2: exact value and surrogate prediction")
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return rows


def _table2(res: CampaignResult) -> list[dict[str, Any]]:
    from runs.jobs._dataset_run import read_dataset

    files = _files(res)
    _, data, _ = read_dataset(files["dataset:chsh-test"])
    pred = _predict(files["train:chsh"], data["behaviours"])
    pred = pred.argmax(axis=-1) if pred.ndim == 2 else np.rint(pred).astype(int)
    y = data["class"].astype(int)
    names = ("local", "quantum", "postquantum")
    rows = []
    for k, name in enumerate(names):
        sel = y == k
        row = {"class": name, "test_points": int(sel.sum()), "accuracy": 100 * float((pred[sel] == k).mean())}
        for j, other in enumerate(names):
            row[f"predicted {other}"] = int((pred[sel] == j).sum())
        rows.append(row)
    rows.append({"class": "all", "test_points": len(y), "accuracy": 100 * float((pred == y).mean()),
                 "paper": PAPER_TABLE2_ACCURACY})
    return rows


def _markdown(target: str, preset: str, rows: list[dict[str, Any]], res: CampaignResult) -> str:
    import platform

    head = {
        "table1": "Table I: mean |y_test - y_pred| (x 1e-3) of the blended ensemble on held-out test sets",
        "table2": "Table II: CHSH classifier on a balanced held-out test set",
        "fig2": "Fig. 2: exact values and surrogate predictions (mean |error| x 1e-3 per panel)",
        "fig3": "Fig. 3b: certified candidates of the surrogate-guided search (θ family)",
    }[target]
    lines = [f"# {head}", "", f"preset `{preset}`; machine: {platform.machine()}, {os.cpu_count()} CPUs; "
             f"run files: `{res.record.parent}`", ""]
    if rows:
        cols = list(dict.fromkeys(k for r in rows for k in r))
        lines.append("| " + " | ".join(cols) + " |")
        lines.append("|" + "---|" * len(cols))
        for r in rows:
            lines.append("| " + " | ".join(_cell(r.get(c, "")) for c in cols) + " |")
    lines += ["", "Stages: " + ", ".join(f"{s.kind} {s.name} ({s.outcome})" for s in res.stages), ""]
    return "\n".join(lines)


def _cell(x) -> str:
    if isinstance(x, float):
        return "nan" if not math.isfinite(x) else f"{x:.4g}"
    return str(x).replace("|", "\\|")  # a literal bar (a ket) must not split the Markdown cell


def _fig3_rows(res: CampaignResult) -> list[dict[str, Any]]:
    import h5py

    from runs.files._browse import enum_names

    rows = []
    with h5py.File(res.record, "r") as f:
        if L.CERTIFIED not in f or L.CAND_BEHAVIOUR not in f[L.CERTIFIED]:
            return rows
        c = f[L.CERTIFIED]
        names = enum_names(c[L.CAND_NBL_STATUS].dtype)
        for i in range(c[L.CAND_BEHAVIOUR].shape[0]):
            rows.append({
                "θ": float(c[L.CAND_THETA][i]), "NBL lower": float(c[L.CAND_NBL_LOWER][i]),
                "NBL upper": float(c[L.CAND_NBL_UPPER][i]), "status": names[int(c[L.CAND_NBL_STATUS][i])],
                "BRGP": float(c[L.CAND_BRGP][i]), "predicted": float(c[L.CAND_PRED_MEAN][i]),
                "discovery": bool(c[L.CAND_DISCOVERY][i]),
            })
    return rows


def _plot_rows(target: str, rows: list[dict[str, Any]], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), constrained_layout=True)
    if target == "table1":
        x = np.arange(len(rows))
        ax.bar(x - 0.2, [r["mae_e3"] for r in rows], 0.4, label="bellscope")
        ax.bar(x + 0.2, [r["paper_e3"] for r in rows], 0.4, label="paper (blended)")
        ax.set_xticks(x, [r["case"] for r in rows])
        ax.set_ylabel("mean absolute error (x 1e-3)")
        ax.set_yscale("log")
        ax.set_title("Table I: surrogate error on held-out test sets")
    else:
        cls = [r for r in rows if r["class"] != "all"]
        m = np.array([[r[f"predicted {o}"] for o in ("local", "quantum", "postquantum")] for r in cls])
        ax.imshow(m, cmap="Blues")
        for i in range(3):
            for j in range(3):
                ax.text(j, i, str(m[i, j]), ha="center", va="center", color="w" if m[i, j] > m.max() / 2 else "k")
        ax.set_xticks(range(3), ["local", "quantum", "postquantum"])
        ax.set_yticks(range(3), ["local", "quantum", "postquantum"])
        ax.set_xlabel("predicted")
        ax.set_ylabel("exact")
        ax.set_title(f"Table II: accuracy {rows[-1]['accuracy']:.2f}% (paper {PAPER_TABLE2_ACCURACY}%)")
    ax.legend() if target == "table1" else None
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def reproduce(
    target: str,
    preset: str,
    runs_dir: str | os.PathLike,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    argv: list[str] | None = None,
    on_stage: Callable | None = None,
    progress: Callable | None = None,
) -> ReproduceResult:
    """Run (or reuse) the campaign of ``target`` and write ``<target>-<preset>.md`` / ``.png`` in ``runs_dir``.

    The Markdown and PNG are written under new names if older ones exist (``-2``, ``-3``, ...): never overwritten.
    """
    camp = parse_campaign(campaign_text(target, preset))
    runs_dir = Path(runs_dir)
    res = run_campaign(camp, runs_dir, workers=workers, scheduler=scheduler, argv=argv, on_stage=on_stage,
                       progress=progress)
    md = _free(runs_dir / f"{target}-{preset}.md")
    png = _free(runs_dir / f"{target}-{preset}.png")
    if target == "table1":
        rows = _table1(res)
        _plot_rows(target, rows, png)
    elif target == "table2":
        rows = _table2(res)
        _plot_rows(target, rows, png)
    elif target == "fig2":
        rows = _fig2(res, png)
    else:
        from runs.files._plot import plot_run

        rows = _fig3_rows(res)
        plot_run(res.record, png)
    md.write_text(_markdown(target, preset, rows, res))
    return ReproduceResult(target, preset, md, png, res, tuple(rows))


def _free(p: Path) -> Path:
    k = 1
    q = p
    while q.exists():
        k += 1
        q = p.with_name(f"{p.stem}-{k}{p.suffix}")
    return q
