"""Small generators of test behaviours (independent of the production samplers)."""

import itertools

import numpy as np

import bellcore as bc


def pr_boxes() -> list[np.ndarray]:
    """The 8 PR boxes of the m=2 scenario: E_xy = (-1)^(xy + alpha x + beta y + gamma), unbiased."""
    out = []
    for a, b, g in itertools.product((0, 1), repeat=3):
        E = np.array([[(-1.0) ** (x * y + a * x + b * y + g) for y in (0, 1)] for x in (0, 1)])
        out.append(bc.from_correlators(E).numpy())
    return out


def ns_vertices_m2() -> np.ndarray:
    """All 24 vertices of the m=2 no-signalling polytope (16 deterministic + 8 PR boxes)."""
    det = bc.BellScenario.binary(2).deterministic_points()
    return np.concatenate([det, np.stack(pr_boxes())])


def chsh_max(p: np.ndarray) -> float:
    """Largest of the 8 CHSH expressions of a binary m=2 behaviour."""
    E = bc.Behaviour(p).correlators()
    total = E.sum()
    return float(max(s * (total - 2 * E[x, y]) for s in (1, -1) for x in (0, 1) for y in (0, 1)))


def mixture(vertices: np.ndarray, weights: np.ndarray) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    return np.tensordot(w, vertices, axes=1)
