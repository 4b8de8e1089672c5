"""The shape store: values come back only when they check out, a store that cannot be used
costs time but not the run, and the size limit holds."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from plagiarism.align import Alignment, Tile, decode_alignment, encode_alignment
from plagiarism.fingerprint import decode_print, encode_print
from plagiarism.shapestore import ShapeStore, make_key


def test_values_round_trip_and_count(tmp_path: Path) -> None:
    store = ShapeStore(tmp_path, max_bytes=1 << 20)
    keys = [make_key("t", i) for i in range(3)]
    store.put_many({keys[0]: b"zero", keys[1]: b"one"})
    assert store.get_many(keys) == {keys[0]: b"zero", keys[1]: b"one"}
    assert (store.stats.hits, store.stats.misses, store.stats.writes) == (2, 1, 2)
    store.close()
    # Another run, another connection: the values outlive the first.
    again = ShapeStore(tmp_path, max_bytes=1 << 20)
    assert again.get_many([keys[1]]) == {keys[1]: b"one"}


def test_keys_depend_on_every_part() -> None:
    assert make_key("align", 12, 5, "x", "y") != make_key("align", 12, 5, "y", "x")
    assert make_key("align", 12, 5, "x", "y") != make_key("align", 12, 4, "x", "y")
    assert make_key("print", 5, 128, "x") != make_key("align", 5, 128, "x")


def test_a_damaged_value_is_a_miss(tmp_path: Path) -> None:
    store = ShapeStore(tmp_path, max_bytes=1 << 20)
    key = make_key("t", 1)
    store.put_many({key: b"payload"})
    store.close()
    with sqlite3.connect(tmp_path / "shapes.sqlite") as db:
        db.execute("UPDATE shapes SET value = ? WHERE key = ?", (b"pAyload", key))
    store = ShapeStore(tmp_path, max_bytes=1 << 20)
    assert store.get_many([key]) == {}
    assert (store.stats.corrupt, store.stats.misses) == (1, 1)


def test_an_unusable_store_only_costs_time(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "shapes.sqlite").write_bytes(b"not a database at all, " * 100)
    store = ShapeStore(tmp_path, max_bytes=1 << 20)
    with caplog.at_level(logging.WARNING):
        store.put_many({make_key("t", 1): b"x"})
        assert store.get_many([make_key("t", 1)]) == {}
    assert "going on without it" in caplog.text
    # The damaged file is set aside, so the next run has a working store again.
    assert (tmp_path / "shapes.sqlite.damaged").exists()
    again = ShapeStore(tmp_path, max_bytes=1 << 20)
    again.put_many({make_key("t", 1): b"x"})
    assert again.get_many([make_key("t", 1)]) == {make_key("t", 1): b"x"}


def test_eviction_keeps_the_limit_and_the_recent_values(tmp_path: Path) -> None:
    # (A limit well above SQLite's own few pages, which no eviction can remove.)
    store = ShapeStore(tmp_path, max_bytes=80_000)
    old = {make_key("old", i): bytes(1000) for i in range(100)}
    store.put_many(old)
    new = {make_key("new", i): bytes(1000) for i in range(10)}
    store.put_many(new)
    assert store.size() > store.max_bytes
    assert store.evict() > 0
    assert store.size() <= store.max_bytes
    assert store.get_many(new) == new  # the latest written survive


def test_the_limit_is_the_file_on_disk_not_the_values_in_it(tmp_path: Path) -> None:
    # Real values are a few hundred bytes (a fingerprint, an alignment): beside them the
    # keys, digests and B-tree made the file about twice the bytes the limit counted.
    store = ShapeStore(tmp_path, max_bytes=200_000)
    store.put_many({make_key("v", i): bytes(40) for i in range(10_000)})
    assert store.evict() > 0
    store.close()
    assert 0 < store.path.stat().st_size <= 200_000


def test_alignment_and_print_encodings_round_trip() -> None:
    al = Alignment(
        tiles=(Tile(a=3, b=0, length=12), Tile(a=40, b=20, length=5)),
        matched=17,
        score=0.5,
        coverage_a=0.25,
        context_tiles=(Tile(a=3, b=0, length=12),),
    )
    assert decode_alignment(encode_alignment(al)) == al
    with pytest.raises(ValueError):
        decode_alignment(encode_alignment(al)[:-4])
    hashes = np.array([1, 5, 2**63 + 7], dtype=np.uint64)
    sig = np.arange(128, dtype=np.uint64)
    h2, s2 = decode_print(encode_print(hashes, sig), num_perm=128)
    assert (h2 == hashes).all() and (s2 == sig).all()
    with pytest.raises(ValueError):
        decode_print(b"\x00" * 12, num_perm=128)


def test_a_store_made_before_incremental_vacuum_still_shrinks(tmp_path: Path) -> None:
    # Stores made by earlier versions have no incremental vacuum (it only takes for a new
    # file): their eviction rewrites the file whole, and it must still end under the limit.
    with sqlite3.connect(tmp_path / "shapes.sqlite") as db:
        db.execute("PRAGMA page_size=8192")
        db.execute(
            "CREATE TABLE shapes (key BLOB PRIMARY KEY, digest BLOB NOT NULL, "
            "value BLOB NOT NULL, size INTEGER NOT NULL, used REAL NOT NULL)"
        )
    store = ShapeStore(tmp_path, max_bytes=80_000)
    store.put_many({make_key("old", i): bytes(1000) for i in range(100)})
    new = {make_key("new", i): bytes(1000) for i in range(10)}
    store.put_many(new)
    assert store.size() > store.max_bytes
    assert store.evict() > 0
    store.close()
    assert 0 < store.path.stat().st_size <= 80_000
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA auto_vacuum").fetchone()[0] == 0  # left as it was made
    assert ShapeStore(tmp_path, max_bytes=80_000).get_many(new) == new
