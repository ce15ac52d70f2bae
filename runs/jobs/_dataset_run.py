"""Chunked, resumable dataset generation on local processes or a Dask cluster.

The unit of work is a chunk: ``surrogates.make_chunk_json(spec_json, i)``, a pure function. Chunks are computed
ahead (at most a small window in flight) and written strictly in chunk order, one flush per chunk. Hence:

- the file holds the same data whatever the number of workers or the scheduler;
- after a kill, ``resume=True`` truncates any half-written chunk, checks that the stored config hash equals the
  new spec's, and continues with the next chunk; the finished data equal those of an uninterrupted run.

Local parallelism uses ``concurrent.futures.ProcessPoolExecutor`` with the "spawn" start method; a scheduler address
sends the same calls to a Dask distributed cluster (``distributed.Client``). No home-made task queue.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from bellcore import CHSH_CLASSES, Progress
from surrogates import STATUS_NAMES, DatasetSpec, label_fields, make_chunk_json, summarise

from runs.files import _layout as L
from runs.files import _store

__all__ = ["run_dataset", "read_dataset", "SEED_DERIVATION"]

SEED_DERIVATION = (
    "chunk i of chunk_size points uses numpy.random.default_rng(numpy.random.SeedSequence(master, spawn_key=(i,)))"
)

#: How long to wait for a Dask scheduler before giving up with a clear error.
CONNECT_TIMEOUT = "10s"



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


def _iter_local(spec_json: str, chunks: list[int], workers: int) -> Iterator[tuple[int, dict]]:
    with _single_threaded():
        if workers <= 1:
            for i in chunks:
                yield i, make_chunk_json(spec_json, i)
            return
        import concurrent.futures as cf
        import multiprocessing as mp

        ex = cf.ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"))
        try:
            yield from _ordered(
                lambda i: ex.submit(make_chunk_json, spec_json, i), chunks, 2 * workers, lambda f: f.result()
            )
        finally:  # on an interruption, drop the chunks not yet started (at most 2 * workers are in flight)
            ex.shutdown(wait=True, cancel_futures=True)


def _iter_dask(spec_json: str, chunks: list[int], address: str, config_hash: str) -> Iterator[tuple[int, dict]]:
    try:
        from distributed import Client
    except ImportError as e:  # pragma: no cover - dask[distributed] is a dependency
        raise RuntimeError(f"--scheduler needs dask.distributed: {e}") from None
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as e:
        raise ValueError(f"cannot connect to the Dask scheduler at {address!r}: {e}") from None
    try:
        threads = max(1, sum(client.nthreads().values()))

        def submit(i):
            return client.submit(make_chunk_json, spec_json, i, pure=False, key=f"bellscope-chunk-{config_hash[:12]}-{i}")

        yield from _ordered(submit, chunks, 2 * threads, lambda f: f.result())
    finally:
        client.close()


def _ordered(submit, chunks: list[int], window: int, result) -> Iterator[tuple[int, dict]]:
    """Keep up to ``window`` chunks in flight; yield results in chunk order."""
    pending: collections.deque = collections.deque()
    it = iter(chunks)
    for i in it:
        pending.append((i, submit(i)))
        if len(pending) >= window:
            break
    while pending:
        i, fut = pending.popleft()
        out = result(fut)
        nxt = next(it, None)
        if nxt is not None:
            pending.append((nxt, submit(nxt)))
        yield i, out


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
    with _store.write_guard(f, out) as guard:
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
    results = _iter_dask(spec_json, todo, scheduler, chash) if scheduler else _iter_local(spec_json, todo, workers)
    for i, arrays in results:
        rows = _store.append_rows(f, {k: arrays[k] for k in fields}, i + 1)
        if progress:
            progress(rows, spec.n, {"chunk": f"{i + 1}/{spec.n_chunks}"})
    summary = summarise(_store.read_data(f, fields, STATUS_NAMES))
    _store.set_status(f, L.STATUS_COMPLETE, summary)
    guard.complete = True
    return summary


def read_dataset(path: str | os.PathLike) -> tuple[DatasetSpec, dict[str, np.ndarray], dict[str, Any]]:
    """Read a dataset run file: ``(spec, {field: array of the complete rows}, root attributes)``."""
    import h5py

    with h5py.File(path, "r") as f:
        if f.attrs.get(L.KIND) != L.KIND_DATASET:
            raise ValueError(f"{path} is not a dataset run file")
        spec = DatasetSpec.from_json(_store.read_config(f)[0])
        data = _store.read_data(f, label_fields(spec), STATUS_NAMES)
        attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}
    return spec, data, attrs
