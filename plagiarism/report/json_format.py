"""The JSON form of a Result: `to_dict` for `--json`, `from_dict` for `plagiarism report`.

The schema is documented in docs/json-schema.md. Field names here are a contract: extend,
never rename.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

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


def _unit(ref: UnitRef) -> dict[str, Any]:
    return asdict(ref)


def _pair(index: int, pair: Pair) -> dict[str, Any]:
    return {
        "id": index,
        "a": _unit(pair.a),
        "b": _unit(pair.b),
        "score": round(pair.score, 4),
        "matched_tokens": pair.matched_tokens,
        "regions": [asdict(r) for r in pair.regions],
        "renames": [asdict(r) for r in pair.renames],
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


def dumps(result: Result) -> str:
    return json.dumps(to_dict(result), indent=2, ensure_ascii=False)


def write(result: Result, path: Path) -> None:
    path.write_text(dumps(result) + "\n", encoding="utf-8")


def _region(d: dict[str, Any]) -> Region:
    return Region(a=LineRange(**d["a"]), b=LineRange(**d["b"]), tokens=d["tokens"])


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
            files_a=tuple(FileInfo(**f) for f in data["files"]["a"]),
            files_b=tuple(FileInfo(**f) for f in data["files"]["b"]),
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
