"""The JSON form of a Result: `to_dict` for `--json`, `from_dict` for `plagiarism report`.

The schema is documented in docs/json-schema.md. Field names here are a contract: extend,
never rename.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, Literal

import orjson

from plagiarism.artifacts import nested_within
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
    Unchanged,
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
        "unchanged": pair.unchanged,
    }


def to_dict(result: Result) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "tool": {"name": "plagiarism", "version": result.tool_version},
        "settings": result.settings,
        "sources": {"a": asdict(result.source_a), "b": asdict(result.source_b)},
        "summary": {
            **asdict(result.summary),
            "similarity": round(result.summary.similarity, 4),
            "similarity_a": round(result.summary.similarity_a, 4),
        },
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


# --- reading a result back ---------------------------------------------------------------------
# A saved result may come from anyone (attached to a complaint, downloaded with a report): what
# `plagiarism report` renders is checked against the model's field types first, so a wrong
# type is a one-line error here rather than a crash deep in the rendering, and line numbers are
# bounded, so a hostile `end_line` cannot make the report draw a billion rows.
MAX_LINE = 100_000_000


def _checker(hint: Any) -> Callable[[object], bool]:
    """A fast test that a JSON value fits the field type `hint` (dataclass-typed fields are
    built, and checked, on their own)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or (isinstance(hint, type) and dataclasses.is_dataclass(hint)):
        return lambda v: True
    if hint is int:
        return lambda v: type(v) is int and 0 <= v <= MAX_LINE * 1000
    if hint is float:
        return lambda v: type(v) in (int, float)
    if hint is bool:
        return lambda v: type(v) is bool
    if hint is str:
        return lambda v: type(v) is str
    if hint is type(None):
        return lambda v: v is None
    if origin is Literal:
        return lambda v: type(v) is str and v in args
    if origin in (typing.Union, types.UnionType):
        tests = [_checker(a) for a in args]
        return lambda v: any(t(v) for t in tests)
    if origin is tuple:
        item = _checker(args[0])
        return lambda v: type(v) is list and all(map(item, v))
    if origin is dict:
        key, value = _checker(args[0]), _checker(args[1])
        return lambda v: type(v) is dict and all(key(k) and value(x) for k, x in v.items())
    return lambda v: True


@cache
def _checks(cls: type) -> tuple[tuple[str, Callable[[object], bool]], ...]:
    hints = typing.get_type_hints(cls)
    return tuple((f.name, _checker(hints[f.name])) for f in dataclasses.fields(cls))


def _typed(cls: type, d: object, where: str) -> dict[str, Any]:
    """`d` as keyword arguments for `cls`, each present field of the right type."""
    if type(d) is not dict:
        raise ResultFormatError(f"malformed result: {where} is not an object")
    for name, ok in _checks(cls):
        if name in d and not ok(d[name]):
            raise ResultFormatError(
                f"malformed result: {where}.{name} is not what the schema says "
                f"({type(d[name]).__name__})"
            )
    return d


def _lined(cls: type, d: object, where: str) -> dict[str, Any]:
    """`_typed`, and the start and end lines in range."""
    d = _typed(cls, d, where)
    # A region may end on a line before its start (a tile's last token can sit on an earlier
    # line than its first): each end is bounded, not their order.
    for key in ("start_line", "end_line"):
        if not 1 <= d.get(key, 1) <= MAX_LINE:
            raise ResultFormatError(f"malformed result: {where}.{key} is out of range")
    return d


def _region(d: object, where: str) -> Region:
    d = _typed(Region, d, where)
    return Region(
        a=LineRange(**_lined(LineRange, d["a"], where + ".a")),
        b=LineRange(**_lined(LineRange, d["b"], where + ".b")),
        tokens=d["tokens"],
    )


def _read_pair(i: int, p: object, unchanged: Unchanged) -> Pair:
    where = f"pairs[{i}]"
    d = _typed(Pair, p, where)
    a = UnitRef(**_lined(UnitRef, d["a"], where + ".a"))
    b = UnitRef(**_lined(UnitRef, d["b"], where + ".b"))
    return Pair(
        a=a,
        b=b,
        score=d["score"],
        matched_tokens=d["matched_tokens"],
        regions=tuple(_region(r, where + ".regions") for r in d["regions"]),
        renames=tuple(Rename(**_typed(Rename, r, where + ".renames")) for r in d["renames"]),
        call_support=d.get("call_support", 0),
        one_to_one=d.get("one_to_one", True),
        identical=d.get("identical", False),
        backed_only=d.get("backed_only", False),
        # Results written before the flag: told from the texts they carry, as a run does.
        unchanged=d["unchanged"] if "unchanged" in d else unchanged(a, b),
    )


def _blobs(d: object) -> dict[str, str]:
    if type(d) is not dict or not all(type(v) is str for v in d.values()):
        raise ResultFormatError("malformed result: blobs is not an object of texts")
    return dict(d)


def _file_info(d: dict[str, Any]) -> FileInfo:
    # Results written before notebooks carried their cells have neither list.
    _typed(FileInfo, d, "files")
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
        blobs = _blobs(data.get("blobs") or {})
        unchanged = Unchanged(blobs)
        pairs = tuple(_read_pair(i, p, unchanged) for i, p in enumerate(data["pairs"]))
        artifacts, settings = data.get("artifacts"), data["settings"]
        if not (artifacts is None or (type(artifacts) is dict and nested_within(artifacts))):
            raise ResultFormatError("malformed result: artifacts is not a bounded JSON object")
        if not (type(settings) is dict and nested_within(settings)):
            raise ResultFormatError("malformed result: settings is not a bounded JSON object")
        version = data["tool"]["version"]
        if type(version) is not str:
            raise ResultFormatError("malformed result: tool.version is not text")
        return Result(
            tool_version=version,
            settings=settings,
            source_a=Source(**_typed(Source, data["sources"]["a"], "sources.a")),
            source_b=Source(**_typed(Source, data["sources"]["b"], "sources.b")),
            summary=Summary(**_typed(Summary, data["summary"], "summary")),
            pairs=pairs,
            file_pairs=tuple(
                FilePair(**_typed(FilePair, fp, "file_pairs")) for fp in data["file_pairs"]
            ),
            renames=tuple(Rename(**_typed(Rename, r, "renames")) for r in data["renames"]),
            files_a=tuple(_file_info(f) for f in data["files"]["a"]),
            files_b=tuple(_file_info(f) for f in data["files"]["b"]),
            warnings=tuple(Warning(**_typed(Warning, w, "warnings")) for w in data["warnings"]),
            blobs=blobs,
            artifacts=artifacts,
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
    except RecursionError:
        raise ResultFormatError(f"{path} is nested too deeply to be a result") from None
    return from_dict(data)
