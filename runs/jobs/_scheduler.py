"""Dask schedulers: the form of an address, checked before any work (a bad one otherwise hangs in ``Client`` for its
connect timeout and prints a ``Client.__del__`` traceback).

Accepted: ``[tcp|tls|ws|wss|ucx]://HOST:PORT`` or ``HOST:PORT`` (Dask's default protocol is tcp), HOST a host
name, an IPv4 address or a bracketed IPv6 address, PORT 1..65535; and ``inproc://...`` (an in-process
cluster's address). Whether a scheduler listens there is only known by connecting: ``dask_client`` connects, with
one message for a scheduler that does not answer.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any, Iterator

__all__ = ["check_scheduler_address", "dask_client", "SCHEMES", "CONNECT_TIMEOUT"]

#: How long to wait for a Dask scheduler before giving up with a clear error.
CONNECT_TIMEOUT = "10s"

SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)$")


def check_scheduler_address(address: str) -> str:
    """``address`` itself when it has the form of a scheduler address; else ``ValueError`` with a one-line
    reason."""
    if not isinstance(address, str) or not address.strip():
        raise ValueError("--scheduler needs an address such as tcp://host:8786")
    a = address.strip()
    if a.startswith("inproc://") and len(a) > len("inproc://"):
        return a
    rest = a
    if "://" in a:
        scheme, rest = a.split("://", 1)
        if scheme not in SCHEMES:
            raise ValueError(f"--scheduler {address!r}: unknown protocol {scheme!r}; expected one of "
                             f"{', '.join(SCHEMES)} (e.g. tcp://host:8786)")
    host, sep, port = rest.rpartition(":")
    if not sep or not host:
        raise ValueError(f"--scheduler {address!r} is not an address: expected tcp://HOST:PORT (e.g. tcp://host:8786)")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"--scheduler {address!r}: port {port!r} must be a number in 1..65535")
    if not _HOST.match(host):
        raise ValueError(f"--scheduler {address!r}: {host!r} is not a host name or IP address")
    return a


@contextlib.contextmanager
def dask_client(address: str) -> Iterator[Any]:
    """A ``distributed.Client`` of the scheduler at ``address`` for the block, closed after it; ``ValueError`` when
    none answers within ``CONNECT_TIMEOUT``."""
    try:
        from distributed import Client
    except ImportError as e:  # pragma: no cover - dask[distributed] is a dependency
        raise RuntimeError(f"--scheduler needs dask.distributed: {e}") from None
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as e:
        raise ValueError(f"cannot connect to the Dask scheduler at {address!r}: {e}") from None
    try:
        yield client
    finally:
        client.close()
