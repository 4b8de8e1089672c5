"""Per-file analysis kept on disk, addressed by content, so each file is parsed once ever.

An entry is found by the SHA-256 of the file's bytes, its kind and the *engine*: a digest of
the cache format, of the source of the modules whose output the entry holds (parse,
normalize, notebooks, model) and of the tree-sitter versions. Changing any of them moves every
lookup to fresh keys, so a stale analysis is never served; the old entries age out through
the size limit. The entries live in one SQLite file, `<cache-dir>/analyses.sqlite` (see
`store.py` for why not a file each).

Entries are pickles because only this program writes them. They are still never trusted: each
carries a header (magic, format, engine, file digest, the CRC of the text it was made from,
payload length and a BLAKE2 digest of the payload) that is checked before unpickling, and the
result's types are checked after. Anything that does not check out is counted as corrupt,
recomputed and overwritten. SQLite's transactions keep concurrent runs sharing a cache folder
from ever seeing half an entry.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import pickle
import shutil
import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from plagiarism.config import Settings
from plagiarism.model import SourceFile, Warning
from plagiarism.normalize import FileAnalysis
from plagiarism.parse import grammar_identity
from plagiarism.store import CacheStats, Store

log = logging.getLogger(__name__)

# Bump when the entry layout changes (header or payload shape).
# 2: analyses pickle through their constructors, name sets sorted; 3: in SQLite, not a file each
CACHE_FORMAT = 3
FILE_NAME = "analyses.sqlite"
# The default lives in Settings.cache_max_bytes (4 GiB: about 40 repositories the size of
# transformers, ~100 MB of entries each); older entries are evicted first.
DEFAULT_MAX_BYTES: int = Settings().cache_max_bytes
# Evicting down to this share of the limit leaves room so that not every run evicts.
EVICT_TO = 0.8

_MAGIC = b"PLAGFA\x00\x01"
# magic, format, engine digest, file sha256, text crc32, text length, payload length, payload digest
_HEADER = struct.Struct("<8sI16s32sIQQ16s")
_ENGINE_MODULES = ("parse.py", "normalize.py", "notebooks.py", "model.py")

Analysis = tuple[FileAnalysis, list[Warning]]


@lru_cache(maxsize=1)
def engine_digest() -> bytes:
    """Digest of everything an analysis depends on besides the file: an engine change
    (a new normalisation rule, another grammar version) must invalidate old entries."""
    return engine_digest_of(Path(__file__).resolve().parent)


def engine_digest_of(package: Path, modules: tuple[str, ...] = _ENGINE_MODULES) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    h.update(f"format={CACHE_FORMAT}".encode())
    for name in modules:
        h.update(name.encode())
        h.update((package / name).read_bytes())
    h.update(grammar_identity().encode())
    return h.digest()


def text_crc(text: str) -> tuple[int, int]:
    """A cheap check that an entry was made from the text we are about to analyse (the text
    of a file is derived from its bytes by decoding rules that live outside the engine)."""
    data = text.encode("utf-8", "surrogatepass")
    return zlib.crc32(data), len(data)


def encode_entry(file: SourceFile, analysis: Analysis) -> bytes:
    """The bytes of one entry. Runs where the analysis was made (a worker, maybe remote),
    so the result travels back pickled once and the parent only writes bytes."""
    payload = pickle.dumps(analysis, protocol=pickle.HIGHEST_PROTOCOL)
    crc, length = text_crc(file.text)
    header = _HEADER.pack(
        _MAGIC,
        CACHE_FORMAT,
        engine_digest(),
        bytes.fromhex(file.sha256),
        crc,
        length,
        len(payload),
        hashlib.blake2b(payload, digest_size=16).digest(),
    )
    return header + payload


class CorruptEntry(Exception):
    """An entry failed a check; internal, never shown to users (the entry is recomputed)."""


def decode_entry(data: bytes, file: SourceFile) -> Analysis:
    """Check an entry against the file it should describe; raise CorruptEntry on any doubt."""
    if len(data) < _HEADER.size:
        raise CorruptEntry("truncated header")
    magic, fmt, engine, sha, crc, length, size, digest = _HEADER.unpack_from(data)
    if magic != _MAGIC or fmt != CACHE_FORMAT or engine != engine_digest():
        raise CorruptEntry("foreign or stale entry")
    if sha != bytes.fromhex(file.sha256) or (crc, length) != text_crc(file.text):
        raise CorruptEntry("entry describes another file")
    payload = memoryview(data)[_HEADER.size :]
    if len(payload) != size or hashlib.blake2b(payload, digest_size=16).digest() != digest:
        raise CorruptEntry("payload checksum mismatch")
    try:
        value = pickle.loads(payload)
    except Exception as exc:  # a payload that passed its digest but not pickle: still corrupt
        raise CorruptEntry(f"unreadable payload: {exc}") from exc
    if (
        not isinstance(value, tuple)
        or len(value) != 2
        or not isinstance(value[0], FileAnalysis)
        or not isinstance(value[1], list)
        or not all(isinstance(w, Warning) for w in value[1])
    ):
        raise CorruptEntry("unexpected payload type")
    return value[0], value[1]


@dataclass(slots=True)
class AnalysisCache:
    """Entries in `root/analyses.sqlite`, keyed by engine digest, file digest and kind: an
    entry of another engine is never even read, and ages out with the least recently used."""

    root: Path
    max_bytes: int = DEFAULT_MAX_BYTES
    stats: CacheStats = field(default_factory=CacheStats)
    _store: Store | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            # Not `checked`: an entry's header carries the digest of its payload.
            self._store = Store(
                self.root, self.max_bytes, FILE_NAME, "analyses", "analysis cache", checked=False
            )
        return self._store

    @property
    def path(self) -> Path:
        return self.store.path

    @property
    def broken(self) -> bool:
        """The store could not be opened or used this run (and said so once)."""
        return self._store is not None and self._store.broken

    def get(self, file: SourceFile) -> Analysis | None:
        """The cached analysis of this file's content, or None (missing or failed a check)."""
        return self.get_many([file]).get(file.sha256)

    def get_many(self, files: Sequence[SourceFile]) -> dict[str, Analysis]:
        """The cached analyses of these files' contents that check out, by SHA-256, in one
        read of the store."""
        keyed = {entry_key(f.sha256, f.kind): f for f in files}
        found = self.store.get_many(keyed)
        out: dict[str, Analysis] = {}
        for key, file in keyed.items():
            data = found.get(key)
            if data is None:
                self.stats.misses += 1
                continue
            try:
                out[file.sha256] = decode_entry(data, file)
            except CorruptEntry as exc:
                log.warning("analysis cache: recomputing %s (%s)", file.path, exc)
                self.stats.corrupt += 1
                self.stats.misses += 1
                continue
            self.stats.hits += 1
        return out

    def put(self, file: SourceFile, entry: bytes) -> None:
        """Store an entry made by `encode_entry`. A cache that cannot be written only costs time."""
        self.put_many([((file.sha256, file.kind), entry)])

    def put_many(self, entries: Iterable[tuple[tuple[str, str], bytes]]) -> None:
        """Store entries ((file digest, kind), entry), as they travel to a worker that writes."""
        store = self.store
        before = store.stats.writes, store.stats.write_errors
        store.put_many({entry_key(sha256, kind): entry for (sha256, kind), entry in entries})
        self.stats.writes += store.stats.writes - before[0]
        self.stats.write_errors += store.stats.write_errors - before[1]

    def size(self) -> int:
        return self.store.size()

    def evict(self) -> int:
        """Delete least recently used entries until the cache fits its limit again."""
        removed = self.store.evict(EVICT_TO)
        self.stats.evicted += removed
        return removed

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def entry_key(sha256: str, kind: str) -> bytes:
    return engine_digest() + bytes.fromhex(sha256) + kind.encode("ascii", "replace")


def write_entries(job: tuple[Path, int, list[tuple[tuple[str, str], bytes]]]) -> CacheStats:
    """Store entries ((file digest, kind), entry) and keep the cache under its limit: the
    writes of a run, set aside to a worker that would otherwise wait (`Executor.aside`)."""
    root, max_bytes, entries = job
    _remove_file_per_entry_cache(root)
    cache = AnalysisCache(root, max_bytes=max_bytes)
    try:
        cache.put_many(entries)
        if cache.stats.writes:
            cache.evict()
    finally:
        cache.close()
    return cache.stats


def _remove_file_per_entry_cache(root: Path) -> None:
    """Before format 3 each entry was a file under `root/analysis/` with its size in
    `root/analysis.tally`: nothing reads them now, and nothing else would ever delete them."""
    old = root / "analysis"
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old, ignore_errors=True)
    with contextlib.suppress(OSError):
        (root / "analysis.tally").unlink()
