"""Files -> syntax trees -> units. The only module that imports tree_sitter.

tree-sitter is used rather than Python's `ast` because it recovers from syntax errors: a
file that does not parse fully (Python 2 code, a merge conflict, a notebook cell with odd
syntax) still yields every unit it can, and the broken lines become a warning.
"""

from __future__ import annotations

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


def parse_text(text: str, kinds: tuple[str, ...] = ()) -> ParsedFile:
    """Parse `text`; for a file without syntax errors also find every node of `kinds` (and
    every definition, which give the units) in one C-level query."""
    source = text.encode("utf-8")
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
    )


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
