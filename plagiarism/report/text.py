"""The terminal summary: verdict, top pairs, rename map, warnings. Plain text, no colour codes."""

from __future__ import annotations

from plagiarism.artifacts import summary_lines
from plagiarism.model import Result, Source, UnitRef
from plagiarism.report.locations import Cells, cells_of, where
from plagiarism.report.ranking import ranked
from plagiarism.report.terminal import one_line


def _source(label: str, s: Source) -> str:
    spec = s.spec
    if s.rev:
        spec += f"@{s.rev}"
    commit = f" commit {s.commit[:12]}" if s.commit else ""
    dirty = " (with uncommitted changes)" if s.dirty else ""
    return f"{label}  {spec}  [{s.kind}{commit}{dirty}]"


def _loc(ref: UnitRef, cells: Cells) -> str:
    return where(ref.path, cells.get(ref.file_sha256), ref.start_line, ref.end_line, "-")


def render(result: Result, top: int = 15, renames: int = 15) -> str:
    s = result.summary
    lines = [
        _source("A (original)", result.source_a),
        _source("B (suspect) ", result.source_b),
        "",
        f"Verdict: {s.verdict}. {s.similarity:.0%} of B's code is explained by A "
        f"(similarity {s.similarity:.3f})"
        # A result written before the share of A was kept has no tokens of A: not 0 %.
        + (f"; {s.similarity_a:.0%} of A's code is found in B." if s.tokens_a else "."),
        f"Compared {s.files_a} files / {s.units_a} units of A with {s.files_b} files / "
        f"{s.units_b} units of B; {s.candidates} candidate shape pairs aligned, "
        f"{s.pairs} reported.",
    ]
    if result.pairs:
        n = len(result.pairs)
        order = ranked(result.pairs)
        kept = sum(p.unchanged for p in result.pairs)
        held = f", {kept} of them code B holds unchanged, listed last" if kept else ""
        lines += ["", f"Top pairs (score = share of the B unit matched; {n} in all{held}):"]
        cells = cells_of(result)
        for _, p in order[:top]:
            # A 1.00 beside a seven-token class header reads as a finding unless it says not.
            tags = (
                ([] if p.one_to_one else ["A unit also matched elsewhere"])
                + (["context"] if p.backed_only else [])
                + (["unchanged"] if p.unchanged else [])
            )
            tag = f"  ({'; '.join(tags)})" if tags else ""
            lines.append(
                f"  {p.score:4.2f}  {p.a.name} {_loc(p.a, cells)}"
                f"  ->  {p.b.name} {_loc(p.b, cells)}{tag}"
            )
        if len(result.pairs) > top:
            lines.append(f"  ... {len(result.pairs) - top} more (see --json or --html)")
        if any(p.backed_only for _, p in order[:top]):
            lines.append(
                "  (context: too small or weak to count alone; shown because findings link "
                "its files or its calls)"
            )
    if result.renames:
        lines += ["", "Rename map (original -> suspect, pairs agreeing):"]
        for r in result.renames[:renames]:
            lines.append(f"  {r.a} -> {r.b}  ({r.count})")
        if len(result.renames) > renames:
            lines.append(f"  ... {len(result.renames) - renames} more")
    if result.artifacts:
        extra = summary_lines(result.artifacts)
        if extra:
            lines += ["", "Model artifacts:"] + [f"  {x}" for x in extra]
    skipped = [w for w in result.warnings if w.skipped]
    if result.warnings:
        lines += [
            "",
            # A skipped-evidence warning may stand for many files ("15 other files ..."):
            # warnings are counted, not files.
            f"Warnings: {len(result.warnings)} ({len(skipped)} of them about evidence missing "
            "from this comparison):",
        ]
        # Missing evidence first: 80 notes on symlinks compared once must not hide the one
        # file that could not be read.
        shown = sorted(result.warnings, key=lambda w: not w.skipped)
        for w in shown[:10]:
            place = " ".join(x for x in (w.side.upper() if w.side else "", w.path or "") if x)
            lines.append(f"  {place}: {w.reason}" if place else f"  {w.reason}")
        if len(result.warnings) > 10:
            lines.append(f"  ... {len(result.warnings) - 10} more (see --json or --html)")
    return "\n".join(map(one_line, lines))
