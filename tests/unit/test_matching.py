"""The one-to-one matching of contested components: exact, and one answer per input."""

from __future__ import annotations

import itertools
import random

import pytest

from plagiarism import match


def _keys(
    weights: dict[tuple[int, int], float], same: set[tuple[int, int]]
) -> dict[tuple[int, int], int]:
    # What `_contested` hands its solvers: a weight, then one bit per pair by rank.
    ranked = sorted(weights, key=lambda e: (e not in same, e))
    n = len(ranked)
    return {
        e: (round(weights[e] * (1 << match.WEIGHT_BITS)) << n) | (1 << (n - 1 - r))
        for r, e in enumerate(ranked)
    }


def _brute(key: dict[tuple[int, int], int]) -> list[tuple[int, int]]:
    best: tuple[int, list[tuple[int, int]]] = (-1, [])
    edges = sorted(key)
    for r in range(len(edges) + 1):
        for combo in itertools.combinations(edges, r):
            if len({a for a, _ in combo}) == r == len({b for _, b in combo}):
                best = max(best, (sum(key[e] for e in combo), list(combo)))
    return sorted(best[1])


def _random_component(rng: random.Random) -> tuple[dict[tuple[int, int], float], set]:
    na, nb = rng.randint(1, 5), rng.randint(1, 5)
    edges = [(a, b) for a in range(na) for b in range(nb) if rng.random() < 0.6]
    # Few distinct weights, so that most components hold equally heavy matchings.
    weights = {e: rng.choice([10.0, 10.0, 20.0, 30.25]) for e in edges}
    same = {e for e in edges if rng.random() < 0.2}
    return weights, same


@pytest.mark.parametrize("seed", range(4))
def test_both_solvers_find_the_one_best_matching(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(300):
        weights, same = _random_component(rng)
        if len(weights) < 2:
            continue
        key = _keys(weights, same)
        side_a = sorted({a for a, _ in key})
        side_b = sorted({b for _, b in key})
        expected = _brute(key)
        assert sorted(match._heaviest_by_subsets(key, side_a, side_b)) == expected
        assert sorted(match._heaviest_by_blossom(key)) == expected


def test_a_tie_goes_to_the_same_path_then_to_the_first_unit_of_a() -> None:
    # One B unit (0) with three equally good origins; then two B units and two A units
    # whose crosswise and straight matchings weigh the same.
    star = {(5, 0): 40.0, (2, 0): 40.0, (9, 0): 40.0}
    assert match._contested(list(star), star, lambda a, b: a == 9) == [(9, 0)]
    assert match._contested(list(star), star, lambda a, b: False) == [(2, 0)]
    square = {(0, 0): 10.0, (0, 1): 10.0, (1, 0): 10.0, (1, 1): 10.0}
    assert sorted(match._contested(list(square), square, lambda a, b: False)) == [(0, 0), (1, 1)]
    assert sorted(match._contested(list(square), square, lambda a, b: (a, b) == (0, 1))) == [
        (0, 1),
        (1, 0),
    ]


def test_weight_wins_over_the_tie_rule() -> None:
    edges = {(0, 0): 40.0, (1, 0): 40.5}
    assert match._contested(list(edges), edges, lambda a, b: a == 0) == [(1, 0)]


def test_a_component_too_large_for_an_exact_matching_follows_the_same_tie_rule() -> None:
    # Past MAX_EXACT_COMPONENT nodes the matching is greedy; equal weights still go by the
    # stated order (same path, then A's order), not by the graph's.
    star = {(a, 0): 12.0 for a in range(match.MAX_EXACT_COMPONENT + 5, 0, -1)}
    assert match._contested(list(star), star, lambda a, b: False) == [(1, 0)]
    assert match._contested(list(star), star, lambda a, b: a == 77) == [(77, 0)]
    heavier = {**star, (140, 0): 12.5}
    assert match._contested(list(heavier), heavier, lambda a, b: a == 77) == [(140, 0)]
