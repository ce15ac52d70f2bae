"""The progress contract of every long loop in bellscope's libraries.

Library code (``bellcore``, ``certify``, ``surrogates``, ``discover``) never draws anything: long work takes a
``progress`` callback and calls it as ``progress(done, total, info)`` -- absolute counts (``done`` of ``total``
units of work, ``total`` may change when the work is only estimated) and ``info``, a mapping of short names to
floats or strings to show beside the bar (e.g. ``{"loss": 0.12}``). The command line draws the bar
(``runs.rich_progress``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

__all__ = ["Progress"]

#: ``progress(done, total, info)``: absolute counts, ``info`` a mapping of floats / strings.
Progress = Callable[[int, int, Mapping[str, "float | str"]], None]
