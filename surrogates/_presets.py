"""Training presets: ``quick`` (seconds to a minute on a laptop CPU) and ``paper`` (the reproduction's ensembles).

Regression on NL mixes plain MLPs with max-affine and input-convex members (NL is convex and piecewise linear);
NBL (not convex) and the classifier use MLPs of differing width, depth and activation only.
"""

from __future__ import annotations

from dataclasses import replace

from ._members import GroupSpec
from ._train import TrainConfig

__all__ = ["PRESETS", "preset_config"]

PRESETS = ("quick", "paper")


def _groups(preset: str, target: str, members: int | None) -> tuple[GroupSpec, ...]:
    convex = target == "nl"
    if preset == "quick":
        groups = [GroupSpec("mlp", 2, 64, 2, "gelu"), GroupSpec("mlp", 2, 32, 3, "silu")]
        if convex:
            groups += [GroupSpec("maxaffine", 1, pieces=24, lr_scale=5.0), GroupSpec("icnn", 1, 64, 2, "softplus")]
    else:
        groups = [GroupSpec("mlp", 3, 256, 3, "gelu"), GroupSpec("mlp", 3, 128, 4, "silu")]
        if convex:
            groups += [GroupSpec("maxaffine", 2, pieces=64, lr_scale=5.0), GroupSpec("icnn", 2, 128, 3, "softplus")]
        else:
            groups += [GroupSpec("mlp", 2, 192, 3, "tanh")]
    if members is not None:
        # scale every group to reach ``members`` in total (at least one per group, in order)
        if members < len(groups):
            groups = groups[:members]
        base = sum(g.members for g in groups)
        counts = [max(1, round(g.members * members / base)) for g in groups]
        counts[0] += members - sum(counts)
        if counts[0] < 1:
            raise ValueError(f"cannot split {members} members over {len(groups)} groups")
        groups = [replace(g, members=c) for g, c in zip(groups, counts)]
    return tuple(groups)


def preset_config(preset: str, target: str, *, members: int | None = None, seed: int = 0, **overrides) -> TrainConfig:
    """The ``TrainConfig`` of a preset for a target (``nl``, ``nbl``, ``class``); ``members`` rescales the groups."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; expected one of {', '.join(PRESETS)}")
    if members is not None and members < 1:
        raise ValueError(f"members must be >= 1; got {members}")
    groups = _groups(preset, target, members)
    if preset == "quick":
        base = dict(epochs=30, patience=8, batch_size=256, learning_rate=3e-3, blend_budget=300)
    else:
        base = dict(epochs=150, patience=20, batch_size=256, learning_rate=2e-3, blend_budget=1000)
    if target == "nbl":  # hundreds of certified points, not tens of thousands: small batches, more epochs
        base.update(batch_size=32, epochs=base["epochs"] * 4, patience=base["patience"] * 3, weight_decay=1e-4)
    base.update(overrides)
    return TrainConfig(groups=groups, seed=seed, **base)
