"""Progress reporting without printing: the library calls a Progress; the CLI draws it."""

from __future__ import annotations

import logging
import time
from typing import Protocol

log = logging.getLogger(__name__)


class Progress(Protocol):
    def stage(self, name: str, total: int | None = None) -> None:
        """A new stage begins (`total` items, if known)."""

    def advance(self, n: int = 1) -> None:
        """`n` more items of the current stage are done."""

    def done(self) -> None:
        """The whole run is over."""


class Silent:
    """The default: library callers and tests see nothing."""

    def stage(self, name: str, total: int | None = None) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass

    def done(self) -> None:
        pass


class Timed:
    """Wraps a Progress and logs how long each stage took (`plagiarism -v` shows it): where a
    big comparison spends its time is the first question of anyone tuning it."""

    def __init__(self, inner: Progress) -> None:
        self.inner = inner
        self._stage: str | None = None
        self._since = time.perf_counter()
        self.seconds: dict[str, float] = {}

    def _close(self) -> None:
        now = time.perf_counter()
        if self._stage is not None:
            took = now - self._since
            self.seconds[self._stage] = self.seconds.get(self._stage, 0.0) + took
            log.info("stage %s: %.2f s", self._stage, took)
        self._since = now

    def stage(self, name: str, total: int | None = None) -> None:
        self._close()
        self._stage = name
        self.inner.stage(name, total)

    def advance(self, n: int = 1) -> None:
        self.inner.advance(n)

    def done(self) -> None:
        self._close()
        self._stage = None
        self.inner.done()
