"""Running a sweep: executors (local processes or a Dask cluster) and :func:`run_sweep`.

The coordinating process plans the rows, skips those already in the folder's store (by
row hash), sends the others to an executor and appends every finished row to the store
at once (fsynced), so an interrupt loses no finished row and a rerun computes only the
missing ones. At the end it writes the results table and the plots.

Executors (one interface: ``imap_unordered(fn, tasks)`` yields ``(task, record)`` as rows
finish):

* :class:`SerialExecutor`: in this process (``workers = 1``): no start-up cost.
* :class:`LocalProcessExecutor`: a ``ProcessPoolExecutor`` of ``workers`` processes
  (default: the number of cores), started by ``forkserver`` where available (``spawn``
  otherwise) with single-threaded BLAS/OpenMP so that workers do not oversubscribe the
  cores; each worker loads every body once.
* :class:`DaskExecutor`: ``distributed.Client(address)``; the same task function runs on
  the cluster's workers, which need the same iastm_tools installed (the row records the
  worker's code version and a mismatch fails the row) and, for scan bodies, the same
  file paths.

At most a few rows per worker are in flight at a time, so an interrupt cancels quickly.
A worker process that dies (a crash in native code) takes its in-flight rows with it:
they are retried once on a fresh pool; a row in flight at two crashes is recorded as
failed.
"""

from __future__ import annotations

import collections
import contextlib
import multiprocessing as mp
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import IastmError
from .rows import RowTask, empty_metrics, evaluate_row, make_tasks, warm_worker
from .spec import SweepSpec
from .store import OpenMode, RowStore, table_columns, table_rows, write_table

#: Rows in flight per worker (enough to keep a worker busy between two results).
IN_FLIGHT_PER_WORKER = 2
#: Environment variables set to 1 in local worker processes: each worker is one core.
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "NUMBA_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "IASTM_FIT_THREADS",
                "IASTM_FFT_WORKERS")

Progress = Callable[[int, int, int], None]


def failed_record(task: RowTask, reason: str, *, transient: bool = False) -> dict[str, Any]:
    """The record of a row that did not produce one itself (worker death, lost future).
    ``transient`` rows are computed again on the next run."""
    rec = empty_metrics()
    rec.update(hash=task.hash, status="failed", reason=reason[:300], transient=transient,
               code_version=task.code_version)
    return rec


class Executor:
    """Runs row tasks somewhere; subclasses below."""

    name = "executor"
    workers = 1

    def imap_unordered(self, fn: Callable[[RowTask], dict[str, Any]],
                       tasks: Iterable[RowTask]) -> Iterator[tuple[RowTask, dict[str, Any]]]:
        raise NotImplementedError

    def close(self, cancel: bool = False) -> None:
        """Release the workers (``cancel``: also stop rows still running)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, exc_type: Any, *exc: object) -> None:
        self.close(cancel=exc_type is not None)


class SerialExecutor(Executor):
    """Rows one after another in this process."""

    name = "local, 1 process"

    def imap_unordered(self, fn, tasks):
        for t in tasks:
            yield t, fn(t)


def _init_local_worker(bodies: tuple[str, ...]) -> None:
    # Ctrl-C is the coordinator's business: it cancels the rows and stops the workers
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    warm_worker(bodies)


@contextlib.contextmanager
def _single_threaded_env() -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in _THREAD_VARS}
    for k in _THREAD_VARS:
        os.environ.setdefault(k, "1")
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class LocalProcessExecutor(Executor):
    """A pool of ``workers`` local processes (forkserver, or spawn)."""

    #: Worker deaths tolerated per sweep before giving up (each retries its rows once).
    MAX_POOL_RESTARTS = 20

    def __init__(self, workers: int, bodies: tuple[str, ...] = ()) -> None:
        self.workers = int(workers)
        self.name = f"local, {self.workers} processes"
        self._bodies = tuple(bodies)
        methods = mp.get_all_start_methods()
        self._ctx = mp.get_context("forkserver" if "forkserver" in methods else "spawn")
        if self._ctx.get_start_method() == "forkserver":
            # heavy imports once in the fork server, not in every worker
            self._ctx.set_forkserver_preload(["iastm_tools.sweep.rows", "iastm_tools.fit"])
        self._pool: ProcessPoolExecutor | None = None
        self._restarts = 0

    def _new_pool(self) -> ProcessPoolExecutor:
        with _single_threaded_env():
            pool = ProcessPoolExecutor(self.workers, mp_context=self._ctx,
                                       initializer=_init_local_worker,
                                       initargs=(self._bodies,))
            # start the processes now, inside the single-threaded environment
            for f in [pool.submit(os.getpid) for _ in range(self.workers)]:
                f.result()
        return pool

    def imap_unordered(self, fn, tasks):
        queue: collections.deque[RowTask] = collections.deque(tasks)
        crashes: collections.Counter[str] = collections.Counter()
        window = max(1, self.workers * IN_FLIGHT_PER_WORKER)
        if self._pool is None:
            self._pool = self._new_pool()
        inflight: dict[Any, RowTask] = {}
        while queue or inflight:
            while queue and len(inflight) < window:
                t = queue.popleft()
                inflight[self._pool.submit(fn, t)] = t
            done, _ = wait(inflight, return_when=FIRST_COMPLETED)
            broken = False
            for fut in done:
                t = inflight.pop(fut)
                try:
                    rec = fut.result()
                except BrokenProcessPool:
                    broken = True
                    inflight[fut] = t  # handled with the others below
                    continue
                except Exception as exc:  # e.g. the record could not be pickled
                    rec = failed_record(t, f"{type(exc).__name__}: {exc}".splitlines()[0])
                yield t, rec
            if broken:
                suspects = list(inflight.values())
                inflight.clear()
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._restarts += 1
                if self._restarts > self.MAX_POOL_RESTARTS:
                    raise IastmError(f"sweep: worker processes died {self._restarts} times; "
                                     "giving up (finished rows are kept; rerun to resume)")
                for t in reversed(suspects):
                    crashes[t.hash] += 1
                    if crashes[t.hash] >= 2:
                        yield t, failed_record(t, "a worker process died while fitting this "
                                                  "row (twice)", transient=True)
                    else:
                        queue.appendleft(t)
                self._pool = self._new_pool()

    def close(self, cancel: bool = False) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if cancel:
            # stop rows that are running now: these are our own worker processes
            for p in list(getattr(pool, "_processes", {}).values()):
                with contextlib.suppress(Exception):
                    p.terminate()
        pool.shutdown(wait=True, cancel_futures=cancel)


class DaskExecutor(Executor):
    """Rows on a Dask cluster (``distributed.Client(address)``)."""

    #: Seconds to wait for the scheduler to answer.
    CONNECT_TIMEOUT_S = 10.0

    def __init__(self, address: str, timeout_s: float | None = None) -> None:
        timeout_s = self.CONNECT_TIMEOUT_S if timeout_s is None else timeout_s
        try:
            from distributed import Client
        except ImportError as exc:  # pragma: no cover - a core dependency
            raise IastmError(f"--scheduler needs dask.distributed ({exc})") from None
        try:
            self.client = Client(address, timeout=f"{timeout_s}s", set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise IastmError(f"--scheduler {address}: cannot connect to a Dask scheduler "
                             f"({msg}); allowed: tcp://HOST:PORT of a running "
                             "dask scheduler") from None
        self.address = address
        self.workers = max(1, sum(self.client.nthreads().values()))
        self.name = f"dask {address}, {self.workers} worker threads"

    def imap_unordered(self, fn, tasks):
        from distributed import as_completed

        queue = collections.deque(tasks)
        window = max(4, self.workers * IN_FLIGHT_PER_WORKER)
        run = uuid.uuid4().hex[:8]
        ac = as_completed(loop=self.client.loop)
        inflight: dict[str, RowTask] = {}
        self._inflight = ac

        def submit() -> None:
            t = queue.popleft()
            fut = self.client.submit(fn, t, key=f"iastm-row-{run}-{t.row}-{t.hash[:12]}",
                                     pure=False)
            inflight[fut.key] = t
            ac.add(fut)

        while queue and len(inflight) < window:
            submit()
        for fut in ac:
            t = inflight.pop(fut.key)
            try:
                rec = fut.result()
            except Exception as exc:  # KilledWorker, lost connection, ...
                msg = str(exc).splitlines()[0] if str(exc) else ""
                rec = failed_record(t, f"dask: {type(exc).__name__}: {msg}", transient=True)
            fut.release()
            yield t, rec
            while queue and len(inflight) < window:
                submit()

    def close(self, cancel: bool = False) -> None:
        ac = getattr(self, "_inflight", None)
        if cancel and ac is not None:
            with contextlib.suppress(Exception):
                self.client.cancel(list(ac.futures))
        with contextlib.suppress(Exception):
            self.client.close()


def make_executor(workers: int | None = None, scheduler: str | None = None,
                  bodies: tuple[str, ...] = ()) -> Executor:
    """Dask when ``scheduler`` is given; else ``workers`` local processes (default: the
    number of cores; 1 = in this process)."""
    if scheduler:
        if workers is not None:
            raise IastmError("--workers: not used with --scheduler (the cluster's workers "
                             "run the rows)")
        return DaskExecutor(scheduler)
    n = (os.cpu_count() or 1) if workers is None else int(workers)
    if n < 1:
        raise IastmError(f"--workers must be >= 1 (got {workers})")
    return SerialExecutor() if n == 1 else LocalProcessExecutor(n, bodies)


# --------------------------------------------------------------------------------------
# computing rows into a store


@dataclass
class Tally:
    """Counts of one :func:`compute_rows` call."""

    total: int = 0
    reused: int = 0
    computed: int = 0
    failed: int = 0


def compute_rows(tasks: list[RowTask], store: RowStore, executor: Executor, *,
                 progress: Progress | None = None, retry_failed: bool = False,
                 on_record: Callable[[RowTask, dict[str, Any]], None] | None = None) -> Tally:
    """Compute every task whose hash is not in ``store`` and append it there.

    Rows with the same hash are computed once. ``retry_failed`` recomputes stored failed
    rows too (transient failures, e.g. a worker death, are always recomputed).
    ``on_record`` is called after each row is stored.
    """
    tally = Tally(total=len(tasks))
    pending: dict[str, RowTask] = {}
    for t in tasks:
        rec = store.get(t.hash)
        redo = rec is None or bool(rec.get("transient")) or (
            retry_failed and rec.get("status") != "ok")
        if redo:
            pending.setdefault(t.hash, t)
        else:
            tally.reused += 1
    todo = list(pending.values())
    if progress is not None:
        progress(0, len(todo), 0)
    for t, rec in executor.imap_unordered(evaluate_row, todo):
        store.append(rec)
        tally.computed += 1
        if rec.get("status") != "ok":
            tally.failed += 1
        if on_record is not None:
            on_record(t, rec)
        if progress is not None:
            progress(tally.computed, len(todo), tally.failed)
    return tally


# --------------------------------------------------------------------------------------
# the sweep


@dataclass(frozen=True)
class SweepOutcome:
    """What :func:`run_sweep` did.

    state: "new", "resumed", "reused" or "restarted" (see :meth:`RowStore.open`).
    rows: rows planned; computed / reused this run; failed: failed rows in the table.
    seconds: wall time of this run; throughput_rows_per_s: rows computed per second.
    """

    out_dir: Path
    state: str
    rows: int
    computed: int
    reused: int
    failed: int
    seconds: float
    executor: str
    workers: int
    tables: dict[str, Path] = field(default_factory=dict)
    plots: tuple[Path, ...] = ()

    @property
    def throughput_rows_per_s(self) -> float:
        return self.computed / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> dict[str, Any]:
        return {"out_dir": str(self.out_dir), "state": self.state, "rows": self.rows,
                "computed": self.computed, "reused": self.reused, "failed": self.failed,
                "seconds": round(self.seconds, 3), "executor": self.executor,
                "workers": self.workers,
                "throughput_rows_per_s": round(self.throughput_rows_per_s, 3),
                "tables": {k: str(v) for k, v in self.tables.items()},
                "plots": [str(p) for p in self.plots]}


def sweep_meta(spec: SweepSpec, kind: str = "sweep", extra: dict[str, Any] | None = None
               ) -> dict[str, Any]:
    """The ``sweep.json`` content of a folder for ``spec``."""
    from .rows import fit_code_version

    meta = {"kind": kind, "name": spec.name, "spec_hash": spec.spec_hash(),
            "profile": spec.profile.name, "rows_planned": spec.n_rows,
            "code_version": fit_code_version()}
    meta.update(extra or {})
    return meta


def spec_text(spec: SweepSpec) -> str | None:
    """The spec file's text (for the folder's copy), if it came from a file."""
    try:
        return Path(spec.source).read_text(encoding="utf-8") if spec.source else None
    except OSError:
        return None


def _prepare_bodies(spec: SweepSpec, executor: Executor) -> None:
    # build a missing built-in body cache once here, not in every worker at the same time
    if isinstance(executor, LocalProcessExecutor):
        from .rows import load_body_cached

        for b in spec.fit.bodies:
            with contextlib.suppress(Exception):  # reported per row
                load_body_cached(b)


def run_sweep(spec: SweepSpec, out_dir: str | Path, *, workers: int | None = None,
              scheduler: str | None = None, resume: bool | None = None, force: bool = False,
              retry_failed: bool = False, progress: Progress | None = None,
              plots: bool = True, executor: Executor | None = None,
              on_record: Callable[[RowTask, dict[str, Any]], None] | None = None
              ) -> SweepOutcome:
    """Run (or resume) the sweep ``spec`` into ``out_dir``; see the module docstring.

    resume / force: how an existing folder is treated (:class:`~.store.OpenMode`).
    workers / scheduler: where rows run (:func:`make_executor`), unless ``executor`` is
    given. progress(done, total, failed): called as rows finish (total = rows to compute
    in this run). An interrupt (KeyboardInterrupt) stops the workers and propagates;
    every finished row is already in the store.
    """
    t0 = time.perf_counter()
    spec.check_sweep()
    tasks = make_tasks(spec)
    own = executor is None
    ex = executor or make_executor(workers, scheduler, spec.fit.bodies)  # connect first
    try:
        store, state = RowStore.open(Path(out_dir), sweep_meta(spec), spec_text(spec),
                                     OpenMode(resume=resume, force=force))
    except BaseException:
        if own:
            ex.close()
        raise
    try:
        try:
            if any(t.hash not in store for t in tasks):
                _prepare_bodies(spec, ex)
            tally = compute_rows(tasks, store, ex, progress=progress,
                                 retry_failed=retry_failed, on_record=on_record)
        except BaseException:
            if own:
                ex.close(cancel=True)
            raise
        if own:
            ex.close()
        rows = table_rows(tasks, store)
        columns = table_columns(p.name for p in spec.parameters)
        tables = write_table(Path(out_dir), rows, columns)
    finally:
        store.close()
    plot_paths: tuple[Path, ...] = ()
    if plots:
        from .plots import write_sweep_plots

        plot_paths = tuple(write_sweep_plots(spec, rows, Path(out_dir) / "plots"))
    failed = sum(1 for r in rows if r.get("status") != "ok")
    return SweepOutcome(Path(out_dir), state, len(tasks), tally.computed, tally.reused,
                        failed, time.perf_counter() - t0, ex.name, ex.workers, tables,
                        plot_paths)
