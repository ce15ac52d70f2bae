"""``Ensemble``: groups of vectorised members plus the input/target standardisation; ``Prediction``.

Shapes: features ``x`` are ``(N, d)``; ``members_output(x)`` is ``(K, N)`` for regression (in target units) and
``(K, N, 3)`` class probabilities for classification, ``K`` the total member count (groups in order).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from ._members import GroupSpec, Margins, MaxAffine, make_group

__all__ = ["Ensemble", "Prediction", "TASKS"]

TASKS = ("regression", "classification")


class Prediction(eqx.Module):
    """An ensemble's answer for a batch.

    Attributes:
        mean: regression ``(*batch,)`` blended value (target units); classification ``(*batch, 3)`` blended class
            probabilities.
        std: the spread of the members, unweighted over all members (regression ``(*batch,)``; classification
            ``(*batch, 3)`` per class probability): an uncertainty that a blend concentrated on a few members
            cannot hide.
        members: every member's answer, ``(K, *batch)`` or ``(K, *batch, 3)``.
    """

    mean: jax.Array
    std: jax.Array
    members: jax.Array


class Ensemble(eqx.Module):
    """K members in groups of equal shape, with the standardisation they were trained with.

    Attributes:
        groups: one pytree per ``GroupSpec`` (leading member axis on each array leaf).
        specs: the ``GroupSpec`` of each group (static).
        x_mean, x_std: ``(d,)`` feature standardisation (from the training split).
        y_scale: regression targets are learned as ``y / y_scale`` (no shift, so a member's 0 is the target's 0 and
            convex members stay convex and non-negative); 1 for classification.
        task: ``"regression"`` or ``"classification"`` (static).
    """

    groups: tuple
    x_mean: jax.Array
    x_std: jax.Array
    y_scale: jax.Array
    specs: tuple = eqx.field(static=True)
    task: str = eqx.field(static=True)

    @staticmethod
    def init(specs, d: int, task: str, key, x_mean=None, x_std=None, y_scale=1.0, dtype=jnp.float32) -> "Ensemble":
        """Fresh members: member ``j`` of the whole ensemble gets ``jax.random.fold_in(key, j)``."""
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
        specs = tuple(specs)
        out = 1 if task == "regression" else 3
        groups, j = [], 0
        for s in specs:
            if task == "classification" and s.kind not in ("mlp", "margins"):
                raise ValueError(f"classification ensembles take MLP or margins members only; got {s.kind!r}")
            if task == "classification" and s.kind == "dual":
                raise ValueError("dual-vertex members are NL members (regression)")
            if task == "regression" and s.kind == "margins":
                raise ValueError("margins members are classifier members; regression takes mlp, maxaffine or icnn")
            keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(j, j + s.members))
            groups.append(make_group(s, keys, d, out, dtype))
            j += s.members
        return Ensemble(
            groups=tuple(groups),
            x_mean=jnp.zeros((d,), dtype) if x_mean is None else jnp.asarray(x_mean, dtype),
            x_std=jnp.ones((d,), dtype) if x_std is None else jnp.asarray(x_std, dtype),
            y_scale=jnp.asarray(y_scale, dtype),
            specs=specs,
            task=task,
        )

    @property
    def n_members(self) -> int:
        return sum(s.members for s in self.specs)

    @property
    def dim(self) -> int:
        return int(self.x_mean.shape[0])

    def member_names(self) -> list[str]:
        return [f"{s.name}[{i}]" for s in self.specs for i in range(s.members)]

    def group_raw(self, g: int, xs):
        """Raw outputs of group ``g`` on standardised features ``xs (N, d)``: ``(members_g, N, out)``."""
        return group_apply(self.groups[g], xs)

    def members_output(self, x, latent: bool = False):
        """Every member's answer on features ``x (N, d)``: ``(K, N)`` (regression) or ``(K, N, 3)`` probabilities.

        ``latent`` (regression): floored members answer their unfloored ``f`` instead of ``max(0, f)`` (a dual-vertex
        member: the maximum of its pieces, ``B.q - local bound``, negative inside the local set)."""
        x = jnp.asarray(x)
        if x.ndim != 2 or x.shape[-1] != self.dim:
            raise ValueError(f"features must have shape (N, {self.dim}); got {tuple(x.shape)}")
        if latent and self.task != "regression":
            raise ValueError("the latent output is a regression ensemble's (classifiers have no floor)")
        xs = (x - self.x_mean) / self.x_std
        raws = [group_apply(g, xs) for g in self.groups]  # (M_g, N, out) each
        if self.task == "regression" and not latent:
            raws = [jnp.maximum(r, 0.0) if s.floor else r for r, s in zip(raws, self.specs)]
        raw = jnp.concatenate(raws, axis=0)  # (K, N, out)
        if self.task == "regression":
            return raw[..., 0] * self.y_scale
        return jax.nn.softmax(raw, axis=-1)

    @property
    def dual_members(self) -> tuple[int, ...]:
        """Indices (over all members) of the dual-vertex members: certified lower bounds on the target."""
        out, j = [], 0
        for s in self.specs:
            if s.kind == "dual":
                out += range(j, j + s.members)
            j += s.members
        return tuple(out)

    def blend_members(self, weights, members):
        """``sum_k w_k members[k]`` (``weights (K,)``, ``members`` as ``members_output``), raised for regression to the
        largest dual-vertex member (a certified lower bound). Takes numpy or JAX arrays."""
        mean = jnp.tensordot(weights, members, axes=1)
        if self.task == "regression" and self.dual_members:
            mean = jnp.maximum(mean, jnp.asarray(members)[jnp.asarray(self.dual_members)].max(axis=0))
        return mean

    def predict(self, x, weights=None, latent: bool = False) -> Prediction:
        """Blend on features ``x (*batch, d)``: ``mean = sum_k w_k member_k`` (``weights (K,)``, uniform if None),
        raised to the largest dual-vertex member where there is one (a certified lower bound: the maximum is never
        further from the target than the blend).

        ``latent=True`` (regression): the same blend of the members' unfloored outputs ``f_k`` (``members_output``'s
        ``latent``), raised to the largest unfloored dual-vertex member. It equals the plain prediction wherever
        every floored member has ``f_k >= 0`` and goes below 0 where the floored members do: inside the set where the
        target is 0 (bilocal or local points) it says how far inside, a signal a search can climb (censored
        regression: rows labelled 0 only taught ``f <= 0``, so its negative values are a learned extrapolation, not
        a fitted quantity). ``std`` and ``members`` are the unfloored members'."""
        x = jnp.asarray(x)
        batch = x.shape[:-1]
        m = self.members_output(x.reshape((-1, x.shape[-1])), latent=latent)
        w = jnp.full((self.n_members,), 1.0 / self.n_members, m.dtype) if weights is None else jnp.asarray(weights)
        mean = self.blend_members(w.astype(m.dtype), m)
        std = jnp.std(m, axis=0)
        m = m.reshape((m.shape[0], *batch, *m.shape[2:]))
        return Prediction(mean.reshape(batch + mean.shape[1:]), std.reshape(batch + std.shape[1:]), m)


def group_apply(group, xs):
    """``group`` (member axis on its leaves) on ``xs (N, d)`` shared by all members, or ``(M, N, d)`` per member."""
    if isinstance(group, (MaxAffine, Margins)):
        # one batched matrix product and a max: vmapping the per-row call was measured ~30x slower on a CPU (the
        # max over pieces then runs row by row); docs/surrogates.md, "Prediction time after profiling"
        k = "" if isinstance(group, MaxAffine) else "k"
        z = jnp.einsum(f"m{k}pd,{'m' if xs.ndim == 3 else ''}nd->mn{k}p", group.w, xs)
        if isinstance(group, MaxAffine):
            return (z + group.b[:, None, :]).max(axis=-1, keepdims=True)  # (M, N, 1)
        g = (z + group.b[:, None, :, :]).max(axis=-1)  # (M, N, 2)
        scale = jnp.exp(group.log_scale)[:, None, None]  # (M, 1, 1): as Margins.__call__
        return scale * jnp.stack([-g[..., 0], jnp.zeros_like(g[..., 0]), g[..., 1]], axis=-1)
    in_x = 0 if xs.ndim == 3 else None
    return eqx.filter_vmap(lambda mdl, xx: jax.vmap(mdl)(xx), in_axes=(eqx.if_array(0), in_x))(group, xs)


def specs_from_json(obj) -> tuple[GroupSpec, ...]:
    return tuple(GroupSpec.from_json(o) for o in obj)
