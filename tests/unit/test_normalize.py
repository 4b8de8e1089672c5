"""Normalisation: each disguise leaves a unit's fingerprint unchanged; a library change does not."""

from __future__ import annotations

import ast
import keyword
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plagiarism.fingerprint import kgram_hashes
from plagiarism.model import SourceFile, Unit
from plagiarism.normalize import (
    LIB,
    analyze_file,
    normalize_number,
    resolve_side,
    token_text,
    wires_names_only,
)
from plagiarism.parse import parse_text

# Seed code with {slots} for every name the project defines. Library names stay literal.
TEMPLATE = '''
import math
import torch
from torch import nn
import numpy as np


class {Block}(nn.Module):
    """A block."""

    def __init__(self, {dim}: int, {heads}: int = 8, {eps}=1e-6):
        super().__init__()
        self.{n_heads} = {heads}
        self.{scale} = ({dim} // {heads}) ** -0.5
        self.{qkv} = nn.Linear({dim}, {dim} * 3)
        self.{norm} = nn.LayerNorm({dim}, eps={eps})

    def forward(self, {x}, {mask}=None):
        # attention
        {b}, {n}, {c} = {x}.shape
        {q} = self.{qkv}(self.{norm}({x})).reshape({b}, {n}, 3, self.{n_heads}, -1)
        {attn} = torch.softmax(({q}[:, :, 0] @ {q}[:, :, 1].transpose(-2, -1)) * self.{scale}, dim=-1)
        if {mask} is not None:
            {attn} = {attn}.masked_fill({mask} == 0, 0.0)
        {out} = ({attn} @ {q}[:, :, 2]).reshape({b}, {n}, {c})
        return {out}


def {helper}({size}, {grid}):
    {h}, {w} = np.meshgrid(np.arange({grid}), np.arange({grid}))
    {total} = 0
    for {i} in range({size}):
        {total} += math.sqrt({i}) * {h}.sum() / {w}.max()
    return {total}
'''

SLOTS = sorted(set(re.findall(r"\{(\w+)\}", TEMPLATE)))
BASE_NAMES = {s: s for s in SLOTS}

identifier = st.from_regex(r"[a-z][a-z0-9_]{2,10}", fullmatch=True).filter(
    lambda s: (
        not keyword.iskeyword(s)
        and s not in dir(__builtins__)
        and s not in {"math", "torch", "nn", "np", "self", "super"}
    )
)


def units_of(code: str, path: str = "m.py") -> dict[str, Unit]:
    analysis, _ = analyze_file(SourceFile(path=path, sha256="0", text=code), "a")
    units, _ = resolve_side([analysis], "a")
    return {u.qualname: u for u in units}


def prints(code: str) -> list[tuple[str, str, frozenset[int]]]:
    """Per unit, in order: the rename-proof content hash and the k-gram set."""
    out = []
    for u in units_of(code).values():
        out.append((u.kind, u.content_hash, frozenset(kgram_hashes(u.tokens, 5).tolist())))
    return out


def render(names: dict[str, str]) -> str:
    return TEMPLATE.format(**names)


@st.composite
def renamings(draw: st.DrawFn) -> dict[str, str]:
    new = draw(st.lists(identifier, min_size=len(SLOTS), max_size=len(SLOTS), unique=True))
    # Class-like slots get a capitalised name, as a copier would write them.
    return {s: (n.capitalize() if s[0].isupper() else n) for s, n in zip(SLOTS, new, strict=True)}


@settings(max_examples=60, deadline=None)
@given(renamings())
def test_consistent_renaming_leaves_fingerprints_unchanged(names: dict[str, str]) -> None:
    assert prints(render(names)) == prints(render(BASE_NAMES))


def test_renaming_is_visible_in_idents_for_the_rename_map() -> None:
    names = dict(BASE_NAMES, Block="Projection", qkv="to_qkv")
    unit = units_of(render(names))["Projection.__init__"]
    assert "to_qkv" in unit.tokens.idents


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_comments_docstrings_and_blank_lines_leave_fingerprints_unchanged(
    data: st.DataObject,
) -> None:
    lines = render(BASE_NAMES).splitlines()
    out = []
    for line in lines:
        indent = line[: len(line) - len(line.lstrip())]
        if data.draw(st.booleans()):
            out.append(f"{indent}# {data.draw(st.text(alphabet='abc xyz=()', max_size=20))}")
        if data.draw(st.integers(0, 4)) == 0:
            out.append("")
        out.append(line)
    code = "\n".join(out)
    # Strip the docstring too: copiers remove them.
    code = code.replace('    """A block."""\n', "")
    assert prints(code) == prints(render(BASE_NAMES))


def test_reformatting_and_parentheses_leave_fingerprints_unchanged() -> None:
    code = render(BASE_NAMES)
    reformatted = ast.unparse(ast.parse(code))  # new layout, quotes, parentheses dropped
    assert prints(reformatted) == prints(code)
    wrapped = code.replace(
        "self.qkv = nn.Linear(dim, dim * 3)", "self.qkv = (nn.Linear(\n  dim,\n  (dim * 3)))"
    )
    assert prints(wrapped) == prints(code)


def test_tuple_folding_and_unfolding_leave_fingerprints_unchanged() -> None:
    code = render(BASE_NAMES)
    folded = code.replace(
        "        self.n_heads = heads\n        self.scale = (dim // heads) ** -0.5\n",
        "        self.n_heads, self.scale = heads, (dim // heads) ** -0.5\n",
    )
    unfolded = code.replace(
        "    h, w = np.meshgrid(np.arange(grid), np.arange(grid))\n",
        "    h, w = np.meshgrid(np.arange(grid), np.arange(grid))\n",
    )
    assert folded != code
    assert prints(folded) == prints(code)
    assert prints(unfolded) == prints(code)


def test_type_hints_added_or_removed_leave_fingerprints_unchanged() -> None:
    code = render(BASE_NAMES)
    hinted = code.replace("def helper(size, grid):", "def helper(size: int, grid: int) -> float:")
    hinted = hinted.replace("    total = 0\n", "    total: float = 0\n")
    unhinted = code.replace("dim: int, heads: int = 8", "dim, heads = 8")
    assert prints(hinted) == prints(code)
    assert prints(unhinted) == prints(code)


def test_import_styles_read_alike() -> None:
    code = render(BASE_NAMES)
    styled = code.replace("from torch import nn\n", "import torch.nn as nn\n")
    styled = styled.replace("import numpy as np\n", "import numpy\nnp = None\n")
    assert prints(code.replace("from torch import nn\n", "import torch.nn as nn\n")) == prints(code)
    aliased = code.replace("import torch\n", "import torch as T\n").replace(
        "torch.softmax", "T.softmax"
    )
    assert prints(aliased) == prints(code)
    from_import = code.replace("import math\n", "from math import sqrt\n").replace(
        "math.sqrt", "sqrt"
    )
    assert prints(from_import) == prints(code)


def test_augmented_assignment_reads_like_its_long_form() -> None:
    code = render(BASE_NAMES)
    long_form = code.replace("total += math.sqrt(i)", "total = total + math.sqrt(i)")
    assert prints(long_form) == prints(code)


def test_renaming_a_library_call_changes_the_fingerprint() -> None:
    code = render(BASE_NAMES)
    for old, new in (
        ("torch.softmax", "torch.sigmoid"),
        ("nn.LayerNorm", "nn.BatchNorm1d"),
        ("np.meshgrid", "np.ix_"),
        ("math.sqrt", "math.log"),
    ):
        assert prints(code.replace(old, new)) != prints(code), old


def test_rewiring_data_flow_changes_the_fingerprint() -> None:
    code = render(BASE_NAMES)
    # Same names, same calls, different wiring: `w.max()` becomes `h.max()`.
    rewired = code.replace("h.sum() / w.max()", "h.sum() / h.max()")
    assert prints(rewired) != prints(code)


def test_library_names_stay_and_project_names_become_placeholders() -> None:
    unit = units_of(render(BASE_NAMES))["Block.forward"]
    text = token_text(unit.tokens)
    assert "torch.softmax" in text
    assert ".transpose" in text and ".reshape" in text  # tensor methods the project never defines
    assert "qkv" not in text and "scale" not in text  # attributes the project defines
    assert "$a" in text and "$v" in text


def test_units_have_qualified_names_kinds_and_line_ranges() -> None:
    units = units_of(render(BASE_NAMES))
    # The module holds only imports, which are resolved into their uses: no module unit.
    assert set(units) == {"Block", "Block.__init__", "Block.forward", "helper"}
    assert units["Block"].kind == "class"
    assert units["Block.forward"].kind == "method"
    assert units["helper"].kind == "function"
    code_lines = render(BASE_NAMES).splitlines()
    fwd = units["Block.forward"]
    assert code_lines[fwd.start_line - 1].strip().startswith("def forward")
    assert code_lines[fwd.end_line - 1].strip() == "return out"


def test_nested_functions_are_units_of_their_own() -> None:
    code = "def outer(x):\n    def inner(y):\n        return y * 2 + x\n    return inner(x) + 1\n"
    units = units_of(code)
    assert set(units) == {"outer", "outer.inner"}
    assert "*" not in token_text(units["outer"].tokens)


def test_files_that_do_not_parse_fully_keep_their_good_units_and_warn() -> None:
    code = "def good(a, b):\n    return a + b\n\ndef broken(:\n    pass\n\ndef later(x):\n    return x\n"
    analysis, warnings = analyze_file(SourceFile(path="bad.py", sha256="0", text=code), "b")
    names = {u.qualname for u in analysis.units}
    assert "good" in names and "later" in names
    assert warnings and "does not parse fully" in warnings[0].reason
    assert warnings[0].path == "bad.py" and not warnings[0].skipped


def test_project_modules_imported_by_absolute_name_are_placeholders() -> None:
    a = SourceFile(
        path="pkg/model.py", sha256="1", text="from pkg.layers import Block\nx = Block(3)\n"
    )
    b = SourceFile(path="pkg/layers.py", sha256="2", text="class Block:\n    pass\n")
    analyses = [analyze_file(f, "a")[0] for f in (a, b)]
    units, _ = resolve_side(analyses, "a")
    module = next(u for u in units if u.path == "pkg/model.py")
    assert "pkg.layers.Block" not in module.tokens.syms
    assert module.tokens.syms[0] == "$v"


def test_number_spellings_normalise() -> None:
    assert normalize_number("1e-6") == normalize_number("0.000001") == normalize_number("1E-06")
    assert normalize_number("0x10") == "16"
    assert normalize_number("1_000") == "1000"
    assert normalize_number("10000.0") != normalize_number("1000.0")


DEAD_BASE = """
def step(model, batch, scale):
    out = model(batch)
    loss = out.mean() * scale
    loss.backward()
    return loss
"""


def test_dead_code_padding_leaves_fingerprints_unchanged() -> None:
    base = prints(DEAD_BASE)
    paddings = [
        "    if False:\n        loss = loss * 2\n",
        "    if 0:\n        print(scale)\n",
        "    if scale is None and scale is not None:\n        raise RuntimeError('x')\n",
        "    for unused in range(0):\n        pass\n",
        "    while False:\n        scale = scale + 1\n",
        "    tmp = scale is None\n",
        "    spare = None\n",
        # A loop whose condition is false with the constant stored just before it.
        "    i = 0\n    while i < 0:\n        i = i + 1\n",
        "    n = 3\n    while 5 <= n:\n        n -= 1\n",
        # Busy work on a throwaway container that never escapes.
        "    seen = []\n    seen.clear()\n",
        "    cache = dict()\n    cache.update(a=1)\n    cache.clear()\n",
        # A store read only inside code that never runs.
        "    flag = scale is None\n    if False:\n        print(flag)\n",
    ]
    for pad in paddings:
        lines = DEAD_BASE.splitlines(True)
        padded = "".join(lines[:3] + [pad] + lines[3:])
        assert prints(padded) == base, pad


def test_code_that_runs_or_is_read_is_not_dead() -> None:
    base = prints(DEAD_BASE)
    for live in (
        "    if scale is None:\n        scale = 1.0\n",  # may hold
        "    for unused in range(2):\n        pass\n",  # runs
        "    tmp = scale is None\n    print(tmp)\n",  # read later
        "    tmp = model.train()\n",  # a call may have effects
        "    i = 0\n    while i < 2:\n        i = print(i)\n",  # runs
        "    i = 0\n    print(i)\n    while i < 0:\n        i = print(i)\n",  # i read
        "    seen = []\n    seen.append(scale)\n    print(seen)\n",  # escapes
        "    seen = model.buffers\n    seen.clear()\n",  # not fresh: another holds it
        "    seen = []\n    seen.append(model(batch))\n",  # the argument is a call
    ):
        lines = DEAD_BASE.splitlines(True)
        assert prints("".join(lines[:3] + [live] + lines[3:])) != base, live


def test_if_false_else_reads_as_its_else_branch() -> None:
    code = DEAD_BASE.replace(
        "    loss.backward()\n", "    if False:\n        pass\n    else:\n        loss.backward()\n"
    )
    assert prints(code) == prints(DEAD_BASE)


def test_a_dropped_guarded_import_does_not_turn_a_library_into_a_project_name() -> None:
    with_import = (
        "if available():\n    import essentia.standard\n\n"
        "def beats(x):\n    return essentia.standard.RhythmExtractor()(x)\n"
    )
    without = "def beats(x):\n    return essentia.standard.RhythmExtractor()(x)\n"
    unit_a = units_of(with_import)["beats"]
    unit_b = units_of(without)["beats"]
    assert "essentia.standard.RhythmExtractor" in unit_a.tokens.syms
    assert unit_a.tokens.syms == unit_b.tokens.syms


def test_an_unbound_bare_name_is_the_projects_own() -> None:
    # A class the partial copy did not bring along is still a name the project defines.
    a = units_of("def build(cfg):\n    return EncoderLayer(cfg)\n")["build"]
    b = units_of("def build(cfg):\n    return BlockLayer(cfg)\n")["build"]
    assert a.tokens.syms == b.tokens.syms and "$v" in a.tokens.syms


def test_a_module_named_like_the_standard_library_does_not_shadow_it() -> None:
    # accelerate/utils/dataclasses.py, transformers/utils/logging.py: inside a package they
    # never shadow `import dataclasses` / `import logging`; a project's own sibling scripts
    # (bare-name imports) still count as local.
    from plagiarism.normalize import local_module_names

    names = local_module_names(
        ["accelerate/utils/dataclasses.py", "pkg/utils/logging.py", "scripts/train_utils.py"]
    )
    assert "dataclasses" not in names and "logging" not in names
    assert {"accelerate", "pkg", "scripts", "train_utils"} <= names


def test_prose_literals_keep_a_digest_of_their_text() -> None:
    # Prose (help texts, messages) is kept aside as a digest, whitespace-insensitive; keys,
    # dtypes and f-strings (whose text holds names a copy renames) are not prose.
    from plagiarism.normalize import analyze_file

    text = (
        'a = "Rank of the update."\n'
        'b = ("Rank of "\n     "the   update.")\n'
        'c = "input_ids"\n'
        'd = f"Rank {r} of the update."\n'
        'e = "Scale of the update."\n'
    )
    (unit,) = analyze_file(SourceFile(path="m.py", sha256="0", text=text), "a")[0].units
    positions = [i for i, s in enumerate(unit.syms) if s == "STR"]
    digests = dict(unit.literals)
    assert sorted(digests) == [positions[0], positions[1], positions[4]]
    assert digests[positions[0]] == digests[positions[1]] != digests[positions[4]]


def test_a_with_or_except_alias_is_a_name_the_file_defines() -> None:
    # Renaming `fh` must not change the tokens: the alias is the project's own name.
    from plagiarism.normalize import analyze_file, resolve_side

    def tokens(alias: str) -> tuple[str, ...]:
        code = (
            f"def load(path):\n    with open(path) as {alias}:\n        data = {alias}.read()\n"
            f"    try:\n        return data.split()\n    except ValueError as {alias}_err:\n"
            f"        raise RuntimeError(path) from {alias}_err\n"
        )
        analysis, _ = analyze_file(SourceFile(path="m.py", sha256="0", text=code), "a")
        (unit,) = resolve_side([analysis], "a")[0]
        return unit.tokens.syms

    assert tokens("fh") == tokens("stream")
    assert "$v" in tokens("fh")[tokens("fh").index("as") + 1]


def test_a_comment_or_a_float_does_not_hide_dead_code() -> None:
    # `i = 0` then a comment then `while i < 0:` is still a loop that never runs, and
    # `if not 1.0:` is as dead as `if not 1:`.
    from plagiarism.normalize import analyze_file

    def syms(body: str) -> tuple[str, ...]:
        code = "def f(x):\n" + body + "    return x.go()\n"
        (unit,) = analyze_file(SourceFile(path="m.py", sha256="0", text=code), "a")[0].units
        return unit.syms

    plain = syms("")
    assert syms("    i = 0\n    # padding\n    while i < 0:\n        x.pad()\n") == plain
    assert syms("    if not 1.0:\n        x.pad()\n") == plain
    assert syms("    if not 0.0:\n        x.pad()\n") != plain


def test_a_file_content_met_again_keeps_every_unit_field_but_side_and_path() -> None:
    # The Resolver takes a content's units over for its next path or side without resolving
    # them again; a field added to Unit must come along.
    import dataclasses

    from plagiarism.normalize import Resolver, side_context

    text = "import torch\n\n\ndef f(x):\n    return torch.relu(x) + g(x)\n\n\ndef g(y):\n    return y\n"
    first, _ = analyze_file(SourceFile(path="a/m.py", sha256="s", text=text), "a")
    again, _ = analyze_file(SourceFile(path="b/m.py", sha256="s", text=text), "b")
    resolver = Resolver(side_context([first, again]))
    units_a = resolver.units_of([first], "a")
    units_b = resolver.units_of([again], "b")
    assert len(units_a) == len(units_b) > 1
    for ua, ub in zip(units_a, units_b, strict=True):
        assert (ub.side, ub.path) == ("b", "b/m.py")
        for f in dataclasses.fields(Unit):
            if f.name not in ("side", "path"):
                assert getattr(ub, f.name) == getattr(ua, f.name), f.name


# --- nesting past Python's recursion limit --------------------------------------------------------


def analyse(code: str) -> tuple[dict[str, list[str]], list[str], list[bool]]:
    analysis, warnings = analyze_file(SourceFile(path="deep.py", sha256="0", text=code), "a")
    syms = {u.qualname: list(u.syms) for u in analysis.units}
    return syms, [w.reason for w in warnings], [w.skipped for w in warnings]


def test_long_operator_chains_are_read_whole_with_every_rule() -> None:
    # A generated 2,000-term sum nests 2,000 levels deep in the tree: it stopped the whole
    # comparison (RecursionError). Read in a loop, it gives what a short chain gives.
    terms = 2000
    code = (
        "def total(x, y):\n"
        f"    s = {' + '.join(['x'] * terms)} - y\n"
        f"    if {' and '.join(['x'] * terms)} and False:\n"
        "        s = 0\n"
        "    return s\n"
    )
    syms, reasons, _ = analyse(code)
    body = syms["total"]
    assert reasons == []
    assert body.count("+") == terms - 1 and body.count("-") == 1
    assert "and" not in body  # the branch can never run: dropped, its long condition read
    short = analyse("def total(x, y):\n    s = x + x - y\n    return s\n")[0]["total"]
    assert [t for t in body if t != "+" and t != "$v"] == [
        t for t in short if t != "+" and t != "$v"
    ]


def test_a_unit_nested_too_deep_is_read_token_by_token_with_a_warning() -> None:
    code = (
        "import torch\n\n"
        "def deep(x):\n"
        f"    return torch.relu({'(' * 3000}x{')' * 3000})\n\n"
        "def fine(a, b):\n"
        "    return torch.cat([a, b], dim=1)\n"
    )
    syms, reasons, skipped = analyse(code)
    assert set(syms) == {"deep", "fine"}
    # Names still resolve (the library alias, the placeholders); the tree's rules do not run.
    assert LIB + "torch" in syms["deep"] and syms["deep"].count("$v") >= 2
    assert (
        syms["fine"] == analyse(code.split("\n\n")[0] + "\n\n" + code.split("\n\n")[2])[0]["fine"]
    )
    assert len(reasons) == 1 and reasons[0].startswith("deep nest deeper than the analysis")
    assert skipped == [False]


def test_a_file_the_scan_cannot_follow_is_skipped_with_a_warning_not_an_error() -> None:
    syms, reasons, skipped = analyse(f"{'(' * 3000}a{')' * 3000} = 1\n")
    assert syms == {}
    assert skipped == [True] and "nests deeper than the analysis can follow" in reasons[0]


WIRING = {
    "imports and __all__": "import os\nfrom .a import b\n__all__ = ['b', 'c']\n",
    "a table filled under an availability check": (
        "t = {'m': ['M']}\ntry:\n    if not ok():\n        raise Missing()\nexcept Missing:\n"
        "    pass\nelse:\n    t['n'] = ['N']\n    t['o'] += ['O']\n"
    ),
    "module registration and attribute loop": (
        "import sys\nsys.modules[__name__] = Lazy(__name__, t)\n"
        "for k, v in extra.items():\n    setattr(sys.modules[__name__], k, v)\n"
    ),
    "a version table": '"""Doc."""\ndeps = {"torch": "torch>=2.1", "pillow": None}\n',
}
NOT_WIRING = {
    "a computed value": "import math\nSCALE = math.sqrt(2)\n",
    "arithmetic": "A = 1\nB = A * 2\n",
    "a call for its effect": "import torch\ntorch.manual_seed(0)\n",
    "a loop that computes": "t = []\nfor i in range(3):\n    t.append(i * i)\n",
    "a definition beside the tables": "__all__ = ['f']\nx = f(2)\n",
    # Tables of numbers or of prose are evidence when copied: schedules, prompts.
    "constants": "MEAN = (0.485, 0.456, 0.406)\nSTEPS = [999, 979, 958]\n",
    "prompts": "SYSTEM = 'You are a helpful assistant.'\n",
}


@pytest.mark.parametrize("case", sorted(WIRING))
def test_module_code_that_only_wires_names(case: str) -> None:
    parsed = parse_text(WIRING[case])
    assert wires_names_only(parsed.root), case


@pytest.mark.parametrize("case", sorted(NOT_WIRING))
def test_module_code_that_does_something(case: str) -> None:
    parsed = parse_text(NOT_WIRING[case])
    assert not wires_names_only(parsed.root), case
