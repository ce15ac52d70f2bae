"""A discovery file's candidates as a table: the surrogate's prediction beside the certified interval, and the error
against the constant median predictor (``runs show``, ``runs plot`` and the discover summary all read it here)."""

from __future__ import annotations

import math
from typing import Any

import h5py
import numpy as np

from runs.files import _layout as L
from runs.files._readonly import check_size, committed_rows
from runs.files._untrusted import shown

__all__ = ["candidate_table"]


def candidate_table(f: h5py.File) -> dict[str, Any] | None:
    """Predicted against certified, per candidate, of a discovery file (``/candidates``) or a campaign record
    (``/certified``): ``{"rows": [...], "mae", "mae_constant", "spearman", "constant"}`` or None when the file has no
    candidates with a prediction. Each row: searcher (escaped), theta, predicted, certified lower / upper, discovery.
    The constant is the median of the labels the surrogate was trained on (``/learn``), when the file holds them."""
    group = L.CANDIDATES if L.CANDIDATES in f else (L.CERTIFIED if L.CERTIFIED in f else None)
    if group is None or L.CAND_PRED_MEAN not in f[group]:
        return None
    g = f[group]
    n = committed_rows(f, g[L.CAND_PRED_MEAN], f"{group}/{L.CAND_PRED_MEAN}")

    def col(name, default=math.nan):
        if name not in g:
            return np.full(n, default)
        check_size(g[name], n, f"{group}/{name}")
        return np.asarray(g[name][:n])

    pred = col(L.CAND_PRED_MEAN).astype(float)
    if not np.isfinite(pred).any():
        return None
    lo, up = col(L.CAND_NBL_LOWER).astype(float), col(L.CAND_NBL_UPPER).astype(float)
    if not np.isfinite(lo).any():  # a Bell-pair discovery: NL
        lo, up = col("nl_lower").astype(float), col("nl_upper").astype(float)
    mid = 0.5 * (lo + up)
    names = [shown(v.decode() if isinstance(v, bytes) else str(v), 48) for v in col(L.CAND_SEARCHER, "")]
    disc, theta = col(L.CAND_DISCOVERY, False).astype(bool), col(L.CAND_THETA).astype(float)
    rows = [{"searcher": names[i], "theta": float(theta[i]), "predicted": float(pred[i]), "lower": float(lo[i]),
             "upper": float(up[i]), "discovery": bool(disc[i])} for i in range(n)]
    ok = np.isfinite(pred) & np.isfinite(mid)
    out: dict[str, Any] = {"rows": rows, "mae": float(np.abs(pred[ok] - mid[ok]).mean()) if ok.any() else math.nan}
    const = math.nan
    if L.LEARN in f and "y" in f[L.LEARN] and "usable" in f[L.LEARN]:
        lg = f[L.LEARN]
        check_size(lg["y"], None, "learn/y")
        check_size(lg["usable"], None, "learn/usable")
        y = np.asarray(lg["y"][()], float)[np.asarray(lg["usable"][()], bool)]
        const = float(np.median(y)) if len(y) else math.nan
    out["constant"] = const
    out["mae_constant"] = float(np.abs(const - mid[ok]).mean()) if ok.any() and math.isfinite(const) else math.nan
    # a rank over certified values is meaningful only where the certificates tell them apart: when every interval
    # shares one point (e.g. all values 0 up to round-off, ~1e-15), no ordering of them is certified
    distinct = ok.any() and bool(np.max(lo[ok]) > np.min(up[ok]))
    if ok.sum() > 2 and np.ptp(pred[ok]) > 0 and distinct:
        from scipy.stats import spearmanr

        out["spearman"] = float(spearmanr(pred[ok], mid[ok])[0])
    else:
        out["spearman"] = math.nan
    return out
