"""Text that a file supplies (attributes, names, headlines, error reasons) made safe to print on a terminal.

A run file is anyone's file: its strings may hold escape sequences (clear the screen, recolour, rewrite the
title) or megabytes. ``shown`` is the one rule for printing them: control and format characters become visible
escapes (``\\x1b``), and the text is cut to ``limit`` characters with an ellipsis. Rich markup in it is escaped by
the callers that print through rich.
"""

from __future__ import annotations

import unicodedata

__all__ = ["shown"]


def _visible(ch: str) -> str:
    if ch in "\n\t":
        return " "
    if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
        code = ord(ch)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
    return ch


def shown(value: object, limit: int = 200) -> str:
    """``str(value)`` with control/format characters escaped and at most ``limit`` characters (then ``…``)."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    # Cut before escaping too, so a megabyte string costs no more than the part shown.
    text = text[: limit * 2 + 1]
    out = "".join(_visible(c) for c in text)
    return out if len(out) <= limit else out[: max(limit - 1, 0)] + "…"
