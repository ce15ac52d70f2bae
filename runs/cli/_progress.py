"""The progress bar of the command line: a rich bar on stderr behind the library's progress callback.

Library code reports ``progress(done, total, info)`` (``bellcore.Progress``); ``rich_progress`` turns those calls
into one bar (count, rate, elapsed, ETA, and ``info`` beside it). stdout stays clean for ``--json``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

from bellcore import Progress

__all__ = ["rich_progress"]


def _no_progress(done: int, total: int, info: Mapping[str, float | str]) -> None:
    return None


def _fmt_info(info: Mapping[str, float | str]) -> str:
    parts = []
    for k, v in info.items():
        parts.append(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}")
    return "  ".join(parts)


@contextlib.contextmanager
def rich_progress(description: str, total: int | None = None, *, enabled: bool = True) -> Iterator[Progress]:
    """A context manager yielding a callback ``cb(done, total, info)`` that draws a rich bar on stderr.

    ``done`` and ``total`` are absolute counts (``total`` here is the initial guess, ``None`` if unknown; each
    call's ``total`` replaces it). The first call only sets the starting point, so work found already done (a
    resumed run) does not inflate the displayed rate. With ``enabled=False`` the callback does nothing.
    """
    if not enabled:
        yield _no_progress
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress as RichProgress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class _Rate(ProgressColumn):
        def render(self, task) -> Text:
            return Text(f"{task.speed:,.1f}/s" if task.speed else "  -/s")

    with RichProgress(
        TextColumn(description),
        BarColumn(),
        MofNCompleteColumn(),
        _Rate(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=Console(stderr=True),
    ) as bar:
        task = None

        def cb(done: int, total_now: int | None, info: Mapping[str, float | str] | None = None) -> None:
            nonlocal task
            text = _fmt_info(info or {})
            t = total_now if total_now is not None else total
            if task is None:  # first call: the starting point, not progress
                task = bar.add_task(description, total=t, completed=done, info=text)
            else:
                bar.update(task, completed=done, total=t, info=text)

        yield cb
