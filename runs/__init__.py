"""runs: the product's face — the ``bellscope`` command line, file interchange, and (from the dataset
work on) one self-describing HDF5 file per run."""

from ._dataset_run import read_dataset, run_dataset
from ._discover_run import read_discovery, run_discover
from ._discover_config import discovery_config_names, load_discovery_config
from ._io import load_behaviours
from ._model_run import ModelFile, load_model, read_model, run_train, save_model
from ._progress import rich_progress

__all__ = [
    "load_behaviours",
    "run_dataset",
    "read_dataset",
    "rich_progress",
    "run_train",
    "save_model",
    "load_model",
    "read_model",
    "ModelFile",
    "run_discover",
    "read_discovery",
    "load_discovery_config",
    "discovery_config_names",
]
