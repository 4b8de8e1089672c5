"""Finding artifacts in an untrusted tree, and the compare_artifacts front door."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from plagiarism.artifacts import MAX_JSON_DEPTH, read_json, summary_lines
from plagiarism.artifacts.compare import compare_artifacts
from plagiarism.artifacts.discover import discover
from plagiarism.artifacts.safetensors_io import write_file
from plagiarism.errors import ArtifactError


def _weights(path: Path, rows: int = 8) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file(path, {"w": np.ones((rows, 4), np.float32)})


def test_symlink_out_of_the_tree_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "tokenizer.json").write_text("{}")
    (outside / "secrets").mkdir()
    repo = tmp_path / "repo"
    repo.mkdir()
    os.symlink(outside / "tokenizer.json", repo / "tokenizer.json")
    os.symlink(outside, repo / "linked_dir")
    (repo / "inner.json").write_text("{}")
    os.symlink(repo / "inner.json", repo / "vocab.json")  # inside the tree: fine
    found, warnings = discover(repo, "a")
    assert set(found.tokenizer) == {"vocab.json"}
    assert any("outside the tree" in w.reason for w in warnings)


def test_largest_checkpoint_folder_wins_and_the_others_are_named(tmp_path: Path) -> None:
    _weights(tmp_path / "examples" / "tiny" / "model.safetensors", rows=2)
    _weights(tmp_path / "model" / "model.safetensors", rows=64)
    (tmp_path / ".git").mkdir()
    _weights(tmp_path / ".git" / "x.safetensors", rows=1000)
    found, warnings = discover(tmp_path, "a")
    assert found.weights_dir == "model"
    assert any(w.path == "examples/tiny" and w.skipped for w in warnings)
    assert all(".git" not in (w.path or "") for w in warnings)


def test_shard_index_cannot_point_outside_its_folder(tmp_path: Path) -> None:
    _weights(tmp_path / "m" / "model-00001-of-00001.safetensors")
    _weights(tmp_path / "elsewhere.safetensors")
    index = {
        "weight_map": {"w": "model-00001-of-00001.safetensors", "x": "../elsewhere.safetensors"}
    }
    (tmp_path / "m" / "model.safetensors.index.json").write_text(json.dumps(index))
    found, _ = discover(tmp_path / "m", "a")
    assert [p.name for p in found.weights] == ["model-00001-of-00001.safetensors"]


def test_pickled_weights_are_reported_not_read(tmp_path: Path) -> None:
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x04not read")
    found, warnings = discover(tmp_path, "a")
    assert found.empty
    assert any(w.path == "pytorch_model.bin" and "not read" in w.reason for w in warnings)


def test_nothing_found_returns_none(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "train.py").write_text("print(1)\n")
    assert compare_artifacts(tmp_path / "a", tmp_path / "b") == (None, [])
    assert compare_artifacts(None, None)[0] is None


def test_model_folders_override_the_roots(tmp_path: Path) -> None:
    _weights(tmp_path / "ma" / "model.safetensors")
    _weights(tmp_path / "mb" / "model.safetensors")
    (tmp_path / "code_a").mkdir()
    (tmp_path / "code_b").mkdir()
    section, _ = compare_artifacts(
        tmp_path / "code_a", tmp_path / "code_b", model_a=tmp_path / "ma", model_b=tmp_path / "mb"
    )
    assert section is not None and section["weights"] is not None
    assert section["weights"]["tensors_paired"] == 1  # type: ignore[index]
    assert any(line.startswith("weights: same-plus-noise") for line in summary_lines(section))


def test_one_sided_artifacts_are_a_warning(tmp_path: Path) -> None:
    _weights(tmp_path / "a" / "model.safetensors")
    (tmp_path / "b").mkdir()
    section, warnings = compare_artifacts(tmp_path / "a", tmp_path / "b")
    assert section is not None and section["weights"] is None
    assert any(w.side == "a" and "only" in w.reason for w in warnings)
    assert summary_lines(section) == ["artifacts: found on one side only, nothing compared"]


def test_missing_model_folder_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="--model-a"):
        compare_artifacts(tmp_path, tmp_path, model_a=tmp_path / "nope")
    with pytest.raises(ArtifactError, match="--base-tokenizer"):
        compare_artifacts(tmp_path, tmp_path, base_tokenizer=tmp_path / "nope")


def test_section_is_json_serialisable(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for side in ("a", "b"):
        folder = tmp_path / side
        folder.mkdir()
        write_file(folder / "model.safetensors", {"w": rng.normal(size=(32, 32)).astype("f4")})
        (folder / "config.json").write_text(json.dumps({"model_type": "x", "hidden_size": 32}))
    section, _ = compare_artifacts(tmp_path / "a", tmp_path / "b")
    text = json.dumps(section, allow_nan=False)
    assert json.loads(text)["weights"]["verdict"] == "independent"


def test_summary_escapes_control_characters_from_untrusted_files() -> None:
    artifacts = {
        "tokenizer": {"verdict": "identical", "shared_special_tokens": ["<\x1b[31mred>"]},
        "config": {
            "verdict": "identical",
            "identical_fields": 1,
            "differing_fields": 0,
            "unusual_identical": [{"field": "x\x07", "value": "a\x1b]0;title\x07"}],
        },
    }
    text = "\n".join(summary_lines(artifacts))
    assert "\x1b" not in text and "\x07" not in text
    assert "\\x1b[31mred" in text


def test_artifacts_nested_to_break_the_reader_are_warnings(tmp_path: Path) -> None:
    # 200,000 levels: past the JSON decoder's recursion; 150 levels: decodable, but enough
    # to break a comparison or the result's JSON later. Neither may stop the comparison.
    too_deep = "[" * 200_000 + "]" * 200_000
    deep_config = '{"model_type": "x", "n": ' + '{"a": ' * 150 + "1" + "}" * 151
    for side, tokenizer in (("a", too_deep), ("b", '{"model": ' * 150 + "1" + "}" * 150)):
        (tmp_path / side).mkdir()
        (tmp_path / side / "tokenizer.json").write_text(tokenizer)
        (tmp_path / side / "config.json").write_text(deep_config)
        header = ('{"w": ' * 150 + "1" + "}" * 150).encode()
        (tmp_path / side / "model.safetensors").write_bytes(
            len(header).to_bytes(8, "little") + header
        )
    section, warnings = compare_artifacts(tmp_path / "a", tmp_path / "b")
    assert section is not None
    assert section["tokenizer"] is None and section["weights"] is None
    reasons = [w.reason for w in warnings]
    assert sum("nested" in r and "tokenizer.json" in r for r in reasons) == 2, reasons
    assert any("safetensors header" in r and "nested" in r for r in reasons), reasons
    assert summary_lines(section) == ["artifacts: unreadable, nothing compared (see the warnings)"]


def test_read_json_keeps_what_real_files_nest() -> None:
    assert read_json('{"a": [{"b": {"c": [1, 2]}}]}') == {"a": [{"b": {"c": [1, 2]}}]}
    assert read_json("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH) is not None
    with pytest.raises(ValueError, match="more than"):
        read_json("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1))


LFS = "version https://git-lfs.github.com/spec/v1\noid sha256:{}\nsize 1234567\n"


def test_git_lfs_pointers_are_named_as_such(tmp_path: Path) -> None:
    # A model repository cloned without Git LFS holds pointers where its weights and large
    # tokenizers should be: say so, not "header runs past the end" or "not JSON".
    for side in ("a", "b"):
        (tmp_path / side).mkdir()
        for name in ("model.safetensors", "tokenizer.json", "config.json"):
            (tmp_path / side / name).write_text(LFS.format("ab" * 32))
    section, warnings = compare_artifacts(tmp_path / "a", tmp_path / "b")
    assert section is not None and section["weights"] is None and section["tokenizer"] is None
    lfs = [w for w in warnings if "Git LFS pointer" in w.reason]
    assert {(w.side, w.path) for w in lfs} >= {("a", "tokenizer.json"), ("b", "tokenizer.json")}
    assert any("model.safetensors" in w.reason for w in lfs), [w.reason for w in warnings]
    assert {(w.side, w.path) for w in lfs} >= {("a", "config.json"), ("b", "config.json")}


def test_an_unreadable_config_beside_a_model_is_said(tmp_path: Path) -> None:
    # config.json is a common name: a broken one alone is some tool's file and stays quiet,
    # but beside a tokenizer or weights it is the model's config, lost to the comparison.
    model, tool = tmp_path / "repo" / "model", tmp_path / "repo" / "tool"
    model.mkdir(parents=True)
    tool.mkdir()
    (model / "tokenizer.json").write_text('{"model": {"type": "BPE", "vocab": {}}}')
    (model / "config.json").write_text('{"model_type": "llama", "hidden_size": 8,')  # cut short
    (tool / "config.json").write_text("{not json")
    found, warnings = discover(tmp_path / "repo", "b")
    assert "config.json" not in found.configs
    said = [w for w in warnings if w.path is not None and w.path.endswith("config.json")]
    assert [(w.path, w.skipped) for w in said] == [("model/config.json", True)]
    assert said[0].reason.startswith("config.json beside the model's files cannot be read (")
    assert said[0].reason.endswith("); not compared")
