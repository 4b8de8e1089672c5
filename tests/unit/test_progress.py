"""Stage timing: every stage a comparison goes through is logged with its duration."""

from __future__ import annotations

import logging

import pytest

from plagiarism import Settings, compare
from plagiarism.progress import Silent, Timed
from tests.conftest import CORPORA


def test_each_stage_is_timed_once_it_ends(caplog: pytest.LogCaptureFixture) -> None:
    timed = Timed(Silent())
    with caplog.at_level(logging.INFO, logger="plagiarism.progress"):
        timed.stage("one", total=3)
        timed.advance(3)
        timed.stage("two")
        assert list(timed.seconds) == ["one"]  # a stage is timed when the next begins
        timed.done()
    assert list(timed.seconds) == ["one", "two"]
    assert all(s >= 0 for s in timed.seconds.values())
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["stage one", "stage two"]


def test_a_comparison_logs_its_stages(caplog: pytest.LogCaptureFixture, tmp_path) -> None:  # type: ignore[no-untyped-def]
    vlm = CORPORA / "vlm"
    with caplog.at_level(logging.INFO, logger="plagiarism.progress"):
        compare(vlm / "original", vlm / "disguised", Settings(jobs=1, cache_dir=tmp_path))
    stages = [
        r.getMessage().split(":")[0] for r in caplog.records if r.name == "plagiarism.progress"
    ]
    for name in (
        "reading A",
        "reading B",
        "parsing",
        "resolving",
        "fingerprints",
        "aligning",
        "matching",
    ):
        assert f"stage {name}" in stages
