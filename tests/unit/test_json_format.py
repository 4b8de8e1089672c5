"""The JSON writer: compact, and exact even for texts that are not valid UTF-8."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from plagiarism import Settings, compare
from plagiarism.report import json_format
from tests.conftest import CORPORA


def _result(tmp_path: Path):  # type: ignore[no-untyped-def]
    vlm = CORPORA / "vlm"
    return compare(vlm / "original", vlm / "disguised", Settings(jobs=1, cache_dir=tmp_path))


def test_written_json_reads_back_to_the_same_record(tmp_path: Path) -> None:
    r = _result(tmp_path)
    out = tmp_path / "r.json"
    json_format.write(r, out)
    back = json_format.read(out)
    assert back.pairs[0].renames == r.pairs[0].renames
    assert back.blobs == r.blobs
    assert json.loads(out.read_bytes()) == json_format.to_dict(r)


def test_a_text_with_lone_surrogates_survives(tmp_path: Path) -> None:
    # A notebook's JSON may hold "\udcff": the text keeps it, and so must the result.
    r = _result(tmp_path)
    key = next(iter(r.blobs))
    odd = dataclasses.replace(r, blobs={**r.blobs, key: r.blobs[key] + "\udcff"})
    out = tmp_path / "odd.json"
    json_format.write(odd, out)
    assert json_format.read(out).blobs[key].endswith("\udcff")
