"""The JSON form of a Result: `to_dict` for `--json`, `from_dict` for `plagiarism report`.

The schema is documented in docs/json-schema.md. Field names here are a contract: extend,
never rename.
"""

from __future__ import annotations

import dataclasses
import json
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from plagiarism.errors import ResultFormatError
from plagiarism.model import (
    SCHEMA_VERSION,
    FileInfo,
    FilePair,
    LineRange,
    Pair,
    Region,
    Rename,
    Result,
    Source,
    Summary,
    UnitRef,
    Warning,
)


@cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def asdict(obj: Any) -> Any:
    """`dataclasses.asdict` without its deep copies: the model holds only frozen dataclasses,
    tuples and plain values, and a big result has millions of them (the stdlib version took
    most of the time of writing a transformers-sized result)."""
    if isinstance(obj, str | int | float | None):
        return obj
    if isinstance(obj, tuple | list):
        return [asdict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: asdict(v) for k, v in obj.items()}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {name: asdict(getattr(obj, name)) for name in _field_names(type(obj))}
    return obj


# The per-pair records are spelled out: a transformers-sized result has ~100k of them, and
# these literals are several times faster than the generic walk.
def _unit(ref: UnitRef) -> dict[str, Any]:
    return {
        "path": ref.path,
        "name": ref.name,
        "kind": ref.kind,
        "start_line": ref.start_line,
        "end_line": ref.end_line,
        "tokens": ref.tokens,
        "file_sha256": ref.file_sha256,
    }


def _region_dict(r: Region) -> dict[str, Any]:
    return {
        "a": {"start_line": r.a.start_line, "end_line": r.a.end_line},
        "b": {"start_line": r.b.start_line, "end_line": r.b.end_line},
        "tokens": r.tokens,
    }


def _rename_dict(r: Rename) -> dict[str, Any]:
    return {"a": r.a, "b": r.b, "count": r.count}


def _pair(index: int, pair: Pair) -> dict[str, Any]:
    return {
        "id": index,
        "a": _unit(pair.a),
        "b": _unit(pair.b),
        "score": round(pair.score, 4),
        "matched_tokens": pair.matched_tokens,
        "regions": [_region_dict(r) for r in pair.regions],
        "renames": [_rename_dict(r) for r in pair.renames],
        "call_support": pair.call_support,
        "one_to_one": pair.one_to_one,
        "identical": pair.identical,
        "backed_only": pair.backed_only,
    }


def to_dict(result: Result) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "tool": {"name": "plagiarism", "version": result.tool_version},
        "settings": result.settings,
        "sources": {"a": asdict(result.source_a), "b": asdict(result.source_b)},
        "summary": {**asdict(result.summary), "similarity": round(result.summary.similarity, 4)},
        "finding": result.finding,
        "pairs": [_pair(i + 1, p) for i, p in enumerate(result.pairs)],
        "file_pairs": [asdict(fp) for fp in result.file_pairs],
        "renames": [asdict(r) for r in result.renames],
        "files": {
            "a": [asdict(f) for f in result.files_a],
            "b": [asdict(f) for f in result.files_b],
        },
        "warnings": [asdict(w) for w in result.warnings],
        "artifacts": result.artifacts,
        "blobs": result.blobs,
    }


def dumps_bytes(result: Result) -> bytes:
    # Compact UTF-8: a transformers-sized result is ~100 MB, and indenting it (or the
    # stdlib encoder) cost over a second of a ten-second run. Readers use `plagiarism
    # report` or jq, not their eyes.
    data = to_dict(result)
    try:
        return orjson.dumps(data)
    except (orjson.JSONEncodeError, TypeError):
        # A text with lone surrogates (a file in an odd encoding, kept byte for byte) is not
        # UTF-8; the stdlib writes it as \u escapes, which every reader accepts.
        return json.dumps(data, separators=(",", ":")).encode("ascii")


def dumps(result: Result) -> str:
    return dumps_bytes(result).decode("utf-8")


def write(result: Result, path: Path) -> None:
    data = dumps_bytes(result)
    # Two writes, not one of `data + b"\n"`: that copy of a transformers-sized result
    # (~110 MB) cost ~60 ms of a warm run.
    with path.open("wb") as f:
        f.write(data)
        f.write(b"\n")


def _region(d: dict[str, Any]) -> Region:
    return Region(a=LineRange(**d["a"]), b=LineRange(**d["b"]), tokens=d["tokens"])


def _file_info(d: dict[str, Any]) -> FileInfo:
    # Results written before notebooks carried their cells have neither list.
    return FileInfo(
        **{
            **d,
            "cell_starts": tuple(d.get("cell_starts", ())),
            "cell_numbers": tuple(d.get("cell_numbers", ())),
        }
    )


def from_dict(data: dict[str, Any]) -> Result:
    if not isinstance(data, dict) or data.get("schema") != SCHEMA_VERSION:
        found = data.get("schema") if isinstance(data, dict) else None
        raise ResultFormatError(
            f"not a plagiarism result of schema {SCHEMA_VERSION} (found schema {found!r})"
        )
    try:
        pairs = tuple(
            Pair(
                a=UnitRef(**p["a"]),
                b=UnitRef(**p["b"]),
                score=p["score"],
                matched_tokens=p["matched_tokens"],
                regions=tuple(_region(r) for r in p["regions"]),
                renames=tuple(Rename(**r) for r in p["renames"]),
                call_support=p.get("call_support", 0),
                one_to_one=p.get("one_to_one", True),
                identical=p.get("identical", False),
                backed_only=p.get("backed_only", False),
            )
            for p in data["pairs"]
        )
        return Result(
            tool_version=data["tool"]["version"],
            settings=data["settings"],
            source_a=Source(**data["sources"]["a"]),
            source_b=Source(**data["sources"]["b"]),
            summary=Summary(**data["summary"]),
            pairs=pairs,
            file_pairs=tuple(FilePair(**fp) for fp in data["file_pairs"]),
            renames=tuple(Rename(**r) for r in data["renames"]),
            files_a=tuple(_file_info(f) for f in data["files"]["a"]),
            files_b=tuple(_file_info(f) for f in data["files"]["b"]),
            warnings=tuple(Warning(**w) for w in data["warnings"]),
            blobs=dict(data.get("blobs") or {}),
            artifacts=data.get("artifacts"),
            finding=bool(data.get("finding", False)),
        )
    except (KeyError, TypeError) as exc:
        raise ResultFormatError(f"malformed result: {exc}") from None


def read(path: Path) -> Result:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultFormatError(f"no such file: {path}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultFormatError(f"{path} is not JSON: {exc}") from None
    return from_dict(data)
