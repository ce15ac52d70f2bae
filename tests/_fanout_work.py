"""Work for tests/test_fanout.py's worker processes: imports nothing heavy, so a spawned worker starts at once."""

import time


def late_first(i: int) -> int:
    """``-i``, with earlier items finishing later (results arrive out of order unless they are put back in order)."""
    time.sleep(0.05 * (4 - i % 5))
    return -i
