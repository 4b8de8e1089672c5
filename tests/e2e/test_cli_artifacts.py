"""Model evidence through the CLI: a noised checkpoint and copied special tokens are findings
on their own, even when no code is shared; an independent checkpoint is not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from plagiarism.config import Settings
from plagiarism.errors import ArtifactError
from plagiarism.executor import LocalProcesses, Serial
from plagiarism.pipeline import compare
from tests.conftest import write_tree
from tests.e2e.test_cli import UNRELATED, run
from tests.unit.test_artifacts_weights import add_noise, make_model, save


def _tokenizer(folder: Path, extra: list[str]) -> None:
    vocab = {f"tok{i}": i for i in range(200)}
    added = [
        {"id": 200 + i, "content": t, "special": True, "single_word": False, "lstrip": False,
         "rstrip": False, "normalized": False}
        for i, t in enumerate(extra)
    ]  # fmt: skip
    data = {
        "version": "1.0",
        "added_tokens": added,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "tok0"},
    }
    (folder / "tokenizer.json").write_text(json.dumps(data), encoding="utf-8")


def test_noised_weights_and_copied_special_tokens_are_findings(tmp_path: Path) -> None:
    base = make_model(seed=0)
    write_tree(tmp_path / "a", {"train.py": UNRELATED})
    write_tree(tmp_path / "b", {"run.py": "print('hello')\n"})
    save(tmp_path / "a", base)
    save(tmp_path / "b", add_noise(base, sigma=1e-3), shards=2)
    _tokenizer(tmp_path / "a", ["<slice>", "</slice>", "<image_id>"])
    _tokenizer(tmp_path / "b", ["<slice>", "</slice>", "<image_id>"])
    out = tmp_path / "r.json"
    res = run("compare", str(tmp_path / "a"), str(tmp_path / "b"), "--json", str(out))
    assert res.returncode == 1, res.stdout + res.stderr
    art = json.loads(out.read_text())["artifacts"]
    assert art["weights"]["verdict"] == "same-plus-noise"
    assert abs(art["weights"]["noise_std"] - 1e-3) < 2e-4
    assert art["weights"]["tensors_paired"] > 0
    assert sorted(art["tokenizer"]["shared_special_tokens"]) == [
        "</slice>",
        "<image_id>",
        "<slice>",
    ]
    assert "Model artifacts:" in res.stdout and "same-plus-noise" in res.stdout


def test_independent_weights_are_not_a_finding(tmp_path: Path) -> None:
    write_tree(tmp_path / "a", {"train.py": UNRELATED})
    write_tree(tmp_path / "b", {"run.py": "print('hello')\n"})
    save(tmp_path / "ma", make_model(seed=0))
    save(tmp_path / "mb", make_model(seed=7))
    out = tmp_path / "r.json"
    res = run(
        "compare", str(tmp_path / "a"), str(tmp_path / "b"), "--json", str(out),
        "--model-a", str(tmp_path / "ma"), "--model-b", str(tmp_path / "mb"),
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    assert json.loads(out.read_text())["artifacts"]["weights"]["verdict"] == "independent"


def test_a_missing_model_folder_is_an_input_error(tmp_path: Path) -> None:
    write_tree(tmp_path / "a", {"m.py": UNRELATED})
    res = run("compare", str(tmp_path / "a"), str(tmp_path / "a"), "--model-a", str(tmp_path / "x"))
    assert res.returncode == 2 and res.stderr.startswith("error: ")


def test_artifacts_compared_in_a_worker_are_the_same_evidence(tmp_path: Path) -> None:
    # With a pool running, the artifacts are compared in a worker beside the code stages
    # (`Executor.aside`); the evidence, and a usage error, must reach the result unchanged.
    base = make_model(seed=0)
    write_tree(tmp_path / "a", {"train.py": UNRELATED})
    write_tree(tmp_path / "b", {"run.py": "print('hello')\n"})
    save(tmp_path / "a", base)
    save(tmp_path / "b", add_noise(base, sigma=1e-3))
    _tokenizer(tmp_path / "a", ["<slice>", "<image_id>"])
    _tokenizer(tmp_path / "b", ["<slice>", "<image_id>"])
    a, b = tmp_path / "a", tmp_path / "b"
    serial = compare(a, b, Settings(cache_dir=tmp_path / "c1", jobs=1), executor=Serial())
    pool = LocalProcesses(2, min_items=1)  # the parse starts it, so the artifacts go aside
    try:
        pooled = compare(a, b, Settings(cache_dir=tmp_path / "c2"), executor=pool)
        with pytest.raises(ArtifactError, match="--model-a folder not found"):
            compare(
                a, b, Settings(cache_dir=tmp_path / "c3"), executor=pool,
                model_a=tmp_path / "missing",
            )  # fmt: skip
    finally:
        pool.close()
    assert serial.artifacts is not None
    assert pooled.artifacts == serial.artifacts
    weights = pooled.artifacts["weights"]
    assert isinstance(weights, dict) and weights["verdict"] == "same-plus-noise"
    assert pooled.warnings == serial.warnings
