"""bellcore: the shared language of bellscope.

Scenarios, the ``Behaviour`` data type (``p[outcomes..., settings...]``), relabelling symmetries,
quantum strategies (Born rule in JAX) and reference behaviours.
"""

from ._behaviour import Behaviour, default_tolerance
from ._quantum import (
    PAULI,
    QuantumStrategy,
    density_matrix,
    is_povm,
    phi_plus,
    pure_two_qubit_state,
    qubit_measurements_xz,
    qubit_projective,
    werner_state,
)
from ._reference import chained, deterministic, embed, from_correlators, isotropic_pr, pr_box, tsirelson, werner_chsh
from ._scenario import BellScenario, BilocalScenario, Scenario, infer_scenario, scenario_from_json
from ._symmetry import random_relabelling, relabel_outcomes, relabel_settings, swap_parties

__all__ = [
    "Behaviour",
    "default_tolerance",
    "Scenario",
    "BellScenario",
    "BilocalScenario",
    "infer_scenario",
    "scenario_from_json",
    "QuantumStrategy",
    "PAULI",
    "qubit_projective",
    "qubit_measurements_xz",
    "pure_two_qubit_state",
    "werner_state",
    "phi_plus",
    "density_matrix",
    "is_povm",
    "from_correlators",
    "pr_box",
    "isotropic_pr",
    "tsirelson",
    "werner_chsh",
    "chained",
    "deterministic",
    "embed",
    "relabel_settings",
    "relabel_outcomes",
    "swap_parties",
    "random_relabelling",
]
