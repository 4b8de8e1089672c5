"""Files -> syntax trees -> units. The only module that imports tree_sitter.

tree-sitter is used rather than Python's `ast` because it recovers from syntax errors: a
file that does not parse fully (Python 2 code, a merge conflict, a notebook cell with odd
syntax) still yields every unit it can, and the broken lines become a warning.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import tree_sitter
import tree_sitter_python

from plagiarism.model import UnitKind

Node = Any  # tree_sitter.Node; kept loose so later stages need not import tree_sitter

_DEFINITIONS = ("function_definition", "class_definition")
# Where a def or class can stand: statements that hold blocks, their clauses, and the
# blocks themselves (plus ERROR, which may wrap statements of a file that does not parse).
# Expressions never hold one (a lambda is not a unit), so the search does not descend into
# them: it walked every node of every file before, a third of the parse stage.
_HOLDS_STATEMENTS = frozenset(
    {
        "block",
        "if_statement",
        "elif_clause",
        "else_clause",
        "try_statement",
        "except_clause",
        "except_group_clause",
        "finally_clause",
        "with_statement",
        "for_statement",
        "while_statement",
        "match_statement",
        "case_clause",
        "decorated_definition",
        "ERROR",
    }
)


@lru_cache(maxsize=1)
def _language() -> tree_sitter.Language:
    return tree_sitter.Language(tree_sitter_python.language())


def grammar_identity() -> str:
    """The tree-sitter runtime and Python grammar, as they describe themselves (asking
    importlib.metadata instead costs every run ~40 ms of imports and a folder scan)."""
    lang = _language()
    major, minor, patch = lang.semantic_version or (0, 0, 0)
    return (
        f"tree-sitter={tree_sitter.__version__} grammar={major}.{minor}.{patch}"
        f" abi={lang.abi_version} kinds={lang.node_kind_count} states={lang.parse_state_count}"
    )


@lru_cache(maxsize=1)
def _parser() -> tree_sitter.Parser:
    return tree_sitter.Parser(_language())


_ERROR_KIND = 65535  # tree-sitter's id of ERROR nodes, outside the grammar's own ids


def field_id(name: str) -> int:
    """The grammar's id of a field: `child_by_field_id` skips the name lookup that
    `child_by_field_name` does on every call (a third of its cost)."""
    fid = _language().field_id_for_name(name)
    if fid is None:
        raise ValueError(f"no field {name!r} in the grammar")
    return fid


_F_DEFINITION = field_id("definition")
_F_NAME = field_id("name")
_F_BODY = field_id("body")


def node_kinds() -> list[tuple[int, str, bool]]:
    """(kind id, type name, named) of every node kind of the grammar, ERROR included."""
    lang = _language()
    kinds = [
        (kid, lang.node_kind_for_id(kid) or "", lang.node_kind_is_named(kid))
        for kid in range(lang.node_kind_count)
    ]
    return [*kinds, (_ERROR_KIND, "ERROR", True)]


@lru_cache(maxsize=8)
def _kinds_query(kinds: tuple[str, ...]) -> tree_sitter.Query:
    # Units are found from the same query (see `_units_found`), so definitions are always in.
    wanted = sorted({*kinds, *_DEFINITIONS, "decorated_definition"})
    patterns = [k if "@" in k else f"({k}) @{k}" for k in wanted]
    return tree_sitter.Query(_language(), "\n".join(patterns))


def nodes_by_kind(root: Node, kinds: tuple[str, ...]) -> dict[str, list[Node]]:
    """Every node below `root` (itself included) of each of `kinds`, found by tree-sitter's
    query engine in C: far cheaper than visiting each node from Python when only a few
    kinds matter. The lists are NOT in document order (the bindings return captures far
    from it): sort by start byte where order matters. Kinds with no node are absent. An
    entry with a capture (`(call function: (identifier)) @call`) is a query pattern of its
    own: only the nodes of that shape are found, under the capture's name."""
    found: dict[str, list[Node]] = tree_sitter.QueryCursor(_kinds_query(kinds)).captures(root)
    return found


@dataclass(frozen=True, slots=True)
class UnitSpan:
    """Where a unit is in a parsed file. `node` is the live tree-sitter node (not picklable:
    spans never leave the process that parsed them; `normalize` turns them into `Unit`s)."""

    qualname: str
    kind: UnitKind
    start_line: int
    end_line: int
    node: Node  # function_definition / class_definition / module
    decorators: tuple[Node, ...] = ()


@dataclass(frozen=True, slots=True)
class ParsedFile:
    """A file's tree, its units and where the parser had to recover."""

    root: Node
    spans: tuple[UnitSpan, ...]
    error_lines: tuple[int, ...]  # 1-based lines where tree-sitter had to recover
    source: bytes = b""  # what was parsed: a node's text is source[start_byte:end_byte]
    # The nodes of the kinds asked for (see `nodes_by_kind`), for a file that parses without
    # error; None for one that does not (error recovery can nest nodes anywhere).
    found: dict[str, list[Node]] | None = None
    tree: Any = None  # the tree_sitter.Tree, to parse another version of the file from


def parse_text(
    text: str, kinds: tuple[str, ...] = (), earlier: ParsedFile | None = None
) -> ParsedFile:
    """Parse `text`; for a file without syntax errors also find every node of `kinds` (and
    every definition, which give the units) in one C-level query.

    `earlier`, another version of the file that parsed without errors, is parsed from: the
    tree-sitter tree is edited to the lines that differ and the parser reuses the rest (a
    fork's file differs from upstream's in a few lines). Its tree is edited in place: its
    nodes must not be read afterwards. A result with errors is parsed afresh, since error
    recovery may take another path from an earlier tree."""
    source = text.encode("utf-8")
    tree = None
    if earlier is not None and earlier.tree is not None and not earlier.root.has_error:
        tree = _parser().parse(source, _edited(earlier.tree, earlier.source, source))
        if tree.root_node.has_error:
            tree = None
    if tree is None:
        tree = _parser().parse(source)
    root = tree.root_node
    found = None
    if root.has_error:
        spans = list(_units(root))
    else:
        found = nodes_by_kind(root, kinds)
        spans = list(_units_found(root, found))
    return ParsedFile(
        root=root,
        spans=tuple(spans),
        error_lines=tuple(_error_lines(root)),
        source=source,
        found=found,
        tree=tree,
    )


def _edited(tree: tree_sitter.Tree, old: bytes, new: bytes) -> tree_sitter.Tree:
    """`tree` (of `old`) told which runs of lines `new` replaced. The edits go from the last
    to the first, so that each is placed by the old text before it."""
    a, b = _lines(old), _lines(new)
    starts_a, starts_b = _line_starts(a), _line_starts(b)
    for i1, i2, j1, j2 in reversed(_hunks(a, b)):
        start = starts_a[i1]
        removed, added = old[start : starts_a[i2]], new[starts_b[j1] : starts_b[j2]]
        tree.edit(
            start_byte=start,
            old_end_byte=starts_a[i2],
            new_end_byte=start + len(added),
            start_point=(i1, 0),
            old_end_point=_end_point(i1, removed),
            new_end_point=_end_point(i1, added),
        )
    return tree


def _lines(text: bytes) -> list[bytes]:
    """The lines of `text`, each with its newline: a last line without one differs from the
    same line with one, as its bytes do."""
    lines = text.split(b"\n")
    return [line + b"\n" for line in lines[:-1]] + [lines[-1]]


def _line_starts(lines: list[bytes]) -> list[int]:
    """Byte offset of each line, and of the end."""
    out = [0]
    for line in lines:
        out.append(out[-1] + len(line))
    return out


def _end_point(row: int, text: bytes) -> tuple[int, int]:
    """Where `text`, starting at column 0 of `row`, ends."""
    rows = text.count(b"\n")
    return row + rows, len(text) - (text.rfind(b"\n") + 1)


def _hunks(a: list[bytes], b: list[bytes]) -> list[tuple[int, int, int, int]]:
    """The runs of lines that differ, as (old start, old end, new start, new end), in order.

    Patience-style: the lines found once in each version, in the same order in both (the
    longest such chain), anchor equal blocks, grown line by line around them; what lies
    between blocks differs. Linear but for a sort and a bisection, where a general diff is
    quadratic in the worst case; a change it describes as larger than it is only re-parses
    more. Every block is checked equal line by line, so the edits are always true."""
    count_a, count_b = Counter(a), Counter(b)
    at_b = {line: j for j, line in enumerate(b) if count_b[line] == 1}
    anchors = [(i, at_b[line]) for i, line in enumerate(a) if count_a[line] == 1 and line in at_b]
    blocks = []  # (old start, new start, length): equal, in order in both
    end_a = end_b = 0
    for i, j in _increasing(anchors):
        if i < end_a or j < end_b:
            continue  # inside the block the last anchor grew
        back = 0
        while i - back > end_a and j - back > end_b and a[i - back - 1] == b[j - back - 1]:
            back += 1
        size = 1
        while i + size < len(a) and j + size < len(b) and a[i + size] == b[j + size]:
            size += 1
        blocks.append((i - back, j - back, back + size))
        end_a, end_b = i + size, j + size
    hunks = []
    end_a = end_b = 0
    for i, j, size in [*blocks, (len(a), len(b), 0)]:
        if i > end_a or j > end_b:
            hunks.append((end_a, i, end_b, j))
        end_a, end_b = i + size, j + size
    return hunks


def _increasing(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The longest chain of `pairs` (sorted by their first item) rising in the second."""
    tails: list[int] = []  # tails[k]: the last second item of the best chain of length k+1
    ends: list[int] = []  # ends[k]: the index in `pairs` of that chain's last pair
    before = [-1] * len(pairs)
    for index, (_, j) in enumerate(pairs):
        # Most lines keep their order: the chain usually just grows.
        k = len(tails) if not tails or j > tails[-1] else bisect_left(tails, j)
        if k == len(tails):
            tails.append(j)
            ends.append(index)
        else:
            tails[k] = j
            ends[k] = index
        before[index] = ends[k - 1] if k else -1
    chain = []
    at = ends[-1] if ends else -1
    while at >= 0:
        chain.append(pairs[at])
        at = before[at]
    return chain[::-1]


def _error_lines(root: Node) -> Iterator[int]:
    if not root.has_error:
        return
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if not node.has_error:
            continue
        if node.type == "ERROR" or node.is_missing:
            line = node.start_point[0] + 1
            if line not in seen:
                seen.add(line)
                yield line
            continue
        stack.extend(node.children)


def unwrap_definition(node: Node) -> tuple[Node, tuple[Node, ...]]:
    """decorated_definition -> (the def/class inside, its decorators)."""
    if node.type == "decorated_definition":
        inner = node.child_by_field_id(_F_DEFINITION)
        decorators = tuple(c for c in node.children if c.type == "decorator")
        return inner, decorators
    return node, ()


def _name(node: Node) -> str:
    name = node.child_by_field_id(_F_NAME)
    return name.text.decode("utf-8", "replace") if name is not None else "<anonymous>"


def _units(root: Node, nested: bool = True) -> Iterator[UnitSpan]:
    module_statements = [
        c for c in root.named_children if unwrap_definition(c)[0].type not in _DEFINITIONS
    ]
    code = [c for c in module_statements if c.type not in ("comment",)]
    if code:
        yield UnitSpan(
            qualname="<module>",
            kind="module",
            start_line=code[0].start_point[0] + 1,
            end_line=code[-1].end_point[0] + 1,
            node=root,
        )
    if nested:
        yield from _definitions(root, prefix="", in_class=False)


def _units_found(root: Node, found: dict[str, list[Node]]) -> Iterator[UnitSpan]:
    """`_units` from the definitions a query found: in a tree without errors every def and
    class stands where `_definitions` looks (a block or a clause of a statement), and byte
    ranges give the nesting, so no Python walk over the statements is needed."""
    module = next(_units(root, nested=False), None)
    if module is not None:
        yield module
    decorated: dict[int, Node] = {}
    for outer in found.get("decorated_definition", ()):
        inner = outer.child_by_field_id(_F_DEFINITION)
        if inner is not None:
            decorated[inner.start_byte] = outer
    defs = found.get("function_definition", []) + found.get("class_definition", [])
    defs.sort(key=lambda n: n.start_byte)
    # The definitions that enclose the current one: (end byte, qualname, is a class).
    enclosing: list[tuple[int, str, bool]] = []
    for inner in defs:
        start = inner.start_byte
        while enclosing and start >= enclosing[-1][0]:
            enclosing.pop()
        qualname = (enclosing[-1][1] + "." if enclosing else "") + _name(inner)
        outer = decorated.get(start)
        decorators: tuple[Node, ...] = ()
        if outer is None:  # not decorated: no need to read the children of the def
            outer = inner
        else:
            decorators = tuple(c for c in outer.children if c.type == "decorator")
        in_class = bool(enclosing) and enclosing[-1][2]
        yield _span(inner, outer, qualname, in_class, decorators)
        enclosing.append((inner.end_byte, qualname, inner.type == "class_definition"))


def _span(
    inner: Node, outer: Node, qualname: str, in_class: bool, decorators: tuple[Node, ...]
) -> UnitSpan:
    """A def or class as a unit: `outer` is the definition with its decorators."""
    kind: UnitKind
    if inner.type == "class_definition":
        kind = "class"
    else:
        kind = "method" if in_class else "function"
    return UnitSpan(
        qualname=qualname,
        kind=kind,
        start_line=outer.start_point[0] + 1,
        end_line=outer.end_point[0] + 1,
        node=inner,
        decorators=decorators,
    )


def _definitions(container: Node, prefix: str, in_class: bool) -> Iterator[UnitSpan]:
    """Every def/class below `container`, however deeply nested (in ifs, trys, other defs)."""
    stack = list(reversed(container.children))
    while stack:
        child = stack.pop()
        inner, decorators = unwrap_definition(child)
        if inner is not None and inner.type in _DEFINITIONS:
            qualname = prefix + _name(inner)
            yield _span(inner, child, qualname, in_class, decorators)
            body = inner.child_by_field_id(_F_BODY)
            if body is not None:
                yield from _definitions(
                    body, prefix=qualname + ".", in_class=inner.type == "class_definition"
                )
            continue
        # Definitions inside if/try/with blocks at this level still belong to this scope.
        if child.type in _HOLDS_STATEMENTS:
            stack.extend(reversed(child.children))
