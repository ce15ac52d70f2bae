"""What a stopped run leaves: the reason written into its ``failed`` headline (the signal, or the error's first line),
and the two ways a file gets it when its writer could not (``create_guarded``: a file stopped while being created;
``mark_failed``: a file its stopped runner left ``running``)."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Callable, Iterator

import h5py

from runs.files import _layout as L


def failure_reason(e: BaseException) -> str:
    """What stopped a run, for its file's ``failed`` headline: the signal, or the error's type and first line."""
    from runs._signals import Terminated

    if isinstance(e, Terminated):
        return "terminated (SIGTERM)"
    if isinstance(e, KeyboardInterrupt):
        return "interrupted (SIGINT)"
    first = str(e).splitlines()[0] if str(e) else ""
    return f"{type(e).__name__}: {first}" if first else type(e).__name__


def create_guarded(path: str | os.PathLike, create: Callable[[], h5py.File]) -> h5py.File:
    """``create()`` (which makes the run file ``path``); if it is stopped half-way (a signal while it writes the
    provenance, a full disk) the half-made file is marked failed with the reason instead of being left running."""
    path = Path(path)
    existed = path.exists()
    try:
        return create()
    except BaseException as e:
        if not existed and path.exists():
            mark_failed(path, failure_reason(e))
        raise


@contextlib.contextmanager
def closed_or_failed(f: h5py.File) -> Iterator[h5py.File]:
    """The body writes run file ``f``; on any exception (a signal included) ``f`` is marked failed with the reason
    before it is closed and the exception goes on; either way ``f`` is closed at the end."""
    from runs.files._store import set_status

    try:
        yield f
    except BaseException as e:
        try:
            set_status(f, L.STATUS_FAILED, {L.HEADLINE: f"failed: {failure_reason(e)}"})
        finally:
            f.close()
        raise
    f.close()


def mark_failed(path: str | os.PathLike, reason: str) -> None:
    """Mark an existing run file failed (``summary.headline`` = "failed: REASON"); best effort, never raises."""
    _close_open_handles(path)  # a signal inside its creation leaves this process's own handle open
    try:
        with h5py.File(path, "r+") as f:
            f.attrs[L.STATUS] = L.STATUS_FAILED
            f.attrs[L.SUMMARY] = json.dumps({L.HEADLINE: f"failed: {reason}"})
    except Exception:  # noqa: BLE001 - the file may be unreadable: nothing more can be done
        pass


def _close_open_handles(path: str | os.PathLike) -> None:
    """Close this process's HDF5 handles on ``path`` (an interrupted ``create()`` may still hold one; HDF5 refuses a
    second, writable open of a file this process has open)."""
    try:
        target = os.path.realpath(path)
        for fid in h5py.h5f.get_obj_ids(types=h5py.h5f.OBJ_FILE):
            name = fid.name.decode() if isinstance(fid.name, bytes) else str(fid.name)
            if os.path.realpath(name) == target:
                fid.close()
    except Exception:  # noqa: BLE001 - best effort: marking is attempted anyway
        pass
