"""The per-file analysis cache: reuse is counted, damage is detected and recomputed."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from plagiarism import cache as cache_mod
from plagiarism.cache import AnalysisCache, CorruptEntry, decode_entry, encode_entry
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


def stored(cache: AnalysisCache, file: SourceFile) -> Path:
    cache.put(file, encode_entry(file, analyze_file(file, "a")))
    path = cache.path_for(file)
    assert path.is_file()
    return path


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
    path = stored(cache, file)
    path.write_bytes(damage(path.read_bytes()))  # type: ignore[operator]
    assert cache.get(file) is None
    assert (cache.stats.corrupt, cache.stats.misses, cache.stats.hits) == (1, 1, 0)


def test_a_payload_swapped_for_another_files_is_rejected(tmp_path: Path) -> None:
    # A well-formed entry moved under another file's name: its header names another file.
    cache = AnalysisCache(tmp_path)
    mine, other = source_file(CODE), source_file(CODE.replace("scale", "temperature"))
    stored(cache, other)
    cache.path_for(mine).parent.mkdir(parents=True, exist_ok=True)
    cache.path_for(mine).write_bytes(cache.path_for(other).read_bytes())
    assert cache.get(mine) is None
    assert cache.stats.corrupt == 1


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
    files = [source_file(CODE + f"\nz = {i}\n") for i in range(6)]
    paths = [stored(cache, f) for f in files]
    for i, path in enumerate(paths):  # files[0] the least recently used
        os.utime(path, (1_000_000 + i * 100, 1_000_000 + i * 100))
    cache.max_bytes = paths[0].stat().st_size * 4
    assert cache.evict() == 3  # down to 80% of the limit: the three most recent stay
    assert [p.exists() for p in paths] == [False, False, False, True, True, True]
    assert cache.stats.evicted == 3
    assert cache.size() <= cache.max_bytes


def test_a_hit_makes_an_entry_recent(tmp_path: Path) -> None:
    cache = AnalysisCache(tmp_path)
    file = source_file(CODE)
    path = stored(cache, file)
    os.utime(path, (1_000_000, 1_000_000))
    assert cache.get(file) is not None
    assert path.stat().st_mtime > 1_000_000


def test_an_unwritable_cache_only_costs_time(tmp_path: Path) -> None:
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    cache = AnalysisCache(blocker)
    file = source_file(CODE)
    cache.put(file, encode_entry(file, analyze_file(file, "a")))
    assert cache.stats.write_errors == 1
    assert cache.get(file) is None


def test_a_run_that_wrote_little_trusts_the_last_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A full cache is ~100,000 entries: scanning them all after every cold run is what the
    # tally saves. Scans are counted through `entries`.
    scans = []
    real = AnalysisCache.entries

    def counted(self: AnalysisCache):  # type: ignore[no-untyped-def]
        scans.append(1)
        return real(self)

    monkeypatch.setattr(AnalysisCache, "entries", counted)
    files = [source_file(CODE + f"\nz = {i}\n") for i in range(6)]
    first = AnalysisCache(tmp_path)
    one = stored(first, files[0]).stat().st_size
    first.max_bytes = one * 4
    assert first.evict() == 0 and len(scans) == 1  # no tally yet: scanned, and recorded
    second = AnalysisCache(tmp_path, max_bytes=one * 4)
    stored(second, files[1])
    assert second.evict() == 0 and len(scans) == 1  # 2 entries by the tally: no scan
    third = AnalysisCache(tmp_path, max_bytes=one * 4)
    for f in files[2:]:
        stored(third, f)
    # The tally says 6 entries, over the limit of 4: a scan, which evicts down to 80 %.
    assert third.evict() == 3 and len(scans) == 2
    left = list(real(third))
    assert sum(size for _, size, _ in left) <= third.max_bytes
    assert not any(p.name == third.tally_path.name for p, _, _ in left)
    # A tally a day old is not trusted.
    known, _ = third.tally_path.read_text().split()
    third.tally_path.write_text(f"{known} 0\n")
    fourth = AnalysisCache(tmp_path, max_bytes=one * 4)
    assert fourth.evict() == 0 and len(scans) == 3


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
