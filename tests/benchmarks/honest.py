"""False alarms on whole honest packages: independent projects that share style, not code.

    python tests/benchmarks/honest.py               # prints, and rewrites docs/benchmarks.md
    python tests/benchmarks/honest.py --no-write    # prints only

The disguise benchmark's negatives are designated functions; a reviewer sees every finding
of a whole comparison. Here pairs of real packages that were written independently (same
ecosystem, same house style, some real shared code) are compared whole, from pinned wheels
fetched with `pip download --no-deps` into --work (never the repository). Each finding is
either one of the copies we found between them by reading both sides (listed below, with
where each came from) or a false alarm. Prints per pair: findings, known copies found,
false alarms and their names.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from disguise import engine_commit, machine  # noqa: E402
from docs_block import write_block  # noqa: E402
from wheels import fetch_tree, work_dir  # noqa: E402

BEGIN, END = "<!-- honest:begin (written by tests/benchmarks/honest.py) -->", "<!-- honest:end -->"


@dataclass(frozen=True)
class HonestPair:
    a: str  # pip requirement of the original side
    b: str
    # Copies between them found by reading both sides: (B path, B unit), and why.
    copies: tuple[tuple[str, str, str], ...]


PAIRS = (
    HonestPair(
        "accelerate==1.1.1",
        "peft==0.13.2",
        (
            ("peft/utils/other.py", "str_to_bool", "accelerate's str_to_bool, same body"),
            (
                "peft/tuners/boft/layer.py",
                "patch_environment",
                "accelerate's patch_environment context manager, same body",
            ),
        ),
    ),
    HonestPair(
        "timm==1.0.11",
        "diffusers==0.31.0",
        (
            (
                "diffusers/pipelines/unidiffuser/modeling_uvit.py",
                "_no_grad_trunc_normal_",
                "timm's _trunc_normal_ (itself from PyTorch), names kept",
            ),
        ),
    ),
    # Vision transformers written apart from timm, but for the CCT port, which brought
    # DeiT's weight init with it (down to its redundant `isinstance(m, nn.Linear) and`).
    HonestPair(
        "timm==1.0.11",
        "vit-pytorch==1.7.14",
        tuple(
            (
                f"vit_pytorch/{module}.py",
                "TransformerClassifier.init_weight",
                "timm's (DeiT's) _init_weights, the redundant isinstance check kept",
            )
            for module in ("cct", "cct_3d")
        ),
    ),
)


def fetch(req: str, work: Path) -> Path:
    name, version = req.split("==")
    return fetch_tree(name, version, work)


def run_pair(pair: HonestPair, work: Path) -> dict:
    from plagiarism import Settings, compare

    a, b = fetch(pair.a, work), fetch(pair.b, work)
    start = time.perf_counter()
    result = compare(a, b, Settings(use_cache=False))
    seconds = time.perf_counter() - start
    findings = [p for p in result.pairs if not p.backed_only]
    known = {(path, name) for path, name, _ in pair.copies}
    found = {(p.b.path, p.b.name) for p in findings} & known
    false = [p for p in findings if (p.b.path, p.b.name) not in known]
    return {
        "pair": f"{pair.a} → {pair.b}",
        "files": f"{result.summary.files_a} / {result.summary.files_b}",
        "similarity": result.summary.similarity,
        "findings": len(findings),
        "copies": f"{len(found)} / {len(known)}",
        "missed": sorted(known - found),
        "false": [f"`{p.a.name}` → `{p.b.name}` ({p.score:.2f})" for p in false],
        "seconds": seconds,
    }


def render(rows: list[dict], meta: dict) -> str:
    out = [
        f"Command: `{meta['command']}`",
        "",
        f"Engine: plagiarism at commit {meta['commit']}. Machine: {meta['machine']}. "
        f"Date: {meta['date']}.",
        "",
        "| A → B (whole packages) | files A / B | similarity | findings | known copies found "
        "| false alarms | time |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['pair']} | {r['files']} | {r['similarity']:.3f} | {r['findings']} "
            f"| {r['copies']} | {len(r['false'])} | {r['seconds']:.1f} s |"
        )
    out.append("")
    for r in rows:
        if r["missed"]:
            out.append(f"Missed in {r['pair']}: {', '.join(n for _, n in r['missed'])}.")
        if r["false"]:
            out.append(f"False alarms in {r['pair']}: {'; '.join(r['false'])}.")
    out.append("")
    out.append("Known copies (found by reading both sides):")
    for pair in PAIRS:
        for path, name, why in pair.copies:
            out.append(f"- {pair.b}: `{path}` `{name}`: {why}.")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "plagiarism-honest")
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/ alone")
    args = ap.parse_args(argv)
    work = work_dir(args.work, ROOT)
    logging.getLogger("plagiarism").setLevel(logging.ERROR)
    rows = [run_pair(pair, work) for pair in PAIRS]
    meta = {
        "command": "python tests/benchmarks/honest.py" + "".join(f" {a}" for a in (argv or [])),
        "commit": engine_commit(),
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    text = render(rows, meta)
    print(text)
    if not args.no_write:
        write_block("Honest siblings", BEGIN, END, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
