"""The names the command line offers as choices, as plain tuples: this module imports nothing, so ``bellscope
--help`` lists them without loading JAX or the solvers.

Each tuple equals a library registry, in the library's order (``tests/test_cli_start.py`` checks every one):
the library cannot import from ``runs`` and its packages load JAX on import, so the command line keeps this light
copy and the test keeps it true. ``REPRODUCE_*`` and ``EXPORT_FORMATS`` are ``runs``' own lists (``runs/pipeline/_reproduce.py`` imports
them from here).
"""

from __future__ import annotations

__all__ = [
    "SAMPLERS",
    "BILOCAL_VARIANTS",
    "MEASURES",
    "DATASET_KINDS",
    "MODEL_TARGETS",
    "MODEL_PRESETS",
    "FEATURE_SETS",
    "REPRODUCE_TARGETS",
    "REPRODUCE_PRESETS",
    "EXPORT_FORMATS",
]

#: ``tuple(bellcore.SAMPLERS)``: the samplers of datasets.
SAMPLERS = ("uniform-ns", "marginal-first", "vertex-mixture", "quantum", "local", "features-ij", "features-abc",
            "chsh-correlators", "network-local")
#: ``bellcore.BILOCAL_VARIANTS``.
BILOCAL_VARIANTS = ("binary", "bsm")
#: ``certify.MEASURES``: what ``certify_many`` computes.
MEASURES = ("nl", "visibility", "nbl")
#: ``surrogates.DATASET_KINDS``: a dataset's scenario kind.
DATASET_KINDS = ("bell", "bilocal", "chsh-correlators", "network")
#: ``surrogates.TARGETS``: what a model learns.
MODEL_TARGETS = ("nl", "nbl", "class", "network")
#: ``surrogates.PRESETS``: the training presets.
MODEL_PRESETS = ("quick", "paper", "maxaffine", "margins", "dual", "dual-bound", "censored")
#: ``tuple(surrogates.FEATURE_SETS)``: the feature maps a model can learn on.
FEATURE_SETS = ("full", "canonical", "network", "ij", "abc", "correlators", "correlators-asin")

#: The paper's tables and figures ``bellscope reproduce`` makes.
REPRODUCE_TARGETS = ("table1", "table2", "fig2", "fig3")
#: The scales of a reproduction. ``dual``: the quick sizes, with the NL models of Table I trained with the ``dual``
#: model preset (dual-vertex member + MLPs on canonical features); every other model as ``quick``.
REPRODUCE_PRESETS = ("quick", "paper", "dual")
#: What ``runs export`` writes (``runs/files/_export.py``: ``write_json``, ``write_npy``).
EXPORT_FORMATS = ("json", "npy")
