"""The per-file analysis cache: reuse is counted, damage is detected and recomputed."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest

from plagiarism import cache as cache_mod
from plagiarism.cache import AnalysisCache, CorruptEntry, decode_entry, encode_entry, entry_key
from plagiarism.model import SourceFile
from plagiarism.normalize import analyze_file

CODE = """\
import torch

def attention(q, k, v, scale):
    weights = torch.softmax(q @ k.transpose(-1, -2) * scale, dim=-1)
    return weights @ v
"""


def source_file(text: str, path: str = "m.py") -> SourceFile:
    raw = text.encode()
    return SourceFile(
        path=path,
        sha256=hashlib.sha256(raw).hexdigest(),
        text=text,
        kind="python",
        size=len(raw),
    )


def stored(cache: AnalysisCache, file: SourceFile) -> bytes:
    """The file's entry, put in the cache: its key in the store."""
    cache.put(file, encode_entry(file, analyze_file(file, "a")))
    key = entry_key(file.sha256, file.kind)
    assert raw(cache, key) is not None
    return key


def raw(cache: AnalysisCache, key: bytes) -> bytes | None:
    with sqlite3.connect(cache.path) as db:
        row = db.execute("SELECT value FROM analyses WHERE key = ?", (key,)).fetchone()
    return None if row is None else bytes(row[0])


def overwrite(cache: AnalysisCache, key: bytes, value: bytes, used: float | None = None) -> None:
    with sqlite3.connect(cache.path) as db:
        db.execute(
            "INSERT OR REPLACE INTO analyses (key, digest, value, size, used) VALUES (?, ?, ?, ?, ?)",
            (key, b"", value, len(value), 0.0 if used is None else used),
        )


def used(cache: AnalysisCache, key: bytes) -> float:
    with sqlite3.connect(cache.path) as db:
        return float(db.execute("SELECT used FROM analyses WHERE key = ?", (key,)).fetchone()[0])


def test_an_entry_round_trips_to_the_same_analysis(tmp_path: Path) -> None:
    cache = AnalysisCache(tmp_path)
    file = source_file(CODE)
    stored(cache, file)
    assert cache.get(file) == analyze_file(file, "a")
    assert (cache.stats.hits, cache.stats.misses, cache.stats.writes) == (1, 0, 1)


def test_entries_are_addressed_by_content_not_path(tmp_path: Path) -> None:
    cache = AnalysisCache(tmp_path)
    stored(cache, source_file(CODE, "one/m.py"))
    assert cache.get(source_file(CODE, "two/other.py")) is not None
    assert cache.get(source_file(CODE + "\nx = 1\n", "one/m.py")) is None
    assert (cache.stats.hits, cache.stats.misses) == (1, 1)


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda b: b[: len(b) // 2], id="truncated"),
        pytest.param(lambda b: b[:-5] + bytes(x ^ 0xFF for x in b[-5:]), id="flipped-payload"),
        pytest.param(lambda b: b"garbage", id="garbage"),
        pytest.param(lambda b: b"", id="empty"),
        pytest.param(lambda b: b[:20] + b"\0" * 16 + b[36:], id="zeroed-header"),
    ],
)
def test_a_damaged_entry_is_never_trusted(tmp_path: Path, damage: object) -> None:
    cache = AnalysisCache(tmp_path)
    file = source_file(CODE)
    key = stored(cache, file)
    entry = raw(cache, key)
    overwrite(cache, key, damage(entry))  # type: ignore[operator]
    assert cache.get(file) is None
    assert (cache.stats.corrupt, cache.stats.misses, cache.stats.hits) == (1, 1, 0)
    # Recomputed and put again, it is read back.
    cache.put(file, encode_entry(file, analyze_file(file, "a")))
    assert cache.get(file) == analyze_file(file, "a")


def test_a_payload_swapped_for_another_files_is_rejected(tmp_path: Path) -> None:
    # A well-formed entry stored under another file's key: its header names another file.
    cache = AnalysisCache(tmp_path)
    mine, other = source_file(CODE), source_file(CODE.replace("scale", "temperature"))
    entry = raw(cache, stored(cache, other))
    assert entry is not None
    overwrite(cache, entry_key(mine.sha256, mine.kind), entry)
    assert cache.get(mine) is None
    assert cache.stats.corrupt == 1


def test_entries_are_read_many_at_once_and_each_checked(tmp_path: Path) -> None:
    cache = AnalysisCache(tmp_path)
    files = [source_file(CODE + f"\nz = {i}\n", f"m{i}.py") for i in range(5)]
    keys = [stored(cache, f) for f in files[:4]]
    overwrite(cache, keys[1], b"garbage")
    got = cache.get_many(files)
    assert sorted(got) == sorted(files[i].sha256 for i in (0, 2, 3))
    assert got[files[0].sha256] == analyze_file(files[0], "a")
    assert (cache.stats.hits, cache.stats.misses, cache.stats.corrupt) == (3, 2, 1)


def test_an_entry_from_another_engine_is_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    file = source_file(CODE)
    entry = encode_entry(file, analyze_file(file, "a"))
    monkeypatch.setattr(cache_mod, "engine_digest", lambda: b"\x00" * 16)
    with pytest.raises(CorruptEntry, match="stale"):
        decode_entry(entry, file)


def test_the_engine_digest_follows_the_normaliser_source(tmp_path: Path) -> None:
    package = Path(cache_mod.__file__).parent
    for name in cache_mod._ENGINE_MODULES:
        (tmp_path / name).write_bytes((package / name).read_bytes())
    assert cache_mod.engine_digest_of(tmp_path) == cache_mod.engine_digest()
    normalize = tmp_path / "normalize.py"
    normalize.write_text(normalize.read_text() + "\n# a new rule\n")
    assert cache_mod.engine_digest_of(tmp_path) != cache_mod.engine_digest()


def test_the_oldest_entries_are_evicted_past_the_size_limit(tmp_path: Path) -> None:
    cache = AnalysisCache(tmp_path)
    # Entries of a real size (a model file's analysis is tens of kilobytes): beside them the
    # store's own pages are small, and the limit is the file on disk.
    body = "".join(
        f"\ndef f{i}(x):\n    return torch.relu(x) * {i} + x.sum()\n" for i in range(300)
    )
    files = [source_file(CODE + body + f"\nz = {i}\n") for i in range(6)]
    keys = [stored(cache, f) for f in files]
    for i, key in enumerate(keys):  # files[0] the least recently used
        entry = raw(cache, key)
        assert entry is not None
        overwrite(cache, key, entry, used=1_000_000 + i * 100)
    cache.close()
    limited = AnalysisCache(tmp_path, max_bytes=int(len(raw(cache, keys[0]) or b"") * 4.5))
    assert limited.evict() >= 2
    present = [raw(cache, k) is not None for k in keys]
    assert present == sorted(present)  # the oldest went first
    assert present[-2:] == [True, True]
    assert limited.stats.evicted == present.count(False)
    limited.close()
    assert 0 < limited.path.stat().st_size <= limited.max_bytes


def test_a_hit_makes_an_old_entry_recent(tmp_path: Path) -> None:
    cache = AnalysisCache(tmp_path)
    file = source_file(CODE)
    key = stored(cache, file)
    entry = raw(cache, key)
    assert entry is not None
    overwrite(cache, key, entry, used=1_000_000)
    assert cache.get(file) is not None
    assert used(cache, key) > 1_000_000


def test_an_unwritable_cache_only_costs_time(tmp_path: Path) -> None:
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    cache = AnalysisCache(blocker)
    file = source_file(CODE)
    cache.put(file, encode_entry(file, analyze_file(file, "a")))
    assert cache.stats.write_errors == 1
    assert cache.get(file) is None
    assert cache.broken


def test_the_file_per_entry_cache_of_earlier_versions_is_removed(tmp_path: Path) -> None:
    # Format 2 kept a file per entry under analysis/ and their size in analysis.tally:
    # nothing reads them any more, and the size limit no longer sees them.
    old = tmp_path / "analysis" / "v2" / ("0" * 32) / "ab"
    old.mkdir(parents=True)
    (old / "cdef.python.pickle").write_bytes(b"old entry")
    (tmp_path / "analysis.tally").write_text("9 0\n")
    (tmp_path / "clones").mkdir()
    file = source_file(CODE)
    cache_mod.write_entries((tmp_path, 1 << 30, [((file.sha256, file.kind), b"entry")]))
    left = {p.name for p in tmp_path.iterdir()}
    assert "analysis" not in left and "analysis.tally" not in left
    assert {"analyses.sqlite", "clones"} <= left
    assert AnalysisCache(tmp_path).stats.writes == 0 and AnalysisCache(tmp_path).size() > 0


_PICKLE_NAMES = """
import pickle, sys
from plagiarism.normalize import FileAnalysis
names = frozenset(f"name_{i}" for i in range(200))
analysis = FileAnalysis("m.py", "0" * 64, (), names, names, (), 1)
sys.stdout.write(pickle.dumps(analysis, protocol=pickle.HIGHEST_PROTOCOL).hex())
"""


def test_an_analysis_pickles_the_same_whatever_the_hash_seed() -> None:
    # A set pickles in its hash order, which Python salts per process: the same analysis
    # must not give different bytes from one run to the next because of it.
    import subprocess
    import sys

    dumps = {
        subprocess.run(
            [sys.executable, "-c", _PICKLE_NAMES],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(dumps) == 1


def test_an_analysis_round_trips_through_its_constructor() -> None:
    import pickle

    file = source_file(CODE)
    analysis = analyze_file(file, "a")[0]
    back = pickle.loads(pickle.dumps(analysis, protocol=pickle.HIGHEST_PROTOCOL))
    assert back == analysis
    assert isinstance(back.defined_names, frozenset) and isinstance(back.defined_attrs, frozenset)
    assert back.units and back.units == analysis.units
