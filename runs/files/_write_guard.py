"""Writing a run file when writes can fail: the free-space check before each chunk (``check_space``) and the guard
that owns an open run file for a run (``write_guard``: marks it failed on any exit that is not complete, closes it,
and turns a failed write into one ``RunWriteError``)."""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import traceback

import h5py
import numpy as np

from runs.files import _layout as L

__all__ = ["RunWriteError", "SPACE_MARGIN", "check_space", "write_guard"]


class RunWriteError(OSError):
    """Writing a run file failed (e.g. no space left on device); its committed rows stay valid.

    ``leaked``: HDF5 kept objects it could not flush (a write failed inside the library); the interpreter may
    crash when it tears them down at exit, so a command line should leave with ``os._exit`` after reporting.
    """

    leaked = False


#: Free space kept in reserve beyond a chunk's own bytes, for HDF5 metadata and the final status (bytes).
SPACE_MARGIN = 256 << 10


def check_space(f: h5py.File, arrays: dict[str, np.ndarray]) -> None:
    """Raise ``RunWriteError`` before a chunk is written when its file system lacks room for it.

    HDF5 cannot recover cleanly from a write that fails midway (it keeps unflushable objects), so a full disk is
    met here, while the file still takes the status ``failed``. The estimate counts each field's bytes plus one
    storage chunk of it (allocation is per chunk) and ``SPACE_MARGIN``.
    """
    need = SPACE_MARGIN
    for field, a in arrays.items():
        ds = f[L.data_path(field)]
        chunk_rows = ds.chunks[0] if ds.chunks else 0
        need += (len(a) + chunk_rows) * (a.nbytes // max(len(a), 1))
    try:
        st = os.statvfs(os.path.dirname(os.path.abspath(f.filename)))
    except (OSError, AttributeError):  # no statvfs (Windows): rely on write_guard
        return
    free = st.f_bavail * st.f_frsize
    if free < need:
        raise RunWriteError(
            f"no space left on device for the next chunk ({free:,} bytes free, ~{need:,} needed)"
        )


class _Guard:
    complete = False


@contextlib.contextmanager
def write_guard(f: h5py.File, path: str | os.PathLike):
    """Own an open run file for the duration of a run: on any exit that is not ``complete``, mark it failed; close it.

    A failed write (disk full) makes HDF5 report errors from object destructors as well ("Exception ignored in
    ... __dealloc__", and a crash at exit if the file stays open). Here those are collected instead of printed,
    the file is closed (flushing what still fits: the status ``failed`` where it can be written), and one
    ``RunWriteError`` says what happened. The rows up to ``rows_complete`` stay valid: each chunk's row count is
    committed only after its data were flushed.
    """
    from runs.files._store import _os_reason, set_status

    guard = _Guard()
    ignored: list[BaseException] = []
    # h5py reports errors of its destructors (Cython: PyErr_PrintEx -> sys.excepthook, then sys.unraisablehook)
    previous_hooks = sys.unraisablehook, sys.excepthook
    sys.unraisablehook = lambda u: ignored.append(u.exc_value)
    sys.excepthook = lambda kind, value, tb: ignored.append(value)
    error: BaseException | None = None
    rows, leaked = None, False
    try:
        yield guard
    except BaseException as e:
        error = e
    finally:
        try:
            failed = [e for e in [error, *ignored] if isinstance(e, (OSError, RuntimeError)) and _is_write_failure(e)]
            if failed:
                # Drop the frames that hold h5py objects and collect them while the file is still open: their
                # destructors would otherwise run after it is closed, at exit, and crash the interpreter.
                for e in [error, *ignored]:
                    if e is not None and e.__traceback__ is not None:
                        traceback.clear_frames(e.__traceback__)
                        e.__traceback__ = None
                gc.collect()
            if not guard.complete:
                try:
                    set_status(f, L.STATUS_FAILED)
                except Exception as e:  # the file may not take even this; its committed rows stay valid
                    ignored.append(e)
            with contextlib.suppress(Exception):
                rows = int(f.attrs[L.ROWS_COMPLETE])
            try:
                f.close()
            except Exception as e:
                ignored.append(e)
            gc.collect()
            leaked = bool(failed) and h5py.h5f.get_obj_count(h5py.h5f.OBJ_ALL, h5py.h5f.OBJ_ALL) > 0
        finally:
            sys.unraisablehook, sys.excepthook = previous_hooks
    failed = [e for e in [error, *ignored] if isinstance(e, (OSError, RuntimeError)) and _is_write_failure(e)]
    if failed and not isinstance(error, KeyboardInterrupt | SystemExit):
        kept = f"its first {rows} rows are committed" if rows is not None else "its committed rows stay valid"
        reason = str(failed[0]) if isinstance(failed[0], RunWriteError) else _os_reason(failed[0])
        ignored.clear()
        error = None
        err = RunWriteError(f"writing {path} stopped: {reason}; {kept}, continue with --resume once the cause is fixed")
        err.leaked = leaked
        raise err from None
    if error is not None:
        raise error


def _is_write_failure(e: BaseException) -> bool:
    if isinstance(e, RunWriteError):
        return True
    text = str(e)
    return "write failed" in text or "No space left" in text or getattr(e, "errno", None) == 28
