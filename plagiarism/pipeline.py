"""The library's front door: `compare(a, b, settings)` -> Result.

sources -> parse/normalize (per file, cached by content) -> fingerprint -> candidates ->
align -> match -> Result. Each arrow is one stage module; this file only wires them.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path

from plagiarism import __version__, sources
from plagiarism.align import MAX_TOKENS, Alignment, align
from plagiarism.artifacts import compare_artifacts, is_finding
from plagiarism.cache import AnalysisCache, decode_entry, encode_entry
from plagiarism.candidates import LocalIndex
from plagiarism.config import Settings
from plagiarism.executor import Executor, LocalProcesses, Serial
from plagiarism.fingerprint import Permutations, fingerprint_units
from plagiarism.match import Scored, build
from plagiarism.model import (
    FileInfo,
    Result,
    Side,
    Source,
    SourceFile,
    Summary,
    Unit,
    Warning,
)
from plagiarism.normalize import (
    FileAnalysis,
    analyze_file,
    joint_context,
    resolve_units_of,
    side_context,
)
from plagiarism.progress import Progress, Silent

log = logging.getLogger(__name__)

# k-grams present in more A units than this are idioms, not evidence (see candidates.py);
# the floor keeps small repos from losing real k-grams, the share scales with repo size.
STOP_GRAM_FLOOR = 30
STOP_GRAM_SHARE = 0.01
# A unit of B is a candidate of a unit of A through the inverted index when at least this
# share of its distinct k-grams occur there (split helpers have ~1.0, idioms far less).
MIN_CONTAINMENT = 0.3


@dataclasses.dataclass(frozen=True, slots=True)
class SideData:
    source: Source
    files: tuple[SourceFile, ...]
    analyses: tuple[FileAnalysis, ...]
    warnings: tuple[Warning, ...]


def _analyze_entry(item: tuple[SourceFile, Side]) -> bytes:
    # Runs in a worker (maybe on another machine): the entry's bytes are what travels back,
    # pickled once, and what the parent writes to its cache as they are.
    file, side = item
    return encode_entry(file, analyze_file(file, side))


def load_side(
    spec: str,
    rev: str | None,
    side: Side,
    settings: Settings,
    executor: Executor,
    progress: Progress,
) -> SideData:
    source = sources.resolve(spec, rev, settings, side)
    files, warnings = sources.read_files(source, settings, side)
    progress.stage(f"parsing {side.upper()}", total=len(files))
    cache = AnalysisCache(settings.cache_dir, max_bytes=settings.cache_max_bytes)
    # The same content is parsed once per run, whatever its path or side (side B finds the
    # entries side A just wrote), and once ever while the cache keeps it.
    unique: dict[str, SourceFile] = {}
    for f in files:
        unique.setdefault(f.sha256, f)
    by_hash: dict[str, tuple[FileAnalysis, list[Warning]]] = {}
    todo: list[SourceFile] = []
    for f in unique.values():
        cached = cache.get(f) if settings.use_cache else None
        if cached is None:
            todo.append(f)
        else:
            by_hash[f.sha256] = cached
            progress.advance()
    for f, entry in zip(todo, executor.map(_analyze_entry, [(f, side) for f in todo]), strict=True):
        by_hash[f.sha256] = decode_entry(entry, f)
        if settings.use_cache:
            cache.put(f, entry)
        progress.advance()
    if cache.stats.writes:
        cache.evict()
    log.info(
        "analysis cache %s: %d hits, %d misses, %d corrupt",
        side.upper(),
        cache.stats.hits,
        cache.stats.misses,
        cache.stats.corrupt,
    )
    analyses = []
    all_warnings = list(warnings)
    for f in files:
        analysis, file_warnings = by_hash[f.sha256]
        if analysis.path != f.path:
            analysis = dataclasses.replace(analysis, path=f.path)
        analyses.append(analysis)
        # A cached analysis may come from another path or side with the same content.
        all_warnings.extend(dataclasses.replace(w, path=f.path, side=side) for w in file_warnings)
    return SideData(
        source=source,
        files=tuple(files),
        analyses=tuple(analyses),
        warnings=tuple(all_warnings),
    )


def score_candidates(
    units_a: Sequence[Unit], units_b: Sequence[Unit], settings: Settings, progress: Progress
) -> tuple[list[Scored], int]:
    """Align each unit of B with the units of A the index proposes.

    Real repositories repeat themselves (transformers holds the same method in dozens of
    model files), so work is done once per *shape*: units of A with the same content hash
    are indexed once, a unit of B is queried once per shape, and a pair of shapes is
    aligned once (tiles depend only on the token symbols and on which names repeat, both
    fixed by the content hash). A unit of B that has an exact twin in A is aligned with
    its twins only: nothing can explain it better.
    """
    cap = settings.max_candidates_per_unit
    short = settings.short_match or None
    twins: dict[str, list[int]] = {}
    for i, u in enumerate(units_a):
        twins.setdefault(u.content_hash, []).append(i)
    representatives = [group[0] for group in twins.values()]
    perms = Permutations.make(settings.num_perm)
    prints = fingerprint_units([units_a[i] for i in representatives], settings.kgram, perms)
    # Index positions are positions in `representatives`.
    index = LocalIndex(
        prints,
        num_perm=settings.num_perm,
        lsh_threshold=settings.lsh_threshold,
        min_containment=MIN_CONTAINMENT,
        max_per_unit=cap,
        max_df=max(STOP_GRAM_FLOOR, int(STOP_GRAM_SHARE * len(representatives))),
    )
    shapes_b: dict[str, int] = {}
    for i, u in enumerate(units_b):
        shapes_b.setdefault(u.content_hash, i)
    prints_b = dict(
        zip(
            shapes_b,
            fingerprint_units([units_b[i] for i in shapes_b.values()], settings.kgram, perms),
            strict=True,
        )
    )
    progress.stage("aligning", total=len(units_b))
    proposals: dict[str, list[int]] = {}  # B shape -> A unit indexes, strongest first
    alignments: dict[tuple[str, str], Alignment] = {}
    scored: list[Scored] = []
    n_candidates = 0
    for b_index, ub in enumerate(units_b):
        partners = proposals.get(ub.content_hash)
        if partners is None:
            if ub.content_hash in twins:
                partners = twins[ub.content_hash][:cap]
            else:
                partners = []
                for prop in index.query(prints_b[ub.content_hash]):
                    partners.extend(twins[units_a[representatives[prop.a]].content_hash])
                    if len(partners) >= cap:
                        break
                partners = partners[:cap]
            proposals[ub.content_hash] = partners
        for a_index in partners:
            ua = units_a[a_index]
            key = (ua.content_hash, ub.content_hash)
            alignment = alignments.get(key)
            if alignment is None:
                n_candidates += 1
                alignment = align(ua.tokens, ub.tokens, settings.min_match, short)
                alignments[key] = alignment
            scored.append(Scored(a=a_index, b=b_index, alignment=alignment))
        progress.advance()
    return scored, n_candidates


def resolve_units(a: SideData, b: SideData) -> tuple[list[Unit], list[Unit], list[Warning]]:
    """Decide the deferred symbols of both sides with one joint context, so that an
    attribute name is a placeholder on both sides or on neither (`.shape` must not be a
    placeholder in A only because A happens to define a `shape` somewhere)."""
    ctx = joint_context([side_context(a.analyses), side_context(b.analyses)])
    units_a = resolve_units_of(a.analyses, ctx, "a")
    units_b = resolve_units_of(b.analyses, ctx, "b")
    warnings = [
        Warning(
            side=u.side,
            path=u.path,
            reason=f"{u.qualname} has {len(u.tokens)} tokens; only the first "
            f"{MAX_TOKENS} are aligned",
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
        )
        for f, a in zip(data.files, data.analyses, strict=True)
    )


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
    settings = settings or Settings()
    progress = progress or Silent()
    own_executor = executor is None
    if executor is None:
        executor = LocalProcesses(settings.jobs) if settings.jobs != 1 else Serial()
    try:
        a = load_side(str(spec_a), settings.rev_a, "a", settings, executor, progress)
        b = load_side(str(spec_b), settings.rev_b, "b", settings, executor, progress)
    finally:
        if own_executor:
            executor.close()
    units_a, units_b, unit_warnings = resolve_units(a, b)
    scored, n_candidates = score_candidates(units_a, units_b, settings, progress)
    progress.stage("matching")
    matching = build(units_a, units_b, scored, settings)

    warnings = list(a.warnings) + list(b.warnings) + unit_warnings
    progress.stage("artifacts")
    artifacts, artifact_warnings = compare_artifacts(
        Path(a.source.root),
        Path(b.source.root),
        model_a=model_a,
        model_b=model_b,
        base_tokenizer=base_tokenizer,
    )
    warnings.extend(artifact_warnings)

    similarity = matching.matched_tokens_b / matching.tokens_b if matching.tokens_b else 0.0
    summary = Summary(
        similarity=similarity,
        verdict=settings.verdict(similarity),
        files_a=len(a.files),
        files_b=len(b.files),
        units_a=len(units_a),
        units_b=len(units_b),
        tokens_b=matching.tokens_b,
        matched_tokens_b=matching.matched_tokens_b,
        pairs=len(matching.pairs),
        candidates=n_candidates,
    )
    text_by_hash = {f.sha256: f.text for f in a.files + b.files}
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
