"""Reading (and, for tests and benchmarks, writing) safetensors files without trusting them.

The format is an 8-byte little-endian header length, a JSON header mapping tensor names to
dtype, shape and [start, end) byte offsets into the data region, then the data region. We parse
it ourselves rather than through `safetensors.safe_open` so that every check on untrusted input
is ours and explicit: a header-size cap, offsets validated against the real file size (a
truncated download is the common case), and reads that are memory-mapped slices, so a 16 GB
checkpoint is never loaded whole.
"""

from __future__ import annotations

import json
import logging
import math
import mmap
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from plagiarism.artifacts import LFS_POINTER, read_json
from plagiarism.errors import ArtifactError
from plagiarism.git import LFS_POINTER_MAX_BYTES, is_lfs_pointer

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float32] | npt.NDArray[np.float64]

# dtype name -> (numpy storage dtype, bytes per element, is floating point). BF16 and F8 are
# stored as raw unsigned integers and decoded by `decode`.
DTYPES: dict[str, tuple[str, int, bool]] = {
    "F64": ("<f8", 8, True),
    "F32": ("<f4", 4, True),
    "F16": ("<f2", 2, True),
    "BF16": ("<u2", 2, True),
    "F8_E4M3": ("u1", 1, True),
    "F8_E5M2": ("u1", 1, True),
    "I64": ("<i8", 8, False),
    "I32": ("<i4", 4, False),
    "I16": ("<i2", 2, False),
    "I8": ("i1", 1, False),
    "U64": ("<u8", 8, False),
    "U32": ("<u4", 4, False),
    "U16": ("<u2", 2, False),
    "U8": ("u1", 1, False),
    "BOOL": ("u1", 1, False),
}

_MAX_DIMS = 8  # no real tensor has more; a header that says otherwise is corrupt or hostile


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """One tensor as its header describes it, with offsets already validated."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    path: Path  # the .safetensors file holding it
    start: int  # absolute byte offset in the file
    end: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def is_float(self) -> bool:
        return DTYPES[self.dtype][2]


@dataclass(frozen=True, slots=True)
class Header:
    path: Path
    size: int  # file size in bytes
    tensors: tuple[TensorInfo, ...]
    metadata: dict[str, str]
    problems: tuple[str, ...]  # tensors skipped and why (truncation, bad offsets, odd dtypes)


def read_header(path: Path, max_header_bytes: int = 100_000_000) -> Header:
    """Parse and validate a safetensors header; raise ArtifactError when the file is unusable.

    Tensors that are individually broken (offset past the end of a truncated file, unknown
    dtype) are left out and listed in `problems`, so one bad tensor does not hide the rest.
    """
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            prefix = fh.read(8)
            if len(prefix) < 8:
                raise ArtifactError(f"{path.name}: not a safetensors file (shorter than 8 bytes)")
            if size <= LFS_POINTER_MAX_BYTES and is_lfs_pointer(prefix + fh.read(64)):
                raise ArtifactError(f"{path.name}: {LFS_POINTER}")
            fh.seek(8)
            (hlen,) = struct.unpack("<Q", prefix)
            if hlen > max_header_bytes:
                raise ArtifactError(
                    f"{path.name}: safetensors header of {hlen} bytes exceeds the "
                    f"{max_header_bytes}-byte limit (corrupt or hostile file)"
                )
            if 8 + hlen > size:
                raise ArtifactError(
                    f"{path.name}: header length {hlen} runs past the end of the "
                    f"{size}-byte file (truncated or not safetensors)"
                )
            raw = fh.read(hlen)
    except OSError as exc:
        raise ArtifactError(f"{path.name}: cannot read: {exc.strerror or exc}") from exc
    try:
        header = read_json(raw.decode("utf-8"))
    except ValueError as exc:  # undecodable, malformed, or nested to break the reader
        raise ArtifactError(f"{path.name}: safetensors header is not valid JSON ({exc})") from exc
    if not isinstance(header, dict):
        raise ArtifactError(f"{path.name}: safetensors header is not a JSON object")

    data_start = 8 + hlen
    data_len = size - data_start
    metadata: dict[str, str] = {}
    problems: list[str] = []
    tensors: list[TensorInfo] = []
    for name, entry in header.items():
        if name == "__metadata__":
            if isinstance(entry, dict):
                metadata = {str(k): str(v)[:1000] for k, v in list(entry.items())[:100]}
            continue
        problem = _validate_entry(entry, data_len)
        if problem:
            problems.append(f"{name[:200]}: {problem}")
            continue
        start, end = entry["data_offsets"]
        tensors.append(
            TensorInfo(
                name=str(name),
                dtype=entry["dtype"],
                shape=tuple(entry["shape"]),
                path=path,
                start=data_start + start,
                end=data_start + end,
            )
        )
    return Header(path, size, tuple(tensors), metadata, tuple(problems))


def _validate_entry(entry: object, data_len: int) -> str | None:
    if not isinstance(entry, dict):
        return "entry is not an object"
    dtype = entry.get("dtype")
    shape = entry.get("shape")
    offsets = entry.get("data_offsets")
    if dtype not in DTYPES:
        return f"unsupported dtype {str(dtype)[:20]!r}"
    if (
        not isinstance(shape, list)
        or len(shape) > _MAX_DIMS
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    ):
        return "invalid shape"
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
    ):
        return "invalid data_offsets"
    start, end = offsets
    if not 0 <= start <= end:
        return "invalid data_offsets"
    if end > data_len:
        return f"data ends at byte {end} but the data region holds {data_len} (truncated file)"
    if end - start != math.prod(shape) * DTYPES[dtype][1]:
        return "byte length does not match shape and dtype"
    return None


class TensorReader:
    """Memory-mapped access to tensors, one mapping per file, released on `close`.

    Mapped pages are file-backed: touching a sample brings in only the pages it spans, and
    `close` unmaps them so resident memory does not accumulate over a large checkpoint.
    """

    def __init__(self) -> None:
        self._maps: dict[Path, mmap.mmap] = {}

    def _map(self, path: Path) -> mmap.mmap:
        mm = self._maps.get(path)
        if mm is None:
            with path.open("rb") as fh:
                mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
            self._maps[path] = mm
        return mm

    def raw(self, info: TensorInfo) -> npt.NDArray[np.generic]:
        """The tensor's stored values as a read-only array view (no copy)."""
        storage = DTYPES[info.dtype][0]
        try:
            mm = self._map(info.path)
            if info.end > len(mm):
                raise ArtifactError(f"{info.path.name}: {info.name} lies past the end of the file")
            arr = np.frombuffer(mm, dtype=np.dtype(storage), count=info.numel, offset=info.start)
        except (OSError, ValueError) as exc:
            raise ArtifactError(f"{info.path.name}: cannot map {info.name}: {exc}") from exc
        return arr.reshape(info.shape)

    def close(self, path: Path | None = None) -> None:
        paths = [path] if path is not None else list(self._maps)
        for p in paths:
            mm = self._maps.pop(p, None)
            if mm is not None:
                try:
                    mm.close()
                except BufferError:
                    # A numpy view still references the map; it is unmapped when collected.
                    pass

    def __enter__(self) -> TensorReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _e4m3_table() -> npt.NDArray[np.float32]:
    # FP8 E4M3FN (the variant safetensors stores): bias 7, no infinities, 0x7F/0xFF are NaN.
    table = np.empty(256, dtype=np.float32)
    for byte in range(256):
        sign = -1.0 if byte & 0x80 else 1.0
        exp = (byte >> 3) & 0xF
        man = byte & 0x7
        if exp == 0xF and man == 0x7:
            table[byte] = np.nan
        elif exp == 0:
            table[byte] = sign * (man / 8.0) * 2.0**-6
        else:
            table[byte] = sign * (1.0 + man / 8.0) * 2.0 ** (exp - 7)
    return table


_E4M3 = _e4m3_table()


def decode(values: npt.NDArray[np.generic], dtype: str) -> FloatArray:
    """Stored values (any shape, already sliced) -> float32 (float64 for F64)."""
    if dtype == "F64":
        return np.asarray(values, dtype=np.float64)
    if dtype == "BF16":
        # bfloat16 is the top half of a float32: shift the 16 bits into place.
        wide = np.asarray(values, dtype=np.uint16).astype(np.uint32) << 16
        return wide.view(np.float32)
    if dtype == "F8_E5M2":
        # E5M2 is the top byte of an IEEE half.
        half = (np.asarray(values, dtype=np.uint8).astype(np.uint16) << 8).view(np.float16)
        return half.astype(np.float32)
    if dtype == "F8_E4M3":
        return _E4M3[np.asarray(values, dtype=np.uint8)]
    return np.asarray(values).astype(np.float32)


_WRITE_NAMES = {
    np.dtype("<f8"): "F64",
    np.dtype("<f4"): "F32",
    np.dtype("<f2"): "F16",
    np.dtype("<i8"): "I64",
    np.dtype("<i4"): "I32",
    np.dtype("<i2"): "I16",
    np.dtype("i1"): "I8",
    np.dtype("u1"): "U8",
    np.dtype("bool"): "BOOL",
}


def write_file(
    path: Path,
    tensors: Mapping[str, npt.NDArray[np.generic]],
    metadata: Mapping[str, str] | None = None,
    *,
    bf16: frozenset[str] = frozenset(),
) -> None:
    """Write a safetensors file (used by the tests and the benchmark to build checkpoints).

    Tensors named in `bf16` must be float32 arrays and are stored as BF16 (truncated).
    Tensors are written one at a time so a benchmark checkpoint never needs two copies.
    """
    header: dict[str, object] = {}
    if metadata:
        header["__metadata__"] = dict(metadata)
    offset = 0
    for name, arr in tensors.items():
        if name in bf16:
            dtype_name, nbytes = "BF16", arr.size * 2
        else:
            dtype_name, nbytes = _WRITE_NAMES[arr.dtype.newbyteorder("<")], arr.nbytes
        header[name] = {
            "dtype": dtype_name,
            "shape": list(arr.shape),
            "data_offsets": [offset, offset + nbytes],
        }
        offset += nbytes
    blob = json.dumps(header, separators=(",", ":")).encode("utf-8")
    blob += b" " * (-len(blob) % 8)  # the format pads the header so the data is 8-byte aligned
    with path.open("wb") as fh:
        fh.write(struct.pack("<Q", len(blob)))
        fh.write(blob)
        for name, arr in tensors.items():
            if name in bf16:
                bits = np.ascontiguousarray(arr, dtype=np.float32).view(np.uint32) >> 16
                fh.write(bits.astype("<u2").tobytes())
            else:
                fh.write(np.ascontiguousarray(arr).tobytes())
