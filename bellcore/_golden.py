"""Closed-form values used as golden references: the one place the demo, the tests and the docs take them from.

Each function says where its formula comes from (docs/golden.md has the derivations and the checks). Values are
in bellscope's normalisations (docs/measures.md): NL and NBL divide the L1 distance by 2 x (number of setting
combinations); visibility is the largest white-noise weight v keeping ``v p + (1 - v) u`` local.
"""

from __future__ import annotations

import math

__all__ = [
    "NL_PR_BOX",
    "NL_TSIRELSON",
    "VISIBILITY_PR_BOX",
    "VISIBILITY_TSIRELSON",
    "LOCAL_FRACTION_NS_M2",
    "CHSH_CUBE_LOCAL",
    "CHSH_CUBE_QUANTUM",
    "nl_from_chsh",
    "nl_isotropic_pr",
    "visibility_isotropic_pr",
    "nl_werner_chsh",
    "visibility_werner_chsh",
    "nl_embedded",
    "chained_value",
    "nl_chained_bound",
    "visibility_chained",
    "nbl_werner",
]

_S2 = math.sqrt(2.0)


def nl_from_chsh(chsh_max: float) -> float:
    """m = 2, anywhere on the NS polytope: NL = max(0, (CHSH_max - 2)/8), CHSH_max the largest of the 8 variants."""
    return max(0.0, (chsh_max - 2.0) / 8.0)


#: The PR box (CHSH = 4) and the Tsirelson point (CHSH = 2 sqrt2, unbiased marginals).
NL_PR_BOX = nl_from_chsh(4.0)  # 1/4
NL_TSIRELSON = nl_from_chsh(2 * _S2)  # (sqrt2 - 1)/4 = 0.10355339059327...
VISIBILITY_PR_BOX = 0.5
VISIBILITY_TSIRELSON = 1 / _S2


def nl_isotropic_pr(v: float) -> float:
    """``v PR + (1 - v) u``: CHSH = 4v, so NL = max(0, (v - 1/2)/2)."""
    return nl_from_chsh(4.0 * v)


def visibility_isotropic_pr(v: float) -> float:
    """White-noise visibility of ``v PR + (1 - v) u``: 1/(2v), capped at 1 (local for v <= 1/2)."""
    return min(1.0, 0.5 / v) if v > 0 else 1.0


def nl_werner_chsh(v: float) -> float:
    """Werner state of visibility v with the CHSH-optimal measurements: CHSH = 2 sqrt2 v."""
    return nl_from_chsh(2 * _S2 * v)


def visibility_werner_chsh(v: float) -> float:
    """1/(sqrt2 v), capped at 1."""
    return min(1.0, 1 / (_S2 * v)) if v > 0 else 1.0


def nl_embedded(nl_m2: float, m: int) -> float:
    """An m = 2 behaviour embedded in m settings (extra settings copy setting 0 or are noise): 4 NL_2 / m^2."""
    return 4.0 * nl_m2 / m**2


def chained_value(m: int) -> float:
    """Chained Bell expression on the maximally entangled state (a_k = k pi/m, b_k = (k + 1/2) pi/m): 2m cos(pi/2m)."""
    return 2 * m * math.cos(math.pi / (2 * m))


def nl_chained_bound(m: int) -> float:
    """NL of the chained correlations is at least (I_m - 2m + 2)/(2 m^2); equality at m = 3: (3 sqrt3 - 4)/18."""
    return (chained_value(m) - 2 * m + 2) / (2 * m**2)


def visibility_chained(m: int) -> float:
    """Visibility of the chained correlations against the chained inequality (local bound 2m - 2): (2m - 2)/I_m.

    Exact at m = 2 (1/sqrt2) and m = 3 (4/I_3, certified by the LP); an upper bound in general.
    """
    return min(1.0, (2 * m - 2) / chained_value(m))


def nbl_werner(v: float, variant: str = "binary") -> float:
    """Certified NBL of Werner sources with the BRGP measurements (checked by branch-and-bound, docs/golden.md).

    binary: max(0, (sqrt2 v - 1)/4); bsm: max(0, (v^2 - 1/2)/4) -- the paper's "v^2 - 1/2" is 4x the latter
    (its distance does not divide by the 4 setting pairs (x, z)).
    """
    if variant == "binary":
        return max(0.0, (_S2 * v - 1.0) / 4.0)
    if variant == "bsm":
        return max(0.0, (v * v - 0.5) / 4.0)
    raise ValueError(f"unknown bilocal variant {variant!r}; expected 'binary' or 'bsm'")


#: Fraction of the m = 2 NS polytope's volume that is local (exact).
LOCAL_FRACTION_NS_M2 = 16 / 17
#: CHSH correlators uniform in [-1, 1]^4: local fraction (exact) and quantum fraction, local included (exact).
CHSH_CUBE_LOCAL = 2 / 3
CHSH_CUBE_QUANTUM = 3 * math.pi**2 / 32
