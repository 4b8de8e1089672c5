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
import numpy.typing as npt
from datasketch import MinHash, MinHashLSH

from plagiarism.fingerprint import U64, UnitPrint


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
        self._num_perm = num_perm
        self._lsh = MinHashLSH(threshold=lsh_threshold, num_perm=num_perm)
        # Only the signature matters to the LSH; sharing one permutation table saves drawing
        # 2 x num_perm random numbers per MinHash object (most of the index build time).
        self._perms = MinHash(num_perm=num_perm, scheme="legacy").permutations
        for p in self._a:
            if p.hashes.size:
                self._lsh.insert(p.index, self._minhash(p))
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
        uniq, counts = np.unique(keys, return_counts=True)
        common = uniq[counts > max_df]
        keep = ~np.isin(keys, common)
        self._keys = keys[keep]
        self._owners = owners[keep]
        self.stop_grams = int(common.size)

    def _minhash(self, p: UnitPrint) -> MinHash:
        return MinHash(
            num_perm=self._num_perm,
            hashvalues=p.signature,
            permutations=self._perms,
            scheme="legacy",
        )

    def query(self, b: UnitPrint) -> list[Proposal]:
        if b.hashes.size == 0:
            return []
        total = int(b.hashes.size)
        lo = np.searchsorted(self._keys, b.hashes, side="left")
        hi = np.searchsorted(self._keys, b.hashes, side="right")
        hit = hi > lo
        if hit.any():
            owners = np.concatenate(
                [self._owners[s:e] for s, e in zip(lo[hit], hi[hit], strict=True)]
            )
            ids, counts = np.unique(owners, return_counts=True)
        else:
            ids = np.zeros(0, dtype=np.int64)
            counts = np.zeros(0, dtype=np.int64)
        lsh_hits = np.fromiter(self._lsh.query(self._minhash(b)), dtype=np.int64)
        lsh_hits.sort()
        # Units found through the inverted index count only their non-idiom k-grams, and pass
        # on containment unless the LSH vouches for them.
        keep = np.isin(ids, lsh_hits, assume_unique=True) | (
            counts / total >= self._min_containment
        )
        # Units only the LSH found share k-grams that are all idioms: count them exactly.
        lsh_only = np.setdiff1d(lsh_hits, ids, assume_unique=True)
        cand = np.concatenate([ids[keep], lsh_only])
        shared = np.concatenate([counts[keep], self._shared(lsh_only, b.hashes)])
        # Most shared first, then the lower unit index: one order whatever found them.
        best = np.lexsort((cand, -shared))[: self._max_per_unit]
        return [
            Proposal(a=a, b=b.index, shared=n, containment=n / total)
            for a, n in zip(cand[best].tolist(), shared[best].tolist(), strict=True)
        ]

    def _shared(self, units: npt.NDArray[np.int64], hashes: U64) -> npt.NDArray[np.int64]:
        """Distinct k-grams each unit of A has in common with `hashes` (sorted, distinct)."""
        if units.size == 0 or hashes.size == 0:
            return np.zeros(units.size, dtype=np.int64)
        arrays = [self._a[i].hashes for i in units.tolist()]
        grams = np.concatenate(arrays)
        owner = np.repeat(np.arange(units.size), [a.size for a in arrays])
        pos = np.minimum(np.searchsorted(hashes, grams), hashes.size - 1)
        present = hashes[pos] == grams
        return np.bincount(owner[present], minlength=units.size).astype(np.int64)
