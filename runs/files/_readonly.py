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

def _half_the_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):  # pragma: no cover - no sysconf
        return 1 << 34


#: The most one read of one data set may allocate: half this machine's memory (a terabyte declaration is refused
#: before it is honoured).
MAX_READ_BYTES = _half_the_memory()

#: HDF5 filters under which a data set's storage may be smaller than its data (compression): the check of the
#: declared size against the stored bytes is skipped for these, and the memory limit alone applies.
_SHRINKING_FILTERS = {1, 2, 3, 4, 32001, 32004, 32015}

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
    (``h5py.Group`` or ``h5py.Dataset``); else ``ValueError``: missing ("lacks"), a link (soft or external:
    refused, never followed), unreadable, or the wrong type. ``where`` names the file in messages."""
    found = link_kind(f, name)
    if found is None:
        raise ValueError(f"{where} lacks {name}")
    if found != "hard":
        article = "an" if found == "external" else "a"
        raise ValueError(f"{where}: {name} is {article} {found} link ({found.capitalize()}Link); links are refused, "
                         "bellscope reads data sets stored in the file only")
    try:
        obj = f[name]
    except (KeyError, RuntimeError, OSError, ValueError) as e:
        raise ValueError(f"{where}: {name} is unreadable ({_short(e)})") from None
    if not isinstance(obj, kind):
        what = {h5py.Dataset: "data set", h5py.Group: "group"}
        raise ValueError(f"{where}: {name} is a {what.get(type(obj), type(obj).__name__.lower())}, "
                         f"not a {what.get(kind, kind.__name__.lower())}")
    return obj


def dataset_at(f: h5py.File, name: str, where: str) -> h5py.Dataset | None:
    """``hard_link(f, where, name, h5py.Dataset)``, or None when there is nothing at ``name``."""
    return None if link_kind(f, name) is None else hard_link(f, where, name, h5py.Dataset)


def check_size(ds: h5py.Dataset, rows: int | None, where: str, limit: int = MAX_READ_BYTES) -> None:
    """Refuse to read ``rows`` leading rows of ``ds`` (all of it when None) if that would allocate over ``limit``,
    or if an uncompressed data set declares more bytes than the file stores for it (a forged shape that HDF5
    would fill with zeros)."""
    shape = tuple(ds.shape or ())
    if rows is not None and shape:
        shape = (rows,) + shape[1:]
    nbytes = int(np.prod(shape, dtype=object)) * ds.dtype.itemsize
    declared = f"{ds.name} declares {'×'.join(map(str, shape)) or 'scalar'} {ds.dtype} ({nbytes / 2**30:.3g} GiB)"
    if nbytes > limit:
        raise ValueError(f"{where}: {declared}; bellscope reads at most {limit / 2**30:.3g} GiB at once "
                         "(half this machine's memory)")
    try:
        plist = ds.id.get_create_plist()
        filters = {plist.get_filter(i)[0] for i in range(plist.get_nfilters())}
    except Exception:  # noqa: BLE001 - an unreadable filter pipeline: treat as compressed (memory limit only)
        filters = set(_SHRINKING_FILTERS)
    stored = ds.id.get_storage_size()
    if not (filters & _SHRINKING_FILTERS) and nbytes > stored:
        raise ValueError(f"{where}: {declared} but stores {stored:,} bytes: the file is damaged or forged")


def committed_rows(f: h5py.File, ds: h5py.Dataset, where: str) -> int:
    """How many leading rows of ``ds`` hold committed data: the run's ``rows_complete`` for a run file's row data,
    else all rows. The one rule: ``rows_complete`` is an integer in ``[0, len(ds)]``; anything else is a damaged
    file (``ValueError``), never a slice from the end or past the data."""
    n = int(ds.shape[0]) if ds.shape else 0
    top = ds.name.strip("/").split("/", 1)[0]
    if L.ROWS_COMPLETE not in f.attrs or top not in (L.BEHAVIOURS, L.LABELS, "correlators", L.CANDIDATES):
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
