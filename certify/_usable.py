"""The one rule for a usable training label: which certified rows a surrogate may learn from or be scored on.

Training (``runs`` ``training_data``), the test sets of ``bellscope reproduce``, the labels that active learning
adds (``runs`` ``make_label``) and the candidates it reads back (``discover.candidate_targets``) all call
``usable_labels``; none keeps its own copy, so a row is a label in one place exactly when it is in the others.
It lives in ``certify`` (what a certified status is good for) so that ``surrogates`` and ``discover`` both import
it from below; ``surrogates`` re-exports it.

- ``nl``: the status is in ``certify.SOLVED`` (optimal or inaccurate: NL is exact whenever solved) and the value
  is finite.
- ``nbl``: the status is ``optimal`` (the branch-and-bound closed its gap to its tolerance) and the target, the
  midpoint of the certified interval (``nbl_target``), is finite. ``inaccurate`` is not enough here: its interval
  is valid but its gap was reopened, so the midpoint may be off by more than half the tolerance.
- ``network``: the target is the certified lower bound of the network interval (``network_nonlocality``): the
  quantity a discovery is judged on. Usable when the status is ``optimal`` or ``limit`` (a gap that did not close
  leaves the lower bound valid: triangle-nonlocal points rarely close) and the bound is finite.
- ``class``: no status; the code is one of the class codes ``0 .. len(CHSH_CLASSES) - 1``.

The module itself imports only ``certify`` (statuses) and ``bellcore`` (class names).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bellcore import CHSH_CLASSES
from ._result import LIMITED, SOLVED, Status

__all__ = ["usable_labels", "nbl_target", "USABLE_STATUSES", "LABEL_TARGETS", "TARGET_DEFINITIONS"]

#: Targets a label can be for.
LABEL_TARGETS = ("nl", "nbl", "class", "network")
#: Status names whose label is usable, per target (``class`` labels carry no status).
USABLE_STATUSES: dict[str, frozenset[str]] = {
    "nl": frozenset(s.value for s in SOLVED),
    "nbl": frozenset({Status.OPTIMAL.value}),
    "network": frozenset({Status.OPTIMAL.value} | {s.value for s in LIMITED}),
}
#: What ``y`` is for each target (stored in a model file's hyperparameters).
TARGET_DEFINITIONS = {
    "nl": "NL value (status in certify.SOLVED: optimal or inaccurate)",
    "nbl": "midpoint of the certified NBL interval (status optimal)",
    "class": "class code",
    "network": "certified lower bound of the network interval (status optimal or limit)",
}


def nbl_target(lower, upper) -> np.ndarray:
    """The NBL training target: the midpoint of the certified interval ``[lower, upper]`` (off by at most half
    the gap). Shapes broadcast; float64."""
    return 0.5 * (np.asarray(lower, np.float64) + np.asarray(upper, np.float64))


def _status_names(status, status_names: Sequence[str] | None) -> np.ndarray:
    """Status names of ``status``: integer codes (indices into ``status_names``), or names / ``certify.Status``."""
    a = np.asarray(status)
    if a.dtype.kind in "iu":
        if status_names is None:
            raise ValueError("integer status codes need the status_names they index")
        names = np.asarray(list(status_names) + ["<unknown>"], dtype=object)
        codes = a.astype(np.int64)
        codes = np.where((codes >= 0) & (codes < len(status_names)), codes, len(status_names))
        return names[codes]
    return np.asarray([s.value if isinstance(s, Status) else str(s) for s in a.ravel()], dtype=object).reshape(a.shape)


def usable_labels(status, values, target: str, *, status_names: Sequence[str] | None = None) -> np.ndarray:
    """``(N,)`` bool: the rows whose label for ``target`` may be trained on or scored against.

    Args:
        status: ``(N,)`` label statuses: names (``"optimal"``), ``certify.Status`` members, or integer codes that
            index ``status_names`` (a dataset file's codes, ``surrogates.STATUS_NAMES``). Ignored for ``class``
            (pass None).
        values: ``(N,)`` the label: the NL value, the NBL target (``nbl_target(lower, upper)``), or the class code.
        target: ``"nl"``, ``"nbl"``, ``"class"`` or ``"network"`` (values: the certified lower bound).
    """
    if target not in LABEL_TARGETS:
        raise ValueError(f"unknown target {target!r}; expected one of {', '.join(LABEL_TARGETS)}")
    v = np.asarray(values)
    if v.ndim != 1:
        raise ValueError(f"labels must be one value per row (N,); got shape {v.shape}")
    if target == "class":
        if v.dtype.kind not in "iu":
            if v.dtype.kind != "f":
                raise ValueError(f"class labels must be integer codes; got {v.dtype}")
            return np.isfinite(v) & (v == np.round(v)) & (v >= 0) & (v < len(CHSH_CLASSES))
        return (v >= 0) & (v < len(CHSH_CLASSES))
    if v.dtype.kind not in "fiu":
        raise ValueError(f"{target} labels must be numbers; got {v.dtype}")
    names = _status_names(status, status_names)
    if names.shape != v.shape:
        raise ValueError(f"{len(v)} labels but {names.size} statuses")
    ok = np.isin(names, list(USABLE_STATUSES[target]))
    return ok & np.isfinite(v.astype(np.float64))
