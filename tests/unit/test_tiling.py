"""Greedy string tiling: the numpy seed path for long units tiles exactly like the loops.

Long unit pairs (a 10,000-token `__init__.py` against its next version) are seeded over
arrays of symbol ids and their seeds taken in sorted batches (docs/scale.md); short pairs
keep the plain loops. Both must give the same tiles, or results would depend on unit size.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from plagiarism import align as al
from plagiarism.align import Tile, tile


def _streams(rng: random.Random) -> tuple[tuple[str, ...], tuple[str, ...]]:
    # Small alphabets make grams repeat (past MAX_SEED_OCCURRENCES too), as in generated
    # import tables; B reuses a stretch of A so that long runs exist.
    alphabet = [f"s{k}" for k in range(rng.choice([2, 3, 6, 40]))]
    a = tuple(rng.choice(alphabet) for _ in range(rng.randint(0, 300)))
    cut = rng.randint(0, len(a))
    b = list(a[cut : cut + rng.randint(0, 200)]) + [
        rng.choice(alphabet) for _ in range(rng.randint(0, 150))
    ]
    if rng.random() < 0.3:
        rng.shuffle(b)
    return a, tuple(b)


def _both_paths(
    monkeypatch: pytest.MonkeyPatch,
    a: tuple[str, ...],
    b: tuple[str, ...],
    k: int,
    taken: tuple[Tile, ...] = (),
) -> tuple[list[Tile], list[Tile]]:
    monkeypatch.setattr(al, "ARRAY_SEEDS_FROM", 10**9)
    loops = tile(a, b, k, taken)
    monkeypatch.setattr(al, "ARRAY_SEEDS_FROM", 0)
    arrays = tile(a, b, k, taken)
    return loops, arrays


def test_array_path_tiles_like_the_loops(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(7)
    nonempty = 0
    for _ in range(300):
        a, b = _streams(rng)
        for k in (2, 5, 12):
            loops, arrays = _both_paths(monkeypatch, a, b, k)
            assert arrays == loops
            nonempty += bool(loops)
            # With tiles already taken (the short pass after the long one).
            taken = tuple(loops[: rng.randint(0, 3)])
            assert (
                _both_paths(monkeypatch, a, b, max(1, k - 2), taken)[1]
                == (_both_paths(monkeypatch, a, b, max(1, k - 2), taken)[0])
            )
    assert nonempty > 300  # the inputs do produce tiles


@pytest.mark.parametrize("collide", [False, True])
def test_long_runs_taken_first_tile_like_the_loops(
    monkeypatch: pytest.MonkeyPatch, collide: bool
) -> None:
    # Past TWO_PHASE_FROM seeds, runs of LONG_RUN tokens or more are taken before the rest
    # are measured, and runs already blocked then are never measured. Forced here on every
    # pair, with long-run thresholds below, at and above the minimum match, and (collide)
    # with every slice hash equal, so that every seed with room looks long until measured.
    rng = random.Random(19)
    monkeypatch.setattr(al, "TWO_PHASE_FROM", 0)
    if collide:
        monkeypatch.setattr(al, "_slice_hash", lambda syms, start, length: np.zeros(len(start)))
    compared = 0
    for _ in range(100):
        a, b = _streams(rng)
        for k in (2, 5, 12):
            for long_run in (1, k, k + 1, 2 * k + 3, 40):
                monkeypatch.setattr(al, "LONG_RUN", long_run)
                loops, arrays = _both_paths(monkeypatch, a, b, k)
                assert arrays == loops, (k, long_run)
                taken = tuple(loops[: rng.randint(0, 3)])
                loops, arrays = _both_paths(monkeypatch, a, b, max(1, k - 2), taken)
                assert arrays == loops, (k, long_run, taken)
                compared += bool(loops)
    assert compared > 500


def test_tiles_are_disjoint_equal_and_long_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(al, "ARRAY_SEEDS_FROM", 0)
    rng = random.Random(3)
    for _ in range(100):
        a, b = _streams(rng)
        tiles = tile(a, b, 4)
        seen_a: set[int] = set()
        seen_b: set[int] = set()
        for t in tiles:
            assert t.length >= 4
            assert a[t.a : t.a + t.length] == b[t.b : t.b + t.length]
            span_a, span_b = set(range(t.a, t.a + t.length)), set(range(t.b, t.b + t.length))
            assert not span_a & seen_a and not span_b & seen_b
            seen_a |= span_a
            seen_b |= span_b


def test_gram_hash_collisions_cannot_make_a_tile(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every gram hashing alike: each run is still measured token by token from its start,
    # so grams that only share a hash seed nothing. (A has fewer positions than the
    # occurrence cap, so the cap cannot pick different occurrences either.)
    rng = random.Random(11)
    monkeypatch.setattr(al, "_GRAM_MIX", np.zeros(64, dtype=np.uint64))
    al._gram_hashes.cache_clear()
    try:
        for _ in range(60):
            alphabet = [f"t{k}" for k in range(5)]
            a = tuple(rng.choice(alphabet) for _ in range(rng.randint(5, 60)))
            b = tuple(rng.choice(alphabet) for _ in range(rng.randint(5, 300)))
            loops, arrays = _both_paths(monkeypatch, a, b, 3)
            assert arrays == loops
    finally:
        al._gram_hashes.cache_clear()


def test_long_repetitive_pair_takes_the_diagonal(monkeypatch: pytest.MonkeyPatch) -> None:
    # An import table: the same line shape hundreds of times, one entry inserted in B.
    line = ("STR", ":", "[", "STR", ",", "STR", "]", ",")
    a = line * 400
    b = line * 150 + ("STR", ":", "[", "]", ",") + line * 250
    loops, arrays = _both_paths(monkeypatch, a, b, 12)
    assert arrays == loops
    # Both stretches, before and after the insertion, are found whole: each B position
    # tries the occurrences of its gram nearest its own place in A (not only A's first 64
    # lines), and among equally long runs the one nearest its place is taken first (so the
    # stretch after the insertion does not take A's lines the one before it needs).
    assert sum(t.length for t in arrays) >= len(b) - len(line)


def test_seeds_on_taken_positions_are_dropped_exactly() -> None:
    # The short pass leaves out seeds whose run lies wholly on taken positions of A or of B
    # (the greedy loop would skip them): it must keep every other seed, and it is meant
    # to drop all of those it can.
    rng = random.Random(11)
    dropped = 0
    for _ in range(200):
        a, b = _streams(rng)
        if not a or not b:
            continue
        used_a = bytearray(rng.random() < 0.6 for _ in a)
        used_b = bytearray(rng.random() < 0.6 for _ in b)
        i = np.repeat(np.arange(len(b)), len(a))
        j = np.tile(np.arange(len(a)), len(b))
        kept_i, kept_j = al._unblocked(a, b, j, i, (used_a, used_b))
        kept = set(zip(kept_i.tolist(), kept_j.tolist(), strict=True))
        for bi, aj in zip(i.tolist(), j.tolist(), strict=True):
            n = 0
            while bi + n < len(b) and aj + n < len(a) and a[aj + n] == b[bi + n]:
                n += 1
            if n == 0:
                continue  # not a seed: a seed's first gram is common
            blocked = all(used_b[bi : bi + n]) or all(used_a[aj : aj + n])
            assert ((bi, aj) in kept) == (not blocked), (bi, aj, n)
            dropped += blocked
    assert dropped > 1000


def test_short_unit_grams_are_looked_up_in_the_long_one() -> None:
    # A short A against a much longer B searches A's grams among B's (B sorted once); the
    # seed pairs must be those of the B-side search, repeated grams past the cap included.
    rng = random.Random(5)
    from_a = 0
    for _ in range(150):
        alphabet = [f"s{k}" for k in range(rng.choice([1, 2, 3, 8]))]
        a = tuple(rng.choice(alphabet) for _ in range(rng.randint(1, 160)))
        b = tuple(rng.choice(alphabet) for _ in range(rng.randint(1, 1500)))
        for k in (1, 3):
            if len(a) < k or len(b) < k:
                continue
            i, j = al._seed_pairs(a, b, k)
            ha, hb = al._gram_hashes(a, k), al._gram_hashes(b, k)
            order_a, sorted_a = al._sorted_grams(a, k)
            ri, rj = al._pairs_from_b(order_a, sorted_a, hb, np.arange(len(hb)), len(a), len(b))
            got = sorted(zip(i.tolist(), j.tolist(), strict=True))
            assert got == sorted(zip(ri.tolist(), rj.tolist(), strict=True))
            from_a += len(hb) > 4 * len(ha)
    assert from_a > 50


def _renamed_body(name: str, arg: str, lines: int) -> str:
    body = "\n".join(
        f"    t{i} = layer_{i % 7}({arg}, t{i - 1} if {i} else {arg})" for i in range(lines)
    )
    return f"def {name}({arg}):\n{body}\n    return t{lines - 1}\n"


def test_a_unit_past_the_token_cap_copied_with_renames_is_a_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Past MAX_TOKENS a unit is tiled on its first tokens only. A copy of such a unit once
    # scored matched / its whole length: a renamed copy of a 260,000-token function read as
    # 8 % of a copy and was not reported. Twins are now one tile over everything, and a
    # pair that is not is scored on the tokens it was aligned on.
    from plagiarism import pipeline
    from plagiarism.config import Settings

    monkeypatch.setattr(al, "MAX_TOKENS", 300)
    monkeypatch.setattr(pipeline, "MAX_TOKENS", 300)  # its warning's copy
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "net.py").write_text(_renamed_body("forward", "x", 200))
    twin = _renamed_body("run", "y", 200)
    (tmp_path / "b" / "net.py").write_text(twin)
    edited = twin.split("\n")
    edited[150] = "    t149 = other(y) + 3"  # past the cap: only a prefix is aligned
    (tmp_path / "b" / "net_edited.py").write_text("\n".join(edited))
    result = pipeline.compare(tmp_path / "a", tmp_path / "b", Settings(use_cache=False, jobs=1))
    pairs = {p.b.path: p for p in result.pairs}
    whole = pairs["net.py"]
    assert whole.identical and whole.score == 1.0 and whole.matched_tokens > 300 * 5
    prefix = pairs["net_edited.py"]
    assert not prefix.identical and prefix.score >= 0.95 and prefix.matched_tokens <= 300
    assert result.finding
    warned = [w.reason for w in result.warnings if "tokens; only the first 300" in w.reason]
    assert len(warned) == 3 and all("unless its partner is the same code" in r for r in warned)
