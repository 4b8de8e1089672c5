"""Evidence beyond code: tokenizers, configs and weights (docs/artifacts.md).

A small pipeline of its own: discover (find the files under each side's root) -> tokenizer,
configs, weights (each reads both sides and compares) -> one JSON-ready `artifacts` section
for `Result.artifacts`, plus warnings for everything skipped or unreadable. Nothing here
raises on a bad artifact: an unreadable file becomes a Warning, so a code comparison never
fails because a checkpoint was truncated.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from plagiarism.artifacts.configs import compare_configs, load_configs
from plagiarism.artifacts.discover import Found, discover
from plagiarism.artifacts.tokenizer import compare_tokenizers, load_base, load_tokenizer
from plagiarism.artifacts.weights import compare_weights
from plagiarism.errors import ArtifactError
from plagiarism.model import Side, Warning

__all__ = ["compare_artifacts", "summary_lines"]

log = logging.getLogger(__name__)


def _find(root: Path | None, side: Side) -> tuple[Found | None, list[Warning]]:
    if root is None:
        return None, []
    return discover(root, side)


def compare_artifacts(
    root_a: Path | None,
    root_b: Path | None,
    *,
    model_a: Path | None = None,
    model_b: Path | None = None,
    base_tokenizer: Path | None = None,
    max_header_bytes: int = 100_000_000,
    sample: int = 1_000_000,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, object] | None, list[Warning]]:
    """Compare the tokenizer, config and weight files of two sides.

    `model_a`/`model_b` (the --model-a/--model-b folders) replace the roots for their side.
    Returns None when neither side holds any artifact; otherwise the `artifacts` section:
    {"tokenizer": ..., "config": ..., "weights": ..., "found": ...}, each comparison None
    unless both sides have that kind. Raises ArtifactError only for a missing --model-*/
    --base-tokenizer path (a usage mistake); unreadable artifacts become warnings.
    `progress(done, total)` is called after each tensor pair, for a progress bar.
    """
    for flag, path in (("--model-a", model_a), ("--model-b", model_b)):
        if path is not None and not path.is_dir():
            raise ArtifactError(f"{flag} folder not found: {path}")
    if base_tokenizer is not None and not base_tokenizer.exists():
        raise ArtifactError(f"--base-tokenizer not found: {base_tokenizer}")
    if sample < 1000:
        raise ArtifactError("the weight sample must be at least 1000 elements per tensor")

    found_a, warnings = _find(model_a or root_a, "a")
    found_b, more = _find(model_b or root_b, "b")
    warnings += more
    if (found_a is None or found_a.empty) and (found_b is None or found_b.empty):
        return None, warnings

    section: dict[str, object] = {
        "tokenizer": None,
        "config": None,
        "weights": None,
        "found": {"a": _found_summary(found_a), "b": _found_summary(found_b)},
    }
    if found_a is None or found_b is None:
        return section, warnings

    tok_a, w = load_tokenizer(found_a)
    warnings += w
    tok_b, w = load_tokenizer(found_b)
    warnings += w
    if tok_a is not None and tok_b is not None:
        base = None
        if base_tokenizer is not None:
            base, w = load_base(base_tokenizer)
            warnings += w
            if base is None:
                warnings.append(
                    Warning(
                        None,
                        str(base_tokenizer),
                        "no tokenizer files found in the "
                        "--base-tokenizer path; built-in bases used instead",
                        True,
                    )
                )
        section["tokenizer"] = compare_tokenizers(tok_a, tok_b, base)
    _one_side_only(warnings, "tokenizer", tok_a is not None, tok_b is not None)

    cfg_a, w = load_configs(found_a)
    warnings += w
    cfg_b, w = load_configs(found_b)
    warnings += w
    if cfg_a and cfg_b:
        section["config"] = compare_configs(cfg_a, cfg_b, found_a.configs_dir, found_b.configs_dir)
    _one_side_only(warnings, "config", bool(cfg_a), bool(cfg_b))

    if found_a.weights and found_b.weights:
        weights, w = compare_weights(
            found_a,
            found_b,
            max_header_bytes=max_header_bytes,
            sample=sample,
            seed=seed,
            progress=progress,
        )
        warnings += w
        section["weights"] = weights
    _one_side_only(warnings, "safetensors weights", bool(found_a.weights), bool(found_b.weights))
    return section, warnings


def _one_side_only(warnings: list[Warning], kind: str, in_a: bool, in_b: bool) -> None:
    if in_a != in_b:
        side: Side = "a" if in_a else "b"
        warnings.append(
            Warning(side, None, f"{kind} found on side {side} only: not compared", skipped=True)
        )


def _found_summary(found: Found | None) -> dict[str, object] | None:
    if found is None:
        return None
    return {
        "root": str(found.root),
        "weights": [found.relative(p) for p in found.weights],
        "weights_folder": found.weights_dir,
        "tokenizer": sorted(found.relative(p) for p in found.tokenizer.values()),
        "tokenizer_folder": found.tokenizer_dir,
        "configs": sorted(found.relative(p) for p in found.configs.values()),
        "configs_folder": found.configs_dir,
    }


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
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


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
        lines.append("artifacts: found on one side only, nothing compared")
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
