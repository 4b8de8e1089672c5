"""Fingerprints -> candidate pairs, never all pairs.

Two indexes propose candidates and their proposals are merged:

* MinHash LSH finds units whose k-gram *sets* are alike (Jaccard): the whole-function
  copies, renamed and reordered. datasketch chooses the bands and rows for the threshold and
  its MinHash scheme is the one fingerprint.py computes; the banding itself is done here over
  numpy arrays (`Bands`), the same candidates as datasketch's MinHashLSH at a fraction of
  the cost of inserting units one by one.
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

from plagiarism.fingerprint import U64, UnitPrint, distinct, run_firsts


@dataclass(frozen=True, slots=True)
class Proposal:
    """A unit of A the index proposes for a unit of B, with the k-grams they share."""

    a: int  # unit index on side A
    b: int  # unit index on side B
    shared: int  # distinct k-grams in common (exact)
    containment: float  # shared / distinct k-grams of b


class CandidateIndex(Protocol):
    def query(self, b: UnitPrint) -> list[Proposal]: ...


# datasketch's choice for the default settings (a unit test checks it against datasketch):
# importing datasketch.lsh pulls in scipy.integrate, half a second of every run's start.
KNOWN_SHAPES = {(0.2, 128): (28, 2)}


def lsh_shape(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows per band) for a Jaccard threshold: datasketch's choice, which weighs
    false positives against false negatives by integrating the S-curve."""
    known = KNOWN_SHAPES.get((threshold, num_perm))
    if known is not None:
        return known
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    return int(lsh.b), int(lsh.r)


class Bands:
    """The banding of MinHash LSH over numpy arrays: a unit of A is a candidate of a query
    when all `rows` values of at least one band are equal. The same candidates as
    datasketch's MinHashLSH with the same (bands, rows), found in one sorted array of band
    keys instead of a dict insert per band and unit (1.6 s for the 16,000 shapes of
    transformers, a few tens of ms this way)."""

    def __init__(
        self, signatures: Sequence[U64], ids: npt.NDArray[np.int64], bands: int, rows: int
    ) -> None:
        self.bands, self.rows = bands, rows
        width = bands * rows
        self._sigs = (
            np.stack(signatures)[:, :width] if len(signatures) else np.zeros((0, width), np.uint64)
        )
        self._ids = ids
        keys = self._band_keys(self._sigs).ravel()  # unit-major: entry = unit * bands + band
        self._order = np.argsort(keys, kind="stable")
        self._sorted = keys[self._order]

    def _band_keys(self, sigs: U64) -> U64:
        # One 64-bit key per (unit, band): a multiply-xor mix of the band's rows and its
        # number. Keys only narrow the search; every hit is then checked value by value, so
        # a collision costs nothing but the check.
        with np.errstate(over="ignore"):
            acc = np.broadcast_to(
                np.arange(1, self.bands + 1, dtype=np.uint64), (sigs.shape[0], self.bands)
            ).copy()
            for j in range(self.rows):
                # Row j of every band: columns j, rows + j, 2 * rows + j, ...
                acc = (acc ^ sigs[:, j :: self.rows]) * _BAND_MIX
                acc ^= acc >> np.uint64(29)
        return acc

    def query(self, signature: U64) -> npt.NDArray[np.int64]:
        """Ids of A whose signature shares a whole band with `signature`, sorted."""
        if self._sigs.shape[0] == 0:
            return np.zeros(0, dtype=np.int64)
        q = signature[: self.bands * self.rows]
        keys = self._band_keys(q[None, :])[0]
        lo = np.searchsorted(self._sorted, keys, side="left")
        hi = np.searchsorted(self._sorted, keys, side="right")
        hit = hi > lo
        if not hit.any():
            return np.zeros(0, dtype=np.int64)
        entries = self._order[ranges(lo[hit], hi[hit])]
        units, band = np.divmod(entries, self.bands)
        cols = band[:, None] * self.rows + np.arange(self.rows)
        same = (self._sigs[units[:, None], cols] == q[cols]).all(axis=1)
        return distinct(self._ids[units[same]])


_BAND_MIX = np.uint64(0x9E3779B97F4A7C15)


def ranges(lo: npt.NDArray[np.int64], hi: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The concatenation of arange(lo[i], hi[i]) for every i, without a Python loop."""
    lengths = hi - lo
    starts = np.repeat(lo - (np.cumsum(lengths) - lengths), lengths)
    return starts + np.arange(int(lengths.sum()), dtype=np.int64)


class LocalIndex:
    """Both indexes in memory, for one comparison. `prints_a[i].index` is `i`."""

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
        self._bands = Bands(
            [p.signature for p in self._a if p.hashes.size],
            np.array([p.index for p in self._a if p.hashes.size], dtype=np.int64),
            *lsh_shape(lsh_threshold, num_perm),
        )
        # Inverted index as two sorted arrays: (k-gram hash, unit index).
        if self._a:
            grams = np.concatenate([p.hashes for p in self._a])  # unit by unit
            units = np.concatenate(
                [np.full(p.hashes.size, p.index, dtype=np.int64) for p in self._a]
            )
        else:
            grams = np.zeros(0, dtype=np.uint64)
            units = np.zeros(0, dtype=np.int64)
        order = np.argsort(grams, kind="stable")
        keys, owners = grams[order], units[order]
        # Runs of equal keys in the sorted array; a run longer than max_df is an idiom.
        starts = np.flatnonzero(run_firsts(keys))
        lengths = np.diff(np.append(starts, keys.size))
        common = lengths > max_df
        keep = ~np.repeat(common, lengths)
        self._keys = keys[keep]
        self._owners = owners[keep]
        self.stop_grams = int(common.sum())
        # The idioms each unit holds, unit by unit (see `_shared_idioms`), read off the
        # concatenation, which is unit by unit already.
        idiom = np.empty(grams.size, dtype=bool)
        idiom[order] = ~keep
        self._idioms = grams[idiom]
        self._idioms_at = np.zeros(len(self._a) + 1, dtype=np.int64)
        np.cumsum(np.bincount(units[idiom], minlength=len(self._a)), out=self._idioms_at[1:])

    def query(self, b: UnitPrint) -> list[Proposal]:
        if b.hashes.size == 0:
            return []
        total = int(b.hashes.size)
        lo = np.searchsorted(self._keys, b.hashes, side="left")
        hi = np.searchsorted(self._keys, b.hashes, side="right")
        hit = hi > lo
        if hit.any():
            ids, counts = np.unique(self._owners[ranges(lo[hit], hi[hit])], return_counts=True)
        else:
            ids = np.zeros(0, dtype=np.int64)
            counts = np.zeros(0, dtype=np.int64)
        lsh_hits = self._bands.query(b.signature)
        # Units found through the inverted index count only their non-idiom k-grams, and pass
        # on containment unless the LSH vouches for them.
        keep = np.isin(ids, lsh_hits, assume_unique=True) | (
            counts / total >= self._min_containment
        )
        # Units only the LSH found share k-grams that are all idioms: count them exactly.
        lsh_only = np.setdiff1d(lsh_hits, ids, assume_unique=True)
        cand = np.concatenate([ids[keep], lsh_only])
        shared = np.concatenate([counts[keep], self._shared_idioms(lsh_only, b.hashes)])
        # Most shared first, then the lower unit index: one order whatever found them.
        best = np.lexsort((cand, -shared))[: self._max_per_unit]
        return [
            Proposal(a=a, b=b.index, shared=n, containment=n / total)
            for a, n in zip(cand[best].tolist(), shared[best].tolist(), strict=True)
        ]

    def _shared_idioms(self, units: npt.NDArray[np.int64], hashes: U64) -> npt.NDArray[np.int64]:
        """Idioms each unit of A has in common with `hashes` (sorted, distinct): all it
        shares with them when it shares no other k-gram, as a unit only the LSH found. Its
        idioms are a few of its k-grams: reading all of them for the ~230 such units of a
        query was half the candidate search at full size (0.35 of 0.67 s)."""
        if units.size == 0 or hashes.size == 0:
            return np.zeros(units.size, dtype=np.int64)
        lo, hi = self._idioms_at[units], self._idioms_at[units + 1]
        grams = self._idioms[ranges(lo, hi)]
        owner = np.repeat(np.arange(units.size), hi - lo)
        pos = np.minimum(np.searchsorted(hashes, grams), hashes.size - 1)
        present = hashes[pos] == grams
        return np.bincount(owner[present], minlength=units.size).astype(np.int64)
