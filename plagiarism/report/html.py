"""The HTML report: one self-contained page a reviewer can open from disk, years later, offline.

The page makes the case at a glance (verdict, ranked pairs, rename map) and lets a reviewer check
every claim down to the line (side-by-side fragments, file hashes, settings, warnings). Pairs
beyond `inline_pairs` (or PAGE_LINES of code drawn) go to further self-contained pages next to the
first, so a comparison of two large repositories still opens quickly.

Everything shown comes from untrusted repositories, so everything is escaped: jinja2 autoescape
for the templates, `markupsafe.escape` for each highlighted token. A Content-Security-Policy that
allows only the page's own stylesheet and script (by hash) is a second line of defence.
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import json
import keyword
import logging
import re
import urllib.parse
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cache
from itertools import accumulate
from pathlib import Path

import jinja2
from markupsafe import Markup, escape

from plagiarism.errors import PlagiarismError, UsageError
from plagiarism.executor import Executor, Serial
from plagiarism.model import Pair, Region, Rename, Result, Source, UnitRef
from plagiarism.parse import node_kinds, nodes_by_kind, parse_text
from plagiarism.progress import Progress, Silent
from plagiarism.report.locations import CellMap, Cells, cells_of, line_label, span
from plagiarism.report.ranking import ranked

log = logging.getLogger(__name__)

# Regions cycle through this many tints; neighbouring regions always differ.
PALETTE_SIZE = 8
# Unmatched runs keep this many lines next to a match, so a reader sees where a match starts.
FOLD_CONTEXT = 3
# Fold only when it hides at least this many lines: a fold that hides two lines only costs a click.
FOLD_MIN_HIDDEN = 6
# Above this many regions the quadratic alignment chain is skipped (columns are still tinted).
MAX_ALIGNED_REGIONS = 400
# A rename that is not one-to-one lists this many of the competing mappings.
RENAME_OTHERS_SHOWN = 3
# Long lists inside the artifacts evidence are cut here in the page; the JSON has them all.
ARTIFACT_LIST_LIMIT = 200

_MARKER = "plagiarism-report"

# Characters that change how code looks without being visible (Trojan Source, CVE-2021-42574),
# and control characters (an escape sequence in a file name, a form feed in code), which a
# browser draws as nothing: a reviewer must see them, so they are shown as a `U+XXXX` mark.
# Tabs and line ends are layout.
_INVISIBLE = frozenset(
    "\u061c\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2066\u2067\u2068\u2069\ufeff"
) | frozenset(chr(c) for c in (*range(0x20), *range(0x7F, 0xA0)) if chr(c) not in "\t\n\r")
_INVISIBLE_RE = re.compile("[" + re.escape("".join(sorted(_INVISIBLE))) + "]")

# Coarse token classes: a few accessible colours read better than a full theme.
# What each capture of `_HIGHLIGHT` paints, by precedence: of two captures of one node, the
# first listed wins (a function's name is `fn`, not `name`), and a capture inside one taken
# already is part of it (a name in an f-string is string).
_PAINT = {
    "doc": "cm",
    "st": "st",
    "cm": "cm",
    "de": "de",
    "at": "de",  # a decorator's `@`
    "fn": "fn",
    "cl": "cl",
    "attr": "",
    "kw": "kw",
    "nu": "nu",
    "name": "",
}
_PRECEDENCE = {capture: i for i, capture in enumerate(_PAINT)}
_NAME_CAPTURES = frozenset({"de", "fn", "cl", "attr", "name"})  # what a rename can mark
_EXCEPTIONS = frozenset(
    n for n, v in vars(builtins).items() if isinstance(v, type) and issubclass(v, BaseException)
)
_BUILTINS = (frozenset(vars(builtins)) - _EXCEPTIONS) | {"self", "cls"}
_KEYWORDS = frozenset(keyword.kwlist) | {"match", "case"}


def _highlight_patterns() -> tuple[str, ...]:
    keywords = sorted(name for _, name, named in node_kinds() if not named and name in _KEYWORDS)
    return (
        "(comment) @cm",
        "(expression_statement . (string) @doc .)",
        "(string) @st",
        "[(integer) (float)] @nu",
        "[(true) (false) (none)] @kw",
        "[" + " ".join(f'"{k}"' for k in keywords) + "] @kw",
        '(decorator "@" @at)',
        "(decorator [(identifier) (attribute)] @de)",
        "(decorator (call function: [(identifier) (attribute)] @de))",
        "(function_definition name: (identifier) @fn)",
        "(class_definition name: (identifier) @cl)",
        "(attribute attribute: (identifier) @attr)",
        "(identifier) @name",
    )


_HIGHLIGHT = _highlight_patterns()


# --- views handed to the templates -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cell:
    """One side of one row of a side-by-side view; `line` None is padding for alignment."""

    line: int | None
    html: Markup
    region: int | None  # 0-based index into pair.regions whose tint this line carries
    also: tuple[int, ...] = ()  # further regions that share this line
    first: bool = False  # the region's first line on this side: where its label goes
    label: str | None = None  # what the gutter shows, when not `line` (notebooks: cell:line)


@dataclass(frozen=True, slots=True)
class Row:
    a: Cell
    b: Cell

    @property
    def matched(self) -> bool:
        return self.a.region is not None or self.b.region is not None


@dataclass(frozen=True, slots=True)
class Block:
    """Consecutive rows, either shown or folded into a <details>; `html` is the rows as
    the page shows them (see `_rows_html`)."""

    rows: tuple[Row, ...]
    folded: bool
    summary: str = ""
    html: Markup = Markup("")


@dataclass(frozen=True, slots=True)
class RegionView:
    number: int  # 1-based, as shown
    tint: int
    region: Region
    a_lines: str  # the region's lines on each side, as the page names them
    b_lines: str


@dataclass(frozen=True, slots=True)
class RenameView:
    a: str
    b: str
    count: int
    consistent: bool  # a maps only to b and b comes only from a, across the whole map
    others: tuple[str, ...] = ()  # the other mappings of a or onto b, strongest first


@dataclass(frozen=True, slots=True)
class PairView:
    rank: int  # 1-based position by score
    id: int  # 1-based position in Result.pairs, the same as "id" in the JSON
    pair: Pair
    page: int  # 0: the overview page, n: the n-th further page
    href: str  # link to this pair from any page
    blocks: tuple[Block, ...] = ()
    regions: tuple[RegionView, ...] = ()
    notes: tuple[str, ...] = ()  # why some text cannot be shown

    @property
    def unchanged(self) -> bool:
        return self.pair.unchanged

    @property
    def anchor(self) -> str:
        return f"pair-{self.id}"


@dataclass(frozen=True, slots=True)
class PageLink:
    number: int
    href: str
    first_rank: int
    last_rank: int


# --- highlighting ------------------------------------------------------------------------------


def visible(text: object) -> Markup:
    """Escape `text` and show invisible or direction-changing characters as marks."""
    return Markup(_visible_str(str(text)))


# markupsafe.escape's replacements, applied by str.translate: the same text, without making
# a Markup of every token of every line shown (~5 million at 300 files a side).
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;"})


def _visible_str(s: str) -> str:
    if not _INVISIBLE_RE.search(s):
        return s.translate(_ESCAPES)
    out: list[str] = []
    for part in re.split(f"({_INVISIBLE_RE.pattern})", s):
        if len(part) == 1 and part in _INVISIBLE:
            code = f"U+{ord(part):04X}"
            out.append(f'<span class="ctl" title="invisible character {code}">{code}</span>')
        else:
            out.append(part.translate(_ESCAPES))
    return "".join(out)


# A line as (css class, text, is a name) triples; names are what a rename can mark.
_Line = tuple[tuple[str, str, bool], ...]


class _Highlighter:
    """Paints the lines of each unit shown and renders them with a pair's renames marked.

    Only the unit's own lines are parsed: a unit starts at a statement (def, class,
    decorator, or the file's first line), so on its own (an indented one as the body of a
    block) it parses as it does in its file, at a fraction of the cost for large files.
    """

    def __init__(self, blobs: dict[str, str], cells: Cells | None = None) -> None:
        self._blobs = blobs
        self.cells = cells or {}
        self._split: dict[str, list[str] | None] = {}
        self._units: dict[tuple[str, int, int], dict[int, _Line]] = {}
        # A painted line with no rename to mark, by the identity of its tokens (kept alive
        # by `_units`): both sides of a pair from one file show the same lines, which is
        # most pairs between two versions of a repository.
        self._plain: dict[int, Markup] = {}

    def line_count(self, sha: str) -> int | None:
        """Lines in the stored text of the file, None when the result does not hold it."""
        lines = self._raw(sha)
        return None if lines is None else len(lines)

    def _raw(self, sha: str) -> list[str] | None:
        if sha not in self._split:
            text = self._blobs.get(sha)
            # Line numbers come from the parser, which counts "\n" (a "\r\n" is one line end).
            self._split[sha] = None if text is None else text.replace("\r\n", "\n").split("\n")
        return self._split[sha]

    def unit(self, sha: str, start: int, end: int) -> dict[int, _Line]:
        """Tokens of lines start..end (1-based, inclusive) that exist in the stored text."""
        key = (sha, start, end)
        if key not in self._units:
            raw = self._raw(sha) or []
            first, last = max(start, 1), min(end, len(raw))
            text = "\n".join(raw[first - 1 : last]) if first <= last else ""
            # A lone "\r" is no line end to the parser but would be one to the lexer.
            lexed = self._lex(text.replace("\r", "\u240d"))
            self._units[key] = {
                first + i: line for i, line in enumerate(lexed) if first + i <= last
            }
        return self._units[key]

    @staticmethod
    def _lex(text: str) -> list[_Line]:
        """The lines of `text` as painted tokens, from tree-sitter's parse (the engine's own
        parser, in C: pygments' lexer, in Python, took three quarters of the time of writing
        a big report)."""
        # An indented unit (a method) parses as the body of a block, as in its file.
        prefix = "if 1:\n" if text[:1] in (" ", "\t") else ""
        try:
            parsed = parse_text(prefix + text)
        except UnicodeEncodeError:  # lone surrogates (a file kept byte for byte): unpainted
            return [(("", line, False),) if line else () for line in text.split("\n")]
        src = parsed.source
        spans = sorted(
            (node.start_byte, -node.end_byte, _PRECEDENCE[capture], capture)
            for capture, nodes in nodes_by_kind(parsed.root, _HIGHLIGHT).items()
            if capture in _PRECEDENCE
            for node in nodes
        )
        lines: list[list[tuple[str, str, bool]]] = [[]]

        def add(css: str, chunk: bytes, is_name: bool) -> None:
            if b"\n" not in chunk:  # most tokens
                if chunk:
                    lines[-1].append((css, chunk.decode("utf-8", "replace"), is_name))
                return
            for i, part in enumerate(chunk.decode("utf-8", "replace").split("\n")):
                if i:
                    lines.append([])
                if part:
                    lines[-1].append((css, part, is_name))

        pos = len(prefix)  # ASCII: as many bytes as characters
        for start, neg_end, _, capture in spans:
            if start < pos:  # the prefix, or inside a token taken already
                continue
            if start > pos:
                add("", src[pos:start], False)
            end = -neg_end
            css = _PAINT[capture]
            if capture == "name":
                word = src[start:end].decode("utf-8", "replace")
                css = "cl" if word in _EXCEPTIONS else "bi" if word in _BUILTINS else ""
            add(css, src[start:end], capture in _NAME_CAPTURES)
            pos = end
        add("", src[pos:], False)
        return [tuple(line) for line in lines]

    def render(self, line: _Line, renamed: dict[str, str]) -> Markup:
        if renamed:
            return self._paint(line, renamed)
        got = self._plain.get(id(line))
        if got is None:
            got = self._plain[id(line)] = self._paint(line, renamed)
        return got

    @staticmethod
    def _paint(line: _Line, renamed: dict[str, str]) -> Markup:
        out: list[str] = []
        for css, text, is_name in line:
            body = _visible_str(text)
            if is_name and text in renamed:
                title = escape(renamed[text])
                cls = f"rn {css}" if css else "rn"
                out.append(f'<span class="{cls}" title="{title}">{body}</span>')
            elif css:
                out.append(f'<span class="{css}">{body}</span>')
            else:
                out.append(body)
        return Markup("".join(out))


# --- side-by-side alignment ------------------------------------------------------------------


def _line_regions(
    regions: Sequence[Region], side: str, start: int, end: int
) -> dict[int, list[int]]:
    """Map each line of the unit to the regions covering it, smallest region first.

    Several tiles can end and start on the same line; the smallest one gets the tint so a
    one-line region is never hidden under a long one.
    """
    covering: dict[int, list[int]] = defaultdict(list)
    for i, region in enumerate(regions):
        rng = region.a if side == "a" else region.b
        for line in range(max(rng.start_line, start), min(rng.end_line, end) + 1):
            covering[line].append(i)

    def size(i: int) -> int:
        rng = regions[i].a if side == "a" else regions[i].b
        return rng.end_line - rng.start_line

    return {line: sorted(ids, key=lambda i: (size(i), i)) for line, ids in covering.items()}


def _anchors(regions: Sequence[Region]) -> list[tuple[int, int]]:
    """Line pairs (a, b) to put on the same row: the heaviest chain of regions in order on both
    sides. Regions outside the chain (reordered code) keep their tint but do not align."""
    order = sorted(
        range(len(regions)), key=lambda i: (regions[i].a.start_line, regions[i].b.start_line)
    )
    if not order or len(order) > MAX_ALIGNED_REGIONS:
        return []
    best: list[int] = [regions[i].tokens for i in order]
    prev: list[int] = [-1] * len(order)
    for j in range(len(order)):
        rj = regions[order[j]]
        for i in range(j):
            ri = regions[order[i]]
            if (
                rj.a.start_line >= ri.a.end_line
                and rj.b.start_line >= ri.b.end_line
                and rj.a.start_line > ri.a.start_line
                and rj.b.start_line > ri.b.start_line
                and best[i] + rj.tokens > best[j]
            ):
                best[j] = best[i] + rj.tokens
                prev[j] = i
    j = max(range(len(order)), key=lambda k: best[k])
    chain: list[Region] = []
    while j >= 0:
        chain.append(regions[order[j]])
        j = prev[j]
    chain.reverse()
    out: list[tuple[int, int]] = []
    for region in chain:
        for point in (
            (region.a.start_line, region.b.start_line),
            (region.a.end_line, region.b.end_line),
        ):
            if not out or (point[0] > out[-1][0] and point[1] > out[-1][1]):
                out.append(point)
    return out


def _align(
    a_start: int, a_end: int, b_start: int, b_end: int, anchors: Iterable[tuple[int, int]]
) -> list[tuple[int | None, int | None]]:
    """Rows of (line a, line b) covering both units, with anchor lines on the same row."""
    rows: list[tuple[int | None, int | None]] = []
    la, lb = a_start, b_start
    points = [(x, y) for x, y in anchors if a_start <= x <= a_end and b_start <= y <= b_end]
    for x, y in [*points, (a_end + 1, b_end + 1)]:
        if x < la or y < lb:
            continue
        left = list(range(la, x))
        right = list(range(lb, y))
        for k in range(max(len(left), len(right))):
            rows.append((left[k] if k < len(left) else None, right[k] if k < len(right) else None))
        if x <= a_end and y <= b_end:
            rows.append((x, y))
        la, lb = x + 1, y + 1
    return rows


def _fold(
    rows: Sequence[Row], cells_a: CellMap | None = None, cells_b: CellMap | None = None
) -> list[Block]:
    """Fold long runs of unmatched rows, keeping FOLD_CONTEXT rows next to each match."""
    blocks: list[Block] = []
    shown: list[Row] = []
    i = 0
    while i < len(rows):
        if rows[i].matched:
            shown.append(rows[i])
            i += 1
            continue
        j = i
        while j < len(rows) and not rows[j].matched:
            j += 1
        head = FOLD_CONTEXT if i > 0 else 0
        tail = FOLD_CONTEXT if j < len(rows) else 0
        if (j - i) - head - tail < FOLD_MIN_HIDDEN:
            shown.extend(rows[i:j])
        else:
            shown.extend(rows[i : i + head])
            blocks.append(_block(tuple(shown), folded=False))
            shown = []
            hidden = tuple(rows[i + head : j - tail])
            summary = _fold_summary(hidden, cells_a, cells_b)
            blocks.append(_block(hidden, folded=True, summary=summary))
            shown.extend(rows[j - tail : j])
        i = j
    if shown:
        blocks.append(_block(tuple(shown), folded=False))
    return blocks


def _block(rows: tuple[Row, ...], *, folded: bool, summary: str = "") -> Block:
    return Block(rows, folded, summary, _rows_html(rows))


def _rows_html(rows: Sequence[Row]) -> Markup:
    """The rows of a side-by-side view as the page shows them. Made here rather than by a
    template macro per cell: ~650,000 macro calls at 300 files a side were half the time of
    writing the report. (`Cell.html` is escaped already; the rest are numbers.)"""
    return Markup(
        "".join(f'<div class="row">{_cell_html(r.a)}{_cell_html(r.b)}</div>\n' for r in rows)
    )


def _cell_html(c: Cell) -> str:
    if c.line is None:
        return '<span class="ln"></span><code class="c gap"></code>'
    number = c.line if c.label is None else c.label
    if c.region is None:
        return f'<span class="ln">{number}</span><code class="c">{c.html}</code>'
    tint = c.region % PALETTE_SIZE
    title = "".join([f"region {c.region + 1}", *(f", region {o + 1}" for o in c.also)])
    label = f'<b class="rb">R{c.region + 1}</b>' if c.first else ""
    return (
        f'<span class="ln t{tint}" title="{title}">{label}{number}</span>'
        f'<code class="c t{tint}" data-r="{c.region + 1}">{c.html}</code>'
    )


def _fold_summary(
    rows: Sequence[Row], cells_a: CellMap | None = None, cells_b: CellMap | None = None
) -> str:
    def side_span(lines: list[int], side: str, cells: CellMap | None) -> str:
        if not lines:
            return ""
        return f"{side} {span(cells, lines[0], lines[-1])}"

    a = [r.a.line for r in rows if r.a.line is not None]
    b = [r.b.line for r in rows if r.b.line is not None]
    at = ", ".join(s for s in (side_span(a, "A", cells_a), side_span(b, "B", cells_b)) if s)
    return f"{len(rows)} unmatched lines ({at})"


def _side_renames(renames: Sequence[Rename]) -> tuple[dict[str, str], dict[str, str]]:
    """Tooltip text per name on each side, e.g. `hidden_size → dim`."""
    to_b: dict[str, list[Rename]] = defaultdict(list)
    to_a: dict[str, list[Rename]] = defaultdict(list)
    for r in renames:
        if r.a != r.b:
            to_b[r.a].append(r)
            to_a[r.b].append(r)

    def tip(rs: list[Rename]) -> str:
        return "; ".join(
            f"{r.a} → {r.b} ({r.count} aligned token{'' if r.count == 1 else 's'})" for r in rs
        )

    return {k: tip(v) for k, v in to_b.items()}, {k: tip(v) for k, v in to_a.items()}


def _side_by_side(pair: Pair, hl: _Highlighter) -> tuple[tuple[Block, ...], tuple[str, ...]]:
    notes: list[str] = []
    # The rows drawn end where the stored text ends: a result read back from a file may say
    # a unit ends at line 100,000,000 (a hostile file), which would be as many rows.
    ends: list[int] = []
    for side, ref in (("A", pair.a), ("B", pair.b)):
        count = hl.line_count(ref.file_sha256)
        if count is None:
            notes.append(
                f"The text of {side}'s file {ref.path} (SHA-256 {ref.file_sha256}) is not in "
                "this result, so its lines cannot be shown."
            )
        elif ref.end_line > count:
            notes.append(
                f"{side}'s unit ends at line {ref.end_line} but the stored text of {ref.path} "
                f"has {count} lines; the lines past its end are left out."
            )
        ends.append(ref.start_line - 1 if count is None else min(ref.end_line, count))
    a_end, b_end = ends
    a_lines = hl.unit(pair.a.file_sha256, pair.a.start_line, a_end)
    b_lines = hl.unit(pair.b.file_sha256, pair.b.start_line, b_end)
    ren_a, ren_b = _side_renames(pair.renames)
    reg_a = _line_regions(pair.regions, "a", pair.a.start_line, a_end)
    reg_b = _line_regions(pair.regions, "b", pair.b.start_line, b_end)
    cells_a = hl.cells.get(pair.a.file_sha256)
    cells_b = hl.cells.get(pair.b.file_sha256)

    def cell(
        side: str,
        line: int | None,
        lines: dict[int, _Line],
        regs: dict[int, list[int]],
        renamed: dict[str, str],
        cells: CellMap | None,
    ) -> Cell:
        if line is None:
            return Cell(None, Markup(""), None)
        tokens = lines.get(line)
        html = Markup("") if tokens is None else hl.render(tokens, renamed)
        label = None if cells is None else line_label(cells, line)
        ids = regs.get(line)
        if not ids:
            return Cell(line, html, None, label=label)
        region = pair.regions[ids[0]]
        rng = region.a if side == "a" else region.b
        first = line == rng.start_line or line == (pair.a if side == "a" else pair.b).start_line
        return Cell(line, html, ids[0], tuple(ids[1:]), first, label)

    rows = [
        Row(
            cell("a", x, a_lines, reg_a, ren_a, cells_a),
            cell("b", y, b_lines, reg_b, ren_b, cells_b),
        )
        for x, y in _align(
            pair.a.start_line, a_end, pair.b.start_line, b_end, _anchors(pair.regions)
        )
    ]
    return tuple(_fold(rows, cells_a, cells_b)), tuple(notes)


# --- the rename map ------------------------------------------------------------------------------


def rename_rows(renames: Sequence[Rename]) -> list[RenameView]:
    """The repo-level rename map, strongest evidence first, with one-to-one consistency."""
    real = sorted((r for r in renames if r.a != r.b), key=lambda r: (-r.count, r.a, r.b))
    by_a: dict[str, list[Rename]] = defaultdict(list)
    by_b: dict[str, list[Rename]] = defaultdict(list)
    for r in real:
        by_a[r.a].append(r)
        by_b[r.b].append(r)
    rows = []
    for r in real:
        others = [o for o in (*by_a[r.a], *by_b[r.b]) if o is not r]
        rows.append(
            RenameView(
                r.a,
                r.b,
                r.count,
                not others,
                tuple(f"{o.a} → {o.b} ({o.count})" for o in others[:RENAME_OTHERS_SHOWN]),
            )
        )
    rows.sort(key=lambda v: (-v.count, not v.consistent, v.a, v.b))
    return rows


# --- pages -------------------------------------------------------------------------------------


def page_path(path: Path, number: int) -> Path:
    """The n-th further page next to `path`: report.html -> report-pairs-2.html."""
    suffix = path.suffix or ".html"
    return path.with_name(f"{path.stem}-pairs-{number}{suffix}")


def _href(path: Path) -> str:
    return urllib.parse.quote(path.name)


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("plagiarism.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = _pct
    env.filters["visible"] = visible
    env.filters["json"] = _json_value
    env.filters["short"] = lambda sha: (sha or "")[:12]
    env.filters["where"] = _where
    env.filters["table_columns"] = _table_columns
    env.filters["scalars"] = lambda v: all(not isinstance(x, dict | list | tuple) for x in v)
    env.tests["mapping"] = lambda v: isinstance(v, dict)
    env.tests["sequence"] = lambda v: isinstance(v, list | tuple)
    return env


def _where(ref: UnitRef, cells: Cells) -> Markup:
    """A unit's file and lines (`lines` in the templates), its path escaped as shown."""
    at = cells.get(ref.file_sha256)
    place = span(at, ref.start_line, ref.end_line)
    return visible(ref.path) + Markup(f":{place}" if at is None else f", {place}")


def _pct(value: object) -> str:
    if not isinstance(value, int | float):
        return "–"
    return f"{100 * value:.1f}%"


def _table_columns(value: object) -> list[str]:
    """Columns when `value` is a list of flat records with the same keys, else none."""
    if not isinstance(value, list | tuple) or not value:
        return []
    first = value[0]
    if not isinstance(first, dict):
        return []
    keys = list(first)
    for row in value:
        if not isinstance(row, dict) or list(row) != keys:
            return []
        if any(isinstance(x, dict | list | tuple) for x in row.values()):
            return []
    return [str(k) for k in keys]


def _json_value(value: object) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


@cache
def _asset(name: str) -> tuple[Markup, str]:
    """A stylesheet or script from the templates folder, and its CSP hash."""
    env = _environment()
    assert env.loader is not None
    text, _, _ = env.loader.get_source(env, name)
    digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
    # The assets are ours (package data), never user input, so they are trusted markup.
    return Markup(text), f"'sha256-{digest}'"


def _source_rows(source: Source) -> list[tuple[str, str]]:
    return [
        ("Source", source.spec),
        ("Kind", source.kind),
        ("Revision asked for", source.rev or "–"),
        ("Resolved commit", source.commit or "none (a plain folder)"),
        ("Commit date", source.commit_date or "–"),
        ("Work tree", "differs from the commit (uncommitted changes)" if source.dirty else "clean"),
    ]


def _artifact_highlights(artifacts: dict[str, object]) -> list[tuple[str, object]]:
    wanted = [
        ("weights", "verdict", "Weights verdict"),
        ("weights", "noise_std", "Weights noise standard deviation"),
        ("weights", "tensors_paired", "Tensors paired"),
        ("tokenizer", "shared_special_tokens", "Shared special tokens"),
    ]
    out: list[tuple[str, object]] = []
    for section, key, label in wanted:
        block = artifacts.get(section)
        if isinstance(block, dict) and key in block:
            out.append((label, block[key]))
    return out


def _artifact_sections(artifacts: dict[str, object]) -> list[tuple[str, object]]:
    known = [k for k in ("tokenizer", "config", "weights") if k in artifacts]
    rest = sorted(k for k in artifacts if k not in known)
    return [(k, artifacts[k]) for k in [*known, *rest]]


# Seconds to paint and render one line of a side-by-side view (~25 µs at 300 files a side):
# what a further page costs, for the executor.
_SECONDS_PER_LINE = 25e-6


@dataclass(frozen=True, slots=True)
class _PageJob:
    """One further page: what `_write_page` needs and no more, as it may run in a worker."""

    path: Path
    views: tuple[PairView, ...]  # linked, without their evidence yet
    blobs: dict[str, str]  # the texts of the files its pairs come from
    cells: dict[str, CellMap]  # its notebooks' cells
    context: dict[str, object]  # the template's variables, but the pairs


def _write_page(job: _PageJob) -> Path:
    hl = _Highlighter(job.blobs, job.cells)
    on_page = [_with_evidence(v, hl) for v in job.views]
    html = (
        _environment().get_template("pairs_page.html.j2").render(**job.context, pairs_here=on_page)
    )
    _write(job.path, html)
    return job.path


# Lines drawn side by side on one page (both sides counted), beside the count of pairs: the
# pairs a fork changed are often whole modules, and 300 of transformers' made a 29 MB first
# page (~170 bytes a drawn line). A pair longer than this has a page of its own.
PAGE_LINES = 30_000


def _drawn_lines(pair: Pair) -> int:
    return (pair.a.end_line - pair.a.start_line + 1) + (pair.b.end_line - pair.b.start_line + 1)


def _paged(order: list[tuple[int, Pair]], per_page: int) -> list[list[tuple[int, Pair]]]:
    """The ranked pairs cut into pages of at most `per_page` pairs and about PAGE_LINES drawn
    lines (unchanged code is not drawn), in rank order."""
    pages: list[list[tuple[int, Pair]]] = [[]]
    lines = 0
    for item in order:
        cost = 0 if item[1].unchanged else _drawn_lines(item[1])
        if pages[-1] and (len(pages[-1]) >= per_page or lines + cost > PAGE_LINES):
            pages.append([])
            lines = 0
        pages[-1].append(item)
        lines += cost
    return pages


def _page_cost(job: _PageJob) -> float:
    return sum(_drawn_lines(v.pair) for v in job.views) * _SECONDS_PER_LINE


def write_html(
    result: Result,
    path: Path,
    *,
    inline_pairs: int = 300,
    progress: Progress | None = None,
    executor: Executor | None = None,
) -> list[Path]:
    """Write the report at `path` (and further pages next to it); return every file written.
    `progress` counts the pairs shown: a transformers-sized report takes a minute and more.
    The further pages are written through `executor` (default: here, one after the other);
    each is the same whatever writes it."""
    progress = progress or Silent()
    executor = executor or Serial()
    if inline_pairs < 1:
        raise UsageError("the number of pairs shown on the first page must be at least 1")
    path = Path(path)
    order = ranked(result.pairs)
    chunks = _paged(order, inline_pairs)
    paths = [path] + [page_path(path, n + 1) for n in range(1, len(chunks))]
    overview_href = _href(path)

    views: list[PairView] = []
    for page, chunk in enumerate(chunks):
        for id_, pair in chunk:
            views.append(PairView(len(views) + 1, id_, pair, page, f"#pair-{id_}"))
    firsts = list(accumulate((len(c) for c in chunks), initial=1))
    pages = [
        PageLink(n + 1, _href(p), firsts[n], firsts[n] + len(chunk) - 1)
        for n, (p, chunk) in enumerate(zip(paths, chunks, strict=True))
        if chunk
    ]

    def link(view: PairView, from_page: int) -> PairView:
        target = "" if view.page == from_page else _href(paths[view.page])
        return replace(view, href=f"{target}#pair-{view.id}")

    cells = cells_of(result)
    hl = _Highlighter(result.blobs, cells)
    css, css_hash = _asset("report.css")
    js, js_hash = _asset("report.js")
    env = _environment()
    common = {
        "result": result,
        "summary": result.summary,
        "css": css,
        "js": js,
        "csp": (
            "default-src 'none'; img-src data:; "
            f"style-src {css_hash}; script-src {js_hash}; "
            "base-uri 'none'; form-action 'none'"
        ),
        "marker": _MARKER,
        "overview_href": overview_href,
        "pages": pages,
        "title": f"{result.source_a.spec} vs {result.source_b.spec}",
        "total_pairs": len(views),
        "cells": cells,
        "notebooks": bool(cells),
    }

    # Further pages read only the result's sources, verdict and version: the rest (the
    # pairs, every file's text) would travel to each worker for nothing.
    light = replace(
        result,
        pairs=(),
        file_pairs=(),
        renames=(),
        files_a=(),
        files_b=(),
        warnings=(),
        blobs={},
        artifacts=None,
    )
    jobs = []
    for page_no in range(1, len(paths)):
        here = tuple(link(v, page_no) for v in views if v.page == page_no)
        shas = {ref.file_sha256 for v in here for ref in (v.pair.a, v.pair.b)}
        context = {
            **common,
            "result": light,
            "page": page_no,
            "page_link": pages[page_no],
            "prev_href": pages[page_no - 1].href,
            "next_href": pages[page_no + 1].href if page_no + 1 < len(pages) else None,
        }
        blobs = {sha: result.blobs[sha] for sha in shas if sha in result.blobs}
        page_cells = {sha: cells[sha] for sha in shas if sha in cells}
        context["cells"] = page_cells
        jobs.append(_PageJob(paths[page_no], here, blobs, page_cells, context))

    progress.stage("report", total=len(views))
    further = executor.map(_write_page, jobs, costs=[_page_cost(job) for job in jobs])
    # The overview and the first pairs here, while the workers write the rest.
    on_page = [_with_evidence(link(v, 0), hl) for v in views if v.page == 0]
    html = env.get_template("report.html.j2").render(
        **common,
        page=0,
        # Past the first page, unchanged code is listed on its own pages only: its rows were
        # most of a fork's overview (35 MB for transformers), and say no more than the files
        # table does.
        all_pairs=[link(v, 0) for v in views if v.page == 0 or not v.unchanged],
        unchanged_pages=[
            pages[n] for n in sorted({v.page for v in views if v.page > 0 and v.unchanged})
        ],
        unchanged_elsewhere=sum(1 for v in views if v.page > 0 and v.unchanged),
        pairs_here=on_page,
        renames=rename_rows(result.renames),
        sources=[
            (label, a, b)
            for (label, a), (_, b) in zip(
                _source_rows(result.source_a), _source_rows(result.source_b), strict=True
            )
        ],
        skipped=[w for w in result.warnings if w.skipped],
        notices=[w for w in result.warnings if not w.skipped],
        settings=sorted(result.settings.items()),
        artifacts=result.artifacts,
        artifact_highlights=_artifact_highlights(result.artifacts or {}),
        artifact_sections=_artifact_sections(result.artifacts or {}),
        artifact_limit=ARTIFACT_LIST_LIMIT,
        same_files=_same_files(result),
    )
    _write(path, html)
    written = [path]
    progress.advance(len(on_page))
    for job, page_file in zip(jobs, further, strict=True):
        written.append(page_file)
        progress.advance(len(job.views))
    _remove_stale_pages(path, len(paths))
    progress.done()
    log.info("wrote %d HTML page(s) for %d pairs", len(written), len(views))
    return written


def _same_files(result: Result) -> frozenset[tuple[str, str]]:
    """File pairs (A path, B path) whose two files are the same bytes."""
    sha_a = {f.path: f.sha256 for f in result.files_a}
    sha_b = {f.path: f.sha256 for f in result.files_b}
    return frozenset(
        (fp.a, fp.b) for fp in result.file_pairs if fp.a in sha_a and sha_a[fp.a] == sha_b.get(fp.b)
    )


def _with_evidence(view: PairView, hl: _Highlighter) -> PairView:
    pair = view.pair
    if view.unchanged:
        return view  # the template says where the text is; drawing it twice shows nothing
    blocks, notes = _side_by_side(pair, hl)
    cells_a = hl.cells.get(pair.a.file_sha256)
    cells_b = hl.cells.get(pair.b.file_sha256)
    regions = tuple(
        RegionView(
            i + 1,
            i % PALETTE_SIZE,
            r,
            span(cells_a, r.a.start_line, r.a.end_line),
            span(cells_b, r.b.start_line, r.b.end_line),
        )
        for i, r in enumerate(pair.regions)
    )
    return replace(view, blocks=blocks, regions=regions, notes=notes)


def _write(path: Path, html: str) -> None:
    try:
        path.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise PlagiarismError(f"cannot write {path}: {exc.strerror or exc}") from None


def _remove_stale_pages(path: Path, count: int) -> None:
    """Delete further pages of an earlier, longer report at the same path (ours only)."""
    pattern = re.compile(re.escape(path.stem) + r"-pairs-(\d+)" + re.escape(path.suffix or ".html"))
    try:
        siblings = list(path.parent.iterdir())
    except OSError:
        return
    for sibling in siblings:
        m = pattern.fullmatch(sibling.name)
        if not m or int(m.group(1)) <= count:
            continue
        try:
            with sibling.open(encoding="utf-8", errors="replace") as fh:
                head = fh.read(4096)
            if f'name="{_MARKER}"' in head:
                sibling.unlink()
        except OSError:
            continue
