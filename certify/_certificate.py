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

__all__ = ["local_bound", "local_bounds", "exact_violation", "exact_violations", "row_products", "CertificateCheck",
           "scenario_data", "ScenarioData"]

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
    return float(local_bounds(np.asarray(bell, dtype=np.float64).reshape(1, -1), scenario)[0])


def local_bounds(bells: np.ndarray, scenario: Scenario) -> np.ndarray:
    """``local_bound`` of each row of ``bells`` (n, N) (flat functionals), shape (n,): one matrix product over the
    cached deterministic points up to ``LIST_UP_TO`` of them, else one separable enumeration per row."""
    from ._colgen import is_separable, separable

    bells = np.asarray(bells, dtype=np.float64)
    if is_separable(scenario) and scenario.n_deterministic > LIST_UP_TO:
        sep = separable(scenario)
        return np.array([sep.local_bound(b) for b in bells])
    return row_products(bells, scenario_data(scenario).d).max(axis=1)


#: Row blocks of ``row_products`` stay below this many multiply-adds: OpenBLAS runs such products on one thread.
#: Above it, its threads wait for each other on a busy machine: (480, 36) @ (36, 64) took 1.9-5.8 ms threaded
#: against 0.2 ms on one thread at load ~7 on the 2-core machine (docs/performance.md).
ONE_THREAD_MACS = 2**18


def row_products(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for a batch of rows ``a`` (n, N) and a matrix ``b`` (N, K), in row blocks of at most
    ``ONE_THREAD_MACS`` multiply-adds."""
    rows = max(1, ONE_THREAD_MACS // max(1, b.shape[0] * b.shape[1]))
    if len(a) <= rows:
        return a @ b
    return np.concatenate([a[i : i + rows] @ b for i in range(0, len(a), rows)])


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
    maximum over the deterministic points (bipartite above ``LIST_UP_TO`` points: int64 partial sums over one
    party's strategies; else float64 while every partial sum stays below 2**53, else int64); ``<B_int, p>`` is
    summed in Python integers over ``p_i = M_i 2**(e_i - 53)``.
    """
    return exact_violations(np.reshape(bell, (1, -1)), np.reshape(p, (1, -1)), scenario, cap)[0]


def exact_violations(bells: np.ndarray, ps: np.ndarray, scenario: Scenario, cap: float | None = None) -> list[Fraction]:
    """``exact_violation`` of each row pair of ``bells`` and ``ps`` (both (n, N), flat): the integer functionals
    and their local bounds for all rows at once, then one exact Python-integer sum per row."""
    from ._colgen import is_separable, separable

    b_int = _integer_functional(bells, cap).reshape(len(bells), -1)
    if is_separable(scenario) and scenario.n_deterministic > LIST_UP_TO:  # int64 partial sums, one party's strategies
        sep = separable(scenario)
        lb_int = [sep.local_bound_int(b) for b in b_int]
    else:
        d = scenario_data(scenario).d
        if d.shape[0] * (float(np.abs(b_int).max(initial=0)) + 1.0) < 2.0**53:  # every partial sum exact in float64
            lb_int = row_products(b_int.astype(np.float64), d).max(axis=1).astype(np.int64).tolist()
        else:  # pragma: no cover - only for very large scenarios
            lb_int = (b_int @ d.astype(np.int64)).max(axis=1).tolist()
    q = np.asarray(ps, dtype=np.float64).reshape(len(b_int), -1)
    mant, expo = np.frexp(q)
    m_int = (mant * 2.0**53).astype(np.int64)  # exact: |mant| < 1
    out = []
    for b, mi, ex, lb in zip(b_int, m_int, expo, lb_int):
        nz = np.flatnonzero(b * (mi != 0))
        num, shift = 0, 0
        if nz.size:
            e = ex[nz]
            e_min = int(e.min())
            num = sum(map(operator.lshift, map(operator.mul, b[nz].tolist(), mi[nz].tolist()), (e - e_min).tolist()))
            shift = e_min - 53  # <B_int, p> = num * 2**shift
        if shift >= 0:
            out.append(Fraction((num << shift) - int(lb), 2**BITS))
        else:
            out.append(Fraction(num - (int(lb) << -shift), 2 ** (BITS - shift)))
    return out


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
