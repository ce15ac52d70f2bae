"""Solver-free checks of Bell-functional certificates.

Everything here uses only the scenario's deterministic points: no LP solver is involved, so a reader
can re-verify a certificate with numpy alone (and, for the final verdict, exact integer arithmetic).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from bellcore import Scenario

__all__ = ["local_bound", "exact_violation", "CertificateCheck"]

#: Certificates are rounded to integers / 2**BITS for the exact verdict.
BITS = 40


def local_bound(bell: np.ndarray, scenario: Scenario) -> float:
    """``max_{p in L} <bell, p>`` by enumerating the deterministic points (the max of a linear function
    over a polytope is attained at a vertex)."""
    d = scenario.deterministic_points().reshape(scenario.n_deterministic, -1)
    return float((d @ np.asarray(bell, dtype=np.float64).reshape(-1)).max())


def _integer_functional(bell: np.ndarray, cap: float | None) -> np.ndarray:
    """``bell`` rounded to integers in units of 2**-BITS (optionally clipped to |B| <= cap, rounding inwards)."""
    scaled = np.rint(np.asarray(bell, dtype=np.float64) * 2.0**BITS)
    if cap is not None:
        lim = np.floor(cap * 2.0**BITS)
        scaled = np.clip(scaled, -lim, lim)
    return scaled.astype(np.int64).reshape(-1)


def exact_violation(bell: np.ndarray, p: np.ndarray, scenario: Scenario, cap: float | None = None) -> Fraction:
    """Exact value of ``<B, p> - max_L <B, .>`` for ``B`` = ``bell`` rounded to multiples of 2**-BITS.

    ``p`` is taken exactly as the float64 numbers it holds (every float is a rational). The local bound
    is an integer maximum over the deterministic points (int64 arithmetic, no overflow for |B| <= 1 and
    fewer than 2**20 entries). A positive result proves that ``p`` lies outside the local set, and is a
    lower bound on the L1 distance when ``cap`` is the scenario's normalisation.
    """
    b_int = _integer_functional(bell, cap)
    d = scenario.deterministic_points().reshape(scenario.n_deterministic, -1).astype(np.int64)
    lb_int = int((d @ b_int).max())
    # <B, p> exactly: every float is n / 2**e; put all terms over the largest power of two (pure int arithmetic).
    terms = [float(pi).as_integer_ratio() for pi, bi in zip(np.asarray(p, dtype=np.float64).reshape(-1), b_int) if bi]
    den = max((t[1] for t in terms), default=1)
    num = sum(n * (den // dd) * int(bi) for (n, dd), bi in zip(terms, (b for b in b_int if b)))
    dot = Fraction(num, den)
    return (dot - lb_int) / Fraction(2**BITS)


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
