"""The JSON writer: compact, and exact even for texts that are not valid UTF-8."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from plagiarism import Settings, compare
from plagiarism.errors import ResultFormatError
from plagiarism.model import Warning
from plagiarism.report import json_format
from plagiarism.report.text import render
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


def test_a_result_from_before_the_share_of_a_reads_without_it(tmp_path: Path) -> None:
    # Results written before `similarity_a` have no tokens of A: the summary must not read
    # "0 % of A's code is found in B" for a share that was never measured.
    data = json_format.to_dict(_result(tmp_path))
    fresh = render(json_format.from_dict(data)).splitlines()[3]
    assert fresh.endswith("; 83% of A's code is found in B.")
    for key in ("similarity_a", "tokens_a", "matched_tokens_a"):
        del data["summary"][key]
    old = json_format.from_dict(data)
    assert old.summary.tokens_a == 0
    assert render(old).splitlines()[3].endswith("(similarity 0.827).")


# A saved result may come from anyone: what `plagiarism report` reads back is checked first.
def _tampered(tmp_path: Path, change) -> Path:  # type: ignore[no-untyped-def]
    data = json_format.to_dict(_result(tmp_path))
    change(data)
    out = tmp_path / "tampered.json"
    out.write_text(json.dumps(data))
    return out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["pairs"][0]["a"].update(start_line="12"), r"pairs\[0\]\.a\.start_line"),
        (lambda d: d["pairs"][0]["b"].update(end_line=0), r"pairs\[0\]\.b\.end_line"),
        (lambda d: d["pairs"][0].update(score=None), r"pairs\[0\]\.score"),
        (lambda d: d["pairs"][0]["regions"][0]["a"].update(end_line=-3), r"regions\.a\.end_line"),
        (lambda d: d["warnings"].append({"side": "c", "path": None, "reason": "x"}), "warnings"),
        (lambda d: d["files"]["b"][0].update(cell_starts=["1"]), r"files\.cell_starts"),
        (lambda d: d.update(blobs={"x": 3}), "blobs"),
        (lambda d: d.update(artifacts={"x": json.loads("[" * 150 + "]" * 150)}), "artifacts"),
        (lambda d: d["summary"].update(similarity="high"), r"summary\.similarity"),
    ],
)
def test_a_tampered_result_is_a_one_line_error(tmp_path: Path, change, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ResultFormatError, match=message):
        json_format.read(_tampered(tmp_path, change))


def test_a_result_nested_past_the_decoder_is_an_error_not_a_crash(tmp_path: Path) -> None:
    out = tmp_path / "deep.json"
    out.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(ResultFormatError, match="nested too deeply"):
        json_format.read(out)


def test_the_summary_lists_missing_evidence_before_notes(tmp_path: Path) -> None:
    # Eighty notes on symlinks compared once must not push the one unreadable file out of
    # the ten warnings the terminal shows.
    notes = tuple(
        Warning("b", f"d{i}/prepare.py", "symlink to t.py, compared as t.py") for i in range(80)
    )
    lost = Warning("b", "nb.ipynb", "its content is missing from the repository", skipped=True)
    r = dataclasses.replace(_result(tmp_path), warnings=(*notes, lost))
    shown = render(r).split("Warnings: 81 (1 of them about evidence missing")[1].splitlines()
    assert shown[1] == "  B nb.ipynb: its content is missing from the repository"
    assert shown[-1] == "  ... 71 more (see --json or --html)"
