"""Certify many behaviours: progress callback, optional process parallelism (``bellcore.ordered_map``), order
preserved."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from bellcore import Behaviour, Progress, as_behaviour, ordered_map, scenario_from_json

from ._result import raise_unless_solved

__all__ = ["certify_many", "nonlocality_many", "visibility_many", "MEASURES"]

def _measures() -> dict[str, Callable[..., Any]]:
    from ._nbl import nonbilocality
    from ._nl import nonlocality
    from ._visibility import visibility

    return {"nl": nonlocality, "visibility": visibility, "nbl": nonbilocality}


#: The measures ``certify_many`` computes (names of its ``measure`` argument).
MEASURES = ("nl", "visibility", "nbl")


def _solve_chunk(measure: str, scenario_json: dict, kwargs: dict, p: np.ndarray) -> list[Any]:
    """Certify each behaviour of one chunk ``p (n, *shape)`` (a top-level function: worker processes import it; each
    builds its own solver objects)."""
    sc = scenario_from_json(scenario_json)
    if measure == "nl":  # many behaviours per solver call, certificates checked for the whole chunk at once
        from ._nl_batch import nonlocality_chunk

        return nonlocality_chunk(p, sc, **kwargs)
    fn = _measures()[measure]
    return [fn(Behaviour(pi, sc), validate=False, **kwargs) for pi in p]


def _as_batch(behaviours) -> Behaviour:
    """A flat batched ``Behaviour`` from what the single-point calls accept, one or many of them.

    Accepts a (batched) ``Behaviour``, an array ``(N, *shape)`` (scenario inferred from the shape, as the
    single calls do), or a sequence of ``Behaviour`` objects or arrays sharing one scenario.
    """
    if isinstance(behaviours, Behaviour):
        return behaviours.flatten_batch() if behaviours.is_batch else behaviours[None]
    if isinstance(behaviours, (list, tuple)):
        if not behaviours:
            raise ValueError("empty batch: nothing to certify")
        items = [as_behaviour(b, validate=False) for b in behaviours]
        sc = items[0].scenario
        if any(b.scenario != sc for b in items):
            raise ValueError("all behaviours of a batch must share one scenario")
        if any(b.is_batch for b in items):
            raise ValueError("a sequence of behaviours must hold single behaviours, not batches")
        return Behaviour(np.stack([b.numpy() for b in items]), sc)
    beh = as_behaviour(behaviours, validate=False)
    return beh.flatten_batch() if beh.is_batch else beh[None]


def _input_tolerance(behaviours) -> float:
    """Validation tolerance of the batch's input precision (the loosest of its parts)."""
    from bellcore import default_tolerance

    parts = behaviours if isinstance(behaviours, (list, tuple)) else [behaviours]
    dtypes = [np.asarray(b.p if isinstance(b, Behaviour) else b).dtype for b in parts]
    return max(default_tolerance(d) for d in dtypes)


def certify_many(
    behaviours: Behaviour | np.ndarray | Sequence[Behaviour | np.ndarray],
    *,
    measure: str = "nl",
    workers: int = 1,
    progress: Progress | None = None,
    chunk_size: int = 64,
    throw: bool = False,
    **kwargs,
) -> list[Any]:
    """Certify every behaviour of a batch; results come back in input order.

    Args:
        behaviours: a batched ``Behaviour`` (any batch shape, flattened in C order), an array ``(N, *shape)``,
            or a sequence of single behaviours (``Behaviour`` or arrays) of one scenario.
        measure: ``"nl"``, ``"visibility"`` or ``"nbl"`` (``MEASURES``).
        workers: 1 solves in this process; K > 1 uses K spawned worker processes (``bellcore.ordered_map``),
            each solving chunks of ``chunk_size`` behaviours with its own solver objects.
        progress: ``progress(done, total, info)`` after each chunk (e.g. ``runs.rich_progress``'s callback).
        chunk_size: behaviours per unit of work (>= 1).
        throw: raise ``CertificationError`` for the first result (in input order) whose status is not in
            ``SOLVED``, once all are solved.
        kwargs: passed to the single-behaviour function (e.g. ``tol`` for nbl).

    All behaviours are validated up front, so a bad one raises ``ValueError`` before any solve.
    """
    fns = _measures()
    if measure not in fns:
        raise ValueError(f"unknown measure {measure!r}; expected one of {', '.join(MEASURES)}")
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1; got {workers!r}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an integer >= 1; got {chunk_size!r}")
    if progress is not None and not callable(progress):
        raise ValueError(
            f"progress must be a callback progress(done, total, info) or None; got {progress!r} "
            "(for a bar on stderr: `with runs.rich_progress('certify', n) as cb: certify_many(..., progress=cb)`)"
        )
    batch = _as_batch(behaviours)
    batch.validate(atol=_input_tolerance(behaviours))
    p, sc = batch.numpy(), batch.scenario
    n = p.shape[0]
    chunks = [p[i : i + chunk_size] for i in range(0, n, chunk_size)]
    solve = functools.partial(_solve_chunk, measure, sc.to_json(), kwargs)
    results: list[Any] = []
    for chunk_results in ordered_map(solve, chunks, workers=int(workers), weights=[len(c) for c in chunks],
                                     progress=progress):
        results.extend(chunk_results)
    for r in results:
        raise_unless_solved(r, throw)
    return results


def nonlocality_many(behaviours, *, workers: int = 1, progress: Progress | None = None, **kwargs) -> list[Any]:
    """``certify_many(..., measure="nl")``: accepts what ``nonlocality`` accepts, one or many of them.

    With HiGHS on enumerated bipartite scenarios, the certificates of each chunk are checked for all rows at once
    (``certify._nl_batch``), the results bit-identical to ``nonlocality``'s. ``blocks=True`` also solves several
    behaviours per HiGHS call (the fast path at m <= 4: docs/performance.md); every result still has its own
    checked certificate, and values agree with ``nonlocality``'s to LP round-off (not bit for bit: a dataset's
    stored labels are reproduced exactly only without blocks)."""
    return certify_many(behaviours, measure="nl", workers=workers, progress=progress, **kwargs)


def visibility_many(behaviours, *, workers: int = 1, progress: Progress | None = None, **kwargs) -> list[Any]:
    """``certify_many(..., measure="visibility")``: accepts what ``visibility`` accepts, one or many of them."""
    return certify_many(behaviours, measure="visibility", workers=workers, progress=progress, **kwargs)
