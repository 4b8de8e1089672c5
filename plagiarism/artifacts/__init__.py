"""Evidence beyond code: tokenizers, configs and weights (docs/artifacts.md).

A small pipeline of its own: discover (find the files under each side's root) -> tokenizer,
configs, weights (each reads both sides and compares) -> one JSON-ready `artifacts` section
for `Result.artifacts`, plus warnings for everything skipped or unreadable. Nothing here
raises on a bad artifact: an unreadable file becomes a Warning, so a code comparison never
fails because a checkpoint was truncated.

`compare.compare_artifacts` makes the section; this module only reads it (`is_finding`,
`summary_lines`), so the report and the pipeline's verdict need none of the readers.
"""

from __future__ import annotations

import json
from typing import Any

from plagiarism.git import is_lfs_pointer
from plagiarism.report.terminal import one_line

__all__ = [
    "DERIVED_WEIGHTS",
    "LFS_POINTER",
    "LfsPointerError",
    "MAX_JSON_DEPTH",
    "is_finding",
    "nested_within",
    "read_json",
    "summary_lines",
]

LFS_POINTER = (
    "a Git LFS pointer, not the file: it is kept outside the repository (`git lfs pull` in a "
    "clone fetches it; then pass that folder with --model-a/--model-b)"
)


class LfsPointerError(ValueError):
    """A file that is a Git LFS pointer (see `LFS_POINTER`), as unreadable as malformed JSON
    to most callers, told apart by those that say more about it."""


# Real tokenizer, config and safetensors files nest a handful of levels. Deeper than this is
# a file made to break the reader: Python's own decoder, comparisons and encoders recurse.
MAX_JSON_DEPTH = 100


def read_json(text: str | bytes) -> Any:
    """`json.loads` for untrusted artifact files: nesting past `MAX_JSON_DEPTH` is a
    ValueError, as malformed JSON is, where the decoder would raise RecursionError (past
    ~1,000 levels) or hand back values that later break a comparison or the result's JSON."""
    head = text[:64].encode() if isinstance(text, str) else text[:64]
    if is_lfs_pointer(head):
        raise LfsPointerError(LFS_POINTER)
    try:
        data = json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply to read") from None
    if not nested_within(data):
        raise ValueError(f"JSON nested more than {MAX_JSON_DEPTH} levels deep")
    return data


def nested_within(value: object, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether decoded JSON nests at most `limit` levels (read in a loop, not a recursion)."""
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return False
        items = item.values() if isinstance(item, dict) else item
        stack.extend((v, depth + 1) for v in items if isinstance(v, dict | list))
    return True


def _fmt(value: object, limit: int = 80) -> str:
    """Numbers compactly; anything else with control characters escaped and cut to `limit`.

    Config values and token strings come from untrusted files: an ANSI escape sequence in a
    token must not reach the user's terminal as one.
    """
    if isinstance(value, float):
        return f"{value:.4g}"
    text = str(value)
    if len(text) > limit:
        text = text[:limit] + "…"
    return one_line(text)


def summary_lines(artifacts: dict[str, object]) -> list[str]:
    """A few plain-text lines for the terminal summary: each verdict with its key numbers."""
    lines: list[str] = []
    tok = artifacts.get("tokenizer")
    if isinstance(tok, dict):
        vocab = tok.get("vocab") or {}
        shared = tok.get("shared_special_tokens") or []
        count = tok.get("shared_special_tokens_count", len(shared))
        line = f"tokenizer: {tok.get('verdict')}"
        if isinstance(vocab, dict) and vocab.get("jaccard") is not None:
            line += f", vocabulary overlap {_fmt(vocab.get('jaccard'))}"
        merges = tok.get("merges")
        if isinstance(merges, dict) and merges.get("identical"):
            line += ", identical merges"
        line += f", {count} shared special token(s) beyond the base"
        lines.append(line)
        if isinstance(shared, list) and shared:
            shown = ", ".join(f"'{_fmt(t)}'" for t in shared[:8])
            more = f" (+{int(str(count)) - 8} more)" if int(str(count)) > 8 else ""
            lines.append(f"  shared special tokens: {shown}{more}")
    cfg = artifacts.get("config")
    if isinstance(cfg, dict):
        unusual = cfg.get("unusual_identical") or []
        line = (
            f"config: {cfg.get('verdict')}, {cfg.get('identical_fields')} identical and "
            f"{cfg.get('differing_fields')} differing field(s)"
        )
        lines.append(line)
        if isinstance(unusual, list) and unusual:
            shown = ", ".join(
                f"{_fmt(u.get('field'))}={_fmt(u.get('value'))}"
                for u in unusual[:6]
                if isinstance(u, dict)
            )
            more = f" (+{len(unusual) - 6} more)" if len(unusual) > 6 else ""
            lines.append(f"  identical unusual values: {shown}{more}")
    wts = artifacts.get("weights")
    if isinstance(wts, dict):
        corr = wts.get("correlation") or {}
        median = corr.get("median") if isinstance(corr, dict) else None
        line = f"weights: {wts.get('verdict')}, {wts.get('tensors_paired')} tensors paired"
        if median is not None:
            line += f", median correlation {_fmt(median)}"
        if wts.get("noise_std") is not None:
            line += f", noise sigma {_fmt(wts.get('noise_std'))}"
        elif wts.get("noise_rel_std") is not None:
            line += f", noise {_fmt(wts.get('noise_rel_std'))} x tensor std"
        lines.append(line)
        sampling = wts.get("sampling")
        if isinstance(sampling, dict) and sampling.get("tensors_subsampled"):
            lines.append(
                f"  {sampling.get('tensors_subsampled')} large tensor(s) subsampled to "
                f"{sampling.get('max_elements_per_tensor')} elements (seed {sampling.get('seed')})"
            )
    if not lines:
        lines.append(
            "artifacts: unreadable, nothing compared (see the warnings)"
            if _same_kind_on_both_sides(artifacts.get("found"))
            else "artifacts: found on one side only, nothing compared"
        )
    return lines


# Weight verdicts that mean B's checkpoint was derived from A's.
DERIVED_WEIGHTS = frozenset({"same-plus-noise", "fine-tuned"})


def is_finding(artifacts: dict[str, object] | None) -> bool:
    """Artifact evidence that counts as a finding (exit code 1) on its own.

    B's weights derived from A's, or special tokens that both define beyond any common base
    tokenizer (the fingerprint that gave the 2024 copy away). A shared base tokenizer or
    the same architecture alone are what honest siblings share, and are not findings.
    """
    if not artifacts:
        return False
    weights = artifacts.get("weights")
    if isinstance(weights, dict) and weights.get("verdict") in DERIVED_WEIGHTS:
        return True
    tokenizer = artifacts.get("tokenizer")
    return isinstance(tokenizer, dict) and bool(tokenizer.get("shared_special_tokens"))


def _same_kind_on_both_sides(found: object) -> bool:
    """Whether the `found` summary lists one kind of artifact on both sides (so that nothing
    compared means something could not be read, not that one side had none)."""
    if not isinstance(found, dict):
        return False
    kinds = []
    for side in ("a", "b"):
        listed = found.get(side)
        if not isinstance(listed, dict):
            return False
        kinds.append({k for k in ("weights", "tokenizer", "configs") if listed.get(k)})
    return bool(kinds[0] & kinds[1])
