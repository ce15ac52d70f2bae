"""Random behaviours with a stated measure: the samplers behind bellscope's datasets.

Every sampler is a pure function of a ``numpy.random.Generator`` (deterministic given its seed) and returns a
batched ``Behaviour`` of shape ``(n, *scenario.shape)``, float64. They are registered by name in ``SAMPLERS``;
``sample(name, scenario, n, rng, **params)`` checks the parameters and dispatches.

The measures (each sampler's docstring says more):

==================  =============================================================================================
``uniform-ns``      uniform (Lebesgue) on the no-signalling polytope, by hit-and-run; any Bell (m, d), both bilocal
``marginal-first``  marginals uniform, then correlators uniform in their feasible range (cheap, NOT uniform)
``vertex-mixture``  Dirichlet(alpha) weights over the NS vertices (binary Bell scenarios, m <= 3)
``quantum``         Haar-random pure states, each setting measured in a Haar-random basis (Bell, bilocal)
``local``           Dirichlet(alpha) mixtures of deterministic points (Bell); Dirichlet bilocal models (bilocal)
``features-ij``     bilocal behaviours whose only non-zero correlators are I, J, <A0>, <A1>; uniform in those
``features-abc``    bilocal behaviours whose only non-zero correlators are the 8 <AxByCz>, <A0>, <A1>; uniform
``chsh-correlators`` unbiased m=2 behaviours with E uniform in [-1,1]^4 (optionally class-balanced)
==================  =============================================================================================
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import scipy.linalg

from ._behaviour import Behaviour
from ._network import BELL_BASIS, behaviour_from_correlators
from ._reference import correlators_to_probabilities
from ._scenario import BellScenario, BilocalScenario, Scenario
from ._netlocal import sample_network_local
from ._netspec import NetworkScenario

__all__ = [
    "SAMPLERS",
    "SamplerInfo",
    "sample",
    "sampler_params",
    "ns_affine_basis",
    "hit_and_run",
    "ns_vertices",
    "chsh_values",
    "chsh_class",
    "CHSH_CLASSES",
    "chsh_max",
]

#: Class names of ``chsh_class`` (index = class code).
CHSH_CLASSES = ("local", "quantum", "postquantum")


# ----------------------------------------------------------------------------------------- NS polytope
@functools.cache
def _ns_affine(scenario: Scenario) -> tuple[np.ndarray, np.ndarray]:
    ns = scenario.no_signalling_constraints()
    basis = scipy.linalg.null_space(np.vstack([ns.normalisation, ns.signalling]))  # orthonormal columns
    p0 = Behaviour.uniform(scenario).numpy().ravel()
    basis.setflags(write=False)
    p0.setflags(write=False)
    return p0, basis


def ns_affine_basis(scenario: Scenario) -> tuple[np.ndarray, np.ndarray]:
    """The affine hull of the no-signalling polytope: ``(p0, basis)``.

    ``p0`` is the (flattened) uniform behaviour, an interior point; ``basis`` has orthonormal columns spanning the
    directions that keep normalisation and no-signalling (for a binary Bell scenario with m settings each its
    dimension is m^2 + 2m; 26 for the binary bilocal network, 35 for the BSM variant). The NS polytope is
    ``{p0 + basis @ z : p0 + basis @ z >= 0}``. Cached per scenario; arrays are read-only.
    """
    return _ns_affine(scenario)


def hit_and_run(
    rng: np.random.Generator,
    start: np.ndarray,
    basis: np.ndarray,
    *,
    burn_in: int,
    thin: int,
    draws: int,
    reproject_every: int = 100,
) -> np.ndarray:
    """Vectorised hit-and-run on ``{p : p >= 0, p - p0 in span(basis)}``, one chain per row of ``start``.

    Each step draws a direction isotropic in the span of ``basis`` (a Gaussian vector in basis coordinates), finds
    the chord through the current point allowed by ``p >= 0`` and moves to a uniform point on it. Stationary
    measure: uniform on the polytope (Lebesgue measure of the affine slice, hence of any affine coordinates such as
    correlators). The chains are independent; after ``burn_in`` steps a draw is kept every ``thin`` steps.
    Every ``reproject_every`` steps the points are projected back onto the affine hull (removes round-off drift).

    Returns ``(draws, chains, dim_p)``.
    """
    P = np.array(start, dtype=np.float64, copy=True)
    if P.ndim != 2:
        raise ValueError("start must be (chains, dim)")
    p_ref = P[0].copy()
    C, k = P.shape[0], basis.shape[1]
    out = np.empty((draws, C, P.shape[1]))
    total = burn_in + draws * thin
    kept = 0
    for step in range(1, total + 1):
        D = rng.standard_normal((C, k)) @ basis.T
        with np.errstate(divide="ignore", invalid="ignore"):
            r = -P / D
        lo = np.where(D > 0, r, -np.inf).max(axis=1)
        hi = np.where(D < 0, r, np.inf).min(axis=1)
        lo = np.minimum(lo, 0.0)  # round-off can put a point a hair outside; never step backwards past it
        hi = np.maximum(hi, 0.0)
        t = lo + (hi - lo) * rng.random(C)
        P += t[:, None] * D
        if step % reproject_every == 0:
            P = p_ref + ((P - p_ref) @ basis) @ basis.T
        if step > burn_in and (step - burn_in) % thin == 0:
            out[kept] = P
            kept += 1
    return out


def _default_burn_in(dim: int) -> int:
    return 5 * dim * dim


def _default_thin(dim: int) -> int:
    return dim


def sample_uniform_ns(
    scenario: Scenario,
    n: int,
    rng: np.random.Generator,
    *,
    chains: int = 16,
    burn_in: int | None = None,
    thin: int | None = None,
) -> Behaviour:
    """Uniform (Lebesgue) measure on the no-signalling polytope of ``scenario`` by hit-and-run.

    Works for any scenario shape: bipartite Bell (any m, d) and both bilocal variants (the tripartite NS polytope
    of the network's shape). Coordinates: an orthonormal basis of the NS affine hull (``ns_affine_basis``) — an
    affine image of the correlator coordinates (A_x, B_y, E_xy), so uniform here is uniform there.

    Chains: ``min(chains, n)`` independent chains per call (default 16; a dataset calls this once per chunk with its
    own seed, so a 20,000-point dataset in chunks of 500 comes from 640 independent chains), all started at the
    uniform behaviour (an interior point), each run for ``burn_in`` steps (default 5·dim²: 320 at m=2, 6125 at m=5)
    and then thinned, keeping one draw every ``thin`` steps (default dim) until ``n`` draws are collected (taken
    round-robin over chains). Many independent chains avoid one chain dwelling in or out of the thin nonlocal
    corners. Checks of the measure, with their numbers: docs/samplers.md and tests/test_sampling.py.
    """
    p0, basis = ns_affine_basis(scenario)
    dim = basis.shape[1]
    burn_in = _default_burn_in(dim) if burn_in is None else int(burn_in)
    thin = _default_thin(dim) if thin is None else int(thin)
    C = max(1, min(int(chains), n))
    draws = math.ceil(n / C) if n > 0 else 0
    pts = hit_and_run(rng, np.tile(p0, (C, 1)), basis, burn_in=burn_in, thin=thin, draws=draws)
    pts = pts.reshape(draws * C, -1)[:n]
    return Behaviour(pts.reshape((n,) + scenario.shape), scenario)


# --------------------------------------------------------------------------------------- cheap / local
def _binary_bell(scenario: Scenario, name: str) -> tuple[int, int]:
    if not isinstance(scenario, BellScenario) or scenario.outcomes != (2, 2):
        raise ValueError(f"sampler {name!r} needs a binary-outcome Bell scenario; got {scenario}")
    return scenario.settings


def sample_marginal_first(scenario: Scenario, n: int, rng: np.random.Generator) -> Behaviour:
    """Marginals first: A_x, B_y iid uniform in [-1, 1], then each E_xy uniform in its feasible range
    [|A_x + B_y| - 1, 1 - |A_x - B_y|] (binary Bell scenarios only).

    Cheap and exact, but NOT uniform on the NS polytope: it over-weights near-deterministic marginals
    (docs/samplers.md: at m=5 about 39 % of its points are local, against 3 % under ``uniform-ns``).
    """
    ma, mb = _binary_bell(scenario, "marginal-first")
    A = rng.uniform(-1, 1, (n, ma))
    B = rng.uniform(-1, 1, (n, mb))
    lo = np.abs(A[:, :, None] + B[:, None, :]) - 1
    hi = 1 - np.abs(A[:, :, None] - B[:, None, :])
    E = lo + (hi - lo) * rng.random((n, ma, mb))
    return Behaviour(np.clip(correlators_to_probabilities(A, B, E), 0.0, None), scenario)


def sample_local(scenario: Scenario, n: int, rng: np.random.Generator, *, alpha: float = 1.0) -> Behaviour:
    """Random local (for networks: bilocal) models.

    Bell scenarios: Dirichlet(alpha) weights over all deterministic points (note: with many points and alpha = 1
    the mixture concentrates near white noise; small alpha gives sparse, more extreme mixtures).
    Bilocal network: q1 ~ Dirichlet(alpha) over A's deterministic strategies, q2 ~ Dirichlet(alpha) over C's, and
    for every pair (alpha_A, gamma_C) an independent Dirichlet(alpha) response distribution of B;
    p = sum q1 q2 r(beta | alpha, gamma) D_A D_B D_C, which is bilocal (NBL = 0) by construction.
    """
    if alpha <= 0:
        raise ValueError(f"alpha must be > 0; got {alpha}")
    pts = scenario.deterministic_points().reshape(scenario.n_deterministic, -1)
    if isinstance(scenario, BilocalScenario):
        nA, nB, nC = (d**m for d, m in zip(scenario.outcomes, scenario.settings))
        q1 = rng.dirichlet(np.full(nA, alpha), n)
        q2 = rng.dirichlet(np.full(nC, alpha), n)
        r = rng.dirichlet(np.full(nB, alpha), (n, nA, nC))  # (n, iA, iC, iB)
        w = q1[:, :, None, None] * q2[:, None, :, None] * r  # (n, iA, iC, iB)
        w = np.transpose(w, (0, 1, 3, 2)).reshape(n, -1)  # strategy order (iA, iB, iC)
    else:
        w = rng.dirichlet(np.full(pts.shape[0], alpha), n)
    return Behaviour((w @ pts).reshape((n,) + scenario.shape), scenario)


# ------------------------------------------------------------------------------------------- NS vertices
@functools.cache
def _ns_vertices(ma: int, mb: int) -> np.ndarray:
    """All vertices of the binary (ma, mb) NS polytope (deterministic points + PR-type boxes)."""
    sc = BellScenario((2, 2), (ma, mb))
    out = [sc.deterministic_points().reshape(-1, sc.size)]

    def subsets(m):
        return [s for r in range(2, m + 1) for s in itertools.combinations(range(m), r)]

    for SA in subsets(ma):
        for SB in subsets(mb):
            restA = [x for x in range(ma) if x not in SA]
            restB = [y for y in range(mb) if y not in SB]
            signs = np.array(list(itertools.product([1.0, -1.0], repeat=len(SA) * len(SB)))).reshape(
                -1, len(SA), len(SB)
            )
            # rank-1 sign matrices (s_xy = s_x0 s_0y s_00) are local: drop them
            prod = signs[:, :, :1] * signs[:, :1, :] * signs[:, :1, :1]
            signs = signs[~np.all(signs == prod, axis=(1, 2))]
            for fa in itertools.product([1.0, -1.0], repeat=len(restA)):
                for fb in itertools.product([1.0, -1.0], repeat=len(restB)):
                    A = np.zeros(ma)
                    B = np.zeros(mb)
                    A[restA] = fa
                    B[restB] = fb
                    E = np.broadcast_to(A[:, None] * B[None, :], (len(signs), ma, mb)).copy()
                    E[np.ix_(range(len(signs)), SA, SB)] = signs
                    p = correlators_to_probabilities(
                        np.broadcast_to(A, (len(signs), ma)), np.broadcast_to(B, (len(signs), mb)), E
                    )
                    out.append(p.reshape(len(signs), -1))
    V = np.concatenate(out)
    V.setflags(write=False)
    return V


def ns_vertices(scenario: Scenario) -> np.ndarray:
    """Vertices of the no-signalling polytope of a binary Bell scenario, shape ``(V, *scenario.shape)``.

    Binary outcomes (Barrett et al., PRA 71, 022101 (2005); Jones & Masanes, PRA 72, 052312 (2005)): every vertex
    is, on subsets S_A, S_B of at least two settings, a box with unbiased marginals and E_xy = ±1 following a sign
    matrix that is not rank one (PR-type), and deterministic on the remaining settings; plus the d^m deterministic
    points. m=2: 16 + 8 = 24. Enumerated for ``max(mA, mB) <= 3`` (m=3: 64 + 1344); larger scenarios raise.
    """
    ma, mb = _binary_bell(scenario, "vertex-mixture")
    if max(ma, mb) > 3:
        raise ValueError(
            f"NS vertices are enumerated only up to 3 settings per party (m=4 has tens of thousands); got {scenario}"
        )
    return _ns_vertices(ma, mb).reshape((-1,) + scenario.shape)


def sample_vertex_mixture(scenario: Scenario, n: int, rng: np.random.Generator, *, alpha: float = 1.0) -> Behaviour:
    """Dirichlet(alpha) weights over all NS vertices (``ns_vertices``; binary Bell scenarios, m <= 3).

    At m=2 Dirichlet(1) mixtures of the 24 vertices are always local (the PR weight spreads over 8 opposite boxes);
    sparse weights (alpha ~ 0.1) give nonlocal points (docs/samplers.md).
    """
    if alpha <= 0:
        raise ValueError(f"alpha must be > 0; got {alpha}")
    V = ns_vertices(scenario).reshape(-1, scenario.size)
    w = rng.dirichlet(np.full(V.shape[0], alpha), n)
    return Behaviour((w @ V).reshape((n,) + scenario.shape), scenario)


# ------------------------------------------------------------------------------------------------ quantum
def _haar_unitaries(rng: np.random.Generator, shape: tuple[int, ...], d: int) -> np.ndarray:
    """Haar-random d x d unitaries (QR of a complex Ginibre matrix with the phase fix of Mezzadri 2007)."""
    Z = (rng.standard_normal(shape + (d, d)) + 1j * rng.standard_normal(shape + (d, d))) / np.sqrt(2)
    Q, R = np.linalg.qr(Z)
    diag = np.diagonal(R, axis1=-2, axis2=-1)
    return Q * (diag / np.abs(diag))[..., None, :]


def _haar_states(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    psi = rng.standard_normal((n, d)) + 1j * rng.standard_normal((n, d))
    return psi / np.linalg.norm(psi, axis=1, keepdims=True)


def sample_quantum(
    scenario: Scenario, n: int, rng: np.random.Generator, *, b_measurement: str = "haar"
) -> Behaviour:
    """Quantum behaviours: Haar-random pure states, each setting measured in an independent Haar-random basis.

    Bell (m, d): a Haar-random pure state of two qudits of dimension d (= number of outcomes); each setting of each
    party is a projective measurement in a Haar-random orthonormal basis (for qubits: Bloch vectors uniform on the
    sphere).
    Bilocal: two independent Haar-random two-qubit states on (A, B1) and (B2, C); A's and C's settings are
    Haar-random qubit bases. B measures B1B2: ``b_measurement="haar"``: binary variant, per setting a Haar-random
    basis of C^4 whose first two vectors give b=0 (rank-2 projectors); BSM variant, one Haar-random basis of C^4
    (4 outcomes). ``b_measurement="bell"``: the Bell-state measurement (BSM: b = 2 b0 + b1 with b0 the Z⊗Z bit and
    b1 the X⊗X bit; binary: y=0 measures the Z⊗Z parity, y=1 the X⊗X parity).
    Networks (``NetworkScenario``): every source a Haar-random state of one qubit per party it feeds, every party a
    Haar-random projective measurement of its qubits per setting, basis vectors grouped into its outcomes
    (``_network_quantum``); the triangle gets two-qubit states and two-qubit joint measurements.
    """
    if b_measurement not in ("haar", "bell"):
        raise ValueError(f"b_measurement must be 'haar' or 'bell'; got {b_measurement!r}")
    if isinstance(scenario, BellScenario):
        if b_measurement != "haar":
            raise ValueError("b_measurement applies to the bilocal network only")
        (da, db), (ma, mb) = scenario.outcomes, scenario.settings
        psi = _haar_states(rng, n, da * db).reshape(n, da, db)
        UA = _haar_unitaries(rng, (n, ma), da)  # columns = basis vectors: UA[n, x, i, a]
        UB = _haar_unitaries(rng, (n, mb), db)
        amp = np.einsum("nxia,nyjb,nij->nabxy", UA.conj(), UB.conj(), psi, optimize=True)
        p = np.abs(amp) ** 2
        return Behaviour(p, scenario)
    if isinstance(scenario, BilocalScenario):
        psi1 = _haar_states(rng, n, 4).reshape(n, 2, 2)
        psi2 = _haar_states(rng, n, 4).reshape(n, 2, 2)
        Psi = np.einsum("nij,nkl->nijkl", psi1, psi2).reshape(n, 2, 4, 2)  # (A, B1B2, C)
        UA = _haar_unitaries(rng, (n, 2), 2)
        UC = _haar_unitaries(rng, (n, 2), 2)
        mB = scenario.settings[1]
        if b_measurement == "haar":
            UB = _haar_unitaries(rng, (n, mB), 4)  # UB[n, y, j, k]: basis vector k
        elif scenario.variant == "bsm":
            UB = np.broadcast_to(BELL_BASIS.T, (n, 1, 4, 4))
        else:  # binary: y=0 -> Z⊗Z parity (|00>,|11> | |01>,|10>), y=1 -> X⊗X parity
            zz = np.eye(4, dtype=np.complex128)[:, [0, 3, 1, 2]]
            xx = BELL_BASIS[[0, 2, 1, 3]].T  # Phi+, Psi+ (XX=+1) then Phi-, Psi- (XX=-1)
            UB = np.broadcast_to(np.stack([zz, xx]), (n, 2, 4, 4))
        amp = np.einsum("nxia,nyjk,nzlc,nijl->nakcxyz", UA.conj(), UB.conj(), UC.conj(), Psi, optimize=True)
        pk = np.abs(amp) ** 2  # (n, a, k, c, x, y, z), k = basis vector of B
        if scenario.variant == "bsm":
            p = pk
        else:
            p = np.stack([pk[:, :, 0:2].sum(axis=2), pk[:, :, 2:4].sum(axis=2)], axis=2)
        return Behaviour(p, scenario)
    if isinstance(scenario, NetworkScenario):
        if b_measurement != "haar":
            raise ValueError("b_measurement applies to the bilocal network only")
        return Behaviour(_network_quantum(scenario, n, rng), scenario)
    raise ValueError(f"sampler 'quantum' does not support {scenario}")


#: Largest Hilbert space a party of a network may measure in the quantum sampler (qubits it holds: 2**k).
_MAX_PARTY_QUBITS = 4


def _network_quantum(sc: NetworkScenario, n: int, rng: np.random.Generator) -> np.ndarray:
    """Quantum behaviours of a network: every source a Haar-random pure state of one qubit per party it feeds; every
    party j, holding ``k_j`` qubits (one per source), measures per setting a Haar-random basis of ``C^(2^k_j)`` whose
    vector i gives outcome ``i mod d_j`` (the triangle: two-qubit states, two-qubit joint measurements with 2-4
    outcomes). Returns ``p[n, a..., x...]``."""
    k = [len(sc.party_sources(j)) for j in range(sc.n_parties)]
    for j, kj in enumerate(k):
        if kj > _MAX_PARTY_QUBITS or sc.outcomes[j] > 2**kj:
            raise ValueError(f"sampler 'quantum': party {sc.names[j]!r} holds {kj} qubit(s), which cannot give "
                             f"{sc.outcomes[j]} outcomes by a projective measurement (at most {2**kj}"
                             f"{'' if kj <= _MAX_PARTY_QUBITS else f'; and at most {_MAX_PARTY_QUBITS} qubits'})")
    # qubit labels: source s's qubit held by party j is axis (s, j); the global state is the product of the sources'
    psi = []
    for members in sc.sources:
        st = _haar_states(rng, n, 2 ** len(members)).reshape((n,) + (2,) * len(members))
        psi.append((st, list(members)))
    # einsum labels: one per (source, party it feeds) qubit, then each party's basis index and setting
    lab = {(s, j): i for i, (s, j) in enumerate((s, j) for s, members in enumerate(sc.sources) for j in members)}
    outs = [len(lab) + j for j in range(sc.n_parties)]
    sets = [len(lab) + sc.n_parties + j for j in range(sc.n_parties)]
    out = np.empty((n,) + sc.shape)
    for i in range(n):
        # one einsum: sources' states, then per party and setting the conjugate basis on its qubits
        ops = []
        for s, (st, members) in enumerate(psi):
            ops += [st[i], [lab[(s, j)] for j in members]]
        for j in range(sc.n_parties):
            U = _haar_unitaries(rng, (sc.settings[j],), 2 ** k[j]).conj()  # U[x, b, i]: basis vector i
            U = U.reshape((sc.settings[j],) + (2,) * k[j] + (2 ** k[j],))
            ops += [U, [sets[j]] + [lab[(s, j)] for s in sc.party_sources(j)] + [outs[j]]]
        amp = np.einsum(*ops, outs + sets, optimize=True)  # (2^k_1, ..., settings...)
        pk = np.abs(amp) ** 2
        for j in range(sc.n_parties):  # group basis vector i -> outcome i mod d_j
            d, D = sc.outcomes[j], 2 ** k[j]
            pk = np.stack([np.take(pk, list(range(a, D, d)), axis=j).sum(axis=j) for a in range(d)], axis=j)
        out[i] = pk
    return out


# ----------------------------------------------------------------------------------- bilocal feature families
def _features_behaviour(scenario: BilocalScenario, A: np.ndarray, E: np.ndarray) -> np.ndarray:
    """``bellcore.behaviour_from_correlators`` for correlators ``E[n, y, x, z]`` and marginals ``A[n, x]``."""
    return behaviour_from_correlators(np.transpose(E, (0, 2, 1, 3)), A, scenario.variant).numpy()


def _rejection(rng, n, dim, accept, batch=4096):
    rows, got = [], 0
    while got < n:
        X = rng.uniform(-1, 1, (batch, dim))
        X = X[accept(X)]
        rows.append(X)
        got += len(X)
    return np.concatenate(rows)[:n]


def sample_features_ij(scenario: Scenario, n: int, rng: np.random.Generator) -> Behaviour:
    """Bilocal behaviours whose only non-zero correlators are the paper's first feature set (I, J, <A0>, <A1>).

    <A_x B^0 C_z> = I and <A_x B^1 C_z> = (-1)^(x+z) J for all x, z; <A_x> free; every other correlator 0.
    Measure: uniform in (I, J, A0, A1) over the valid region (|A_x| + |I| <= 1 and |A_x| + |J| <= 1; BSM variant:
    |A_x| + |I| + |J| <= 1), by exact rejection sampling from [-1, 1]^4.
    """
    if not isinstance(scenario, BilocalScenario):
        raise ValueError(f"sampler 'features-ij' needs a bilocal scenario; got {scenario}")
    bsm = scenario.variant == "bsm"

    def ok(X):
        a = np.abs(X[:, 2:]).max(axis=1)
        if bsm:
            return a + np.abs(X[:, 0]) + np.abs(X[:, 1]) <= 1
        return (a + np.abs(X[:, 0]) <= 1) & (a + np.abs(X[:, 1]) <= 1)

    X = _rejection(rng, n, 4, ok)
    I, J, A = X[:, 0], X[:, 1], X[:, 2:]
    sign = np.array([[1.0, -1.0], [-1.0, 1.0]])
    E = np.stack([np.broadcast_to(I[:, None, None], (n, 2, 2)), J[:, None, None] * sign], axis=1)
    return Behaviour(np.clip(_features_behaviour(scenario, A, E), 0.0, None), scenario)


def sample_features_abc(scenario: Scenario, n: int, rng: np.random.Generator) -> Behaviour:
    """Bilocal behaviours whose only non-zero correlators are the 8 <A_x B_y C_z> and <A0>, <A1> (the paper's second
    feature set; BSM variant: B_y = (-1)^{b_y} of the outcome b = 2 b0 + b1).

    Measure: uniform in those 10 coordinates over the valid region (binary: |A_x| + |E_xyz| <= 1; BSM:
    |A_x| + |E_x0z| + |E_x1z| <= 1), by exact rejection sampling from [-1, 1]^10.
    """
    if not isinstance(scenario, BilocalScenario):
        raise ValueError(f"sampler 'features-abc' needs a bilocal scenario; got {scenario}")
    bsm = scenario.variant == "bsm"

    def ok(X):
        A = np.abs(X[:, 8:])  # (N, x)
        E = np.abs(X[:, :8].reshape(-1, 2, 2, 2))  # (N, y, x, z)
        if bsm:
            return np.all(A[:, :, None] + E.sum(axis=1) <= 1, axis=(1, 2))
        return np.all(A[:, None, :, None] + E <= 1, axis=(1, 2, 3))

    X = _rejection(rng, n, 10, ok, batch=16384)
    E = X[:, :8].reshape(n, 2, 2, 2)
    return Behaviour(np.clip(_features_behaviour(scenario, X[:, 8:], E), 0.0, None), scenario)


# ------------------------------------------------------------------------------------------ CHSH correlators
def chsh_values(E: np.ndarray, fn: Callable = lambda e: e) -> np.ndarray:
    """The 4 CHSH combinations sum_xy s_xy f(E_xy) with one minus sign (placed on E_11, E_10, E_01, E_00)."""
    F = fn(np.asarray(E, dtype=np.float64))
    tot = F.sum(axis=(-2, -1))
    return np.stack([tot - 2 * F[..., 1, 1], tot - 2 * F[..., 1, 0], tot - 2 * F[..., 0, 1], tot - 2 * F[..., 0, 0]], -1)


def chsh_max(E: np.ndarray) -> np.ndarray:
    """Largest of the 8 CHSH variants, max |CHSH_i|, for correlators ``E[..., 2, 2]``."""
    return np.abs(chsh_values(E)).max(axis=-1)


def chsh_class(E: np.ndarray) -> np.ndarray:
    """0 = local (all |CHSH| <= 2), 1 = quantum but not local (TLM: all |sum ± asin E| <= pi), 2 = postquantum.

    Exact criteria for the correlators alone (marginals free; docs/measures.md). Returns int8.
    """
    E = np.asarray(E, dtype=np.float64)
    local = chsh_max(E) <= 2.0
    quantum = np.abs(chsh_values(E, lambda e: np.arcsin(np.clip(e, -1, 1)))).max(axis=-1) <= np.pi
    return np.where(local, 0, np.where(quantum, 1, 2)).astype(np.int8)


def sample_chsh_correlators(
    scenario: Scenario, n: int, rng: np.random.Generator, *, balance: bool = False
) -> Behaviour:
    """m=2 behaviours with unbiased marginals and correlators E uniform in [-1, 1]^4 (the classifier's input).

    Unbalanced, the classes come out local 2/3, quantum-not-local 3π²/32 − 2/3 ≈ 0.259, postquantum ≈ 0.075.
    ``balance=True`` (as the paper's test set): uniform within each class with equal class counts — the n points of
    a call hold ``n // 3`` points of every class (the first ``n % 3`` classes one more), in a random order.
    """
    ma, mb = _binary_bell(scenario, "chsh-correlators")
    if (ma, mb) != (2, 2):
        raise ValueError(f"sampler 'chsh-correlators' needs m=2; got {scenario}")
    if not balance:
        E = rng.uniform(-1, 1, (n, 2, 2))
    else:
        quota = [n // 3 + (1 if k < n % 3 else 0) for k in range(3)]
        pools: list[list[np.ndarray]] = [[], [], []]
        have = [0, 0, 0]
        while any(h < q for h, q in zip(have, quota)):
            X = rng.uniform(-1, 1, (4096, 2, 2))
            cls = chsh_class(X)
            for k in range(3):
                if have[k] < quota[k]:
                    sel = X[cls == k][: quota[k] - have[k]]
                    pools[k].append(sel)
                    have[k] += len(sel)
        E = np.concatenate([np.concatenate(p) if p else np.empty((0, 2, 2)) for p in pools])
        E = E[rng.permutation(n)]
    zeros = np.zeros((n, 2))
    return Behaviour(correlators_to_probabilities(zeros, zeros, E), scenario)


# -------------------------------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class SamplerInfo:
    """A registered sampler: its function, default parameters and the scenario kinds it supports."""

    name: str
    fn: Callable[..., Behaviour]
    defaults: dict[str, Any]
    kinds: tuple[str, ...]  # "bell", "bilocal", "network"

    @property
    def doc(self) -> str:
        return (self.fn.__doc__ or "").strip()


SAMPLERS: dict[str, SamplerInfo] = {
    s.name: s
    for s in [
        SamplerInfo("uniform-ns", sample_uniform_ns, {"chains": 16, "burn_in": None, "thin": None},
                    ("bell", "bilocal", "network")),
        SamplerInfo("marginal-first", sample_marginal_first, {}, ("bell",)),
        SamplerInfo("vertex-mixture", sample_vertex_mixture, {"alpha": 1.0}, ("bell",)),
        SamplerInfo("quantum", sample_quantum, {"b_measurement": "haar"}, ("bell", "bilocal", "network")),
        SamplerInfo("local", sample_local, {"alpha": 1.0}, ("bell", "bilocal")),
        SamplerInfo("features-ij", sample_features_ij, {}, ("bilocal",)),
        SamplerInfo("features-abc", sample_features_abc, {}, ("bilocal",)),
        SamplerInfo("chsh-correlators", sample_chsh_correlators, {"balance": False}, ("bell",)),
        SamplerInfo("network-local", sample_network_local, {"alphabet": 3, "alpha": 1.0}, ("network",)),
    ]
}


def _kind(scenario: Scenario) -> str:
    if isinstance(scenario, NetworkScenario):
        return "network"
    return "bilocal" if isinstance(scenario, BilocalScenario) else "bell"


def sampler_params(name: str, params: dict[str, Any] | None = None, scenario: Scenario | None = None) -> dict[str, Any]:
    """The full parameter set of sampler ``name``: its defaults updated by ``params``.

    Raises ``ValueError`` for an unknown sampler, an unknown parameter or an unsupported scenario kind.
    """
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; known: {', '.join(SAMPLERS)}")
    info = SAMPLERS[name]
    params = dict(params or {})
    unknown = sorted(set(params) - set(info.defaults))
    if unknown:
        allowed = ", ".join(info.defaults) or "none"
        raise ValueError(f"sampler {name!r} has no parameter {', '.join(unknown)} (its parameters: {allowed})")
    if scenario is not None and _kind(scenario) not in info.kinds:
        raise ValueError(f"sampler {name!r} does not support {scenario} (supports: {', '.join(info.kinds)})")
    if scenario is not None and name == "local" and _kind(scenario) == "bell":
        scenario.check_full_enumeration()  # Dirichlet weights over every deterministic point: refuse up front
    return {**info.defaults, **params}


def sample(name: str, scenario: Scenario, n: int, rng: np.random.Generator, **params) -> Behaviour:
    """Draw ``n`` behaviours of ``scenario`` from sampler ``name`` (see ``SAMPLERS``); deterministic given ``rng``."""
    full = sampler_params(name, params, scenario)
    if int(n) < 0:
        raise ValueError(f"n must be >= 0; got {n}")
    return SAMPLERS[name].fn(scenario, int(n), rng, **full)
