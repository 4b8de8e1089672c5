"""The data that flows between the pipeline stages.

Every stage takes and returns these frozen dataclasses; no stage reaches into another's
internals. `Result` is the one object a formatter needs, and its JSON form (see
`plagiarism.report.json_format`) is the documented, versioned contract (docs/json-schema.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

SCHEMA_VERSION = 1

Side = Literal["a", "b"]
SourceKind = Literal["git", "checkout", "folder"]
FileKind = Literal["python", "notebook"]
UnitKind = Literal["function", "method", "class", "module"]


@dataclass(frozen=True, slots=True)
class Source:
    """One side of a comparison, resolved: where it came from and which commit it is."""

    spec: str  # what the user typed (URL, path), without any @REV suffix
    kind: SourceKind
    root: str  # folder on disk holding the files at `commit` (for git sources a cached tree)
    rev: str | None = None  # what the user asked for (branch, tag, commit), if anything
    commit: str | None = None  # resolved full SHA, None for a plain folder
    commit_date: str | None = None  # ISO 8601 committer date of `commit`
    dirty: bool = False  # a checkout whose work tree differs from `commit`


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file read from a source, with the text the later stages see.

    For notebooks `text` is the code cells joined (magics blanked), and `cell_starts`
    holds the 1-based line in `text` where each code cell begins, so lines map back to cells;
    `cell_numbers` says which cell of the notebook each is (markdown cells count too).
    """

    path: str  # posix path relative to the source root
    sha256: str  # of the raw bytes as stored in the repository
    text: str
    kind: FileKind = "python"
    size: int = 0
    cell_starts: tuple[int, ...] = ()
    cell_numbers: tuple[int, ...] = ()  # each code cell's place among all cells, 1-based


@dataclass(frozen=True, slots=True)
class Warning:
    """Something a reviewer must know about: a skipped file, a partial parse, a fallback."""

    side: Side | None
    path: str | None
    reason: str
    skipped: bool = False  # True when the file's evidence is missing from the comparison


@dataclass(frozen=True, slots=True)
class TokenStream:
    """A unit's code in the rename-proof alphabet, as parallel tuples (millions of tokens per repo).

    `syms[i]` is what is compared: a keyword, an operator, a library name such as
    `torch.nn.Linear`, a literal, or a placeholder (`$v` name, `$a` attribute, `$k` keyword
    argument) for a name the project defines. `idents[i]` keeps the original name behind a
    placeholder (else None), for the rename map; `lines[i]` is its 1-based line in the file.
    `literals` holds, for the string literals among the tokens (all `STR` in `syms`), their
    position and a 64-bit digest of their text: what the rename-proof alphabet erases, kept
    aside to tell two look-alike option classes with different help strings from a copy.
    """

    syms: tuple[str, ...]
    lines: tuple[int, ...]
    idents: tuple[str | None, ...]
    literals: tuple[tuple[int, int], ...] = ()  # (token index, text digest), in order

    def __len__(self) -> int:
        return len(self.syms)


@dataclass(frozen=True, slots=True)
class Unit:
    """A function, method, class body (without its methods) or a file's module-level code."""

    side: Side
    path: str
    qualname: str
    kind: UnitKind
    start_line: int
    end_line: int
    file_sha256: str
    tokens: TokenStream
    calls: tuple[str, ...] = ()  # names this unit calls, for the call graph
    content_hash: str = ""  # hash of the normalized token syms: equal hash, equal code shape
    # Module code that only wires names (imports, name tables, module registration): a match
    # of it alone is no finding (see `normalize.wires_names_only`).
    wiring: bool = False

    @property
    def key(self) -> str:
        return f"{self.path}::{self.qualname}"


@dataclass(frozen=True, slots=True)
class LineRange:
    """Lines start_line..end_line of a file, both included, 1-based."""

    start_line: int
    end_line: int


@dataclass(frozen=True, slots=True)
class Region:
    """A run of tokens that is the same on both sides (a tile of the greedy tiling)."""

    a: LineRange
    b: LineRange
    tokens: int


@dataclass(frozen=True, slots=True)
class Rename:
    """Name `a` of side A that reads as name `b` on side B."""

    a: str
    b: str
    count: int  # how many matched pairs (or, within a pair, how many aligned tokens) agree


@dataclass(frozen=True, slots=True)
class UnitRef:
    """Where a unit of a pair is: what a report shows and links."""

    path: str
    name: str  # qualified name
    kind: UnitKind
    start_line: int
    end_line: int
    tokens: int
    file_sha256: str


@dataclass(frozen=True, slots=True)
class Pair:
    """A unit of B explained by a unit of A, with the evidence."""

    a: UnitRef
    b: UnitRef
    score: float  # share of B's unit tokens covered by regions, in [0, 1]
    matched_tokens: int
    regions: tuple[Region, ...]
    renames: tuple[Rename, ...]  # names that the aligned tokens map, a -> b, with token counts
    call_support: int = 0  # callees of b matched to callees of a
    one_to_one: bool = True  # False: b explained by an a already paired (split helpers)
    identical: bool = False  # same normalized token stream
    # True for a unit below min_unit_tokens, reported only because larger pairs link the
    # same two files (or its callees match): context, not a finding on its own.
    backed_only: bool = False
    # The same text at the same path (see `Unchanged`): code B holds as A has it, what most
    # pairs between a fork and its upstream are. Shown last and not drawn twice.
    unchanged: bool = False


class Unchanged:
    """Whether two units are the same text at the same path, given the files' texts by
    SHA-256. A unit of a file changed elsewhere (its lines shifted) still is; the same text
    at another path is not: a verbatim copy moved elsewhere is evidence to read."""

    def __init__(self, texts: Mapping[str, str]) -> None:
        self._texts = texts
        self._lines: dict[str, list[str]] = {}

    def _text(self, ref: UnitRef) -> list[str] | None:
        lines = self._lines.get(ref.file_sha256)
        if lines is None:
            text = self._texts.get(ref.file_sha256)
            if text is None:
                return None
            lines = self._lines[ref.file_sha256] = text.splitlines()
        return lines[ref.start_line - 1 : ref.end_line]

    def __call__(self, a: UnitRef, b: UnitRef) -> bool:
        if a.path != b.path:
            return False
        if a.file_sha256 == b.file_sha256:
            return a.start_line == b.start_line and a.end_line == b.end_line
        text = self._text(a)
        return text is not None and text == self._text(b)


@dataclass(frozen=True, slots=True)
class FilePair:
    """File `a` explains part of file `b`: the pairs between them, rolled up."""

    a: str
    b: str
    score: float  # share of file b's unit tokens covered by pairs with file a
    pairs: int


@dataclass(frozen=True, slots=True)
class FileInfo:
    """One file read on a side, as the report lists it."""

    path: str
    sha256: str
    lines: int
    kind: FileKind
    units: int
    # Notebooks: the line of the joined code cells where each cell starts, and which cell of
    # the notebook it is (see SourceFile), so a report can say "cell 3, line 2" where the
    # text says line 14.
    cell_starts: tuple[int, ...] = ()
    cell_numbers: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Summary:
    """The headline of a result: how much of B is explained by A, how much of A is found in
    B, and the counts behind them."""

    similarity: float  # share of B's unit tokens explained by A
    verdict: str  # from the larger of `similarity` and `similarity_a`
    files_a: int
    files_b: int
    units_a: int
    units_b: int
    tokens_b: int
    matched_tokens_b: int
    pairs: int
    candidates: int
    # The other way round: the share of A's unit tokens found in B (a suspect that holds a
    # small original whole, among much code of its own, has a low `similarity`).
    similarity_a: float = 0.0
    tokens_a: int = 0
    matched_tokens_a: int = 0


@dataclass(frozen=True, slots=True)
class Result:
    """Everything a formatter needs, and what `--json` writes."""

    tool_version: str
    settings: dict[str, object]
    source_a: Source
    source_b: Source
    summary: Summary
    pairs: tuple[Pair, ...]
    file_pairs: tuple[FilePair, ...]
    renames: tuple[Rename, ...]
    files_a: tuple[FileInfo, ...]
    files_b: tuple[FileInfo, ...]
    warnings: tuple[Warning, ...]
    # sha256 -> text of every file that appears in a pair, so a saved result can be rendered
    blobs: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, object] | None = (
        None  # tokenizer/config/weights evidence (docs/artifacts.md)
    )
    finding: bool = False  # drives the exit code: a pair or similarity over the thresholds
