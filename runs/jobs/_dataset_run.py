"""Chunked, resumable dataset generation on local processes or a Dask cluster.

The unit of work is a chunk: ``surrogates.make_chunk_json(spec_json, i)``, a pure function. Chunks are computed
ahead (at most a small window in flight) and written strictly in chunk order, one flush per chunk. Hence:

- the file holds the same data whatever the number of workers or the scheduler;
- after a kill, ``resume=True`` truncates any half-written chunk, checks that the stored config hash equals the
  new spec's, and continues with the next chunk; the finished data equal those of an uninterrupted run.

Local parallelism is ``bellcore.ordered_map`` (spawned processes); a scheduler address sends the same calls to a Dask
distributed cluster (``distributed.Client``) through the same function. No home-made task queue.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from bellcore import CHSH_CLASSES, Progress
from surrogates import STATUS_NAMES, DatasetSpec, label_fields, make_chunk_json, summarise

from runs.files import _layout as L
from runs.files import _store
from runs.files._readonly import check_size, hard_link, open_readonly
from runs.files._write_guard import write_guard

__all__ = ["run_dataset", "read_dataset", "SEED_DERIVATION"]

SEED_DERIVATION = (
    "chunk i of chunk_size points uses numpy.random.default_rng(numpy.random.SeedSequence(master, spawn_key=(i,)))"
)

#: Every worker computes on one core: BLAS thread pools in K worker processes on K cores would oversubscribe them
#: (OpenBLAS spin-waits; docs/performance.md). Dask's nanny sets the same variables.
SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@contextlib.contextmanager
def _single_threaded():
    """Single-threaded BLAS here (via threadpoolctl, when installed) and in processes spawned meanwhile (env)."""
    saved = {k: os.environ.get(k) for k in SINGLE_THREAD_ENV}
    for k, v in SINGLE_THREAD_ENV.items():
        os.environ.setdefault(k, v)
    try:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # pragma: no cover - optional
            yield
        else:
            with threadpool_limits(limits=1):
                yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _iter_chunks(spec_json: str, chunks: list[int], workers: int, scheduler: str | None,
                 config_hash: str) -> Iterator[tuple[int, dict]]:
    """``(i, make_chunk_json(spec_json, i))`` for every chunk, in chunk order (``bellcore.ordered_map``): local
    processes (``workers``) or the Dask cluster at ``scheduler``, at most twice the workers' count in flight."""
    from bellcore import ordered_map

    from runs import _signals as signals

    make = functools.partial(make_chunk_json, spec_json)
    if scheduler is None:
        with _single_threaded():
            yield from zip(chunks, ordered_map(make, chunks, workers=workers, check=signals.check))
        return
    from runs.jobs._scheduler import dask_client

    with dask_client(scheduler) as client:
        def submit(fn, i):
            return client.submit(fn, i, pure=False, key=f"bellscope-chunk-{config_hash[:12]}-{i}")

        window = 2 * max(1, sum(client.nthreads().values()))
        yield from zip(chunks, ordered_map(make, chunks, submit=submit, window=window, check=signals.check))


def run_dataset(
    spec: DatasetSpec,
    out: str | os.PathLike,
    *,
    workers: int = 1,
    scheduler: str | None = None,
    resume: bool = False,
    argv: list[str] | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Generate (or, with ``resume``, continue) the dataset ``spec`` into the HDF5 file ``out``; return its summary.

    Raises ``FileExistsError`` (new run, file exists), ``FileNotFoundError`` (resume, no file), ``ValueError``
    (resume with a different config, bad worker count, unreachable scheduler).
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1; got {workers}")
    if scheduler is not None:  # its form, before any file exists (a bad one hung in Client for 20 s)
        from runs.jobs._scheduler import check_scheduler_address

        scheduler = check_scheduler_address(scheduler)
    out = Path(out)
    fields = label_fields(spec)
    spec_json = spec.canonical_json()
    chash = spec.config_hash()
    if resume:  # refused before any write: a refused resume leaves the file byte-identical
        f = _store.open_run(out, L.KIND_DATASET, argv, config_hash=chash)
    else:
        f = _store.create_run(
            out, L.KIND_DATASET, spec_json, chash, spec.seed, SEED_DERIVATION, json.dumps(spec.scenario.to_json()), argv
        )
    with write_guard(f, out) as guard:
        return _fill(f, spec, spec_json, chash, fields, out, workers, scheduler, progress, guard)


def _fill(f, spec, spec_json, chash, fields, out, workers, scheduler, progress, guard) -> dict[str, Any]:
    """The body of ``run_dataset`` once its file is open (``guard`` marks it failed and closes it on any exit)."""
    _store.ensure_data(f, fields, spec.chunk_size, STATUS_NAMES, CHSH_CLASSES)
    rows = _store.truncate(f, fields)
    done_chunks = int(f.attrs[L.CHUNKS_COMPLETE])
    if rows != (spec.chunk_bounds(done_chunks - 1)[1] if done_chunks else 0):
        raise ValueError(f"{out}: {rows} complete rows do not match {done_chunks} complete chunks")
    if progress:
        progress(rows, spec.n, {})
    if f.attrs[L.STATUS] == L.STATUS_COMPLETE and done_chunks == spec.n_chunks:
        guard.complete = True
        return json.loads(f.attrs[L.SUMMARY])
    _store.set_status(f, L.STATUS_RUNNING)
    todo = list(range(done_chunks, spec.n_chunks))
    for i, arrays in _iter_chunks(spec_json, todo, workers, scheduler, chash):
        rows = _store.append_rows(f, {k: arrays[k] for k in fields}, i + 1)
        if progress:
            progress(rows, spec.n, {"chunk": f"{i + 1}/{spec.n_chunks}"})
    summary = summarise(_store.read_data(f, fields, STATUS_NAMES))
    _store.set_status(f, L.STATUS_COMPLETE, summary)
    guard.complete = True
    return summary


def read_dataset(
    path: str | os.PathLike, *, require_complete: bool = False
) -> tuple[DatasetSpec, dict[str, np.ndarray], dict[str, Any]]:
    """Read a dataset run file: ``(spec, {field: array of the complete rows}, root attributes)``.

    Defensive by construction (the file is untrusted input): ``ValueError`` with a one-line reason, before
    anything is allocated, for a path that is not a regular file, a file that is not a dataset run, a config that
    does not parse, a ``/scenario`` that differs from the config's, ``rows_complete`` that is negative, not an
    integer or beyond the stored rows or the spec's ``n``, a field missing or of the wrong kind, shape or dtype, a
    field that declares more rows than its storage holds, and any soft or external link on the way to what is
    read. The behaviours must be finite, valid behaviours of the scenario.

    ``require_complete``: also refuse a file whose status is not ``complete`` (``running``: still being written
    or killed; ``failed``) or whose rows fall short of ``n``; what trains or scores a model needs this.
    """
    import h5py

    path = Path(path)
    with open_readonly(path) as (f, _):  # the one read-only opener: regular files only, a writer's lock tolerated
        if _store._text(f.attrs.get(L.KIND)) != L.KIND_DATASET:
            raise ValueError(f"{path} is not a dataset run file (kind {_store._text(f.attrs.get(L.KIND))!r})")
        for name in (L.CONFIG, L.SCENARIO):
            hard_link(f, path, f"/{name}", h5py.Group)
        try:
            spec = DatasetSpec.from_json(_store.read_config(f)[0])
        except (ValueError, TypeError, AttributeError, RecursionError) as e:
            raise ValueError(f"{path}: its /{L.CONFIG} is not a valid dataset configuration ({e})") from None
        _check_scenario(f, path, spec)
        status = _store._text(f.attrs.get(L.STATUS))
        if require_complete and status != L.STATUS_COMPLETE:
            raise ValueError(
                f"{path} is marked {status!r}, not complete "
                + ("(killed, or still being written); finish it with bellscope dataset --resume" if status in
                   (L.STATUS_RUNNING, L.STATUS_FAILED) else "(not a finished dataset run)")
            )
        rows = _rows_complete(f, path, spec, require_complete)
        fields = label_fields(spec)
        for field, (dtype, shape) in fields.items():
            _check_field(f, path, field, dtype, shape, rows)
        data = _store.read_data(f, fields, STATUS_NAMES)
        attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}
    _check_behaviours(path, spec, data["behaviours"])
    return spec, data, attrs


def _check_scenario(f, path: Path, spec: DatasetSpec) -> None:
    text = _store._text(f[L.SCENARIO].attrs.get(L.SCENARIO_JSON))
    try:
        stored = json.loads(text) if text is not None else None
    except (json.JSONDecodeError, RecursionError):
        stored = "<not JSON>"
    if stored != json.loads(json.dumps(spec.scenario.to_json())):
        raise ValueError(f"{path}: its /{L.SCENARIO} attribute differs from the scenario of its configuration "
                         f"({spec.scenario}); the file was altered")


def _rows_complete(f, path: Path, spec: DatasetSpec, require_complete: bool) -> int:
    raw = f.attrs.get(L.ROWS_COMPLETE)
    a = np.asarray(raw) if raw is not None else None
    if a is None or a.shape != () or a.dtype.kind not in "iu":
        raise ValueError(f"{path}: {L.ROWS_COMPLETE} must be one integer; got {raw!r}")
    rows = int(a)
    if not 0 <= rows <= spec.n:
        raise ValueError(f"{path}: {L.ROWS_COMPLETE} = {rows} is outside 0..{spec.n} (the configured n)")
    if require_complete and rows != spec.n:
        raise ValueError(f"{path} is marked complete but holds {rows} of its {spec.n} rows")
    return rows


def _check_field(f, path: Path, field: str, dtype: np.dtype, shape: tuple[int, ...], rows: int) -> None:
    """Refuse a field that is missing, linked, of the wrong shape or dtype, or shorter than ``rows``, and one whose
    ``rows`` rows would need more bytes than its storage holds (a declared terabyte shape), before reading it."""
    import h5py

    ds = hard_link(f, path, L.data_path(field), h5py.Dataset)
    where = f"{path}: {L.data_path(field)}"
    if ds.ndim != 1 + len(shape) or tuple(ds.shape[1:]) != tuple(shape):
        raise ValueError(f"{where} has shape {ds.shape}; expected (rows, {', '.join(map(str, shape))})".replace(", )", ")"))
    if ds.shape[0] < rows:
        raise ValueError(f"{where} holds {ds.shape[0]} rows, fewer than {L.ROWS_COMPLETE} = {rows}")
    kind = np.dtype(dtype).kind
    if field.endswith("_status"):
        ok = ds.dtype.kind in "iu" and ds.dtype.itemsize == 1
    else:
        ok = ds.dtype.kind == kind and ds.dtype.itemsize == np.dtype(dtype).itemsize
    if not ok:
        raise ValueError(f"{where} has dtype {ds.dtype}; expected {np.dtype(dtype)}")
    check_size(ds, rows, where)


def _check_behaviours(path: Path, spec: DatasetSpec, beh: np.ndarray) -> None:
    from bellcore import Behaviour

    if not np.all(np.isfinite(beh)):
        bad = int((~np.isfinite(beh)).reshape(len(beh), -1).any(axis=1).sum())
        raise ValueError(f"{path}: {bad} behaviour row(s) hold NaN or infinite entries")
    if len(beh):
        try:
            Behaviour(beh, spec.scenario).validate(1e-6)
        except ValueError as e:
            raise ValueError(f"{path}: its behaviours are not valid ({e})") from None
