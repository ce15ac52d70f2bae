"""Which rows of a labelled dataset a surrogate trains on, and what it learns there (``training_data``).

The row rule is ``usable_labels`` (``certify/_usable.py``: one rule shared with active learning, the reproduction
test sets and discovery's candidates); this module only picks the label columns of a ``DatasetSpec``'s arrays.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from certify import nbl_target, usable_labels

from ._dataset import STATUS_NAMES, DatasetSpec

__all__ = ["training_data", "MIN_TRAINING_ROWS"]

MIN_TRAINING_ROWS = 10


def training_data(spec: DatasetSpec, data: Mapping[str, np.ndarray], target: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """``(behaviours, y, info)`` of the rows usable for ``target`` (``ValueError`` if the dataset lacks it).

    Args:
        spec: the dataset's ``DatasetSpec`` (named in the messages).
        data: its arrays (``behaviours (N, *scenario.shape)`` and the label fields of ``label_fields``).
        target: ``nl``: y = NL; ``nbl``: y = the certified interval's midpoint (``nbl_target``); ``class``: y = the
            class code; ``network``: y = the certified lower bound of the network interval.

    Returns the usable rows' behaviours and labels (float64; int64 for ``class``) and ``{"rows", "used",
    "dropped"}``. Fewer than ``MIN_TRAINING_ROWS`` usable rows: ``ValueError``.
    """
    beh = np.asarray(data["behaviours"])
    status = None
    if target == "nl":
        if "nl" not in data:
            raise ValueError(f"the dataset has no NL labels (it is a {spec.kind!r} dataset with {list(spec.measures)})")
        status, y = np.asarray(data["nl_status"]), np.asarray(data["nl"], np.float64)
    elif target == "nbl":
        if "nbl_lower" not in data:
            raise ValueError(f"the dataset has no NBL labels (it is a {spec.kind!r} dataset with {list(spec.measures)})")
        status, y = np.asarray(data["nbl_status"]), nbl_target(data["nbl_lower"], data["nbl_upper"])
    elif target == "network":
        if "network_lower" not in data:
            raise ValueError(f"the dataset has no network labels (it is a {spec.kind!r} dataset with "
                             f"{list(spec.measures)})")
        status, y = np.asarray(data["network_status"]), np.asarray(data["network_lower"], np.float64)
    elif target == "class":
        if "class" not in data:
            raise ValueError(f"the dataset has no class labels (it is a {spec.kind!r} dataset; use --scenario chsh-correlators)")
        y = np.asarray(data["class"]).astype(np.int64)
    else:
        raise ValueError(f"unknown target {target!r}; expected nl, nbl, class or network")
    ok = usable_labels(status, y, target, status_names=STATUS_NAMES)
    info = {"rows": int(len(beh)), "used": int(ok.sum()), "dropped": int((~ok).sum())}
    if ok.sum() < MIN_TRAINING_ROWS:
        raise ValueError(f"only {int(ok.sum())} of {len(beh)} rows have a usable {target} label; "
                         f"need at least {MIN_TRAINING_ROWS}")
    return beh[ok], y[ok], info
