"""Work on code *shapes* kept on disk: fingerprints of a shape, alignments of a shape pair.

A shape is a unit's content hash (its normalized tokens up to renaming). Fingerprints depend
only on the shape, and an alignment only on the two shapes, so both can outlive a run: a
second comparison, or one against another version of the same repository, reuses them. This
is also the first piece of a corpus index (fingerprints stored and queried outside one run).

One SQLite file (`<cache-dir>/shapes.sqlite`) rather than a file per entry: a transformers
pair has ~16,000 shapes and ~33,000 aligned shape pairs, each a few hundred bytes. Keys are
digests of the engine (the source of the modules that produce the value), the parameters
and the shapes, so an engine change never serves a stale value. Values carry a BLAKE2
digest that is checked before they are used; one that does not check out is counted as
corrupt and recomputed. A store that cannot be opened or written only costs time: the run
goes on without it and says so in the log.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from plagiarism.cache import CacheStats, engine_digest_of

log = logging.getLogger(__name__)

STORE_FORMAT = 1
FILE_NAME = "shapes.sqlite"
# The modules whose output a stored value is; the tree-sitter versions come along with them.
_ENGINE_MODULES = ("normalize.py", "fingerprint.py", "align.py", "model.py")
# SQLite caps the number of parameters of one statement.
_BATCH = 500
# A hit refreshes its recency only when it is older than this.
_RECENT_S = 3600.0
# Seconds to wait for another run that holds the write lock.
_LOCK_TIMEOUT_S = 30.0


@lru_cache(maxsize=1)
def engine_digest() -> bytes:
    package = Path(__file__).resolve().parent
    h = hashlib.blake2b(engine_digest_of(package, _ENGINE_MODULES), digest_size=16)
    h.update(f"store={STORE_FORMAT}".encode())
    return h.digest()


@lru_cache(maxsize=1)
def _keyer() -> hashlib.blake2b:
    return hashlib.blake2b(engine_digest(), digest_size=16)


def make_key(kind: str, *parts: str | int) -> bytes:
    """The key of one value: what it is, the parameters it was made with, the shapes."""
    h = _keyer().copy()
    h.update("\x00".join((kind, *map(str, parts))).encode())
    return h.digest()


# Eviction passes at most: the first cuts the values in the file's proportion, a next one
# only what the pages' rounding left over.
_EVICT_ROUNDS = 4


def _digest(value: bytes) -> bytes:
    return hashlib.blake2b(value, digest_size=16).digest()


@dataclass(slots=True)
class ShapeStore:
    """Values by key, in one SQLite file under the cache folder."""

    root: Path
    max_bytes: int
    stats: CacheStats = field(default_factory=CacheStats)
    _db: sqlite3.Connection | None = None
    _broken: bool = False

    @property
    def path(self) -> Path:
        return self.root / FILE_NAME

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
            # A rowid table on 8 KiB pages (the page size only takes for a new file). The
            # values are ~0.4-3 KB; in a WITHOUT ROWID table any row over ~1 KB spilled its
            # tail into an overflow page of its own, and the full-size comparison's 21 MB of
            # values took a 50 MB file. This way 26 MB, and reading them all is faster
            # (0.06 s against 0.11 s). Stores made before keep their table, which still works.
            db.execute("PRAGMA page_size=8192")
            db.execute(
                "CREATE TABLE IF NOT EXISTS shapes ("
                "key BLOB PRIMARY KEY, digest BLOB NOT NULL, value BLOB NOT NULL, "
                "size INTEGER NOT NULL, used REAL NOT NULL)"
            )
            db.commit()
        except sqlite3.Error as exc:
            self._give_up("open", exc)
            return None
        self._db = db
        return db

    def _give_up(self, what: str, exc: Exception) -> None:
        log.warning("shape store %s: cannot %s (%s); going on without it", self.path, what, exc)
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
            aside = self.path.with_name(f"{FILE_NAME}.damaged")
            try:
                os.replace(self.path, aside)
            except OSError:
                return
            log.warning("shape store: moved the damaged store to %s", aside)

    def get_many(self, keys: Iterable[bytes]) -> dict[bytes, bytes]:
        """The stored values of these keys that check out (the rest are misses)."""
        wanted = list(dict.fromkeys(keys))
        found: dict[bytes, bytes] = {}
        # Recency only matters to eviction at the scale of runs, not seconds: rewriting it
        # for every hit of every run cost a second on a transformers pair.
        now = time.time()
        stale = now - _RECENT_S
        refresh: list[bytes] = []
        db = self._connect()
        if db is not None:
            try:
                for i in range(0, len(wanted), _BATCH):
                    batch = wanted[i : i + _BATCH]
                    marks = ",".join("?" * len(batch))
                    rows = db.execute(
                        f"SELECT key, digest, value, used FROM shapes WHERE key IN ({marks})",
                        batch,
                    )
                    for key, digest, value, used in rows:
                        if _digest(value) == digest:
                            found[key] = value
                            if used < stale:
                                refresh.append(key)
                        else:
                            self.stats.corrupt += 1
                if refresh:
                    db.executemany(
                        "UPDATE shapes SET used = ? WHERE key = ?", ((now, k) for k in refresh)
                    )
                    db.commit()
            except sqlite3.Error as exc:
                self._give_up("read", exc)
                found = {}
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
                "INSERT OR REPLACE INTO shapes (key, digest, value, size, used) "
                "VALUES (?, ?, ?, ?, ?)",
                ((k, _digest(v), v, len(v) + 40, now) for k, v in values.items()),
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
                values = db.execute("SELECT COALESCE(SUM(size), 0) FROM shapes").fetchone()[0]
                rows = db.execute("SELECT key, size FROM shapes ORDER BY used").fetchall()
                target = int(goal * values / total)
                doomed = []
                for key, size in rows:
                    if values <= target:
                        break
                    doomed.append((key,))
                    values -= size
                if not doomed:  # SQLite's own pages exceed the goal: nothing left to drop
                    break
                db.executemany("DELETE FROM shapes WHERE key = ?", doomed)
                db.commit()
                # Give the pages back to the file system, or the file never shrinks.
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
                "shape store: evicted %d values to stay under %d bytes", removed, self.max_bytes
            )
        return removed

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def write_values(job: tuple[Path, int, list[tuple[bytes, bytes]]]) -> CacheStats:
    """Store (key, value) pairs and keep the store under its limit: a run's writes, set
    aside to a worker that would otherwise wait (`Executor.aside`)."""
    root, max_bytes, values = job
    store = ShapeStore(root, max_bytes=max_bytes)
    try:
        store.put_many(dict(values))
        if store.stats.writes:
            store.evict()
    finally:
        store.close()
    return store.stats
