"""Two versions of one file analysed together (`analyze_versions`): the later is parsed from
the earlier's tree and only its changed units are emitted again, and the result must be
exactly what `analyze_file` gives for each version on its own."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import plagiarism.normalize as normalize
from plagiarism.model import SourceFile
from plagiarism.normalize import analyze_file, analyze_versions
from plagiarism.parse import _hunks, _lines, parse_text

BASE = textwrap.dedent(
    '''
    import torch
    from torch import nn

    SCALE = 2


    def helper(x):
        """Docstring."""
        y = x * SCALE
        return torch.relu(y)


    class Block(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.proj = nn.Linear(dim, dim)

        @torch.no_grad()
        def forward(self, x):
            out = self.proj(helper(x))
            return out


    def untouched(values):
        total = 0
        for v in values:
            total += v
        return total
    '''
).lstrip()


def _file(text: str, sha: str) -> SourceFile:
    return SourceFile(path="model.py", sha256=sha, text=text)


@contextmanager
def _emitted() -> Iterator[list[str]]:
    """The qualnames of the units emitted (not reused) while the block runs."""
    names: list[str] = []
    original = normalize._emit_unit

    def counting(span: object, scan: object) -> object:
        names.append(span.qualname)  # type: ignore[attr-defined]
        return original(span, scan)  # type: ignore[arg-type]

    normalize._emit_unit = counting  # type: ignore[assignment]
    try:
        yield names
    finally:
        normalize._emit_unit = original


EDITS = {
    "lines added above everything": "# Copyright 2024\n# Licensed as upstream\n" + BASE,
    "one method changed": BASE.replace("return out\n", "return out * 2\n"),
    "an import added that no unit names": BASE.replace(
        "import torch\n", "import torch\nimport os\n"
    ),
    "an import rebound that units name": BASE.replace("from torch import nn", "import mylib as nn"),
    "a function renamed (its callers change meaning)": BASE.replace("def helper", "def helper2"),
    "a decorator removed": BASE.replace("    @torch.no_grad()\n", ""),
    "the last newline dropped": BASE.rstrip("\n"),
    "a syntax error": BASE.replace("def untouched(values):", "def untouched(values:"),
    "a method moved up": BASE.replace(
        "    def __init__", "    def extra(self):\n        return self.proj\n\n    def __init__"
    ),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_versions_analyse_as_each_file_alone(edit: str) -> None:
    old, new = _file(BASE, "old"), _file(EDITS[edit], "new")
    for pair in ((old, new), (new, old)):
        got = analyze_versions(list(pair), "a")
        assert got == [analyze_file(f, "a") for f in pair], edit


def test_only_the_changed_units_are_emitted_again() -> None:
    old = _file(BASE, "old")
    cases = {
        # Every unit moved two lines down: tokens reused, line numbers shifted.
        "lines added above everything": {"<module>"},
        "one method changed": {"<module>", "Block", "Block.forward"},
        # `os` is named by no unit: nothing but the module (which holds the import) again.
        "an import added that no unit names": {"<module>"},
        # `nn` now means something else: the units that name it are emitted again.
        "an import rebound that units name": {"<module>", "Block", "Block.__init__"},
        # The callers of `helper` name a function that is no longer bound in the file.
        "a function renamed (its callers change meaning)": {
            "<module>",
            "helper2",
            "Block",
            "Block.forward",
        },
    }
    for edit, expected in cases.items():
        with _emitted() as alone:
            analyze_file(_file(EDITS[edit], "new"), "a")
        with _emitted() as both:
            analyze_versions([old, _file(EDITS[edit], "new")], "a")
        # The first version's units come first, all emitted; then the second's, again.
        assert both[: len(_units_of(BASE))] == _units_of(BASE)
        assert set(both[len(_units_of(BASE)) :]) == expected, edit
        assert len(set(alone)) > len(expected)  # alone, every unit is emitted


def _units_of(text: str) -> list[str]:
    with _emitted() as names:
        analyze_file(_file(text, "x"), "a")
    return names


def test_a_file_with_errors_is_emitted_whole() -> None:
    # Error recovery is not local: nothing of a version with errors is reused, either way.
    broken = _file(EDITS["a syntax error"], "new")
    with _emitted() as both:
        analyze_versions([_file(BASE, "old"), broken], "a")
    assert len(both) == len(_units_of(BASE)) + len(_units_of(broken.text))


def _nodes(root: object) -> list[tuple[str, int, int]]:
    """Every node of a tree in order, with its byte range: the shape and the positions."""
    out = []
    stack = [root]
    while stack:
        node = stack.pop()
        out.append((node.type, node.start_byte, node.end_byte))  # type: ignore[attr-defined]
        stack.extend(reversed(node.children))  # type: ignore[attr-defined]
    return out


LINES = st.lists(st.sampled_from(["a\n", "b\n", "c\n", "d\n", "e\n", "f\n", "x = 1\n", "\n"]))


@settings(max_examples=300, deadline=None)
@given(LINES, LINES, st.booleans())
def test_hunks_turn_one_version_into_the_other(a: list[str], b: list[str], cut: bool) -> None:
    old, new = "".join(a).encode(), "".join(b).encode()
    if cut:
        new = new.rstrip(b"\n")
    la, lb = _lines(old), _lines(new)
    rebuilt, at = [], 0
    for i1, i2, j1, j2 in _hunks(la, lb):
        assert at <= i1 <= i2 and j1 <= j2
        rebuilt += la[at:i1] + lb[j1:j2]
        at = i2
    rebuilt += la[at:]
    assert b"".join(rebuilt) == new


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_a_tree_parsed_from_an_earlier_version_is_the_fresh_tree(data: st.DataObject) -> None:
    lines = BASE.splitlines(keepends=True)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(lines)))
        choice = data.draw(st.sampled_from(["insert", "delete", "duplicate"]))
        if choice == "insert":
            lines.insert(
                at, data.draw(st.sampled_from(["\n", "# note\n", "z = 3\n", "    pass\n"]))
            )
        elif lines and at < len(lines):
            if choice == "delete":
                del lines[at]
            else:
                lines.insert(at, lines[at])
    new = "".join(lines)
    earlier = parse_text(BASE, ("identifier",))
    got = parse_text(new, ("identifier",), earlier)
    want = parse_text(new, ("identifier",))
    assert _nodes(got.root) == _nodes(want.root)
    assert [(s.qualname, s.start_line, s.end_line) for s in got.spans] == [
        (s.qualname, s.start_line, s.end_line) for s in want.spans
    ]
