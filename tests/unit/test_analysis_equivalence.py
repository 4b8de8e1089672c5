"""The raw token streams `analyze_file` emits for tricky inputs, spelled out by hand.

These pin the per-file analysis down token by token so that a refactor made for speed (one
walk instead of three, identifiers counted by byte range) cannot change what it emits: each
expected stream below was derived from the rules in plagiarism/normalize.py, not pasted from
a run. Deferred symbols are shown as `lib:`, `attr:`, `unbound:` and `kw:name@callee`;
placeholders as `$v(name)`.
"""

from __future__ import annotations

import textwrap

from plagiarism.model import SourceFile
from plagiarism.normalize import (
    ATTR,
    KWARG,
    LIB,
    UNBOUND,
    VAR,
    FileAnalysis,
    RawUnit,
    analyze_file,
)


def analyze(code: str) -> tuple[FileAnalysis, list[object]]:
    text = textwrap.dedent(code).lstrip("\n")
    analysis, warnings = analyze_file(SourceFile(path="m.py", sha256="0", text=text), "a")
    return analysis, list(warnings)


def _sym(sym: str) -> str:
    tag, rest = sym[:1], sym[1:]
    if tag == LIB:
        return "lib:" + rest
    if tag == ATTR:
        return "attr:" + rest
    if tag == UNBOUND:
        return "unbound:" + rest
    if tag == KWARG:
        name, _, callee = rest.partition("\x00")
        return f"kw:{name}@{_sym(callee)}"
    return sym


def render(unit: RawUnit) -> list[str]:
    out = []
    for sym, ident in zip(unit.syms, unit.idents, strict=True):
        out.append(f"$v({ident})" if sym == VAR else _sym(sym))
        # What the rename map reads: a placeholder's own name, the last part of a library
        # chain, an attribute's or keyword's name; nothing for fixed tokens.
        if sym[:1] in (LIB, UNBOUND):
            assert ident == sym[1:].rsplit(".", 1)[-1]
        elif sym[:1] in (ATTR, KWARG):
            assert ident == sym[1:].partition("\x00")[0]
        elif sym != VAR:
            assert ident is None
    return out


def units(analysis: FileAnalysis) -> dict[str, RawUnit]:
    return {u.qualname: u for u in analysis.units}


FUNCTION = """
import torch
from torch import nn as tnn

counter = 0


@torch.no_grad()
def outer(x, scale=2):
    \"\"\"Docstrings are dropped.\"\"\"
    global counter
    seen = []
    seen.clear()
    unused = x is None
    if False:
        x = x + 1
    for _ in range(0):
        pass
    def inner(y):
        nonlocal scale
        return y * scale
    f = lambda z: z + 1
    ys = [inner(v) for v in x if (n := v)]
    try:
        counter += 1
    except ValueError as err:
        raise err
    return f(ys), tnn.Linear(n, dim=1)
"""

# The decorator, then the header; the sealed `seen` (stored once as a fresh list, otherwise
# only a statement call's receiver), the dead store `unused`, `if False:` and the loop over
# `range(0)` leave nothing; `inner` is a unit of its own; the walrus, the lambda's parameter
# and the except alias are placeholders; `tnn.Linear` resolves through the aliased import.
OUTER = [
    "@", "lib:torch.no_grad", "(", ")",
    "def", "$v(outer)", "$v(x)", "$v(scale)", "=", "2",
    "{",
    "global", "$v(counter)",
    "$v(f)", "=", "lambda", "$v(z)", "$v(z)", "+", "1",
    "$v(ys)", "=", "[", "$v(inner)", "(", "$v(v)", ")",
    "for", "$v(v)", "in", "$v(x)", "if", "$v(n)", ":=", "$v(v)", "]",
    "try", "{", "$v(counter)", "=", "$v(counter)", "+", "1", "}",
    "except", "ValueError", "as", "$v(err)", "{", "raise", "$v(err)", "}",
    "return", "$v(f)", "(", "$v(ys)", ")",
    "lib:torch.nn.Linear", "(", "$v(n)", "kw:dim@lib:torch.nn.Linear", "1", ")",
    "}",
]  # fmt: skip
INNER = ["def", "$v(inner)", "$v(y)", "{", "nonlocal", "$v(scale)", "return", "$v(y)", "*", "$v(scale)", "}"]  # fmt: skip


def test_a_function_with_dead_code_sealed_locals_and_nested_scopes() -> None:
    analysis, warnings = analyze(FUNCTION)
    assert warnings == []
    got = units(analysis)
    assert list(got) == ["<module>", "outer", "outer.inner"]
    assert render(got["<module>"]) == ["$v(counter)", "=", "0"]
    assert (got["<module>"].start_line, got["<module>"].end_line) == (1, 4)
    assert render(got["outer"]) == OUTER
    assert got["outer"].calls == ("no_grad", "inner", "f", "Linear")
    outer = got["outer"]
    assert (outer.kind, outer.start_line, outer.end_line) == ("function", 7, 27)
    inner = got["outer.inner"]
    assert render(inner) == INNER
    # The block opens at its first statement and closes at its last line.
    assert inner.lines == (18, 18, 18, 19, 19, 19, 20, 20, 20, 20, 20)
    # `err` too: tree-sitter wraps an except (or with) alias in as_pattern_target.
    assert analysis.defined_names == {
        "counter", "outer", "x", "scale", "seen", "unused", "_", "inner", "y", "f", "z",
        "ys", "v", "n", "err",
    }  # fmt: skip
    assert analysis.defined_attrs == {"outer", "inner"}


def test_the_same_function_in_a_file_that_does_not_parse_reads_the_same() -> None:
    """Files with syntax errors count each function's identifiers by walking it (missing
    nodes have no width to place them by); the result must not depend on that."""
    broken = FUNCTION + "\nvalue = = 2\n"
    analysis, warnings = analyze(broken)
    assert len(warnings) == 1 and 29 in analysis.error_lines
    got = units(analysis)
    assert render(got["outer"]) == OUTER
    assert render(got["outer.inner"]) == INNER


CLASS = """
import torch.nn as nn

class Head(nn.Module, metaclass=Meta):
    size = 4

    @staticmethod
    def build(cfg):
        head = Head()
        head.proj = nn.Linear(cfg.hidden, Head.size)
        return head
"""


def test_a_class_its_fields_and_a_decorated_method() -> None:
    analysis, _ = analyze(CLASS)
    got = units(analysis)
    # Only an import at module level: the module unit has no tokens, so it is left out.
    assert list(got) == ["Head", "Head.build"]
    assert render(got["Head"]) == [
        "class", "$v(Head)", "(", "lib:torch.nn.Module", "kw:metaclass@", "$v(Meta)", ")",
        "{", "$v(size)", "=", "4", "}",
    ]  # fmt: skip
    build = got["Head.build"]
    assert build.kind == "method"
    # `head = Head()` is not a fresh container (a project class may keep a reference).
    assert render(build) == [
        "@", "staticmethod", "def", "$v(build)", "$v(cfg)",
        "{",
        "$v(head)", "=", "$v(Head)", "(", ")",
        "$v(head)", "attr:proj", "=", "lib:torch.nn.Linear",
        "(", "$v(cfg)", "attr:hidden", "$v(Head)", "attr:size", ")",
        "return", "$v(head)",
        "}",
    ]  # fmt: skip
    assert build.calls == ("Head", "Linear")
    assert analysis.defined_names == {"Head", "size", "build", "cfg", "head"}
    assert analysis.defined_attrs == {"Head", "size", "build", "proj"}


MODULE = """
i = 0
while i < 0:
    i += 1
if False:
    a = 1
else:
    a = 0x10
b: int
c, d = a, [1_000, 2.50]
e = {k: v for k, v in {}.items()}
print(d[1:], "text", f"{e!r}", c[::2])
essentia.standard.MonoLoader()
"""


def test_module_level_rules() -> None:
    analysis, _ = analyze(MODULE)
    (module,) = analysis.units
    # The loop never runs with the `i = 0` just before it; `if False: ... else:` reads as its
    # else branch; a bare annotation runs nothing; the tuple assignment unfolds; numbers are
    # spelled one way; strings (f-strings too) are one token; an unbound dotted root is one
    # deferred symbol.
    assert render(module) == [
        "$v(i)", "=", "0",
        "$v(a)", "=", "16",
        "$v(c)", "=", "$v(a)",
        "$v(d)", "=", "[", "1000", "2.5", "]",
        "$v(e)", "=", "dict{", "$v(k)", "$v(v)", "for", "$v(k)", "$v(v)", "in",
        "dict{", "}dict", "attr:items", "(", ")", "}dict",
        "print", "(", "$v(d)", "[", "1", ":", "]", "STR", "STR",
        "$v(c)", "[", ":", ":", "2", "]", ")",
        "unbound:essentia.standard.MonoLoader", "(", ")",
    ]  # fmt: skip
    assert module.calls == ("items", "print", "MonoLoader")
    assert analysis.defined_names == {"i", "a", "b", "c", "d", "e", "k", "v"}


def test_broken_syntax_keeps_the_units_around_it() -> None:
    analysis, warnings = analyze(
        """
        def good(a):
            return a + 1

        x = = 2

        def after(b):
            return b
        """
    )
    assert 4 in analysis.error_lines and len(warnings) == 1
    got = units(analysis)
    assert render(got["good"]) == ["def", "$v(good)", "$v(a)", "{", "return", "$v(a)", "+", "1", "}"]  # fmt: skip
    assert render(got["after"]) == ["def", "$v(after)", "$v(b)", "{", "return", "$v(b)", "}"]


DEAD_READ = """
def g(a):
    tmp = a + 1
    if False:
        print(tmp)
    kept = []
    kept.append(a)

    def h():
        return kept
    return a


def last():
    out = 0
    return out
"""


def test_stores_read_only_in_dead_code_or_kept_by_a_nested_function() -> None:
    """`tmp` is read only in a branch that never runs, so its store is dead; `kept` would be
    sealed but a nested function reads it, so it stays. Also in a file that does not parse."""
    expected = [
        "def", "$v(g)", "$v(a)", "{",
        "$v(kept)", "=", "[", "]",
        "$v(kept)", "attr:append", "(", "$v(a)", ")",
        "return", "$v(a)", "}",
    ]  # fmt: skip
    for code in (DEAD_READ, DEAD_READ + "\nvalue = = 2\n"):
        got = units(analyze(code)[0])
        assert render(got["g"]) == expected
        assert render(got["g.h"]) == ["def", "$v(h)", "{", "return", "$v(kept)", "}"]
        # The read that keeps a store alive can be the function's very last identifier.
        assert render(got["last"]) == [
            "def", "$v(last)", "{", "$v(out)", "=", "0", "return", "$v(out)", "}",
        ]  # fmt: skip


NESTED_DEAD = """
def g(a):
    t = a + 1
    if False:
        if 0:
            print(t)
        while False:
            t
    for _ in []:
        t
    s = []
    s.clear()
    def h():
        if None:
            print(s)
        return a
    return a
"""


def test_reads_in_nested_dead_code_and_in_a_nested_function_do_not_count() -> None:
    """`t` is read only in dead code nested in dead code, `s` only in a branch of `h` that
    never runs: `t = ...` is a dead store and `s` is sealed, so `g` keeps only its return."""
    for code in (NESTED_DEAD, NESTED_DEAD + "\nvalue = = 2\n"):
        got = units(analyze(code)[0])
        assert render(got["g"]) == ["def", "$v(g)", "$v(a)", "{", "return", "$v(a)", "}"]
        assert render(got["g.h"]) == ["def", "$v(h)", "{", "return", "$v(a)", "}"]


def test_a_file_with_non_ascii_text_reads_like_its_ascii_twin() -> None:
    # An ASCII file slices names out of its text; any other character (here in a comment, or
    # in a name) sends the scan through byte offsets and decoding. Both must agree, and a
    # non-ASCII name keeps its spelling.
    code = """
    import torch

    def step(state, lr=0.1):
        msg = "two words"  # REMARK
        key = "one_word"
        {name} = torch.zeros(state, dim=0)
        return {name}.add(lr), msg, key
    """
    ascii_twin, _ = analyze(code.replace("REMARK", "note").format(name="grad"))
    accented, _ = analyze(code.replace("REMARK", "note déjà vue").format(name="grad"))
    assert len(ascii_twin.units) == len(accented.units) == 1
    # The accents shift every later byte offset away from the character offset.
    for a, b in zip(ascii_twin.units, accented.units, strict=True):
        assert (a.syms, a.idents, a.lines, a.calls) == (b.syms, b.idents, b.lines, b.calls)
        # One prose literal (two words); the key without whitespace has no digest.
        assert len(a.literals) == 1 and a.literals == b.literals
    named, _ = analyze(code.replace("REMARK", "note").format(name="dégradé"))
    step = named.units[0]
    assert "dégradé" in step.idents
    assert step.idents.count("dégradé") == 2
    assert render(step) == [
        t.replace("grad", "dégradé") if t == "$v(grad)" else t for t in render(ascii_twin.units[0])
    ]
    assert "dégradé" in named.defined_names


def test_the_statement_shapes_a_sealed_local_is_read_from() -> None:
    """The scan's query passes on only the statements that store a fresh container into a
    name or call a name's method; every spelling of those must still be seen (an annotated
    store, a call statement with a trailing comma), and a call wrapped in parentheses is
    still no receiver call."""
    sealed = """
    def collect(items):
        seen: list = []
        seen.clear(),
        kept = list()
        kept.append(items)
        return kept
    """
    got = units(analyze(sealed)[0])["collect"]
    # `seen` is stored once and otherwise only a receiver: both statements go. `kept` is
    # returned, so it escapes and stays.
    assert render(got) == [
        "def", "$v(collect)", "$v(items)",
        "{",
        "$v(kept)", "=", "list", "(", ")",
        "$v(kept)", "attr:append", "(", "$v(items)", ")",
        "return", "$v(kept)",
        "}",
    ]  # fmt: skip
    assert got.calls == ("list", "append")
    wrapped = """
    def clear():
        seen = []
        (seen.clear())
    """
    got = units(analyze(wrapped)[0])["clear"]
    assert render(got) == [
        "def", "$v(clear)", "{", "$v(seen)", "=", "[", "]", "$v(seen)", "attr:clear", "(", ")", "}",
    ]  # fmt: skip
