"""Private uniform sampler of tripartite binary no-signalling behaviours (benchmark helper only).

Hit-and-run in correlator coordinates (26 of them: 6 one-body, 12 two-body, 8 three-body), a linear bijection
onto the affine no-signalling subspace, so uniform there means uniform on the NS polytope. Many independent
chains, each burnt in, one point kept per chain.
"""

from __future__ import annotations

import itertools

import numpy as np


def _basis():
    """``p = (1 + M c) / 8`` as a flat (64,) array of shape (2,2,2,2,2,2) = (a,b,c,x,y,z); M is (64, 26)."""
    cols = []
    for subset in itertools.product((0, 1), repeat=3):
        if sum(subset) == 0:
            continue
        for settings in itertools.product(*[(0, 1) if s else (None,) for s in subset]):
            col = np.zeros((2,) * 6)
            for a, b, c, x, y, z in itertools.product((0, 1), repeat=6):
                sign = 1.0
                for k, (o, s_used, s_fixed) in enumerate(zip((a, b, c), subset, settings)):
                    if s_used:
                        if (x, y, z)[k] != s_fixed:
                            sign = 0.0
                            break
                        sign *= (-1) ** o
                col[a, b, c, x, y, z] = sign
            cols.append(col.ravel())
    return np.stack(cols, axis=1)


def sample_tripartite_ns(n: int, seed: int = 0, burn: int = 300) -> np.ndarray:
    """``n`` uniform points of the tripartite binary NS polytope, shape (n, 2,2,2,2,2,2); one chain per point."""
    rng = np.random.default_rng(seed)
    M = _basis() / 8.0
    p0 = np.full(64, 1.0 / 8)
    c = np.zeros((n, M.shape[1]))  # all chains start at white noise (interior)
    for _ in range(burn):
        d = rng.standard_normal(c.shape)
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        p = p0 + c @ M.T  # (n, 64)
        dp = d @ M.T
        with np.errstate(divide="ignore", invalid="ignore"):
            t = -p / dp
        tmax = np.where(dp < 0, t, np.inf).min(axis=1)
        tmin = np.where(dp > 0, t, -np.inf).max(axis=1)
        c = c + (tmin + (tmax - tmin) * rng.random(n))[:, None] * d
    p = p0 + c @ M.T
    return np.clip(p, 0.0, None).reshape((n,) + (2,) * 6)
