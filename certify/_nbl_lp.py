"""The one HiGHS model behind every NBL bound (built once per behaviour, re-solved with warm starts).

Source coordinates. A source distribution q over a party's 4 deterministic strategies s = (s(0), s(1)) (index
``2 s(0) + s(1)``) is written in the coordinates ``z = (P0, P1, e)``: ``P0 = Pr[s(0) = 0]``, ``P1 = Pr[s(1) = 0]``
(the party's marginals) and ``e = q(00)``, so that ``q = (e, P0 - e, P1 - e, 1 - P0 - P1 + e)``. The behaviour does
not see ``e`` directly (kappa = (1, -1, -1, 1) is the kernel of q -> marginals): the exact LP value at fixed
sources is often exactly flat along ``e`` (and the same for source 2) over whole intervals, so the minimisers
form a 2-d valley that a search over boxes of q itself must tile with tiny boxes. In these coordinates the
McCormick slack of the one product ``e1 * e2`` moves r along kappa kappa^T, which the behaviour does not see
either, and the search refines the marginals first. Measured on 8 uniform NS points at tol 1e-4: 117-553 boxes
(median ~290) here vs 245 to more than 11,000 (median ~4,000; one point hit a 30 s limit) with boxes of q.

Variables (``nb``, ``mb`` = B's outcomes and settings; every variable in [0, 1], see ``safe_bound``):

    t[alpha, gamma, b, y] >= 0    B's response weights: p = sum t [a = alpha(x)] [c = gamma(z)]
    s+[e], s-[e] >= 0             p_e - q_e = s+_e - s-_e, cost ``normalisation`` each
    r[alpha, gamma] >= 0          stands for q1(alpha) q2(gamma)
    z1, z2 (3 each)               the source coordinates, in a box
    W[i, j] (9)                   stands for z1[i] z2[j]

Rows: the 64 entries; ``sum_b t[alpha,gamma,b,y] = r[alpha,gamma]`` for every y; ``r = A Z A^T`` with
``Z = [[1, z2^T], [z1, W]]`` (exact, linear); ``q1 = A z1 >= 0``, ``q2 = A z2 >= 0``; and the four McCormick
inequalities of ``W = z1 z2^T`` over the box. ``r >= 0`` is the product of the simplex facets, and
``sum_alpha r = q2``, ``sum_gamma r = q1`` hold by construction (the valid equalities of docs/measures.md).
With z1 fixed (or z2 fixed) the envelopes are exact: the same model gives the exact LP at a fixed source
distribution (upper bounds) and the relaxation over a box (lower bounds). A box change only touches the
McCormick coefficients that differ from the current ones.
"""

from __future__ import annotations

import highspy
import numpy as np

from ._highs import INF, make_lp, native_name, new_highs

__all__ = ["NBLProgram", "network_indices", "Q_FROM_Z", "z_of_q", "q_of_z"]

_OPTIMAL = highspy.HighsModelStatus.kOptimal

#: q = Q_FROM_Z @ (1, P0, P1, e)
Q_FROM_Z = np.array([[0, 0, 0, 1], [0, 1, 0, -1], [0, 0, 1, -1], [1, -1, -1, 1]], dtype=np.float64)


def z_of_q(q: np.ndarray) -> np.ndarray:
    """Coordinates ``(P0, P1, e)`` of a distribution over the 4 deterministic strategies."""
    return np.array([q[0] + q[1], q[0] + q[2], q[0]])


def q_of_z(z: np.ndarray) -> np.ndarray:
    return Q_FROM_Z @ np.concatenate([[1.0], z])


def network_indices(nb: int, mb: int):
    """Incidence of the response weights on the behaviour's entries.

    Returns ``D`` of shape ``(64, 16*nb*mb)``: column ``((alpha*4 + gamma)*nb + b)*mb + y`` has a 1 at every entry
    ``(a, b, c, x, y, z)`` (C order of shape (2, nb, 2, 2, mb, 2)) with ``a = alpha(x)`` and ``c = gamma(z)``.
    """
    shape = (2, nb, 2, 2, mb, 2)
    D = np.zeros((int(np.prod(shape)), 16 * nb * mb))
    for al in range(4):
        for ga in range(4):
            for b in range(nb):
                for y in range(mb):
                    j = ((al * 4 + ga) * nb + b) * mb + y
                    for x in range(2):
                        for z in range(2):
                            a, c = (al >> (1 - x)) & 1, (ga >> (1 - z)) & 1
                            D[np.ravel_multi_index((a, b, c, x, y, z), shape), j] = 1.0
    return D


def _mc_index():
    """Index tables of the McCormick rows into (l, u) = concat(L, U) of each source: row 4 k + m, k = 3 i + j."""
    c1, c2, p1, p2, ge = [], [], [], [], []
    for i in range(3):
        for j in range(3):
            # (coefficient of z1[i] is -v2[.], of z2[j] is -v1[.], bound -v1[.] v2[.], ">=" row?)
            for a2, a1, b1, b2, g in ((j, i, i, j, True), (3 + j, 3 + i, 3 + i, 3 + j, True),
                                      (j, 3 + i, 3 + i, j, False), (3 + j, i, i, 3 + j, False)):
                c1.append(a2)
                c2.append(a1)
                p1.append(b1)
                p2.append(b2)
                ge.append(g)
    return (np.array(c1), np.array(c2), np.array(p1), np.array(p2), np.array(ge))


_MC_P2_COEF, _MC_P1_COEF, _MC_P1, _MC_P2, _MC_GE = _mc_index()


class NBLProgram:
    """Relaxation / exact LP of the NBL problem for one behaviour ``q`` (flat, 64 entries)."""

    def __init__(self, q_flat: np.ndarray, nb: int, mb: int, normalisation: float):
        self.nb, self.mb, self.norm = nb, mb, float(normalisation)
        D = network_indices(nb, mb)
        ne, nt = D.shape
        self.ne, self.nt = ne, nt
        # columns
        c_t, c_sp, c_sm = 0, nt, nt + ne
        c_r = nt + 2 * ne
        c_z1 = c_r + 16
        c_z2 = c_z1 + 3
        c_w = c_z2 + 3
        ncol = c_w + 9
        self.c_t, self.c_r, self.c_z1, self.c_z2, self.c_w = c_t, c_r, c_z1, c_z2, c_w
        # rows
        r_e = 0
        r_b = ne
        r_rz = r_b + 16 * mb
        r_q1 = r_rz + 16
        r_q2 = r_q1 + 4
        r_mc = r_q2 + 4
        nrow = r_mc + 36
        self.r_mc = r_mc
        A = np.zeros((nrow, ncol))
        lo = np.zeros(nrow)
        hi = np.zeros(nrow)
        A[r_e : r_e + ne, c_t : c_t + nt] = D
        A[r_e : r_e + ne, c_sp : c_sp + ne] = -np.eye(ne)
        A[r_e : r_e + ne, c_sm : c_sm + ne] = np.eye(ne)
        lo[:ne] = hi[:ne] = q_flat
        Qz = Q_FROM_Z
        for al in range(4):
            for ga in range(4):
                k = al * 4 + ga
                for y in range(mb):
                    row = r_b + k * mb + y
                    for b in range(nb):
                        A[row, c_t + (k * nb + b) * mb + y] = 1.0
                    A[row, c_r + k] = -1.0
                # r[al, ga] - sum_{ij} Qz[al, i] Qz[ga, j] Z[i, j] = 0, Z[0,0] = 1
                row = r_rz + k
                A[row, c_r + k] = 1.0
                for i in range(4):
                    for j in range(4):
                        coef = Qz[al, i] * Qz[ga, j]
                        if coef == 0:
                            continue
                        if i == 0 and j == 0:
                            lo[row] += coef
                        elif i == 0:
                            A[row, c_z2 + j - 1] -= coef
                        elif j == 0:
                            A[row, c_z1 + i - 1] -= coef
                        else:
                            A[row, c_w + 3 * (i - 1) + (j - 1)] -= coef
                hi[row] = lo[row]
        for al in range(4):  # q(alpha) = Qz[al,0] + Qz[al,1:] . z >= 0
            A[r_q1 + al, c_z1 : c_z1 + 3] = Qz[al, 1:]
            A[r_q2 + al, c_z2 : c_z2 + 3] = Qz[al, 1:]
            lo[r_q1 + al] = lo[r_q2 + al] = -Qz[al, 0]
            hi[r_q1 + al] = hi[r_q2 + al] = INF
        # McCormick rows, initial box: all coordinates in [0, 1]
        self.L1, self.U1 = np.zeros(3), np.ones(3)
        self.L2, self.U2 = np.zeros(3), np.ones(3)
        c1, c2, rlo, rhi = self._mc_data(self.L1, self.U1, self.L2, self.U2)
        for k in range(9):
            i, j = divmod(k, 3)
            for m in range(4):
                row = r_mc + 4 * k + m
                A[row, c_w + k] = 1.0
                A[row, c_z1 + i] = c1[4 * k + m]
                A[row, c_z2 + j] = c2[4 * k + m]
        lo[r_mc : r_mc + 36] = rlo
        hi[r_mc : r_mc + 36] = rhi
        self._c1, self._c2 = c1.copy(), c2.copy()
        # structural nonzeros of the McCormick rows (a coefficient may pass through 0)
        cost = np.zeros(ncol)
        cost[c_sp : c_sp + 2 * ne] = normalisation
        clo = np.zeros(ncol)
        chi = np.ones(ncol)  # every variable is a probability or a difference of two (bounded columns: safe bounds)
        self.h = new_highs()
        self.h.setOptionValue("presolve", "off")  # warm-started re-solves of a small LP: presolve only costs
        self.h.passModel(make_lp(cost, clo, chi, lo, hi, A))
        # a numpy mirror of the LP, kept in step by set_box, for the solver-independent safe bound
        self.A, self.row_lo, self.row_hi = A, lo, hi
        self.cost, self.col_lo, self.col_hi = cost, clo, chi
        # which row bounds are finite never changes (set_box keeps each McCormick row's sense): safe_bound's
        # masks and zero-filled bounds are kept with the mirror
        self._lo_fin, self._hi_fin = np.isfinite(lo), np.isfinite(hi)
        self._lo0, self._hi0 = np.where(self._lo_fin, lo, 0.0), np.where(self._hi_fin, hi, 0.0)
        self._mc_rows = np.arange(r_mc, r_mc + 36, dtype=np.int32)
        self._z_cols = np.arange(c_z1, c_z1 + 6, dtype=np.int32)
        self.n_solves = 0
        #: native HiGHS status name -> count, for every solve that did not end optimal (kept for the result)
        self.failures: dict[str, int] = {}

    @staticmethod
    def _mc_data(L1, U1, L2, U2):
        """Coefficients of z1[i], z2[j] and row bounds of the 36 McCormick rows (4 per pair k = 3 i + j).

        M1: W - l2 z1 - l1 z2 >= -l1 l2     M2: W - u2 z1 - u1 z2 >= -u1 u2
        M3: W - l2 z1 - u1 z2 <= -u1 l2     M4: W - u2 z1 - l1 z2 <= -l1 u2
        """
        v1, v2 = np.concatenate([L1, U1]), np.concatenate([L2, U2])  # (l, u) of each coordinate, by index
        prod = v1[_MC_P1] * v2[_MC_P2]
        rlo = np.where(_MC_GE, -prod, -INF)
        rhi = np.where(_MC_GE, INF, -prod)
        return -v2[_MC_P2_COEF], -v1[_MC_P1_COEF], rlo, rhi

    def set_box(self, L1, U1, L2, U2) -> None:
        """Restrict z1 to [L1, U1] and z2 to [L2, U2] (McCormick coefficients, row and column bounds)."""
        c1, c2, rlo, rhi = self._mc_data(L1, U1, L2, U2)
        h, r_mc, c_z1, c_z2 = self.h, self.r_mc, self.c_z1, self.c_z2
        A = self.A
        for k in np.flatnonzero(c1 != self._c1).tolist():
            h.changeCoeff(r_mc + k, c_z1 + k // 12, float(c1[k]))
            A[r_mc + k, c_z1 + k // 12] = c1[k]
        for k in np.flatnonzero(c2 != self._c2).tolist():
            h.changeCoeff(r_mc + k, c_z2 + (k // 4) % 3, float(c2[k]))
            A[r_mc + k, c_z2 + (k // 4) % 3] = c2[k]
        self._c1, self._c2 = c1, c2
        h.changeRowsBounds(36, self._mc_rows, rlo, rhi)
        zlo, zhi = np.concatenate([L1, L2]), np.concatenate([U1, U2])
        h.changeColsBounds(6, self._z_cols, zlo, zhi)
        self.row_lo[r_mc:], self.row_hi[r_mc:] = rlo, rhi
        self._lo0[r_mc:] = np.where(_MC_GE, rlo, 0.0)
        self._hi0[r_mc:] = np.where(_MC_GE, 0.0, rhi)
        self.col_lo[c_z1 : c_z1 + 6], self.col_hi[c_z1 : c_z1 + 6] = zlo, zhi
        self.L1, self.U1, self.L2, self.U2 = L1, U1, L2, U2

    def solve(self, safe: bool = False):
        """Solve (warm-started from the current basis); returns ``(ok, value, column values)``.

        With ``safe=True`` the value is ``safe_bound`` of HiGHS's row duals instead of its objective: a lower
        bound on the LP optimum that holds whatever the solver's tolerances (used for the B&B lower bounds).
        """
        h = self.h
        h.run()
        self.n_solves += 1
        ms = h.getModelStatus()
        if ms != _OPTIMAL:
            name = native_name(ms)
            self.failures[name] = self.failures.get(name, 0) + 1
            return False, np.nan, None
        sol = h.getSolution()
        x = np.asarray(sol.col_value)
        if safe:
            return True, self.safe_bound(np.asarray(sol.row_dual)), x
        return True, h.getInfo().objective_function_value, x

    def safe_bound(self, y: np.ndarray) -> float:
        """Lagrangian lower bound of the current LP from any row multipliers ``y`` (weak duality).

        ``min c.x`` over ``row_lo <= A x <= row_hi``, ``col_lo <= x <= col_hi`` is at least
        ``sum_i min(y_i row_lo_i, y_i row_hi_i) + sum_j min(d_j col_lo_j, d_j col_hi_j)`` with ``d = c - A^T y``;
        a multiplier whose row bound is infinite on the side it needs is set to 0. All columns are bounded, so
        the bound is finite and valid for any y: LP tolerances can only make it weaker, never wrong.
        """
        pos = y > 0
        y = np.where(pos, y * self._lo_fin, y * self._hi_fin)  # a multiplier on an infinite side is dropped
        rows = np.where(pos, y * self._lo0, y * self._hi0)
        d = self.cost - y @ self.A
        cols = np.where(d > 0, d * self.col_lo, d * self.col_hi)
        return float(rows.sum() + cols.sum())


    def parts(self, x):
        """Split a column vector into ``(t, r, z1, z2, W)``: t (4, 4, nb, mb), r (4, 4), W (3, 3)."""
        t = x[self.c_t : self.c_t + self.nt].reshape(4, 4, self.nb, self.mb)
        r = x[self.c_r : self.c_r + 16].reshape(4, 4)
        return t, r, x[self.c_z1 : self.c_z1 + 3], x[self.c_z2 : self.c_z2 + 3], x[self.c_w : self.c_w + 9].reshape(3, 3)
