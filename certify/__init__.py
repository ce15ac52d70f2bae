"""certify: exact answers by linear programming, each with a certificate anyone can re-check.

- ``nonlocality``: NL, the trace distance to the local set, with its dual Bell functional.
- ``visibility``: white-noise visibility, with its Bell functional.
  Both take ``method="enumerate" | "colgen" | "auto"``: column generation with exact local bounds by one party's
  strategies (``_colgen``) runs bipartite scenarios up to 16 binary settings per party.
- ``nonbilocality``: certified interval [lower, upper] for NBL in the bilocal network, with a bilocal model.
- ``nonlocality_many`` / ``visibility_many`` / ``certify_many``: batches (progress callback, optional processes,
  order kept).
- ``tripartite_nonlocality``: NL of a bilocal-network behaviour read as a 3-party Bell scenario (no source
  independence), with its tripartite Bell functional.
- ``network_nonlocality``: certified interval [lower, upper] for the distance to the network-local set of any
  small network (``bellcore.NetworkScenario``: triangle, chains, stars, the bilocal network), with an explicit
  ``NetworkModel`` and a fanout-inflation ``InflationCertificate`` (docs/networks.md).
- ``check_nonlocality`` / ``check_visibility`` / ``check_bilocal_model`` / ``check_network_model`` /
  ``check_inflation_certificate``: solver-free re-verification.

Every result has a ``status`` (``Status``); branch on the groups ``SOLVED`` (a usable value: optimal or
inaccurate), ``LIMITED`` (a limit stopped the solver; bounds stay valid) and ``FAILED``, never on ad-hoc tuples.
``message`` and ``solver_status`` keep the solver's own words and native status. Every entry point takes
``throw=True`` to raise ``CertificationError`` (carrying the result) instead of returning an unsolved status.
"""

from ._batch import MEASURES, certify_many, nonlocality_many, visibility_many
from ._certificate import CertificateCheck, exact_violation, local_bound
from ._nbl import BilocalModel, NonbilocalityResult, check_bilocal_model, nonbilocality
from ._labels import LABEL_METHODS, NBLLabel, nbl_label
from ._inflation import InflationCertificate, check_inflation_certificate
from ._network import NetworkResult, network_nonlocality
from ._network_model import NetworkModel, check_network_model
from ._nl import NonlocalityResult, check_nonlocality, nonlocality
from ._nl3 import tripartite_nonlocality
from ._result import FAILED, LIMITED, SOLVED, ZERO_TOL, CertificationError, Status
from ._usable import LABEL_TARGETS, TARGET_DEFINITIONS, USABLE_STATUSES, nbl_target, usable_labels
from ._visibility import VisibilityResult, check_visibility, visibility

__all__ = [
    "LABEL_METHODS",
    "NBLLabel",
    "nbl_label",
    "Status",
    "usable_labels",
    "nbl_target",
    "USABLE_STATUSES",
    "LABEL_TARGETS",
    "TARGET_DEFINITIONS",
    "SOLVED",
    "LIMITED",
    "FAILED",
    "CertificationError",
    "ZERO_TOL",
    "NonlocalityResult",
    "nonlocality",
    "check_nonlocality",
    "tripartite_nonlocality",
    "NonbilocalityResult",
    "nonbilocality",
    "BilocalModel",
    "check_bilocal_model",
    "NetworkResult",
    "network_nonlocality",
    "NetworkModel",
    "check_network_model",
    "InflationCertificate",
    "check_inflation_certificate",
    "VisibilityResult",
    "visibility",
    "check_visibility",
    "certify_many",
    "nonlocality_many",
    "visibility_many",
    "MEASURES",
    "CertificateCheck",
    "local_bound",
    "exact_violation",
]
