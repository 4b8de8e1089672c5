"""Per-file analysis (`normalize.analyze_file`: parse + raw token streams): speed and an oracle.

    python tests/benchmarks/analysis.py time --sets 100,300,all      # ms/file, one process
    python tests/benchmarks/analysis.py record --sets 300,all,repo,extra
    python tests/benchmarks/analysis.py check --sets 300,all,repo,extra
    python tests/benchmarks/analysis.py versions --sets 300,all,broken
    python tests/benchmarks/analysis.py mutants --sets 300,extra

`record` stores, per file, a digest of everything `analyze_file` returns (the FileAnalysis and
its warnings); `check` recomputes them and lists every file whose digest changed, so a
refactor meant to be behaviour-preserving can be proved so on thousands of real files (run
`record` on the commit before the refactor). `versions` checks `analyze_versions` against the
same record: each file that differs between the two transformers versions is analysed from
the other version, in both orders, and must give the digests `analyze_file` recorded;
`mutants` does the same for edits made of every file (no record needed). Nothing is committed from the inputs: they are
fetched at run time into a scratch folder (default $TMPDIR/plagiarism-scale, shared with
tests/benchmarks/scale.py; the other packages go to <scratch>/analysis-extra).

Sets: `100`, `300` (the same files per side as scale.py picks, both transformers versions),
`all` (every .py of transformers 4.46.3 and 4.47.0), `repo` (this repository's corpora/ and
tests/), `extra` (diffusers, timm, peft and accelerate wheels), `broken` (the 300 set cut at 3/5 of
each file with a line dropped: tree-sitter's error recovery everywhere).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import random
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

from plagiarism.model import SourceFile
from plagiarism.normalize import FileAnalysis, analyze_file, analyze_versions
from plagiarism.sources import decode_source

ROOT = Path(__file__).resolve().parents[2]
VERSIONS = ("4.46.3", "4.47.0")
EXTRA = ("diffusers==0.42.1", "timm==1.0.31", "peft==0.21.2", "accelerate==1.15.0")


def _unpack(spec: str, wheels: Path, tree: Path) -> Path:
    """The .py files of one wheel from `pip download --no-deps`, extracted once."""
    if tree.exists():
        return tree
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", spec, "-d", str(wheels)],
        check=True,
    )
    name, version = spec.split("==")
    wheel = next(wheels.glob(f"{name}-{version}-*.whl"))
    tree.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=tree.parent))
    with zipfile.ZipFile(wheel) as zf:
        for member in zf.namelist():
            if member.endswith(".py") and not member.startswith("/") and ".." not in member:
                zf.extract(member, tmp)
    tmp.rename(tree)
    return tree


def _py_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.py") if p.is_file())


def roots(name: str, scratch: Path) -> list[tuple[str, Path, list[str]]]:
    """(label, root, relative paths) of the files of one set."""
    trees = [
        _unpack(f"transformers=={v}", scratch / "wheels", scratch / f"transformers-{v}")
        for v in VERSIONS
    ]
    if name in ("100", "300"):
        # The same pick as scale.py: n paths spread evenly over the first version's tree.
        paths = _py_files(trees[0])
        n = min(int(name), len(paths))
        picked = [paths[i * len(paths) // n] for i in range(n)]
        return [
            (f"t{v}", tree, [p for p in picked if (tree / p).is_file()])
            for v, tree in zip(VERSIONS, trees, strict=True)
        ]
    if name == "all":
        return [(f"t{v}", tree, _py_files(tree)) for v, tree in zip(VERSIONS, trees, strict=True)]
    if name == "broken":
        return roots("300", scratch)
    if name == "repo":
        return [(d, ROOT / d, _py_files(ROOT / d)) for d in ("corpora", "tests")]
    if name == "extra":
        out = []
        for spec in EXTRA:
            label = spec.replace("==", "-")
            tree = _unpack(spec, scratch / "wheels", scratch / "analysis-extra" / label)
            out.append((label, tree, _py_files(tree)))
        return out
    raise SystemExit(f"unknown set {name!r}")


def load(name: str, scratch: Path) -> Iterator[tuple[str, SourceFile]]:
    for label, root, rels in roots(name, scratch):
        for rel in rels:
            raw = (root / rel).read_bytes()
            text = decode_source(raw)
            if text is None:
                continue
            text = text.replace("\r\n", "\n").replace("\r", "\n")
            if name == "broken":
                # Cut mid-file and drop a line: error recovery on every kind of statement.
                lines = text[: len(text) * 3 // 5].split("\n")
                del lines[len(lines) // 2]
                text = "\n".join(lines)
            sha = hashlib.sha256(raw).hexdigest()
            yield f"{label}/{rel}", SourceFile(path=rel, sha256=sha, text=text)


def digest(analysis: FileAnalysis, warnings: list[object]) -> str:
    """Everything analyze_file returns, in a canonical form (sets sorted)."""
    canonical = (
        analysis.path,
        analysis.sha256,
        analysis.units,
        sorted(analysis.defined_attrs),
        sorted(analysis.defined_names),
        analysis.error_lines,
        analysis.line_count,
        warnings,
    )
    data = repr(canonical).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def oracle(mode: str, sets: list[str], scratch: Path) -> int:
    bad = 0
    for name in sets:
        store = scratch / f"analysis-oracle-{name}.json"
        got = {key: digest(*analyze_file(f, "a")) for key, f in load(name, scratch)}
        if mode == "record":
            store.write_text(json.dumps(got, indent=0, sort_keys=True))
            print(f"{name}: recorded {len(got)} files -> {store}")
            continue
        want = json.loads(store.read_text())
        # Files added since `record` (a new test) are not compared; files gone count as changed.
        changed = sorted(k for k in want if want[k] != got.get(k))
        for key in changed[:20]:
            print(f"  changed: {key}")
        new = len(got.keys() - want.keys())
        print(f"{name}: {len(want) - len(changed)} of {len(want)} files identical ({new} new)")
        bad += len(changed)
    return 1 if bad else 0


def versions(sets: list[str], scratch: Path) -> int:
    bad = 0
    for name in sets:
        want = json.loads((scratch / f"analysis-oracle-{name}.json").read_text())
        by_path: dict[str, list[tuple[str, SourceFile]]] = {}
        for key, f in load(name, scratch):
            by_path.setdefault(f.path, []).append((key, f))
        pairs = [v for v in by_path.values() if len(v) == 2 and v[0][1].text != v[1][1].text]
        changed: set[str] = set()
        for pair in pairs:
            for (k1, f1), (k2, f2) in (pair, pair[::-1]):
                (a1, w1), (a2, w2) = analyze_versions([f1, f2], "a")
                changed.update(k for k, d in ((k1, digest(a1, w1)), (k2, digest(a2, w2)))
                               if want.get(k) != d)  # fmt: skip
        for key in sorted(changed)[:20]:
            print(f"  changed: {key}")
        print(f"{name}: {len(pairs)} changed files, analysed from each other in both orders: "
              f"{len(changed)} digests differ from analyze_file's")  # fmt: skip
        bad += len(changed)
    return 1 if bad else 0


def mutants(sets: list[str], scratch: Path) -> int:
    """Each file and five edits of it (a line added on top, an import added on top, a line
    dropped, a line doubled, a line added and another dropped further down), the edit
    analysed from the file: the digest must be `analyze_file`'s of the edit alone."""
    rng = random.Random(7)
    bad = total = 0
    for name in sets:
        for key, f in load(name, scratch):
            lines = f.text.split("\n")
            edits = ["# added\n" + f.text, "import os\n" + f.text]
            if len(lines) > 4:
                i = rng.randrange(len(lines))
                edits.append("\n".join(lines[:i] + lines[i + 1 :]))
                i = rng.randrange(len(lines))
                edits.append("\n".join(lines[:i] + [lines[i]] + lines[i:]))
                i, j = sorted((rng.randrange(len(lines)), rng.randrange(len(lines))))
                edits.append("\n".join(lines[:i] + [f"x_{i} = {j}"] + lines[i:j] + lines[j + 1 :]))
            for n, text in enumerate(edits):
                edit = SourceFile(path=f.path, sha256="edit", text=text)
                got = analyze_versions([f, edit], "a")[1]
                total += 1
                if digest(*got) != digest(*analyze_file(edit, "a")):
                    bad += 1
                    print(f"  differs: {key} (edit {n})")
    print(f"{total} edits analysed from their file: {bad} differ from analyze_file's")
    return 1 if bad else 0


def timing(sets: list[str], scratch: Path, repeat: int) -> None:
    for name in sets:
        files = [f for _, f in load(name, scratch)]
        lines = sum(f.text.count("\n") + 1 for f in files)
        best = float("inf")
        for _ in range(repeat if name != "all" else 1):
            gc.collect()
            start = time.perf_counter()
            for f in files:
                analyze_file(f, "a")
            best = min(best, time.perf_counter() - start)
        print(
            f"{name:>5}: {len(files):5d} files {lines:8d} lines  {best:7.2f} s  "
            f"{1000 * best / len(files):6.2f} ms/file  {1e6 * best / lines:6.1f} us/line"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("mode", choices=("time", "record", "check", "versions", "mutants"))
    ap.add_argument("--sets", default="100,300")
    ap.add_argument(
        "--scratch", type=Path, default=Path(tempfile.gettempdir()) / "plagiarism-scale"
    )
    ap.add_argument("--repeat", type=int, default=3, help="timing: best of N (not for `all`)")
    args = ap.parse_args()
    sets = args.sets.split(",")
    if args.mode == "time":
        timing(sets, args.scratch, args.repeat)
        return 0
    if args.mode == "versions":
        return versions(sets, args.scratch)
    if args.mode == "mutants":
        return mutants(sets, args.scratch)
    return oracle(args.mode, sets, args.scratch)


if __name__ == "__main__":
    sys.exit(main())
