"""Evaluation of a surrogate on a labelled test set: the rows of the paper's Table I and Table II.

Regression (Table I): mean |error| of the typical member (the median over members of each member's mean |error|),
of the plain average of all members, of the blend, of the best member, and of the trivial predictor (the median
training label, a constant).

Classification (Table II): confusion matrix (rows = true class, columns = predicted), accuracy, per-class accuracy,
and the accuracy on the ``boundary_fraction`` (10 %) of test points closest to a class boundary. Distance to the
boundary, in correlator space: local/quantum — ``|max CHSH - 2| / 2`` (exact Euclidean distance to the hyperplane of
the largest CHSH variant, whose normal has norm 2); quantum/postquantum — ``|max TLM - pi| / |grad TLM|``, the
first-order distance to the TLM surface ``sum +- asin E_xy = pi``; the smaller of the two.
"""

from __future__ import annotations

from dataclasses import dataclass

import equinox as eqx
import jax.numpy as jnp
import numpy as np

__all__ = ["RegressionReport", "ClassificationReport", "evaluate_regression", "evaluate_classification",
           "boundary_distance", "predict_batched"]


@dataclass(frozen=True)
class RegressionReport:
    """Table I row on a test set (errors in target units).

    Attributes:
        n: test points; member_mae: ``(K,)``; typical_member, average, blend, best_member, trivial: mean |error|;
        trivial_value: the constant of the trivial predictor; y_true, y_pred, y_std: ``(n,)`` arrays.
    """

    n: int
    member_mae: np.ndarray
    typical_member: float
    average: float
    blend: float
    best_member: float
    trivial: float
    trivial_value: float
    y_true: np.ndarray
    y_pred: np.ndarray
    y_std: np.ndarray


@dataclass(frozen=True)
class ClassificationReport:
    """Table II on a test set.

    Attributes:
        n: test points; confusion: ``(3, 3)`` counts (true, predicted); accuracy; per_class: ``(3,)`` accuracy per
        true class; boundary_accuracy: accuracy on the ``boundary_fraction`` of points closest to a boundary;
        member_accuracy: ``(K,)``; average_accuracy: plain average of the members' probabilities;
        y_true, y_pred, probabilities ``(n, 3)``, distance ``(n,)`` to the nearest class boundary.
    """

    n: int
    confusion: np.ndarray
    accuracy: float
    per_class: np.ndarray
    boundary_accuracy: float
    boundary_fraction: float
    member_accuracy: np.ndarray
    average_accuracy: float
    y_true: np.ndarray
    y_pred: np.ndarray
    probabilities: np.ndarray
    distance: np.ndarray


_call = eqx.filter_jit(lambda s, p: s(p))


def predict_batched(surrogate, behaviours, batch: int = 50_000):
    """``(mean, std, members)`` numpy arrays of ``surrogate`` on ``behaviours (N, *shape)``, in jitted batches."""
    means, stds, mems = [], [], []
    behaviours = np.asarray(behaviours)
    dt = surrogate.ensemble.x_mean.dtype
    for s in range(0, len(behaviours), batch):
        pr = _call(surrogate, jnp.asarray(behaviours[s : s + batch], dt))
        means.append(np.asarray(pr.mean))
        stds.append(np.asarray(pr.std))
        mems.append(np.asarray(pr.members))
    return np.concatenate(means), np.concatenate(stds), np.concatenate(mems, axis=1)


def evaluate_regression(surrogate, behaviours, y, trivial_value: float) -> RegressionReport:
    """Table I row of ``surrogate`` on ``(behaviours, y)``; ``trivial_value``: the median training label."""
    y = np.asarray(y, np.float64)
    mean, std, mem = predict_batched(surrogate, behaviours)
    mae = np.abs(mem.astype(np.float64) - y[None]).mean(axis=1)
    return RegressionReport(
        n=len(y), member_mae=mae, typical_member=float(np.median(mae)),
        average=float(np.abs(mem.mean(axis=0) - y).mean()), blend=float(np.abs(mean - y).mean()),
        best_member=float(mae.min()), trivial=float(np.abs(trivial_value - y).mean()), trivial_value=float(trivial_value),
        y_true=y, y_pred=mean, y_std=std,
    )


def boundary_distance(E) -> np.ndarray:
    """Distance of correlators ``E (N, 2, 2)`` to the nearest class boundary (see the module docstring)."""
    from bellcore import chsh_values

    E = np.asarray(E, np.float64)
    chsh = np.abs(chsh_values(E)).max(axis=-1)
    d_local = np.abs(chsh - 2.0) / 2.0
    Ec = np.clip(E, -1 + 1e-12, 1 - 1e-12)
    tlm = chsh_values(Ec, np.arcsin)  # (N, 4) signed
    i = np.abs(tlm).argmax(axis=-1)
    tmax = np.abs(tlm[np.arange(len(E)), i])
    # gradient of the chosen TLM variant: sign pattern (one minus sign at position i) / sqrt(1 - E^2)
    signs = np.ones((4, 2, 2))
    for k, (a, b) in enumerate([(1, 1), (1, 0), (0, 1), (0, 0)]):
        signs[k, a, b] = -1
    grad = signs[i] / np.sqrt(1 - Ec**2)
    d_quantum = np.abs(tmax - np.pi) / np.linalg.norm(grad.reshape(len(E), 4), axis=-1)
    return np.minimum(d_local, d_quantum)


def evaluate_classification(surrogate, behaviours, y, boundary_fraction: float = 0.1) -> ClassificationReport:
    """Table II of ``surrogate`` on ``(behaviours, y)`` (class codes 0 local, 1 quantum, 2 postquantum)."""
    y = np.asarray(y, np.int64)
    probs, _, mem = predict_batched(surrogate, behaviours)
    pred = probs.argmax(-1)
    conf = np.zeros((3, 3), np.int64)
    np.add.at(conf, (y, pred), 1)
    per = np.array([conf[k, k] / conf[k].sum() if conf[k].sum() else np.nan for k in range(3)])
    s = np.array([1.0, -1.0])
    E = np.einsum("nabxy,a,b->nxy", np.asarray(behaviours, np.float64), s, s)
    dist = boundary_distance(E)
    k = max(1, int(round(boundary_fraction * len(y))))
    near = np.argsort(dist)[:k]
    return ClassificationReport(
        n=len(y), confusion=conf, accuracy=float((pred == y).mean()), per_class=per,
        boundary_accuracy=float((pred[near] == y[near]).mean()), boundary_fraction=boundary_fraction,
        member_accuracy=(mem.argmax(-1) == y[None]).mean(axis=1), average_accuracy=float((mem.mean(0).argmax(-1) == y).mean()),
        y_true=y, y_pred=pred, probabilities=probs, distance=dist,
    )
