"""Fingerprints -> candidate pairs, never all pairs.

Two indexes propose candidates and their proposals are merged:

* MinHash LSH (datasketch) finds units whose k-gram *sets* are alike (Jaccard): the
  whole-function copies, renamed and reordered.
* An inverted index of k-gram hashes finds units of B whose k-grams are mostly *contained*
  in a unit of A: the helper split out of a long original function, which Jaccard misses
  because the original is much larger.

k-grams that occur in very many units of A are left out of the inverted index: they are the
idioms every project shares (`self.$a = $v`), and they would make every unit a candidate
of every other. The exact alignment after this stage decides; the index only proposes.

`CandidateIndex` is the seam for a corpus index that outlives one run (a server-backed
LSH storage): build it from A's prints, query it with B's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from datasketch import MinHash, MinHashLSH

from plagiarism.fingerprint import UnitPrint


@dataclass(frozen=True, slots=True)
class Proposal:
    a: int  # unit index on side A
    b: int  # unit index on side B
    shared: int  # distinct k-grams in common (exact)
    containment: float  # shared / distinct k-grams of b


class CandidateIndex(Protocol):
    def query(self, b: UnitPrint) -> list[Proposal]: ...


class LocalIndex:
    """Both indexes in memory, for one comparison."""

    def __init__(
        self,
        prints_a: Sequence[UnitPrint],
        *,
        num_perm: int,
        lsh_threshold: float,
        min_containment: float,
        max_per_unit: int,
        max_df: int,
    ) -> None:
        self._a = list(prints_a)
        self._min_containment = min_containment
        self._max_per_unit = max_per_unit
        self._lsh = MinHashLSH(threshold=lsh_threshold, num_perm=num_perm)
        for p in self._a:
            if p.hashes.size:
                self._lsh.insert(
                    p.index, MinHash(num_perm=num_perm, hashvalues=p.signature, scheme="legacy")
                )
        # Inverted index as two sorted arrays: (k-gram hash, unit index).
        if self._a:
            keys = np.concatenate([p.hashes for p in self._a])
            owners = np.concatenate(
                [np.full(p.hashes.size, p.index, dtype=np.int64) for p in self._a]
            )
        else:
            keys = np.zeros(0, dtype=np.uint64)
            owners = np.zeros(0, dtype=np.int64)
        order = np.argsort(keys, kind="stable")
        keys, owners = keys[order], owners[order]
        uniq, starts, counts = np.unique(keys, return_index=True, return_counts=True)
        common = uniq[counts > max_df]
        keep = ~np.isin(keys, common)
        self._keys = keys[keep]
        self._owners = owners[keep]
        self.stop_grams = int(common.size)
        self._num_perm = num_perm

    def query(self, b: UnitPrint) -> list[Proposal]:
        if b.hashes.size == 0:
            return []
        found: dict[int, int] = {}
        lo = np.searchsorted(self._keys, b.hashes, side="left")
        hi = np.searchsorted(self._keys, b.hashes, side="right")
        hit = hi > lo
        if hit.any():
            owners = np.concatenate(
                [self._owners[s:e] for s, e in zip(lo[hit], hi[hit], strict=True)]
            )
            ids, counts = np.unique(owners, return_counts=True)
            for i, c in zip(ids.tolist(), counts.tolist(), strict=True):
                found[i] = c
        lsh_hits = self._lsh.query(
            MinHash(num_perm=self._num_perm, hashvalues=b.signature, scheme="legacy")
        )
        total = int(b.hashes.size)
        proposals = []
        for a_index in set(found) | set(lsh_hits):
            shared = found.get(a_index)
            if shared is None:
                shared = int(np.intersect1d(self._a[a_index].hashes, b.hashes).size)
            containment = shared / total
            if a_index in lsh_hits or containment >= self._min_containment:
                proposals.append(
                    Proposal(a=a_index, b=b.index, shared=shared, containment=containment)
                )
        proposals.sort(key=lambda p: (-p.shared, p.a))
        return proposals[: self._max_per_unit]
