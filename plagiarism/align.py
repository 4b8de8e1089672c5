"""Candidate pairs -> exact matched regions and a score.

Greedy string tiling (Wise, 1993; the algorithm behind JPlag): cover B's token stream with
the longest runs that also occur in A, each token used at most once on each side, runs no
shorter than `min_match`. Tiling, unlike an edit distance, is indifferent to the order of
the runs, so reordered statements and moved blocks are still found.

Runs are found once (every left-maximal common run seeded by a hash of its first
`min_match` tokens) and then taken longest first; a run that overlaps one already taken is
trimmed to its free part and put back. This gives the same tiles as the textbook
iteration on real code, at a cost near-linear in the stream lengths for copies (each
position of B seeds once per occurrence of its gram in A, and only left-maximal seeds are
extended).
"""

from __future__ import annotations

import heapq
import keyword
import struct
from array import array
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import cast

import numpy as np
import numpy.typing as npt

from plagiarism.candidates import ranges
from plagiarism.fingerprint import distinct, run_firsts
from plagiarism.model import LineRange, Region, Rename, TokenStream
from plagiarism.normalize import PLACEHOLDERS, STRING

# A unit longer than this is aligned on its first MAX_TOKENS tokens only, so one generated
# 50,000-token function cannot stall a run; the cut is reported as a warning by the caller.
MAX_TOKENS = 20_000
# At most this many occurrences of one seed gram in A are tried per position of B: a gram
# repeated hundreds of times is an idiom, not evidence. They are the ones nearest the
# position in A that B's position maps to (scaled by the lengths): a copied table of
# hundreds of alike lines finds its own line, not only the first 64.
MAX_SEED_OCCURRENCES = 64
# From this many tokens (both sides) seeds are found over numpy arrays of symbol ids: the
# same seeds, without a Python step per position and per token of extension. Below it the
# arrays cost more to set up than the loops take.
ARRAY_SEEDS_FROM = 1_000
# With more left-maximal seeds than this, runs of LONG_RUN tokens or more are taken first
# and only then are the others measured, those that can still become a tile: in a long pair
# of near-identical, repetitive streams (a 10,000-token import table against its next
# version: ~47,000 seeds) the long diagonal runs leave all but a few hundred blocked.
TWO_PHASE_FROM = 4_096
LONG_RUN = 128


# Symbols every class constructor is made of. A run of only these and placeholders
# (`super().__init__(); self.$a = $v; self.$a = $v(...)`) is what two honest modules share;
# a real copy's runs also carry library calls, constants, operators or control flow.
# True/False/None are here too: `eps=1e-5, affine=True` style defaults are convention.
GENERIC = frozenset(
    {
        "=",
        "(",
        ")",
        "{",
        "}",
        "[",
        "]",
        "def",
        "class",
        "super",
        "return",
        "self",
        "None",
        "True",
        "False",
        "STR",
    }
)
# A long run must carry at least this many anchors (symbols outside GENERIC and the
# placeholders) to count. 2, not 1: one shared `torch.nn.Module` base is not a copy.
MIN_ANCHORS = 2
# ... and at least this share of its tokens: a long chain of `self.$a = $v` stores with one
# idiom at its end (`[g["lr"] for g in opt.param_groups]`) is still boilerplate, while
# copied layer definitions (`self.$a = torch.nn.Linear ( $v $v )`) carry one anchor in 8.
MIN_ANCHOR_DENSITY = 0.1
# The anchor rules judge runs that leave much of a unit unexplained. When the long runs
# already cover this share of B's unit, the pair is near-verbatim (a copy with one literal
# flipped, `bias=False` -> `bias=True`) and every run counts, anchors or not.
NEAR_VERBATIM = 0.9
# An edited token near either end of a unit (the last keyword flipped, `bias=False` ->
# `bias=True`) leaves a stretch shorter than `min_match` after it, so a unit that is the
# original up to one literal looked less verbatim than it is. For that judgement only, a
# shorter run counts when it continues a long run across a gap of at most this many tokens
# on both sides: the same code, in the same order, with one or two tokens replaced. Such a
# run may be as short as BRIDGE_MIN tokens (`def f(self, x` before an added `= None`).
MAX_EDIT_GAP = 2
BRIDGE_MIN = 3


def anchors(syms: tuple[str, ...], start: int, length: int) -> int:
    return sum(
        1
        for s in syms[start : start + length]
        if s not in GENERIC and s not in PLACEHOLDERS and not s.endswith("=")
    )


def anchor_set(syms: tuple[str, ...]) -> set[str]:
    """The different anchor symbols a stream carries (what a short unit has to say)."""
    return {s for s in syms if s not in GENERIC and s not in PLACEHOLDERS and not s.endswith("=")}


def distinct_anchors(syms: tuple[str, ...]) -> int:
    return len(anchor_set(syms))


# Anchors that say nothing about what code computes: Python's keywords, punctuation and the
# markers of container literals (`dict{`, `}set`).
_STRUCTURAL = frozenset(keyword.kwlist) | frozenset({":", ",", ";", "->", ".", "...", "*", "**"})


def content_anchors(syms: tuple[str, ...], tiles: tuple[Tile, ...], enough: int = 0) -> int:
    """Distinct symbols in the matched tokens of B that carry content: library names,
    external attributes, builtins, constants, operators, string literals (one symbol, `STR`,
    whatever their text: a copied table of architecture strings has its evidence there).
    `*`/`**` are left out because in signatures and calls they only unpack. With `enough`,
    counting stops there (a finding only asks whether the floor is reached, for every pair
    of a big run)."""
    seen: set[str] = set()
    for t in tiles:
        for s in syms[t.b : t.b + t.length]:
            if s in seen or not _is_content(s):
                continue
            seen.add(s)
            if enough and len(seen) >= enough:
                return len(seen)
    return len(seen)


def distinct_grams(syms: tuple[str, ...], tiles: tuple[Tile, ...], k: int, enough: int) -> int:
    """Distinct k-grams inside the matched tokens of B, counted up to `enough`: how much a
    match says once repetition is discounted. A config class of forty
    `$v: $v = field(default=..., metadata={STR: STR})` lines matches another one token for
    token, but says what one such line says."""
    seen: set[tuple[str, ...]] = set()
    for t in tiles:
        for i in range(t.b, t.b + t.length - k + 1):
            seen.add(syms[i : i + k])
            if len(seen) >= enough:
                return len(seen)
    return len(seen)


def string_agreement(a: TokenStream, b: TokenStream, tiles: tuple[Tile, ...]) -> tuple[int, int]:
    """(same, different): string literals in B's matched tokens whose text is, or is not,
    the text facing them in A. Only prose carries a digest (see `literal_digest`); prose
    facing a key or an f-string is different text too. A copy keeps its help texts and
    messages (renaming code is work, rewording every string more so); two honest option
    classes in one house style differ in all of them."""
    if not b.literals and not a.literals:
        return 0, 0
    texts_a, texts_b = dict(a.literals), dict(b.literals)
    same = different = 0
    for t in tiles:
        lo, hi = t.b, t.b + t.length
        facing = {pos_b for pos_b in texts_b if lo <= pos_b < hi}
        facing.update(pos_a - t.a + t.b for pos_a in texts_a if t.a <= pos_a < t.a + t.length)
        for pos_b in facing:
            if texts_a.get(pos_b - t.b + t.a) == texts_b.get(pos_b):
                same += 1
            else:
                different += 1
    return same, different


def _is_content(s: str) -> bool:
    return s == STRING or (
        s not in GENERIC
        and s not in PLACEHOLDERS
        and s not in _STRUCTURAL
        and not s.endswith(("=", "{", "["))
        and not s.startswith("}")
    )


@dataclass(frozen=True, slots=True)
class Tile:
    """`length` tokens that are the same from position `a` of A and position `b` of B."""

    a: int  # start index in A's stream
    b: int  # start index in B's stream
    length: int


@dataclass(frozen=True, slots=True)
class Alignment:
    """The tiling of one pair of units and what it covers on each side."""

    tiles: tuple[Tile, ...]
    matched: int  # tokens of B covered by tiles
    score: float  # matched / len(B) (its first MAX_TOKENS, unless matched whole)
    coverage_a: float  # matched / len(A) (likewise)
    # The long runs before the anchor rules: what a pair shows as *context* inside files
    # that findings already link (a copied constructor is boilerplate on its own, but not
    # in a copied file). Never the basis of a finding.
    context_tiles: tuple[Tile, ...] = ()

    def as_context(self, len_a: int, len_b: int) -> Alignment:
        """The alignment on the context tiles (itself when they explain no more)."""
        matched = sum(t.length for t in self.context_tiles)
        if matched <= self.matched:
            return self
        # Context tiles come from `tile`, which reads the first MAX_TOKENS of each side.
        return Alignment(
            tiles=self.context_tiles,
            matched=matched,
            score=min(1.0, matched / max(1, min(len_b, MAX_TOKENS))),
            coverage_a=matched / max(1, min(len_a, MAX_TOKENS)),
            context_tiles=self.context_tiles,
        )


# An alignment in bytes: counts and scores, then (a, b, length) of each tile and context tile.
# Compact because alignments travel back from workers and live in the shape store by the
# ten thousand (a pickled frozen dataclass per tile cost seconds to unpickle).
_ALIGNMENT_HEAD = struct.Struct("<IIqdd")


def encode_alignment(alignment: Alignment) -> bytes:
    ints = array("q")
    for t in alignment.tiles + alignment.context_tiles:
        ints.extend((t.a, t.b, t.length))
    head = _ALIGNMENT_HEAD.pack(
        len(alignment.tiles),
        len(alignment.context_tiles),
        alignment.matched,
        alignment.score,
        alignment.coverage_a,
    )
    return head + ints.tobytes()


def decode_alignment(data: bytes) -> Alignment:
    """Inverse of `encode_alignment`; ValueError when the bytes cannot be one."""
    if len(data) < _ALIGNMENT_HEAD.size:
        raise ValueError("truncated alignment")
    n_tiles, n_context, matched, score, coverage_a = _ALIGNMENT_HEAD.unpack_from(data)
    ints = array("q")
    ints.frombytes(memoryview(data)[_ALIGNMENT_HEAD.size :])
    if len(ints) != 3 * (n_tiles + n_context) or min(ints, default=0) < 0:
        raise ValueError("alignment of the wrong length")
    tiles = [Tile(a=ints[i], b=ints[i + 1], length=ints[i + 2]) for i in range(0, len(ints), 3)]
    return Alignment(
        tiles=tuple(tiles[:n_tiles]),
        matched=matched,
        score=score,
        coverage_a=coverage_a,
        context_tiles=tuple(tiles[n_tiles:]),
    )


def _free_run(used_a: bytearray, used_b: bytearray, j: int, i: int, length: int) -> tuple[int, int]:
    """(start, end) offsets of the first run of positions free on both sides within a run
    of `length` at (j in A, i in B); start == length when there is none."""
    start = 0
    while start < length:
        fb = used_b.find(0, i + start, i + length)
        fa = used_a.find(0, j + start, j + length)
        if fb < 0 or fa < 0:
            return length, length
        k = max(fb - i, fa - j)
        if k == start:
            break
        start = k
    eb = used_b.find(1, i + start, i + length)
    ea = used_a.find(1, j + start, j + length)
    end = min(eb - i if eb >= 0 else length, ea - j if ea >= 0 else length)
    return start, end


def _window(at: int, count: int) -> int:
    """Where the MAX_SEED_OCCURRENCES occurrences tried start, among `count` sorted ones:
    centred on `at` (the first at or after the mapped position), kept inside the list."""
    return min(max(0, at - MAX_SEED_OCCURRENCES // 2), count - MAX_SEED_OCCURRENCES)


# A run waiting to be taken: (-length, b_start, distance of a_start from b_start's mapped
# place in A, a_start). Heap order: longest first, then earliest in B, then (among equal
# runs, as in a repeated table) the one nearest its own place, so a copied table pairs
# line with line rather than every stretch with A's first lines.
Run = tuple[int, int, int, int]


def _run(neg: int, i: int, j: int, na: int, nb: int) -> Run:
    return (neg, i, abs(j - i * na // nb), j)


def _seeds(a: tuple[str, ...], b: tuple[str, ...], min_match: int) -> list[Run]:
    """Every left-maximal common run seeded by a gram of `min_match` tokens (see `Run`):
    at most MAX_SEED_OCCURRENCES occurrences in A per position of B (see `_window`)."""
    na, nb = len(a), len(b)
    seeds: dict[tuple[str, ...], list[int]] = {}
    for j in range(na - min_match + 1):
        seeds.setdefault(a[j : j + min_match], []).append(j)
    heap: list[Run] = []
    for i in range(nb - min_match + 1):
        starts = seeds.get(b[i : i + min_match])
        if not starts:
            continue
        if len(starts) > MAX_SEED_OCCURRENCES:
            first = _window(bisect_left(starts, i * na // nb), len(starts))
            starts = starts[first : first + MAX_SEED_OCCURRENCES]
        for j in starts:
            if i > 0 and j > 0 and a[j - 1] == b[i - 1]:
                continue  # not left-maximal: found from an earlier seed
            length = min_match
            while i + length < nb and j + length < na and a[j + length] == b[i + length]:
                length += 1
            heap.append(_run(-length, i, j, na, nb))
    return heap


class _SymbolIds(dict[str, int]):
    """A process-wide number per symbol (so a stream's array is made once, whatever it is
    aligned with)."""

    def __missing__(self, sym: str) -> int:
        self[sym] = n = len(self)
        return n


_IDS = _SymbolIds()


def _odd_constants(count: int, state: int = 0x5EED) -> npt.NDArray[np.uint64]:
    """Odd 64-bit constants from a splitmix64 sequence (numpy.random's generator costs a
    hundredth of a second of every run's start to make 64 numbers)."""
    out = []
    for _ in range(count):
        state = (state + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        out.append((z ^ (z >> 31)) | 1)
    return np.array(out, dtype=np.uint64)


# Per-position multipliers of the gram hash (odd, fixed: results never depend on a seed,
# and symbol ids are numbered per process anyway).
_GRAM_MIX = _odd_constants(64)


@lru_cache(maxsize=64)
def _id_array(syms: tuple[str, ...]) -> npt.NDArray[np.int64]:
    return np.fromiter(map(_IDS.__getitem__, syms), dtype=np.int64, count=len(syms))


@lru_cache(maxsize=64)
def _gram_hashes(syms: tuple[str, ...], k: int) -> npt.NDArray[np.uint64]:
    ids = _id_array(syms).astype(np.uint64)
    n = len(syms) - k + 1
    h = np.zeros(n, dtype=np.uint64)
    for t in range(k):
        h += ids[t : t + n] * _GRAM_MIX[t % len(_GRAM_MIX)]
    return h


def _array_seeds(
    a: tuple[str, ...],
    b: tuple[str, ...],
    min_match: int,
    used: tuple[bytearray, bytearray] | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """`_seeds` over arrays, not yet measured: (i in B, j in A) of every left-maximal seed.
    Grams are matched by a 64-bit hash and every run's length is measured from its first
    token (`_in_heap_order`), so a hash collision yields a run shorter than `min_match`,
    which is dropped (it could only change which occurrences the cap tries, at odds near
    n**2 / 2**64).

    With `used` (positions already taken on A and on B), seeds whose run lies wholly on
    taken positions of either side are left out: the greedy loop would skip them anyway
    (`_Taking.sorted`), and in the short pass after a near-verbatim first pass they are
    nearly all of them."""
    ia, ib = _id_array(a), _id_array(b)
    i, j = _seed_pairs(a, b, min_match)
    # Left-maximal: at either start, or preceded by different symbols.
    left = (i == 0) | (j == 0)
    left |= ia[np.maximum(j - 1, 0)] != ib[np.maximum(i - 1, 0)]
    i, j = i[left], j[left]
    if used is not None:
        i, j = _unblocked(a, b, j, i, used)
    return i, j


def _in_heap_order(
    i: npt.NDArray[np.int64],
    j: npt.NDArray[np.int64],
    length: npt.NDArray[np.int64],
    min_match: int,
    na: int,
    nb: int,
) -> tuple[npt.NDArray[np.int64], ...]:
    """Measured seeds in heap order (the four fields of `Run` as arrays), those shorter than
    `min_match` (gram hash collisions) dropped."""
    keep = length >= min_match
    neg, i, j = -length[keep], i[keep], j[keep]
    off = np.abs(j - i * na // nb)
    order = np.lexsort((j, off, i, neg))  # heap order (see `Run`)
    return neg[order], i[order], off[order], j[order]


def _long_seeds(
    a: tuple[str, ...], b: tuple[str, ...], i: npt.NDArray[np.int64], j: npt.NDArray[np.int64]
) -> npt.NDArray[np.bool_]:
    """Which seeds may run LONG_RUN tokens or more: those whose next LONG_RUN tokens hash
    alike on both sides. Unequal hashes prove a shorter run; equal ones are measured."""
    room = (i + LONG_RUN <= len(b)) & (j + LONG_RUN <= len(a))
    out = np.zeros(len(i), dtype=bool)
    at = np.flatnonzero(room)
    span = np.full(len(at), LONG_RUN, dtype=np.int64)
    out[at] = _slice_hash(a, j[at], span) == _slice_hash(b, i[at], span)
    return out


def _seed_pairs(
    a: tuple[str, ...], b: tuple[str, ...], k: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Every (i in B, j in A) whose grams of `k` tokens hash alike, at most
    MAX_SEED_OCCURRENCES of them per position of B (see `_window`), in no set order."""
    ha, hb = _gram_hashes(a, k), _gram_hashes(b, k)
    order_a, sorted_a = _sorted_grams(a, k)
    if len(hb) <= 4 * len(ha):
        return _pairs_from_b(order_a, sorted_a, hb, np.arange(len(hb)), len(a), len(b))
    # A short unit against a long one (a helper against a 10,000-token module): A's few
    # grams are looked up among B's, sorted once per B stream, rather than B's many grams
    # among A's. Grams that A repeats past the cap still take the B-side search, which
    # picks the occurrences nearest each B position.
    order_b, sorted_b = _sorted_grams(b, k)
    lo = np.searchsorted(sorted_b, ha, "left")
    in_b = np.searchsorted(sorted_b, ha, "right") - lo
    in_a = np.searchsorted(sorted_a, ha, "right") - np.searchsorted(sorted_a, ha, "left")
    plain = np.flatnonzero(in_a <= MAX_SEED_OCCURRENCES)
    count = in_b[plain]
    j = np.repeat(plain, count)
    i = order_b[ranges(lo[plain], lo[plain] + count)]
    crowded = distinct(ha[in_a > MAX_SEED_OCCURRENCES])
    if len(crowded):
        start = np.searchsorted(sorted_b, crowded, "left")
        count = np.searchsorted(sorted_b, crowded, "right") - start
        positions = np.sort(order_b[ranges(start, start + count)])
        i2, j2 = _pairs_from_b(order_a, sorted_a, hb, positions, len(a), len(b))
        i, j = np.concatenate((i, i2)), np.concatenate((j, j2))
    return i, j


@lru_cache(maxsize=64)
def _sorted_grams(
    syms: tuple[str, ...], k: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint64]]:
    h = _gram_hashes(syms, k)
    order = np.argsort(h, kind="stable").astype(np.int64)
    return order, h[order]


def _pairs_from_b(
    order: npt.NDArray[np.int64],
    sorted_a: npt.NDArray[np.uint64],
    hb: npt.NDArray[np.uint64],
    positions: npt.NDArray[np.int64],
    na: int,
    nb: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The seed pairs of the given B positions, each B gram searched among A's grams
    (`_sorted_grams` of A: occurrences of a gram in A's order); where a gram occurs more
    than MAX_SEED_OCCURRENCES times, the window `_window` picks."""
    grams = hb[positions]
    lo = np.searchsorted(sorted_a, grams, "left")
    every = np.searchsorted(sorted_a, grams, "right") - lo
    count = np.minimum(every, MAX_SEED_OCCURRENCES)
    crowded = np.flatnonzero(every > MAX_SEED_OCCURRENCES)
    if len(crowded):
        # Within a gram's run the positions ascend: key (gram number, position) finds, for
        # each crowded B position, the first occurrence at or after its mapped position.
        gram_no = np.cumsum(run_firsts(sorted_a)) - 1
        keys = gram_no * (len(order) + 1) + order
        target = positions[crowded] * na // nb
        at = np.searchsorted(keys, gram_no[lo[crowded]] * (len(order) + 1) + target) - lo[crowded]
        start = np.minimum(
            np.maximum(0, at - MAX_SEED_OCCURRENCES // 2), every[crowded] - MAX_SEED_OCCURRENCES
        )
        lo = lo.copy()
        lo[crowded] += start
    i = np.repeat(positions, count)
    j = order[ranges(lo, lo + count)]
    return i, j


def _taken_ahead(used: bytearray) -> npt.NDArray[np.int64]:
    """For each position, how many positions from it on are taken before a free one."""
    flags = np.frombuffer(used, dtype=np.uint8)
    free_at = np.flatnonzero(flags == 0)
    nxt = np.searchsorted(free_at, np.arange(len(flags)))
    ahead = np.append(free_at, len(flags))[nxt]
    return ahead - np.arange(len(flags))


# Odd, so invertible mod 2**64: slice hashes come from one cumulative sum (see `_slice_sums`).
_SLICE_BASE = 0x100000001B3


@lru_cache(maxsize=64)
def _slice_sums(syms: tuple[str, ...]) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """(G, P) with G[k] = sum of (id[t] + 1) * base**-t over t < k and P[s] = base**s, mod
    2**64, so (G[s + n] - G[s]) * P[s] hashes the slice of n tokens from s the same
    wherever it stands: any slice's hash in O(1), to rule seeds out in bulk."""
    ids = _id_array(syms).astype(np.uint64) + np.uint64(1)
    n = len(ids)
    inverse = pow(_SLICE_BASE, -1, 1 << 64)
    with np.errstate(over="ignore"):
        down = np.cumprod(np.full(n, inverse, dtype=np.uint64)) * np.uint64(_SLICE_BASE)
        up = np.ones(n + 1, dtype=np.uint64)
        up[1:] = np.cumprod(np.full(n, _SLICE_BASE, dtype=np.uint64))
        sums = np.zeros(n + 1, dtype=np.uint64)
        sums[1:] = np.cumsum(ids * down)
    return sums, up


def _slice_hash(
    syms: tuple[str, ...], start: npt.NDArray[np.int64], length: npt.NDArray[np.int64]
) -> npt.NDArray[np.uint64]:
    sums, up = _slice_sums(syms)
    with np.errstate(over="ignore"):
        out: npt.NDArray[np.uint64] = (sums[start + length] - sums[start]) * up[start]
    return out


def _unblocked(
    a: tuple[str, ...],
    b: tuple[str, ...],
    j: npt.NDArray[np.int64],
    i: npt.NDArray[np.int64],
    used: tuple[bytearray, bytearray],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The seeds (i in B, j in A) whose common run may reach a free position on both sides.

    A run from (i, j) lies wholly on taken positions of B unless it is longer than the
    taken stretch ahead of i, so it needs that stretch plus one token in common (likewise
    on A). A seed is dropped only when those prefixes differ, which unequal slice hashes
    prove; equal hashes keep it, and its run is then measured token by token."""
    need = np.maximum(_taken_ahead(used[1])[i], _taken_ahead(used[0])[j])
    keep = need == 0
    check = np.flatnonzero(~keep & (i + need < len(b)) & (j + need < len(a)))
    span = need[check] + 1
    same = _slice_hash(a, j[check], span) == _slice_hash(b, i[check], span)
    keep[check[same]] = True
    return i[keep], j[keep]


# Seeds measured at once by `_common_lengths`.
COMMON_LENGTH_BLOCK = 4096


def _common_lengths(
    ia: npt.NDArray[np.int64],
    ib: npt.NDArray[np.int64],
    j: npt.NDArray[np.int64],
    i: npt.NDArray[np.int64],
) -> npt.NDArray[np.int64]:
    """For each (j, i): how many tokens from A[j] and B[i] on are equal, compared a chunk
    at a time for all pairs still running. Distinct negative pads end every run at the
    end of either stream."""
    pad_a = np.concatenate([ia, np.full(64, -1, dtype=np.int64)])
    pad_b = np.concatenate([ib, np.full(64, -2, dtype=np.int64)])
    length = np.zeros(len(i), dtype=np.int64)
    # A block of seeds at a time: a repetitive 10,000-token pair has ~50,000 seeds, and
    # the (seeds x chunk) temporaries of all of them at once were ~30 MB of fresh pages
    # (page faults cost more than the comparisons); a block's fit in cache and are reused.
    for lo in range(0, len(i), COMMON_LENGTH_BLOCK):
        live = np.arange(lo, min(lo + COMMON_LENGTH_BLOCK, len(i)))
        chunk = 16
        while len(live):
            at = length[live, None] + np.arange(chunk)
            same = pad_a[j[live, None] + at] == pad_b[i[live, None] + at]
            whole = same.all(axis=1)
            length[live] += np.where(whole, chunk, same.argmin(axis=1))
            live = live[whole]
            chunk = min(64, chunk * 2)  # runs that got this far tend to be long
    return length


def tile(
    a: tuple[str, ...],
    b: tuple[str, ...],
    min_match: int,
    taken: tuple[Tile, ...] = (),
) -> list[Tile]:
    """Tiles of at least `min_match` tokens, avoiding the positions of `taken` tiles."""
    a = a[:MAX_TOKENS]
    b = b[:MAX_TOKENS]
    na, nb = len(a), len(b)
    if na < min_match or nb < min_match:
        return []
    used_a = bytearray(na)
    used_b = bytearray(nb)
    for done in taken:
        used_a[done.a : done.a + done.length] = b"\x01" * done.length
        used_b[done.b : done.b + done.length] = b"\x01" * done.length
    tiles: list[Tile] = []
    taking = _Taking(used_a, used_b, tiles, min_match, na, nb)
    if taking.full:
        return []  # the taken tiles leave no room for another
    if na + nb >= ARRAY_SEEDS_FROM:
        i, j = _array_seeds(a, b, min_match, (used_a, used_b) if taken else None)
        ia, ib = _id_array(a), _id_array(b)
        if len(i) < TWO_PHASE_FROM:
            taking.sorted(_in_heap_order(i, j, _common_lengths(ia, ib, j, i), min_match, na, nb))
        else:
            # Every run of LONG_RUN tokens or more comes before every shorter one in heap
            # order, so those are taken first; a shorter run blocked then (fewer than
            # `min_match` free positions within LONG_RUN - 1 tokens of its start, on a
            # side) stays blocked, as positions are only ever taken, and is never measured.
            long = _long_seeds(a, b, i, j)
            li, lj = i[long], j[long]
            length = _common_lengths(ia, ib, lj, li)
            sure = length >= LONG_RUN
            taking.sorted(
                _in_heap_order(li[sure], lj[sure], length[sure], min_match, na, nb), drain=False
            )
            # A long-looking seed that measured shorter (a slice hash collision) waits with
            # the others.
            i = np.concatenate((i[~long], li[~sure]))
            j = np.concatenate((j[~long], lj[~sure]))
            if not taking.full:
                i, j = taking.unblocked(i, j, np.minimum(np.minimum(LONG_RUN - 1, nb - i), na - j))
                taking.sorted(
                    _in_heap_order(i, j, _common_lengths(ia, ib, j, i), min_match, na, nb)
                )
    else:
        heap = _seeds(a, b, min_match)
        heapq.heapify(heap)
        while heap and not taking.full:
            taking.take(heapq.heappop(heap), heap)
    tiles.sort(key=lambda t: t.b)
    return tiles


@dataclass(slots=True)
class _Taking:
    """The greedy loop: runs taken longest first onto positions still free on both sides."""

    used_a: bytearray
    used_b: bytearray
    tiles: list[Tile]
    min_match: int
    na: int
    nb: int
    # Fewer than min_match positions are free on one side: no run can become a tile, so the
    # loops stop (a small unit of A is used up by its first tiles in a long B).
    full: bool = False
    free_a: int = 0
    free_b: int = 0
    heap: list[Run] = field(default_factory=list)  # trimmed runs put back (see `take`)

    def __post_init__(self) -> None:
        self.free_a = self.used_a.count(0)
        self.free_b = self.used_b.count(0)
        self.full = min(self.free_a, self.free_b) < self.min_match

    def take(self, run: Run, heap: list[Run]) -> bool:
        """Make `run` a tile if it is still free on both sides, else put its free parts
        back on `heap`; True when a tile was made."""
        neg, i, _, j = run
        length, min_match = -neg, self.min_match
        # Trim to the longest free run starting at the first free position. The scans jump
        # over used and free stretches with bytearray.find (C) rather than token by token:
        # in a repetitive file most popped runs lie mostly on used tokens.
        start, end = _free_run(self.used_a, self.used_b, j, i, length)
        free = end - start
        if free < min_match:
            # The remainder after a collision may still hold a long free run.
            if end < length and length - end >= min_match:
                heapq.heappush(heap, _run(-(length - end), i + end, j + end, self.na, self.nb))
            return False
        if start > 0 or end < length:
            heapq.heappush(heap, _run(-free, i + start, j + start, self.na, self.nb))
            if end < length and length - end >= min_match:
                heapq.heappush(heap, _run(-(length - end), i + end, j + end, self.na, self.nb))
            return False
        self.used_a[j : j + length] = b"\x01" * length
        self.used_b[i : i + length] = b"\x01" * length
        self.tiles.append(Tile(a=j, b=i, length=length))
        self.free_a -= length
        self.free_b -= length
        self.full = min(self.free_a, self.free_b) < min_match
        return True

    def sorted(self, seeds: tuple[npt.NDArray[np.int64], ...], drain: bool = True) -> None:
        """`take` over seeds already in heap order, merged with the heap of trimmed runs;
        with `drain`, then the rest of that heap (without, it waits for the next seeds,
        which must all come after these in heap order).

        In a repetitive pair most seeds are repeats of a gram whose positions on one side
        longer tiles have already taken; a run with fewer than `min_match` free positions
        on a side can never become a tile (positions are only ever taken), so each batch of
        seeds is checked against counts of taken positions in numpy and only the others are
        visited one by one. The loop ends when a side has no `min_match` free positions left.
        """
        neg, ib, off, ja = seeds
        length = -neg
        n = len(neg)
        runs = list(zip(neg.tolist(), ib.tolist(), off.tolist(), ja.tolist(), strict=True))
        heap = self.heap
        p, batch, changed = 0, 64, True
        taken = (np.zeros(1, dtype=np.int64),) * 2  # made on the first batch
        while p < n:
            q = min(n, p + batch)
            if changed:
                taken, changed = self._taken(), False
            blocked = self._blocked(taken, ib[p:q], ja[p:q], length[p:q])
            for k in (np.flatnonzero(~blocked) + p).tolist():
                run = runs[k]
                while heap and heap[0] < run and not self.full:
                    changed |= self.take(heapq.heappop(heap), heap)
                if self.full:
                    return
                changed |= self.take(run, heap)
            p, batch = q, min(4 * batch, 4096)
        while drain and heap and not self.full:
            self.take(heapq.heappop(heap), heap)

    def unblocked(
        self, i: npt.NDArray[np.int64], j: npt.NDArray[np.int64], bound: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """The seeds (i in B, j in A) that may still become tiles if their runs are at most
        `bound` tokens long: at least `min_match` positions free within that on each side."""
        keep = ~self._blocked(self._taken(), i, j, bound)
        return i[keep], j[keep]

    def _taken(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        return _taken_before(self.used_a), _taken_before(self.used_b)

    def _blocked(
        self,
        taken: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]],
        i: npt.NDArray[np.int64],
        j: npt.NDArray[np.int64],
        length: npt.NDArray[np.int64],
    ) -> npt.NDArray[np.bool_]:
        """Which runs (i in B, j in A, `length`) have fewer than `min_match` positions free
        on a side, `taken` being `_taken()`: no tile can come of them, then or later."""
        taken_a, taken_b = taken
        free_b = length - (taken_b[i + length] - taken_b[i])
        free_a = length - (taken_a[j + length] - taken_a[j])
        out: npt.NDArray[np.bool_] = (free_b < self.min_match) | (free_a < self.min_match)
        return out


def _taken_before(used: bytearray) -> npt.NDArray[np.int64]:
    """T with T[k] = positions taken before k: those of [s, e) number T[e] - T[s]."""
    return np.concatenate(([0], np.cumsum(np.frombuffer(used, dtype=np.uint8), dtype=np.int64)))


def _bridges(a: tuple[str, ...], b: tuple[str, ...], runs: list[Tile]) -> list[Tile]:
    """Runs of at least BRIDGE_MIN tokens that continue one of `runs` (after its end or
    before its start) across a gap of at most MAX_EDIT_GAP tokens on both sides. Only the
    neighbourhood of each run is looked at, so this costs next to nothing."""
    used_a, used_b = bytearray(len(a)), bytearray(len(b))
    for r in runs:
        used_a[r.a : r.a + r.length] = b"\x01" * r.length
        used_b[r.b : r.b + r.length] = b"\x01" * r.length

    def free(i: int, j: int) -> bool:
        return (
            0 <= i < len(a) and 0 <= j < len(b) and not used_a[i] and not used_b[j] and a[i] == b[j]
        )

    out: list[Tile] = []
    for r in runs:
        for step in (1, -1):
            best: Tile | None = None
            for ga in range(MAX_EDIT_GAP + 1):
                for gb in range(MAX_EDIT_GAP + 1):
                    if step == 1:
                        i, j = r.a + r.length + ga, r.b + r.length + gb
                    else:
                        i, j = r.a - 1 - ga, r.b - 1 - gb
                    n = 0
                    while free(i + step * n, j + step * n):
                        n += 1
                    if n >= BRIDGE_MIN and (best is None or n > best.length):
                        best = (
                            Tile(a=i, b=j, length=n) if step == 1 else Tile(i - n + 1, j - n + 1, n)
                        )
            if best is not None:
                used_a[best.a : best.a + best.length] = b"\x01" * best.length
                used_b[best.b : best.b + best.length] = b"\x01" * best.length
                out.append(best)
    return out


def _name_map(a: TokenStream, b: TokenStream, tiles: list[Tile]) -> dict[str, str]:
    """The renaming the long tiles establish: each A name to the B name it faces most."""
    return {r.a: r.b for r in renames_of(best_names(aligned_names(a, b, tuple(tiles))))}


def _confirmed(a: TokenStream, b: TokenStream, t: Tile, names: dict[str, str]) -> bool:
    """A short tile counts only if it uses names the long tiles already paired, and
    pairs none of them differently: a statement moved elsewhere in a copied function
    still talks about the same renamed variables; an idiom shared by honest code does not
    carry a renaming that long runs established."""
    confirmed = False
    reverse = {v: k for k, v in names.items()}
    for off in range(t.length):
        na_, nb_ = a.idents[t.a + off], b.idents[t.b + off]
        if na_ is None or nb_ is None or a.syms[t.a + off] not in PLACEHOLDERS:
            continue
        if names.get(na_, nb_) != nb_ or reverse.get(nb_, na_) != na_:
            return False
        if na_ in names:
            confirmed = True
    return confirmed


def align(
    a: TokenStream, b: TokenStream, min_match: int, short_match: int | None = None
) -> Alignment:
    """Tile B with A. With `short_match`, a second pass adds shorter runs that the
    renaming established by the long runs confirms (reordered statements)."""
    if a.syms == b.syms and a.syms:
        # The same code up to renaming: one tile, even below min_match (a short helper
        # copied whole is still copied; whether it counts is decided with context later),
        # and however long (there is no tiling to bound).
        tiles = [Tile(a=0, b=0, length=len(a.syms))]
        raw = list(tiles)
        seen_a = seen_b = len(a.syms)
    else:
        # Past MAX_TOKENS a unit is tiled on its first tokens only (see `tile`), and scored
        # on them: 20,000 tokens matched of a 260,000-token copy are not 8 % of a copy.
        seen_a, seen_b = min(len(a.syms), MAX_TOKENS), min(len(b.syms), MAX_TOKENS)
        raw = tile(a.syms, b.syms, min_match)
        covered = sum(t.length for t in raw)
        bridged: list[Tile] = []
        if short_match is not None and NEAR_VERBATIM * seen_b > covered >= seen_b / 2:
            bridged = _bridges(a.syms[:MAX_TOKENS], b.syms[:MAX_TOKENS], raw)
        if covered + sum(t.length for t in bridged) >= NEAR_VERBATIM * seen_b:
            tiles = sorted(raw + bridged, key=lambda t: t.b)
        else:
            tiles = [
                t
                for t in raw
                if anchors(b.syms, t.b, t.length) >= max(MIN_ANCHORS, MIN_ANCHOR_DENSITY * t.length)
            ]
        if tiles and short_match is not None and short_match < min_match:
            names = _name_map(a, b, tiles)
            short = tile(a.syms, b.syms, short_match, taken=tuple(tiles))
            tiles += [t for t in short if _confirmed(a, b, t, names)]
            tiles.sort(key=lambda t: t.b)
    matched = sum(t.length for t in tiles)
    return Alignment(
        tiles=tuple(tiles),
        matched=matched,
        score=min(1.0, matched / max(1, seen_b)),
        coverage_a=matched / max(1, seen_a),
        context_tiles=tuple(raw),
    )


def regions(a: TokenStream, b: TokenStream, tiles: tuple[Tile, ...]) -> tuple[Region, ...]:
    out = []
    for t in tiles:
        out.append(
            Region(
                a=LineRange(a.lines[t.a], a.lines[t.a + t.length - 1]),
                b=LineRange(b.lines[t.b], b.lines[t.b + t.length - 1]),
                tokens=t.length,
            )
        )
    return tuple(out)


def self_facing_names(
    a: TokenStream, b: TokenStream, tiles: tuple[Tile, ...]
) -> Counter[str] | None:
    """How often each name occurs when every name faces itself (one tile from the start of
    the same stream on both sides: a file both versions hold, resolved once), else None;
    counted without pairing token by token."""
    if a.idents is b.idents and len(tiles) == 1 and tiles[0].a == tiles[0].b == 0:
        return Counter(filter(None, a.idents[: tiles[0].length]))
    return None


def aligned_names(
    a: TokenStream, b: TokenStream, tiles: tuple[Tile, ...]
) -> Counter[tuple[str, str]]:
    """How often each name of A stands where a name of B stands, over the matched tokens."""
    ia, ib = a.idents, b.idents
    same = self_facing_names(a, b, tiles)
    if same is not None:
        return Counter({(n, n): c for n, c in same.items()})
    counts: Counter[tuple[str | None, str | None]] = Counter()
    for t in tiles:
        # Inside a tile both sides carry the same symbols, and after resolution only
        # placeholders carry an ident, so a None on one side is a None on the other.
        counts.update(zip(ia[t.a : t.a + t.length], ib[t.b : t.b + t.length], strict=True))
    counts.pop((None, None), None)
    return cast("Counter[tuple[str, str]]", counts)


def best_names(counts: Counter[tuple[str, str]]) -> dict[str, tuple[str, int]]:
    """Each A name with the B name it most often faces, and how often (ties: smallest)."""
    best: dict[str, tuple[str, int]] = {}
    for (na_, nb_), c in counts.items():
        old = best.get(na_)
        if old is None or c > old[1] or (c == old[1] and nb_ < old[0]):
            best[na_] = (nb_, c)
    return best


class RenameCache(dict[tuple[str, tuple[str, int]], Rename]):
    """`Rename`s by (A name, (B name, count)), made on first use: the same triple recurs
    across the hundreds of thousands of renames of a big run (`self` -> `self`, 12), and
    building a frozen dataclass costs a microsecond. One per matching, so a long-lived
    process does not keep them."""

    def __missing__(self, item: tuple[str, tuple[str, int]]) -> Rename:
        a, (b, count) = item
        made = self[item] = Rename(a=a, b=b, count=count)
        return made


def _count_of(item: tuple[str, tuple[str, int]]) -> int:
    return item[1][1]


def renames_of(
    best: dict[str, tuple[str, int]], made: RenameCache | None = None
) -> tuple[Rename, ...]:
    """The name pairs of one alignment from `best_names` of its aligned names: each A name
    with the B name it most often faces, most often first, then by A name."""
    items = sorted(best.items())  # by A name: each is a key once
    items.sort(key=_count_of, reverse=True)  # stable, reversed or not: names stay in order
    return tuple(map((RenameCache() if made is None else made).__getitem__, items))
