"""Weight comparison on small checkpoints made here: each disguise and its verdict."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from plagiarism.artifacts.compare import compare_artifacts
from plagiarism.artifacts.safetensors_io import write_file

Tensors = dict[str, np.ndarray]


def make_model(seed: int, layers: int = 4, hidden: int = 64) -> Tensors:
    """A small transformer-shaped checkpoint, initialised the usual way (std 0.02)."""
    rng = np.random.default_rng(seed)
    t: Tensors = {"embed.weight": rng.normal(0, 0.02, (500, hidden)).astype(np.float32)}
    for i in range(layers):
        p = f"layers.{i}"
        for name in ("q", "k", "v", "o"):
            t[f"{p}.attn.{name}.weight"] = rng.normal(0, 0.02, (hidden, hidden)).astype(np.float32)
        t[f"{p}.mlp.up.weight"] = rng.normal(0, 0.02, (4 * hidden, hidden)).astype(np.float32)
        t[f"{p}.mlp.down.weight"] = rng.normal(0, 0.02, (hidden, 4 * hidden)).astype(np.float32)
        t[f"{p}.norm.weight"] = (1 + rng.normal(0, 0.05, hidden)).astype(np.float32)
        t[f"{p}.norm.bias"] = rng.normal(0, 0.02, hidden).astype(np.float32)
    t["position_ids"] = np.arange(128, dtype=np.int64)
    return t


def add_noise(t: Tensors, sigma: float, seed: int = 1) -> Tensors:
    rng = np.random.default_rng(seed)
    return {
        k: (v + rng.normal(0, sigma, v.shape)).astype(v.dtype) if v.dtype.kind == "f" else v
        for k, v in t.items()
    }


def save(folder: Path, tensors: Tensors, shards: int = 1, **kw: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    names = list(tensors)
    if shards == 1:
        write_file(folder / "model.safetensors", tensors, **kw)  # type: ignore[arg-type]
        return folder
    weight_map = {}
    for s in range(shards):
        part = names[s::shards]
        fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        write_file(folder / fname, {n: tensors[n] for n in part}, **kw)  # type: ignore[arg-type]
        weight_map.update({n: fname for n in part})
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    return folder


def weights(a: Path, b: Path, **kw: int) -> tuple[dict, list]:
    section, warnings = compare_artifacts(a, b, **kw)  # type: ignore[arg-type]
    assert section is not None
    return section["weights"], warnings  # type: ignore[return-value]


@pytest.fixture(scope="module")
def base() -> Tensors:
    return make_model(0)


@pytest.mark.parametrize("sigma", [1e-4, 1e-3, 5e-3, 2e-2])
def test_noised_copy_is_same_plus_noise_with_sigma_recovered(
    tmp_path: Path, base: Tensors, sigma: float
) -> None:
    a = save(tmp_path / "a", base)
    b = save(tmp_path / "b", add_noise(base, sigma))
    w, warnings = weights(a, b)
    assert w["verdict"] == "same-plus-noise"
    assert w["noise_model"] == "one-sigma"
    assert w["noise_std"] == pytest.approx(sigma, rel=0.03)
    assert w["tensors_paired"] == len(base)
    assert warnings == []


def test_identical_copy_has_zero_noise(tmp_path: Path, base: Tensors) -> None:
    w, _ = weights(save(tmp_path / "a", base), save(tmp_path / "b", base))
    assert w["verdict"] == "same-plus-noise"
    assert w["identical"] is True
    assert w["noise_std"] == 0.0


def test_independent_initialisation_is_independent(tmp_path: Path, base: Tensors) -> None:
    w, _ = weights(save(tmp_path / "a", base), save(tmp_path / "b", make_model(99)))
    assert w["verdict"] == "independent"
    assert w["noise_std"] is None
    assert abs(w["correlation"]["median"]) < 0.1


def test_low_rank_fine_tune_is_fine_tuned(tmp_path: Path, base: Tensors) -> None:
    rng = np.random.default_rng(5)
    tuned = dict(base)
    for i in range(4):  # a LoRA-style rank-4 update of the attention projections
        for name in ("q", "v"):
            key = f"layers.{i}.attn.{name}.weight"
            delta = rng.normal(0, 0.02, (64, 4)) @ rng.normal(0, 0.02, (4, 64))
            tuned[key] = (base[key] + delta).astype(np.float32)
    w, _ = weights(save(tmp_path / "a", base), save(tmp_path / "b", tuned))
    assert w["verdict"] == "fine-tuned"
    assert w["noise_std"] is None
    assert w["tensors_lowrank"] == 8
    lowrank = {row["a"] for row in w["tensors"] if row["lowrank"]}
    assert lowrank == {f"layers.{i}.attn.{n}.weight" for i in range(4) for n in ("q", "v")}


def test_full_fine_tune_with_uneven_changes_is_fine_tuned(tmp_path: Path, base: Tensors) -> None:
    rng = np.random.default_rng(6)
    tuned = {}
    for k, v in base.items():
        if v.dtype.kind != "f":
            tuned[k] = v
            continue
        scale = 4e-3 if ".mlp." in k else 1e-3  # layers learn at different rates
        tuned[k] = (v + rng.normal(0, scale, v.shape)).astype(np.float32)
    w, _ = weights(save(tmp_path / "a", base), save(tmp_path / "b", tuned))
    assert w["verdict"] == "fine-tuned"
    assert w["correlation"]["median"] > 0.9


def test_renamed_tensors_and_resplit_shards_are_still_paired(tmp_path: Path, base: Tensors) -> None:
    noised = add_noise(base, 1e-3)
    names = list(noised)
    order = np.random.default_rng(3).permutation(len(names))
    renamed = {f"model.block_{j}.param": noised[names[i]] for j, i in enumerate(order)}
    a = save(tmp_path / "a", base, shards=2)
    b = save(tmp_path / "b", renamed, shards=3)
    w, warnings = weights(a, b)
    assert w["tensors_paired"] == len(base)
    assert w["verdict"] == "same-plus-noise"
    assert w["noise_std"] == pytest.approx(1e-3, rel=0.03)
    assert w["b"]["files"] == [f"model-0000{i}-of-00003.safetensors" for i in (1, 2, 3)]
    # every pair must be the right one: its correlation is that of the noised copy
    expected = {names[i]: f"model.block_{j}.param" for j, i in enumerate(order)}
    assert {row["a"]: row["b"] for row in w["tensors"]} == expected
    assert warnings == []


def test_subsampling_uses_the_same_positions_on_both_sides(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    big = {"w": rng.normal(0, 0.02, (2000, 300)).astype(np.float32)}
    a = save(tmp_path / "a", big)
    b = save(tmp_path / "b", add_noise(big, 2e-3))
    w, _ = weights(a, b, sample=5000)
    assert w["sampling"]["tensors_subsampled"] == 1
    (row,) = w["tensors"]
    assert row["subsampled"] is True and row["elements_compared"] <= 5000
    # with positions misaligned the correlation would be ~0, not ~0.995
    assert row["correlation"] > 0.99
    assert w["noise_std"] == pytest.approx(2e-3, rel=0.05)


def test_bf16_storage_rounding_does_not_hide_the_noise(tmp_path: Path, base: Tensors) -> None:
    floats = frozenset(k for k, v in base.items() if v.dtype.kind == "f")
    a = save(tmp_path / "a", base, bf16=floats)
    b = save(tmp_path / "b", add_noise(base, 1e-3), bf16=floats)
    w, _ = weights(a, b)
    assert w["verdict"] == "same-plus-noise"
    assert w["noise_std"] == pytest.approx(1e-3, rel=0.05)
    # LayerNorm weights near 1.0 are dominated by BF16 rounding and are set aside
    limited = {row["a"] for row in w["tensors"] if row["quantization_limited"]}
    assert limited and all(".norm.weight" in name for name in limited)


def test_grown_embedding_is_compared_on_its_common_rows(tmp_path: Path, base: Tensors) -> None:
    grown = add_noise(base, 1e-3)
    extra = np.random.default_rng(4).normal(0, 0.02, (8, 64)).astype(np.float32)
    grown["embed.weight"] = np.concatenate([grown["embed.weight"], extra])
    w, _ = weights(save(tmp_path / "a", base), save(tmp_path / "b", grown))
    assert w["paired_by"]["name-resized"] == 1
    assert w["verdict"] == "same-plus-noise"


def test_truncated_shard_gives_a_warning_and_the_rest_is_compared(
    tmp_path: Path, base: Tensors
) -> None:
    a = save(tmp_path / "a", base, shards=2)
    b = save(tmp_path / "b", add_noise(base, 1e-3), shards=2)
    shard = b / "model-00002-of-00002.safetensors"
    shard.write_bytes(shard.read_bytes()[:-1000])
    w, warnings = weights(a, b)
    assert any("truncated" in x.reason and x.skipped for x in warnings)
    assert 0 < w["tensors_paired"] < len(base)
    assert w["verdict"] == "same-plus-noise"


def test_corrupt_and_oversized_headers_are_warnings_not_crashes(
    tmp_path: Path, base: Tensors
) -> None:
    a = save(tmp_path / "a", base)
    b = tmp_path / "b"
    b.mkdir()
    (b / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    section, warnings = compare_artifacts(a, b)
    assert section is not None and section["weights"] is None
    assert any("not valid JSON" in x.reason for x in warnings)

    (b / "model.safetensors").write_bytes((2**40).to_bytes(8, "little") + b"{}")
    section, warnings = compare_artifacts(a, b, max_header_bytes=1_000_000)
    assert section is not None and section["weights"] is None
    assert any("exceeds" in x.reason for x in warnings)


def test_dtype_conversion_alone_is_the_same_checkpoint(tmp_path: Path, base: Tensors) -> None:
    floats = frozenset(k for k, v in base.items() if v.dtype.kind == "f")
    w, _ = weights(save(tmp_path / "a", base), save(tmp_path / "b", base, bf16=floats))
    assert w["verdict"] == "same-plus-noise"
    assert w["noise_model"] == "unresolved"  # only rounding: no noise scale to report
    assert w["noise_std"] is None
    assert w["identical"] is False
