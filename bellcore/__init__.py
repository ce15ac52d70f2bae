"""bellcore: the shared language of bellscope.

Scenarios, the ``Behaviour`` data type (``p[outcomes..., settings...]``), relabelling symmetries,
quantum strategies (Born rule in JAX), reference behaviours and samplers with stated measures.
"""

from . import _golden as golden
from ._behaviour import Behaviour, as_behaviour, default_tolerance, real_array
from ._fanout import ordered_map
from ._progress import Progress
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
from ._sampling import (
    CHSH_CLASSES,
    SAMPLERS,
    SamplerInfo,
    chsh_class,
    chsh_max,
    chsh_values,
    hit_and_run,
    ns_affine_basis,
    ns_vertices,
    sample,
    sample_uniform_ns,
    sampler_params,
)
from ._scenario import (
    BILOCAL_SHAPES,
    BILOCAL_VARIANTS,
    MAX_DETERMINISTIC,
    BellScenario,
    BilocalScenario,
    Scenario,
    infer_scenario,
    scenario_from_json,
)
from ._symmetry import random_relabelling, relabel_outcomes, relabel_settings, swap_parties

__all__ = [
    "golden",
    "Behaviour",
    "default_tolerance",
    "as_behaviour",
    "real_array",
    "Scenario",
    "BellScenario",
    "BilocalScenario",
    "infer_scenario",
    "BILOCAL_SHAPES",
    "BILOCAL_VARIANTS",
    "MAX_DETERMINISTIC",
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
    "Progress",
    "ordered_map",
    "SAMPLERS",
    "SamplerInfo",
    "sample",
    "sample_uniform_ns",
    "sampler_params",
    "ns_affine_basis",
    "hit_and_run",
    "ns_vertices",
    "chsh_values",
    "chsh_max",
    "chsh_class",
    "CHSH_CLASSES",
]

from ._network import (  # noqa: E402
    BELL_BASIS,
    BilocalStrategy,
    behaviour_from_correlators,
    behaviour_from_ij,
    bell_state_measurement,
    bilocal_werner,
    brgp_ij,
    brgp_measurement,
    brgp_strategy,
    brgp_value,
    features_correlators,
    features_ij,
    network_correlators,
    noisy_bell_state_measurement,
    two_qubit_projective,
)

__all__ += [
    "BELL_BASIS",
    "BilocalStrategy",
    "bell_state_measurement",
    "noisy_bell_state_measurement",
    "brgp_measurement",
    "two_qubit_projective",
    "brgp_strategy",
    "bilocal_werner",
    "network_correlators",
    "brgp_ij",
    "brgp_value",
    "features_ij",
    "features_correlators",
    "behaviour_from_correlators",
    "behaviour_from_ij",
]

from ._netspec import (  # noqa: E402
    NetworkScenario,
    bilocal_network,
    chain,
    ghz_triangle,
    network_behaviour,
    network_from_json,
    star,
    triangle,
    w_triangle,
)

__all__ += [
    "NetworkScenario",
    "network_from_json",
    "network_behaviour",
    "bilocal_network",
    "triangle",
    "chain",
    "star",
    "ghz_triangle",
    "w_triangle",
]

from ._netlocal import (  # noqa: E402
    einsum_labels,
    einsum_terms,
    network_local_probabilities,
    response_indicator,
    sample_network_local,
)

__all__ += ["network_local_probabilities", "einsum_labels", "einsum_terms", "response_indicator",
            "sample_network_local"]
