"""Many streams fingerprinted at once give, bit for bit, what each one alone gives.

The per-stream functions (`kgram_hashes`, `minhash_signature`, `fingerprint_stream`) are the
definition; `fingerprint_batch` lays the streams end to end for speed, so what it must not
do is let one stream leak into the next: a k-gram across a seam, a back-reference from one
stream's name to the same name in the stream before, a MinHash minimum over two streams.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plagiarism.fingerprint import (
    Permutations,
    distinct,
    encode_print,
    fingerprint_batch,
    fingerprint_stream,
    kgram_hashes,
    minhash_signature,
)
from plagiarism.model import TokenStream
from plagiarism.normalize import ATTR_PH, KWARG_PH, VAR

PERMS = Permutations.make(128)
COLUMNS = Permutations(a=PERMS.a[:56], b=PERMS.b[:56])


def stream(*tokens: str) -> TokenStream:
    """`$v:x` is the placeholder `$v` for the name x; anything else is a plain symbol."""
    syms, idents = [], []
    for t in tokens:
        sym, _, name = t.partition(":")
        syms.append(sym)
        idents.append(name or None)
    return TokenStream(syms=tuple(syms), lines=(0,) * len(syms), idents=tuple(idents))


def assert_same(streams: list[TokenStream], k: int, perms: Permutations = COLUMNS) -> None:
    batch = fingerprint_batch(streams, k, perms)
    assert len(batch) == len(streams)
    for i, s in enumerate(streams):
        hashes, signature = batch[i]
        ref_hashes, ref_signature = fingerprint_stream(s, k, perms)
        assert hashes.dtype == np.uint64 and signature.dtype == np.uint64
        np.testing.assert_array_equal(hashes, ref_hashes)
        np.testing.assert_array_equal(signature, ref_signature)
    assert batch.encoded() == [encode_print(*fingerprint_stream(s, k, perms)) for s in streams]


ASSIGN = stream(f"{VAR}:x", "=", "f", "(", f"{VAR}:x", ")", f"{VAR}:y", "+", f"{VAR}:x")


def test_repeated_names_link_only_inside_their_own_stream() -> None:
    # The same name ends one stream and starts the next: laid end to end, a careless batch
    # would see a back-reference of distance 1 (or 2) across the seam.
    tail = stream("a", "b", "c", f"{VAR}:x", f"{VAR}:x")
    head = stream(f"{VAR}:x", f"{VAR}:x", "d", "e", "f", f"{VAR}:x")
    assert_same([tail, head, tail, head], 3)
    assert_same([ASSIGN, ASSIGN, tail], 5)


def test_placeholders_of_other_kinds_with_the_same_name_are_not_linked() -> None:
    s = stream(f"{VAR}:x", f"{ATTR_PH}:x", f"{KWARG_PH}:x", f"{VAR}:x", f"{ATTR_PH}:x", "q")
    assert_same([s, s], 3)
    # A placeholder without a name (None) repeats like any name.
    nameless = stream(VAR, "=", VAR, "+", VAR, "-", "1")
    assert_same([nameless, s], 3)


def test_short_empty_and_exactly_k_streams() -> None:
    empty = stream()
    short = stream(f"{VAR}:x", "=", f"{VAR}:x")
    exact = stream(f"{VAR}:x", "=", f"{VAR}:x", "+", "1")
    assert_same([empty], 5)
    assert_same([short], 5)
    assert_same([exact], 5)
    assert_same([empty, short, exact, empty, ASSIGN, short, empty], 5)
    batch = fingerprint_batch([empty, short, exact], 5, COLUMNS)
    assert [batch[i][0].size for i in range(3)] == [0, 0, 1]
    # No k-gram, no minimum: the signature is all "empty" values, as minhash_signature says.
    np.testing.assert_array_equal(batch[0][1], minhash_signature(batch[0][0], COLUMNS))


def test_no_streams_at_all() -> None:
    batch = fingerprint_batch([], 5, COLUMNS)
    assert len(batch) == 0 and batch.encoded() == []


def test_a_seam_kgram_is_not_among_either_streams_hashes() -> None:
    left, right = stream("a", "b", "c"), stream("d", "e", "f")
    batch = fingerprint_batch([left, right], 3, COLUMNS)
    joined = {int(h) for h in kgram_hashes(stream("a", "b", "c", "d", "e", "f"), 3)}
    own = {int(h) for h in kgram_hashes(left, 3)} | {int(h) for h in kgram_hashes(right, 3)}
    found = {int(h) for i in range(2) for h in batch[i][0]}
    assert found == own
    assert joined - own  # ("b", "c", "d") and ("c", "d", "e") were there to be dropped


def test_repeated_kgrams_are_kept_once_and_sorted() -> None:
    loop = stream(*(["a", "b", f"{VAR}:i"] * 20))
    hashes, _ = fingerprint_batch([loop, loop], 3, COLUMNS)[1]
    assert hashes.size == 3
    assert list(hashes) == sorted(hashes)


def test_many_streams_over_several_minhash_chunks() -> None:
    # Enough distinct k-grams that the MinHash rows are made in several pieces, one stream
    # longer than a piece on its own among short ones.
    rng = np.random.default_rng(7)
    vocab = [f"s{i}" for i in range(300)] + [f"{VAR}:n{i}" for i in range(20)]
    streams = [
        stream(*(vocab[j] for j in rng.integers(0, len(vocab), size=int(size))))
        for size in rng.integers(0, 200, size=60).tolist() + [6000]
    ]
    assert_same(streams, 5, PERMS)


def test_minhash_values_at_the_edges_of_the_mersenne_reduction() -> None:
    # With a = 1 and b chosen per column, (h & (2^32 - 1)) * a + b hits the values where a
    # reduction of x mod 2^61 - 1 without division is easiest to get wrong: 2^61 - 1 itself,
    # just above it, the top of each multiple of 2^61, and wrap-around past 2^64.
    one = stream("a", f"{VAR}:x", "=", f"{VAR}:x", "+")
    (h,) = kgram_hashes(one, 5).tolist()
    low = h & 0xFFFFFFFF
    mersenne = (1 << 61) - 1
    targets = [0, 1, mersenne - 1, mersenne, mersenne + 1, mersenne + 6, mersenne + 7]
    targets += [(i << 61) + j for i in range(1, 8) for j in (-1, 0, 5, 6, 7)]
    targets += [(1 << 64) - 1, (1 << 64) + 3, (1 << 64) + mersenne]
    b = np.array([(t - low) % (1 << 64) for t in targets], dtype=np.uint64)
    perms = Permutations(a=np.ones(b.size, dtype=np.uint64), b=b)
    (hashes, signature) = fingerprint_batch([one], 5, perms)[0]
    expected = [(t % (1 << 64)) % mersenne & 0xFFFFFFFF for t in targets]
    assert signature.tolist() == expected
    np.testing.assert_array_equal(signature, fingerprint_stream(one, 5, perms)[1])


names = st.sampled_from(["x", "y", "z"])
tokens = st.one_of(
    st.sampled_from(["(", ")", "=", "+", "f", "torch.nn.Linear"]),
    st.builds(lambda ph, n: f"{ph}:{n}", st.sampled_from([VAR, ATTR_PH, KWARG_PH]), names),
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.lists(tokens, max_size=14).map(lambda ts: stream(*ts)), max_size=8),
    st.integers(min_value=2, max_value=6),
)
def test_any_streams_give_what_each_gives_alone(streams: list[TokenStream], k: int) -> None:
    assert_same(streams, k)


@pytest.mark.parametrize("k", [2, 5, 9])
def test_kgram_lengths(k: int) -> None:
    assert_same([ASSIGN, stream(*ASSIGN.syms[:k]), stream(*ASSIGN.syms[: k - 1])], k)


@given(st.lists(st.integers(0, 2**64 - 1), max_size=60), st.sampled_from([np.uint64, np.int64]))
def test_distinct_is_numpys_unique(values: list[int], dtype: type) -> None:
    if dtype is np.int64:
        values = [v - 2**63 for v in values]
    array = np.array(values, dtype=dtype)
    got = distinct(array)
    assert got.dtype == array.dtype
    assert got.tolist() == np.unique(array).tolist()


@pytest.mark.parametrize("seed", [0, 1, 7, 2**32 - 1])
@pytest.mark.parametrize("num_perm", [1, 128, 256])
def test_permutations_are_numpys_legacy_draws(seed: int, num_perm: int) -> None:
    # datasketch draws its permutations with RandomState; ours must be the same numbers,
    # or signatures stored by one could not be queried by the other.
    gen = np.random.RandomState(seed)
    high = (1 << 61) - 1
    expected_a = gen.randint(1, high, size=num_perm, dtype=np.uint64)
    expected_b = gen.randint(0, high, size=num_perm, dtype=np.uint64)
    perms = Permutations.make(num_perm, seed)
    assert perms.a.dtype == perms.b.dtype == np.uint64
    assert perms.a.tolist() == expected_a.tolist()
    assert perms.b.tolist() == expected_b.tolist()
