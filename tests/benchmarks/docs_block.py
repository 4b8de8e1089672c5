"""Shared by the benchmark scripts: rewrite one generated block of docs/benchmarks.md.

Each script owns a `## Section` and a pair of markers; the hand-written text around the
block and every other section stay as they are.
"""

from __future__ import annotations

from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"


def write_block(section: str, begin: str, end: str, text: str, doc: Path = DOC) -> None:
    old = doc.read_text() if doc.exists() else "# Benchmarks\n"
    block = f"{begin}\n{text}{end}"
    heading = f"\n## {section}\n"
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        new = head + block + rest.split(end, 1)[1]
    elif heading in old:
        head, rest = old.split(heading, 1)
        new = head + f"{heading}\n" + block + "\n" + rest
    else:
        new = old.rstrip("\n") + f"\n{heading}\n" + block + "\n"
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(new)
