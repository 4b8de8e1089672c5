"""Progress reporting without printing: the library calls a Progress; the CLI draws it."""

from __future__ import annotations

from typing import Protocol


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
