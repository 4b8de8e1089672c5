"""Write the disguise corpus: `python -m corpora.bench.generate --out DIR [--seeds]`.

With no --seeds, code comes from pinned wheels downloaded into --work (default
~/.cache/plagiarism-bench); with --seeds, from our own hand-written files in corpora/bench/seeds/
(no network: that is what CI uses). The output is DIR/<case id>/{a,b,truth.json} plus
DIR/manifest.json. The same arguments always give the same corpus.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import sys
from pathlib import Path

from . import cases as c
from . import copied_from
from .pool import WHEELS, SourceFile, Unit, ensure_wheels, read_file, units_of

log = logging.getLogger("corpora.bench")
HERE = Path(__file__).resolve().parent
LEVELS = (0, 1, 2, 3, 4)
# Positive cases are drawn from each package in proportion to how much code people copy from it.
PACKAGE_WEIGHTS = {"transformers": 4, "diffusers": 3, "timm": 2, "peft": 1, "accelerate": 1}
# Unrelated pairs avoid the package pairs where one is known to copy from the other.
KIN = {frozenset({"transformers", "diffusers"}), frozenset({"transformers", "timm"}),
       frozenset({"diffusers", "timm"})}


class Pool:
    """Lazily parsed source files of several packages."""

    def __init__(self, roots: dict[str, Path]) -> None:
        self.roots = roots
        # Paths are relative to the root and start with the package folder (`timm/layers/...`).
        self.paths = {
            pkg: sorted(p.relative_to(root).as_posix() for p in (root / pkg).rglob("*.py")
                        if "/dummy_" not in p.as_posix() and p.name != "__init__.py"
                        and "/tests/" not in p.as_posix())
            for pkg, root in roots.items()
        }
        self.cache: dict[tuple[str, str], SourceFile | None] = {}
        self.unit_cache: dict[tuple[str, str], list[Unit]] = {}

    def file(self, pkg: str, rel: str) -> SourceFile | None:
        key = (pkg, rel)
        if key not in self.cache:
            self.cache[key] = read_file(pkg, self.roots[pkg], rel)
        return self.cache[key]

    def units(self, sf: SourceFile) -> list[Unit]:
        key = (sf.package, sf.path)
        if key not in self.unit_cache:
            self.unit_cache[key] = units_of(sf)
        return self.unit_cache[key]

    def random_file(self, rng: random.Random, pkg: str, min_units: int = 1,
                    ) -> tuple[SourceFile, list[Unit]]:
        for _ in range(200):
            sf = self.file(pkg, rng.choice(self.paths[pkg]))
            if sf is None or "Copied from" in sf.text:
                continue
            us = self.units(sf)
            if len(us) >= min_units:
                return sf, us
        raise RuntimeError(f"no usable file in {pkg}")


def _pick_package(rng: random.Random, pool: Pool, exclude: str | None = None) -> str:
    pkgs = [p for p in pool.roots if p != exclude]
    weights = [PACKAGE_WEIGHTS.get(p, 1) for p in pkgs]
    return rng.choices(pkgs, weights)[0]


def positives(pool: Pool, per_level: int, rng: random.Random) -> list[c.Case]:
    out = []
    for level in LEVELS:
        made = 0
        while made < per_level:
            pkg = _pick_package(rng, pool)
            sf, units = pool.random_file(rng, pkg)
            k = min(len(units), rng.choice((1, 2, 2, 3)))
            chosen = sorted(rng.sample(units, k), key=lambda u: u.node.lineno)
            filler = []
            if len(pool.roots) > 1 and rng.random() < 0.5:
                fsf, fus = pool.random_file(rng, _pick_package(rng, pool, exclude=pkg))
                filler = [(fsf, rng.choice(fus))]
            case = c.make_positive(f"L{level}-{made:04d}", level, sf, chosen, filler, rng)
            if case.pairs:
                out.append(case)
                made += 1
    return out


def ablations(pool: Pool, per_disguise: int, rng: random.Random) -> list[c.Case]:
    """L2 plus one L4 disguise at a time: which disguise defeats a tool, not just whether L4 does.
    Only cases where the disguise actually changed a judged function are kept."""
    out = []
    for only in c.L4_DISGUISES:
        made = tries = 0
        while made < per_disguise and tries < per_disguise * 40:
            tries += 1
            pkg = _pick_package(rng, pool)
            sf, units = pool.random_file(rng, pkg)
            k = min(len(units), rng.choice((1, 2, 2, 3)))
            chosen = sorted(rng.sample(units, k), key=lambda u: u.node.lineno)
            case = c.make_positive(f"A-{only}-{made:04d}", 4, sf, chosen, [], rng, only=only)
            tag = {"loop_comp": ("loop_to_comp", "comp_to_loop"),
                   "for_while": ("for_to_while", "while_to_for"),
                   "hints_defaults": ("hints_added", "hints_removed"),
                   "move_files": ()}.get(only, (only,))
            changed = any(t in p["tags"] for p in case.pairs for t in tag) if tag else \
                len(case.files_b) > 1
            if case.pairs and changed:
                out.append(case)
                made += 1
    return out


def _spec_unit(pool: Pool, spec: list[str]) -> tuple[SourceFile, Unit] | None:
    pkg, rel, qual = spec
    if pkg not in pool.roots:
        return None
    sf = pool.file(pkg, rel)
    if sf is None:
        return None
    for u in units_of(sf, limit=False):
        if u.qualname == qual:
            return sf, u
    return None


def designated(pool: Pool, spec_path: Path, rng: random.Random) -> list[c.Case]:
    spec = json.loads(spec_path.read_text())
    avoid = frozenset((row[side][1], row[side][2]) for row in spec.get("shared", [])
                      for side in ("a", "b"))
    out = []
    n = 0
    for group, shared in (("same_job", False), ("shared", True)):
        for row in spec.get(group, []):
            a = _spec_unit(pool, row["a"])
            b = _spec_unit(pool, row["b"])
            if a is None or b is None:
                log.warning("negative spec not found, skipped: %s", row)
                continue
            methods = row.get("methods")
            rev = {v: k for k, v in methods.items()} if methods else None
            directions = [(a, b, methods)] if shared else [(a, b, methods), (b, a, rev)]
            for (sa, ua), (sb, ub), meth in directions:
                level = "NEG-shared" if shared else "NEG-samejob"
                case = c.make_pair_case(f"{level}-{n:04d}", level, sa, ua, sb, ub, row["job"],
                                        meth, shared, rng, avoid)
                n += 1
                if case.negatives or case.shared:
                    out.append(case)
    return out


def unrelated(pool: Pool, count: int, rng: random.Random) -> list[c.Case]:
    out = []
    pkgs = list(pool.roots)
    while len(out) < count:
        pa = _pick_package(rng, pool)
        others = [p for p in pkgs if p != pa and frozenset({pa, p}) not in KIN] or \
            [p for p in pkgs if p != pa] or [pa]
        pb = rng.choice(others)
        sa, _ = pool.random_file(rng, pa)
        sb, _ = pool.random_file(rng, pb)
        if sa.path == sb.path and pa == pb:
            continue
        case = c.make_unrelated(f"NEG-unrelated-{len(out):04d}", sa, sb, rng)
        if case.negatives:
            out.append(case)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--work", type=Path, default=Path.home() / ".cache" / "plagiarism-bench")
    ap.add_argument("--seeds", action="store_true", help="use corpora/bench/seeds (no network)")
    ap.add_argument("--per-level", type=int, default=40)
    ap.add_argument("--unrelated", type=int, default=60)
    ap.add_argument("--copied", type=int, default=80, help="Copied-from cases (file pairs)")
    ap.add_argument("--ablation", type=int, default=None,
                    help="cases per single-disguise ablation (default: half of --per-level)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rng = random.Random(args.seed)
    if args.seeds:
        seeds = HERE / "seeds"
        roots = {p.name: seeds for p in sorted(seeds.iterdir()) if p.is_dir()}
        spec = seeds / "negatives.json"
        versions: dict[str, str] = {"seeds": "corpora/bench/seeds"}
    else:
        roots = ensure_wheels(args.work)
        spec = HERE / "negatives.json"
        versions = dict(WHEELS)
    pool = Pool(roots)
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    all_cases = positives(pool, args.per_level, rng)
    n_ablation = args.ablation if args.ablation is not None else max(1, args.per_level // 2)
    all_cases += ablations(pool, n_ablation, rng)
    all_cases += designated(pool, spec, rng)
    all_cases += unrelated(pool, args.unrelated, rng)
    if not args.seeds and args.copied > 0:
        all_cases += copied_from.make_cases(roots["transformers"], args.copied, rng)
    for case in all_cases:
        c.add_twins(case).write(args.out)
    manifest = {
        "seed": args.seed, "source": "seeds" if args.seeds else "wheels", "versions": versions,
        "per_level": args.per_level, "unrelated": args.unrelated, "copied": args.copied, "ablation": n_ablation,
        "cases": [x.id for x in all_cases],
    }
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    by_level: dict[str, int] = {}
    for x in all_cases:
        by_level[x.level] = by_level.get(x.level, 0) + 1
    log.info("wrote %d cases to %s: %s", len(all_cases), args.out, by_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
