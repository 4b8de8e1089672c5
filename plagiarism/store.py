"""Values by key in one SQLite file under the cache folder: what the caches are made of.

The per-file analyses (`cache.py`, `analyses.sqlite`) and the shape values (`shapestore.py`,
`shapes.sqlite`) are each one such file rather than a file per entry: creating a file costs
~0.5 ms on an ext4 disk (a cold 100-file comparison wrote 119 analyses in 50-170 ms of
system time, ~8 % of the run; the same bytes go into SQLite in ~8 ms), and a full cache
would be ~100,000 of them to scan for eviction. A store that cannot be opened or written
only costs time: the run goes on without it and says so once in the log.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

# SQLite caps the number of parameters of one statement.
_BATCH = 500
# A hit refreshes its recency only when it is older than this: rewriting it for every hit of
# every run cost a second on a transformers pair.
_RECENT_S = 3600.0
# Seconds to wait for another run that holds the write lock.
_LOCK_TIMEOUT_S = 30.0
# Eviction passes at most: the first cuts the values in the file's proportion, a next one
# only what the pages' rounding left over.
_EVICT_ROUNDS = 4


@dataclass(slots=True)
class CacheStats:
    """Counters a test or `-v` can read: reuse is counted, not timed."""

    hits: int = 0
    misses: int = 0
    corrupt: int = 0
    writes: int = 0
    write_errors: int = 0
    evicted: int = 0

    def add(self, other: CacheStats) -> None:
        for name in self.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def _digest(value: bytes) -> bytes:
    return hashlib.blake2b(value, digest_size=16).digest()


@dataclass(slots=True)
class Store:
    """Values by key, in the SQLite file `root/name`, table `table`.

    With `checked`, each value is stored with its BLAKE2 digest and a value that does not
    match it is counted as corrupt and not returned; a store whose values check themselves
    (the analysis entries carry a digest in their header) leaves it off and reads less."""

    root: Path
    max_bytes: int
    name: str = "store.sqlite"
    table: str = "store"
    label: str = "store"  # how the log names it
    checked: bool = True
    stats: CacheStats = field(default_factory=CacheStats)
    _db: sqlite3.Connection | None = None
    _broken: bool = False

    @property
    def path(self) -> Path:
        return self.root / self.name

    @property
    def broken(self) -> bool:
        """The store could not be opened or used this run (and said so once)."""
        return self._broken

    def _connect(self) -> sqlite3.Connection | None:
        if self._db is not None or self._broken:
            return self._db
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=_LOCK_TIMEOUT_S)
            # A cache need not survive a power cut: no fsync per commit (a cold run's writes
            # took a tenth of a second in syncs). A crashed *process* still cannot corrupt it
            # (the rollback journal stays on disk); a file that an OS crash did corrupt is
            # set aside by `_give_up` and the next run starts a fresh one.
            db.execute("PRAGMA synchronous=OFF")
            db.execute("PRAGMA journal_mode=TRUNCATE")
            # A new file only (on one that exists the pragmas would write, which a read-only
            # cache, a shared one mounted read-only, refuses; and it could not be read): a
            # rowid table on 8 KiB pages, as values are ~0.4-3 KB (shapes) to ~1 MB (an
            # analysis) and in a WITHOUT ROWID table any row over ~1 KB spilled its tail into
            # an overflow page of its own (the full-size comparison's 21 MB of shapes took a
            # 50 MB file; 26 MB this way); incremental vacuum, so that eviction gives pages
            # back to the file system without rewriting the whole file.
            known = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
            if db.execute(known, (self.table,)).fetchone() is None:
                db.execute("PRAGMA page_size=8192")
                db.execute("PRAGMA auto_vacuum=INCREMENTAL")
                db.execute(
                    f"CREATE TABLE IF NOT EXISTS {self.table} ("
                    "key BLOB PRIMARY KEY, digest BLOB NOT NULL, value BLOB NOT NULL, "
                    "size INTEGER NOT NULL, used REAL NOT NULL)"
                )
                db.commit()
        except (sqlite3.Error, OSError) as exc:  # OSError: the folder cannot be made
            self._give_up("open", exc)
            return None
        self._db = db
        return db

    def _give_up(self, what: str, exc: Exception) -> None:
        # A failed write is counted (`stats.write_errors`) and the run says it in one warning
        # for all its writes; the reason is for -v.
        level = logging.INFO if what == "write" else logging.WARNING
        log.log(
            level, "%s %s: cannot %s (%s); going on without it", self.label, self.path, what, exc
        )
        self._broken = True
        if self._db is not None:
            try:
                self._db.close()
            except sqlite3.Error:
                pass
            self._db = None
        if type(exc) is sqlite3.DatabaseError:
            # Not a lock or a permission (those are OperationalError): the file itself is
            # not a database or is damaged. Set it aside so that the next run builds anew.
            aside = self.path.with_name(f"{self.name}.damaged")
            try:
                os.replace(self.path, aside)
            except OSError:
                return
            log.warning("%s: moved the damaged store to %s", self.label, aside)

    def get_many(self, keys: Iterable[bytes]) -> dict[bytes, bytes]:
        """The stored values of these keys that check out (the rest are misses)."""
        wanted = list(dict.fromkeys(keys))
        found: dict[bytes, bytes] = {}
        now = time.time()
        stale = now - _RECENT_S
        refresh: list[bytes] = []
        db = self._connect() if wanted else None
        if db is not None:
            try:
                for i in range(0, len(wanted), _BATCH):
                    batch = wanted[i : i + _BATCH]
                    marks = ",".join("?" * len(batch))
                    rows = db.execute(
                        f"SELECT key, digest, value, used FROM {self.table} WHERE key IN ({marks})",
                        batch,
                    )
                    for key, digest, value, used in rows:
                        if not self.checked or _digest(value) == digest:
                            found[key] = value
                            if used < stale:
                                refresh.append(key)
                        else:
                            self.stats.corrupt += 1
            except sqlite3.Error as exc:
                self._give_up("read", exc)
                found, refresh = {}, []
        if db is not None and refresh:
            try:
                db.executemany(
                    f"UPDATE {self.table} SET used = ? WHERE key = ?", ((now, k) for k in refresh)
                )
                db.commit()
            except sqlite3.Error as exc:
                # Only eviction reads recency: a store that can be read but not written
                # still serves its values.
                log.info("%s %s: cannot record use (%s)", self.label, self.path, exc)
                db.rollback()
        self.stats.hits += len(found)
        self.stats.misses += len(wanted) - len(found)
        return found

    def put_many(self, values: Mapping[bytes, bytes]) -> None:
        if not values:
            return
        db = self._connect()
        if db is None:
            self.stats.write_errors += len(values)
            return
        now = time.time()
        try:
            db.executemany(
                f"INSERT OR REPLACE INTO {self.table} (key, digest, value, size, used) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    (k, _digest(v) if self.checked else b"", v, len(v) + 40, now)
                    for k, v in values.items()
                ),
            )
            db.commit()
        except sqlite3.Error as exc:
            self._give_up("write", exc)
            self.stats.write_errors += len(values)
            return
        self.stats.writes += len(values)

    def size(self) -> int:
        """Bytes of the store's file: its values, and their keys, digests and B-tree."""
        db = self._connect()
        if db is None:
            return 0
        try:
            pages = db.execute("PRAGMA page_count").fetchone()[0]
            page = db.execute("PRAGMA page_size").fetchone()[0]
        except sqlite3.Error:
            return 0
        return int(pages) * int(page)

    def evict(self, keep_share: float = 0.8) -> int:
        """Drop the least recently used values until the store's file fits its limit again
        (to `keep_share` of it, so that the next runs do not evict again at once)."""
        total = self.size()
        db = self._connect()
        if total <= self.max_bytes or db is None:
            return 0
        goal = int(self.max_bytes * keep_share)
        removed = 0
        # The file is the limit (what the user sees on disk). Beside small values it holds
        # their keys, digests and B-tree: the values are cut in the file's proportion, and
        # again if its pages rounded it over.
        for _ in range(_EVICT_ROUNDS):
            try:
                (values,) = db.execute(
                    f"SELECT COALESCE(SUM(size), 0) FROM {self.table}"
                ).fetchone()
                rows = db.execute(f"SELECT key, size FROM {self.table} ORDER BY used").fetchall()
                target = int(goal * values / total)
                doomed = []
                for key, size in rows:
                    if values <= target:
                        break
                    doomed.append((key,))
                    values -= size
                if not doomed:  # SQLite's own pages exceed the goal: nothing left to drop
                    break
                db.executemany(f"DELETE FROM {self.table} WHERE key = ?", doomed)
                db.commit()
                # Give the pages back to the file system, or the file never shrinks. A
                # store made before incremental vacuum is rewritten whole.
                if db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2:
                    # Through executescript, which steps the pragma to its end: `execute`
                    # steps it once, and frees a single page.
                    db.executescript("PRAGMA incremental_vacuum;")
                else:
                    db.execute("VACUUM")
            except sqlite3.Error as exc:
                self._give_up("evict", exc)
                break
            removed += len(doomed)
            total = self.size()
            if total <= goal:
                break
        if removed:
            self.stats.evicted += removed
            log.info(
                "%s: evicted %d values to stay under %d bytes", self.label, removed, self.max_bytes
            )
        return removed

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
