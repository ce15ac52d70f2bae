"""``bellscope train | predict | evaluate``: learn a surrogate from a dataset, use it, and score it on a test set."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Optional

import numpy as np
import typer

from runs._names import FEATURE_SETS, MODEL_TARGETS
from runs.cli._choices import ModelPreset, ModelTarget
from runs.cli._errors import fail

__all__ = ["train_cmd", "predict_cmd", "evaluate_cmd"]


def train_cmd(
    dataset: Path = typer.Argument(..., help="A dataset run file (bellscope dataset)."),
    out: Path = typer.Option(..., "--out", "-o", help="The model run file to write (never overwritten)."),
    target: Optional[ModelTarget] = typer.Option(None, "--target", help=f"{', '.join(MODEL_TARGETS)} (default: the dataset's label)."),
    preset: ModelPreset = typer.Option(ModelPreset.quick, "--preset", help="quick (small ensemble, 30 epochs), paper (10 members, 150 epochs), maxaffine (NL only: 4 max-affine members, L1, 150 epochs), margins (class only: 2 margins members, 200 epochs), dual (NL only: NL's own affine pieces from the certificates of the training rows, a certified lower bound, plus the quick MLPs; canonical features) or dual-bound (NL only: those pieces alone, so every prediction is a certified lower bound)."),
    members: Optional[int] = typer.Option(None, "--members", "-k", help="Total number of members (the preset's groups are rescaled)."),
    seed: int = typer.Option(0, "--seed", help="Master seed: initialisation, minibatches, augmentation, split and blend."),
    features: Optional[str] = typer.Option(None, "--features", help=f"Feature set: {', '.join(FEATURE_SETS)} (default from the dataset: full, ij, abc; canonical for --preset dual; correlators-asin for the classifier)."),
    max_rows: Optional[int] = typer.Option(None, "--max-rows", help="Train on the first N rows of the dataset only."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Override the preset's maximum epochs per group."),
    patience: Optional[int] = typer.Option(None, "--patience", help="Override the preset's early-stopping patience (epochs)."),
    augment: bool = typer.Option(True, "--augment/--no-augment", help="Random symmetry relabellings of every minibatch."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar on stderr (loss, validation error)."),
    workers: int = typer.Option(1, "--workers", "-w", help="Processes certifying the training rows of a dual-vertex member (--preset dual)."),
    dual_pieces: Optional[int] = typer.Option(None, "--dual-pieces", help="--preset dual / dual-bound: keep at most N pieces (those that are the maximum at the most training rows; default 50,000). Fewer pieces: faster predictions, a looser certified bound."),
) -> None:
    """Train an ensemble surrogate on DATASET and write it to OUT.

    Regression targets: **nl** (rows whose NL status is optimal), **nbl** (rows whose NBL status is optimal;
    the target is the midpoint of the certified interval) and **network** (a network dataset: the certified lower
    bound of the interval, rows with status optimal or limit). **class**: local / quantum / postquantum of a
    chsh-correlators dataset. 10 % of the rows (seeded) are the validation split: early stopping, and the genetic
    algorithm that blends the members. Prints the validation errors of the members, their average and the blend.
    """
    from runs import _signals as signals

    _check_train_options(out, members, workers, epochs, patience, seed, max_rows, dual_pieces)
    overrides = {"augment": augment}
    if epochs is not None:
        overrides["epochs"] = epochs
    if patience is not None:
        overrides["patience"] = patience
    written = False
    try:
        # SIGTERM raises Terminated (a KeyboardInterrupt) from here on, as Ctrl-C does; runs/_signals.py keeps either from
        # being lost inside a garbage-collector callback (JAX's) while the heavy modules load and train
        with signals.catch_signals():
            from runs.cli._progress import rich_progress
            from runs.files._model_file import read_model
            from runs.jobs._model_run import run_train

            signals.check()

            try:
                with rich_progress("train (epochs)", None, enabled=progress) as cb:
                    path = run_train(
                        dataset, out, target=target.value if target else None, preset=preset.value, members=members,
                        seed=seed, feature_set=features, max_rows=max_rows, overrides=overrides, progress=cb,
                        argv=sys.argv, workers=workers, dual_pieces=dual_pieces,
                    )
            except (ValueError, FileExistsError) as e:
                fail(str(e).splitlines()[0] if str(e) else type(e).__name__)
            written = True
            mf = read_model(path)
            b = mf.hyperparameters["blend"]
            errs = b["errors"]
            kind = "mean |error|" if mf.surrogate.task == "regression" else "error rate (+1e-6 x cross-entropy)"
            typer.echo(f"wrote {path}: {mf.summary.get('headline', '')}")
            typer.echo(
                f"validation {kind}: typical member {errs['typical_member']:.4g}, average {errs['average']:.4g}, "
                f"best member {errs['best_member']:.4g}, GA blend {errs.get('ga', float('nan')):.4g} -> kept {b['method']}"
            )
    except KeyboardInterrupt as e:  # Ctrl-C or SIGTERM, at any moment: say what is on disk, then leave
        from runs.files._model_file import remove_incomplete_model

        complete = remove_incomplete_model(out) if written or out.exists() else False
        signals.exit_interrupted(e, f"{out} was written and is complete" if complete
                           else f"no model was written ({out} does not exist)")


def _check_train_options(out: Path, members, workers, epochs, patience, seed, max_rows, dual_pieces) -> None:
    """Everything about the options that can be refused before the dataset is read or anything is trained."""
    from surrogates import MAX_MEMBERS, MAX_SEED

    if members is not None and not 1 <= members <= MAX_MEMBERS:
        fail(f"--members must be between 1 and {MAX_MEMBERS}; got {members}")
    if workers < 1:
        fail(f"--workers must be >= 1; got {workers}")
    if epochs is not None and epochs < 1:
        fail(f"--epochs must be >= 1; got {epochs}")
    if patience is not None and patience < 1:
        fail(f"--patience must be >= 1; got {patience}")
    if not 0 <= seed < MAX_SEED:
        fail(f"--seed must be a non-negative integer below 2**63 - 1; got {seed}")
    if max_rows is not None and max_rows < 10:
        fail(f"--max-rows must be >= 10; got {max_rows}")
    if dual_pieces is not None and dual_pieces < 1:
        fail(f"--dual-pieces must be >= 1; got {dual_pieces}")
    if out.exists() or out.is_symlink():
        fail(f"{out} already exists; choose another --out")
    from runs.files._store import check_out_path

    try:
        check_out_path(out)
    except (ValueError, FileExistsError) as e:
        fail(str(e))


def _load_model_or_fail(path: Path):
    from runs.files._model_file import read_model

    try:
        return read_model(path)
    except ValueError as e:
        fail(str(e))


def _load_inputs(path: Path, surrogate) -> np.ndarray:
    from runs.files._io import load_behaviours

    try:  # refuses non-regular files, forged .npy headers, oversized data sets and empty batches before reading
        beh = load_behaviours(path)
    except ValueError as e:
        fail(str(e).splitlines()[0])
    except MemoryError:
        fail(f"{path}: declares more behaviours than fit in memory")
    if beh.scenario != surrogate.scenario:
        fail(f"{path} holds behaviours of {beh.scenario}, but the model was trained on {surrogate.scenario}")
    p = np.asarray(beh.p, dtype=np.float64)
    if not np.all(np.isfinite(p)):
        fail(f"{path} contains NaN or infinite entries")
    try:
        beh.validate(1e-6)
    except ValueError as e:
        fail(f"{path}: {e}")
    return p.reshape((-1, *surrogate.scenario.shape))


def predict_cmd(
    model: Path = typer.Argument(..., help="A model run file (bellscope train)."),
    inputs: Path = typer.Argument(..., help="Behaviours: .npy, .json or .h5 (README, input files)."),
    as_json: bool = typer.Option(False, "--json", help="JSON Lines on stdout, one object per behaviour."),
) -> None:
    """Predict with a trained surrogate: the blended value and the members' spread (`value`, `std`), or for a
    classifier the class and its probabilities (`class`, `probabilities`)."""
    from bellcore import CHSH_CLASSES
    from surrogates import predict_batched

    mf = _load_model_or_fail(model)
    sur = mf.surrogate
    p = _load_inputs(inputs, sur)
    mean, std, _ = predict_batched(sur, p)
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std))):  # never print NaN (it is not even JSON)
        fail(f"{model} gives a NaN or infinite prediction for some behaviour of {inputs}; the model is unusable")
    rows = []
    for i in range(len(p)):
        if sur.task == "regression":
            rows.append({"value": float(mean[i]), "std": float(std[i])})
        else:
            c = int(np.argmax(mean[i]))
            rows.append({"class": CHSH_CLASSES[c], "probabilities": {n: float(v) for n, v in zip(CHSH_CLASSES, mean[i])}})
    if as_json:
        sys.stdout.write("".join(json.dumps(r) + "\n" for r in rows))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"{sur.target} predictions of {model}")
    t.add_column("#", justify="right")
    if sur.task == "regression":
        t.add_column(sur.target, justify="right")
        t.add_column("std (members)", justify="right")
        for i, r in enumerate(rows):
            t.add_row(str(i), f"{r['value']:.6f}", f"{r['std']:.2e}")
    else:
        t.add_column("class")
        for n in CHSH_CLASSES:
            t.add_column(f"P({n})", justify="right")
        for i, r in enumerate(rows):
            t.add_row(str(i), r["class"], *(f"{v:.4f}" for v in r["probabilities"].values()))
    Console().print(t)


def evaluate_cmd(
    model: Path = typer.Argument(..., help="A model run file (bellscope train)."),
    test: Path = typer.Argument(..., help="A labelled dataset run file the model never saw (fresh seed)."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Where to write the predicted-vs-exact figure (default: MODEL with suffix .eval.png)."),
    as_json: bool = typer.Option(False, "--json", help="Print the scores as one JSON object."),
) -> None:
    """Score a surrogate on a labelled test set: the paper's Table I row (mean |error| of the typical member, the
    plain average, the blend, and the trivial median predictor) or Table II (confusion matrix, per-class accuracy,
    accuracy on the 10 % of points nearest a class boundary). Writes a predicted-vs-exact PNG (Fig. 2 style)."""
    from surrogates import TARGETS, training_data

    from runs.jobs._dataset_run import read_dataset

    plot = _check_plot_path(plot or model.with_suffix(".eval.png"))
    mf = _load_model_or_fail(model)
    sur = mf.surrogate
    if not test.exists():
        fail(f"no such test file: {test}")
    try:
        spec, data, _ = read_dataset(test, require_complete=True)
    except (ValueError, OSError) as e:
        msg = str(e).splitlines()[0]
        fail(msg if msg.startswith(str(test)) else f"{test}: {msg}")
    except MemoryError:
        fail(f"{test}: declares more rows than fit in memory")
    if spec.scenario != sur.scenario:
        fail(f"{test} holds behaviours of {spec.scenario}, but the model was trained on {sur.scenario}")
    assert sur.target in TARGETS
    try:
        beh, y, info = training_data(spec, data, sur.target)
    except ValueError as e:
        fail(f"{test}: {e}")
    if spec.config_hash() == mf.dataset_hash:
        typer.echo("warning: the test set is the model's training dataset", err=True)
    if sur.task == "regression":
        _evaluate_regression(mf, beh, y, info, test, plot, as_json)
    else:
        _evaluate_classification(mf, beh, y, info, test, plot, as_json)


#: Figure formats ``--plot`` may name (matplotlib picks the format from the suffix).
PLOT_SUFFIXES = (".png", ".pdf", ".svg")


def _check_plot_path(plot: Path) -> Path:
    """Refuse, before any work, a figure path that would overwrite a file, lies in a missing folder, or whose
    suffix is not a figure format (matplotlib would add ``.png`` and write another name than the one printed)."""
    if plot.exists() or plot.is_symlink():
        fail(f"{plot} already exists; choose another --plot (figures are never overwritten)")
    if plot.suffix.lower() not in PLOT_SUFFIXES:
        fail(f"--plot {plot}: name a {', '.join(PLOT_SUFFIXES)} file")
    parent = plot.parent if str(plot.parent) else Path(".")
    if not parent.is_dir():
        fail(f"folder {parent} of --plot does not exist; create it first")
    return plot


def _evaluate_regression(mf, beh, y, info, test, plot, as_json):
    from surrogates import evaluate_regression

    r = evaluate_regression(mf.surrogate, beh, y, mf.train_median)
    _plot_regression(r, mf, plot)
    scores = {
        "n": r.n, "dropped": info["dropped"], "typical_member": r.typical_member, "average": r.average,
        "blend": r.blend, "best_member": r.best_member, "trivial": r.trivial, "trivial_value": r.trivial_value,
        "blend_over_trivial": r.blend / r.trivial if r.trivial > 0 else math.nan, "plot": str(plot),
    }
    if as_json:
        sys.stdout.write(json.dumps(scores) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"Table I row: mean |{mf.surrogate.target} error| on {test} ({r.n} points, ×1e-3)")
    for c in ("typical member", "average", "blend", "best member", "trivial (median)", "blend / trivial"):
        t.add_column(c, justify="right")
    t.add_row(*(f"{1e3 * v:.3f}" for v in (r.typical_member, r.average, r.blend, r.best_member, r.trivial)),
              f"{scores['blend_over_trivial']:.3f}")
    Console().print(t)
    typer.echo(f"plot: {plot}")


def _evaluate_classification(mf, beh, y, info, test, plot, as_json):
    from bellcore import CHSH_CLASSES
    from surrogates import evaluate_classification

    r = evaluate_classification(mf.surrogate, beh, y)
    _plot_classification(r, plot)
    scores = {
        "n": r.n, "accuracy": r.accuracy, "per_class": dict(zip(CHSH_CLASSES, r.per_class.tolist())),
        "boundary_accuracy": r.boundary_accuracy, "boundary_fraction": r.boundary_fraction,
        "confusion": r.confusion.tolist(), "average_accuracy": r.average_accuracy,
        "typical_member_accuracy": float(np.median(r.member_accuracy)), "plot": str(plot),
    }
    if as_json:
        sys.stdout.write(json.dumps(scores) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"Table II: confusion matrix on {test} ({r.n} points; rows true, columns predicted)")
    t.add_column("true \\ predicted")
    for n in CHSH_CLASSES:
        t.add_column(n, justify="right")
    t.add_column("accuracy", justify="right")
    for k, n in enumerate(CHSH_CLASSES):
        t.add_row(n, *(str(v) for v in r.confusion[k]), f"{100 * r.per_class[k]:.3f} %")
    con = Console()
    con.print(t)
    con.print(
        f"accuracy {100 * r.accuracy:.3f} % (typical member {100 * scores['typical_member_accuracy']:.3f} %, "
        f"plain average {100 * r.average_accuracy:.3f} %); on the {100 * r.boundary_fraction:.0f} % of points nearest "
        f"a class boundary {100 * r.boundary_accuracy:.3f} %"
    )
    typer.echo(f"plot: {plot}")


def _plot_regression(r, mf, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(10, 4.5))
    hi = float(max(r.y_true.max(), r.y_pred.max()))
    ax[0].scatter(r.y_true, r.y_pred, s=2, alpha=0.4, lw=0)
    ax[0].plot([0, hi], [0, hi], "k--", lw=0.8)
    ax[0].set_xlabel(f"exact {mf.surrogate.target} (certified)")
    ax[0].set_ylabel(f"predicted {mf.surrogate.target} (blend)")
    ax[0].set_title(f"blend mean |err| {r.blend:.2e} (trivial {r.trivial:.2e})")
    err = r.y_pred - r.y_true
    ax[1].hist(err, bins=100, log=True)
    ax[1].set_xlabel("predicted − exact")
    ax[1].set_ylabel("count")
    ax[1].set_title(f"{r.n} test points")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_classification(r, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bellcore import CHSH_CLASSES

    fig, ax = plt.subplots(1, 2, figsize=(10, 4.5))
    norm = r.confusion / np.maximum(r.confusion.sum(axis=1, keepdims=True), 1)
    ax[0].imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(3):
        for j in range(3):
            ax[0].text(j, i, f"{r.confusion[i, j]}", ha="center", va="center", color="k" if norm[i, j] < 0.5 else "w")
    ax[0].set_xticks(range(3), CHSH_CLASSES)
    ax[0].set_yticks(range(3), CHSH_CLASSES)
    ax[0].set_xlabel("predicted")
    ax[0].set_ylabel("true")
    ax[0].set_title(f"accuracy {100 * r.accuracy:.3f} %")
    wrong = r.y_pred != r.y_true
    bins = np.linspace(0, float(np.quantile(r.distance, 0.5)), 40)
    ax[1].hist(r.distance[~wrong], bins=bins, alpha=0.6, label="correct")
    ax[1].hist(r.distance[wrong], bins=bins, alpha=0.9, label="wrong")
    ax[1].set_yscale("log")
    ax[1].set_xlabel("distance to the nearest class boundary")
    ax[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
