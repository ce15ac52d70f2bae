"""discover: searches over parametrised quantum strategies for nonlocal correlations, every candidate certified.

- Parametrised components (``_params``): states and measurements whose array leaves are unconstrained reals.
- Strategies (``BellStrategy``, ``NetworkStrategy``) and families built from a mapping (``family_from_spec``).
- ``Objective``: any target of the behaviour array (a surrogate, a Bell value) minus constraint penalties.
- Searchers (``GradientSearch``, ``NevergradSearch``, ``RandomSearch``) run by one loop (``search``).
- ``learn``: a surrogate trained on the searched family, refined round by round at its searchers' maxima (certified labels, warm refits).
- Exact quantities with gradients (``exact_nl``, ``exact_tripartite_nl``, ``exact_nbl_upper``): certify's LP values
  as JAX functions of the behaviour, differentiated by their optimal duals; each is an ``Objective`` target.
- ``certify_candidates``: deduplicate, certify (NL / NBL / tripartite NL) and decide what is a discovery.
- Networks (the triangle): ``TriangleStrategy`` / ``JointMeasurement`` (family ``scenario = "triangle"``),
  ``exact_inflation_lower`` (a fanout inflation's certified lower bound with its primal-dual gradient) and
  ``network_search`` (search it, certify the best with ``certify.network_nonlocality``) and
  ``certify_network_candidates``. Labelled network datasets: ``bellscope dataset --scenario network`` (surrogates).

Imports bellcore and certify only; long work takes ``progress(done, total, info)``.
"""

from ._baseline import upper_bound_objective
from ._certify import Candidates, certify_candidates, check_discoveries, signature
from ._discovery import Constraints, bounds_hold, bounds_hold_flat, is_discovery, meets_constraints
from ._exact import ExactQuantity, exact_nbl_upper, exact_nl, exact_tripartite_nl
from ._learn import LABEL_SOURCES, LEARN_FIELDS, Labels, LearnResult, LearnRound, behaviours_of, best_distinct, learn
from ._family import FAMILY_KEYS, Family, family_from_spec
from ._objective import NAN_VALUE, Evaluation, Objective, brgp_target, chsh_target, leaf_paths
from ._params import (
    BlochMeasurements,
    FixedMeasurement,
    LossyMeasurements,
    MixedState,
    PlaneMeasurements,
    ProductMeasurements,
    PureState,
    ThetaState,
    TwoQubitProjective,
    WernerState,
    complex_dtype,
)
from ._search import (
    NEVERGRAD_OPTIMISERS,
    GradientEngine,
    GradientSearch,
    NevergradSearch,
    PythonObjective,
    RandomSearch,
    SearchResult,
    Trace,
    search,
)
from ._strategy import BellStrategy, NetworkStrategy, params_of, with_params
from ._triangle import DEFAULT_GROUPS, JointMeasurement, TriangleStrategy, born_triangle
from ._network_exact import dual_bound_parts, exact_inflation_lower, inflation_lower_and_grad
from ._network_search import (
    certify_network_candidates,
    NetworkCandidate,
    NetworkSearchResult,
    amplified,
    network_objective,
    network_search,
)

__all__ = [
    "LABEL_SOURCES",
    "LEARN_FIELDS",
    "Labels",
    "LearnResult",
    "LearnRound",
    "behaviours_of",
    "best_distinct",
    "learn",
    "PureState",
    "MixedState",
    "ThetaState",
    "WernerState",
    "BlochMeasurements",
    "PlaneMeasurements",
    "LossyMeasurements",
    "ProductMeasurements",
    "TwoQubitProjective",
    "FixedMeasurement",
    "complex_dtype",
    "BellStrategy",
    "NetworkStrategy",
    "params_of",
    "with_params",
    "Family",
    "family_from_spec",
    "FAMILY_KEYS",
    "Objective",
    "Evaluation",
    "NAN_VALUE",
    "leaf_paths",
    "chsh_target",
    "brgp_target",
    "GradientSearch",
    "NevergradSearch",
    "RandomSearch",
    "PythonObjective",
    "Trace",
    "SearchResult",
    "search",
    "NEVERGRAD_OPTIMISERS",
    "GradientEngine",
    "upper_bound_objective",
    "ExactQuantity",
    "exact_nl",
    "exact_tripartite_nl",
    "exact_nbl_upper",
    "Constraints",
    "is_discovery",
    "meets_constraints",
    "bounds_hold",
    "bounds_hold_flat",
    "Candidates",
    "certify_candidates",
    "check_discoveries",
    "signature",
    "DEFAULT_GROUPS",
    "JointMeasurement",
    "TriangleStrategy",
    "born_triangle",
    "exact_inflation_lower",
    "inflation_lower_and_grad",
    "dual_bound_parts",
    "NetworkCandidate",
    "NetworkSearchResult",
    "amplified",
    "network_objective",
    "network_search",
    "certify_network_candidates",
]
