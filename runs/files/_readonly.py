"""Reading a file someone else wrote: the one read-only opener and the checks made before anything is allocated.

Every command that reads an HDF5 file (``runs ls|show|plot|export``, ``certify``, ``train``, ``predict``,
campaigns) goes through here, so a damaged or hostile file is refused the same way everywhere, in one line:

- only a regular file is opened (a FIFO would block, a device would stream forever);
- a data set is reached through hard links only: soft links (a loop, a dangling name) and external links (another
  file, chosen by whoever wrote this one) are refused, never followed;
- a data set's declared size is checked before it is read (a few bytes of header can declare terabytes that
  HDF5 would fill with zeros), and so is its dtype;
- ``rows_complete``, the committed prefix of a run's row data, has one rule (``committed_rows``).

Raises ``ValueError`` with a one-line reason that names the file; strings taken from the file go through
``runs.files._untrusted.shown`` before they are printed.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import Iterator

import h5py
import numpy as np

from runs.files import _layout as L
from runs.files._untrusted import shown

__all__ = ["open_readonly", "dataset_at", "hard_link", "link_kind", "regular_file", "committed_rows", "read_rows", "check_size", "MAX_READ_BYTES"]

#: The most one read of one data set may allocate (a terabyte declaration is refused before it is honoured).
MAX_READ_BYTES = 4 * 2**30

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def regular_file(path: str | os.PathLike, what: str = "file") -> Path:
    """``path`` if it names an existing regular file (a link to one is followed); else ``ValueError``."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ValueError(f"no such file: {shown(str(path))}") from None
    except OSError as e:  # a link loop, a permission problem
        raise ValueError(f"{shown(str(path))}: cannot read ({e.strerror or type(e).__name__})") from None
    if stat.S_ISDIR(st.st_mode):
        raise ValueError(f"{shown(str(path))} is a directory, not a {what}")
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{shown(str(path))} is not a regular file (a pipe, socket or device); give a {what}")
    return path


def _has_hdf5_signature(path: Path) -> bool:
    # The superblock may sit at 0, 512, 1024, 2048, ... (a user block before it); check the usual places.
    try:
        with open(path, "rb") as fh:
            for off in (0, 512, 1024, 2048, 4096):
                fh.seek(off)
                if fh.read(8) == _HDF5_SIGNATURE:
                    return True
    except OSError:
        return False
    return False


def _short(e: Exception) -> str:
    s = str(e).splitlines()[0] if str(e) else type(e).__name__
    return shown(s, 120)


@contextlib.contextmanager
def open_readonly(path: str | os.PathLike) -> Iterator[tuple[h5py.File, bool]]:
    """Open ``path`` read-only; yields ``(file, locked_by_writer)``.

    A file its writer still holds (HDF5 file locking) is reopened without the lock: the root attributes and the
    flushed rows are readable (the store flushes after each chunk). Raises ``ValueError`` with a one-line reason
    for a missing, non-regular or non-HDF5 file.
    """
    path = regular_file(path, "run file")
    locked = False
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        if not _has_hdf5_signature(path):
            raise ValueError(f"{shown(str(path))}: not an HDF5 file (corrupt or another format)") from None
        try:
            f = h5py.File(path, "r", locking=False)
            locked = "lock" in str(e).lower()
        except OSError as e2:
            raise ValueError(f"{shown(str(path))}: unreadable HDF5 file (truncated or corrupt: {_short(e2)})") from None
    try:
        yield f, locked
    finally:
        f.close()


def link_kind(f: h5py.File, name: str) -> str | None:
    """``"hard"``, ``"soft"`` or ``"external"`` for each component of ``name`` up to the first that is not hard;
    None if the name does not exist. Looks at links only: nothing is followed."""
    parts = [p for p in name.strip("/").split("/") if p]
    here = "/"
    for part in parts:
        here = here.rstrip("/") + "/" + part
        try:
            link = f.get(here, getlink=True)
        except (KeyError, RuntimeError, OSError, ValueError):
            return None
        if link is None:
            return None
        if isinstance(link, h5py.SoftLink):
            return "soft"
        if isinstance(link, h5py.ExternalLink):
            return "external"
    return "hard"


def hard_link(f: h5py.File, where: str, name: str, kind: type) -> h5py.Group | h5py.Dataset:
    """The object at ``name``, which the layout requires, reached through hard links only and of type ``kind``
    (``h5py.Group`` or ``h5py.Dataset``); else ``ValueError``: missing ("lacks"), a link (``SoftLink`` /
    ``ExternalLink``: refused, never followed), or the wrong type."""
    found = link_kind(f, name)
    if found is None:
        raise ValueError(f"{where} lacks {name}")
    if found != "hard":
        link = f"{found.capitalize()}Link"
        raise ValueError(f"{where}: {name} is a {link} (links are refused; a bellscope run file has none)")
    obj = f[name]
    if not isinstance(obj, kind):
        raise ValueError(f"{where}: {name} is a {type(obj).__name__.lower()}, not a {kind.__name__.lower()}")
    return obj


def dataset_at(f: h5py.File, name: str, where: str) -> h5py.Dataset | None:
    """The data set ``name`` reached through hard links only, or None when there is none.

    Raises ``ValueError`` for a link (soft or external) or a group at that name. ``where`` names the file in
    messages.
    """
    kind = link_kind(f, name)
    if kind is None:
        return None
    if kind != "hard":
        article = "an" if kind == "external" else "a"
        raise ValueError(f"{where}: {name} is {article} {kind} link; bellscope reads data sets stored in the file only")
    try:
        obj = f[name]
    except (KeyError, RuntimeError, OSError, ValueError) as e:
        raise ValueError(f"{where}: {name} is unreadable ({_short(e)})") from None
    if not isinstance(obj, h5py.Dataset):
        raise ValueError(f"{where}: {name} is a group, not a data set")
    return obj


def check_size(ds: h5py.Dataset, rows: int | None, where: str, limit: int = MAX_READ_BYTES) -> None:
    """Refuse to read ``rows`` leading rows of ``ds`` (all of it when None) if that would allocate over ``limit``."""
    shape = tuple(ds.shape or ())
    if rows is not None and shape:
        shape = (rows,) + shape[1:]
    nbytes = int(np.prod(shape, dtype=object)) * ds.dtype.itemsize
    if nbytes > limit:
        raise ValueError(
            f"{where}: {ds.name} declares {'×'.join(map(str, shape)) or 'scalar'} {ds.dtype} "
            f"({nbytes / 2**30:.3g} GiB); bellscope reads at most {limit / 2**30:.3g} GiB at once"
        )


def committed_rows(f: h5py.File, ds: h5py.Dataset, where: str) -> int:
    """How many leading rows of ``ds`` hold committed data: the run's ``rows_complete`` for a run file's row data,
    else all rows. The one rule: ``rows_complete`` is an integer in ``[0, len(ds)]``; anything else is a damaged
    file (``ValueError``), never a slice from the end or past the data."""
    n = int(ds.shape[0]) if ds.shape else 0
    top = ds.name.strip("/").split("/", 1)[0]
    if L.ROWS_COMPLETE not in f.attrs or top not in (L.BEHAVIOURS, L.LABELS, "correlators"):
        return n
    raw = f.attrs[L.ROWS_COMPLETE]
    value = np.asarray(raw)
    if value.shape != () or value.dtype.kind not in "iu":
        raise ValueError(f"{where}: attribute {L.ROWS_COMPLETE!r} is not an integer (damaged run file)")
    rc = int(value)
    if rc < 0 or rc > n:
        raise ValueError(
            f"{where}: attribute {L.ROWS_COMPLETE!r} = {rc} is outside 0..{n}, the rows of {ds.name} (damaged run file)"
        )
    return rc


def read_rows(f: h5py.File, ds: h5py.Dataset, where: str, kinds: str = "fiub") -> np.ndarray:
    """The committed rows of ``ds`` (``committed_rows``), after checking their size and that the dtype is one of
    ``kinds`` (numpy kind letters)."""
    if ds.dtype.kind not in kinds:
        raise ValueError(f"{where}: {ds.name} has dtype {ds.dtype}, not numbers")
    if not ds.shape:
        raise ValueError(f"{where}: {ds.name} is a scalar, not rows")
    n = committed_rows(f, ds, where)
    check_size(ds, n, where)
    try:
        return np.asarray(ds[:n])
    except (OSError, RuntimeError, ValueError) as e:
        raise ValueError(f"{where}: {ds.name} is unreadable ({_short(e)})") from None
