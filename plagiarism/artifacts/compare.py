"""Compare the tokenizer, config and weight files of two sides (see the package's docstring).

Imported where the comparison runs (a pool worker, beside the code stages), not with the
package: its readers (numpy, safetensors headers, tokenizer parsing) cost ~15 ms to import."""

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
