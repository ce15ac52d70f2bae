"""The model file format's library half: a ``Surrogate`` <-> hyperparameters JSON + arrays, with no file in sight.

A stored surrogate is (docs/run-files.md, "Model runs"):

- a hyperparameters JSON object (``model_hyperparameters``): the training config, the member groups
  (``GroupSpec.to_json``), the task, the feature dimension, the dtype, the member count and names, plus extras;
- one byte string per member group (``group_bytes``: ``eqx.tree_serialise_leaves``);
- the arrays ``x_mean (d,)``, ``x_std (d,)``, ``y_scale ()`` and the blend ``weights (K,)``;
- the feature set, scenario and target.

Reading goes the other way: ``skeleton_from_hyperparameters`` checks the JSON and says how many parameter bytes it
describes (``ModelSkeleton.parameter_bytes``, computed without allocating the members), then
``surrogate_from_arrays`` reads the bytes into the skeleton and checks every number. The file itself (HDF5, links,
sizes on disk) is ``runs``' business (``runs/files/_model_file.py``); everything here raises ``ValueError`` with a
one-line reason, since its inputs come from files a user hands in.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from bellcore import Scenario

from ._ensemble import Ensemble, specs_from_json
from ._features import feature_map
from ._members import GroupSpec
from ._surrogate import TARGETS, Surrogate
from ._train import MAX_MEMBERS

__all__ = [
    "ModelSkeleton",
    "model_hyperparameters",
    "group_bytes",
    "skeleton_from_hyperparameters",
    "group_from_bytes",
    "surrogate_from_arrays",
]

_DTYPES = {"float32": jnp.float32, "float64": jnp.float64}
_MAX_DIM = 1 << 20


def model_hyperparameters(surrogate: Surrogate, train_config: Mapping[str, Any],
                          extra: Mapping[str, Any] | None = None) -> dict:
    """The hyperparameters JSON object of ``surrogate``: what ``skeleton_from_hyperparameters`` rebuilds it from.

    Args:
        train_config: the training configuration (``TrainConfig.to_json()``).
        extra: more JSON-able entries (the blend's choice, the trivial predictor, the data used, ...).
    """
    ens = surrogate.ensemble
    return {
        "train_config": dict(train_config),
        "groups": [s.to_json() for s in ens.specs],
        "task": ens.task,
        "dim": ens.dim,
        "dtype": str(np.asarray(ens.x_mean).dtype),
        "n_members": ens.n_members,
        "member_names": ens.member_names(),
        **(dict(extra) if extra else {}),
    }


def group_bytes(group) -> np.ndarray:
    """One member group's parameters as ``eqx.tree_serialise_leaves`` bytes, a ``uint8 (n,)`` array."""
    buf = io.BytesIO()
    eqx.tree_serialise_leaves(buf, group)
    return np.frombuffer(buf.getvalue(), dtype=np.uint8)


@dataclass(frozen=True)
class ModelSkeleton:
    """The shape of a stored ensemble, checked: its groups, feature dimension, task and dtype.

    Attributes:
        specs: the ``GroupSpec`` of each member group, in order (1..``MAX_MEMBERS`` members in all).
        dim: feature dimension ``d``.
        task: ``"regression"`` or ``"classification"``.
        dtype: ``"float32"`` or ``"float64"``.
    """

    specs: tuple[GroupSpec, ...]
    dim: int
    task: str
    dtype: str

    @property
    def n_members(self) -> int:
        return sum(int(s.members) for s in self.specs)

    @property
    def jax_dtype(self):
        return _DTYPES[self.dtype]

    def parameter_bytes(self) -> int:
        """Bytes of member parameters this skeleton holds, computed without allocating it (``eqx.filter_eval_shape``):
        a forged width or piece count is caught before any memory is spent on it."""
        shapes = eqx.filter_eval_shape(Ensemble.init, self.specs, self.dim, self.task, jax.random.PRNGKey(0),
                                       dtype=self.jax_dtype)
        return sum(int(np.prod(x.shape)) * x.dtype.itemsize for x in jax.tree_util.tree_leaves(shapes.groups))

    def ensemble(self) -> Ensemble:
        """A freshly initialised ensemble of this shape (key 0): the ``like`` that stored bytes are read into."""
        return Ensemble.init(self.specs, self.dim, self.task, jax.random.PRNGKey(0), dtype=self.jax_dtype)


def skeleton_from_hyperparameters(hyper: Any) -> ModelSkeleton:
    """The ``ModelSkeleton`` a hyperparameters JSON object describes; ``ValueError`` if it describes none.

    Checks: a JSON object; 1..``MAX_MEMBERS`` members in named groups; dtype float32/float64 (float64 needs
    ``jax_enable_x64``); a positive integer dimension; a known task with members that fit it.
    """
    if not isinstance(hyper, dict):
        raise ValueError("its hyperparameters are not a JSON object")
    specs = specs_from_json(hyper["groups"])
    if not specs:
        raise ValueError("its hyperparameters name no member group")
    n_members = sum(int(s.members) for s in specs)
    if not 1 <= n_members <= MAX_MEMBERS:
        raise ValueError(f"its hyperparameters declare {n_members} members (1..{MAX_MEMBERS} allowed)")
    dtype = hyper.get("dtype")
    if dtype not in _DTYPES:
        raise ValueError(f"dtype {dtype!r} is neither float32 nor float64")
    if dtype == "float64" and not jax.config.jax_enable_x64:
        raise ValueError("it holds a float64 model; enable jax_enable_x64 to load it")
    dim = hyper.get("dim")
    if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= _MAX_DIM:
        raise ValueError(f"feature dimension {dim!r} is not a positive integer")
    return ModelSkeleton(specs, dim, hyper.get("task"), dtype)


def group_from_bytes(raw: bytes, spec: GroupSpec, like):
    """One member group's parameters from its ``group_bytes`` into the skeleton group ``like``.

    Margins groups written before margins members learned a logit scale hold ``(w, b)`` only: they are read with
    ``log_scale = 0`` (scale 1), the function they were trained as. Bytes that fit no skeleton: ``ValueError``."""
    try:
        return eqx.tree_deserialise_leaves(io.BytesIO(raw), like)
    except Exception as e:  # equinox raises several kinds (tree path, shape, dtype) for bytes that do not fit
        if spec.kind == "margins":
            try:
                w, b = eqx.tree_deserialise_leaves(io.BytesIO(raw), (like.w, like.b))
                return eqx.tree_at(lambda m: (m.w, m.b, m.log_scale), like, (w, b, jnp.zeros_like(like.log_scale)))
            except Exception:
                pass
        raise ValueError(f"member group {spec.name!r} does not fit its hyperparameters ({type(e).__name__}); "
                         "the file is damaged or was written by an incompatible bellscope") from None


def _check_labels(target: str, feature_set: str, scenario: Scenario) -> None:
    """``ValueError`` unless ``target`` is a known target and ``feature_set`` applies to ``scenario``."""
    if target not in TARGETS:
        raise ValueError(f"target {target!r} is not one of {', '.join(TARGETS)}")
    if not feature_map(feature_set).applies(scenario):
        raise ValueError(f"feature set {feature_set!r} does not apply to {scenario}")


def surrogate_from_arrays(
    skeleton: ModelSkeleton,
    members: Mapping[str, bytes],
    *,
    x_mean: np.ndarray,
    x_std: np.ndarray,
    y_scale: np.ndarray | float,
    weights: np.ndarray,
    feature_set: str,
    scenario: Scenario,
    target: str,
) -> Surrogate:
    """The ``Surrogate`` stored as ``skeleton`` + arrays; ``ValueError`` for anything that does not fit.

    Args:
        members: ``{group name: group_bytes}``, one entry per group of ``skeleton`` (no more, no fewer).
        x_mean, x_std: ``(d,)`` feature standardisation (``x_std > 0``).
        y_scale: ``()`` target scale (``> 0``).
        weights: ``(K,)`` blend weights, non-negative with sum 1.

    Every number the model holds must be finite, so a loaded model never answers NaN.
    """
    _check_labels(target, feature_set, scenario)
    names = [s.name for s in skeleton.specs]
    if sorted(members) != sorted(names):
        raise ValueError(f"member groups {sorted(members)} are not the groups of its hyperparameters {sorted(names)}")
    d, k = skeleton.dim, skeleton.n_members
    arrays = {"x_mean": (x_mean, (d,)), "x_std": (x_std, (d,)), "y_scale": (y_scale, ()), "weights": (weights, (k,))}
    checked = {}
    for name, (a, shape) in arrays.items():
        a = np.asarray(a, np.float64)
        if a.shape != shape:
            raise ValueError(f"{name} has shape {a.shape}; expected {shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} holds NaN or infinite values")
        checked[name] = a
    dtype = skeleton.jax_dtype
    groups = []
    for spec, like in zip(skeleton.specs, skeleton.ensemble().groups):
        grp = group_from_bytes(bytes(members[spec.name]), spec, like)
        if not all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree_util.tree_leaves(eqx.filter(grp, eqx.is_array))):
            raise ValueError(f"member group {spec.name!r} holds NaN or infinite parameters")
        groups.append(grp)
    if not np.all(checked["x_std"] > 0):
        raise ValueError("x_std has entries <= 0")
    if not checked["y_scale"] > 0:
        raise ValueError(f"y_scale = {float(checked['y_scale'])} is not positive")
    w = checked["weights"]
    if np.any(w < 0) or not abs(float(w.sum()) - 1) < 1e-3:
        raise ValueError("its blend weights are not non-negative with sum 1")
    ens = Ensemble(groups=tuple(groups), x_mean=jnp.asarray(checked["x_mean"], dtype),
                   x_std=jnp.asarray(checked["x_std"], dtype), y_scale=jnp.asarray(checked["y_scale"], dtype),
                   specs=skeleton.specs, task=skeleton.task)
    return Surrogate(ens, jnp.asarray(w, dtype), feature_set, scenario, target)

