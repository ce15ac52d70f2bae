"""runs: the product's face — the ``bellscope`` command line, file interchange, and (from the dataset
work on) one self-describing HDF5 file per run."""

import importlib
from typing import Any

# Names resolve on first use (PEP 562), so ``import runs`` -- and with it ``bellscope --help`` -- does not pay for
# JAX and the solvers; each name lives in the module given here.
_WHERE = {
    "load_behaviours": "runs.files._io",
    "run_dataset": "runs.jobs._dataset_run",
    "read_dataset": "runs.jobs._dataset_run",
    "rich_progress": "runs.cli._progress",
    "run_train": "runs.jobs._model_run",
    "save_model": "runs.files._model_file",
    "load_model": "runs.files._model_file",
    "read_model": "runs.files._model_file",
    "ModelFile": "runs.files._model_file",
    "run_discover": "runs.jobs._discover_run",
    "read_discovery": "runs.jobs._discovery_file",
    "load_discovery_config": "runs.jobs._discover_config",
    "discovery_config_names": "runs.jobs._discover_config",
    "parse_discovery_config": "runs.jobs._discover_config",
    "DiscoveryConfig": "runs.jobs._discovery_types",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    "parse_discovery_config",
    "DiscoveryConfig",
]
