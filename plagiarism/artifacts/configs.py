"""Compare model configs field by field and call out identical values that are unusual.

Two models of the same family share most config values, so "identical" alone proves little.
What points at copying is an identical value nobody picks by default: an odd hidden size, a
hand-tuned epsilon, a private checkpoint path in `_name_or_path`. "Unusual" is decided by a
small, documented list of common values per field (docs/artifacts.md); keep it small.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from plagiarism.artifacts import read_json
from plagiarism.artifacts.discover import CONFIG_FILES, Found
from plagiarism.model import Warning

log = logging.getLogger(__name__)

MAX_DEPTH = 3  # nested dicts (rope_scaling, vision_config.*) are flattened to dotted keys
MAX_FIELDS = 2000
MAX_VALUE_CHARS = 300

# Labels: equal whenever the library or family is the same, never evidence of copying.
NEVER_UNUSUAL = frozenset(
    {
        "architectures",
        "model_type",
        "torch_dtype",
        "dtype",
        "transformers_version",
        "_diffusers_version",
        "tokenizer_class",
        "auto_map",
        "processor_class",
        "image_processor_type",
        "feature_extractor_type",
        "use_cache",
        "tie_word_embeddings",
        "return_dict",
        "output_hidden_states",
        "output_attentions",
        "is_encoder_decoder",
        "hidden_act",
        "position_embedding_type",
    }
)

# Common values of frequent fields, across the model families in wide use. A field missing here
# falls back to the generic rules in `is_unusual`.
COMMON_VALUES: dict[str, frozenset[object]] = {
    "layer_norm_eps": frozenset({1e-5, 1e-6, 1e-12, 1e-8, 1e-7}),
    "rms_norm_eps": frozenset({1e-5, 1e-6, 1e-8}),
    "layer_norm_epsilon": frozenset({1e-5, 1e-6, 1e-12}),
    "initializer_range": frozenset({0.02, 0.01, 0.006, 0.008}),
    "rope_theta": frozenset({10000, 500000, 1000000}),  # equal to their float forms in sets
    "num_hidden_layers": frozenset(
        {2, 3, 4, 6, 8, 12, 16, 18, 22, 24, 26, 28, 32, 36, 40, 48, 60, 64, 80, 96, 126}
    ),
    "num_attention_heads": frozenset({4, 8, 12, 16, 20, 24, 32, 40, 48, 56, 64, 96, 128}),
    "num_key_value_heads": frozenset({1, 2, 4, 8, 16, 32, 40, 64}),
    "max_position_embeddings": frozenset(
        {512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072, 514, 40960, 4098}
    ),
    "vocab_size": frozenset(
        {
            30522,
            28996,
            50257,
            50265,
            50304,
            32000,
            32001,
            32100,
            32128,
            128256,
            151936,
            152064,
            256000,
            65024,
            100352,
            250002,
            49152,
            102400,
            131072,
            32064,
        }
    ),
    "temperature": frozenset({0.6, 0.7, 0.8, 0.9, 1.0}),
    "top_p": frozenset({0.8, 0.9, 0.95, 1.0}),
    "top_k": frozenset({0, 20, 40, 50}),
    "image_size": frozenset({224, 256, 336, 384, 448, 512}),
    "patch_size": frozenset({14, 16, 32}),
}
# Any field: numbers and strings this common are never called out.
GENERIC_COMMON: frozenset[object] = frozenset(
    {0, 1, 2, 3, 0.1, 0.5, -1, -100, 0.02, 1e-5, 1e-6, 1e-12, "", "gelu", "silu",
     "relu", "absolute", "float32", "float16", "bfloat16", "linear", "dynamic", "default",
     "gelu_new", "gelu_pytorch_tanh", "swish"}
)  # fmt: skip


def _num_equal(x: object, y: object) -> bool:
    if isinstance(x, bool) or isinstance(y, bool):
        return x is y
    if isinstance(x, int | float) and isinstance(y, int | float):
        return math.isclose(float(x), float(y), rel_tol=1e-9, abs_tol=0.0)
    return x == y


def is_unusual(key: str, value: object) -> bool:
    """True when an identical value is worth calling out (not a common default)."""
    leaf = key.rsplit(".", 1)[-1]
    if leaf in NEVER_UNUSUAL or value is None or isinstance(value, bool):
        return False
    if leaf == "_name_or_path":
        return bool(value)  # names the source checkpoint: always worth a look when shared
    common = COMMON_VALUES.get(leaf)
    if common is not None:
        return not any(_num_equal(value, c) for c in common)
    if any(_num_equal(value, c) for c in GENERIC_COMMON if not isinstance(c, bool)):
        return False
    if isinstance(value, int):
        if value <= 16 or value % 64 == 0:
            return False
        # Widths are multiples of 64 (hardware) in practice; other counts are often round
        # decimal numbers (1000 steps, 50 beams).
        sizes = ("size", "dim", "hidden", "intermediate", "embd", "d_model", "d_ff", "width")
        return any(s in leaf for s in sizes) or value % 10 != 0
    if isinstance(value, float):
        # Round values (0.1, 0.25, 1e-4) are defaults; many significant digits are a choice.
        mantissa = f"{value:.12e}".split("e")[0].rstrip("0").rstrip(".")
        return len(mantissa.replace("-", "").replace(".", "")) > 2
    if isinstance(value, str):
        return len(value) > 2
    if isinstance(value, list):
        return len(value) > 0
    return False


def _flatten(data: dict[str, Any], prefix: str = "", depth: int = 0) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and depth < MAX_DEPTH:
            out.update(_flatten(value, f"{name}.", depth + 1))
        else:
            out[name] = value
        if len(out) >= MAX_FIELDS:
            break
    return out


def _shown(value: object) -> object:
    """JSON-ready and bounded: long strings and lists are cut (with a mark)."""
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        return value[:MAX_VALUE_CHARS] + "…"
    if isinstance(value, list | dict):
        text = json.dumps(value, ensure_ascii=False)
        if len(text) > MAX_VALUE_CHARS:
            return text[:MAX_VALUE_CHARS] + "…"
    return value


def load_configs(found: Found) -> tuple[dict[str, dict[str, object]], list[Warning]]:
    out: dict[str, dict[str, object]] = {}
    warnings: list[Warning] = []
    for name in sorted(found.configs):
        path: Path = found.configs[name]
        try:
            data = read_json(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            warnings.append(
                Warning(found.side, found.relative(path), f"unreadable {name}: {exc}"[:300], True)
            )
            continue
        if not isinstance(data, dict):
            warnings.append(
                Warning(found.side, found.relative(path), f"{name} is not a JSON object", True)
            )
            continue
        out[name] = _flatten(data)
    return out, warnings


def compare_configs(
    a: dict[str, dict[str, object]],
    b: dict[str, dict[str, object]],
    folder_a: str | None,
    folder_b: str | None,
) -> dict[str, object]:
    files: dict[str, object] = {}
    unusual_all: list[dict[str, object]] = []
    identical_total = differing_total = 0
    for name in sorted(CONFIG_FILES):
        ca, cb = a.get(name), b.get(name)
        if ca is None or cb is None:
            if ca is not None or cb is not None:
                files[name] = {"present": {"a": ca is not None, "b": cb is not None}}
            continue
        fields: list[dict[str, object]] = []
        identical = differing = 0
        unusual: list[str] = []
        for key in sorted(set(ca) | set(cb)):
            in_a, in_b = key in ca, key in cb
            va, vb = ca.get(key), cb.get(key)
            same = in_a and in_b and _num_equal(va, vb)
            flagged = same and is_unusual(key, va)
            if same:
                identical += 1
            elif in_a and in_b:
                differing += 1
            if flagged:
                unusual.append(key)
                unusual_all.append({"file": name, "field": key, "value": _shown(va)})
            fields.append(
                {
                    "field": key,
                    "a": _shown(va) if in_a else None,
                    "b": _shown(vb) if in_b else None,
                    "in_a": in_a,
                    "in_b": in_b,
                    "same": same,
                    "unusual": flagged,
                }
            )
        identical_total += identical
        differing_total += differing
        files[name] = {
            "present": {"a": True, "b": True},
            "identical_fields": identical,
            "differing_fields": differing,
            "only_a": sum(1 for f in fields if f["in_a"] and not f["in_b"]),
            "only_b": sum(1 for f in fields if f["in_b"] and not f["in_a"]),
            "identical": differing == 0 and set(ca) == set(cb),
            "unusual_identical": unusual,
            "fields": fields,
        }
    model_a, model_b = a.get("config.json", {}), b.get("config.json", {})
    arch_keys = [
        k
        for k in sorted(set(model_a) & set(model_b))
        if k.rsplit(".", 1)[-1] in ARCHITECTURE_FIELDS
    ]
    same_arch = bool(arch_keys) and all(_num_equal(model_a[k], model_b[k]) for k in arch_keys)
    compared = [f for f in files.values() if isinstance(f, dict) and "identical" in f]
    if compared and all(f["identical"] for f in compared):
        verdict = "identical"
    elif same_arch:
        verdict = "same-architecture"
    else:
        verdict = "different"
    return {
        "verdict": verdict,
        "folder_a": folder_a,
        "folder_b": folder_b,
        "same_architecture": same_arch,
        "architecture_fields": [
            {"field": k, "a": _shown(model_a[k]), "b": _shown(model_b[k])} for k in arch_keys
        ],
        "identical_fields": identical_total,
        "differing_fields": differing_total,
        "unusual_identical": unusual_all,
        "files": files,
    }


# The fields that fix the shape of the network (names across families); equal values on all
# of them mean the two checkpoints can be the same architecture.
ARCHITECTURE_FIELDS = frozenset(
    {
        "model_type",
        "architectures",
        "hidden_size",
        "d_model",
        "n_embd",
        "intermediate_size",
        "d_ff",
        "n_inner",
        "num_hidden_layers",
        "num_layers",
        "n_layer",
        "num_attention_heads",
        "n_head",
        "num_heads",
        "num_key_value_heads",
        "head_dim",
        "vocab_size",
        "max_position_embeddings",
        "n_positions",
        "hidden_act",
        "rope_theta",
        "rms_norm_eps",
        "layer_norm_eps",
        "tie_word_embeddings",
    }
)
