"""SIGINT and SIGTERM as one exception, and the exit codes and message each gets.

Every long command runs its work inside ``with catch_signals():`` (the entry point wraps every command in it).
Inside the block SIGINT raises ``KeyboardInterrupt`` and SIGTERM ``Terminated`` (a ``KeyboardInterrupt`` too), so
the same ``finally`` and ``except KeyboardInterrupt`` clauses mark files failed (resumable) for both. The command
then calls ``exit_interrupted(exc, what)``: one true line on stderr and exit 130 (SIGINT) or 143 (SIGTERM), the
shell's codes.

Why our own handler for SIGINT too: Python runs a signal handler at whatever bytecode the main thread is at, and
an exception raised inside a garbage-collector callback or a ``__del__`` is printed as "Exception ignored" and
*dropped*. JAX registers a gc callback, so Ctrl-C during a batch was often swallowed (the run finished, exit 0).
The handler here sees the interrupted frame; inside such a callback it raises nothing, keeps the signal as pending
and re-delivers it to the process 50 ms later, when the program is back in ordinary code, unless ``check()`` (called
from progress ticks, and when a ``catch_signals`` block ends) has raised it first. Callbacks it cannot see (a
weakref callback) are covered too: inside ``catch_signals`` an interrupt that Python reports as unraisable is kept as
pending, not printed, and ``check()`` -- called from progress ticks, and when the block ends -- raises it again.

After an interrupt the process entry (``runs/_main.py``) leaves with ``os._exit``: interpreter finalisation after an
interrupted JAX / HiGHS computation was seen to segfault (exit 139) after the true line.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
import threading
from typing import Iterator, NoReturn

EXIT_SIGINT = 130
EXIT_SIGTERM = 143
_REDELIVER_S = 0.05


#: What this process has been through: the last signal raised as an exception, and whether a command has already
#: said what it left (typer turns an uncaught KeyboardInterrupt into a silent exit 130, losing SIGTERM's 143, so the
#: entry point reads these to print the line and pick the code).
state = {"received": None, "announced": False, "pending": None, "redelivered": False}


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is so that it stops as Ctrl-C does."""


def _swallowing(frame) -> bool:
    """True when ``frame`` runs inside a gc callback or a ``__del__``, where Python drops exceptions."""
    callbacks = {getattr(cb, "__code__", None) for cb in gc.callbacks}
    while frame is not None:
        if frame.f_code in callbacks or frame.f_code.co_name == "__del__":
            return True
        frame = frame.f_back
    return False


def raise_interrupt(signum, frame) -> None:
    """The SIGINT / SIGTERM handler: raise ``KeyboardInterrupt`` / ``Terminated`` where the program is, or, where
    Python would drop it, keep it pending (``check()`` raises it) and deliver the signal again shortly."""
    if state["redelivered"] and state["pending"] is None:  # our own re-delivery of one check() has raised already
        state["redelivered"] = False
        return
    state["redelivered"] = False
    if _swallowing(frame):
        state["pending"] = signum
        threading.Timer(_REDELIVER_S, _redeliver, (signum,)).start()
        return
    state["pending"] = None
    state["received"] = signum
    raise _exception(signum)


def _redeliver(signum: int) -> None:
    if state["pending"] == signum:
        state["redelivered"] = True
        os.kill(os.getpid(), signum)


def _exception(signum: int) -> KeyboardInterrupt:
    return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def check() -> None:
    """Raise an interrupt that was received but swallowed on its way (call it where stopping is safe: progress
    ticks). Does nothing when no interrupt is pending."""
    signum, state["pending"] = state["pending"], None
    if signum is not None:
        state["received"] = signum
        raise _exception(signum)


def install() -> dict[int, object]:
    """Install ``raise_interrupt`` for SIGINT and SIGTERM where the handler is Python's default (or ours already);
    returns the previous handlers of those it replaced.

    A handler someone else chose is left alone: SIG_IGN (a shell ignores SIGINT for a background job), or a
    library caller's own. Off the main thread nothing can be installed and nothing is.
    """
    defaults = {signal.SIGINT: (signal.default_int_handler, raise_interrupt),
                signal.SIGTERM: (signal.SIG_DFL, raise_interrupt)}
    previous: dict[int, object] = {}
    for sig, replaceable in defaults.items():
        try:
            if signal.getsignal(sig) in replaceable:
                previous[sig] = signal.signal(sig, raise_interrupt)
        except ValueError:  # signal handlers can only be set from the main thread
            break
    return previous


@contextlib.contextmanager
def catch_signals() -> Iterator[None]:
    """``install`` for the block, and restore the previous handlers after.

    An interrupt swallowed inside the block (Python reports it as unraisable) is kept as pending instead of printed;
    ``check()`` raises it, and so does the block's normal end.
    """
    previous = install()
    hook = sys.unraisablehook

    def keep(unraisable) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            state["pending"] = signal.SIGTERM if isinstance(unraisable.exc_value, Terminated) else signal.SIGINT
            state["received"] = state["pending"]
        else:
            hook(unraisable)

    sys.unraisablehook = keep
    try:
        yield
    except KeyboardInterrupt:
        state["pending"] = None  # it arrived: nothing was lost
        raise
    finally:
        sys.unraisablehook = hook
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    check()


def exit_code(exc: BaseException | None = None) -> int:
    """130 for Ctrl-C, 143 for SIGTERM (``exc`` None: from the last signal received)."""
    if exc is None:
        return EXIT_SIGTERM if state["received"] == signal.SIGTERM else EXIT_SIGINT
    return EXIT_SIGTERM if isinstance(exc, Terminated) else EXIT_SIGINT


def interrupted_line(exc: BaseException | None, what: str) -> str:
    """``interrupted: WHAT`` or ``terminated (SIGTERM): WHAT`` (``exc`` None: from the last signal received)."""
    head = "terminated (SIGTERM)" if exit_code(exc) == EXIT_SIGTERM else "interrupted"
    return f"{head}: {what}"


def exit_interrupted(exc: BaseException, what: str) -> NoReturn:
    """Print ``interrupted_line(exc, what)`` and exit with the signal's code.

    ``what`` must say what is left on disk and be true: say "nothing was written" when nothing was.
    """
    import typer

    typer.echo(interrupted_line(exc, what), err=True)
    sys.stderr.flush()
    state["announced"] = True
    raise typer.Exit(exit_code(exc))
