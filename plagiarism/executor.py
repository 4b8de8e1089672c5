"""Where per-file work runs: in this process, or in a pool of local processes.

The pipeline only ever calls `Executor.map`, so a distributed engine can take the same
work (see docs/scale.md). Results come back in input order whatever runs them, so a
comparison is identical for any number of workers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# Below this many items a pool costs more to start than it saves.
MIN_ITEMS_FOR_POOL = 64


class Executor(Protocol):
    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]: ...

    def close(self) -> None: ...


class Serial:
    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        return map(fn, items)

    def close(self) -> None:
        pass


class LocalProcesses:
    """A process pool started on first use; `jobs=0` means every core."""

    def __init__(self, jobs: int = 0) -> None:
        self.jobs = jobs or os.cpu_count() or 1
        self._pool: ProcessPoolExecutor | None = None

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        work = list(items)
        if self.jobs <= 1 or len(work) < MIN_ITEMS_FOR_POOL:
            return map(fn, work)
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=self.jobs)
        chunk = max(1, len(work) // (self.jobs * 8))
        return self._pool.map(fn, work, chunksize=chunk)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
