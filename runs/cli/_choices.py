"""The command line's choice types: typer enums made from the light name lists of ``runs/_names.py``."""

from __future__ import annotations

from enum import Enum

from runs import _names as N

__all__ = ["choice", "Measure", "DatasetScenario", "Variant", "ModelTarget", "ModelPreset", "ReproduceTarget",
           "ReproducePreset", "ExportFormat"]


def choice(name: str, values: tuple[str, ...]) -> type[Enum]:
    """A ``str`` enum whose members are ``values`` (member name = value), what typer shows as ``[a|b|c]``."""
    return Enum(name, [(v, v) for v in values], type=str)


#: ``certify --measure``: ``auto`` picks nl for Bell scenarios and nbl for the bilocal network.
Measure = choice("Measure", ("auto", *N.MEASURES))
DatasetScenario = choice("DatasetScenario", N.DATASET_KINDS)
Variant = choice("Variant", N.BILOCAL_VARIANTS)
ModelTarget = choice("ModelTarget", N.MODEL_TARGETS)
ModelPreset = choice("ModelPreset", N.MODEL_PRESETS)
ReproduceTarget = choice("ReproduceTarget", N.REPRODUCE_TARGETS)
ReproducePreset = choice("ReproducePreset", N.REPRODUCE_PRESETS)
ExportFormat = choice("ExportFormat", N.EXPORT_FORMATS)
