"""Small helpers around highspy shared by every LP in certify/."""

from __future__ import annotations

import os
import sys

import highspy
import numpy as np

from ._result import Status

__all__ = ["new_highs", "status_of", "colwise", "make_lp", "INF"]

INF = highspy.kHighsInf
_banner_done = False


def new_highs() -> highspy.Highs:
    """A silent ``highspy.Highs`` instance.

    HiGHS prints its banner from C++ on the first construction in a process; that would corrupt
    ``--json`` output on stdout, so the first construction runs with file descriptor 1 sent to /dev/null.
    """
    global _banner_done
    if _banner_done:
        h = highspy.Highs()
    else:
        sys.stdout.flush()
        saved = os.dup(1)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 1)
            h = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(devnull)
            os.close(saved)
        _banner_done = True
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    # Labels must be exact to ~1e-9 (docs/measures.md): tighten HiGHS's default 1e-7 tolerances.
    h.setOptionValue("primal_feasibility_tolerance", 1e-10)
    h.setOptionValue("dual_feasibility_tolerance", 1e-10)
    return h


_STATUS = {
    highspy.HighsModelStatus.kOptimal: Status.OPTIMAL,
    highspy.HighsModelStatus.kInfeasible: Status.INFEASIBLE,
    highspy.HighsModelStatus.kTimeLimit: Status.LIMIT,
    highspy.HighsModelStatus.kIterationLimit: Status.LIMIT,
    highspy.HighsModelStatus.kObjectiveBound: Status.LIMIT,
    highspy.HighsModelStatus.kObjectiveTarget: Status.LIMIT,
    highspy.HighsModelStatus.kSolutionLimit: Status.LIMIT,
}


def status_of(h: highspy.Highs) -> tuple[Status, str, str]:
    """``(Status, message, native)``: HiGHS's model status mapped to ``Status``, its own text, its enum name."""
    ms = h.getModelStatus()
    return _STATUS.get(ms, Status.ERROR), h.modelStatusToString(ms), native_name(ms)


def native_name(ms: highspy.HighsModelStatus) -> str:
    """The ``HighsModelStatus`` member name, e.g. ``"kOptimal"``: the solver's native status, kept in results."""
    return getattr(ms, "name", str(ms)).split(".")[-1]


def colwise(dense: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column-wise sparse (start, index, value) arrays of a dense matrix, for ``HighsLp.a_matrix_``."""
    starts, index, value = [0], [], []
    for j in range(dense.shape[1]):
        nz = np.flatnonzero(dense[:, j])
        index.extend(nz.tolist())
        value.extend(dense[nz, j].tolist())
        starts.append(len(index))
    return np.array(starts, dtype=np.int32), np.array(index, dtype=np.int32), np.array(value, dtype=np.float64)


def make_lp(cost, col_lower, col_upper, row_lower, row_upper, matrix: np.ndarray) -> highspy.HighsLp:
    """A ``HighsLp`` (minimisation) from dense data; ``matrix`` has shape (rows, cols)."""
    lp = highspy.HighsLp()
    lp.num_col_ = int(matrix.shape[1])
    lp.num_row_ = int(matrix.shape[0])
    lp.col_cost_ = np.asarray(cost, dtype=np.float64)
    lp.col_lower_ = np.asarray(col_lower, dtype=np.float64)
    lp.col_upper_ = np.asarray(col_upper, dtype=np.float64)
    lp.row_lower_ = np.asarray(row_lower, dtype=np.float64)
    lp.row_upper_ = np.asarray(row_upper, dtype=np.float64)
    start, index, value = colwise(matrix)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = start
    lp.a_matrix_.index_ = index
    lp.a_matrix_.value_ = value
    return lp
