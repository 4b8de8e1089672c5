"""Token streams -> k-gram hashes -> MinHash signatures.

A k-gram hash must survive renaming but still see data flow: `x = f(x)` and `x = f(y)`
should differ, whatever the names are. So each placeholder inside a k-gram is hashed
together with the distance back to the previous occurrence of the same name *within that
k-gram* (Baker's parameterised matching): consistent renaming leaves every k-gram
unchanged, while rewiring which name goes where changes them.

The per-stream functions below are the definition; `fingerprint_batch` computes the same
bits for many streams at once, which is what the pipeline runs.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain, pairwise
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from plagiarism.model import TokenStream, Unit
from plagiarism.normalize import PLACEHOLDERS

U64 = npt.NDArray[np.uint64]
_G = TypeVar("_G", bound=np.generic)

_MERSENNE = np.uint64((1 << 61) - 1)
_MAX_HASH = np.uint64((1 << 32) - 1)
_MIX = np.uint64(0x9E3779B97F4A7C15)
_BASE = np.uint64(0x100000001B3)
_MERSENNE_BITS = np.uint64(61)
# Rows of the (hashes x columns) MinHash matrix made at once: few enough that it and its
# temporaries stay in the CPU cache, enough that numpy's cost per call vanishes.
_MINHASH_ROWS = 2048


@lru_cache(maxsize=1 << 20)
def sym_hash(sym: str) -> int:
    """A stable 64-bit hash of a symbol (Python's hash() is salted per process)."""
    digest = hashlib.blake2b(sym.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def prev_distances(stream: TokenStream) -> npt.NDArray[np.int64]:
    """For each placeholder, how many tokens back the same name last occurred (0: never)."""
    last: dict[tuple[str, str | None], int] = {}
    out = np.zeros(len(stream.syms), dtype=np.int64)
    for i, (sym, ident) in enumerate(zip(stream.syms, stream.idents, strict=True)):
        if sym in PLACEHOLDERS:
            key = (sym, ident)
            j = last.get(key)
            if j is not None:
                out[i] = i - j
            last[key] = i
    return out


def run_firsts(ordered: npt.NDArray[np.generic]) -> npt.NDArray[np.bool_]:
    """True at the first element of each run of equal values of a sorted array."""
    first = np.empty(ordered.size, dtype=np.bool_)
    if ordered.size:
        first[0] = True
        np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    return first


def distinct(values: npt.NDArray[_G]) -> npt.NDArray[_G]:
    """The distinct values, sorted. Not `np.unique`: its plain form imports `numpy.ma` on first
    use (10 ms here, and again in each worker that calls it: 30-40 ms of a short run)."""
    ordered = np.sort(values)
    return ordered[run_firsts(ordered)]


def kgram_hashes(stream: TokenStream, k: int) -> U64:
    """One 64-bit hash per k-gram, in order (empty when the stream is shorter than k)."""
    n = len(stream.syms) - k + 1
    if n <= 0:
        return np.zeros(0, dtype=np.uint64)
    base = np.fromiter((sym_hash(s) for s in stream.syms), dtype=np.uint64, count=len(stream.syms))
    prev = prev_distances(stream)
    acc = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(k):
            tok = base[j : j + n]
            d = prev[j : j + n]
            # A back-reference only counts if it points inside this k-gram.
            inside = np.where(d <= j, d, 0).astype(np.uint64)
            acc = acc * _BASE + (tok ^ (inside * _MIX))
    return acc


@dataclass(frozen=True, slots=True)
class Permutations:
    """The MinHash hash family: h -> (a*h + b) mod 2^61-1, one (a, b) per signature column."""

    a: U64
    b: U64

    @classmethod
    def make(cls, num_perm: int, seed: int = 1) -> Permutations:
        # The universal-hash family datasketch calls "legacy" (a*h + b mod 2^61-1, 32 bits kept),
        # so these signatures plug straight into its LSH.
        # They are datasketch's draws: numpy's RandomState(seed).randint, as below.
        draw = _legacy_randint(seed)
        a = draw(1, int(_MERSENNE), num_perm)
        b = draw(0, int(_MERSENNE), num_perm)
        return cls(a=np.array(a, dtype=np.uint64), b=np.array(b, dtype=np.uint64))


def _legacy_randint(seed: int) -> Callable[[int, int, int], list[int]]:
    """numpy's `RandomState(seed).randint(low, high, size, dtype=uint64)`, draw for draw,
    without importing numpy.random (~10 ms of every start, for 256 numbers): the same
    Mersenne Twister (Python's own, given numpy's seeding of its state), 64-bit words as
    two 32-bit outputs high first, masked to the range's bit length and redrawn past it."""
    state = [seed & 0xFFFFFFFF]
    for i in range(1, 624):
        prev = state[-1]
        state.append((1812433253 * (prev ^ (prev >> 30)) + i) & 0xFFFFFFFF)
    twister = random.Random()
    twister.setstate((3, (*state, 624), None))

    def draw(low: int, high: int, size: int) -> list[int]:
        span = high - 1 - low
        if span <= 0xFFFFFFFF:
            raise ValueError("numpy draws ranges of 32 bits or less another way")
        mask = (1 << span.bit_length()) - 1
        out = []
        for _ in range(size):
            value = mask + 1
            while value > span:
                value = ((twister.getrandbits(32) << 32) | twister.getrandbits(32)) & mask
            out.append(low + value)
        return out

    return draw


def minhash_signature(hashes: U64, perms: Permutations) -> U64:
    if hashes.size == 0:
        return np.full(perms.a.size, _MAX_HASH, dtype=np.uint64)
    hv = hashes & _MAX_HASH
    with np.errstate(over="ignore"):
        phv = (hv[:, None] * perms.a[None, :] + perms.b[None, :]) % _MERSENNE & _MAX_HASH
    return np.asarray(phv.min(axis=0), dtype=np.uint64)


@dataclass(frozen=True, slots=True)
class UnitPrint:
    """The fingerprint of one unit: its distinct k-gram hashes and MinHash signature."""

    index: int  # position of the unit in its side's list
    hashes: U64  # sorted, distinct
    signature: U64


def fingerprint_stream(stream: TokenStream, k: int, perms: Permutations) -> tuple[U64, U64]:
    """The distinct k-gram hashes of a stream (sorted) and their MinHash signature."""
    hashes = distinct(kgram_hashes(stream, k))
    return hashes, minhash_signature(hashes, perms)


def fingerprint_units(units: list[Unit], k: int, perms: Permutations) -> list[UnitPrint]:
    batch = fingerprint_batch([u.tokens for u in units], k, perms)
    return [UnitPrint(index=i, hashes=h, signature=sig) for i, (h, sig) in enumerate(batch)]


@dataclass(frozen=True, slots=True)
class PrintBatch:
    """The fingerprints of many streams in a few arrays: stream i's distinct k-gram hashes
    are hashes[offsets[i]:offsets[i + 1]] (sorted), its signature is signatures[i]."""

    hashes: U64
    offsets: npt.NDArray[np.int64]
    signatures: U64  # (streams, columns)

    def __len__(self) -> int:
        return int(self.signatures.shape[0])

    def __getitem__(self, i: int) -> tuple[U64, U64]:
        return self.hashes[self.offsets[i] : self.offsets[i + 1]], self.signatures[i]

    def __iter__(self) -> Iterator[tuple[U64, U64]]:
        return (self[i] for i in range(len(self)))

    def encoded(self) -> list[bytes]:
        """Each stream's `encode_print` bytes, in order (cut from two byte strings made
        once, rather than two small arrays converted per stream)."""
        width = self.signatures.shape[1] * 8
        signatures = self.signatures.astype("<u8").tobytes()
        hashes = self.hashes.astype("<u8").tobytes()
        cuts = (self.offsets * 8).tolist()
        return [
            signatures[i * width : (i + 1) * width] + hashes[lo:hi]
            for i, (lo, hi) in enumerate(pairwise(cuts))
        ]


def fingerprint_batch(streams: Sequence[TokenStream], k: int, perms: Permutations) -> PrintBatch:
    """`fingerprint_stream` of every stream, bit for bit, computed for all at once.

    One stream is a few hundred tokens, so one by one the time goes to Python and to
    numpy's cost per call; here each step runs once over the streams laid end to end, and
    the only Python per token left is a dictionary look-up of its symbol and of its name.
    """
    n = len(streams)
    lengths = np.fromiter((len(s.syms) for s in streams), dtype=np.int64, count=n)
    base, prev = _token_codes(
        chain.from_iterable(s.syms for s in streams),
        chain.from_iterable(s.idents for s in streams),
        int(lengths.sum()),
    )
    grams = np.maximum(lengths - k + 1, 0)
    gram_offsets = _offsets(grams)
    hashes = _rolling(base, prev, k)
    if gram_offsets[-1]:
        # Keep the k-grams that lie inside one stream, not those across a seam.
        starts = _offsets(lengths)[:-1]
        hashes = hashes[
            np.repeat(starts - gram_offsets[:-1], grams)
            + np.arange(gram_offsets[-1], dtype=np.int64)
        ]
    else:
        hashes = np.zeros(0, dtype=np.uint64)
    hashes, offsets = _distinct_sorted(hashes, gram_offsets)
    return PrintBatch(
        hashes=hashes, offsets=offsets, signatures=_signatures(hashes, offsets, perms)
    )


def _offsets(counts: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    out = np.zeros(counts.size + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


class _Numbering(dict[str | None, int]):
    """Numbers keys in the order they are first looked up: a miss numbers a new one, so
    numbering N tokens is one dictionary look-up each, with no pass to collect the keys."""

    def __missing__(self, key: str | None) -> int:
        self[key] = number = len(self)
        return number


def _token_codes(
    syms: Iterable[str], idents: Iterable[str | None], count: int
) -> tuple[U64, npt.NDArray[np.int64]]:
    """`sym_hash` of each of `count` tokens, and `prev_distances` of them as one stream.

    A distance may reach back into the stream before; no k-gram inside one stream sees it,
    as a k-gram only counts a distance that stays inside the k-gram itself.
    """
    table = _Numbering()
    sym_ids = np.fromiter(map(table.__getitem__, syms), dtype=np.int64, count=count)
    base = np.fromiter(map(sym_hash, table), dtype=np.uint64, count=len(table))[sym_ids]
    is_placeholder = np.fromiter((s in PLACEHOLDERS for s in table), dtype=bool, count=len(table))
    at = np.flatnonzero(is_placeholder[sym_ids])
    prev = np.zeros(count, dtype=np.int64)
    if at.size < 2:
        return base, prev
    names = _Numbering()
    name_ids = np.fromiter(map(names.__getitem__, idents), dtype=np.int64, count=count)
    # The occurrences of one (symbol, name) come out next to each other and in order (a
    # stable sort): the neighbour before each one is its previous occurrence.
    key = sym_ids[at] * len(names) + name_ids[at]
    order = np.argsort(key, kind="stable")
    at, key = at[order], key[order]
    linked = key[1:] == key[:-1]
    prev[at[1:][linked]] = (at[1:] - at[:-1])[linked]
    return base, prev


def _rolling(base: U64, prev: npt.NDArray[np.int64], k: int) -> U64:
    """The hash of every k-gram of the tokens, as `kgram_hashes` makes it."""
    n = base.size - k + 1
    if n <= 0:
        return np.zeros(0, dtype=np.uint64)
    acc = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(k):
            d = prev[j : j + n]
            inside = np.where(d <= j, d, 0).astype(np.uint64)
            acc *= _BASE
            acc += base[j : j + n] ^ (inside * _MIX)
    return acc


def _distinct_sorted(
    hashes: U64, offsets: npt.NDArray[np.int64]
) -> tuple[U64, npt.NDArray[np.int64]]:
    """Each segment of `hashes` sorted with its repeats dropped, and the new offsets."""
    if not hashes.size:
        return hashes, np.zeros_like(offsets)
    # One sort per segment beats one lexsort on (segment, hash) by ~10x: segments are short.
    for lo, hi in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True):
        if hi - lo > 1:
            hashes[lo:hi].sort()
    keep = np.ones(hashes.size, dtype=bool)
    keep[1:] = hashes[1:] != hashes[:-1]
    keep[offsets[:-1][offsets[:-1] < hashes.size]] = True
    kept_before = _offsets(keep.astype(np.int64))
    return hashes[keep], kept_before[offsets]


def _signatures(hashes: U64, offsets: npt.NDArray[np.int64], perms: Permutations) -> U64:
    """`minhash_signature` of each segment of `hashes`."""
    n = offsets.size - 1
    # Every value is below 2^32: minima of 32-bit values move half the bytes.
    out = np.full((n, perms.a.size), _MAX_HASH, dtype=np.uint32)
    lo = 0
    while lo < n:
        # Whole segments, about _MINHASH_ROWS hashes in all...
        hi = int(np.searchsorted(offsets, offsets[lo] + _MINHASH_ROWS, side="right")) - 1
        if hi <= lo:
            # ... or a longer one alone, a block at a time (one huge module's matrix would
            # take hundreds of MB).
            for start in range(offsets[lo], offsets[lo + 1], _MINHASH_ROWS):
                block = _permuted(
                    hashes[start : min(start + _MINHASH_ROWS, offsets[lo + 1])], perms
                )
                np.minimum(out[lo], block.min(axis=0), out=out[lo])
            lo += 1
            continue
        hi = min(hi, n)
        rows = _permuted(hashes[offsets[lo] : offsets[hi]], perms)
        starts = offsets[lo:hi]
        filled = np.flatnonzero(offsets[lo + 1 : hi + 1] > starts)
        if filled.size:
            out[lo + filled] = np.minimum.reduceat(rows, starts[filled] - offsets[lo], axis=0)
        lo = hi
    return out.astype(np.uint64)


def _permuted(hashes: U64, perms: Permutations) -> npt.NDArray[np.uint32]:
    """One row per hash of the values `minhash_signature` takes the minima of.

    x mod 2^61 - 1 is taken as (x mod 2^61) + (x div 2^61), less 2^61 - 1 when that
    reaches it (about one value in 2^58): the same number as `%`, without a division.
    """
    with np.errstate(over="ignore"):
        x = np.multiply((hashes & _MAX_HASH)[:, None], perms.a[None, :])
        x += perms.b
        high = x >> _MERSENNE_BITS
        x &= _MERSENNE
        x += high
        if x.size and x.max() >= _MERSENNE:
            np.subtract(x, _MERSENNE, out=x, where=x >= _MERSENNE)
    # The low 32 bits, as `& _MAX_HASH` keeps them.
    low: npt.NDArray[np.uint32] = x.astype(np.uint32)
    return low


def encode_print(hashes: U64, signature: U64) -> bytes:
    """Signature first (its length is fixed by num_perm), then the hashes; little-endian."""
    return signature.astype("<u8").tobytes() + hashes.astype("<u8").tobytes()


def decode_print(data: bytes, num_perm: int) -> tuple[U64, U64]:
    """Inverse of `encode_print`; ValueError when the bytes cannot be one."""
    head = num_perm * 8
    if len(data) < head or len(data) % 8:
        raise ValueError("not a fingerprint of this num_perm")
    signature = np.frombuffer(data, dtype="<u8", count=num_perm).astype(np.uint64)
    hashes = np.frombuffer(data, dtype="<u8", offset=head).astype(np.uint64)
    return hashes, signature
