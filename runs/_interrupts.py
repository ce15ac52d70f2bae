"""Two gaps around ``runs/_signals.py`` that measurements of ``discover`` showed (SIGTERM after its first search,
5 tries: 2 ended with exit 0, 2 with a segfault at exit):

- a signal whose exception is raised inside a ``__del__`` or a weakref callback (garbage collection) is
  *swallowed* by Python ("Exception ignored in ..."): the run then finished as if nothing happened (exit 0).
  ``watch_signals`` remembers every SIGINT / SIGTERM received inside it; ``check()`` (called from progress
  callbacks) raises it again if it was lost, and leaving the block normally with a lost signal raises it then;
- interpreter shutdown after an interrupted JAX / HiGHS computation can segfault (exit 139) after the true line was
  printed: ``exit_now`` prints that line (``_signals.exit_interrupted``) and leaves at once with the signal's code,
  skipping a finalisation that has nothing left to do (every file is closed and marked before it is called).

Proposed for ``runs/_signals.py`` (the lead's); kept here so that discover and campaign use one copy.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
from typing import Iterator, NoReturn

import typer

from ._signals import Terminated, catch_signals, exit_interrupted


class _Watch:
    def __init__(self) -> None:
        self.pending: BaseException | None = None

    def check(self) -> None:
        """Raise a signal received earlier whose exception did not reach this point (it was swallowed)."""
        if self.pending is not None:
            exc, self.pending = self.pending, None
            raise exc


@contextlib.contextmanager
def watch_signals() -> Iterator[_Watch]:
    """``catch_signals()`` plus memory of every signal received in the block (see the module's docstring)."""
    watch = _Watch()
    with catch_signals():
        chained = {}
        for sig, make in ((signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, Terminated)):
            try:
                prev = signal.getsignal(sig)
            except ValueError:  # pragma: no cover - not the main thread
                continue
            if not callable(prev):
                continue

            def handler(signum, frame, prev=prev, make=make):
                watch.pending = make()
                prev(signum, frame)  # raises KeyboardInterrupt / Terminated where the program is

            try:
                signal.signal(sig, handler)
                chained[sig] = prev
            except ValueError:  # pragma: no cover
                pass
        hook = sys.unraisablehook

        def quiet(u):  # a swallowed signal is remembered and raised at the next check: no traceback for it
            if not isinstance(u.exc_value, KeyboardInterrupt):
                hook(u)

        sys.unraisablehook = quiet
        try:
            yield watch
        except KeyboardInterrupt:
            watch.pending = None  # it arrived: nothing lost
            raise
        finally:
            sys.unraisablehook = hook
            for sig, prev in chained.items():
                signal.signal(sig, prev)
        watch.check()  # the block ended normally although a signal came: it was swallowed on the way


def _real_stdio() -> bool:
    try:
        sys.stderr.fileno()
        sys.stdout.fileno()
        return True
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return False  # an in-process runner (tests) captures the output: leave by typer.Exit


def exit_now(exc: BaseException, what: str) -> NoReturn:
    """``exit_interrupted(exc, what)``; in a real process, then ``os._exit`` with its code (no finalisation)."""
    try:
        exit_interrupted(exc, what)
    except typer.Exit as e:
        if _real_stdio():
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(e.exit_code)
        raise
