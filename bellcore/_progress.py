"""One progress-bar style for every long loop in bellscope (rich, on stderr, so stdout stays clean)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["progress_bar", "ProgressBar"]


class ProgressBar:
    """Handle yielded by ``progress_bar``: ``advance(k)`` for relative steps, ``update(done)`` for absolute counts.

    The first ``update`` only sets the starting point (kept in ``first``), so work found already done (a resumed
    run) does not inflate the displayed rate. A disabled bar draws nothing but still records ``first``.
    """

    def __init__(self, bar=None, label: str = "", total: int = 0):
        self._bar, self._label, self._total, self._task = bar, label, total, None
        self.first: int | None = None

    def _ensure(self, completed: int = 0) -> bool:
        if self._bar is None:
            return False
        if self._task is None:
            self._task = self._bar.add_task(self._label, total=self._total, completed=completed)
            return False
        return True

    def advance(self, k: int) -> None:
        self._ensure()
        if self._bar is not None:
            self._bar.advance(self._task, k)

    def update(self, done: int) -> None:
        if self.first is None:
            self.first = done
        if self._ensure(done):
            self._bar.update(self._task, completed=done)


@contextlib.contextmanager
def progress_bar(label: str, total: int, enabled: bool = True) -> Iterator[ProgressBar]:
    """A ``ProgressBar`` showing count, rate, elapsed time and ETA on stderr (a no-op when not ``enabled``)."""
    if not enabled:
        yield ProgressBar()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class _Rate(ProgressColumn):
        def render(self, task) -> Text:
            return Text(f"{task.speed:,.1f}/s" if task.speed else "  -/s")

    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        _Rate(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    ) as bar:
        yield ProgressBar(bar, label, total)
