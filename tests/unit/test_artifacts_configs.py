"""Config comparison: fields side by side, identical unusual values called out."""

from __future__ import annotations

import json
from pathlib import Path

from plagiarism.artifacts import summary_lines
from plagiarism.artifacts.compare import compare_artifacts
from plagiarism.artifacts.configs import is_unusual

LLAMA_LIKE = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "rms_norm_eps": 1e-5,
    "rope_theta": 500000.0,
    "vocab_size": 128256,
    "torch_dtype": "bfloat16",
}


def write_config(folder: Path, config: dict, generation: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    if generation is not None:
        (folder / "generation_config.json").write_text(json.dumps(generation))
    return folder


def config_section(a: Path, b: Path) -> dict:
    section, _ = compare_artifacts(a, b)
    assert section is not None and section["config"] is not None
    return section["config"]  # type: ignore[return-value]


def test_same_family_defaults_are_not_called_out(tmp_path: Path) -> None:
    a = write_config(tmp_path / "a", LLAMA_LIKE)
    b = write_config(tmp_path / "b", {**LLAMA_LIKE, "torch_dtype": "float16"})
    cfg = config_section(a, b)
    assert cfg["unusual_identical"] == []
    assert cfg["same_architecture"] is True
    assert cfg["verdict"] == "same-architecture"
    fields = {f["field"]: f for f in cfg["files"]["config.json"]["fields"]}
    assert fields["torch_dtype"]["same"] is False
    assert (fields["torch_dtype"]["a"], fields["torch_dtype"]["b"]) == ("bfloat16", "float16")


def test_identical_unusual_values_are_called_out(tmp_path: Path) -> None:
    odd = {
        **LLAMA_LIKE,
        "hidden_size": 4100,
        "rms_norm_eps": 1.3e-5,
        "_name_or_path": "/home/alice/runs/vlm-7",
        "vision_config": {"image_size": 448, "projector_dim": 1157},
    }
    a = write_config(tmp_path / "a", odd, {"temperature": 0.37, "top_p": 0.9})
    b = write_config(tmp_path / "b", odd, {"temperature": 0.37, "top_p": 0.9})
    cfg = config_section(a, b)
    called = {(u["file"], u["field"]) for u in cfg["unusual_identical"]}
    assert called == {
        ("config.json", "hidden_size"),
        ("config.json", "rms_norm_eps"),
        ("config.json", "_name_or_path"),
        ("config.json", "vision_config.projector_dim"),
        ("generation_config.json", "temperature"),
    }
    assert cfg["verdict"] == "identical"
    text = "\n".join(summary_lines({"config": cfg}))
    assert "hidden_size=4100" in text


def test_different_architectures_are_different(tmp_path: Path) -> None:
    a = write_config(tmp_path / "a", LLAMA_LIKE)
    b = write_config(tmp_path / "b", {**LLAMA_LIKE, "num_hidden_layers": 40, "hidden_size": 5120})
    cfg = config_section(a, b)
    assert cfg["verdict"] == "different"
    assert cfg["differing_fields"] == 2


def test_unusual_rules() -> None:
    assert not is_unusual("hidden_size", 4096)
    assert is_unusual("hidden_size", 4100)
    assert not is_unusual("layer_norm_eps", 1e-12)
    assert is_unusual("layer_norm_eps", 3e-7)
    assert not is_unusual("model_type", "llama")
    assert not is_unusual("hidden_dropout_prob", 0.1)
    assert is_unusual("attention_dropout", 0.137)


def test_a_non_model_config_json_is_ignored(tmp_path: Path) -> None:
    a = write_config(tmp_path / "a" / ".vscode", {"editor.tabSize": 4})
    b = write_config(tmp_path / "b", LLAMA_LIKE)
    section, _ = compare_artifacts(tmp_path / "a", b)
    assert section is not None and section["config"] is None
    assert a.exists()
