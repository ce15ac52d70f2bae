"""Reference behaviours with known nonlocality (closed forms: ``bellcore.golden``, docs/golden.md)."""

from __future__ import annotations

import jax
import numpy as np

from ._behaviour import Behaviour
from ._quantum import QuantumStrategy, phi_plus, qubit_measurements_xz, werner_state
from ._scenario import BellScenario, Scenario

__all__ = [
    "from_correlators",
    "correlators_to_probabilities",
    "pr_box",
    "isotropic_pr",
    "tsirelson",
    "werner_chsh",
    "chained",
    "deterministic",
    "embed",
]


def from_correlators(E, A=None, B=None) -> Behaviour:
    """Binary bipartite behaviour from correlators ``E[..., x, y]`` and marginals ``A[..., x]``, ``B[..., y]``.

    ``p(a,b|x,y) = (1 + (-1)^a A_x + (-1)^b B_y + (-1)^(a+b) E_xy) / 4``; marginals default to 0.
    Batched over leading axes. The result is no-signalling by construction, but is only non-negative
    when the inputs are consistent; call ``validate()``.
    """
    E = np.asarray(E, dtype=np.float64)
    ma, mb = E.shape[-2:]
    A = np.zeros(E.shape[:-1]) if A is None else np.asarray(A, dtype=np.float64)
    B = np.zeros(E.shape[:-2] + (mb,)) if B is None else np.asarray(B, dtype=np.float64)
    return Behaviour(correlators_to_probabilities(A, B, E), BellScenario((2, 2), (ma, mb)))


def correlators_to_probabilities(A: np.ndarray, B: np.ndarray, E: np.ndarray) -> np.ndarray:
    """The array behind ``from_correlators``: ``(..., mA)``, ``(..., mB)``, ``(..., mA, mB)`` -> ``(..., 2, 2, mA, mB)``."""
    s = np.array([1.0, -1.0])
    return (
        1
        + s[:, None, None, None] * A[..., None, None, :, None]
        + s[None, :, None, None] * B[..., None, None, None, :]
        + (s[:, None] * s[None, :])[:, :, None, None] * E[..., None, None, :, :]
    ) / 4


def pr_box() -> Behaviour:
    """Popescu-Rohrlich box: a XOR b = x AND y, unbiased. NL = 1/4, visibility 1/2."""
    E = np.array([[1.0, 1.0], [1.0, -1.0]])
    return from_correlators(E)


def isotropic_pr(v: float) -> Behaviour:
    """``v * PR + (1 - v) * white noise``. NL = max(0, (v - 1/2) / 2)."""
    return pr_box().mix(v)


def tsirelson() -> Behaviour:
    """Tsirelson point: E_xy = (-1)^(xy) / sqrt(2), unbiased marginals. NL = (sqrt 2 - 1)/4."""
    return from_correlators(np.array([[1.0, 1.0], [1.0, -1.0]]) / np.sqrt(2))


def werner_chsh(v: float) -> Behaviour:
    """Werner state ``v Phi+ + (1-v) I/4`` with the CHSH-optimal X-Z measurements (Born rule).

    Equals ``v * tsirelson + (1 - v) * white noise``: CHSH = 2 sqrt(2) v, nonlocal iff v > 1/sqrt(2).
    """
    a = lambda: qubit_measurements_xz(np.array([0.0, np.pi / 2]))  # noqa: E731
    b = lambda: qubit_measurements_xz(np.array([np.pi / 4, -np.pi / 4]))  # noqa: E731
    return _born64(lambda: QuantumStrategy(werner_state(v), a(), b()))


def chained(m: int) -> Behaviour:
    """Chained-Bell correlations on |Phi+>: angles a_k = k pi/m, b_k = (k + 1/2) pi/m (X-Z plane).

    E_xy = cos(a_x - b_y); chained value I_m = 2 m cos(pi / 2m). NL >= (I_m - 2m + 2) / (2 m^2), equality at m=3.
    """
    if m < 2:
        raise ValueError("chained correlations need m >= 2 settings")
    k = np.arange(m)
    return _born64(
        lambda: QuantumStrategy(phi_plus(), qubit_measurements_xz(k * np.pi / m), qubit_measurements_xz((k + 0.5) * np.pi / m))
    )


def _born64(make) -> Behaviour:
    """Build a strategy and apply the Born rule in float64 (reference values must validate at 1e-9)."""
    with jax.enable_x64(True):
        strat = make()
        return Behaviour(np.asarray(strat.probabilities(), dtype=np.float64), strat.scenario)


def deterministic(scenario: Scenario, strategy) -> Behaviour:
    """The deterministic behaviour where party k answers ``strategy[k][x_k]``."""
    strategy = tuple(tuple(int(o) for o in f) for f in strategy)
    try:
        k = scenario.deterministic_strategies().index(strategy)
    except ValueError:
        raise ValueError(f"{strategy} is not a deterministic strategy of {scenario}") from None
    return Behaviour(np.array(scenario.deterministic_points()[k]), scenario)


def embed(beh: Behaviour, m: int, fill: str = "copy") -> Behaviour:
    """Embed a bipartite behaviour into ``m`` settings per party.

    ``fill="copy"``: extra settings repeat setting 0; ``fill="noise"``: extra settings are white noise.
    NL then scales as ``4 NL_2 / m^2`` from m=2 (docs/golden.md).
    """
    sc = beh.scenario
    if not isinstance(sc, BellScenario) or beh.is_batch:
        raise ValueError("embed takes one bipartite behaviour")
    ma, mb = sc.settings
    if m < max(ma, mb):
        raise ValueError(f"cannot embed {sc} into fewer settings ({m})")
    p = beh.numpy()
    out = np.empty(sc.outcomes + (m, m))
    if fill == "copy":
        xs = [x if x < ma else 0 for x in range(m)]
        ys = [y if y < mb else 0 for y in range(m)]
        out = p[:, :, xs][:, :, :, ys]
    elif fill == "noise":
        out[...] = 1.0 / np.prod(sc.outcomes)
        out[:, :, :ma, :mb] = p
    else:
        raise ValueError(f"fill must be 'copy' or 'noise', not {fill!r}")
    return Behaviour(out, BellScenario(sc.outcomes, (m, m)))
