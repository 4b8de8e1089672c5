"""The order pairs are shown in, by the HTML report and the terminal alike: findings by score,
then context, then code B holds unchanged."""

from __future__ import annotations

from collections.abc import Sequence

from plagiarism.model import Pair


def ranked(pairs: Sequence[Pair]) -> list[tuple[int, Pair]]:
    """(id, pair) best first; id is the 1-based position in Result.pairs, as in the JSON.
    Findings first, then context (a 1.00 class header shown because its files are linked
    says less than a 0.9 finding), then the unchanged pairs (`Pair.unchanged`): between a
    fork and its upstream thousands of unchanged units score 1.0, and would fill the first
    pages before the one renamed copy."""

    def key(i: int) -> tuple[bool, bool, float, int, int]:
        p = pairs[i]
        return (p.unchanged, p.backed_only, -p.score, -p.matched_tokens, i)

    order = sorted(range(len(pairs)), key=key)
    return [(i + 1, pairs[i]) for i in order]
