"""Per-file work: the same result for any --jobs, reuse of the on-disk cache, recomputation of a
damaged entry, and the same result on a two-worker Dask cluster as on this machine."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from plagiarism import normalize, pipeline
from plagiarism.cache import AnalysisCache
from plagiarism.config import Settings
from plagiarism.executor import MIN_ITEMS_FOR_POOL, Serial
from plagiarism.model import Side, SourceFile, Warning
from plagiarism.normalize import FileAnalysis
from plagiarism.pipeline import compare
from tests.conftest import CORPORA

VLM = CORPORA / "vlm"
COPIES = 7  # enough distinct files per side for the process pool to start


def _spread(src: Path, dst: Path) -> int:
    """COPIES of a project under one root, each file made distinct by a trailing comment, so the
    run has more distinct contents than the pool's threshold."""
    count = 0
    for i in range(COPIES):
        for path in sorted(src.rglob("*")):
            if path.suffix not in (".py", ".ipynb"):
                continue
            target = dst / f"copy{i}" / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix == ".py":
                target.write_text(path.read_text(encoding="utf-8") + f"\n# copy {i}\n")
            else:
                shutil.copyfile(path, target)
            count += 1
    return count


@pytest.fixture(scope="module")
def sides(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("sides")
    n_a = _spread(VLM / "original", root / "a")
    n_b = _spread(VLM / "disguised", root / "b")
    assert min(n_a, n_b) >= MIN_ITEMS_FOR_POOL
    assert min(len(distinct(root / "a")), len(distinct(root / "b"))) >= MIN_ITEMS_FOR_POOL
    return root / "a", root / "b"


def distinct(root: Path) -> set[str]:
    """The distinct contents of a side's files: what the cache holds one entry for."""
    return {
        hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.suffix in (".py", ".ipynb")
    }


def run(*args: str) -> subprocess.CompletedProcess[str]:
    # A fixed hash seed: the runs compared here differ only in what is under test.
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "PYTHONHASHSEED": "0"}
    return subprocess.run(
        [sys.executable, "-m", "plagiarism.cli", "-v", *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=600,
    )


def counts(stderr: str) -> tuple[int, int, int]:
    """(hits, misses, corrupt) of the analysis cache, from the line `-v` logs (both sides'
    files are analysed in one batch)."""
    found = re.findall(r"analysis cache: (\d+) hits, (\d+) misses, (\d+) corrupt", stderr)
    assert len(found) == 1, stderr
    hits, misses, corrupt = found[0]
    return int(hits), int(misses), int(corrupt)


def store_counts(stderr: str) -> tuple[int, int, int]:
    """(hits, misses, corrupt) of the shape store (fingerprints and alignments of shapes)."""
    found = re.findall(r"shape store: (\d+) hits, (\d+) misses, (\d+) corrupt", stderr)
    assert len(found) == 1, stderr
    hits, misses, corrupt = found[0]
    return int(hits), int(misses), int(corrupt)


def result(path: Path) -> dict[str, object]:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_any_number_of_jobs_gives_the_same_result(sides: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = sides
    outputs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"jobs{jobs}.json"
        res = run(
            "compare", str(a), str(b), "-q", "--jobs", jobs,
            "--cache-dir", str(tmp_path / f"cache{jobs}"), "--json", str(out),
        )  # fmt: skip
        assert res.returncode == 1, res.stderr
        assert counts(res.stderr)[1] >= MIN_ITEMS_FOR_POOL  # all computed, none reused
        outputs.append(result(out))
    assert outputs[0]["summary"] == outputs[1]["summary"]
    assert outputs[0] == outputs[1]


def test_a_warm_cache_is_reused_and_changes_nothing(
    sides: tuple[Path, Path], tmp_path: Path
) -> None:
    a, b = sides
    cache = tmp_path / "cache"
    cold_json, warm_json = tmp_path / "cold.json", tmp_path / "warm.json"
    cold = run("compare", str(a), str(b), "-q", "--cache-dir", str(cache), "--json", str(cold_json))
    warm = run("compare", str(a), str(b), "-q", "--cache-dir", str(cache), "--json", str(warm_json))
    assert cold.returncode == warm.returncode == 1, cold.stderr + warm.stderr
    unique_a, unique_b = distinct(a), distinct(b)
    # Content both sides hold (none here; see test_shared_content_is_analysed_once) once.
    unique = len(unique_a | unique_b)
    assert counts(cold.stderr) == (0, unique, 0)
    assert f"analysis cache: {unique} written, 0 not writable" in cold.stderr
    assert counts(warm.stderr) == (unique, 0, 0)
    assert "analysis cache: 0 written" not in warm.stderr  # nothing to write: no line
    # Fingerprints and alignments of shapes: all made cold, all reused warm.
    made = store_counts(cold.stderr)
    assert made[0] == 0 and made[1] > 0
    assert store_counts(warm.stderr) == (made[1], 0, 0)
    assert result(cold_json) == result(warm_json)


def stored_entries(cache: Path) -> int:
    with sqlite3.connect(AnalysisCache(cache).path) as db:
        return int(db.execute("SELECT COUNT(*) FROM analyses").fetchone()[0])


def compare_into(sides: tuple[Path, Path], cache: Path, out: Path | None) -> str:
    """One CLI comparison with this cache (and JSON output); its stderr."""
    a, b = sides
    json_args = ["--json", str(out)] if out is not None else []
    res = run("compare", str(a), str(b), "-q", "--cache-dir", str(cache), *json_args)
    assert res.returncode == 1, res.stderr
    return res.stderr


def damage_one_value(path: Path, table: str) -> int:
    """One byte flipped in the middle of the middle value of a store's table; how many
    values the table holds."""
    with sqlite3.connect(path) as db:
        keys = [k for (k,) in db.execute(f"SELECT key FROM {table} ORDER BY key")]
        victim = keys[len(keys) // 2]
        (value,) = db.execute(f"SELECT value FROM {table} WHERE key = ?", (victim,)).fetchone()
        damaged = bytearray(value)
        damaged[len(damaged) // 2] ^= 0xFF
        db.execute(f"UPDATE {table} SET value = ? WHERE key = ?", (bytes(damaged), victim))
    return len(keys)


def test_a_corrupted_entry_is_recomputed(sides: tuple[Path, Path], tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    compare_into(sides, cache, first)
    damage_one_value(cache / "analyses.sqlite", "analyses")

    stderr = compare_into(sides, cache, second)
    _, misses, corrupt = counts(stderr)
    assert corrupt == 1
    assert misses == 1
    assert "analysis cache: recomputing" in stderr
    assert result(first) == result(second)
    # The damaged entry was rewritten: a third run reuses everything.
    third = compare_into(sides, cache, None)
    assert counts(third)[1:] == (0, 0)


def test_a_corrupted_shape_value_is_recomputed(sides: tuple[Path, Path], tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    compare_into(sides, cache, first)
    stored = damage_one_value(cache / "shapes.sqlite", "shapes")
    hits, misses, corrupt = store_counts(compare_into(sides, cache, second))
    assert (misses, corrupt) == (1, 1) and hits == stored - 1
    assert result(first) == result(second)
    assert store_counts(compare_into(sides, cache, None)) == (stored, 0, 0)


def test_cache_writes_that_fail_only_cost_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The writes are set aside to a worker and settled at the end of the run; one that
    # fails (a worker lost, a disk gone) must not take the result with it.
    import plagiarism.pipeline as pipeline

    def lost(job: object) -> object:
        raise RuntimeError("worker lost")

    settings = Settings(cache_dir=tmp_path / "cache", jobs=1)
    expected = compare(VLM / "original", VLM / "disguised", Settings(use_cache=False, jobs=1))
    monkeypatch.setattr(pipeline, "write_entries", lost)
    monkeypatch.setattr(pipeline, "write_values", lost)
    with caplog.at_level("WARNING", logger="plagiarism.pipeline"):
        got = compare(VLM / "original", VLM / "disguised", settings, executor=Serial())
    assert got.summary == expected.summary and got.pairs == expected.pairs
    failed = [r.getMessage() for r in caplog.records if "writes failed" in r.getMessage()]
    assert len(failed) == 2 and all("worker lost" in m for m in failed)
    assert not stored_entries(settings.cache_dir)  # nothing was written


def test_a_cache_folder_that_cannot_be_written_is_told_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A read-only cache folder: every entry fails to write and the shape store to open.
    # The run goes on, and says so in one line each, not one per entry (3,600 at full
    # size) nor twice for the store (the parent's, then the writer's).
    import plagiarism.store as store_mod

    def no_database(*args: object, **kwargs: object) -> object:
        raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr(store_mod.sqlite3, "connect", no_database)
    expected = compare(VLM / "original", VLM / "disguised", Settings(use_cache=False, jobs=1))
    settings = Settings(cache_dir=tmp_path / "cache", jobs=1)
    with caplog.at_level("INFO", logger="plagiarism"):
        got = compare(VLM / "original", VLM / "disguised", settings, executor=Serial())
    assert got.summary == expected.summary and got.pairs == expected.pairs
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warned == [
        f"{name} {settings.cache_dir / file}: cannot open (unable to open database file); "
        "going on without it"
        for name, file in (("analysis cache", "analyses.sqlite"), ("shape store", "shapes.sqlite"))
    ]


def test_a_cache_that_reads_but_cannot_be_written_only_costs_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The stores open (a read-only file, a full disk) and every write fails: the run's
    # result stands, and the user hears that later runs will be cold.
    import plagiarism.store as store_mod

    settings = Settings(cache_dir=tmp_path / "cache", jobs=1)
    compare(VLM / "original", VLM / "original", settings, executor=Serial())
    real = sqlite3.connect

    def read_only(path: object, *args: object, **kwargs: object) -> sqlite3.Connection:
        return real(f"file:{path}?mode=ro", *args, uri=True, **kwargs)  # type: ignore[misc]

    monkeypatch.setattr(store_mod.sqlite3, "connect", read_only)
    expected = compare(VLM / "original", VLM / "disguised", Settings(use_cache=False, jobs=1))
    unique = len(distinct(VLM / "disguised") - distinct(VLM / "original"))
    with caplog.at_level("INFO", logger="plagiarism"):
        got = compare(VLM / "original", VLM / "disguised", settings, executor=Serial())
    assert got.summary == expected.summary and got.pairs == expected.pairs
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    # One line for the analyses (and one for the shapes), the reason under -v.
    assert [m for m in warned if m.startswith("analysis cache")] == [
        f"analysis cache: {unique} of {unique} not writable; later runs will compute them "
        "again (-v: why)"
    ]
    why = [r.getMessage() for r in caplog.records if r.levelname == "INFO"]
    assert any(m.startswith("analysis cache ") and "cannot write" in m for m in why)


def test_cache_writes_in_many_parts_are_all_made_and_counted_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import plagiarism.pipeline as pipeline

    monkeypatch.setattr(pipeline, "WRITE_PART_BYTES", 1)  # every value a part of its own
    settings = Settings(cache_dir=tmp_path / "cache", jobs=1)
    unique = len(distinct(VLM / "original") | distinct(VLM / "disguised"))
    with caplog.at_level("INFO", logger="plagiarism.pipeline"):
        first = compare(VLM / "original", VLM / "disguised", settings, executor=Serial())
    logged = [r.getMessage() for r in caplog.records]
    assert f"analysis cache: {unique} written, 0 not writable, 0 evicted" in logged
    written = [m for m in logged if m.startswith("shape store:") and "written" in m]
    assert len(written) == 1  # one line for all the parts
    caplog.clear()
    with caplog.at_level("INFO", logger="plagiarism.pipeline"):
        second = compare(VLM / "original", VLM / "disguised", settings, executor=Serial())
    logged = [r.getMessage() for r in caplog.records]
    assert f"analysis cache: {unique} hits, 0 misses, 0 corrupt" in logged
    assert any(m.startswith("shape store:") and " 0 misses" in m for m in logged)
    assert second.pairs == first.pairs


class _Recording(Serial):
    """Serial, noting what it is given in order: (map or aside, the function's name)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def map(self, fn, items, costs=None):  # type: ignore[no-untyped-def]
        self.calls.append(("map", fn.__name__))
        return super().map(fn, items, costs)

    def aside(self, fn, item):  # type: ignore[no-untyped-def]
        self.calls.append(("aside", fn.__name__))
        return super().aside(fn, item)


def test_analysis_entries_are_written_after_the_alignments_not_beside_the_resolution(
    tmp_path: Path,
) -> None:
    # Set aside as soon as the parse was done, they kept a worker from the fingerprints and
    # the parent's resolution; after the alignments the workers would only wait.
    executor = _Recording()
    compare(VLM / "original", VLM / "disguised", Settings(cache_dir=tmp_path), executor=executor)
    calls = executor.calls
    assert ("aside", "write_entries") in calls and ("map", "_align_task") in calls
    last_alignment = max(i for i, call in enumerate(calls) if call == ("map", "_align_task"))
    assert calls.index(("aside", "write_entries")) > last_alignment
    assert calls.index(("aside", "_artifacts_task")) < calls.index(("map", "_print_task"))


def test_loading_one_side_alone_still_writes_its_held_entries(tmp_path: Path) -> None:
    from plagiarism.pipeline import load_side
    from plagiarism.progress import Silent

    settings = Settings(cache_dir=tmp_path)
    load_side(str(VLM / "original"), None, "a", settings, Serial(), Silent())
    assert stored_entries(tmp_path) == len(distinct(VLM / "original"))


def _artifacts_for_a_minute(job: object) -> tuple[None, list[object]]:
    time.sleep(60)
    return None, []


def _interrupted(*args: object) -> None:
    time.sleep(1)  # the artifact comparison is running in a worker by now
    raise KeyboardInterrupt


def test_an_interrupted_comparison_does_not_wait_for_its_workers(
    sides: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ctrl-C during the resolution, while a worker compares checkpoints (set aside, and
    # minutes long for a big model): the run ends now, its workers with it.
    import multiprocessing

    import plagiarism.pipeline

    monkeypatch.setattr(plagiarism.pipeline, "_artifacts_task", _artifacts_for_a_minute)
    monkeypatch.setattr(plagiarism.pipeline, "resolve_units", _interrupted)
    others = {p.pid for p in multiprocessing.active_children()}  # earlier tests' children
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        compare(*sides, Settings(cache_dir=tmp_path, jobs=2))
    assert time.monotonic() - started < 45
    assert not {p.pid for p in multiprocessing.active_children()} - others


def test_a_dask_cluster_gives_the_same_result_as_this_machine(
    sides: tuple[Path, Path], tmp_path: Path
) -> None:
    if os.environ.get("CI") != "true":
        pytest.importorskip(
            "dask.distributed", reason="Dask is the optional extra plagiarism[dask]"
        )
    from dask.distributed import Client, LocalCluster

    from plagiarism.executor import DaskExecutor

    a, b = sides
    local = compare(a, b, Settings(cache_dir=tmp_path / "local", jobs=1), executor=Serial())
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        executor = DaskExecutor(client=client)
        distributed = compare(a, b, Settings(cache_dir=tmp_path / "dask"), executor=executor)
        assert executor.tasks_submitted > 0
        assert len(client.scheduler_info()["workers"]) == 2
    assert distributed.summary == local.summary
    assert distributed == local


def test_shared_content_is_analysed_once(sides: tuple[Path, Path], tmp_path: Path) -> None:
    a, _ = sides
    b = tmp_path / "b"
    shutil.copytree(a, b)
    (b / "extra.py").write_text("def fresh(x):\n    return [y * 2 for y in x if y]\n")
    res = run("compare", str(a), str(b), "-q", "--cache-dir", str(tmp_path / "c"))
    assert res.returncode == 1, res.stderr
    assert counts(res.stderr) == (0, len(distinct(a)) + 1, 0)


def test_the_versions_of_a_file_are_analysed_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A fork's changed file is analysed from upstream's version (analyze_versions), in one
    # task; every other content alone. What that gives is tested in tests/unit/test_versions.py.
    b = tmp_path / "b"
    shutil.copytree(VLM / "original", b)
    edited = sorted(b.rglob("*.py"))[0]
    edited.write_text("# Copyright the fork\n" + edited.read_text(encoding="utf-8"))
    rel = edited.relative_to(b).as_posix()
    groups: list[list[str]] = []
    real = pipeline.analyze_versions

    def spy(files: list[SourceFile], side: Side) -> list[tuple[FileAnalysis, list[Warning]]]:
        groups.append([f.path for f in files])
        return real(files, side)

    monkeypatch.setattr(pipeline, "analyze_versions", spy)
    together = compare(VLM / "original", b, Settings(use_cache=False, jobs=1), executor=Serial())
    assert [rel, rel] in groups
    assert all(len(g) == 1 for g in groups if g[0] != rel)
    monkeypatch.setattr(pipeline, "analyze_versions", lambda files, side: [
        normalize.analyze_file(f, side) for f in files
    ])  # fmt: skip
    alone = compare(VLM / "original", b, Settings(use_cache=False, jobs=1), executor=Serial())
    assert together == alone
