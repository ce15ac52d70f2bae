"""Certify many behaviours: progress bar, optional process parallelism, order preserved."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from bellcore import Behaviour, scenario_from_json
from bellcore._progress import progress_bar

__all__ = ["certify_many", "nonlocality_many", "visibility_many", "MEASURES"]


def _measures() -> dict[str, Callable[..., Any]]:
    from ._nl import nonlocality
    from ._visibility import visibility

    from ._nbl import nonbilocality

    return {"nl": nonlocality, "visibility": visibility, "nbl": nonbilocality}


MEASURES = ("nl", "visibility", "nbl")


def _solve_chunk(measure: str, scenario_json: dict, p: np.ndarray, kwargs: dict) -> list[Any]:
    """Worker entry point: certify each behaviour of one chunk (runs in a child process)."""
    sc = scenario_from_json(scenario_json)
    fn = _measures()[measure]
    return [fn(Behaviour(pi, sc), validate=False, **kwargs) for pi in p]


def certify_many(
    behaviours: Behaviour | Sequence[Behaviour],
    *,
    measure: str = "nl",
    workers: int = 1,
    progress: bool = False,
    chunk_size: int = 64,
    **kwargs,
) -> list[Any]:
    """Certify every behaviour of a batch; results come back in input order.

    Args:
        behaviours: a batched ``Behaviour`` (any batch shape, flattened in C order) or a sequence of
            single behaviours of one scenario.
        measure: ``"nl"``, ``"visibility"`` or ``"nbl"``.
        workers: 1 solves in this process; K > 1 uses K spawned worker processes, each building its LP
            once and solving chunks of ``chunk_size`` behaviours.
        progress: show a rich progress bar on stderr.
        kwargs: passed to the single-behaviour function (e.g. ``tol`` for nbl).

    All behaviours are validated up front, so a bad one raises ``ValueError`` before any solve.
    """
    fns = _measures()
    if measure not in fns:
        raise ValueError(f"unknown measure {measure!r}; expected one of {sorted(fns)}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if isinstance(behaviours, Behaviour):
        batch = behaviours.flatten_batch()
    else:
        behaviours = list(behaviours)
        if not behaviours:
            return []
        sc = behaviours[0].scenario
        if any(b.scenario != sc for b in behaviours):
            raise ValueError("all behaviours of a batch must share one scenario")
        batch = Behaviour(np.stack([b.numpy() for b in behaviours]), sc)
    batch.validate()
    p, sc = batch.numpy(), batch.scenario
    n = p.shape[0]
    chunks = [p[i : i + chunk_size] for i in range(0, n, chunk_size)]
    results: list[Any] = []
    with progress_bar(f"certify {measure}", n, progress) as bar:
        if workers == 1:
            fn = fns[measure]
            for chunk in chunks:
                for pi in chunk:
                    results.append(fn(Behaviour(pi, sc), validate=False, **kwargs))
                bar.advance(len(chunk))
        else:
            ctx = mp.get_context("spawn")  # fork is unsafe once JAX / HiGHS threads exist
            with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                futures = [pool.submit(_solve_chunk, measure, sc.to_json(), c, kwargs) for c in chunks]
                done: dict[int, list[Any]] = {}
                index = {f: i for i, f in enumerate(futures)}
                for f in cf.as_completed(futures):
                    done[index[f]] = f.result()
                    bar.advance(len(done[index[f]]))
                for i in range(len(futures)):
                    results.extend(done[i])
    return results


def nonlocality_many(behaviours, *, workers: int = 1, progress: bool = False, **kwargs) -> list[Any]:
    """``certify_many(..., measure="nl")``."""
    return certify_many(behaviours, measure="nl", workers=workers, progress=progress, **kwargs)


def visibility_many(behaviours, *, workers: int = 1, progress: bool = False, **kwargs) -> list[Any]:
    """``certify_many(..., measure="visibility")``."""
    return certify_many(behaviours, measure="visibility", workers=workers, progress=progress, **kwargs)

