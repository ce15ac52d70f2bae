"""Solver-free checks of Bell-functional certificates.

Everything here uses only the scenario's deterministic points: no LP solver is involved, so a reader
can re-verify a certificate with numpy alone (and, for the final verdict, exact integer arithmetic).
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from bellcore import Scenario

__all__ = ["local_bound", "exact_violation", "CertificateCheck", "scenario_data", "ScenarioData"]

#: Certificates are rounded to integers / 2**BITS for the exact verdict.
BITS = 40

#: Bipartite scenarios with at most this many deterministic points take their local bounds from the cached list of
#: points (one matrix product: ~7 us at m = 2, against ~100 us for the separable enumeration); larger ones by
#: enumerating one party's strategies (exact either way; measured in docs/performance.md).
LIST_UP_TO = 2**10


def local_bound(bell: np.ndarray, scenario: Scenario) -> float:
    """``max_{p in L} <bell, p>``, attained at a deterministic point (the max of a linear function over a polytope
    is attained at a vertex): bipartite Bell scenarios enumerate one party's strategies, the other's best
    response separating by setting (``certify._colgen.Separable``), above ``LIST_UP_TO`` points; smaller and
    tripartite scenarios enumerate every point."""
    from ._colgen import is_separable, separable

    if is_separable(scenario) and scenario.n_deterministic > LIST_UP_TO:
        return separable(scenario).local_bound(bell)
    return float((_deterministic_rows(scenario) @ np.asarray(bell, dtype=np.float64).reshape(-1)).max())


def _integer_functional(bell: np.ndarray, cap: float | None) -> np.ndarray:
    """``bell`` rounded to integers in units of 2**-BITS (optionally clipped to |B| <= cap, rounding inwards)."""
    scaled = np.rint(np.asarray(bell, dtype=np.float64) * 2.0**BITS)
    if cap is not None:
        lim = np.floor(cap * 2.0**BITS)
        scaled = np.clip(scaled, -lim, lim)
    return scaled.astype(np.int64).reshape(-1)


def exact_violation(bell: np.ndarray, p: np.ndarray, scenario: Scenario, cap: float | None = None) -> Fraction:
    """Exact value of ``<B, p> - max_L <B, .>`` for ``B`` = ``bell`` rounded to multiples of 2**-BITS.

    ``p`` is taken exactly as the float64 numbers it holds (every float is a rational). A positive result
    proves that ``p`` lies outside the local set, and is a lower bound on the L1 distance when ``cap`` is the
    scenario's normalisation (the rounding then stays inside ``|B| <= cap``).

    Arithmetic, all exact: ``B_int`` are integers; the local bound ``max_k <d_k, B_int>`` is an integer
    maximum over the deterministic points (bipartite: int64 partial sums over one party's strategies; else
    float64 while every partial sum stays below 2**53, else int64); ``<B_int, p>`` is summed in Python integers over ``p_i = M_i 2**(e_i - 53)``.
    """
    from ._colgen import is_separable, separable

    b_int = _integer_functional(bell, cap)
    if is_separable(scenario) and scenario.n_deterministic > LIST_UP_TO:  # int64 partial sums, one party's strategies
        lb_int = separable(scenario).local_bound_int(b_int)
    else:
        dk = _deterministic_rows(scenario)
        if dk.shape[1] * (float(np.abs(b_int).max(initial=0)) + 1.0) < 2.0**53:
            lb_int = int((dk @ b_int.astype(np.float64)).max())
        else:  # pragma: no cover - only for very large scenarios
            lb_int = int((dk.astype(np.int64) @ b_int).max())
    q = np.asarray(p, dtype=np.float64).reshape(-1)
    nz = np.flatnonzero(b_int * (q != 0))
    num, shift = 0, 0
    if nz.size:
        mant, expo = np.frexp(q[nz])
        m_int = (mant * 2.0**53).astype(np.int64).tolist()  # exact: |mant| < 1
        e_min = int(expo.min())
        num = sum(map(operator.lshift, map(operator.mul, b_int[nz].tolist(), m_int), (expo - e_min).tolist()))
        shift = e_min - 53  # <B_int, p> = num * 2**shift
    if shift >= 0:
        return Fraction((num << shift) - lb_int, 2**BITS)
    return Fraction(num - (lb_int << -shift), 2 ** (BITS - shift))


class ScenarioData:
    """The deterministic-point matrices of one scenario, built once and shared by every LP and check.

    ``dk``: (K, N) C-contiguous, row k the flattened deterministic point k; ``d``: its transpose (N, K), columns of
    the LPs; ``c``: the normalisation 1/(2 #setting combinations); ``shape``: one behaviour's shape.
    """

    def __init__(self, sc: Scenario):
        sc.check_full_enumeration()
        self.scenario = sc
        self.dk = np.ascontiguousarray(sc.deterministic_points().reshape(sc.n_deterministic, -1))
        self.d = np.ascontiguousarray(self.dk.T)
        self.c = sc.normalisation
        self.shape = sc.shape


@functools.lru_cache(maxsize=32)
def scenario_data(sc: Scenario) -> ScenarioData:
    return ScenarioData(sc)


def _deterministic_rows(scenario: Scenario) -> np.ndarray:
    return scenario_data(scenario).dk


@dataclass(frozen=True)
class CertificateCheck:
    """Outcome of a solver-free certificate check.

    Attributes:
        ok: every check below passed.
        recomputed: the value recomputed from the certificate alone.
        exact: for a positive (nonlocal) verdict, the exact rational violation of the rounded functional
            (``None`` when the verdict is "local" and no exact check is needed).
        reason: empty when ok, else what failed.
    """

    ok: bool
    recomputed: float
    exact: Fraction | None = None
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok
