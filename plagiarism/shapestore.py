"""Work on code *shapes* kept on disk: fingerprints of a shape, alignments of a shape pair.

A shape is a unit's content hash (its normalized tokens up to renaming). Fingerprints depend
only on the shape, and an alignment only on the two shapes, so both can outlive a run: a
second comparison, or one against another version of the same repository, reuses them. This
is also the first piece of a corpus index (fingerprints stored and queried outside one run).

One SQLite file (`<cache-dir>/shapes.sqlite`, a `store.Store`): a transformers pair has
~16,000 shapes and ~33,000 aligned shape pairs, each a few hundred bytes. Keys are
digests of the engine (the source of the modules that produce the value), the parameters
and the shapes, so an engine change never serves a stale value. Values carry a BLAKE2
digest that is checked before they are used; one that does not check out is counted as
corrupt and recomputed. A store that cannot be opened or written only costs time: the run
goes on without it and says so in the log.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from plagiarism.cache import engine_digest_of
from plagiarism.store import CacheStats, Store

STORE_FORMAT = 1
FILE_NAME = "shapes.sqlite"
# The modules whose output a stored value is; the tree-sitter versions come along with them.
_ENGINE_MODULES = ("normalize.py", "fingerprint.py", "align.py", "model.py")


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


@dataclass(slots=True)
class ShapeStore(Store):
    """The shape values' store: `<root>/shapes.sqlite`, each value checked by its digest."""

    name: str = FILE_NAME
    table: str = "shapes"
    label: str = "shape store"


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
