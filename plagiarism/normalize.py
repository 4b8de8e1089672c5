"""Units -> token streams in a rename-proof alphabet.

Copiers rename their own names, not the APIs they call. So a name the compared project
defines (local, parameter, function, class, `self.` attribute, module global) becomes a
placeholder, while names of imported libraries and builtins (`torch.nn.Linear`,
`np.einsum`, `range`) stay as they are. Each rule below is a small function or branch whose
docstring or comment names the disguise it defeats; docs/algorithms.md lists them all.

Normalisation runs in two steps so the expensive one can be cached per file content:
`analyze_file` (parse + walk, depends only on the file's text) emits *raw* symbols in which
library names, attribute names and keyword-argument names are still undecided, because
whether `hidden_size` or `minivlm.utils` belongs to the project depends on the whole side;
`resolve_side` then decides them with the side's `SideContext` (cheap dictionary lookups).
"""

from __future__ import annotations

import builtins
import dataclasses
import gc
import hashlib
import itertools
import operator
import sys
from array import array
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

from plagiarism.model import Side, SourceFile, TokenStream, Unit, UnitKind, Warning
from plagiarism.parse import (
    Node,
    ParsedFile,
    UnitSpan,
    field_id,
    node_kinds,
    nodes_by_kind,
    parse_text,
    unwrap_definition,
)

# Field ids of the grammar, read once: see `field_id`.
_F_ALIAS = field_id("alias")
_F_ALTERNATIVE = field_id("alternative")
_F_ARGUMENT = field_id("argument")
_F_ARGUMENTS = field_id("arguments")
_F_ATTRIBUTE = field_id("attribute")
_F_BODY = field_id("body")
_F_CONDITION = field_id("condition")
_F_FUNCTION = field_id("function")
_F_LEFT = field_id("left")
_F_MODULE_NAME = field_id("module_name")
_F_NAME = field_id("name")
_F_OBJECT = field_id("object")
_F_OPERATOR = field_id("operator")
_F_PARAMETERS = field_id("parameters")
_F_RIGHT = field_id("right")
_F_SUBSCRIPT = field_id("subscript")
_F_SUPERCLASSES = field_id("superclasses")
_F_VALUE = field_id("value")

# Raw-symbol prefixes for decisions deferred to `resolve_side`.
LIB = "\x01"  # dotted name reached through an import: library, or the project's own module
ATTR = "\x02"  # attribute name: placeholder if the side defines it anywhere
UNBOUND = "\x04"  # a module-like root the file never binds: project's if bound elsewhere
KWARG = "\x03"  # keyword-argument name: placeholder if the callee is the project's own

VAR = "$v"  # a name the project defines
ATTR_PH = "$a"
KWARG_PH = "$k"
PLACEHOLDERS = frozenset({VAR, ATTR_PH, KWARG_PH})

STRING = "STR"
BLOCK_OPEN = "{"
BLOCK_CLOSE = "}"

_BUILTINS = frozenset(dir(builtins))
_STDLIB = frozenset(sys.stdlib_module_names)

# Anonymous tree-sitter tokens that carry meaning. Punctuation such as `,` `:` `(` `)` is
# dropped: parentheses and line breaks are formatting, which copiers change freely.
_KEEP_ANON = frozenset(
    """
    def class return if elif else for while in not and or is lambda yield await async with as
    try except finally raise assert del global nonlocal break continue import from print exec
    = + - * / // % ** @ << >> & | ^ ~ < > <= >= == != <> := += -= *= /= //= %= **= @= <<= >>=
    &= |= ^= . ...
    """.split()
)
_AUGMENTED = {
    op + "=": op for op in ("+", "-", "*", "/", "//", "%", "**", "@", "<<", ">>", "&", "|", "^")
}
_STRINGS = frozenset({"string", "concatenated_string"})
_SKIP = frozenset({"comment", "type", "pass_statement", "line_continuation"})


@dataclass(frozen=True, slots=True)
class RawUnit:
    """A unit whose deferred symbols are not yet resolved (what the per-file cache stores)."""

    qualname: str
    kind: UnitKind
    start_line: int
    end_line: int
    syms: tuple[str, ...]
    lines: tuple[int, ...]
    idents: tuple[str | None, ...]
    calls: tuple[str, ...]
    literals: tuple[tuple[int, int], ...] = ()  # see TokenStream.literals
    wiring: bool = False  # module code that only wires names (see `wires_names_only`)

    def __reduce__(self) -> tuple[type[RawUnit], tuple[object, ...]]:
        # Rebuilt by the constructor: unpickling through the slots' __setstate__ was ~20 %
        # slower, and a cached analysis is unpickled on every warm run (~55,000 of these).
        return RawUnit, _RAW_UNIT_VALUES(self)


@dataclass(frozen=True, slots=True)
class FileAnalysis:
    """Everything later stages need from one file; depends only on the file's text."""

    path: str
    sha256: str
    units: tuple[RawUnit, ...]
    defined_attrs: frozenset[str]  # attribute names this file assigns or defines
    defined_names: frozenset[str]  # bare names this file binds
    error_lines: tuple[int, ...]
    line_count: int

    def __reduce__(self) -> tuple[Callable[..., FileAnalysis], tuple[object, ...]]:
        # The name sets travel sorted, in one order: a set pickles in its hash order, which
        # Python salts per process. (An entry's bytes still vary from run to run with which
        # equal strings happen to be one object; its values never do.)
        return _file_analysis, tuple(
            sorted(v) if isinstance(v, frozenset) else v for v in _FILE_ANALYSIS_VALUES(self)
        )


# Every field, in declaration order, so that a field added later travels too.
_RAW_UNIT_VALUES = operator.attrgetter(*(f.name for f in dataclasses.fields(RawUnit)))
_FILE_ANALYSIS_VALUES = operator.attrgetter(*(f.name for f in dataclasses.fields(FileAnalysis)))


def _file_analysis(*values: object) -> FileAnalysis:
    # The name sets arrive as sorted lists (see `FileAnalysis.__reduce__`); every other
    # field as itself.
    fields: list[Any] = [frozenset(v) if isinstance(v, list) else v for v in values]
    return FileAnalysis(*fields)


@dataclass(frozen=True, slots=True)
class SideContext:
    """What one whole side defines: decides the deferred symbols of every file."""

    local_modules: frozenset[str]  # top-level package/module names of the project itself
    defined_attrs: frozenset[str]
    defined_names: frozenset[str] = frozenset()  # bare names bound anywhere in the project


# --------------------------------------------------------------------------------------
# Literals


# Memoised: a file spells the same few constants (0, 1, -1, 1e-6) over and over, and the
# rewriting below cost more than emitting the token.
@lru_cache(maxsize=4096)
def normalize_number(text: str) -> str:
    """`1e-6`, `0.000001` and `1E-06` are the same constant; `0x10` is `16`; `1_000` is `1000`.

    Defeats: rewriting a constant's spelling. Numbers are otherwise kept: unusual constants
    (eps=1e-6, theta=10000.0) are strong evidence, and honest code often differs in them.
    """
    clean = text.replace("_", "")
    lowered = clean.lower()
    try:
        if lowered.endswith("j"):
            return lowered
        if any(c in lowered for c in ".e") and not lowered.startswith(("0x", "0o", "0b")):
            return repr(float(clean))
        if lowered.endswith("l"):  # Python 2 long
            clean = clean[:-1]
        return str(int(clean, 0))
    except ValueError:
        return text


# --------------------------------------------------------------------------------------
# File-level scan: imports and definitions


def literal_digest(node: Node, src: bytes) -> int | None:
    """A 64-bit digest of a string literal's text with whitespace collapsed, for prose
    only: no digest for f-strings (their text holds names a copy renames) or for strings
    without a space (keys, dtypes, paths: code, which `STR` already stands for)."""
    parts = node.children if node.type == "concatenated_string" else [node]
    texts = []
    for part in parts:
        if part.type != "string" or len(part.children) < 2:
            continue
        if any(c.type == "interpolation" for c in part.children):
            return None
        start, end = part.children[0], part.children[-1]
        texts.append(src[start.end_byte : end.start_byte])
    words = b"".join(texts).split()
    if len(words) < 2:
        return None
    digest = hashlib.blake2b(b" ".join(words), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _text(node: Node) -> str:
    text: str = node.text.decode("utf-8", "replace")
    return text


def _dotted(node: Node) -> str:
    return ".".join(_text(c) for c in node.named_children if c.type == "identifier")


_START = operator.attrgetter("start_byte")
_FIRST = operator.itemgetter(0)
_NO_END = 1 << 62  # sorts after any end byte: (at, _NO_END) follows every range starting at `at`
_T = TypeVar("_T", bound=tuple[int, object])
_END = operator.attrgetter("end_byte")


class _Scan:
    """One pass over a file: the import map, the names the file defines, and what the
    dead-code rules need to know of each function's identifiers (see `uses`)."""

    def __init__(
        self,
        root: Node,
        source: bytes,
        found: dict[str, list[Node]] | None = None,
        text: str | None = None,
    ) -> None:
        self.imports: dict[str, str] = {}  # alias -> dotted module path it stands for
        self.defined: set[str] = set()  # bare names bound anywhere in the file
        self.attrs: set[str] = set()
        self.source = source
        # Every identifier of the file in document order (start byte, text), every loop or
        # branch, and the fresh-container stores and candidate receiver calls among the
        # one-expression statements: `uses` slices them by a function's byte range instead
        # of walking each function again (nested ones once per enclosing function).
        self._id_starts: list[int] = []
        self._id_texts: list[str] = []
        self._branches: list[Node] = []
        self._stores: list[tuple[int, str]] = []
        self._calls: list[tuple[int, Node]] = []
        self._dead: list[tuple[int, int]] | None = None
        self.text_at: dict[int, str] = {}  # identifier start byte -> text (files that parse)
        self.named: dict[str, tuple[str, str | None]] = {}  # decide_name, memoised
        # tree-sitter's recovery can leave zero-width (missing) identifiers, whose byte
        # offset does not tell which function holds them, and may nest any node inside an
        # import: such files are walked node by node (and each function again for `uses`).
        self._exact = not root.has_error
        if self._exact:
            self._find(found if found is not None else nodes_by_kind(root, _SCAN_KINDS), text)
        else:
            self._walk(root)

    def _find(self, found: dict[str, list[Node]], text: str | None = None) -> None:
        """What `_walk` collects, from one C-level query for the node kinds the rules read
        (a Python walk over every node was the most expensive step of the analysis).
        `text`, the source before encoding, lets an ASCII file slice names without decoding."""
        src = self.source
        # The query's captures are not in document order (far from it: a third of the
        # neighbours are swapped), so a stable sort by start byte. Sorting the nodes by key
        # reads each start once, cold; the second read below finds it warm, which costs less
        # than mapping the sorted starts back to their nodes through a dict.
        ids = sorted(found.get("identifier", ()), key=_START)
        starts = list(map(_START, ids))
        ends = map(_END, ids)
        if text is not None and len(text) == len(src):  # ASCII: byte offsets index the str
            texts = [text[a:b] for a, b in zip(starts, ends, strict=True)]
        else:
            texts = [src[a:b].decode("utf-8", "replace") for a, b in zip(starts, ends, strict=True)]
        self._id_starts, self._id_texts = starts, texts
        # Identifiers have width here, so a start byte names one: the emitter looks a
        # name's text up instead of slicing and decoding it again.
        self.text_at = dict(zip(starts, texts, strict=True))
        imports = [*found.get("import_statement", ()), *found.get("import_from_statement", ())]
        # The walk meets the last import of the file first, so the first binding of an alias
        # is the one that stays.
        for node in sorted(imports, key=_START, reverse=True):
            if node.type == "import_statement":
                self._import(node)
            else:
                self._import_from(node)
        for kind, handler in self._HANDLERS.items():
            if handler is not _Scan._on_import:
                for node in found.get(kind, ()):
                    handler(self, node)

    def _walk(self, root: Node) -> None:
        # Right-to-left preorder (children pushed, last popped first): the import map keeps
        # the first binding of an alias in the file, as it always has.
        starts = self._id_starts
        texts = self._id_texts
        src = self.source
        handlers = self._HANDLERS
        stack = [root]
        pop = stack.pop
        push = stack.extend
        while stack:
            node = pop()
            kind = node.type
            if kind == "identifier":
                starts.append(node.start_byte)
                texts.append(src[node.start_byte : node.end_byte].decode("utf-8", "replace"))
                if node.child_count:
                    push(node.children)
                continue
            handler = handlers.get(kind)
            if handler is not None and handler(self, node):
                continue
            push(node.children)
        starts.reverse()
        texts.reverse()

    def _on_import(self, node: Node) -> bool:
        if node.type == "import_statement":
            self._import(node)
        else:
            self._import_from(node)
        # No binding rule looks inside an import, but its identifiers still count as uses.
        stack = [node]
        while stack:
            cur = stack.pop()
            if cur.type == "identifier":
                self._id_starts.append(cur.start_byte)
                self._id_texts.append(_text(cur))
            stack.extend(cur.children)
        return True

    def _on_definition(self, node: Node) -> bool:
        name = node.child_by_field_id(_F_NAME)
        if name is not None:
            text = self._ident(name)
            self.defined.add(text)
            self.attrs.add(text)  # methods are reached as attributes
        if node.type == "function_definition":
            params = node.child_by_field_id(_F_PARAMETERS)
            if params is not None:
                self._params(params)
        else:
            self._class_fields(node)
        return False

    def _on_lambda_parameters(self, node: Node) -> bool:
        self._params(node)
        return False

    def _on_assignment(self, node: Node) -> bool:
        left = node.child_by_field_id(_F_LEFT)
        if left is not None:
            self._targets(left)
        return False

    def _on_for(self, node: Node) -> bool:
        if node.type == "for_statement":
            self._branches.append(node)
        left = node.child_by_field_id(_F_LEFT)
        if left is not None:
            self._targets(left)
        return False

    def _on_branch(self, node: Node) -> bool:
        self._branches.append(node)
        return False

    def _on_as_pattern_target(self, node: Node) -> bool:
        self._targets(node)
        return False

    def _on_named_expression(self, node: Node) -> bool:
        target = node.child_by_field_id(_F_NAME)
        if target is not None:
            self._targets(target)
        return False

    def _on_except_clause(self, node: Node) -> bool:
        # Grammars that put the alias right after `as` (this one wraps it in
        # as_pattern_target, which `_targets` reads).
        for child in node.named_children:
            if child.type == "identifier" and child.prev_sibling is not None:
                if child.prev_sibling.type == "as":
                    self.defined.add(self._ident(child))
        return False

    def _on_global(self, node: Node) -> bool:
        for child in node.named_children:
            if child.type == "identifier":
                self.defined.add(self._ident(child))
        return False

    def _on_expression_statement(self, node: Node) -> bool:
        inner = _only_named_child(node)
        if inner is not None:
            name = _fresh_store(inner)
            if name is not None:
                self._stores.append((node.start_byte, name))
            elif inner.type == "call":
                self._calls.append((node.start_byte, inner))
        return False

    _HANDLERS = {
        "import_statement": _on_import,
        "import_from_statement": _on_import,
        "function_definition": _on_definition,
        "class_definition": _on_definition,
        "lambda_parameters": _on_lambda_parameters,
        "assignment": _on_assignment,
        "augmented_assignment": _on_assignment,
        "for_statement": _on_for,
        "for_in_clause": _on_for,
        "if_statement": _on_branch,
        "while_statement": _on_branch,
        "as_pattern_target": _on_as_pattern_target,
        "named_expression": _on_named_expression,
        "except_clause": _on_except_clause,
        "global_statement": _on_global,
        "nonlocal_statement": _on_global,
        "expression_statement": _on_expression_statement,
    }

    def uses(self, function: Node) -> tuple[dict[str, int], frozenset[str]]:
        """`local_uses(function)`, from what the file scan collected. Everything is found by
        bisection in position-sorted lists, so a file of many functions stays linear."""
        if not self._exact:
            return local_uses(function)
        if self._dead is None:
            self._prepare()
        lo_byte, hi_byte = function.start_byte, function.end_byte
        dead = self._dead_within(lo_byte, hi_byte)
        starts, texts = self._id_starts, self._id_texts
        lo = bisect_left(starts, lo_byte)
        hi = bisect_left(starts, hi_byte, lo)
        counts = Counter(texts[lo:hi])
        for s, e in dead:  # identifiers in code that never runs are no uses (a name left at
            # zero reads as absent: counts are only read with .get(name, 0))
            counts.subtract(texts[bisect_left(starts, s, lo, hi) : bisect_left(starts, e, lo, hi)])

        def live(at: int) -> bool:
            i = bisect_right(dead, (at, _NO_END)) - 1
            return i < 0 or not dead[i][0] <= at < dead[i][1]

        stores: dict[str, int] = {}
        for at, name in self._in_range(self._stores, lo_byte, hi_byte):
            if live(at):
                stores[name] = stores.get(name, 0) + 1
        if not stores:
            return counts, frozenset()
        receivers: dict[str, int] = {}
        for at, call in self._in_range(self._calls, lo_byte, hi_byte):
            if live(at):
                receiver = _receiver_call(call)
                if receiver is not None:
                    receivers[receiver] = receivers.get(receiver, 0) + 1
        sealed = frozenset(
            n
            for n, c in stores.items()
            if c == 1 and receivers.get(n, 0) > 0 and counts.get(n, 0) == 1 + receivers[n]
        )
        return counts, sealed

    def _prepare(self) -> None:
        """Sort what `uses` searches (the query finds it in nearly document order)."""
        self._stores.sort(key=_FIRST)
        self._calls.sort(key=_FIRST)
        self._dead = sorted(
            (b.start_byte, b.end_byte) for b in self._branches if _statically_dead(b)
        )

    def _dead_within(self, lo: int, hi: int) -> list[tuple[int, int]]:
        """The outermost dead loops and branches inside [lo, hi), sorted: ranges of a tree
        nest or are apart, so one starting inside another is inside it."""
        ranges = self._dead
        assert ranges is not None
        out: list[tuple[int, int]] = []
        for i in range(bisect_left(ranges, (lo, -1)), len(ranges)):
            s, e = ranges[i]
            if s >= hi:
                break
            if e <= hi and (not out or s >= out[-1][1]):
                out.append((s, e))
        return out

    @staticmethod
    def _in_range(items: list[_T], lo: int, hi: int) -> list[_T]:
        """The items (position, ...) of a position-sorted list with lo <= position < hi."""
        first = bisect_left(items, lo, key=_FIRST)
        return items[first : bisect_left(items, hi, first, key=_FIRST)]

    def _ident(self, node: Node) -> str:
        """The text of `node`, an identifier: looked up by its start byte in a file that
        parses (no other identifier starts there), read from the tree otherwise."""
        text = self.text_at.get(node.start_byte)
        return text if text is not None else _text(node)

    def decide_name(self, text: str) -> tuple[str, str | None]:
        """The symbol and ident of the bare name `text` (see `_Emitter.name`)."""
        target = self.imports.get(text)
        if target is not None and text not in self.defined:
            return LIB + target, text
        if text in _BUILTINS and text not in self.defined:
            return text, None
        # Bound here, or a bare name bound nowhere in this file (a star import, a class
        # of the project's that a partial copy did not bring): the project's own.
        return VAR, text

    def _class_fields(self, node: Node) -> None:
        """Names assigned in a class body (dataclass fields, class constants) are read
        back as attributes (`self.patch_size`), so they are attribute names the project
        defines."""
        body = node.child_by_field_id(_F_BODY)
        if body is None:
            return
        for stmt in body.named_children:
            if stmt.type != "expression_statement" or not stmt.named_children:
                continue
            inner = stmt.named_children[0]
            if inner.type == "assignment":
                left = inner.child_by_field_id(_F_LEFT)
                if left is not None and left.type == "identifier":
                    self.attrs.add(self._ident(left))

    def _params(self, params: Node) -> None:
        for child in params.named_children:
            name = child
            if child.type in ("default_parameter", "typed_default_parameter"):
                name = child.child_by_field_id(_F_NAME)
            elif child.type in (
                "typed_parameter",
                "list_splat_pattern",
                "dictionary_splat_pattern",
            ):
                name = next((c for c in child.named_children if c.type == "identifier"), None)
            if name is not None and name.type == "identifier":
                self.defined.add(self._ident(name))

    def _targets(self, node: Node) -> None:
        kind = node.type
        if kind == "identifier":
            self.defined.add(self._ident(node))
        elif kind == "attribute":
            attr = node.child_by_field_id(_F_ATTRIBUTE)
            if attr is not None and attr.type == "identifier":
                self.attrs.add(self._ident(attr))
            elif attr is not None:
                self.attrs.add(_text(attr))
        elif kind in (
            "pattern_list",
            "tuple_pattern",
            "list_pattern",
            "expression_list",
            "tuple",
            "list",
            "list_splat_pattern",
            "parenthesized_expression",
            # `with open(p) as fh`, `except E as err`: the alias sits inside this wrapper.
            "as_pattern_target",
        ):
            for child in node.named_children:
                self._targets(child)

    def _import(self, node: Node) -> None:
        for child in node.named_children:
            if child.type == "dotted_name":
                # `import torch.nn` binds `torch`; the chain `torch.nn.X` resolves itself.
                first = _text(child.named_children[0])
                self.imports[first] = first
            elif child.type == "aliased_import":
                name = child.child_by_field_id(_F_NAME)
                alias = child.child_by_field_id(_F_ALIAS)
                if name is not None and alias is not None:
                    self.imports[_text(alias)] = _dotted(name)

    def _import_from(self, node: Node) -> None:
        module = node.child_by_field_id(_F_MODULE_NAME)
        if module is None:
            return
        if module.type == "relative_import":
            # `from .x import Y`: the project's own code, so Y is a name it defines.
            for child in node.children_by_field_id(_F_NAME):
                alias = (
                    child.child_by_field_id(_F_ALIAS) if child.type == "aliased_import" else None
                )
                target = alias if alias is not None else child
                self.defined.add(_text(target).split(".")[-1])
            return
        base = _dotted(module)
        for child in node.children_by_field_id(_F_NAME):
            if child.type == "aliased_import":
                name = child.child_by_field_id(_F_NAME)
                alias = child.child_by_field_id(_F_ALIAS)
                if name is not None and alias is not None:
                    self.imports[_text(alias)] = f"{base}.{_dotted(name)}"
            elif child.type == "dotted_name":
                self.imports[_text(child)] = f"{base}.{_dotted(child)}"


# Of the one-expression statements, `_on_expression_statement` keeps only stores into a
# fresh container and calls of a name's method: the query passes on no other shape, which
# spares a handler call for each of the rest (most statements of a file).
_STATEMENT_SHAPES = (
    "(expression_statement (assignment left: (identifier)"
    " right: [(list) (tuple) (dictionary) (set) (call)])) @expression_statement",
    "(expression_statement (call function: (attribute object: (identifier))))"
    " @expression_statement",
)
_SCAN_KINDS = (
    "identifier",
    *sorted(k for k in _Scan._HANDLERS if k != "expression_statement"),
    *_STATEMENT_SHAPES,
)

# --------------------------------------------------------------------------------------
# Token emission


class _Emitter:
    """Walks one unit's nodes and emits raw symbols. The rule for each kind of node is in
    `_RULES`; kinds without one go to `generic`."""

    def __init__(self, scan: _Scan) -> None:
        self.scan = scan
        self.src = scan.source  # a node's text is src[start_byte:end_byte]
        self.syms: list[str] = []
        self.lines: list[int] = []
        self.idents: list[str | None] = []
        self.calls: list[str] = []
        self.literals: list[tuple[int, int]] = []
        # Identifier counts of the function being emitted (None outside functions), for
        # dropping stores that are never read, and its locals that hold a fresh container
        # that never escapes (see `local_uses`).
        self.counts: dict[str, int] | None = None
        self.sealed: frozenset[str] = frozenset()

    def emit(self, sym: str, node: Node, ident: str | None = None) -> None:
        self.syms.append(sym)
        self.lines.append(node.start_point[0] + 1)
        self.idents.append(ident)

    # -- names ---------------------------------------------------------------------------

    def name(self, node: Node) -> None:
        """A bare identifier: library alias, builtin, or a project name (placeholder).

        Defeats: renaming locals, parameters, functions, classes and globals, and switching
        between import styles (`from torch import nn` vs `import torch.nn as nn`): both make
        `nn.Linear` read as `torch.nn.Linear`.
        """
        scan = self.scan
        text = scan.text_at.get(node.start_byte)
        if text is None:
            text = self.src[node.start_byte : node.end_byte].decode("utf-8", "replace")
        decided = scan.named.get(text)
        if decided is None:
            decided = scan.named[text] = scan.decide_name(text)
        sym, ident = decided
        self.syms.append(sym)
        self.lines.append(node.start_point[0] + 1)
        self.idents.append(ident)

    def attribute(self, node: Node) -> None:
        """`a.b.c`: a chain rooted at an imported module collapses into one library symbol."""
        chain: list[Node] = []
        cur = node
        while cur.kind_id in _ATTRIBUTE_KINDS:
            attr = cur.child_by_field_id(_F_ATTRIBUTE)
            if attr is None:
                break
            chain.append(attr)
            cur = cur.child_by_field_id(_F_OBJECT)
            if cur is None:
                return
        chain.reverse()
        src = self.src
        text_at = self.scan.text_at
        names = []
        for a in chain:  # identifiers, by the grammar
            text = text_at.get(a.start_byte)
            if text is None:
                text = src[a.start_byte : a.end_byte].decode("utf-8", "replace")
            names.append(text)
        if cur.kind_id in _IDENTIFIER_KINDS:
            root = text_at.get(cur.start_byte)
            if root is None:
                root = src[cur.start_byte : cur.end_byte].decode("utf-8", "replace")
            target = self.scan.imports.get(root)
            if target is not None and root not in self.scan.defined:
                dotted = ".".join([target, *names])
                self.emit(LIB + dotted, node, names[-1])
                return
            if root not in self.scan.defined and root not in _BUILTINS:
                # An unbound root used as a module reads like an import of itself, so
                # `essentia.standard.X` is one symbol whether or not the copy kept the
                # (guarded) import; it is the project's if the project binds that name.
                dotted = ".".join([root, *names])
                self.emit(UNBOUND + dotted, node, names[-1])
                return
            self.name(cur)
        elif cur is node:
            # An attribute node without its attribute (error recovery): walking it as an
            # attribute again would never end.
            for child in node.named_children:
                self.walk(child)
        else:
            self.walk(cur)
        syms, lines, idents = self.syms, self.lines, self.idents
        for attr, text in zip(chain, names, strict=True):
            syms.append(ATTR + text)
            lines.append(attr.start_point[0] + 1)
            idents.append(text)

    # -- statements ----------------------------------------------------------------------

    def assignment(self, node: Node) -> None:
        """`a, b = x, y` reads as `a = x` then `b = y`; `x: T = v` reads as `x = v`.

        Defeats: folding assignments into tuples (and unfolding them), adding type hints.
        """
        left = node.child_by_field_id(_F_LEFT)
        right = node.child_by_field_id(_F_RIGHT)
        if left is None:
            return
        if right is None:  # a bare annotation `x: int` declares nothing that runs
            return
        pairs = _unfold(left, right)
        if pairs is not None:
            for target, value in pairs:
                self.walk(target)
                self.emit("=", node)
                self.walk(value)
            return
        self.walk(left)
        self.emit("=", node)
        self.walk(right)

    def augmented(self, node: Node) -> None:
        """`x += y` reads as `x = x + y`. Defeats: switching between the two spellings."""
        left = node.child_by_field_id(_F_LEFT)
        right = node.child_by_field_id(_F_RIGHT)
        op = node.child_by_field_id(_F_OPERATOR)
        if left is None or right is None or op is None:
            return
        self.walk(left)
        self.emit("=", node)
        self.walk(left)
        self.emit(_AUGMENTED.get(_text(op), _text(op)), op)
        self.walk(right)

    def call(self, node: Node) -> None:
        function = node.child_by_field_id(_F_FUNCTION)
        args = node.child_by_field_id(_F_ARGUMENTS)
        callee_sym = ""
        if function is not None:
            self.walk(function)
            callee_sym = self.syms[-1] if self.syms else ""
            callee = function
            if callee.kind_id in _ATTRIBUTE_KINDS:
                callee = callee.child_by_field_id(_F_ATTRIBUTE)
            if callee is not None and callee.kind_id in _IDENTIFIER_KINDS:
                self.calls.append(self.scan._ident(callee))
        line = node.start_point[0] + 1
        syms, lines, idents = self.syms, self.lines, self.idents
        syms.append("(")
        lines.append(line)
        idents.append(None)
        if args is not None:
            rules = _RULE_OF
            for child in args.named_children:
                kind = child.kind_id
                if kind in _KEYWORD_ARGUMENT_KINDS:
                    self.keyword_argument(child, callee_sym)
                else:
                    rule = rules.get(kind)
                    if rule is None:
                        self.generic(child)
                    else:
                        rule(self, child)
        syms.append(")")
        lines.append(line)
        idents.append(None)

    def keyword_argument(self, node: Node, callee_sym: str) -> None:
        """`f(dim=-1)`: the keyword is the callee's parameter name, so it is renamed exactly
        when the callee is the project's own (`$k`); `torch.softmax(x, dim=-1)` keeps `dim=`.
        Whether the callee is the project's may depend on the whole side, so the decision is
        deferred with the callee's raw symbol attached."""
        name = node.child_by_field_id(_F_NAME)
        value = node.child_by_field_id(_F_VALUE)
        if name is not None:
            text = self.scan._ident(name)  # an identifier, by the grammar
            self.emit(KWARG + text + "\x00" + callee_sym, name, text)
        if value is not None:
            self.walk(value)

    def parameters(self, node: Node) -> None:
        """Parameters without their type hints. Defeats: adding or removing annotations."""
        for child in node.named_children:
            kind = child.type
            if kind == "identifier":
                self.name(child)
            elif kind in ("default_parameter", "typed_default_parameter"):
                name = child.child_by_field_id(_F_NAME)
                value = child.child_by_field_id(_F_VALUE)
                if name is not None:
                    self.walk(name)
                self.emit("=", child)
                if value is not None:
                    self.walk(value)
            elif kind in ("typed_parameter",):
                for sub in child.children:
                    if sub.type == "type":
                        break
                    self.walk(sub)
            else:
                self.walk(child)

    def definition_header(self, node: Node, decorators: Iterable[Node]) -> None:
        for decorator in decorators:
            self.emit("@", decorator)
            for child in decorator.named_children:
                self.walk(child)
        # `async` can only be the first token of a def: its text says whether to look.
        is_async = self.src.startswith(b"async", node.start_byte) and any(
            c.type == "async" for c in node.children
        )
        if is_async:
            self.emit("async", node)
        self.emit("def" if node.type == "function_definition" else "class", node)
        name = node.child_by_field_id(_F_NAME)
        if name is not None:
            self.emit(VAR, name, self.scan._ident(name))
        params = node.child_by_field_id(_F_PARAMETERS)
        if params is not None:
            self.parameters(params)
        supers = node.child_by_field_id(_F_SUPERCLASSES)
        if supers is not None:
            self.emit("(", supers)
            for child in supers.named_children:
                self.walk(child)
            self.emit(")", supers)

    def block(self, node: Node) -> None:
        # Nested definitions and docstrings need no test here: their rules skip them.
        self.emit(BLOCK_OPEN, node)
        self._children(node)
        self.syms.append(BLOCK_CLOSE)
        self.lines.append(node.end_point[0] + 1)
        self.idents.append(None)

    # -- the walk ------------------------------------------------------------------------

    def dead(self, node: Node) -> bool:
        """An `if`, `while` or `for` that never runs (see `statically_false`); stores with no
        effect are `_statement`'s."""
        kind = node.type
        if kind == "while_statement" and false_on_entry(node):
            return True
        if kind in ("if_statement", "while_statement"):
            if not statically_false(node.child_by_field_id(_F_CONDITION)):
                return False
            alternatives = node.children_by_field_id(_F_ALTERNATIVE)
            if kind == "while_statement" or not alternatives:
                return True
            # `if False: ... else: body` is just body; elif chains are kept as they are.
            if len(alternatives) == 1 and alternatives[0].type == "else_clause":
                body = alternatives[0].child_by_field_id(_F_BODY)
                if body is not None:
                    for child in body.children:
                        self.walk(child)
                return True
            return False
        if kind == "for_statement":
            return empty_iterable(node.child_by_field_id(_F_RIGHT)) and not any(
                c.type == "else_clause" for c in node.children
            )
        return False

    def walk(self, node: Node) -> None:
        # One dict lookup picks the rule: this runs for most nodes of every unit.
        rule = _RULE_OF.get(node.kind_id)
        if rule is None:
            self.generic(node)
        else:
            rule(self, node)

    def generic(self, node: Node) -> None:
        """Tokens that carry meaning, and every child of other nodes."""
        if node.child_count == 0:
            sym = _LEAF_OF.get(node.kind_id)
            if sym is None:  # a kind the grammar did not list: decide from the node
                if node.is_named or node.type in _KEEP_ANON:
                    self.emit(node.type, node)
            elif sym:
                self.syms.append(sym)
                self.lines.append(node.start_point[0] + 1)
                self.idents.append(None)
            return
        if node.kind_id in _LAMBDA:
            self.emit("lambda", node)
            for child in node.named_children:
                self.walk(child)
            return
        self._children(node)

    def _children(self, node: Node) -> None:
        """`walk` of each child, with the dispatch and `generic`'s leaf case inlined: this
        loop visits most nodes of a unit, and most leaves it meets are punctuation."""
        rules = _RULE_OF
        leaf_of = _LEAF_OF
        for child in node.children:
            kid = child.kind_id
            rule = rules.get(kid)
            if rule is not None:
                rule(self, child)
                continue
            sym = leaf_of.get(kid)
            if sym is not None and not child.child_count:
                if sym:
                    self.syms.append(sym)
                    self.lines.append(child.start_point[0] + 1)
                    self.idents.append(None)
                continue
            self.generic(child)

    def _chain(self, node: Node) -> None:
        """`a + b + c`, `x and y and z`: an operator chain nests to the left, a level per
        operator, so it is walked down that spine in a loop, not a call per level (a
        generated 500-term sum passed Python's recursion limit). It emits what `generic`
        would: every child in order."""
        children = node.children
        if not children:
            self.generic(node)
            return
        kind = node.kind_id
        first = children[0]
        if first.kind_id != kind:  # most chains: one operator
            self._children(node)
            return
        spine = [node]
        while first.kind_id == kind and first.child_count:
            spine.append(first)
            first = first.children[0]
        self.walk(first)
        for link in reversed(spine):
            for child in link.children[1:]:
                self.walk(child)

    def _skip(self, node: Node) -> None:
        pass

    def _all_children(self, node: Node) -> None:
        for child in node.children:
            self.walk(child)

    def _named_children(self, node: Node) -> None:
        for child in node.named_children:
            self.walk(child)

    def _branch(self, node: Node) -> None:
        if not self.dead(node):
            self.generic(node)

    def _statement(self, node: Node) -> None:
        """A bare string statement is documentation, dropped wherever it stands (defeats:
        stripping or rewording docstrings); then `dead_store` and `sealed_use` on the
        statement's one child, read once (a docstring is neither, so it is tested first)."""
        inner = _only_named_child(node)
        if inner is not None:
            kind = inner.kind_id
            if kind in _STRING_KINDS:
                return
            counts = self.counts
            if counts is not None:
                if kind in _ASSIGNMENT_KINDS and dead_store(inner, counts, self.scan._ident):
                    return
                if self.sealed and sealed_use(inner, self.sealed):
                    return
            if len(node.children) == 1:  # nearly always: the walk of that child is all
                self.walk(inner)
            else:
                self._children(node)  # `generic` of a node that has children
            return
        self.generic(node)

    def _string(self, node: Node) -> None:
        # String contents are prose (messages, keys) that copiers reword freely: one symbol
        # for all. Prose is kept aside (see `TokenStream.literals`), for pairs whose code
        # says too little on its own.
        at = node.start_byte
        # A literal without whitespace (quotes and all) is a key or a path, never prose: the
        # digest would read its parts only to say so.
        if len(self.src[at : node.end_byte].split(None, 1)) > 1:
            digest = literal_digest(node, self.src)
            if digest is not None:
                self.literals.append((len(self.syms), digest))
        self.syms.append(STRING)
        self.lines.append(node.start_point[0] + 1)
        self.idents.append(None)

    def _source(self, node: Node) -> str:
        # What `_text` reads, sliced from the source the emitter holds: `node.text` costs
        # more than the slice.
        return self.src[node.start_byte : node.end_byte].decode("utf-8", "replace")

    def _number(self, node: Node) -> None:
        self.emit(normalize_number(self._source(node)), node)

    def _constant(self, node: Node) -> None:
        self.emit(self._source(node), node)

    def _keyword_argument(self, node: Node) -> None:  # outside a call: class keywords
        self.keyword_argument(node, "")

    def _decorated(self, node: Node) -> None:
        if not _is_definition(node):
            self.generic(node)

    def _list(self, node: Node) -> None:
        self._bracketed("[", "]", node)

    def _dictionary(self, node: Node) -> None:
        self._bracketed("dict{", "}dict", node)

    def _set(self, node: Node) -> None:
        self._bracketed("set{", "}set", node)

    def _subscript(self, node: Node) -> None:
        value = node.child_by_field_id(_F_VALUE)
        if value is not None:
            self.walk(value)
        self.emit("[", node)
        for sub in node.children_by_field_id(_F_SUBSCRIPT):
            self.walk(sub)
        self.emit("]", node)

    def _slice(self, node: Node) -> None:
        for child in node.children:
            if child.type == ":":
                self.emit(":", child)
            else:
                self.walk(child)

    def _bracketed(self, open_sym: str, close_sym: str, node: Node) -> None:
        self.emit(open_sym, node)
        for child in node.children:
            if child.is_named:
                self.walk(child)
            elif child.type in ("for", "in", "if", "async", "**", "*"):
                self.emit(child.type, child)
        self.emit(close_sym, node)


_RULES: dict[str, Callable[[_Emitter, Node], None]] = {
    **dict.fromkeys(_SKIP, _Emitter._skip),
    # Definitions nested in a unit are units of their own; imports are resolved into the
    # names that use them (their spelling is style).
    **dict.fromkeys(
        (
            "function_definition",
            "class_definition",
            "import_statement",
            "import_from_statement",
            "future_import_statement",
        ),
        _Emitter._skip,
    ),
    **dict.fromkeys(("if_statement", "while_statement", "for_statement"), _Emitter._branch),
    "expression_statement": _Emitter._statement,
    "identifier": _Emitter.name,
    "attribute": _Emitter.attribute,
    **dict.fromkeys(_STRINGS, _Emitter._string),
    "integer": _Emitter._number,
    "float": _Emitter._number,
    **dict.fromkeys(("true", "false", "none"), _Emitter._constant),
    "assignment": _Emitter.assignment,
    "augmented_assignment": _Emitter.augmented,
    "call": _Emitter.call,
    "keyword_argument": _Emitter._keyword_argument,
    "block": _Emitter.block,
    "decorated_definition": _Emitter._decorated,
    **dict.fromkeys(
        ("parenthesized_expression", "tuple", "expression_list", "pattern_list"),
        _Emitter._named_children,
    ),
    **dict.fromkeys(("list", "list_comprehension", "list_pattern"), _Emitter._list),
    **dict.fromkeys(("dictionary", "dictionary_comprehension"), _Emitter._dictionary),
    **dict.fromkeys(("set", "set_comprehension"), _Emitter._set),
    "subscript": _Emitter._subscript,
    "slice": _Emitter._slice,
    **dict.fromkeys(("binary_operator", "boolean_operator"), _Emitter._chain),
    "ERROR": _Emitter._all_children,
}


# The same tables by the grammar's kind id: an int read from the node is cheaper than its
# type name, a new string to hash on every read. Named-ness is a property of the kind id.
_RULE_OF = {kid: _RULES[name] for kid, name, _ in node_kinds() if name in _RULES}
# A leaf's token: its kind if named (comments have a rule), if anonymous only the kept ones.
_LEAF_OF = {kid: name if named or name in _KEEP_ANON else "" for kid, name, named in node_kinds()}


def _kind_ids(*names: str) -> frozenset[int]:
    """The grammar's ids of the node kinds `names`: tested against `kind_id`, which unlike
    `type` makes no new string on each read."""
    return frozenset(kid for kid, name, _ in node_kinds() if name in names)


_STRING_KINDS = _kind_ids(*_STRINGS)
_ASSIGNMENT_KINDS = _kind_ids("assignment")
_ATTRIBUTE_KINDS = _kind_ids("attribute")
_IDENTIFIER_KINDS = _kind_ids("identifier")
_KEYWORD_ARGUMENT_KINDS = _kind_ids("keyword_argument")
_LAMBDA = _kind_ids("lambda")


def _is_definition(node: Node) -> bool:
    inner, _ = unwrap_definition(node)
    return inner is not None and inner.type in ("function_definition", "class_definition")


def _only_named_child(node: Node) -> Node | None:
    """The one named child of `node`, if it has exactly one. Nearly every statement has a
    single child: its children list (which the walk reads next anyway) answers without
    the named-children reads, a tree-sitter call each."""
    children = node.children
    if len(children) == 1:
        only: Node = children[0]
        return only if only.is_named else None
    if node.named_child_count == 1:
        first: Node = node.named_children[0]
        return first
    return None


def _unfold(left: Node, right: Node) -> list[tuple[Node, Node]] | None:
    tuple_left = ("pattern_list", "tuple_pattern", "tuple", "expression_list", "list_pattern")
    tuple_right = ("expression_list", "tuple", "list")
    if left.type not in tuple_left or right.type not in tuple_right:
        return None
    targets = left.named_children
    values = right.named_children
    if len(targets) != len(values) or len(targets) < 2:
        return None
    starred = ("list_splat_pattern", "list_splat", "dictionary_splat")
    if any(t.type in starred for t in targets) or any(v.type in starred for v in values):
        return None
    return list(zip(targets, values, strict=True))


# --------------------------------------------------------------------------------------
# Dead code: padding a copy with code that never runs, or whose result is never read,
# dilutes every similarity score. Each rule below drops one kind, statically, without
# running anything.

_NEGATED = {"is": "is not", "is not": "is", "==": "!=", "!=": "==", "in": "not in", "not in": "in"}


def _comparison(node: Node) -> tuple[str, str, str] | None:
    """`L op R` as texts, for a comparison of exactly two operands."""
    if node.type != "comparison_operator" or node.named_child_count != 2:
        return None
    ops = [c for c in node.children if not c.is_named or c.type in ("is not", "not in")]
    if len(ops) != 1:
        return None
    left, right = node.named_children
    return _text(left), " ".join(_text(ops[0]).split()), _text(right)


def statically_false(node: Node | None) -> bool:
    """A condition that can never hold: `False`, `0`, `None`, `not True`, `A and not-A`
    (`x is None and x is not None`). Defeats: dead branches inserted as padding."""
    if node is None:
        return False
    kind = node.type
    if kind in ("false", "none"):
        return True
    if kind in ("integer", "float"):
        return normalize_number(_text(node)) in ("0", "0.0")
    if kind == "parenthesized_expression" and node.named_child_count == 1:
        return statically_false(node.named_children[0])
    if kind == "not_operator":
        return statically_true(node.child_by_field_id(_F_ARGUMENT))
    if kind == "boolean_operator":
        # `a and b and c` nests to the left: its operands are read down that spine in a
        # loop (a long generated condition passed Python's recursion limit).
        while True:
            left = node.child_by_field_id(_F_LEFT)
            right = node.child_by_field_id(_F_RIGHT)
            op = node.child_by_field_id(_F_OPERATOR)
            if op is None or _text(op) != "and":
                return False
            if statically_false(right):
                return True
            if left is not None and left.type == "boolean_operator":
                node = left
                continue
            if statically_false(left):
                return True
            a = _comparison(left) if left is not None else None
            b = _comparison(right) if right is not None else None
            return bool(a and b and a[0] == b[0] and a[2] == b[2] and _NEGATED.get(a[1]) == b[1])
    return False


def statically_true(node: Node | None) -> bool:
    if node is None:
        return False
    kind = node.type
    if kind == "true":
        return True
    if kind in ("integer", "float"):
        return normalize_number(_text(node)) not in ("0", "0.0")
    if kind == "parenthesized_expression" and node.named_child_count == 1:
        return statically_true(node.named_children[0])
    if kind == "not_operator":
        return statically_false(node.child_by_field_id(_F_ARGUMENT))
    return False


def empty_iterable(node: Node | None) -> bool:
    """`range(0)`, `[]`, `()`, `{}`: a loop over it never runs. Defeats: padding loops."""
    if node is None:
        return False
    if node.type in ("list", "tuple", "dictionary", "set") and node.named_child_count == 0:
        return True
    if node.type == "call":
        fn = node.child_by_field_id(_F_FUNCTION)
        args = node.child_by_field_id(_F_ARGUMENTS)
        if fn is not None and _text(fn) == "range" and args is not None:
            values = args.named_children
            if len(values) == 1 and values[0].type == "integer":
                return normalize_number(_text(values[0])) == "0"
    return False


_IMPURE = frozenset({"call", "await", "yield", "named_expression", "lambda", "subscript"})


def _pure(node: Node) -> bool:
    stack = [node]
    while stack:
        cur = stack.pop()
        if cur.type in _IMPURE:
            return False
        stack.extend(cur.children)
    return True


def _number(node: Node | None) -> float | None:
    if node is None or node.type not in ("integer", "float"):
        return None
    try:
        return float(normalize_number(_text(node)))
    except ValueError:
        return None


def _holds(op: str, a: float, b: float) -> bool:
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    if op == ">=":
        return a >= b
    return a == b if op == "==" else a != b


_COMPARE = frozenset({"<", "<=", ">", ">=", "==", "!="})


def false_on_entry(node: Node) -> bool:
    """`i = 0` then `while i < 0:`: a loop whose condition is false with the constant the
    statement just before it stored. Defeats: padding loops that only a value, not the
    condition's text, shows never run (constant propagation over one statement)."""
    if any(c.type == "else_clause" for c in node.children):
        return False
    cond = node.child_by_field_id(_F_CONDITION)
    prev = node.prev_named_sibling
    while prev is not None and prev.type == "comment":  # `i = 0  # pad` then the loop
        prev = prev.prev_named_sibling
    if cond is None or cond.type != "comparison_operator" or cond.named_child_count != 2:
        return False
    if prev is None or prev.type != "expression_statement" or prev.named_child_count != 1:
        return False
    store = prev.named_children[0]
    if store.type != "assignment":
        return False
    target, value = store.child_by_field_id(_F_LEFT), store.child_by_field_id(_F_RIGHT)
    known = _number(value)
    if target is None or target.type != "identifier" or known is None:
        return False
    ops = [c.type for c in cond.children if not c.is_named]
    left, right = cond.named_children
    if len(ops) != 1 or ops[0] not in _COMPARE:
        return False
    name = _text(target)
    lhs: float | None
    rhs: float | None
    if left.type == "identifier" and _text(left) == name:
        lhs, rhs = known, _number(right)
    elif right.type == "identifier" and _text(right) == name:
        lhs, rhs = _number(left), known
    else:
        return False
    return lhs is not None and rhs is not None and not _holds(ops[0], lhs, rhs)


_LOOP_OR_BRANCH = frozenset({"if_statement", "while_statement", "for_statement"})


def _statically_dead(node: Node) -> bool:
    """Statements that never run whatever the names hold (no `else` that would)."""
    kind = node.type
    if kind not in _LOOP_OR_BRANCH:
        return False
    # The condition first: it is rarely constant, and reading the clauses costs more.
    if kind == "for_statement":
        dead = empty_iterable(node.child_by_field_id(_F_RIGHT))
    else:
        dead = statically_false(node.child_by_field_id(_F_CONDITION)) or (
            kind == "while_statement" and false_on_entry(node)
        )
    return dead and not any(c.type in ("else_clause", "elif_clause") for c in node.children)


_FRESH_CALLS = frozenset({"list", "dict", "set"})


def _fresh_container(node: Node | None) -> bool:
    """`[]`, `{}`, `()`, `list()`, `dict()`, `set()`: a new object no one else holds."""
    if node is None:
        return False
    if node.type in ("list", "tuple", "dictionary", "set"):
        return bool(node.named_child_count == 0)
    if node.type == "call":
        fn = node.child_by_field_id(_F_FUNCTION)
        args = node.child_by_field_id(_F_ARGUMENTS)
        return (
            fn is not None
            and _text(fn) in _FRESH_CALLS
            and args is not None
            and args.named_child_count == 0
        )
    return False


def _fresh_store(inner: Node) -> str | None:
    """The local that `name = []` (a statement's only child) binds to a fresh container."""
    if inner.type != "assignment":
        return None
    left = inner.child_by_field_id(_F_LEFT)
    if left is None or left.type != "identifier":
        return None
    return _text(left) if _fresh_container(inner.child_by_field_id(_F_RIGHT)) else None


def _receiver_call(inner: Node) -> str | None:
    """The local whose method `name.method(pure args)` (a statement's only child) calls."""
    if inner.type != "call":
        return None
    fn = inner.child_by_field_id(_F_FUNCTION)
    obj = fn.child_by_field_id(_F_OBJECT) if fn is not None and fn.type == "attribute" else None
    if obj is None or obj.type != "identifier":
        return None
    args = inner.child_by_field_id(_F_ARGUMENTS)
    if args is not None and not all(_pure(a) for a in args.named_children):
        return None
    return _text(obj)


def local_uses(node: Node) -> tuple[dict[str, int], frozenset[str]]:
    """One walk over a function: identifier counts, leaving out code that never runs (a
    store read only inside a dead branch is dead too), and its *sealed* locals: bound once
    to a fresh container and otherwise only the receiver of statement calls
    (`seen = []; seen.clear()`). Such an object never escapes, so neither the store nor the
    calls can change what the function does. Defeats: busy work on a throwaway list."""
    counts: dict[str, int] = {}
    stores: dict[str, int] = {}
    receivers: dict[str, int] = {}
    stack = [node]
    while stack:
        cur = stack.pop()
        kind = cur.type
        if kind == "identifier":
            t = _text(cur)
            counts[t] = counts.get(t, 0) + 1
            continue
        if kind in _LOOP_OR_BRANCH and cur is not node and _statically_dead(cur):
            continue
        if kind == "expression_statement" and cur.named_child_count == 1:
            inner = cur.named_children[0]
            if (name := _fresh_store(inner)) is not None:
                stores[name] = stores.get(name, 0) + 1
            elif (name := _receiver_call(inner)) is not None:
                receivers[name] = receivers.get(name, 0) + 1
        stack.extend(cur.children)
    sealed = frozenset(
        n
        for n, c in stores.items()
        if c == 1 and receivers.get(n, 0) > 0 and counts.get(n, 0) == 1 + receivers[n]
    )
    return counts, sealed


def sealed_use(inner: Node, sealed: frozenset[str]) -> bool:
    """The store or a receiver call of a sealed local (see `local_uses`); `inner` is the
    one child of a statement."""
    name = _fresh_store(inner) or _receiver_call(inner)
    return name is not None and name in sealed


def dead_store(inner: Node, counts: dict[str, int], text_of: Callable[[Node], str] = _text) -> bool:
    """`tmp = x is None` where `tmp` is never read again and the value has no effect;
    `inner` is the one child of a statement, an assignment.
    Defeats: padding with unused locals. Only inside functions: at module or class level
    an assignment defines something others may read."""
    left = inner.child_by_field_id(_F_LEFT)
    right = inner.child_by_field_id(_F_RIGHT)
    if left is None or right is None or left.type != "identifier":
        return False
    return counts.get(text_of(left), 0) == 1 and _pure(right)


def wires_names_only(root: Node) -> bool:
    """Whether a file's module-level code only wires names together: imports, tables of
    names (`__all__ = [...]`, `_import_structure["x"] = ["X"]`), filling them
    (`.update(...)`, `.extend(...)`, `setattr(...)`), registering the module
    (`sys.modules[__name__] = ...`), and the `if`/`try`/`for` around those (availability
    checks that raise or pass). A package's `__init__.py` is this, written alike across a
    family of projects (every Hugging Face library has the same lazy-import tables), so a
    match of it proves little on its own."""
    code = [c for c in root.named_children if c.kind_id not in _COMMENT_KINDS]
    return bool(code) and all(_wires(c) for c in code)


def _wires(node: Node) -> bool:
    kind = node.type
    if kind in _WIRING_LEAVES:
        return True
    if kind == "expression_statement":
        inner = _only_named_child(node)
        if inner is None:
            return False
        if inner.type == "string":
            return True  # a docstring
        if inner.type in ("assignment", "augmented_assignment"):  # `t["x"] += ["X"]` too
            left = inner.child_by_field_id(_F_LEFT)
            right = inner.child_by_field_id(_F_RIGHT)
            if left is None or right is None:
                return right is None  # `x: T` binds nothing
            if _registers_module(left):
                return True
            return left.type in _TABLE_TARGETS and _name_table(right)
        if inner.type == "call":
            return _fills_table(inner)
        return False
    if kind in _WIRING_COMPOUNDS:
        for child in node.named_children:
            if child.type == "block":
                if not all(_wires(s) for s in child.named_children):
                    return False
            elif child.type.endswith("_clause") and not _wires(child):
                return False
        return True
    return False


def _name_table(node: Node) -> bool:
    """Names, and containers of names: identifiers, dotted names, strings without spaces
    (module and class names, version pins). Numbers and prose are not names: a copied table
    of constants or of prompts is evidence (see `literal_digest`)."""
    kind = node.type
    if kind in _NAME_LEAVES:
        return True
    if kind in ("string", "concatenated_string"):
        return len(node.text.split()) == 1
    if kind in _TABLE_CONTAINERS:
        return all(_name_table(c) for c in node.named_children if c.kind_id not in _COMMENT_KINDS)
    return False


def _registers_module(target: Node) -> bool:
    """`sys.modules[...]` as an assignment's target."""
    if target.type != "subscript":
        return False
    value = target.child_by_field_id(_F_VALUE)
    return value is not None and value.text == b"sys.modules"


def _fills_table(call: Node) -> bool:
    """`t.update(...)`, `t.extend(...)`, `setattr(...)` with names as arguments (or the
    result of a call on names: `get_objects_from_module(dummies)`), not computed values."""
    function = call.child_by_field_id(_F_FUNCTION)
    if function is None:
        return False
    if function.type == "identifier":
        fills = function.text == b"setattr"
    elif function.type == "attribute":
        attr = function.child_by_field_id(_F_ATTRIBUTE)
        fills = attr is not None and attr.text in _TABLE_FILLERS
    else:
        fills = False
    return fills and _names_passed(call, nested=True)


def _names_passed(call: Node, nested: bool) -> bool:
    arguments = call.child_by_field_id(_F_ARGUMENTS)
    if arguments is None:
        return False
    for arg in arguments.named_children:
        if arg.type == "keyword_argument":
            arg = arg.child_by_field_id(_F_VALUE)
            if arg is None:
                return False
        if _name_table(arg) or _registers_module(arg):
            continue
        if not (nested and arg.type == "call" and _names_passed(arg, nested=False)):
            return False
    return True


_COMMENT_KINDS = _kind_ids("comment")
_WIRING_LEAVES = frozenset(
    {
        "import_statement",
        "import_from_statement",
        "future_import_statement",
        "pass_statement",
        "raise_statement",
        "comment",
    }
)
_WIRING_COMPOUNDS = frozenset(
    {
        "if_statement",
        "elif_clause",
        "else_clause",
        "try_statement",
        "except_clause",
        "finally_clause",
        "for_statement",
    }
)
_TABLE_TARGETS = frozenset({"identifier", "subscript", "attribute", "pattern_list"})
_NAME_LEAVES = frozenset({"identifier", "attribute", "true", "false", "none", "ellipsis"})
_TABLE_CONTAINERS = frozenset(
    {"list", "tuple", "set", "dictionary", "pair", "parenthesized_expression", "expression_list"}
)
_TABLE_FILLERS = frozenset({b"update", b"extend", b"append", b"setdefault"})


def _emit_unit(span: UnitSpan, scan: _Scan) -> _Emitter:
    em = _Emitter(scan)
    node = span.node
    if span.kind == "module":
        # Definitions and docstrings are skipped by their rules.
        em._children(node)
        return em
    em.definition_header(node, span.decorators)
    body = node.child_by_field_id(_F_BODY)
    if span.kind in ("function", "method"):
        em.counts, em.sealed = scan.uses(node)
    if body is not None:
        em.block(body)
    return em


_DEFINITION_KINDS = _kind_ids("function_definition", "class_definition", "decorated_definition")
_IMPORT_KINDS = _kind_ids("import_statement", "import_from_statement", "future_import_statement")
_SKIP_KINDS = _kind_ids(*_SKIP)
_LEAF_RULES = {
    kid: rule
    for kid, rule in _RULE_OF.items()
    if rule in (_Emitter.name, _Emitter._string, _Emitter._number, _Emitter._constant)
}


def _emit_flat(span: UnitSpan, scan: _Scan) -> _Emitter:
    """A unit that nests deeper than the walk's recursion can follow, read in a loop: its
    names, literals, keywords and operators in order, as they stand. The rules that need the
    tree (attribute chains, unfolded assignments, dead code, docstrings) do not apply; nested
    definitions and imports are left out as the walk leaves them."""
    em = _Emitter(scan)
    own = span.node
    stack = [own]
    while stack:
        node = stack.pop()
        kid = node.kind_id
        if node is not own and (kid in _DEFINITION_KINDS or kid in _IMPORT_KINDS):
            continue
        if kid in _SKIP_KINDS:
            continue
        rule = _LEAF_RULES.get(kid)
        if rule is not None:
            rule(em, node)
        elif node.child_count:
            stack.extend(reversed(node.children))
        else:
            em.generic(node)
    return em


def analyze_file(file: SourceFile, side: Side) -> tuple[FileAnalysis, list[Warning]]:
    """Parse one file and emit the raw token stream of each of its units."""
    return analyze_versions([file], side)[0]


def analyze_versions(
    files: Sequence[SourceFile], side: Side
) -> list[tuple[FileAnalysis, list[Warning]]]:
    """`analyze_file` of each of several versions of one file (a fork's and upstream's), in
    less time: each after the first is parsed from the tree of the one before, and only its
    units whose text changed are emitted again. The results are those of `analyze_file`."""
    # The walk allocates tens of thousands of short-lived, acyclic node objects; the cyclic
    # collector, triggered every 700 allocations, finds nothing in them (4% of the time).
    collecting = gc.isenabled()
    gc.disable()
    try:
        out: list[tuple[FileAnalysis, list[Warning]]] = []
        earlier = None
        for index, file in enumerate(files):
            try:
                keep = index + 1 < len(files)  # a later version follows
                analysis, warnings, earlier = _analyze(file, side, earlier, keep)
            except RecursionError:
                # Past what even the loop-read units allow (the file scan's own rules recurse
                # on nested targets and conditions): a file written to make the comparison fail.
                earlier = None
                analysis, warnings = (
                    _not_analysed(file),
                    [
                        Warning(
                            side=side,
                            path=file.path,
                            reason="nests deeper than the analysis can follow (thousands of "
                            "levels); not compared",
                            skipped=True,
                        )
                    ],
                )
            out.append((analysis, warnings))
        return out
    finally:
        if collecting:
            gc.enable()


def _not_analysed(file: SourceFile) -> FileAnalysis:
    return FileAnalysis(
        path=file.path,
        sha256=file.sha256,
        units=(),
        defined_attrs=frozenset(),
        defined_names=frozenset(),
        error_lines=(),
        line_count=file.text.count("\n") + 1,
    )


# Past this many names imported or bound otherwise, a version is emitted whole: checking
# each unit's text for each name would cost more than it saves.
MAX_REBOUND = 64


@dataclass(frozen=True, slots=True)
class _Version:
    """A file as analysed, kept for analysing another version of it (see `analyze_versions`):
    its tree, what emission reads beyond a unit's own text (the import map and the names
    bound in the file: `_Scan.decide_name`), and each unit's tokens by its text."""

    parsed: ParsedFile
    imports: dict[str, str]
    defined: frozenset[str]
    units: dict[tuple[str, str, int, bytes], RawUnit | None]  # None: a unit with no tokens


def _analyze(
    file: SourceFile, side: Side, earlier: _Version | None, keep: bool
) -> tuple[FileAnalysis, list[Warning], _Version | None]:
    """The file's analysis and warnings, and, when `keep`, what a later version can reuse.
    Files with errors keep nothing: their scan walks the whole tree, not unit by unit."""
    parsed = parse_text(file.text, _SCAN_KINDS, earlier.parsed if earlier is not None else None)
    scan = _Scan(parsed.root, parsed.source, parsed.found, file.text)
    # A unit of the same text, name and place in an earlier version of the file emits the
    # same tokens, a few lines away, unless it names a name that the two versions import or
    # bind differently: the emitter reads nothing else outside the unit (uses, dead code and
    # constants are all within it).
    reusable = None
    rebound: list[bytes] = []
    if earlier is not None and scan._exact:
        rebound = _rebound(earlier, scan)
        if len(rebound) <= MAX_REBOUND:
            reusable = earlier.units
    kept: dict[tuple[str, str, int, bytes], RawUnit | None] | None = None
    if keep and scan._exact:
        kept = {}
    keyed = kept is not None or reusable is not None
    units = []
    flat: list[str] = []
    for span in parsed.spans:
        key = _unit_key(span, parsed.source) if keyed and span.kind != "module" else None
        if (
            key is not None
            and reusable is not None
            and key in reusable
            # By its text, so also in strings and longer names: never reused wrongly.
            and not any(name in key[3] for name in rebound)
        ):
            raw = reusable[key]
            if kept is not None:
                kept[key] = raw
            if raw is not None:
                units.append(_moved(raw, span.start_line))
            continue
        try:
            em = _emit_unit(span, scan)
        except RecursionError:
            em = _emit_flat(span, scan)
            flat.append(span.qualname)
            key = None  # emitted again, to warn again
        if not em.syms:
            if kept is not None and key is not None:
                kept[key] = None
            continue
        raw = RawUnit(
            qualname=span.qualname,
            kind=span.kind,
            start_line=span.start_line,
            end_line=span.end_line,
            syms=tuple(em.syms),
            lines=tuple(em.lines),
            idents=tuple(em.idents),
            calls=tuple(dict.fromkeys(em.calls)),
            literals=tuple(em.literals),
            wiring=span.kind == "module" and wires_names_only(span.node),
        )
        units.append(raw)
        if kept is not None and key is not None:
            kept[key] = raw
    warnings = []
    if flat:
        more = f" and {len(flat) - 3} more" if len(flat) > 3 else ""
        warnings.append(
            Warning(
                side=side,
                path=file.path,
                reason=f"{', '.join(flat[:3])}{more} nest deeper than the analysis can follow: "
                "read token by token as written, without the normalisations that need the "
                "syntax tree",
            )
        )
    if parsed.error_lines:
        shown = ", ".join(str(n) for n in parsed.error_lines[:5])
        more = "" if len(parsed.error_lines) <= 5 else f" and {len(parsed.error_lines) - 5} more"
        warnings.append(
            Warning(
                side=side,
                path=file.path,
                reason=f"does not parse fully (syntax errors near line {shown}{more}); "
                "the parts that parse are compared",
            )
        )
    analysis = FileAnalysis(
        path=file.path,
        sha256=file.sha256,
        units=tuple(units),
        defined_attrs=frozenset(scan.attrs),
        defined_names=frozenset(scan.defined),
        error_lines=parsed.error_lines,
        line_count=file.text.count("\n") + 1,
    )
    version = None
    if kept is not None:
        version = _Version(parsed, scan.imports, frozenset(scan.defined), kept)
    return analysis, warnings, version


def _rebound(earlier: _Version, scan: _Scan) -> list[bytes]:
    """The names whose import or binding differs between the two versions (an import added,
    a function renamed): the units that name one are emitted again."""
    now = scan.imports
    names = {n for n in earlier.imports.keys() | now.keys() if earlier.imports.get(n) != now.get(n)}
    names |= earlier.defined.symmetric_difference(scan.defined)
    return [n.encode("utf-8", "surrogatepass") for n in names]


def _unit_key(span: UnitSpan, source: bytes) -> tuple[str, str, int, bytes]:
    """A def or class by name, kind, column and text, decorators included."""
    start = span.decorators[0] if span.decorators else span.node
    return (
        span.qualname,
        span.kind,
        start.start_point[1],
        source[start.start_byte : span.node.end_byte],
    )


def _moved(raw: RawUnit, start_line: int) -> RawUnit:
    shift = start_line - raw.start_line
    if not shift:
        return raw
    return dataclasses.replace(
        raw,
        start_line=start_line,
        end_line=raw.end_line + shift,
        lines=tuple([line + shift for line in raw.lines]),
    )


# --------------------------------------------------------------------------------------
# Side-level resolution


def local_module_names(paths: Iterable[str]) -> frozenset[str]:
    """Top-level names under which the project's own code can be imported.

    `minivlm/model.py` makes `minivlm` local; `src/minivlm/model.py` makes `minivlm` local
    too (src layout); a top-level `utils.py` makes `utils` local.
    """
    names: set[str] = set()
    for path in paths:
        parts = path.split("/")
        if parts and parts[0] in ("src", "lib") and len(parts) > 1:
            parts = parts[1:]
        head = parts[0]
        if len(parts) == 1:
            head = head.rsplit(".", 1)[0]
        if head.isidentifier():
            names.add(head)
        # Scripts in subfolders import siblings by bare name (`sys.path` tricks, notebooks)...
        # but not under a standard library module's name: inside a package,
        # `accelerate/utils/dataclasses.py` or `transformers/utils/logging.py` never shadow
        # `import dataclasses` / `import logging`, which would otherwise turn every
        # `dataclasses.field` and `logging.getLogger` of the side into a project name.
        if len(parts) > 1:
            stem = parts[-1].rsplit(".", 1)[0]
            if stem.isidentifier() and stem != "__init__" and stem not in _STDLIB:
                names.add(stem)
    return frozenset(names)


def side_context(analyses: Iterable[FileAnalysis]) -> SideContext:
    analyses = list(analyses)
    attrs: set[str] = set()
    names: set[str] = set()
    for a in analyses:
        attrs |= a.defined_attrs
        names |= a.defined_names
    return SideContext(
        local_modules=local_module_names(a.path for a in analyses),
        defined_attrs=frozenset(attrs),
        defined_names=frozenset(names),
    )


def _resolve_sym(sym: str, ctx: SideContext) -> str:
    tag = sym[0]
    if tag == UNBOUND:
        dotted = sym[1:]
        root = dotted.split(".", 1)[0]
        if root in ctx.defined_names or root in ctx.local_modules:
            return VAR
        return dotted
    if tag == LIB:
        dotted = sym[1:]
        if dotted.split(".", 1)[0] in ctx.local_modules:
            return VAR
        return dotted
    if tag == ATTR:
        name = sym[1:]
        return ATTR_PH if name in ctx.defined_attrs else "." + name
    if tag == KWARG:
        name, _, callee = sym[1:].partition("\x00")
        if callee in PLACEHOLDERS:
            return KWARG_PH
        if callee[:1] in (LIB, ATTR, UNBOUND):
            return KWARG_PH if _resolve_sym(callee, ctx) in PLACEHOLDERS else name + "="
        return name + "="
    return sym


def resolve_unit(
    raw: RawUnit, analysis: FileAnalysis, ctx: SideContext, side: Side, memo: _Memo | None = None
) -> Unit:
    memo = memo if memo is not None else _Memo(ctx)
    # map() over bound C methods: these run over every token of both sides.
    syms = tuple(map(memo.decided.__getitem__, raw.syms))
    idents = raw.idents
    # A deferred name that turned out external (`.shape`, `torch.nn`) has no ident to map:
    # `dropped.get(sym, ident)` is None for those and the ident for every other token.
    if not memo.dropped.keys().isdisjoint(raw.syms):
        idents = tuple(map(memo.dropped.get, raw.syms, idents))
    stream = TokenStream(syms=syms, lines=raw.lines, idents=idents, literals=raw.literals)
    return Unit(
        side=side,
        path=analysis.path,
        qualname=raw.qualname,
        kind=raw.kind,
        start_line=raw.start_line,
        end_line=raw.end_line,
        file_sha256=analysis.sha256,
        tokens=stream,
        calls=raw.calls,
        content_hash=content_hash(stream),
        wiring=raw.wiring,
    )


class _Memo:
    """Each distinct symbol decided once per context: a side repeats the same few thousand
    deferred symbols millions of times (resolution was a third of a warm run)."""

    def __init__(self, ctx: SideContext) -> None:
        self.ctx = ctx
        self.dropped: dict[str, None] = {}  # a dict, for its C-level get(sym, default)
        self.decided = _Decided(self)

    def decide(self, sym: str) -> str:
        if sym and sym[0] in _DEFERRED_TAGS:
            resolved = _resolve_sym(sym, self.ctx)
            if resolved not in PLACEHOLDERS:
                self.dropped[sym] = None
            return resolved
        return sym


class _Decided(dict[str, str]):
    """Symbol -> resolved symbol, deciding a symbol the first time it is looked up (a
    lookup per token is all the hot loop pays)."""

    def __init__(self, memo: _Memo) -> None:
        super().__init__()
        self._memo = memo

    def __missing__(self, sym: str) -> str:
        resolved = self[sym] = self._memo.decide(sym)
        return resolved


_DEFERRED_TAGS = frozenset({LIB, ATTR, KWARG, UNBOUND})


def numbered(stream: TokenStream) -> Iterator[str]:
    """Placeholders numbered by first use (`$v1`, `$v2`, ...): equal sequences mean the same
    code up to a consistent renaming."""
    seen: dict[tuple[str, str | None], int] = {}
    for sym, ident in zip(stream.syms, stream.idents, strict=True):
        if sym in PLACEHOLDERS:
            key = (sym, ident)
            if key not in seen:
                seen[key] = len(seen) + 1
            yield f"{sym}{seen[key]}"
        else:
            yield sym


def content_hash(stream: TokenStream) -> str:
    """Equal hashes mean equal `numbered` sequences: the same symbols, and the same pattern
    of which placeholder positions share a name. Only placeholders carry an ident after
    resolution, so numbering the idents by first use gives that pattern (a little stricter
    than per-namespace numbering: `self.x = x` and `self.y = x` differ). Hashed in two
    C-speed pieces: this runs over every token of both sides."""
    # Each ident labelled with the position of its first use among the idents: the same
    # pattern of repeats gives the same labels, and map/filter keep the loop in C.
    seen: dict[str, int] = {}
    numbers = list(map(seen.setdefault, filter(None, stream.idents), itertools.count()))
    h = hashlib.blake2b(digest_size=16)
    h.update("\x00".join(stream.syms).encode("utf-8", "surrogatepass"))
    h.update(b"\x01")
    h.update(array("q", numbers).tobytes())
    return h.hexdigest()


def joint_context(contexts: Iterable[SideContext]) -> SideContext:
    """One context for sides compared with each other: see `pipeline.resolve_units`."""
    contexts = list(contexts)
    return SideContext(
        local_modules=frozenset().union(*(c.local_modules for c in contexts)),
        defined_attrs=frozenset().union(*(c.defined_attrs for c in contexts)),
        defined_names=frozenset().union(*(c.defined_names for c in contexts)),
    )


class Resolver:
    """Resolves the units of one or more sides under one context. A file whose content was
    already resolved (on the other side, or elsewhere on this one) reuses those token
    streams: two versions of a repository share most files, and resolution is the slowest
    step of a warm run."""

    def __init__(self, ctx: SideContext) -> None:
        self.ctx = ctx
        self._memo = _Memo(ctx)
        self._done: dict[str, list[Unit]] = {}

    def units_of(self, analyses: Iterable[FileAnalysis], side: Side) -> list[Unit]:
        out: list[Unit] = []
        for a in analyses:
            seen = self._done.get(a.sha256)
            if seen is None:
                units = [resolve_unit(raw, a, self.ctx, side, self._memo) for raw in a.units]
                self._done[a.sha256] = units
            else:
                units = [dataclasses.replace(u, side=side, path=a.path) for u in seen]
            out.extend(units)
        return out


def resolve_units_of(analyses: Iterable[FileAnalysis], ctx: SideContext, side: Side) -> list[Unit]:
    return Resolver(ctx).units_of(analyses, side)


def resolve_side(analyses: list[FileAnalysis], side: Side) -> tuple[list[Unit], SideContext]:
    """Resolve one side on its own context (tests, and sides compared with no other)."""
    ctx = side_context(analyses)
    return resolve_units_of(analyses, ctx, side), ctx


def token_text(stream: TokenStream) -> str:
    """Readable form of a stream, for debugging and docs."""
    return " ".join(numbered(stream))
