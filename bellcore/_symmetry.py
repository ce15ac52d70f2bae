"""Relabelling symmetries: settings, outcomes (per setting), and exchange of parties.

Every quantity bellscope certifies (NL, visibility, NBL) is invariant under these maps.
"""

from __future__ import annotations

import numpy as np

from ._behaviour import Behaviour

__all__ = ["relabel_settings", "relabel_outcomes", "swap_parties", "random_relabelling"]


def relabel_settings(beh: Behaviour, party: int, perm) -> Behaviour:
    """New setting ``x' = perm[x]`` of ``party``: ``p'[..., perm[x], ...] = p[..., x, ...]``."""
    sc = beh.scenario
    perm = np.asarray(perm)
    if sorted(perm.tolist()) != list(range(sc.settings[party])):
        raise ValueError(f"{perm} is not a permutation of party {party}'s {sc.settings[party]} settings")
    axis = beh.p.ndim - sc.n_parties + party
    inv = np.argsort(perm)
    return Behaviour(np.take(beh.numpy(), inv, axis=axis), sc)


def relabel_outcomes(beh: Behaviour, party: int, perms) -> Behaviour:
    """Per-setting outcome relabelling of ``party``: outcome ``a`` at setting ``x`` becomes ``perms[x][a]``.

    Args:
        perms: ``(m_party, d_party)`` integer array, one permutation per setting.
    """
    sc = beh.scenario
    perms = np.asarray(perms)
    m, d = sc.settings[party], sc.outcomes[party]
    if perms.shape != (m, d) or any(sorted(r.tolist()) != list(range(d)) for r in perms):
        raise ValueError(f"need one permutation of {d} outcomes per setting ({m}) for party {party}")
    p = beh.numpy()
    nb = p.ndim - len(sc.shape)
    a_axis, x_axis = nb + party, nb + sc.n_parties + party
    moved = np.moveaxis(p, (a_axis, x_axis), (0, 1))  # (d, m, ...)
    out = np.empty_like(moved)
    for x in range(m):
        out[perms[x], x] = moved[:, x]
    return Behaviour(np.moveaxis(out, (0, 1), (a_axis, x_axis)), sc)


def swap_parties(beh: Behaviour) -> Behaviour:
    """Exchange the first and last party (A <-> B bipartite, A <-> C in the bilocal network).

    Requires equal outcome and setting counts for the two; the scenario is unchanged.
    """
    sc = beh.scenario
    n = sc.n_parties
    if sc.outcomes[0] != sc.outcomes[-1] or sc.settings[0] != sc.settings[-1]:
        raise ValueError(f"cannot swap parties of different cardinalities in {sc}")
    p = beh.numpy()
    nb = p.ndim - len(sc.shape)
    order = list(range(p.ndim))
    order[nb], order[nb + n - 1] = order[nb + n - 1], order[nb]
    order[nb + n], order[nb + 2 * n - 1] = order[nb + 2 * n - 1], order[nb + n]
    return Behaviour(np.transpose(p, order), sc)


def random_relabelling(beh: Behaviour, rng: np.random.Generator) -> Behaviour:
    """Apply a random composition of the symmetries above (for property tests)."""
    sc = beh.scenario
    for k in range(sc.n_parties):
        beh = relabel_settings(beh, k, rng.permutation(sc.settings[k]))
        beh = relabel_outcomes(beh, k, np.stack([rng.permutation(sc.outcomes[k]) for _ in range(sc.settings[k])]))
    if sc.outcomes[0] == sc.outcomes[-1] and sc.settings[0] == sc.settings[-1] and rng.random() < 0.5:
        beh = swap_parties(beh)
    return beh
