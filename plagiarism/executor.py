"""Where per-file work runs: in this process, in a pool of local processes, or on a Dask cluster.

The pipeline's work goes through `Executor.map`, so a distributed engine can take the same
work (see docs/scale.md); `Executor.aside` is for work that must stay on this machine (the
local cache's writes, the artifacts under the local roots). Results come back in input
order whatever runs them, so a comparison is identical for any number of workers. The
function and its items must be picklable and importable where they run: a Dask worker needs
`plagiarism` installed, at the same version (the analysis cache rejects entries made by
another engine).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import CancelledError, Future, InvalidStateError, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from itertools import chain
from typing import Any, Generic, Protocol, TypeVar, cast

from plagiarism.errors import UsageError, WorkerError

T = TypeVar("T")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)

log = logging.getLogger(__name__)

# Below this many items a pool costs more to start than it saves.
MIN_ITEMS_FOR_POOL = 64
# With estimated costs (seconds per item), the work that pays for starting a pool (forking,
# and feeding the workers), and the work that pays for shipping to one already running.
POOL_START_WORTH_S = 0.1
POOL_USE_WORTH_S = 0.01
# Batches per worker when items carry costs: enough for the last ones to even out the
# workers, few enough that shipping them costs little.
BATCHES_PER_WORKER = 8
# Items per Dask task: one task per file would spend more time in the scheduler (~1 ms per
# task) than a small file takes to parse; a few hundred tasks still balance the workers.
DASK_BATCH = 16
# How long to wait for a scheduler before telling the user it cannot be reached.
DASK_CONNECT_TIMEOUT_S = 20


class Executor(Protocol):
    def map(
        self, fn: Callable[[T], R], items: Iterable[T], costs: Sequence[float] | None = None
    ) -> Iterator[R]:
        """`fn` of each item, in input order. `costs`, when given, estimates each item's
        seconds: an executor may use it to decide where the work runs and how to batch it,
        never to change the results."""
        ...

    def aside(self, fn: Callable[[T], R], item: T) -> Pending[R]:
        """`fn(item)` started now, on this machine, where it need not hold up the caller (the
        cache writes, the artifact comparison); `.result()` waits for it and raises what it
        raised."""
        ...

    def close(self) -> None: ...


class Pending(Protocol[R_co]):
    def result(self) -> R_co: ...


class _Ran(Generic[R]):
    """Work that already ran here: its value, or what it raised, given at `result()` as a
    pool's future would (so the caller handles a failure in one place)."""

    __slots__ = ("_value", "_error")

    def __init__(self, fn: Callable[[T], R], item: T) -> None:
        self._error: Exception | None = None
        try:
            self._value: R | None = fn(item)
        except Exception as exc:
            self._value, self._error = None, exc

    def result(self) -> R:
        if self._error is not None:
            raise self._error
        return cast(R, self._value)


class Serial:
    def map(
        self, fn: Callable[[T], R], items: Iterable[T], costs: Sequence[float] | None = None
    ) -> Iterator[R]:
        return map(fn, items)

    def aside(self, fn: Callable[[T], R], item: T) -> Pending[R]:
        return _Ran(fn, item)

    def close(self) -> None:
        pass


class LocalProcesses:
    """A process pool started on first use; `jobs=0` means every core."""

    def __init__(self, jobs: int = 0, min_items: int = MIN_ITEMS_FOR_POOL) -> None:
        self.jobs = jobs or usable_cores()
        self.min_items = min_items
        self._pool: ProcessPoolExecutor | None = None

    def map(
        self, fn: Callable[[T], R], items: Iterable[T], costs: Sequence[float] | None = None
    ) -> Iterator[R]:
        work = list(items)
        if costs is not None:
            return self._map_costed(fn, work, costs)
        if self.jobs <= 1 or len(work) < self.min_items:
            return map(fn, work)
        chunk = max(1, len(work) // (self.jobs * 8))
        with _worker_deaths():  # submitting to a pool a dead worker broke raises at once
            results = self._started().map(fn, work, chunksize=chunk)
        return _worker_errors(results)

    def _map_costed(
        self, fn: Callable[[T], R], work: list[T], costs: Sequence[float]
    ) -> Iterator[R]:
        total = sum(costs)
        worth = POOL_START_WORTH_S if self._pool is None else POOL_USE_WORTH_S
        if self.jobs <= 1 or len(work) < 2 or total < worth:
            return map(fn, work)
        # Batches of about equal cost rather than of equal count: one long pair among
        # hundreds of short ones goes alone, instead of taking a count's worth of the next
        # dearest with it while the other workers run out of work.
        pool = self._started()
        (lo, hi), *rest = cost_spans(costs, self.jobs * BATCHES_PER_WORKER)
        with _worker_deaths():
            futures = [pool.submit(_apply_batch, fn, work[a:b]) for a, b in rest]
        # This process would only wait: it takes the first batch itself (nothing to ship,
        # and its heap is already grown, where a worker's first long item page-faults), then
        # any the workers have not started.
        others = _helping(fn, work, rest, futures)
        return chain(_apply_batch(fn, work[lo:hi]), _worker_errors(others))

    def aside(self, fn: Callable[[T], R], item: T) -> Pending[R]:
        # Only into a pool that is already running: starting one for this costs more than
        # the work it would take off this process.
        if self._pool is None:
            return _Ran(fn, item)
        try:
            future = self._pool.submit(fn, item)
        except BrokenProcessPool as exc:  # surfaces at result(), as a future's failure would
            future = Future()
            future.set_exception(exc)
        return _Submitted(future)

    def _started(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=self.jobs, initializer=_worker_start)
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def abandon(self) -> None:
        """Stop the workers now, for a run that was interrupted or failed: they are killed
        and queued and running work fails (`WorkerError`), where `close` would wait for it
        (a parse batch of a big repository takes a second, a checkpoint's comparison can
        take minutes). The caches are SQLite files: the next run to open one rolls back
        a write killed halfway from its journal."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        stop = getattr(pool, "terminate_workers", None)  # Python 3.14
        if stop is not None:
            stop()
            pool.shutdown()
            return
        # The pool's own table of its workers. Killing them can leave the pool's manager
        # thread waiting for ever (CPython issue 94777): on its queue's feeder, blocked
        # writing work to workers that are gone, or on a result a worker was killed in the
        # middle of sending. With this process's own ends of those pipes closed first (it
        # neither reads work nor sends results), the write fails and the result reads as
        # cut short, which the manager takes for a broken pool, as it is.
        for end in (
            getattr(getattr(pool, "_call_queue", None), "_reader", None),
            getattr(getattr(pool, "_result_queue", None), "_writer", None),
        ):
            if end is not None:
                with contextlib.suppress(OSError):
                    end.close()
        workers = list((getattr(pool, "_processes", None) or {}).values())
        with _quiet_cancelled(getattr(pool, "_executor_manager_thread", None)):
            for process in workers:
                process.terminate()
            pool.shutdown()
        for process in workers:  # reaped here: the manager may have stopped before it did
            process.join(timeout=5)


E = TypeVar("E", bound=Executor)


@contextlib.contextmanager
def owned(executor: E) -> Iterator[E]:
    """`executor` for the caller that made it: closed when the work is done, and when it is
    interrupted (Ctrl-C) or fails, a local pool's workers are stopped at once
    (`LocalProcesses.abandon`) rather than waited for, as nobody will read their results."""
    try:
        yield executor
    except BaseException:
        if isinstance(executor, LocalProcesses):
            executor.abandon()
        raise
    finally:
        executor.close()


@contextlib.contextmanager
def _quiet_cancelled(manager: threading.Thread | None) -> Iterator[None]:
    """Before Python 3.12 a broken pool's manager thread fails each pending future and stops
    with a traceback on stderr at one already cancelled (`InvalidStateError`), as those of a
    map abandoned by Ctrl-C are. Nothing waits on them any more: that one error of that
    thread is not shown."""
    shown = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        if args.thread is manager and args.exc_type is InvalidStateError:
            return
        shown(args)

    threading.excepthook = hook
    try:
        yield
    finally:
        threading.excepthook = shown


_WORKER_DIED = (
    "a worker process died (out of memory, or killed); run again, with fewer --jobs if "
    "memory is short"
)
_DASK_WORKER_DIED = (
    "a Dask worker died running this comparison's work (out of memory, or killed) as often as "
    "the scheduler allows; give the workers more memory, or run again"
)


@contextlib.contextmanager
def _worker_deaths() -> Iterator[None]:
    # A worker the system killed breaks the whole pool: say so in a line the CLI can show,
    # not as a traceback, and never as an exit code that reads as a finding.
    try:
        yield
    except BrokenProcessPool as exc:
        raise WorkerError(_WORKER_DIED) from exc


def _worker_errors(results: Iterator[R]) -> Iterator[R]:
    with _worker_deaths():
        yield from results


class _Submitted(Generic[R]):
    """A pool's future whose `result()` raises `WorkerError` for a pool a dead worker broke."""

    __slots__ = ("_future",)

    def __init__(self, future: Future[R]) -> None:
        self._future = future

    def result(self) -> R:
        with _worker_deaths():
            return self._future.result()


def _worker_start() -> None:
    # Workers build millions of short-lived tuples; the default thresholds run a full
    # collection every few hundred thousand, each walking everything the worker holds.
    # Collections still run (tree-sitter walks may leave cycles), a hundred times rarer:
    # enabled here, because a worker forked while its parent paused the collector (the CLI
    # and `compare` do) would otherwise never collect, however long it lives.
    gc.set_threshold(100_000, 50, 100)
    gc.enable()
    # Ctrl-C reaches every process of the terminal's group. The parent reports it and stops
    # the pool (`LocalProcesses.abandon`); a worker that took it itself would die in a
    # traceback while idle, or hand it back as its current item's error and go on to the next.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _apply_batch(fn: Callable[[T], R], batch: Sequence[T]) -> list[R]:
    return [fn(item) for item in batch]


def _helping(
    fn: Callable[[T], R],
    work: Sequence[T],
    spans: Sequence[tuple[int, int]],
    futures: Sequence[Future[list[R]]],
) -> Iterator[R]:
    """The batches' results in order, running here each batch that no worker has started
    while the next result is awaited: workers may still be busy with work set aside (the
    artifact comparison, cache writes), which once kept this process waiting ~75 ms for
    a cold run's fingerprints after doing one 4.5 ms batch itself.
    Batches are taken from the back; the pool hands them out from the front, so once the
    last is taken there, every one before it is too."""
    here: dict[int, list[R]] = {}
    back = len(futures)  # the batches from `back` on ran here
    for i, future in enumerate(futures):
        while i < back and not future.done():
            if not futures[back - 1].cancel():
                break
            back -= 1
            a, b = spans[back]
            here[back] = _apply_batch(fn, work[a:b])
        yield from (here.pop(i) if i >= back else future.result())


def cost_spans(costs: Sequence[float], parts: int) -> list[tuple[int, int]]:
    """Contiguous (start, end) spans covering the items, each of about 1/`parts` of the total
    cost: an item dearer than that is a span of its own, cheap neighbours share one."""
    target = sum(costs) / max(1, parts)
    spans: list[tuple[int, int]] = []
    lo, held = 0, 0.0
    for i, cost in enumerate(costs):
        if i > lo and held + cost > target:
            spans.append((lo, i))
            lo, held = i, 0.0
        held += cost
    if lo < len(costs):
        spans.append((lo, len(costs)))
    return spans


class DaskExecutor:
    """Per-file work on a `dask.distributed` cluster (`pip install 'plagiarism[dask]'`).

    Give a scheduler address (`tcp://host:8786`) or a ready `Client`; a client made here is
    closed by `close()`, one passed in is left to its owner.
    """

    def __init__(
        self, address: str | None = None, *, client: Any = None, batch: int = DASK_BATCH
    ) -> None:
        try:
            from dask.distributed import Client
        except ImportError as exc:
            raise UsageError("--scheduler needs Dask: pip install 'plagiarism[dask]'") from exc
        self.batch = max(1, batch)
        self.tasks_submitted = 0
        self._own = client is None
        if client is None:
            try:
                client = Client(address, timeout=DASK_CONNECT_TIMEOUT_S)  # type: ignore[no-untyped-call]
            except (OSError, TimeoutError, ValueError) as exc:
                raise UsageError(f"cannot reach the Dask scheduler at {address}: {exc}") from exc
        self._client = client

    def map(
        self, fn: Callable[[T], R], items: Iterable[T], costs: Sequence[float] | None = None
    ) -> Iterator[R]:
        # Costs are not used: a cluster's batches are sized for its scheduler (DASK_BATCH).
        work = list(items)
        batches = [work[i : i + self.batch] for i in range(0, len(work), self.batch)]
        if not batches:
            return iter(())
        # The items go to the workers directly, not inside the task graph: a transformers-
        # sized parse ships ~54 MB of source text, which the scheduler then held (and Dask
        # warned about on stderr); full size on a local two-worker cluster took 42 s, 33 s
        # this way. hash=False: identical batches stay two pieces of data.
        data = self._client.scatter(batches, hash=False)
        task = partial(_apply_batch, fn)
        # pure=False: identical batches (the same file twice) must still each run once per call.
        futures = self._client.map(task, data, pure=False)
        self.tasks_submitted += len(futures)
        return self._results(task, batches, futures, data)

    def _results(
        self,
        task: Callable[[list[T]], list[R]],
        batches: list[list[T]],
        futures: list[Any],
        data: list[Any],
    ) -> Iterator[R]:
        from distributed import KilledWorker

        # In submission order, one batch at a time, so memory holds what is being consumed.
        for items, future, scattered in zip(batches, futures, data, strict=True):
            try:
                try:
                    batch: list[R] = future.result()
                except CancelledError:
                    # Scattered items live only on the worker they were sent to: one that
                    # died (preempted, out of memory) took them along, and the tasks that
                    # needed them are cancelled. Sent again inside the task, which the
                    # scheduler keeps and can rerun elsewhere.
                    retry = self._client.submit(task, items, pure=False)
                    self.tasks_submitted += 1
                    batch = retry.result()
                    retry.release()
            except (KilledWorker, CancelledError) as exc:  # the cluster's BrokenProcessPool
                raise WorkerError(_DASK_WORKER_DIED) from exc
            future.release()
            scattered.release()
            yield from batch

    def aside(self, fn: Callable[[T], R], item: T) -> Pending[R]:
        # Here, not on the cluster: what is set aside writes to this machine's cache.
        return _Ran(fn, item)

    def close(self) -> None:
        if self._own:
            self._client.close()


def usable_cores() -> int:
    """The cores this process may run on. A container or `taskset` can allow fewer than the
    machine has, and `os.cpu_count()` counts the machine's: a pool of that many workers on a
    2-core slot of a 64-core host would fork 64."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def make_executor(jobs: int, scheduler: str | None = None) -> Executor:
    """The executor the CLI asks for: a Dask cluster when a scheduler is given, else local.

    Local workers are capped at the usable cores: the per-file work is CPU-bound, so more
    processes only take turns on the same cores, and each holds its own memory (`--jobs 200`
    forked 200 workers and ran half as fast). Results do not depend on the count."""
    if scheduler:
        return DaskExecutor(scheduler)
    cores = usable_cores()
    if jobs > cores:
        log.warning(
            "--jobs %d: this process can use %d cores; running %d workers", jobs, cores, cores
        )
        jobs = cores
    return LocalProcesses(jobs) if jobs != 1 else Serial()
