"""``ordered_map``: one function over many items on worker processes (or a cluster), results in item order.

The one fan-out of bellscope's batch work (``certify.certify_many``, the dataset runner, the campaign's certify
stage). Why processes and not threads: HiGHS objects shared across threads crash, and a process builds its own
(one HiGHS object per worker); "spawn", because fork is unsafe once JAX or HiGHS threads exist. At most ``window``
items are in flight, so memory stays bounded however many items there are, and an interrupt (or any exception in
the consumer) cancels every item not yet started and waits for the running ones before it propagates: no worker
outlives the call.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import multiprocessing as mp
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from ._progress import Progress

__all__ = ["ordered_map"]

T = TypeVar("T")
R = TypeVar("R")

#: ``submit(fn, item) -> future``: how an item reaches a cluster (e.g. a Dask ``Client.submit``); the future has
#: ``.result()``.
Submit = Callable[[Callable[[Any], Any], Any], Any]


def ordered_map(
    fn: Callable[[T], R],
    items: Iterable[T],
    *,
    workers: int = 1,
    submit: Submit | None = None,
    window: int | None = None,
    weights: Sequence[int] | None = None,
    progress: Progress | None = None,
    check: Callable[[], None] | None = None,
) -> Iterator[R]:
    """Yield ``fn(item)`` for every item, in item order.

    Args:
        fn: a top-level function (or a ``functools.partial`` of one), so that worker processes can import it.
        workers: 1 calls ``fn`` in this process, one item after the other; K > 1 runs K spawned worker processes.
        submit: send items elsewhere instead (a cluster): ``submit(fn, item)`` returns a future; ``workers`` is then
            unused and ``window`` should be about twice the cluster's threads.
        window: most items in flight at once (default ``2 * workers``).
        weights: units of work per item, for ``progress`` (default 1 each).
        progress: ``progress(done, total, {})`` once before the first result and after each result, in units of
            ``weights``.
        check: called after each result, where stopping is safe (e.g. ``runs._signals.check``: an interrupt that a
            gc callback swallowed is raised there).

    Arguments are checked at the call; nothing runs until the first result is asked for. A consumer that stops
    early (or is interrupted) leaves no work running behind it.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1; got {workers!r}")
    if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window < 1):
        raise ValueError(f"window must be an integer >= 1; got {window!r}")
    items = list(items)
    w = [1] * len(items) if weights is None else [int(x) for x in weights]
    if len(w) != len(items):
        raise ValueError(f"{len(w)} weights for {len(items)} items")
    return _in_order(fn, items, w, workers, submit, window or 2 * workers, progress, check)


def _in_order(fn, items: list, w: list[int], workers, submit, window, progress, check) -> Iterator[Any]:
    total, done = sum(w), 0
    if progress:
        progress(0, total, {})
    for k, out in enumerate(_results(fn, items, workers, submit, window)):
        done += w[k]
        if progress:
            progress(done, total, {})
        if check:
            check()
        yield out


def _results(fn, items: list, workers: int, submit: Submit | None, window: int) -> Iterator[Any]:
    if submit is not None:
        yield from _windowed(lambda x: submit(fn, x), items, window)
        return
    if workers == 1:
        for x in items:
            yield fn(x)
        return
    ex = cf.ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"))
    try:
        yield from _windowed(lambda x: ex.submit(fn, x), items, window)
    finally:  # an interrupt, an error, or a consumer that stopped early: drop what has not started
        ex.shutdown(wait=True, cancel_futures=True)


def _windowed(start: Callable[[Any], Any], items: list, window: int) -> Iterator[Any]:
    """Keep up to ``window`` futures in flight; yield their results in item order."""
    pending: collections.deque = collections.deque()
    it = iter(items)
    for x in it:
        pending.append(start(x))
        if len(pending) >= window:
            break
    while pending:
        out = pending.popleft().result()
        nxt = next(it, _END)
        if nxt is not _END:
            pending.append(start(nxt))
        yield out


_END = object()
