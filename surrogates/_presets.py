"""Training presets: ``quick`` (seconds to a minute on a laptop CPU), ``paper`` (the reproduction's ensembles),
``maxaffine`` (NL only: max-affine members trained long with the L1 loss) and ``margins`` (the classifier only:
margins members trained long).

Regression on NL mixes plain MLPs with max-affine and input-convex members (NL is convex and piecewise linear);
NBL (not convex) uses MLPs of differing width, depth and activation only; the classifier adds ``margins`` members
(two max-affine class margins, the classes' geometry on the ``correlators-asin`` features).

``maxaffine``: NL is a maximum of affine functions of the features (nine pieces at m = 2); 4 max-affine members of
12 pieces at 5x the learning rate, 150 epochs (patience 40), L1 loss. L1 stalls for MLPs (docs/surrogates.md) but not
for floored max-affine members: rows labelled 0 see ``max(0, f)``, rows above 0 pull their piece up. Measured at
m = 2 only (docs/surrogates.md); at m >= 3 NL has many more pieces than 12.

``margins`` (class target): 2 margins members of 16 pieces at 300x the learning rate (peak 0.9), 200 epochs
(patience 50: the validation error keeps falling late, as the rate decays and the members' logit scale grows), batch
256, no weight decay. Measured (docs/surrogates.md, balanced 30,000-point test set): 99.947 % trained on 300,000
class-balanced chsh-correlators points (``bellscope dataset --balance``), 99.910 % on 150,000, 99.823 % on 100,000
unbalanced ones (the small postquantum class had the most errors there).

``dual`` (NL only): a dual-vertex member (NL's own pieces, collected from certify's certificates of the nonlocal
training rows; a certified lower bound, ``surrogates._dual``) beside the quick preset's MLPs; the surrogate answers
``max(dual member, blend)``. Meant for the ``canonical`` features (``runs.run_train`` picks them for this preset).
``dual-bound``: the dual-vertex member alone, so every prediction is a certified lower bound on NL (up to float32
rounding); with ``dual_pieces`` ~1,000 it is the fast NL model at m = 3 (docs/surrogates.md).

``censored`` (nl or nbl): a few thousand labels of a searched family, most of them exactly 0 (bilocal points), and a
model refitted every active-learning round. Four floored MLPs of one shape (64 wide, depth 2, gelu: the censored
loss, ``GroupSpec.floor``: rows labelled 0 only ask ``f <= 0``, so the members' unfloored output ``Surrogate.latent``
is free to say how far inside the zero set a point is), Huber loss, batch 32, at most 120 epochs with patience 25,
weight decay 1e-4, blend budget 200. Measured (docs/surrogates.md, load ~3.6 on 2 cores): 1,000 rows, 4 members,
17.0 s for the first fit in a process (JAX compilation is most of it) and 4.9 s for the next.
"""

from __future__ import annotations

from dataclasses import replace

from ._members import GroupSpec
from ._train import MAX_MEMBERS, TrainConfig

__all__ = ["PRESETS", "DUAL_PRESETS", "preset_config", "DUAL_MAX_PIECES"]

#: Most pieces a dual-vertex member keeps (those that are the maximum at the most training rows); prediction costs
#: ``pieces x d`` multiply-adds per behaviour.
DUAL_MAX_PIECES = 50_000

PRESETS = ("quick", "paper", "maxaffine", "margins", "dual", "dual-bound", "censored")
#: Presets with a dual-vertex member: NL only, ``canonical`` features by default, ``dual_pieces`` applies.
DUAL_PRESETS = ("dual", "dual-bound")


def _groups(preset: str, target: str, members: int | None) -> tuple[GroupSpec, ...]:
    convex = target == "nl"
    if (preset == "maxaffine" or preset in DUAL_PRESETS) and not convex:
        raise ValueError(f"preset {preset!r} is for the nl target only; got {target!r}")
    if preset == "maxaffine":
        groups = [GroupSpec("maxaffine", 4, pieces=12, lr_scale=5.0)]
    elif preset == "dual":
        groups = [GroupSpec("mlp", 2, 64, 2, "gelu"), GroupSpec("mlp", 2, 32, 3, "silu"),
                  GroupSpec("dual", 1, pieces=DUAL_MAX_PIECES)]
    elif preset == "dual-bound":
        groups = [GroupSpec("dual", 1, pieces=DUAL_MAX_PIECES)]
    elif preset == "censored":
        if target == "class":
            raise ValueError("preset 'censored' is for the nl and nbl targets (regression of labels that are often 0)")
        # one group: every group shape is compiled on its own, and a refit on a new row count compiles again
        # (measured ~8 s per group and row count on 2 cores, ~4x the training itself; docs/surrogates.md)
        groups = [GroupSpec("mlp", 4, 64, 2, "gelu", floor=True)]
    elif preset == "margins":
        if target != "class":
            raise ValueError(f"preset 'margins' is for the class target only; got {target!r}")
        groups = [GroupSpec("margins", 2, pieces=16, lr_scale=300.0)]
    elif preset == "quick":
        groups = [GroupSpec("mlp", 2, 64, 2, "gelu"), GroupSpec("mlp", 2, 32, 3, "silu")]
        if convex:
            groups += [GroupSpec("maxaffine", 1, pieces=24, lr_scale=5.0), GroupSpec("icnn", 1, 64, 2, "softplus")]
        elif target == "class":  # a max-affine kind learns its sharp boundaries at a far higher rate than the MLPs
            groups += [GroupSpec("margins", 2, pieces=16, lr_scale=100.0)]
    else:
        groups = [GroupSpec("mlp", 3, 256, 3, "gelu"), GroupSpec("mlp", 3, 128, 4, "silu")]
        if convex:
            groups += [GroupSpec("maxaffine", 2, pieces=64, lr_scale=5.0), GroupSpec("icnn", 2, 128, 3, "softplus")]
        else:
            groups += [GroupSpec("mlp", 2, 192, 3, "tanh")]
        if target == "class":
            groups += [GroupSpec("margins", 2, pieces=32, lr_scale=100.0)]
    if members is not None:
        if preset in DUAL_PRESETS:
            raise ValueError(f"--members does not apply to preset {preset!r} (its dual-vertex group is one member)")
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


def preset_config(preset: str, target: str, *, members: int | None = None, seed: int = 0,
                  dual_pieces: int | None = None, **overrides) -> TrainConfig:
    """The ``TrainConfig`` of a preset for a target (``nl``, ``nbl``, ``class``); ``members`` rescales the groups;
    ``dual_pieces`` caps the dual-vertex member of preset ``dual`` (default ``DUAL_MAX_PIECES``: fewer pieces, faster
    predictions, a looser bound; docs/surrogates.md measures the trade)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; expected one of {', '.join(PRESETS)}")
    if members is not None and not 1 <= members <= MAX_MEMBERS:
        raise ValueError(f"members must be between 1 and {MAX_MEMBERS}; got {members}")
    if dual_pieces is not None and (preset not in DUAL_PRESETS or dual_pieces < 1):
        raise ValueError(f"--dual-pieces (dual_pieces) takes N >= 1 with preset {' or '.join(DUAL_PRESETS)}; "
                         f"got {dual_pieces} with preset {preset!r}")
    groups = _groups(preset, target, members)
    if dual_pieces is not None:
        groups = tuple(replace(g, pieces=dual_pieces) if g.kind == "dual" else g for g in groups)
    if preset == "maxaffine":
        base = dict(epochs=150, patience=40, batch_size=256, learning_rate=3e-3, blend_budget=300, loss="l1")
    elif preset == "margins":
        base = dict(epochs=200, patience=50, batch_size=256, learning_rate=3e-3, weight_decay=0.0, blend_budget=300)
    elif preset == "quick" or preset in DUAL_PRESETS:
        base = dict(epochs=30, patience=8, batch_size=256, learning_rate=3e-3, blend_budget=300)
    elif preset == "censored":
        base = dict(epochs=120, patience=25, batch_size=32, learning_rate=3e-3, weight_decay=1e-4, loss="huber",
                    blend_budget=200)
    else:
        base = dict(epochs=150, patience=20, batch_size=256, learning_rate=2e-3, blend_budget=1000)
    if target in ("nbl", "network") and preset != "censored":  # (censored is sized for these data already)  # hundreds of certified points, not tens of thousands: small batches, more epochs
        base.update(batch_size=32, epochs=base["epochs"] * 4, patience=base["patience"] * 3, weight_decay=1e-4)
    base.update(overrides)
    return TrainConfig(groups=groups, seed=seed, **base)
