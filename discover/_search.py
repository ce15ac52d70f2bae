"""Searchers over a family of strategies, run by one loop that writes one trace format.

``search(searcher, family, objective, steps=..., seed=...)`` -> ``SearchResult``. The searchers:

- ``GradientSearch``: ``starts`` members of the family optimised at once (optax; ``vmap`` over starts,
  ``value_and_grad`` through the Born rule and the objective -- a surrogate's feature map and ensemble
  included). The step is compiled once (``GradientEngine.compilations`` counts traces).
- ``NevergradSearch``: ask/tell over the flattened searched parameters (``jax.flatten_util.ravel_pytree``),
  optimiser by name from ``NEVERGRAD_OPTIMISERS``; nevergrad minimises ``-value`` and a NaN evaluation is
  told ``NAN_VALUE`` (5e20). The optimiser is deleted after the search (some leave threads otherwise).
- ``RandomSearch``: fresh random members of the family each step (the family's own sampling law).

Objectives are either a JAX ``Objective`` (evaluated jitted and vmapped) or a ``PythonObjective`` (a plain
function of a strategy, e.g. certify's bilocal upper bound: the surrogate-free baseline); the gradient searcher
needs a JAX one.

Trace (``Trace``): per step the step number, wall time since the start (s), the best value among that step's
evaluations, the running best, the number of NaN evaluations and the cumulative number of evaluations.
The same seed gives the same trace (all but ``time``) and the same candidates.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from ._family import Family
from ._objective import NAN_VALUE, Evaluation, Objective
from ._strategy import params_of, with_params

__all__ = [
    "GradientSearch",
    "NevergradSearch",
    "RandomSearch",
    "PythonObjective",
    "Trace",
    "SearchResult",
    "search",
    "NEVERGRAD_OPTIMISERS",
    "GradientEngine",
]

#: Nevergrad optimisers exposed (each tested with a timeout): 1.0.12's NGOpt fails under numpy 2.4; PSO
#: was dropped: it failed to reach CHSH 2.3 in 320 evaluations where these all did (tests/test_discover.py).
NEVERGRAD_OPTIMISERS = ("CMA", "DiagonalCMA", "TwoPointsDE", "DE", "OnePlusOne")
_OPTAX = {"adam": optax.adam, "sgd": optax.sgd, "adabelief": optax.adabelief}

Progress = Callable[[int, int, Mapping[str, float]], None]


# --------------------------------------------------------------------------------------------- configs
@dataclass(frozen=True)
class GradientSearch:
    """Gradient ascent from ``starts`` random members at once (optax ``optimiser`` at ``learning_rate``)."""

    starts: int = 32
    learning_rate: float = 0.05
    optimiser: str = "adam"
    name: str = "gradient"

    def __post_init__(self):
        if self.optimiser not in _OPTAX:
            raise ValueError(f"unknown optax optimiser {self.optimiser!r}; expected one of {sorted(_OPTAX)}")
        if self.starts < 1 or not self.learning_rate > 0:
            raise ValueError(f"need starts >= 1 and learning_rate > 0; got {self.starts}, {self.learning_rate}")


@dataclass(frozen=True)
class NevergradSearch:
    """Nevergrad ``optimiser`` asking ``batch`` points per step, mutation scale ``sigma`` (radians-ish)."""

    optimiser: str = "CMA"
    batch: int = 16
    sigma: float = 0.5
    name: str = ""

    def __post_init__(self):
        if self.optimiser not in NEVERGRAD_OPTIMISERS:
            raise ValueError(f"unknown nevergrad optimiser {self.optimiser!r}; expected one of {NEVERGRAD_OPTIMISERS}")
        if self.batch < 1 or not self.sigma > 0:
            raise ValueError(f"need batch >= 1 and sigma > 0; got {self.batch}, {self.sigma}")
        if not self.name:
            object.__setattr__(self, "name", f"nevergrad-{self.optimiser}")


@dataclass(frozen=True)
class RandomSearch:
    """``batch`` fresh random members of the family per step."""

    batch: int = 64
    name: str = "random"

    def __post_init__(self):
        if self.batch < 1:
            raise ValueError(f"need batch >= 1; got {self.batch}")


@dataclass(frozen=True)
class PythonObjective:
    """A non-JAX objective: ``fn(strategy) -> float`` to maximise (NaN is recorded and told as -NAN_VALUE)."""

    fn: Callable[[Any], float]
    name: str = "python"


# --------------------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class Trace:
    """One searcher's trace; every array has one entry per step (T,)."""

    searcher: str
    step: np.ndarray
    time: np.ndarray
    value: np.ndarray
    best: np.ndarray
    nan: np.ndarray
    evaluations: np.ndarray

    def same_as(self, other: "Trace") -> bool:
        """Equal in everything but wall time (what "same seed, same trace" means)."""
        return all(
            np.array_equal(getattr(self, k), getattr(other, k), equal_nan=True)
            for k in ("step", "value", "best", "nan", "evaluations")
        )


@dataclass(frozen=True)
class SearchResult:
    """A search's trace and its best candidates.

    Attributes:
        params: ``(N, P)`` flattened searched parameters of the best candidates, best first (float64 copies).
        values: ``(N,)`` their objective values.
        seed, steps: what was asked; ``seconds``: wall time.
    """

    searcher: str
    trace: Trace
    params: np.ndarray
    values: np.ndarray
    seed: int
    seconds: float
    unravel: Callable = field(repr=False)
    static: Any = field(repr=False)

    def strategy(self, i: int):
        """Candidate ``i`` as a strategy (float32 leaves, as searched)."""
        return with_params(self.static, self.unravel(jnp.asarray(self.params[i], dtype=jnp.float32)))

    def strategies(self) -> list:
        return [self.strategy(i) for i in range(len(self.params))]


# ------------------------------------------------------------------------------------------- evaluators
def _evaluator(objective, static, unravel):
    """``(B, P) numpy -> (values (B,), nan (B,))`` for a JAX or Python objective."""
    if isinstance(objective, Objective):
        f = jax.jit(jax.vmap(lambda flat: objective(with_params(static, unravel(flat)))))

        def run(flat):
            ev: Evaluation = f(jnp.asarray(flat, dtype=jnp.float32))
            return np.asarray(ev.value, dtype=np.float64), np.asarray(ev.nan, dtype=bool)

        return run
    if isinstance(objective, PythonObjective):

        def run(flat):
            vals = []
            for row in np.asarray(flat):
                v = float(objective.fn(with_params(static, unravel(jnp.asarray(row, dtype=jnp.float32)))))
                vals.append(v)
            vals = np.asarray(vals, dtype=np.float64)
            nan = ~np.isfinite(vals)
            return np.where(nan, -NAN_VALUE, vals), nan

        return run
    raise TypeError(f"objective must be a discover.Objective or discover.PythonObjective; got {type(objective)}")


# ---------------------------------------------------------------------------------------------- engines
class GradientEngine:
    """The gradient searcher's state; ``step()`` evaluates every start, then moves each along its gradient."""

    def __init__(self, cfg: GradientSearch, family: Family, objective: Objective, key, init=None):
        if not isinstance(objective, Objective):
            raise TypeError("the gradient searcher needs a JAX discover.Objective (differentiable)")
        keys = jax.random.split(key, cfg.starts)
        params0, static = params_of(family.init(keys[0]))
        flat0, unravel = ravel_pytree(params0)
        self.static, self.unravel = static, unravel
        flat = jnp.stack([ravel_pytree(params_of(family.init(k))[0])[0] for k in keys])
        if init is not None:  # given starts first (e.g. a surrogate's proposals), random members fill the rest
            init = jnp.asarray(init, flat.dtype)[: cfg.starts]
            if init.ndim != 2 or init.shape[1] != flat0.shape[0]:
                raise ValueError(f"starts must have shape (K, {flat0.shape[0]}); got {tuple(init.shape)}")
            flat = flat.at[: len(init)].set(init)
        opt = _OPTAX[cfg.optimiser](cfg.learning_rate)
        self.flat, self.opt_state = flat, opt.init(flat)
        self.compilations = 0

        def neg(x):
            ev = objective(with_params(static, unravel(x)))
            return -ev.value, ev

        def step(flat, opt_state):
            self.compilations += 1  # runs only while tracing: counts compilations
            (_, ev), g = jax.vmap(jax.value_and_grad(neg, has_aux=True))(flat)
            # a NaN evaluation is recorded in ev.nan; its gradient must not poison the optimiser state
            g = jnp.where(jnp.isfinite(g) & ~ev.nan[:, None], g, 0.0)
            updates, opt_state = opt.update(g, opt_state, flat)
            return optax.apply_updates(flat, updates), opt_state, ev

        self._step = jax.jit(step)
        self.lineage = np.arange(cfg.starts)

    def step(self):
        x = self.flat
        self.flat, self.opt_state, ev = self._step(self.flat, self.opt_state)
        return np.asarray(x, dtype=np.float64), np.asarray(ev.value, np.float64), np.asarray(ev.nan), self.lineage

    def close(self):
        pass


class _NevergradEngine:
    def __init__(self, cfg: NevergradSearch, family: Family, objective, key, seed: int, budget: int):
        import nevergrad as ng

        params0, static = params_of(family.init(key))
        x0, unravel = ravel_pytree(params0)
        self.static, self.unravel = static, unravel
        self.eval = _evaluator(objective, static, unravel)
        param = ng.p.Array(init=np.asarray(x0, dtype=np.float64)).set_mutation(sigma=cfg.sigma)
        param.random_state = np.random.RandomState(seed)
        self.opt = ng.optimizers.registry[cfg.optimiser](parametrization=param, budget=budget, num_workers=cfg.batch)
        self.batch, self.count = cfg.batch, 0

    def step(self):
        cands = [self.opt.ask() for _ in range(self.batch)]
        flat = np.stack([np.asarray(c.value, dtype=np.float64) for c in cands])
        values, nan = self.eval(flat)
        for c, v in zip(cands, values):
            self.opt.tell(c, NAN_VALUE if v <= -NAN_VALUE or not math.isfinite(v) else -float(v))
        lineage = self.count + np.arange(self.batch)
        self.count += self.batch
        return flat, values, nan, lineage

    def close(self):
        del self.opt  # nevergrad optimisers may hold threads; drop the only reference


class _RandomEngine:
    def __init__(self, cfg: RandomSearch, family: Family, objective, key):
        params0, static = params_of(family.init(key))
        _, unravel = ravel_pytree(params0)
        self.static, self.unravel = static, unravel
        self.eval = _evaluator(objective, static, unravel)
        self.draw = jax.jit(jax.vmap(lambda k: ravel_pytree(params_of(family.init(k))[0])[0]))
        self.key, self.batch, self.count = key, cfg.batch, 0

    def step(self):
        self.key, sub = jax.random.split(self.key)
        flat = np.asarray(self.draw(jax.random.split(sub, self.batch)), dtype=np.float64)
        values, nan = self.eval(flat)
        lineage = self.count + np.arange(self.batch)
        self.count += self.batch
        return flat, values, nan, lineage

    def close(self):
        pass


# ------------------------------------------------------------------------------------------------ loop
def search(
    searcher: GradientSearch | NevergradSearch | RandomSearch,
    family: Family,
    objective: Objective | PythonObjective,
    *,
    steps: int,
    seed: int,
    time_budget: float | None = None,
    keep: int = 32,
    progress: Progress | None = None,
    starts: np.ndarray | None = None,
) -> SearchResult:
    """Run one searcher for ``steps`` steps (or until ``time_budget`` seconds), keeping the ``keep`` best
    candidates (the best point of each lineage: a gradient start, or a single evaluation otherwise).

    ``progress(done, steps, {"best", "value", "nan"})`` after every step. ``starts`` ``(K, P)`` (gradient searcher
    only): flattened parameters its first K starts begin from (a coarse search's proposals, refined here); random
    members fill the rest. Raises ``ValueError`` on bad budgets.
    """
    if int(steps) < 1:
        raise ValueError(f"steps must be >= 1; got {steps}")
    if time_budget is not None and not time_budget > 0:
        raise ValueError(f"time_budget must be positive seconds; got {time_budget}")
    key = jax.random.PRNGKey(int(seed))
    if isinstance(searcher, GradientSearch):
        engine = GradientEngine(searcher, family, objective, key, starts)
    elif starts is not None:
        raise ValueError("starts are for the gradient searcher only")
    elif isinstance(searcher, NevergradSearch):
        engine = _NevergradEngine(searcher, family, objective, key, int(seed), int(steps) * searcher.batch)
    elif isinstance(searcher, RandomSearch):
        engine = _RandomEngine(searcher, family, objective, key)
    else:
        raise TypeError(f"unknown searcher {searcher!r}")
    rows: dict[str, list] = {k: [] for k in ("step", "time", "value", "best", "nan", "evaluations")}
    best_of: dict[int, tuple[float, np.ndarray]] = {}
    best, evals = -math.inf, 0
    t0 = time.perf_counter()
    try:
        for i in range(int(steps)):
            flat, values, nan, lineage = engine.step()
            evals += len(values)
            for j in np.argsort(-values, kind="stable")[: max(keep, 1) * 2]:
                lin = int(lineage[j])
                if values[j] > -NAN_VALUE and (lin not in best_of or values[j] > best_of[lin][0]):
                    best_of[lin] = (float(values[j]), flat[j].copy())
            step_best = float(values.max())
            best = max(best, step_best)
            for k, v in zip(rows, (i + 1, time.perf_counter() - t0, step_best, best, int(nan.sum()), evals)):
                rows[k].append(v)
            if progress is not None:
                progress(i + 1, int(steps), {"best": best, "value": step_best, "nan": float(nan.sum())})
            if len(best_of) > 8 * keep:  # bound memory: keep the best lineages only
                best_of = dict(sorted(best_of.items(), key=lambda kv: -kv[1][0])[: 4 * keep])
            if time_budget is not None and time.perf_counter() - t0 >= time_budget:
                break
    finally:
        engine.close()
    seconds = time.perf_counter() - t0
    ranked = sorted(best_of.values(), key=lambda vp: -vp[0])[:keep]
    width = ravel_pytree(params_of(family.init(key))[0])[0].shape[0]
    params = np.stack([p for _, p in ranked]) if ranked else np.zeros((0, width))
    values = np.array([v for v, _ in ranked], dtype=np.float64)
    trace = Trace(
        searcher.name,
        np.asarray(rows["step"], dtype=np.int64),
        np.asarray(rows["time"], dtype=np.float64),
        np.asarray(rows["value"], dtype=np.float64),
        np.asarray(rows["best"], dtype=np.float64),
        np.asarray(rows["nan"], dtype=np.int64),
        np.asarray(rows["evaluations"], dtype=np.int64),
    )
    return SearchResult(searcher.name, trace, params, values, int(seed), seconds, engine.unravel, engine.static)
