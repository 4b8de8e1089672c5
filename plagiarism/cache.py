"""Per-file analysis kept on disk, addressed by content, so each file is parsed once ever.

An entry is found by the SHA-256 of the file's bytes and its kind, under a folder named after
the cache format and the *engine*: a digest of the source of the modules whose output the entry
holds (parse, normalize, notebooks, model) and of the tree-sitter versions. Changing any of them
moves every lookup to a fresh folder, so a stale analysis is never served; the old folders
age out through the size limit.

Entries are pickles because only this program writes them. They are still never trusted: each
carries a header (magic, format, engine, file digest, the CRC of the text it was made from,
payload length and a BLAKE2 digest of the payload) that is checked before unpickling, and the
result's types are checked after. Anything that does not check out is counted as corrupt,
recomputed and overwritten. Writes go to a temporary file renamed into place, so concurrent
runs sharing a cache folder never see half an entry.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pickle
import struct
import tempfile
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from plagiarism.config import Settings
from plagiarism.model import SourceFile, Warning
from plagiarism.normalize import FileAnalysis
from plagiarism.parse import grammar_identity

log = logging.getLogger(__name__)

# Bump when the entry layout changes (header or payload shape).
CACHE_FORMAT = 2  # 2: analyses pickle through their constructors, name sets sorted
# The default lives in Settings.cache_max_bytes (4 GiB: about 40 repositories the size of
# transformers, ~100 MB of entries each); older entries are evicted first.
DEFAULT_MAX_BYTES: int = Settings().cache_max_bytes
# Evicting down to this share of the limit leaves room so that not every run rescans.
EVICT_TO = 0.8
# A run trusts the size the last full scan found (plus what runs wrote since) for this long;
# the tally drifts when runs share the cache at the same moment, so it is renewed daily.
TALLY_MAX_AGE_S = 24 * 3600

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
    """Entries under `root/analysis/v<format>/<engine>/ab/cdef….pickle`."""

    root: Path
    max_bytes: int = DEFAULT_MAX_BYTES
    stats: CacheStats = field(default_factory=CacheStats)
    written: int = 0  # bytes this instance wrote, for the tally

    @property
    def base(self) -> Path:
        return self.root / "analysis"

    @property
    def tally_path(self) -> Path:
        # Beside the entries' folder, not in it: the scan must not count or evict it.
        return self.root / "analysis.tally"

    def folder(self) -> Path:
        return self.base / f"v{CACHE_FORMAT}" / engine_digest().hex()

    def path_for(self, file: SourceFile) -> Path:
        return self._path(file.sha256, file.kind)

    def _path(self, sha256: str, kind: str) -> Path:
        return self.folder() / sha256[:2] / f"{sha256[2:]}.{kind}.pickle"

    def get(self, file: SourceFile) -> Analysis | None:
        """The cached analysis of this file's content, or None (missing or failed a check)."""
        path = self.path_for(file)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            self._count_miss()
            return None
        except OSError as exc:
            log.info("analysis cache: cannot read %s (%s)", path, exc)
            self._count_miss()
            return None
        try:
            value = decode_entry(data, file)
        except CorruptEntry as exc:
            log.warning("analysis cache: recomputing %s (%s)", file.path, exc)
            self.stats.corrupt += 1
            self._count_miss()
            return None
        self.stats.hits += 1
        try:
            # Recency for eviction; mtime because atime is often not kept (noatime, relatime).
            os.utime(path)
        except OSError:
            pass
        return value

    def _count_miss(self) -> None:
        self.stats.misses += 1

    def put(self, file: SourceFile, entry: bytes) -> None:
        """Store an entry made by `encode_entry`. A cache that cannot be written only costs time."""
        self.put_entry(file.sha256, file.kind, entry)

    def put_entry(self, sha256: str, kind: str, entry: bytes) -> None:
        """`put` by the file's digest and kind (what travels to a worker that writes)."""
        path = self._path(sha256, kind)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_whole(path, entry)
        except OSError as exc:
            if not self.stats.write_errors:  # the first says why; the rest are counted
                log.info("analysis cache: cannot write %s (%s)", path, exc)
            self.stats.write_errors += 1
            return
        self.stats.writes += 1
        self.written += len(entry)

    def entries(self) -> Iterator[tuple[Path, int, float]]:
        """(path, size, mtime) of every entry, of any format or engine."""
        stack = [self.base]
        while stack:
            folder = stack.pop()
            try:
                it = os.scandir(folder)
            except OSError:
                continue
            with it:
                for entry in it:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(Path(entry.path))
                        elif entry.is_file(follow_symlinks=False):
                            st = entry.stat(follow_symlinks=False)
                            yield Path(entry.path), st.st_size, st.st_mtime
                    except OSError:
                        continue

    def size(self) -> int:
        return sum(size for _, size, _ in self.entries())

    def evict(self) -> int:
        """Delete least recently used entries until the cache fits its limit again.

        Finding the entries scans the whole cache (~100,000 files when it is full), so a run
        first adds what it wrote to the size the last scan found: while that stays under the
        limit and the scan is under a day old, nothing is scanned. The sum over-counts an
        entry written twice, which only brings the next scan forward.
        """
        tally = self._read_tally()
        if tally is not None:
            known, scanned_at = tally
            if (
                known + self.written <= self.max_bytes
                and time.time() - scanned_at < TALLY_MAX_AGE_S
            ):
                self._write_tally(known + self.written, scanned_at)
                self.written = 0
                return 0
        found = list(self.entries())
        total = sum(size for _, size, _ in found)
        self.written = 0
        if total <= self.max_bytes:
            self._write_tally(total, time.time())
            return 0
        target = int(self.max_bytes * EVICT_TO)
        removed = 0
        for path, size, _ in sorted(found, key=lambda e: e[2]):
            if total <= target:
                break
            try:
                path.unlink()
            except OSError:
                continue
            total -= size
            removed += 1
        self.stats.evicted += removed
        self._write_tally(total, time.time())
        log.info(
            "analysis cache: evicted %d entries to stay under %d bytes", removed, self.max_bytes
        )
        return removed

    def _read_tally(self) -> tuple[int, float] | None:
        try:
            known, scanned_at = self.tally_path.read_text(encoding="ascii").split()
            return int(known), float(scanned_at)
        except (OSError, ValueError, UnicodeDecodeError):
            return None  # missing or unreadable: scan

    def _write_tally(self, known: int, scanned_at: float) -> None:
        try:
            _write_whole(self.tally_path, f"{known} {scanned_at:.0f}\n".encode("ascii"))
        except OSError as exc:
            log.info("analysis cache: cannot record its size (%s)", exc)


def write_entries(job: tuple[Path, int, list[tuple[tuple[str, str], bytes]]]) -> CacheStats:
    """Store entries ((file digest, kind), entry) and keep the cache under its limit: the
    writes of a run, set aside to a worker that would otherwise wait (`Executor.aside`)."""
    root, max_bytes, entries = job
    cache = AnalysisCache(root, max_bytes=max_bytes)
    for (sha256, kind), entry in entries:
        cache.put_entry(sha256, kind, entry)
    if cache.stats.writes:
        cache.evict()
    return cache.stats


def _write_whole(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path` and rename it into place: concurrent
    runs sharing a cache folder never see half a file. Raises OSError."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
