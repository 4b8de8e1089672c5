"""The fingerprints stage (`_Shapes.prints`): an oracle of its output, and its speed.

    python tests/benchmarks/prints_oracle.py record --sets 100,300,all
    python tests/benchmarks/prints_oracle.py check --sets 100,300,all
    python tests/benchmarks/prints_oracle.py time --sets 100,300,all --repeat 5

Each set is read, analysed and resolved as `plagiarism compare` does (the analyses come from
a cache of their own under the scratch folder, the units from a pickle beside it, so only the
first run pays for parsing). `record` then fingerprints every unit of both sides, without a
shape store, and keeps a digest of each unit's `encode_print` bytes; `check` recomputes them
and lists every unit whose bytes changed, so a rewrite meant to be bit-identical can be
proved so on ~50,000 real units (run `record` on the commit before the rewrite). `time`
fingerprints the shapes `score_candidates` would (A's distinct shapes, then B's without a
twin in A) and prints the best wall time of several runs, per executor.

Sets: `100`, `300` (the subsets tests/benchmarks/scale.py makes under the scratch folder) and
`all` (transformers 4.46.3 vs 4.47.0, every file).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import sys
import tempfile
import time
from pathlib import Path

from plagiarism.config import Settings
from plagiarism.executor import Executor, LocalProcesses, Serial
from plagiarism.fingerprint import encode_print
from plagiarism.model import Unit
from plagiarism.pipeline import _Shapes, load_sides, resolve_units, shape_groups
from plagiarism.progress import Silent

SETS = {
    "100": ("subset-100/a", "subset-100/b"),
    "300": ("subset-300/a", "subset-300/b"),
    "all": ("transformers-4.46.3", "transformers-4.47.0"),
}


def _units(name: str, scratch: Path, work: Path) -> tuple[list[Unit], list[Unit]]:
    cached = work / f"units-{name}.pickle"
    if cached.exists():
        with cached.open("rb") as f:
            units: tuple[list[Unit], list[Unit]] = pickle.load(f)
        return units
    a, b = SETS[name]
    settings = Settings(cache_dir=work / "cache")
    executor = LocalProcesses(0)
    try:
        side_a, side_b = load_sides(
            str(scratch / a), str(scratch / b), settings, executor, Silent()
        )
    finally:
        executor.close()
    units_a, units_b, _ = resolve_units(side_a, side_b)
    with cached.open("wb") as f:
        pickle.dump((units_a, units_b), f, protocol=pickle.HIGHEST_PROTOCOL)
    return units_a, units_b


def _digests(units: list[Unit], executor: Executor) -> list[str]:
    shapes = _Shapes(Settings(), executor, None, Silent())
    prints = shapes.prints(units)
    assert [p.index for p in prints] == list(range(len(units)))
    return [
        hashlib.blake2b(encode_print(p.hashes, p.signature), digest_size=16).hexdigest()
        for p in prints
    ]


def _stage_shapes(units_a: list[Unit], units_b: list[Unit]) -> tuple[list[Unit], list[Unit]]:
    """The units `score_candidates` fingerprints: one per shape of A, B's shapes not in A."""
    _, shapes_b, representatives, lookups = shape_groups(units_a, units_b)
    return [units_a[i] for i in representatives], [units_b[shapes_b[h]] for h in lookups]


def _executors() -> dict[str, Executor]:
    return {"jobs=1": Serial(), "jobs=2": LocalProcesses(2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("record", "check", "time"))
    parser.add_argument("--sets", default="100,300,all")
    parser.add_argument(
        "--scratch", type=Path, default=Path(tempfile.gettempdir()) / "plagiarism-scale"
    )
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "prints-oracle")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    failed = False
    for name in args.sets.split(","):
        units_a, units_b = _units(name, args.scratch, args.work)
        if args.mode == "time":
            rep_a, rep_b = _stage_shapes(units_a, units_b)
            for label, executor in _executors().items():
                best = float("inf")
                for _ in range(args.repeat):
                    start = time.perf_counter()
                    shapes = _Shapes(Settings(), executor, None, Silent())
                    shapes.prints(rep_a)
                    shapes.prints(rep_b)
                    best = min(best, time.perf_counter() - start)
                executor.close()
                print(f"{name}: {len(rep_a)}+{len(rep_b)} shapes, {label}: best {best:.3f} s")
            continue
        executor = LocalProcesses(0)
        try:
            digests = {
                "a": _digests(units_a, executor),
                "b": _digests(units_b, executor),
            }
        finally:
            executor.close()
        keys = {
            "a": [u.content_hash for u in units_a],
            "b": [u.content_hash for u in units_b],
        }
        path = args.work / f"oracle-{name}.json"
        total = sum(len(d) for d in digests.values())
        if args.mode == "record":
            path.write_text(json.dumps({"keys": keys, "digests": digests}))
            print(f"{name}: recorded {total} units -> {path}")
            continue
        recorded = json.loads(path.read_text())
        if recorded["keys"] != keys:
            print(f"{name}: the units differ from the recorded ones (re-record?)")
            failed = True
            continue
        bad = [
            (side, i, keys[side][i])
            for side in ("a", "b")
            for i, (old, new) in enumerate(
                zip(recorded["digests"][side], digests[side], strict=True)
            )
            if old != new
        ]
        for side, i, shape in bad[:20]:
            print(f"  {name}: unit {side}[{i}] (shape {shape}) changed")
        print(f"{name}: {total} units, {len(bad)} changed")
        failed |= bool(bad)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
