"""surrogates: learned answers and the data they learn from.

Now: datasets — behaviours sampled with a stated measure (``bellcore``'s samplers), labelled with certified answers
from ``certify`` (NL with its certificate status, NBL intervals, local/quantum/postquantum classes), produced chunk
by chunk as a pure function of ``(DatasetSpec, chunk index)`` so that any number of workers, and any interruption,
give the same data. Later: MLP ensembles (equinox/optax), blending, the classifier and evaluation tables.
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

__all__ = [
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
