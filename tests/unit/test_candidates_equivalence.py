"""The vectorised candidate query proposes exactly what the plain per-pair version did.

The reference below is the first, straightforward implementation (one set intersection per
LSH hit); the index was rewritten for speed on transformers-sized sides (docs/scale.md), and
must not change a single proposal.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from datasketch import MinHash, MinHashLSH

from plagiarism.candidates import KNOWN_SHAPES, Bands, LocalIndex, Proposal, lsh_shape
from plagiarism.config import Settings
from plagiarism.executor import Serial
from plagiarism.fingerprint import Permutations, UnitPrint, fingerprint_units
from plagiarism.pipeline import MIN_CONTAINMENT, load_side, resolve_units
from plagiarism.progress import Silent
from tests.conftest import CORPORA


def reference_query(
    prints_a: list[UnitPrint], b: UnitPrint, lsh: MinHashLSH, settings: Settings, max_df: int
) -> list[Proposal]:
    if b.hashes.size == 0:
        return []
    df: dict[int, int] = {}
    for p in prints_a:
        for h in p.hashes.tolist():
            df[h] = df.get(h, 0) + 1
    b_grams = {h for h in b.hashes.tolist() if df.get(h, 0) <= max_df}
    found = {}
    for p in prints_a:
        n = len(b_grams & set(p.hashes.tolist()))
        if n:
            found[p.index] = n
    hits = lsh.query(MinHash(num_perm=settings.num_perm, hashvalues=b.signature, scheme="legacy"))
    total = int(b.hashes.size)
    out = []
    for a in set(found) | set(hits):
        shared = found.get(a)
        if shared is None:
            shared = int(np.intersect1d(prints_a[a].hashes, b.hashes).size)
        if a in hits or shared / total >= MIN_CONTAINMENT:
            out.append(Proposal(a=a, b=b.index, shared=shared, containment=shared / total))
    out.sort(key=lambda p: (-p.shared, p.a))
    return out[: settings.max_candidates_per_unit]


@pytest.mark.parametrize("max_df", [2, 30])  # 2: many k-grams become idioms, LSH-only hits
def test_the_index_proposes_what_the_reference_does(tmp_path: Path, max_df: int) -> None:
    settings = Settings(cache_dir=tmp_path, jobs=1)
    a = load_side(str(CORPORA / "vlm" / "original"), None, "a", settings, Serial(), Silent())
    b = load_side(str(CORPORA / "vlm" / "disguised"), None, "b", settings, Serial(), Silent())
    units_a, units_b, _ = resolve_units(a, b)
    perms = Permutations.make(settings.num_perm)
    prints_a = fingerprint_units(units_a, settings.kgram, perms)
    prints_b = fingerprint_units(units_b, settings.kgram, perms)
    index = LocalIndex(
        prints_a,
        num_perm=settings.num_perm,
        lsh_threshold=settings.lsh_threshold,
        min_containment=MIN_CONTAINMENT,
        max_per_unit=settings.max_candidates_per_unit,
        max_df=max_df,
    )
    lsh = MinHashLSH(threshold=settings.lsh_threshold, num_perm=settings.num_perm)
    for p in prints_a:
        if p.hashes.size:
            lsh.insert(
                p.index,
                MinHash(num_perm=settings.num_perm, hashvalues=p.signature, scheme="legacy"),
            )
    proposals = 0
    for pb in prints_b:
        expected = reference_query(prints_a, pb, lsh, settings, max_df)
        assert index.query(pb) == expected
        proposals += len(expected)
    assert proposals > len(prints_b)  # the corpus does exercise the index
    df: dict[int, int] = {}
    for p in prints_a:
        for h in p.hashes.tolist():
            df[h] = df.get(h, 0) + 1
    assert index.stop_grams == sum(n > max_df for n in df.values())
    if max_df == 2:
        assert index.stop_grams > 0


def test_known_lsh_shapes_are_datasketchs_choice() -> None:
    for (threshold, num_perm), shape in KNOWN_SHAPES.items():
        lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        assert shape == (lsh.b, lsh.r)


@pytest.mark.parametrize("threshold", [0.2, 0.5, 0.8])
def test_bands_find_what_datasketchs_lsh_finds(threshold: float) -> None:
    # Signatures over a tiny value range, so that bands collide often and partially (a key
    # hit whose values differ must not count).
    rng = np.random.default_rng(7)
    num_perm = 128
    sigs = rng.integers(0, 3, size=(400, num_perm)).astype(np.uint64)
    sigs[200:] = sigs[:200]  # exact duplicates too
    bands, rows = lsh_shape(threshold, num_perm)
    index = Bands(list(sigs), np.arange(400, dtype=np.int64), bands, rows)
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    for i, sig in enumerate(sigs):
        lsh.insert(i, MinHash(num_perm=num_perm, hashvalues=sig, scheme="legacy"))
    queries = rng.integers(0, 3, size=(50, num_perm)).astype(np.uint64)
    for q in list(queries) + list(sigs[:20]):
        expected = sorted(lsh.query(MinHash(num_perm=num_perm, hashvalues=q, scheme="legacy")))
        assert index.query(q).tolist() == expected
