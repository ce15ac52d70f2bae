"""surrogates: learned answers and the data they learn from.

Now: datasets — behaviours sampled with a stated measure (``bellcore``'s samplers), labelled with certified answers
from ``certify`` (NL with its certificate status, NBL intervals, local/quantum/postquantum classes), produced chunk
by chunk as a pure function of ``(DatasetSpec, chunk index)`` so that any number of workers, and any interruption,
give the same data. Learned answers: ensembles of MLP / max-affine / input-convex members (equinox, optax) on feature maps of the
behaviour, blended by a genetic algorithm (nevergrad), wrapped as a differentiable ``Surrogate`` (docs/surrogates.md).
"""

from ._dataset import (
    DATASET_KINDS,
    DATASET_MEASURES,
    STATUS_NAMES,
    DatasetSpec,
    chunk_rng,
    label_fields,
    make_chunk,
    make_chunk_json,
    summarise,
)

from ._augment import augmentation
from ._blend import BLEND_OPTIMIZERS, CE_WEIGHT, BlendResult, blend, blend_error
from ._ensemble import TASKS, Ensemble, Prediction, specs_from_json
from ._evaluate import ClassificationReport, RegressionReport, evaluate_classification, evaluate_regression, predict_batched
from ._dual import DualPieces, dual_pieces, pieces_on_features, prune_pieces
from ._features import FEATURE_SETS, FeatureMap, canonical_behaviour, feature_map, features, network_layout
from ._members import ACTIVATIONS, ICNN, MEMBER_KINDS, MLP, GroupSpec, Margins, MaxAffine, dual_group, dual_group_pieces
from ._surrogate import TARGETS, FitResult, Surrogate, fit_surrogate, split_indices
from ._train import LOSSES, MAX_MEMBERS, MAX_SEED, TrainConfig, TrainCurves, train_ensemble
from ._presets import DUAL_PRESETS, PRESETS, preset_config
from ._training_data import MIN_TRAINING_ROWS, training_data
from ._model_file import (
    ModelSkeleton,
    group_bytes,
    group_from_bytes,
    model_hyperparameters,
    skeleton_from_hyperparameters,
    surrogate_from_arrays,
)
from certify._usable import LABEL_TARGETS, TARGET_DEFINITIONS, USABLE_STATUSES, nbl_target, usable_labels

__all__ = [
    "training_data",
    "MIN_TRAINING_ROWS",
    "ModelSkeleton",
    "model_hyperparameters",
    "group_bytes",
    "skeleton_from_hyperparameters",
    "group_from_bytes",
    "surrogate_from_arrays",
    "usable_labels",
    "nbl_target",
    "USABLE_STATUSES",
    "LABEL_TARGETS",
    "TARGET_DEFINITIONS",
    "Surrogate",
    "Prediction",
    "Ensemble",
    "FEATURE_SETS",
    "FeatureMap",
    "feature_map",
    "features",
    "network_layout",
    "GroupSpec",
    "canonical_behaviour",
    "DualPieces",
    "dual_pieces",
    "pieces_on_features",
    "prune_pieces",
    "dual_group",
    "dual_group_pieces",
    "MLP",
    "MaxAffine",
    "ICNN",
    "MEMBER_KINDS",
    "Margins",
    "ACTIVATIONS",
    "TrainConfig",
    "MAX_MEMBERS",
    "MAX_SEED",
    "specs_from_json",
    "TrainCurves",
    "train_ensemble",
    "LOSSES",
    "TASKS",
    "TARGETS",
    "blend",
    "blend_error",
    "BlendResult",
    "BLEND_OPTIMIZERS",
    "CE_WEIGHT",
    "augmentation",
    "fit_surrogate",
    "FitResult",
    "split_indices",
    "PRESETS",
    "DUAL_PRESETS",
    "preset_config",
    "evaluate_regression",
    "evaluate_classification",
    "RegressionReport",
    "ClassificationReport",
    "predict_batched",
    "DatasetSpec",
    "DATASET_KINDS",
    "DATASET_MEASURES",
    "STATUS_NAMES",
    "make_chunk",
    "make_chunk_json",
    "chunk_rng",
    "label_fields",
    "summarise",
]
