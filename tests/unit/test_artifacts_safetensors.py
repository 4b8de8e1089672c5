"""The safetensors reader: round trips, the reference library's files, and hostile files."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from plagiarism.artifacts.safetensors_io import (
    TensorReader,
    decode,
    read_header,
    write_file,
)
from plagiarism.errors import ArtifactError


def _tensors() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "w": rng.normal(0, 1, (7, 5)).astype(np.float32),
        "h": rng.normal(0, 1, (3, 4)).astype(np.float16),
        "ids": np.arange(6, dtype=np.int64).reshape(2, 3),
        "mask": np.array([True, False, True]),
        "scalar": np.array(2.5, dtype=np.float64),
    }


def _read_all(path: Path) -> dict[str, np.ndarray]:
    header = read_header(path)
    out = {}
    with TensorReader() as reader:
        for info in header.tensors:
            raw = np.array(reader.raw(info))
            out[info.name] = decode(raw, info.dtype) if info.is_float else raw
    return out


def test_round_trip_keeps_values_shapes_and_dtypes(tmp_path: Path) -> None:
    tensors = _tensors()
    path = tmp_path / "m.safetensors"
    write_file(path, tensors, {"format": "np"})
    header = read_header(path)
    assert header.metadata == {"format": "np"}
    assert {t.name: t.dtype for t in header.tensors} == {
        "w": "F32",
        "h": "F16",
        "ids": "I64",
        "mask": "BOOL",
        "scalar": "F64",
    }
    back = _read_all(path)
    for name, arr in tensors.items():
        assert back[name].shape == arr.shape
        np.testing.assert_array_equal(back[name].astype(arr.dtype), arr)


def test_bf16_is_decoded_by_shifting_into_float32(tmp_path: Path) -> None:
    values = np.array([1.0, -2.5, 0.15625, 3.0e-3, 65504.0], dtype=np.float32)
    path = tmp_path / "b.safetensors"
    write_file(path, {"x": values}, bf16=frozenset({"x"}))
    (info,) = read_header(path).tensors
    assert info.dtype == "BF16"
    back = _read_all(path)["x"]
    # bfloat16 keeps 8 bits of mantissa: relative error below 2^-8
    np.testing.assert_allclose(back, values, rtol=2**-8)
    assert back[0] == 1.0 and back[1] == -2.5


def test_fp8_decoding_matches_known_values() -> None:
    e4m3 = np.array([0x38, 0xB8, 0x7E, 0x01, 0x00], dtype=np.uint8)
    np.testing.assert_array_equal(decode(e4m3, "F8_E4M3"), [1.0, -1.0, 448.0, 2.0**-9, 0.0])
    e5m2 = np.array([0x3C, 0xC0, 0x7B], dtype=np.uint8)
    np.testing.assert_array_equal(decode(e5m2, "F8_E5M2"), [1.0, -2.0, 57344.0])


def test_reads_what_the_reference_library_writes(tmp_path: Path) -> None:
    st = pytest.importorskip("safetensors.numpy", reason="the safetensors package is not installed")
    tensors = {k: v for k, v in _tensors().items() if k != "scalar"}
    path = tmp_path / "ref.safetensors"
    st.save_file(tensors, str(path))
    back = _read_all(path)
    for name, arr in tensors.items():
        np.testing.assert_array_equal(back[name].astype(arr.dtype), arr)
    # and the reference library reads ours
    ours = tmp_path / "ours.safetensors"
    write_file(ours, tensors)
    loaded = st.load_file(str(ours))
    for name, arr in tensors.items():
        np.testing.assert_array_equal(loaded[name], arr)


def test_truncated_file_keeps_complete_tensors_and_names_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "t.safetensors"
    write_file(path, {"a": np.ones(100, np.float32), "b": np.zeros(100, np.float32)})
    data = path.read_bytes()
    path.write_bytes(data[:-50])  # cut into the last tensor
    header = read_header(path)
    assert [t.name for t in header.tensors] == ["a"]
    assert len(header.problems) == 1 and "truncated" in header.problems[0]


def test_oversized_header_is_refused_before_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "big.safetensors"
    path.write_bytes(struct.pack("<Q", 10**12) + b"{}")
    with pytest.raises(ArtifactError, match="exceeds"):
        read_header(path, max_header_bytes=1000)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"abc", "shorter than 8 bytes"),
        (struct.pack("<Q", 100) + b"{}", "runs past the end"),
        (struct.pack("<Q", 4) + b"\xff\xfe{}", "not valid JSON"),
        (struct.pack("<Q", 2) + b"[]", "not a JSON object"),
    ],
)
def test_corrupt_files_raise_a_clear_artifact_error(
    tmp_path: Path, payload: bytes, message: str
) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(payload)
    with pytest.raises(ArtifactError, match=message):
        read_header(path)


def test_entries_with_lying_offsets_are_skipped_not_trusted(tmp_path: Path) -> None:
    header = {
        "ok": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "wrong_len": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]},
        "negative": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]},
        "dtype": {"dtype": "F4", "shape": [2], "data_offsets": [0, 1]},
        "shape": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]},
    }
    blob = json.dumps(header).encode()
    path = tmp_path / "lie.safetensors"
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + np.ones(2, np.float32).tobytes())
    parsed = read_header(path)
    assert [t.name for t in parsed.tensors] == ["ok"]
    assert len(parsed.problems) == 4


def test_mangled_files_never_crash_the_comparison(tmp_path: Path) -> None:
    hypothesis = pytest.importorskip("hypothesis")
    from hypothesis import strategies as st

    from plagiarism.artifacts.compare import compare_artifacts

    rng = np.random.default_rng(1)
    good = {"w": rng.normal(0, 0.02, (64, 32)).astype(np.float32), "b": np.ones(32, np.float16)}
    a = tmp_path / "a"
    b = tmp_path / "b"
    a.mkdir()
    b.mkdir()
    write_file(a / "model.safetensors", good)
    write_file(b / "model.safetensors", good)
    pristine = (b / "model.safetensors").read_bytes()

    @hypothesis.settings(max_examples=60, deadline=None, database=None)
    @hypothesis.given(
        cut=st.integers(0, len(pristine)),
        flips=st.lists(
            st.tuples(st.integers(0, len(pristine) - 1), st.integers(0, 255)), max_size=6
        ),
    )
    def mangle(cut: int, flips: list[tuple[int, int]]) -> None:
        data = bytearray(pristine)
        for pos, value in flips:
            data[pos] = value
        (b / "model.safetensors").write_bytes(bytes(data[:cut]) if cut > 8 else bytes(data))
        section, _ = compare_artifacts(a, b, max_header_bytes=1_000_000)
        assert section is not None
        json.dumps(section, allow_nan=False)

    mangle()
