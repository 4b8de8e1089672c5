"""The library's front door: `compare(a, b, settings)` -> Result.

sources -> parse/normalize (per file, cached by content) -> fingerprint -> candidates ->
align -> match -> Result. Each arrow is one stage module; this file only wires them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from plagiarism import __version__, sources
from plagiarism.align import MAX_TOKENS, Alignment, align, decode_alignment, encode_alignment
from plagiarism.artifacts import is_finding
from plagiarism.cache import AnalysisCache, decode_entry, encode_entry, write_entries
from plagiarism.candidates import LocalIndex, lsh_shape
from plagiarism.config import Settings
from plagiarism.executor import (
    Executor,
    Pending,
    Serial,
    cost_spans,
    make_executor,
    owned,
)
from plagiarism.fingerprint import (
    Permutations,
    UnitPrint,
    decode_print,
    fingerprint_batch,
)
from plagiarism.match import TEMPLATE_FILES, Scored, build
from plagiarism.model import (
    FileInfo,
    Result,
    Side,
    Source,
    SourceFile,
    Summary,
    TokenStream,
    Unchanged,
    Unit,
    Warning,
)
from plagiarism.normalize import (
    FileAnalysis,
    Resolver,
    analyze_versions,
    joint_context,
    side_context,
)
from plagiarism.progress import Progress, Silent, Timed
from plagiarism.shapestore import ShapeStore, make_key, write_values
from plagiarism.store import CacheStats

log = logging.getLogger(__name__)

# k-grams present in more A units than this are idioms, not evidence (see candidates.py);
# the floor keeps small repos from losing real k-grams, the share scales with repo size.
STOP_GRAM_FLOOR = 30
STOP_GRAM_SHARE = 0.01
# A unit of B is a candidate of a unit of A through the inverted index when at least this
# share of its distinct k-grams occur there (split helpers have ~1.0, idioms far less).
MIN_CONTAINMENT = 0.3
# Share of a unit's k-grams (idioms aside) that another unit holds for the two to count as
# copies of one template (see `house_style`). 0.35: templates differ in their tables and names
# (each lazy-import __init__ lists its own modules), so their shared grams are few; 0.5 left
# 24 of diffusers' 35 __init__ findings, 0.7 left 34; at 0.35 every distinctive copy of
# transformers in diffusers stays a finding, and timm -> diffusers keeps its one real copy.
NEAR_DUPLICATE = 0.35
# The shape store's share of --cache-max-bytes; the per-file analyses have the rest.
SHAPE_STORE_SHARE = 0.25
# Cache writes set aside to a worker travel in parts of about this many bytes.
WRITE_PART_BYTES = 16 * 2**20

T = TypeVar("T")
K = TypeVar("K")


@dataclasses.dataclass(frozen=True, slots=True)
class SideData:
    """One side read and analysed: its source, files, their analyses and warnings."""

    source: Source
    files: tuple[SourceFile, ...]
    analyses: tuple[FileAnalysis, ...]
    warnings: tuple[Warning, ...]


def _analyze_entries(item: tuple[list[SourceFile], Side]) -> list[bytes]:
    # Runs in a worker (maybe on another machine): the entries' bytes are what travels back,
    # pickled once, and what the parent writes to its cache as they are.
    versions, side = item
    results = analyze_versions(versions, side)
    return [encode_entry(f, r) for f, r in zip(versions, results, strict=True)]


class CacheWrites:
    """Cache writes that nothing later in the run reads, set aside (`Executor.aside`): a
    pool worker that would only wait makes them while this process goes on. Creating a
    cache file costs ~0.5 ms on an ext4 disk; a cold 100-file run writes ~120 of them and
    ~2,000 stored shapes, a tenth of its time when made in line."""

    def __init__(self, executor: Executor) -> None:
        self.executor = executor
        self._held: list[tuple[str, Callable[[Any], CacheStats], object]] = []
        self._pending: list[tuple[str, Pending[CacheStats]]] = []

    def add(self, what: str, fn: Callable[[T], CacheStats], job: T, *, hold: bool = False) -> None:
        """Set the write aside now, or with `hold` at `release()`: the workers may have
        better things to do first."""
        if hold:
            self._held.append((what, fn, job))
        else:
            self._pending.append((what, self.executor.aside(fn, job)))

    def release(self) -> None:
        """Set aside the writes held until now."""
        held, self._held = self._held, []
        for what, fn, job in held:
            self.add(what, fn, job)

    def add_in_parts(
        self,
        what: str,
        fn: Callable[[tuple[Path, int, list[tuple[K, bytes]]]], CacheStats],
        root: Path,
        max_bytes: int,
        items: Iterable[tuple[K, bytes]],
        *,
        hold: bool = False,
    ) -> None:
        """`add` for many keyed values, in parts of about WRITE_PART_BYTES: a part is pickled
        whole to reach the worker, and the whole of a transformers pair's values (~140 MB)
        in one piece was that much again in this process and in the worker at once."""
        part: list[tuple[K, bytes]] = []
        size = 0
        for key, value in items:
            part.append((key, value))
            size += len(value)
            if size >= WRITE_PART_BYTES:
                self.add(what, fn, (root, max_bytes, part), hold=hold)
                part, size = [], 0
        if part:
            self.add(what, fn, (root, max_bytes, part), hold=hold)

    def settle(self) -> None:
        """Wait for every write, held ones included; one that failed only costs a later run
        time."""
        self.release()
        pending, self._pending = self._pending, []
        totals: dict[str, CacheStats] = {}
        for what, handle in pending:
            try:
                stats = handle.result()
            except Exception as exc:  # a worker lost, a disk gone: the results stand
                log.warning("%s: writes failed (%s); the next run recomputes them", what, exc)
                continue
            totals.setdefault(what, CacheStats()).add(stats)
        for what, stats in totals.items():
            log.info(
                "%s: %d written, %d not writable, %d evicted",
                what,
                stats.writes,
                stats.write_errors,
                stats.evicted,
            )
            if stats.write_errors:
                # One line, not one per entry: a read-only cache folder fails them all, and
                # makes every later run a cold one, which the user should hear about.
                log.warning(
                    "%s: %d of %d not writable; later runs will compute them again (-v: why)",
                    what,
                    stats.write_errors,
                    stats.write_errors + stats.writes,
                )


@contextlib.contextmanager
def _writes_of(writes: CacheWrites | None, executor: Executor) -> Iterator[CacheWrites]:
    """The caller's writes (the caller settles them), or this call's own, settled when the
    call's work is done."""
    if writes is not None:
        yield writes
        return
    own = CacheWrites(executor)
    yield own
    own.settle()


def load_side(
    spec: str,
    rev: str | None,
    side: Side,
    settings: Settings,
    executor: Executor,
    progress: Progress,
) -> SideData:
    """One side read and analysed (see `load_sides` for both at once)."""
    source, files, warnings = _read_side(spec, rev, side, settings, progress)
    progress.stage(f"parsing {side.upper()}", total=len(files))
    with _writes_of(None, executor) as writes:
        by_hash = _analyze(files, side, settings, executor, progress, writes)
    return _side_data(source, files, warnings, by_hash, side)


def load_sides(
    spec_a: str,
    spec_b: str,
    settings: Settings,
    executor: Executor,
    progress: Progress,
    writes: CacheWrites | None = None,
) -> tuple[SideData, SideData]:
    """Both sides read, then every distinct file content of either analysed in one batch:
    B's changed files fill the workers while A's last files finish, instead of waiting for
    a second, smaller batch (too small for the pool, it ran serially). Cache writes go to
    `writes` when given (the caller settles them), else are settled before returning."""
    source_a, files_a, warnings_a = _read_side(spec_a, settings.rev_a, "a", settings, progress)
    source_b, files_b, warnings_b = _read_side(spec_b, settings.rev_b, "b", settings, progress)
    progress.stage("parsing", total=len({f.sha256 for f in files_a + files_b}))
    with _writes_of(writes, executor) as to_write:
        by_hash = _analyze(files_a + files_b, "a", settings, executor, progress, to_write)
    return (
        _side_data(source_a, files_a, warnings_a, by_hash, "a"),
        _side_data(source_b, files_b, warnings_b, by_hash, "b"),
    )


def _read_side(
    spec: str, rev: str | None, side: Side, settings: Settings, progress: Progress
) -> tuple[Source, list[SourceFile], list[Warning]]:
    progress.stage(f"reading {side.upper()}")
    source = sources.resolve(spec, rev, settings, side)
    files, warnings = sources.read_files(source, settings, side)
    return source, list(files), list(warnings)


def _analyze(
    files: Sequence[SourceFile],
    side: Side,
    settings: Settings,
    executor: Executor,
    progress: Progress,
    writes: CacheWrites,
) -> dict[str, tuple[FileAnalysis, list[Warning]]]:
    """Analyses by content hash, as analysed (path and side of the first file with that
    content; `_side_data` sets each file's own)."""
    cache = AnalysisCache(
        settings.cache_dir, max_bytes=int(settings.cache_max_bytes * (1 - SHAPE_STORE_SHARE))
    )
    # The same content is parsed once per run, whatever its path or side, and once ever
    # while the cache keeps it.
    unique: dict[str, SourceFile] = {}
    for f in files:
        unique.setdefault(f.sha256, f)
    by_hash = cache.get_many(list(unique.values())) if settings.use_cache else {}
    todo = [f for f in unique.values() if f.sha256 not in by_hash]
    progress.advance(len(by_hash))
    # The versions of a file (its path on both sides, changed) are analysed together: the
    # later is parsed from the earlier's tree and emits only the units that changed. Between
    # a fork and its upstream that is most of the second side's changed files, at a fraction
    # of their cost (see `analyze_versions`).
    groups: dict[str, list[SourceFile]] = {}
    for f in todo:
        groups.setdefault(f.path, []).append(f)
    # Largest first: the pool's last chunks are then small files, which even out the
    # workers' ends (in file order a worker could be left alone with a long file).
    jobs = sorted(groups.values(), key=lambda g: sum(len(f.text) for f in g), reverse=True)
    results = executor.map(_analyze_entries, [(g, side) for g in jobs])
    fresh: list[tuple[tuple[str, str], bytes]] = []
    for group, entries in zip(jobs, results, strict=True):
        for f, entry in zip(group, entries, strict=True):
            by_hash[f.sha256] = decode_entry(entry, f)
            if settings.use_cache:
                fresh.append(((f.sha256, f.kind), entry))
            progress.advance()
    cache.close()
    # A store this process could not open would fail the writer too, and say so again.
    if fresh and not cache.broken:
        # Held for the caller to release: set aside now, they kept a worker from the
        # fingerprints and this process's resolution of the units a while (see `_compare`).
        writes.add_in_parts(
            "analysis cache", write_entries, cache.root, cache.max_bytes, fresh, hold=True
        )
    log.info(
        "analysis cache: %d hits, %d misses, %d corrupt",
        cache.stats.hits,
        cache.stats.misses,
        cache.stats.corrupt,
    )
    return by_hash


def _side_data(
    source: Source,
    files: Sequence[SourceFile],
    warnings: Sequence[Warning],
    by_hash: Mapping[str, tuple[FileAnalysis, list[Warning]]],
    side: Side,
) -> SideData:
    analyses = []
    all_warnings = list(warnings)
    for f in files:
        analysis, file_warnings = by_hash[f.sha256]
        if analysis.path != f.path:
            analysis = dataclasses.replace(analysis, path=f.path)
        analyses.append(analysis)
        # An analysis may come from another path or side with the same content.
        all_warnings.extend(dataclasses.replace(w, path=f.path, side=side) for w in file_warnings)
    return SideData(
        source=source,
        files=tuple(files),
        analyses=tuple(analyses),
        warnings=tuple(all_warnings),
    )


# What fingerprints and alignment read of a unit, as plain tuples: lines stay home, and a
# tuple pickles and unpickles faster than a frozen dataclass (thousands travel per stage).
_Lite = tuple[tuple[str, ...], tuple[str | None, ...]]


def _lite(unit: Unit) -> _Lite:
    return unit.tokens.syms, unit.tokens.idents


def _stream(lite: _Lite) -> TokenStream:
    return TokenStream(syms=lite[0], lines=(), idents=lite[1])


# Fingerprinting costs ~450 ns a token (transformers units); the executor weighs that
# against shipping the streams. Batches of about this many tokens: enough of them for the
# executor to balance its workers, each long enough for the vectorised hashing to pay.
PRINT_SECONDS_PER_TOKEN = 450e-9
PRINT_BATCH_TOKENS = 8_000


def _align_seconds(a: Unit, b: Unit) -> float:
    """Estimated time to align a pair, for the executor's batching: fitted on the 428 pairs
    of the 100-file transformers benchmark (58 us a pair, 0.14 us a token, 1.2 ns a token
    pair; the 10,000-token module pair is most of the stage)."""
    la, lb = len(a.tokens), len(b.tokens)
    return 58e-6 + 0.14e-6 * (la + lb) + 1.2e-9 * la * lb


def _print_task(item: tuple[list[_Lite], int, Permutations]) -> list[bytes]:
    # The permutations travel with the work (a kilobyte): made in a worker they would cost
    # it numpy.random's import and the generator, ~10 ms, per worker.
    lites, k, perms = item
    streams = [_stream(lite) for lite in lites]
    return fingerprint_batch(streams, k, perms).encoded()


def _align_task(item: tuple[_Lite, _Lite, int, int | None]) -> bytes:
    a, b, min_match, short = item
    return encode_alignment(align(_stream(a), _stream(b), min_match, short))


@functools.lru_cache(maxsize=4)
def _perms(num_perm: int, columns: int) -> Permutations:
    """The first `columns` of `num_perm` permutations: the signature's first columns."""
    full = Permutations.make(num_perm)
    return Permutations(a=full.a[:columns], b=full.b[:columns])


class _Shapes:
    """Per-shape work through the store (when there is one) and the executor (for misses)."""

    def __init__(
        self,
        settings: Settings,
        executor: Executor,
        store: ShapeStore | None,
        progress: Progress,
    ) -> None:
        self.settings = settings
        self.executor = executor
        self.store = store
        self.progress = progress
        # Values made this run, for the store (see `score_candidates`).
        self.unsaved: dict[bytes, bytes] = {}

    def _cached(
        self,
        keys: list[bytes],
        make: Callable[[list[int]], Iterable[bytes]],
        decode: Callable[[bytes], T],
        cost: Callable[[int], int] | None = None,
    ) -> list[T]:
        """The value of each key: from the store when it has it, else from `make`, which
        gets the indexes of the misses and yields their encoded values in that order."""
        found = self.store.get_many(keys) if self.store is not None else {}
        out: list[T | None] = [None] * len(keys)
        for i, key in enumerate(keys):
            value = found.get(key)
            if value is not None:
                try:
                    out[i] = decode(value)
                except ValueError as exc:
                    log.warning("shape store: recomputing a value that does not decode (%s)", exc)
                    if self.store is not None:
                        self.store.stats.corrupt += 1
                else:
                    self.progress.advance()
        todo = [i for i, v in enumerate(out) if v is None]
        if cost is not None:
            # Dearest first: one long pair handed out last would leave a worker idle while
            # the other finishes it (results are placed by index, so order is free). The
            # sort is stable and coarse, so the cheap rest keep their order.
            todo.sort(key=lambda i: -cost(i))
        for i, value in zip(todo, make(todo), strict=True):
            out[i] = decode(value)
            if self.store is not None:
                self.unsaved[keys[i]] = value
            self.progress.advance()
        return [v for v in out if v is not None]

    def prints(self, units: Sequence[Unit]) -> list[UnitPrint]:
        k, num_perm = self.settings.kgram, self.settings.num_perm
        # Only the columns the LSH bands read (28 bands of 2 rows: 56 of 128) are made: the
        # rest cost more than half of the MinHash work and no comparison reads them.
        bands, rows = lsh_shape(self.settings.lsh_threshold, num_perm)
        columns = min(num_perm, bands * rows)
        keys = [make_key("print", k, num_perm, columns, u.content_hash) for u in units]

        def make(todo: list[int]) -> Iterator[bytes]:
            if not todo:
                return
            lites = [_lite(units[i]) for i in todo]
            sizes = [len(syms) for syms, _ in lites]
            perms = _perms(num_perm, columns)
            count = min(len(todo), max(1, -(-sum(sizes) // PRINT_BATCH_TOKENS)))
            spans = cost_spans(sizes, count)
            batches = self.executor.map(
                _print_task,
                [(lites[lo:hi], k, perms) for lo, hi in spans],
                costs=[sum(sizes[lo:hi]) * PRINT_SECONDS_PER_TOKEN for lo, hi in spans],
            )
            for values in batches:
                yield from values

        pairs = self._cached(keys, make, functools.partial(decode_print, num_perm=columns))
        return [UnitPrint(index=i, hashes=h, signature=sig) for i, (h, sig) in enumerate(pairs)]

    def alignments(self, pairs: Sequence[tuple[Unit, Unit]]) -> list[Alignment]:
        min_match = self.settings.min_match
        short = self.settings.short_match or None
        out: list[Alignment | None] = [None] * len(pairs)
        others: list[int] = []
        for i, (a, b) in enumerate(pairs):
            if a.content_hash == b.content_hash:
                # Twins: one whole-unit tile, cheaper to make here than to ship to a
                # worker or to store (most pairs between two versions of a repository).
                out[i] = align(a.tokens, b.tokens, min_match, short)
                self.progress.advance()
            else:
                others.append(i)
        keys = [
            make_key(
                "align", min_match, short or 0, pairs[i][0].content_hash, pairs[i][1].content_hash
            )
            for i in others
        ]
        seconds = [_align_seconds(*pairs[i]) for i in others]
        found = self._cached(
            keys,
            lambda todo: self.executor.map(
                _align_task,
                [
                    (_lite(pairs[others[i]][0]), _lite(pairs[others[i]][1]), min_match, short)
                    for i in todo
                ],
                costs=[seconds[i] for i in todo],
            ),
            decode_alignment,
            # In whole milliseconds: only the few long pairs move ahead, the rest stay in
            # order, a B unit's partners together (align caches per stream).
            cost=lambda i: int(seconds[i] * 1000),
        )
        for i, alignment in zip(others, found, strict=True):
            out[i] = alignment
        return [a for a in out if a is not None]


def shape_groups(
    units_a: Sequence[Unit], units_b: Sequence[Unit]
) -> tuple[dict[str, list[int]], dict[str, int], list[int], list[str]]:
    """The shapes `score_candidates` works on: A's units by shape (in order), each shape of
    B with its first unit, the first unit of each shape of A (what the index holds) and the
    shapes of B without a twin in A (what is looked up in it: a twin explains best)."""
    twins: dict[str, list[int]] = {}
    for i, u in enumerate(units_a):
        twins.setdefault(u.content_hash, []).append(i)
    shapes_b: dict[str, int] = {}
    for i, u in enumerate(units_b):
        shapes_b.setdefault(u.content_hash, i)
    representatives = [group[0] for group in twins.values()]
    lookups = [h for h in shapes_b if h not in twins]
    return twins, shapes_b, representatives, lookups


def score_candidates(
    units_a: Sequence[Unit],
    units_b: Sequence[Unit],
    settings: Settings,
    progress: Progress,
    executor: Executor | None = None,
    store: ShapeStore | None = None,
    writes: CacheWrites | None = None,
) -> tuple[list[Scored], int]:
    """Align each unit of B with the units of A the index proposes.

    Real repositories repeat themselves (transformers holds the same method in dozens of
    model files), so work is done once per *shape*: units of A with the same content hash
    are indexed once, a unit of B is queried once per shape, and a pair of shapes is
    aligned once (tiles depend only on the token symbols and on which names repeat, both
    fixed by the content hash). A unit of B that has an exact twin in A is aligned with
    its twins only: nothing can explain it better. Fingerprints and alignments of shapes
    come from the shape store when an earlier run made them, else from the executor; the
    new ones go to `writes` when given (the caller settles them), else are stored before
    returning.
    """
    executor = executor or Serial()
    shapes = _Shapes(settings, executor, store, progress)
    cap = settings.max_candidates_per_unit
    twins, shapes_b, representatives, lookups = shape_groups(units_a, units_b)
    progress.stage("fingerprints", total=len(representatives) + len(lookups))
    prints = shapes.prints([units_a[i] for i in representatives])
    prints_b = dict(
        zip(lookups, shapes.prints([units_b[shapes_b[h]] for h in lookups]), strict=True)
    )
    progress.stage("indexing")
    # Index positions are positions in `representatives`.
    index = _index(prints, settings)
    progress.stage("candidates", total=len(shapes_b))
    proposals: dict[str, list[int]] = {}  # B shape -> A unit indexes, strongest first
    # B shape -> the A shape whose look-alikes the cap cut (at most one: the last added).
    cut: dict[str, str] = {}
    needed: dict[tuple[str, str], tuple[int, int]] = {}  # shape pair -> a unit and a b unit
    crowded: list[str] = []  # B shapes with no twin in A and many near-duplicates there
    for shape, b_index in shapes_b.items():
        if shape in twins:
            if len(twins[shape]) > cap:
                cut[shape] = shape
            partners = twins[shape][:cap]
            # Twins are all one shape pair, aligned once.
            needed.setdefault((shape, shape), (partners[0], b_index))
        else:
            partners = []
            props = index.query(prints_b[shape])
            if sum(p.containment >= NEAR_DUPLICATE for p in props) >= TEMPLATE_FILES:
                crowded.append(shape)
            for prop in props:
                shape_a = units_a[representatives[prop.a]].content_hash
                partners.extend(twins[shape_a])
                if len(partners) >= cap:
                    if len(partners) > cap:
                        cut[shape] = shape_a
                    break
            partners = partners[:cap]
            for a_index in partners:
                needed.setdefault((units_a[a_index].content_hash, shape), (a_index, b_index))
        proposals[shape] = partners
        progress.advance()
    house = house_style(crowded, lookups, prints_b, units_b, settings) if crowded else frozenset()
    progress.stage("aligning", total=len(needed))
    aligned = shapes.alignments([(units_a[i], units_b[j]) for i, j in needed.values()])
    alignments = dict(zip(needed, aligned, strict=True))
    # A store this process could not open would fail the writer too, and say so again.
    if store is not None and not store.broken and shapes.unsaved:
        with _writes_of(writes, executor) as to_write:
            to_write.add_in_parts(
                "shape store", write_values, store.root, store.max_bytes, shapes.unsaved.items()
            )
    # A unit of B that is the same code at the same path and name as a unit of A is
    # settled by that twin (match.one_to_one takes such pairs first and drops their other
    # edges), so its other partners are not scored at all: between two versions of a
    # repository that is most units, times up to `cap` look-alikes each.
    # (A file may define the same name twice, in two branches: each is a twin.)
    same_place: dict[tuple[str, str, str], list[int]] = {}
    for i, u in enumerate(units_a):
        same_place.setdefault((u.path, u.qualname, u.content_hash), []).append(i)
    scored: list[Scored] = []
    for b_index, ub in enumerate(units_b):
        twins_here = same_place.get((ub.path, ub.qualname, ub.content_hash))
        if twins_here is not None:
            partners = twins_here
        else:
            partners = proposals[ub.content_hash]
            cut_shape = cut.get(ub.content_hash)
            if cut_shape is not None:
                # The cap kept the first look-alikes of that shape; one at B's own path
                # is scored too (its alignment is the shape pair's), as the matching
                # prefers it among equals.
                kept = set(partners)
                partners = partners + [
                    i for i in twins[cut_shape] if units_a[i].path == ub.path and i not in kept
                ]
        styled = twins_here is None and ub.content_hash in house
        for a_index in partners:
            key = (units_a[a_index].content_hash, ub.content_hash)
            scored.append(
                Scored(a=a_index, b=b_index, alignment=alignments[key], house_style=styled)
            )
    return scored, len(needed)


def _index(prints: Sequence[UnitPrint], settings: Settings) -> LocalIndex:
    """The candidate index over `prints` (positions in it are the units' indexes)."""
    return LocalIndex(
        prints,
        num_perm=settings.num_perm,
        lsh_threshold=settings.lsh_threshold,
        min_containment=MIN_CONTAINMENT,
        max_per_unit=settings.max_candidates_per_unit,
        max_df=max(STOP_GRAM_FLOOR, int(STOP_GRAM_SHARE * len(prints))),
    )


def house_style(
    crowded: Sequence[str],
    lookups: Sequence[str],
    prints_b: Mapping[str, UnitPrint],
    units_b: Sequence[Unit],
    settings: Settings,
) -> frozenset[str]:
    """The shapes of `crowded` (B's code with no twin in A, but near-duplicates of it in
    `TEMPLATE_FILES` or more shapes of A) that B also writes again, near-duplicated in that
    many of its files: house style both projects repeat (the lazy-import `__init__.py` of
    every Hugging Face library), not code one took from the other. A copy stands alone in
    the suspect. Only B's shapes without a twin in A are indexed: a template B also shares
    verbatim with A counts fewer files here, never more."""
    order = list(lookups)
    prints = [dataclasses.replace(prints_b[h], index=i) for i, h in enumerate(order)]
    index = _index(prints, settings)
    files: dict[str, set[str]] = {}
    for u in units_b:
        files.setdefault(u.content_hash, set()).add(u.path)
    out = set()
    for shape in crowded:
        seen: set[str] = set()
        for prop in index.query(prints_b[shape]):
            if prop.containment >= NEAR_DUPLICATE:
                seen |= files[order[prop.a]]
                if len(seen) >= TEMPLATE_FILES:
                    out.add(shape)
                    break
    return frozenset(out)


def resolve_units(a: SideData, b: SideData) -> tuple[list[Unit], list[Unit], list[Warning]]:
    """Decide the deferred symbols of both sides with one joint context, so that an
    attribute name is a placeholder on both sides or on neither (`.shape` must not be a
    placeholder in A only because A happens to define a `shape` somewhere)."""
    ctx = joint_context([side_context(a.analyses), side_context(b.analyses)])
    resolver = Resolver(ctx)
    units_a = resolver.units_of(a.analyses, "a")
    units_b = resolver.units_of(b.analyses, "b")
    warnings = [
        Warning(
            side=u.side,
            path=u.path,
            reason=f"{u.qualname} has {len(u.tokens)} tokens; only the first "
            f"{MAX_TOKENS} are aligned, unless its partner is the same code",
        )
        for u in units_a + units_b
        if len(u.tokens) > MAX_TOKENS
    ]
    return units_a, units_b, warnings


def _file_infos(data: SideData, units: Sequence[Unit]) -> tuple[FileInfo, ...]:
    units_per_file: dict[str, int] = {}
    for u in units:
        units_per_file[u.path] = units_per_file.get(u.path, 0) + 1
    return tuple(
        FileInfo(
            path=f.path,
            sha256=f.sha256,
            lines=a.line_count,
            kind=f.kind,
            units=units_per_file.get(f.path, 0),
            cell_starts=f.cell_starts,
            cell_numbers=f.cell_numbers,
        )
        for f, a in zip(data.files, data.analyses, strict=True)
    )


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a comparison builds its millions of tuples and
    records: they hold no cycles worth collecting, and each full collection walks all of
    them again (2.5 s of a 13 s warm transformers run). Restored however the run ends."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def compare(
    spec_a: str | Path,
    spec_b: str | Path,
    settings: Settings | None = None,
    progress: Progress | None = None,
    executor: Executor | None = None,
    *,
    model_a: Path | None = None,
    model_b: Path | None = None,
    base_tokenizer: Path | None = None,
) -> Result:
    """Compare B (the suspect) against A (the original): which of B's code is explained by A."""
    with _collector_paused():
        return _compare(
            spec_a,
            spec_b,
            settings or Settings(),
            Timed(progress or Silent()),
            executor,
            model_a=model_a,
            model_b=model_b,
            base_tokenizer=base_tokenizer,
        )


def _artifacts_task(
    job: tuple[Path, Path, Path | None, Path | None, Path | None],
) -> tuple[dict[str, object] | None, list[Warning]]:
    # Imported here, where the comparison runs (a worker): its readers cost the parent's
    # start ~15 ms otherwise.
    from plagiarism.artifacts.compare import compare_artifacts

    root_a, root_b, model_a, model_b, base_tokenizer = job
    return compare_artifacts(
        root_a, root_b, model_a=model_a, model_b=model_b, base_tokenizer=base_tokenizer
    )


def _compare(
    spec_a: str | Path,
    spec_b: str | Path,
    settings: Settings,
    progress: Progress,
    executor: Executor | None,
    *,
    model_a: Path | None,
    model_b: Path | None,
    base_tokenizer: Path | None,
) -> Result:
    with contextlib.ExitStack() as stack:
        if executor is None:
            executor = stack.enter_context(owned(make_executor(settings.jobs)))
        store = (
            ShapeStore(
                settings.cache_dir, max_bytes=int(settings.cache_max_bytes * SHAPE_STORE_SHARE)
            )
            if settings.use_cache
            else None
        )
        if store is not None:
            stack.callback(store.close)
        writes = CacheWrites(executor)
        a, b = load_sides(str(spec_a), str(spec_b), settings, executor, progress, writes)
        # Tokenizers, configs and checkpoints depend on nothing the code stages make: a
        # worker compares them while this process resolves, aligns and matches.
        artifacts_job = (Path(a.source.root), Path(b.source.root), model_a, model_b, base_tokenizer)
        pending_artifacts = executor.aside(_artifacts_task, artifacts_job)
        progress.stage("resolving")
        units_a, units_b, unit_warnings = resolve_units(a, b)
        scored, n_candidates = score_candidates(
            units_a, units_b, settings, progress, executor, store, writes
        )
        # The analysis entries are written now, beside the shape values, while this process
        # matches and the workers have nothing else to do.
        writes.release()
        if store is not None:
            log.info(
                "shape store: %d hits, %d misses, %d corrupt",
                store.stats.hits,
                store.stats.misses,
                store.stats.corrupt,
            )
        progress.stage("matching")
        text_by_hash = {f.sha256: f.text for f in a.files + b.files}
        matching = build(units_a, units_b, scored, settings, Unchanged(text_by_hash))
        warnings = list(a.warnings) + list(b.warnings) + unit_warnings
        progress.stage("artifacts")
        artifacts, artifact_warnings = pending_artifacts.result()
        warnings.extend(artifact_warnings)
        writes.settle()

    similarity = matching.matched_tokens_b / matching.tokens_b if matching.tokens_b else 0.0
    similarity_a = matching.matched_tokens_a / matching.tokens_a if matching.tokens_a else 0.0
    summary = Summary(
        similarity=similarity,
        # Either way round: B made mostly of A, or A found mostly whole inside B.
        verdict=settings.verdict(max(similarity, similarity_a)),
        files_a=len(a.files),
        files_b=len(b.files),
        units_a=len(units_a),
        units_b=len(units_b),
        tokens_b=matching.tokens_b,
        matched_tokens_b=matching.matched_tokens_b,
        pairs=len(matching.pairs),
        candidates=n_candidates,
        similarity_a=similarity_a,
        tokens_a=matching.tokens_a,
        matched_tokens_a=matching.matched_tokens_a,
    )
    blobs = {}
    for p in matching.pairs:
        for ref in (p.a, p.b):
            blobs[ref.file_sha256] = text_by_hash[ref.file_sha256]
    progress.done()
    return Result(
        tool_version=__version__,
        settings=settings.public(),
        source_a=a.source,
        source_b=b.source,
        summary=summary,
        pairs=matching.pairs,
        file_pairs=matching.file_pairs,
        renames=matching.renames,
        files_a=_file_infos(a, units_a),
        files_b=_file_infos(b, units_b),
        warnings=tuple(warnings),
        blobs=blobs,
        artifacts=artifacts,
        finding=any(not p.backed_only for p in matching.pairs) or is_finding(artifacts),
    )
