"""Certified nonbilocality (NBL) of the entanglement-swapping network (docs/measures.md, docs/golden.md)."""

import jax

jax.config.update("jax_enable_x64", True)

import itertools  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from scipy.optimize import linprog  # noqa: E402

import bellcore  # noqa: E402
from bellcore import Behaviour, BilocalScenario, bilocal_werner, brgp_value, pr_box, sample_uniform_ns  # noqa: E402
from certify._nbl import BilocalModel, NonbilocalityResult, check_bilocal_model, nonbilocality  # noqa: E402
from certify._nbl_lp import NBLProgram, z_of_q  # noqa: E402
from certify._result import Status  # noqa: E402


SQ2 = math.sqrt(2)


def nbl_binary_werner(v):  # docs/golden.md, checked by branch-and-bound
    return bellcore.golden.nbl_werner(v, "binary")


def nbl_bsm_werner(v):  # ours, certified below; the paper's "v^2 - 1/2" is 4x this (see test_bsm_paper_scale)
    return bellcore.golden.nbl_werner(v, "bsm")


def _contains(r: NonbilocalityResult, value: float, slack: float = 1e-9) -> bool:
    return r.lower - slack <= value <= r.upper + slack


@pytest.mark.parametrize("v", [0.75, 0.9, 1.0])
def test_binary_werner_curve(v):
    r = nonbilocality(bilocal_werner(v, "binary"), tol=1e-3)
    assert r.status == Status.OPTIMAL and r.upper - r.lower <= 1e-3
    assert _contains(r, nbl_binary_werner(v))
    assert r.is_nonbilocal


def test_binary_werner_checked_values():
    """The tabulated values of docs/golden.md match the formula (0.8 is certified to 1e-4 here)."""
    for v, val in [(0.75, 0.0151650), (0.8, 0.0328427), (0.9, 0.0681981), (1.0, 0.1035534)]:
        assert nbl_binary_werner(v) == pytest.approx(val, abs=5e-8)
    r = nonbilocality(bilocal_werner(0.8, "binary"), tol=1e-4)
    assert _contains(r, 0.0328427, 1e-7)


@pytest.mark.parametrize("variant", ["binary", "bsm"])
@pytest.mark.parametrize("v", [0.5, 0.7])
def test_werner_below_threshold_is_bilocal(variant, v):
    r = nonbilocality(bilocal_werner(v, variant), tol=1e-6)
    assert r.status == Status.OPTIMAL
    assert r.upper <= 1e-9 and r.lower == 0.0
    assert not r.is_nonbilocal


@pytest.mark.parametrize("v", [0.8, 1.0])
def test_bsm_werner_curve(v):
    r = nonbilocality(bilocal_werner(v, "bsm"), tol=1e-4)
    assert r.status == Status.OPTIMAL
    assert _contains(r, nbl_bsm_werner(v))


def test_bsm_paper_scale():
    """The paper's NBL = v^2 - 1/2 is 4x ours: it sums |q - p| / 2 over all entries without dividing by the
    4 setting pairs (x, z) of the BSM variant."""
    v = 0.9
    q = bilocal_werner(v, "bsm")
    r = nonbilocality(q, tol=1e-4)
    assert 4 * r.lower - 4e-9 <= v * v - 0.5 <= 4 * r.upper + 4e-9
    paper = 0.5 * np.abs(q.numpy() - r.model.probabilities()).sum()
    assert paper == pytest.approx(4 * r.upper, rel=1e-12)


def _random_model(rng, variant):
    nb, mb = (2, 2) if variant == "binary" else (4, 1)
    R = rng.dirichlet(np.ones(nb), size=(4, 4, mb)).transpose(0, 1, 3, 2)  # (4, 4, nb, mb)
    return BilocalModel(rng.dirichlet(np.ones(4)), rng.dirichlet(np.ones(4)), R, variant)


@pytest.mark.parametrize("variant", ["binary", "bsm"])
def test_bilocal_models_give_zero(variant):
    rng = np.random.default_rng(7)
    for _ in range(2):
        m = _random_model(rng, variant).validate()
        r = nonbilocality(m.behaviour(), tol=1e-6)
        assert r.status == Status.OPTIMAL
        assert r.lower == 0.0 and r.upper <= 1e-6


def _points():
    return sample_uniform_ns(BilocalScenario("binary"), 3, np.random.default_rng(11), chains=3).numpy()


def test_model_reproduces_upper_and_json():
    for p in _points()[:2]:
        r = nonbilocality(p, tol=1e-3)
        assert r.certificate_checked
        assert check_bilocal_model(p, r.model) == pytest.approx(r.upper, abs=1e-12)
        obj = json.loads(json.dumps(r.to_json()))
        assert set(obj) >= {"lower", "upper", "status", "model", "stats"}
        assert obj["status"] == "optimal" and obj["lower"] <= obj["upper"]
        m2 = BilocalModel.from_json(obj["model"])
        assert check_bilocal_model(p, m2) == pytest.approx(r.upper, abs=1e-12)
        assert obj["stats"]["nodes"] == r.nodes and obj["stats"]["lps"] == r.lps


def _exact_lp_scipy(q, q1, nb, mb, norm):
    """Independent formulation (scipy/HiGHS): min norm * sum s  s.t. s >= |p - q|, p from t, sum_b t = q1 q2."""
    shape = (2, nb, 2, 2, mb, 2)
    nt, ne = 16 * nb * mb, 64
    D = np.zeros((ne, nt))
    for al, ga, b, y in itertools.product(range(4), range(4), range(nb), range(mb)):
        j = ((al * 4 + ga) * nb + b) * mb + y
        for x, z in itertools.product(range(2), range(2)):
            e = np.ravel_multi_index(((al >> (1 - x)) & 1, b, (ga >> (1 - z)) & 1, x, y, z), shape)
            D[e, j] = 1
    n = nt + 4 + ne  # t, q2, s
    c = np.concatenate([np.zeros(nt + 4), np.full(ne, norm)])
    A_ub = np.block([[D, np.zeros((ne, 4)), -np.eye(ne)], [-D, np.zeros((ne, 4)), -np.eye(ne)]])
    b_ub = np.concatenate([q, -q])
    rows = []
    for al, ga, y in itertools.product(range(4), range(4), range(mb)):
        row = np.zeros(n)
        for b in range(nb):
            row[((al * 4 + ga) * nb + b) * mb + y] = 1
        row[nt + ga] = -q1[al]
        rows.append(row)
    row = np.zeros(n)
    row[nt : nt + 4] = 1
    rows.append(row)
    A_eq = np.array(rows)
    b_eq = np.zeros(len(rows))
    b_eq[-1] = 1
    res = linprog(c, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=b_eq, bounds=(0, None), method="highs")
    assert res.status == 0
    return res.fun


def test_lower_never_exceeds_dense_search():
    """min over a grid of q1 (step 1/6, 84 points) of the exact LP is an upper bound on NBL."""
    grid = [np.array(k) / 6 for k in itertools.product(range(7), repeat=4) if sum(k) == 6]
    for p in _points()[:2]:
        r = nonbilocality(p, tol=1e-4)
        dense = min(_exact_lp_scipy(p.ravel(), q1, 2, 2, 1 / 16) for q1 in grid)
        assert r.lower <= dense + 1e-9
        assert r.upper <= dense + 1e-9 or r.upper - r.lower <= 1e-4  # the search beats the grid or is tight


def test_swap_and_relabel_invariance():
    p = _points()[2]
    r = nonbilocality(p, tol=1e-3)
    swapped = np.transpose(p, (2, 1, 0, 5, 4, 3))  # A <-> C
    flipped = p[::-1, :, :, :, :, :].copy()  # relabel A's outcome for both settings
    flipped_b = p.copy()
    flipped_b[:, :, :, :, 1, :] = p[:, ::-1, :, :, 1, :]  # relabel B's outcome at y = 1
    for q in (swapped, flipped, flipped_b):
        r2 = nonbilocality(q, tol=1e-3)
        assert r2.lower <= r.upper + 1e-9 and r.lower <= r2.upper + 1e-9


def test_limit_status_is_honest():
    p = _points()[0]
    r = nonbilocality(p, tol=1e-8, max_nodes=3)
    assert r.status == Status.LIMIT and "node limit" in r.message
    assert 0 <= r.lower <= r.upper
    full = nonbilocality(p, tol=1e-4)
    assert r.lower <= full.upper + 1e-9 and full.lower <= r.upper + 1e-9
    assert math.isnan(r.value)


def test_nonlocal_boxes_and_accepts_arrays():
    """A PR box between A and C through B (b ignored) is far from bilocal; bare arrays select the variant."""
    pr = pr_box().numpy()  # p[a, c, x, z]
    p = np.einsum("acxz,b,y->abcxyz", pr, np.full(2, 0.5), np.ones(2))
    r = nonbilocality(p, tol=1e-2)
    assert r.scenario == BilocalScenario("binary") and r.is_nonbilocal
    assert r.upper <= 0.5 + 1e-9  # B, C uniform and independent of A is a bilocal model at distance 1/2
    # bsm layout: same correlations, B uniform over 4 outcomes
    p4 = np.einsum("acxz,b,y->abcxyz", pr, np.full(4, 0.25), np.ones(1))
    r4 = nonbilocality(p4, tol=1e-2)
    assert r4.scenario == BilocalScenario("bsm") and r4.is_nonbilocal


def test_bad_inputs():
    good = bilocal_werner(0.9, "binary").numpy()
    with pytest.raises(ValueError, match="shape"):
        nonbilocality(np.full((2, 2, 2, 2), 0.25))
    with pytest.raises(ValueError, match="bilocal"):
        nonbilocality(pr_box())
    bad = good.copy()
    bad[0, 0, 0, 0, 0, 0] += 0.1
    with pytest.raises(ValueError, match="normalised"):
        nonbilocality(bad)
    neg = good.copy()
    neg[0, 0, 0, 0, 0, 0] -= 0.2
    neg[1, 0, 0, 0, 0, 0] += 0.2
    with pytest.raises(ValueError):
        nonbilocality(neg)
    sig = good.copy()  # A's marginal depends on z: signalling
    sig[0, 0, 0, 0, 0, 0] += 0.05
    sig[1, 0, 0, 0, 0, 0] -= 0.05
    with pytest.raises(ValueError, match="signalling|negative"):
        nonbilocality(sig)
    with pytest.raises(ValueError, match="batch"):
        nonbilocality(Behaviour(np.stack([good, good]), BilocalScenario("binary")))
    with pytest.raises(ValueError, match="tol"):
        nonbilocality(good, tol=0)
    with pytest.raises(ValueError):
        nonbilocality(np.full((2, 2, 2, 2, 2, 2), np.nan))
    with pytest.raises(ValueError, match="variant"):
        check_bilocal_model(good, _random_model(np.random.default_rng(0), "bsm"))
    m = _random_model(np.random.default_rng(0), "binary")
    with pytest.raises(ValueError, match="normalised"):
        check_bilocal_model(good, BilocalModel(m.q1 * 2, m.q2, m.response, "binary"))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_safe_bound_is_weak_duality(seed):
    """Any multipliers give a bound below the LP optimum; HiGHS's own duals give the optimum itself."""
    rng = np.random.default_rng(seed)
    q = _points()[0].ravel()
    m = NBLProgram(q, 2, 2, 1 / 16)
    z1, z2 = (z_of_q(rng.dirichlet(np.ones(4))) for _ in range(2))  # boxes around feasible points
    w1, w2 = rng.uniform(0, 0.3, (2, 3))
    m.set_box(np.clip(z1 - w1, 0, 1), np.clip(z1 + w1, 0, 1), np.clip(z2 - w2, 0, 1), np.clip(z2 + w2, 0, 1))
    ok, value, _ = m.solve()
    assert ok
    y = np.asarray(m.h.getSolution().row_dual)
    assert m.safe_bound(y) == pytest.approx(value, abs=1e-9)
    assert m.safe_bound(y + rng.normal(0, 0.05, y.shape)) <= value + 1e-12
    assert m.safe_bound(np.zeros_like(y)) <= value + 1e-12


def test_search_statistics():
    r = nonbilocality(_points()[1], tol=1e-3)
    assert r.upper_initial >= r.upper - 1e-12  # the search only improves the initial upper bound
    assert r.lps >= r.nodes >= 1 and r.seconds >= r.upper_seconds > 0
    assert r.upper_lps >= 1


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from(["binary", "bsm"]))
def test_bilocal_models_satisfy_brgp(seed, variant):
    """BRGP: every bilocal model has sqrt|I| + sqrt|J| <= 1 (sparse random models reach the boundary region)."""
    rng = np.random.default_rng(seed)
    nb, mb = (2, 2) if variant == "binary" else (4, 1)
    R = rng.dirichlet(np.full(nb, 0.1), size=(4, 4, mb)).transpose(0, 1, 3, 2)
    m = BilocalModel(rng.dirichlet(np.full(4, 0.3)), rng.dirichlet(np.full(4, 0.3)), R, variant)
    assert float(brgp_value(m.behaviour())) <= 1 + 1e-12


_REFERENCE = json.loads((__import__("pathlib").Path(__file__).parent / "data" / "nbl_reference.json").read_text())
# the binary Werner points need ~4 s each: kept in the fixture, left out of the (fast) suite
_REF_POINTS = [pt for pt in _REFERENCE["points"] if not (pt["variant"] == "binary" and "werner" in pt)]


@pytest.mark.parametrize("i", range(len(_REF_POINTS)))
def test_intervals_unchanged_on_reference_points(i):
    """Certified intervals at tol 1e-4 of fixed points (uniform NS of both variants, BSM Werner), computed by the
    search as of commit 9cc712b (tests/data/nbl_reference.json): today's interval is still certified to tol and
    overlaps the reference one (both contain NBL), so the two agree to within tol."""
    pt = _REF_POINTS[i]
    sc = BilocalScenario(pt["variant"])
    p = np.asarray(pt["p"]).reshape(sc.shape)
    r = nonbilocality(Behaviour(p, sc), tol=_REFERENCE["tol"])
    assert r.status == Status.OPTIMAL and r.gap <= _REFERENCE["tol"]
    assert r.certificate_checked
    assert r.lower <= pt["upper"] + 1e-9 and pt["lower"] <= r.upper + 1e-9
    assert abs(r.upper - pt["upper"]) <= _REFERENCE["tol"] + 1e-9


def test_known_lower_stops_the_search_early_and_keeps_the_interval_valid():
    """``known_lower`` (nbl_label passes the tripartite NL's certified lower bound) only stops the search earlier:
    the interval still overlaps the plain search's, is optimal at tol and its lower bound includes the given one."""
    from certify import tripartite_nonlocality

    sc = BilocalScenario("bsm")
    pts = sample_uniform_ns(sc, 3, np.random.default_rng(11), chains=3).numpy()
    for p in pts:
        tri = max(0.0, float(tripartite_nonlocality(p).lower))
        plain = nonbilocality(p, tol=1e-4)
        hinted = nonbilocality(p, tol=1e-4, known_lower=tri)
        assert plain.status == hinted.status == Status.OPTIMAL and hinted.certificate_checked
        assert hinted.lower >= tri - 1e-12 and hinted.gap <= 1e-4
        assert hinted.lower <= plain.upper + 1e-9 and plain.lower <= hinted.upper + 1e-9
        assert hinted.nodes <= plain.nodes
    with pytest.raises(ValueError, match="known_lower"):
        nonbilocality(pts[0], known_lower=float("nan"))
