"""The order pairs are shown in, by the HTML report and the terminal alike: findings by score,
then context, then code B holds unchanged."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from plagiarism.model import Pair, UnitRef


class Unchanged:
    """Whether a pair is code B holds unchanged: the same text at the same path. Side by side
    it would show one text twice, and between a fork and its upstream it is most pairs (30,000
    of transformers' 40,000 between two versions, 9,500 more in files changed elsewhere)."""

    def __init__(self, blobs: Mapping[str, str]) -> None:
        self._blobs = blobs
        self._lines: dict[str, list[str]] = {}

    def _text(self, ref: UnitRef) -> list[str] | None:
        lines = self._lines.get(ref.file_sha256)
        if lines is None:
            blob = self._blobs.get(ref.file_sha256)
            if blob is None:
                return None
            lines = self._lines[ref.file_sha256] = blob.splitlines()
        return lines[ref.start_line - 1 : ref.end_line]

    def __call__(self, pair: Pair) -> bool:
        a, b = pair.a, pair.b
        if a.path != b.path:
            return False  # a verbatim copy moved elsewhere is evidence to read, not skip
        if a.file_sha256 == b.file_sha256:
            return a.start_line == b.start_line and a.end_line == b.end_line
        text = self._text(a)
        return text is not None and text == self._text(b)


def ranked(
    pairs: Sequence[Pair], unchanged: Sequence[bool] | None = None
) -> list[tuple[int, Pair]]:
    """(id, pair) best first; id is the 1-based position in Result.pairs, as in the JSON.
    Findings first, then context (a 1.00 class header shown because its files are linked
    says less than a 0.9 finding), then the pairs `unchanged` marks (one flag per pair, see
    `Unchanged`): between a fork and its upstream thousands of unchanged units score 1.0, and
    would fill the first pages before the one renamed copy."""
    kept = unchanged if unchanged is not None else [False] * len(pairs)

    def key(i: int) -> tuple[bool, bool, float, int, int]:
        p = pairs[i]
        return (kept[i], p.backed_only, -p.score, -p.matched_tokens, i)

    order = sorted(range(len(pairs)), key=key)
    return [(i + 1, pairs[i]) for i in order]
