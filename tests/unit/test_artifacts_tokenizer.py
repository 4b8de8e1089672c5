"""Tokenizer comparison on tokenizer files written here: the shared-special-token fingerprint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from plagiarism.artifacts import summary_lines
from plagiarism.artifacts.compare import compare_artifacts

# A tiny byte-level-BPE-like base of our own, with GPT-2's end-of-text token as its special.
BASE_VOCAB = {t: i for i, t in enumerate(["a", "b", "c", "d", "Ġ", "ab", "cd", "abcd", "Ġa", "Ġb"])}
BASE_MERGES = ["a b", "c d", "ab cd", "Ġ a", "Ġ b"]
EOT = "<|endoftext|>"


def write_tokenizer(
    folder: Path,
    added: list[str],
    *,
    vocab: dict[str, int] | None = None,
    merges: list[str] | None = None,
    config_only: bool = False,
) -> Path:
    """A tokenizer.json (or only a tokenizer_config.json) with `added` as special tokens."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab = dict(BASE_VOCAB if vocab is None else vocab)
    first = len(vocab)
    tokens = [EOT, *added]
    if config_only:
        decoder = {str(first + i): {"content": t, "special": True} for i, t in enumerate(tokens)}
        (folder / "tokenizer_config.json").write_text(
            json.dumps({"added_tokens_decoder": decoder, "eos_token": EOT})
        )
        (folder / "vocab.json").write_text(json.dumps(vocab))
        (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges or BASE_MERGES))
        return folder
    data = {
        "version": "1.0",
        "added_tokens": [
            {
                "id": first + i,
                "content": t,
                "special": True,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
            }
            for i, t in enumerate(tokens)
        ],
        "normalizer": None,
        "pre_tokenizer": None,
        "post_processor": None,
        "decoder": None,
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "vocab": vocab,
            "merges": merges if merges is not None else BASE_MERGES,
        },
    }
    (folder / "tokenizer.json").write_text(json.dumps(data))
    return folder


def tokenizer_section(a: Path, b: Path, **kw: object) -> dict:
    section, _ = compare_artifacts(a, b, **kw)  # type: ignore[arg-type]
    assert section is not None and section["tokenizer"] is not None
    return section["tokenizer"]  # type: ignore[return-value]


def test_shared_extra_special_tokens_are_the_fingerprint(tmp_path: Path) -> None:
    own = ["<|im_start|>", "<|vision_pad|>", "<slice>"]
    a = write_tokenizer(tmp_path / "a", own)
    b = write_tokenizer(tmp_path / "b", [*own, "<|b_only|>"])
    tok = tokenizer_section(a, b)
    assert tok["shared_special_tokens"] == sorted(own)
    assert tok["shared_special_tokens_same_id"] == sorted(own)
    assert tok["base"]["recognised"] == ["gpt2"]
    assert tok["verdict"] == "shared-extensions"
    assert tok["vocab"]["identical"] is True
    assert tok["merges"]["identical"] is True
    assert tok["merges"]["common_prefix"] == len(BASE_MERGES)


def test_only_base_specials_shared_gives_an_empty_list(tmp_path: Path) -> None:
    a = write_tokenizer(tmp_path / "a", ["<|a_only|>"])
    b = write_tokenizer(tmp_path / "b", ["<|b_only|>"])
    tok = tokenizer_section(a, b)
    assert tok["shared_special_tokens"] == []
    assert tok["base"]["tokens_removed"] == 1  # <|endoftext|>
    assert tok["verdict"] == "same-vocabulary"


def test_llama3_reserved_tokens_are_not_evidence(tmp_path: Path) -> None:
    llama3 = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"] + [
        f"<|reserved_special_token_{i}|>" for i in range(10)
    ]
    a = write_tokenizer(tmp_path / "a", [*llama3, "<image>"])
    b = write_tokenizer(tmp_path / "b", [*llama3, "<image>", "<|suspect|>"])
    tok = tokenizer_section(a, b)
    assert "llama3" in tok["base"]["recognised"]
    assert tok["shared_special_tokens"] == ["<image>"]


def test_a_given_base_tokenizer_removes_its_own_tokens(tmp_path: Path) -> None:
    custom_base = write_tokenizer(tmp_path / "base", ["<|base_extra|>"])
    a = write_tokenizer(tmp_path / "a", ["<|base_extra|>", "<|mine|>"])
    b = write_tokenizer(tmp_path / "b", ["<|base_extra|>", "<|mine|>"])
    assert tokenizer_section(a, b)["shared_special_tokens"] == ["<|base_extra|>", "<|mine|>"]
    tok = tokenizer_section(a, b, base_tokenizer=custom_base / "tokenizer.json")
    assert tok["shared_special_tokens"] == ["<|mine|>"]
    assert tok["base"]["given"].endswith("tokenizer.json")


def test_config_and_vocab_files_are_read_without_tokenizer_json(tmp_path: Path) -> None:
    a = write_tokenizer(tmp_path / "a", ["<tool>"], config_only=True)
    b = write_tokenizer(tmp_path / "b", ["<tool>"])
    tok = tokenizer_section(a, b)
    assert tok["a"]["files"] == ["vocab.json", "merges.txt", "tokenizer_config.json"]
    assert tok["shared_special_tokens"] == ["<tool>"]
    assert tok["vocab"]["same_id_share"] == 1.0
    assert tok["merges"]["identical"] is True


def test_different_tokenizers_are_told_apart(tmp_path: Path) -> None:
    other_vocab = {t: i for i, t in enumerate(["x", "y", "z", "xy", "a", "b"])}
    a = write_tokenizer(tmp_path / "a", [])
    b = write_tokenizer(tmp_path / "b", [], vocab=other_vocab, merges=["x y"])
    tok = tokenizer_section(a, b)
    assert tok["verdict"] == "different"
    assert tok["vocab"]["shared"] == 2
    assert tok["vocab"]["same_id"] == 0  # "a" and "b" exist on both sides at other ids
    assert tok["merges"]["shared"] == 0


def test_probe_text_encodes_the_same_with_identical_tokenizers(tmp_path: Path) -> None:
    pytest.importorskip("tokenizers", reason="the tokenizers package is not installed")
    a = write_tokenizer(tmp_path / "a", ["<x>"])
    b = write_tokenizer(tmp_path / "b", ["<x>"])
    tok = tokenizer_section(a, b)
    assert tok["verdict"] == "identical"
    assert tok["probe"] is not None and tok["probe"]["same_ids"] is True


def test_summary_names_the_shared_tokens(tmp_path: Path) -> None:
    a = write_tokenizer(tmp_path / "a", ["<|secret|>"])
    b = write_tokenizer(tmp_path / "b", ["<|secret|>"])
    section, _ = compare_artifacts(a, b)
    assert section is not None
    text = "\n".join(summary_lines(section))
    assert "<|secret|>" in text and "tokenizer: identical" in text


def test_unreadable_tokenizer_json_is_a_warning(tmp_path: Path) -> None:
    a = write_tokenizer(tmp_path / "a", [])
    b = tmp_path / "b"
    b.mkdir()
    (b / "tokenizer.json").write_text("{not json")
    section, warnings = compare_artifacts(a, b)
    assert section is not None and section["tokenizer"] is None
    assert any(w.path == "tokenizer.json" and w.skipped for w in warnings)


def test_the_side_files_of_a_slow_tokenizer_are_read_and_a_broken_one_named(
    tmp_path: Path,
) -> None:
    from plagiarism.artifacts.discover import discover
    from plagiarism.artifacts.tokenizer import load_tokenizer

    folder = write_tokenizer(tmp_path / "m", ["<|im_start|>"], config_only=True)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config["tokenizer_class"] = "OurTokenizer"
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    (folder / "special_tokens_map.json").write_text(json.dumps({"bos_token": "<s>"}))
    (folder / "added_tokens.json").write_text("{broken")
    found, _ = discover(folder, "a")
    data, warnings = load_tokenizer(found)
    assert data is not None
    assert data.tokenizer_class == "OurTokenizer"
    assert data.roles == {"eos_token": EOT, "bos_token": "<s>"}
    assert data.added[EOT] == len(BASE_VOCAB) and "<s>" in data.added
    assert "added_tokens.json" not in data.files and "special_tokens_map.json" in data.files
    assert [w.path for w in warnings] == ["added_tokens.json"]
    assert "unreadable added_tokens.json" in warnings[0].reason
