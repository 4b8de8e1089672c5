"""The HTML report, checked from the parsed page: what a reviewer sees, and that nothing runs."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from pathlib import Path

import pytest

from plagiarism.errors import PlagiarismError, UsageError
from plagiarism.model import (
    FileInfo,
    FilePair,
    LineRange,
    Pair,
    Region,
    Rename,
    Result,
    Source,
    Summary,
    Unchanged,
    UnitRef,
    Warning,
)
from plagiarism.report import json_format
from plagiarism.report.html import page_path, write_html

REPO = Path(__file__).resolve().parents[2]
HOSTILE = "</script><script>alert(1)</script>"
IMG = '<img src=x onerror="alert(2)">'

# --- a small DOM from the stdlib parser --------------------------------------------------------

VOID = {"meta", "link", "br", "img", "input", "hr", "wbr", "source", "area", "base", "col"}


@dataclass(eq=False)
class Node:
    tag: str
    attrs: dict[str, str]
    parent: Node | None = None
    children: list[Node | str] = field(default_factory=list)

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def iter(self) -> list[Node]:
        out: list[Node] = []
        stack: list[Node] = [self]
        while stack:
            node = stack.pop()
            out.append(node)
            stack.extend(reversed([c for c in node.children if isinstance(c, Node)]))
        return out

    def find_all(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> list[Node]:
        return [
            n
            for n in self.iter()[1:]
            if (tag is None or n.tag == tag)
            and (cls is None or cls in n.classes)
            and all(n.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]

    def find(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> Node:
        found = self.find_all(tag, cls, **attrs)
        assert found, f"no <{tag} class={cls} {attrs}>"
        return found[0]

    def ancestors(self) -> list[Node]:
        out, node = [], self.parent
        while node is not None:
            out.append(node)
            node = node.parent
        return out


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self.cur = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, self.cur)
        self.cur.children.append(node)
        if tag not in VOID:
            self.cur = node

    def handle_endtag(self, tag: str) -> None:
        node: Node | None = self.cur
        while node is not None and node.tag != tag:
            node = node.parent
        assert node is not None and node.parent is not None, f"stray </{tag}>"
        self.cur = node.parent

    def handle_data(self, data: str) -> None:
        self.cur.children.append(data)


def parse(path: Path) -> Node:
    builder = _Builder()
    builder.feed(path.read_text(encoding="utf-8"))
    builder.close()
    assert builder.cur is builder.root, f"unclosed <{builder.cur.tag}>"
    return builder.root


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def sides(row: Node) -> tuple[Node, Node]:
    """The A and B code cells of one side-by-side row."""
    cells = [c for c in row.children if isinstance(c, Node) and "c" in c.classes]
    assert len(cells) == 2
    return cells[0], cells[1]


def line_no(ln: Node) -> str:
    """The line number in a gutter cell, without its region label (R1, R2, ...)."""
    return "".join(c for c in ln.children if isinstance(c, str))


def tint(node: Node) -> str | None:
    found = [c for c in node.classes if re.fullmatch(r"t\d", c)]
    return found[0] if found else None


# --- a small hand-made result with hostile content everywhere --------------------------------

ORIGINAL = f'''import torch


class Encoder(torch.nn.Module):
    """Encodes {HOSTILE}."""

    def __init__(self, hidden_size, num_layers):
        super().__init__()
        self.hidden_size = hidden_size
        self.layers = [torch.nn.Linear(hidden_size, hidden_size) for _ in range(num_layers)]

    def forward(self, x):
        banner = '{IMG}' + '{HOSTILE}'
        for layer in self.layers:
            x = layer(x)
        return x
'''

SUSPECT = (
    ORIGINAL.replace("hidden_size", "dim")
    .replace("Encoder", "Enc")
    .replace("layers", "blocks")
    .replace("forward", f"forward_{'x'}")
)

PATH_A = f"pkg/{IMG}.py"
PATH_B = f"evil{HOSTILE}.py"
NAME_B = f"Enc.forward_x{HOSTILE}"


def unit(path: str, name: str, start: int, end: int, text: str, tokens: int = 40) -> UnitRef:
    return UnitRef(path, name, "method", start, end, tokens, sha(text))


def hostile_result() -> Result:
    init = Pair(
        a=unit(PATH_A, "Encoder.__init__", 7, 10, ORIGINAL),
        b=unit(PATH_B, "Enc.__init__", 7, 10, SUSPECT),
        score=0.9,
        matched_tokens=36,
        regions=(
            Region(LineRange(7, 8), LineRange(7, 8), 12),
            Region(LineRange(9, 10), LineRange(9, 10), 20),
        ),
        renames=(Rename("hidden_size", "dim", 5), Rename("layers", "blocks", 2)),
    )
    forward = Pair(
        a=unit(PATH_A, "Encoder.forward", 12, 16, ORIGINAL),
        b=unit(PATH_B, NAME_B, 12, 16, SUSPECT),
        score=0.75,
        matched_tokens=30,
        regions=(Region(LineRange(14, 16), LineRange(14, 16), 30),),
        renames=(Rename("layers", "blocks", 1), Rename("forward", "forward_x", 1)),
    )
    return Result(
        tool_version="0.1.0",
        settings={"pair_threshold": 0.6, "include": [HOSTILE], "kgram": 5},
        source_a=Source(
            "https://example.org/orig.git",
            "git",
            "/tmp/a",
            "main",
            "a" * 40,
            "2024-05-01T10:00:00+00:00",
        ),
        source_b=Source(f"/home/x/{HOSTILE}", "checkout", "/tmp/b", None, "b" * 40, None, True),
        summary=Summary(0.66, "copied", 2, 2, 6, 7, 120, 80, 2, 9),
        pairs=(forward, init),  # not in score order: the report ranks them
        file_pairs=(FilePair(PATH_A, PATH_B, 0.66, 2),),
        renames=(
            Rename("layers", "blocks", 2),
            Rename("hidden_size", "dim", 3),
            Rename(f"cfg{IMG}", "conf", 1),
            Rename(f"cfg{IMG}", "settings", 1),
            Rename("same", "same", 9),  # not a rename at all: must not be listed
        ),
        files_a=(
            FileInfo(PATH_A, sha(ORIGINAL), 16, "python", 3),
            FileInfo("pkg/extra.py", "c" * 64, 3, "python", 1),
        ),
        files_b=(
            FileInfo(PATH_B, sha(SUSPECT), 16, "python", 3),
            FileInfo("nb.ipynb", "d" * 64, 30, "notebook", 4),
        ),
        warnings=(
            Warning("b", f"big{HOSTILE}.py", f"larger than 2000000 bytes {IMG}", skipped=True),
            Warning("a", "half.py", f"partial parse near {HOSTILE}"),
        ),
        blobs={sha(ORIGINAL): ORIGINAL, sha(SUSPECT): SUSPECT},
        artifacts={
            "tokenizer": {
                "shared_special_tokens": ["<|im_start|>", HOSTILE],
                "vocab_overlap": 0.99,
            },
            "weights": {
                "verdict": "derived: same weights plus noise",
                "noise_std": 0.0123,
                "tensors_paired": [
                    {"a": "layers.0.weight", "b": f"blocks.0.weight{IMG}", "cosine": 0.9999},
                    {"a": "layers.1.weight", "b": "blocks.1.weight", "cosine": 0.9998},
                ],
            },
            f"extra{IMG}": {"nested": {"deeper": [1, 2, 3]}},
        },
        finding=True,
    )


@pytest.fixture
def hostile(tmp_path: Path) -> tuple[Result, Node, Path]:
    result = hostile_result()
    out = tmp_path / "report.html"
    assert write_html(result, out) == [out]
    return result, parse(out), out


def test_hostile_names_paths_code_and_warnings_come_out_as_text(
    hostile: tuple[Result, Node, Path],
) -> None:
    result, doc, _ = hostile
    # Nothing the repositories wrote became an element or an event handler.
    assert not doc.find_all("img")
    assert not [n for n in doc.iter() if any(k.startswith("on") for k in n.attrs)]
    scripts = doc.find_all("script")
    assert len(scripts) == 1
    ours = (REPO / "plagiarism/report/templates/report.js").read_text(encoding="utf-8")
    assert scripts[0].text() == ours
    # ...and each hostile string is shown, as text, where the reviewer expects it.
    table = doc.find("section", id="pairs").find("tbody")
    assert any(row.text().count(NAME_B) == 1 for row in table.find_all("tr"))
    assert any(PATH_B in row.text() for row in table.find_all("tr"))
    compared = doc.find("section", id="compared")
    assert f"larger than 2000000 bytes {IMG}" in [td.text() for td in compared.find_all("td")]
    assert f"partial parse near {HOSTILE}" in [td.text() for td in compared.find_all("td")]
    code = [c.text() for c in doc.find("section", id="pair-1").find_all("code", cls="c")]
    assert f"        banner = '{IMG}' + '{HOSTILE}'" in code
    assert HOSTILE in doc.find("section", id="overview").text()
    assert any(IMG in dd.text() for dd in doc.find("section", id="artifacts").find_all("td"))


def test_content_security_policy_allows_only_the_pages_own_style_and_script(
    hostile: tuple[Result, Node, Path],
) -> None:
    _, doc, _ = hostile
    meta = doc.find("meta", http_equiv="Content-Security-Policy")
    policy = meta.attrs["content"]
    assert "default-src 'none'" in policy

    def digest(text: str) -> str:
        return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()

    style, script = doc.find("style"), doc.find("script")
    assert f"style-src 'sha256-{digest(style.text())}'" in policy
    assert f"script-src 'sha256-{digest(script.text())}'" in policy
    # No resource from anywhere: the page must open offline, from disk.
    for node in doc.iter():
        for attr in ("src", "href"):
            value = node.attrs.get(attr, "")
            assert not re.match(r"(?i)(https?:|//)", value), (node.tag, value)


def test_pairs_table_is_ranked_and_links_to_each_pair(hostile: tuple[Result, Node, Path]) -> None:
    result, doc, _ = hostile
    rows = doc.find("section", id="pairs").find("tbody").find_all("tr")
    assert len(rows) == len(result.pairs)
    # Pair ids follow the JSON (position in Result.pairs); rank follows the score.
    first = rows[0].find_all("td")
    assert first[0].text() == "1" and first[1].text() == "90.0%"
    assert "Encoder.__init__" in first[2].text() and f"{PATH_A}:7–10" in first[2].text()
    assert f"{PATH_B}:7–10" in first[3].text()
    links = [row.find("a").attrs["href"] for row in rows]
    assert links == ["#pair-2", "#pair-1"]
    for href in links:
        section = doc.find("section", id=href[1:])
        assert "pair" in section.classes


def test_rename_map_is_sorted_by_evidence_and_flags_a_name_that_maps_two_ways(
    hostile: tuple[Result, Node, Path],
) -> None:
    _, doc, _ = hostile
    section = doc.find("section", id="renames")
    rows = [[td.text() for td in tr.find_all("td")] for tr in section.find("tbody").find_all("tr")]
    assert [r[:3] for r in rows] == [
        ["hidden_size", "dim", "3"],
        ["layers", "blocks", "2"],
        [f"cfg{IMG}", "conf", "1"],
        [f"cfg{IMG}", "settings", "1"],
    ]
    assert [r[3] for r in rows] == [
        "yes",
        "yes",
        f"no, also: cfg{IMG} → settings (1)",
        f"no, also: cfg{IMG} → conf (1)",
    ]
    assert "strongest sign" in section.find("div", cls="why").text()


def test_each_region_has_one_tint_on_both_sides_and_unmatched_lines_none(
    hostile: tuple[Result, Node, Path],
) -> None:
    result, doc, _ = hostile
    pair = result.pairs[1]
    section = doc.find("section", id="pair-2")
    seen: dict[str, dict[int, str | None]] = {"a": {}, "b": {}}
    for row in section.find_all("div", cls="row"):
        if "head" in row.classes:
            continue
        lns = [c for c in row.children if isinstance(c, Node) and "ln" in c.classes]
        for side, cell, ln in zip("ab", sides(row), lns, strict=True):
            number = line_no(ln)
            if number:
                seen[side][int(number)] = cell.attrs.get("data-r")
                assert tint(cell) == tint(ln)
    for i, region in enumerate(pair.regions, start=1):
        for side, rng in (("a", region.a), ("b", region.b)):
            lines = {n for n, r in seen[side].items() if r == str(i)}
            assert lines == set(range(rng.start_line, rng.end_line + 1)), (side, i)
    # Same region number, same colour, on both sides; different regions, different colours.
    tints = {}
    for cell in section.find_all("code", cls="c"):
        if "data-r" in cell.attrs:
            tints.setdefault(cell.attrs["data-r"], set()).add(tint(cell))
    assert tints == {"1": {"t0"}, "2": {"t1"}}
    plain = [c for c in section.find_all("code", cls="c") if "data-r" not in c.attrs]
    assert all(tint(c) is None for c in plain)
    legend = [li.text() for li in section.find("ul", cls="legend").find_all("li")]
    assert legend[0].startswith("R1: A 7–8 ↔ B 7–8")


def test_renamed_identifiers_are_marked_with_the_mapping_on_hover(
    hostile: tuple[Result, Node, Path],
) -> None:
    _, doc, _ = hostile
    section = doc.find("section", id="pair-2")
    a_names: set[tuple[str, str]] = set()
    b_names: set[tuple[str, str]] = set()
    for row in section.find_all("div", cls="row"):
        if "head" in row.classes:
            continue
        a, b = sides(row)
        a_names |= {(s.text(), s.attrs["title"]) for s in a.find_all("span", cls="rn")}
        b_names |= {(s.text(), s.attrs["title"]) for s in b.find_all("span", cls="rn")}
    assert ("hidden_size", "hidden_size → dim (5 aligned tokens)") in a_names
    assert ("dim", "hidden_size → dim (5 aligned tokens)") in b_names
    assert ("blocks", "layers → blocks (2 aligned tokens)") in b_names
    # Names that were not renamed stay plain, on both sides.
    assert not {n for n, _ in a_names} & {"num_layers", "torch", "x", "self"}
    assert {n for n, _ in a_names} <= {"hidden_size", "layers"}


def test_every_compared_file_and_both_commits_are_in_the_page_in_full(
    hostile: tuple[Result, Node, Path],
) -> None:
    result, doc, _ = hostile
    compared = doc.find("section", id="compared")
    hashes = {td.text() for td in compared.find_all("td", cls="hash")}
    for f in (*result.files_a, *result.files_b):
        assert f.sha256 in hashes, f.path
    assert {"a" * 40, "b" * 40} <= hashes
    settings = {
        tr.find("th").text(): tr.find("td").text()
        for tr in compared.find_all("tr")
        if tr.find_all("th") and tr.find_all("td")
    }
    assert settings["pair_threshold"] == "0.6"
    assert settings["include"] == f'["{HOSTILE}"]'
    assert settings["plagiarism version"] == "0.1.0"


def test_artifacts_evidence_is_shown_with_its_headline_figures(
    hostile: tuple[Result, Node, Path],
) -> None:
    _, doc, _ = hostile
    section = doc.find("section", id="artifacts")
    headline = section.find("dl", cls="kv")
    terms = [dt.text() for dt in headline.find_all("dt")]
    values = [dd.text().strip() for dd in headline.find_all("dd")]
    found = dict(zip(terms, values, strict=True))
    assert found["Weights verdict"] == "derived: same weights plus noise"
    assert found["Weights noise standard deviation"] == "0.0123"
    assert "blocks.1.weight" in found["Tensors paired"]
    assert HOSTILE in found["Shared special tokens"]
    headings = [h.text() for h in section.find_all("h3")]
    assert headings == ["tokenizer", "weights", f"extra{IMG}"]


def test_no_artifacts_section_without_artifacts(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    write_html(replace(hostile_result(), artifacts=None), out)
    doc = parse(out)
    assert not doc.find_all("section", id="artifacts")
    assert not [a for a in doc.find_all("a") if a.attrs.get("href") == "#artifacts"]


def test_invisible_direction_characters_are_shown_not_obeyed(tmp_path: Path) -> None:
    trojan = 'x = "user\u202e \u2066# admin\u2069 \u2066"\n'
    result = hostile_result()
    pair = result.pairs[0]
    text = SUSPECT.replace("        banner = ", "        banner = " + trojan.strip() + " or ")
    b = replace(pair.b, file_sha256=sha(text), path="pkg/\u202eyp.evil")
    result = replace(result, pairs=(replace(pair, b=b),), blobs={**result.blobs, sha(text): text})
    out = tmp_path / "r.html"
    write_html(result, out)
    doc = parse(out)
    marks = [s.text() for s in doc.find_all("span", cls="ctl")]
    assert marks.count("U+202E") >= 2  # in the code and in the file name
    assert "U+2066" in marks and "U+2069" in marks
    assert not any("\u202e" in t for n in doc.iter() for t in n.children if isinstance(t, str))


def test_a_missing_blob_is_said_not_hidden(tmp_path: Path) -> None:
    result = replace(hostile_result(), blobs={})
    out = tmp_path / "r.html"
    write_html(result, out)
    notes = [p.text() for p in parse(out).find("section", id="pair-1").find_all("p", cls="warn")]
    assert len(notes) == 2 and all("is not in this result" in n for n in notes)


# --- long units fold, regions align ---------------------------------------------------------------


def long_pair_result(shift: int) -> Result:
    """A 60-line function whose middle (lines 30-34 of A) is copied, `shift` lines lower in B."""
    a_lines = [f"    step_{i} = compute({i})" for i in range(1, 61)]
    b_lines = [f"    other_{i} = unrelated({i})" for i in range(1, 61 + shift)]
    b_lines[29 + shift : 34 + shift] = a_lines[29:34]
    text_a = "def f():\n" + "\n".join(a_lines) + "\n"
    text_b = "def g():\n" + "\n".join(b_lines[: 60 + shift]) + "\n"
    pair = Pair(
        a=UnitRef("a.py", "f", "function", 1, 61, 400, sha(text_a)),
        b=UnitRef("b.py", "g", "function", 1, 61 + shift, 400, sha(text_b)),
        score=0.7,
        matched_tokens=40,
        regions=(Region(LineRange(31, 35), LineRange(31 + shift, 35 + shift), 40),),
        renames=(),
    )
    base = hostile_result()
    return replace(
        base, pairs=(pair,), blobs={sha(text_a): text_a, sha(text_b): text_b}, artifacts=None
    )


def rows_of(section: Node) -> list[tuple[str, str]]:
    """(line of A, line of B) per row, in page order, with '' for padding."""
    out = []
    for row in section.find_all("div", cls="row"):
        if "head" in row.classes:
            continue
        lns = [c for c in row.children if isinstance(c, Node) and "ln" in c.classes]
        out.append(tuple(line_no(ln) for ln in lns))
    return out


def test_long_units_fold_around_the_match_and_keep_the_match_open(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    write_html(long_pair_result(shift=0), out)
    section = parse(out).find("section", id="pair-1")
    folds = section.find_all("details", cls="fold")
    assert len(folds) == 2
    assert all("open" not in d.attrs for d in folds)
    assert "unmatched lines (A 1–" in folds[0].find("summary").text()
    for d in folds:
        assert not d.find_all("code", cls="t0")
    shown = [
        r
        for r in section.find_all("div", cls="row")
        if "head" not in r.classes and not any(a.tag == "details" for a in r.ancestors())
    ]
    shown_lines = [int(line_no(r.find("span", cls="ln"))) for r in shown]
    # The five matched lines and three lines of context each side stay visible.
    assert shown_lines == list(range(28, 39))
    # Every line of both units is in the page, folded or not.
    assert len(rows_of(section)) == 61


def test_matching_regions_start_on_the_same_row(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    write_html(long_pair_result(shift=7), out)
    rows = rows_of(parse(out).find("section", id="pair-1"))
    assert ("31", "38") in rows and ("35", "42") in rows
    a_lines = [int(a) for a, _ in rows if a]
    b_lines = [int(b) for _, b in rows if b]
    assert a_lines == list(range(1, 62)) and b_lines == list(range(1, 69))


def test_reordered_regions_are_tinted_even_when_they_cannot_align(tmp_path: Path) -> None:
    result = hostile_result()
    pair = result.pairs[1]  # Encoder.__init__, regions 7-8 and 9-10
    swapped = replace(
        pair,
        regions=(
            Region(LineRange(7, 8), LineRange(9, 10), 12),
            Region(LineRange(9, 10), LineRange(7, 8), 20),
        ),
    )
    out = tmp_path / "r.html"
    write_html(replace(result, pairs=(swapped,)), out)
    section = parse(out).find("section", id="pair-1")
    by_region: dict[str, set[str | None]] = {}
    for cell in section.find_all("code", cls="c"):
        if "data-r" in cell.attrs:
            by_region.setdefault(cell.attrs["data-r"], set()).add(tint(cell))
    assert by_region == {"1": {"t0"}, "2": {"t1"}}


# --- scale: thousands of pairs ----------------------------------------------------------------


def synthetic_result(pairs: int, files: int = 40, per_file: int = 150) -> Result:
    """`pairs` copied functions spread over `files` files on each side, each renamed."""

    def body(i: int, prefix: str) -> str:
        return (
            f"def {prefix}_{i}(x, {prefix}_arg):\n"
            f"    total = 0\n"
            f"    for item in range(x):\n"
            f"        total += item * {prefix}_arg  # step {i}\n"
            f"    if total > {i}:\n"
            f"        return total - {i}\n"
            f"    return total\n\n"
        )

    texts_a, texts_b = [], []
    for f in range(files):
        texts_a.append("".join(body(f * per_file + i, "orig") for i in range(per_file)))
        texts_b.append("".join(body(f * per_file + i, "copy") for i in range(per_file)))
    out = []
    for n in range(pairs):
        f, i = divmod(n % (files * per_file), per_file)
        start = 1 + 8 * i
        out.append(
            Pair(
                a=UnitRef(
                    f"a/m{f}.py",
                    f"orig_{f * per_file + i}",
                    "function",
                    start,
                    start + 6,
                    40,
                    sha(texts_a[f]),
                ),
                b=UnitRef(
                    f"b/m{f}.py",
                    f"copy_{f * per_file + i}",
                    "function",
                    start,
                    start + 6,
                    40,
                    sha(texts_b[f]),
                ),
                score=1.0 - (n % 997) / 2000,
                matched_tokens=40 - n % 7,
                regions=(
                    Region(LineRange(start, start + 3), LineRange(start, start + 3), 22),
                    Region(LineRange(start + 4, start + 6), LineRange(start + 4, start + 6), 18),
                ),
                renames=(
                    Rename(f"orig_{f * per_file + i}", f"copy_{f * per_file + i}", 1),
                    Rename("orig_arg", "copy_arg", 2),
                ),
            )
        )
    base = hostile_result()
    return replace(
        base,
        pairs=tuple(out),
        summary=replace(base.summary, pairs=pairs),
        renames=(Rename("orig_arg", "copy_arg", pairs),),
        files_a=tuple(
            FileInfo(f"a/m{f}.py", sha(t), t.count("\n"), "python", per_file)
            for f, t in enumerate(texts_a)
        ),
        files_b=tuple(
            FileInfo(f"b/m{f}.py", sha(t), t.count("\n"), "python", per_file)
            for f, t in enumerate(texts_b)
        ),
        blobs={**{sha(t): t for t in texts_a}, **{sha(t): t for t in texts_b}},
        artifacts=None,
    )


def test_thousands_of_pairs_go_to_further_pages_linked_from_the_overview(tmp_path: Path) -> None:
    result = synthetic_result(pairs=1250)
    out = tmp_path / "big.html"
    written = write_html(result, out, inline_pairs=300)
    assert written == [out, *(page_path(out, n) for n in range(2, 6))]
    assert [p.name for p in written[1:]] == [f"big-pairs-{n}.html" for n in range(2, 6)]
    doc = parse(out)
    section = doc.find("section", id="pairs")
    rows = [tr for tbody in section.find_all("tbody") for tr in tbody.find_all("tr")]
    assert len(rows) == 1250
    # Rows of pairs on further pages wait in a closed <details>: thousands of table rows laid
    # out at once would slow the opening of the page.
    folded = section.find("details", id="more-pairs").find_all("tr")
    assert len([tr for tr in folded if tr.find_all("td")]) == 950
    scores = [float(r.find_all("td")[1].text().rstrip("%")) for r in rows]
    assert scores == sorted(scores, reverse=True)
    # The first 300 are in the page itself (no script needed); the rest one click away.
    assert len(doc.find("section", id="evidence").find_all("section", cls="pair")) == 300
    pages = {p.name: parse(p) for p in written[1:]}
    sections = {
        name: {n.attrs["id"] for n in page.find_all("section", cls="pair")}
        for name, page in [("", doc), *pages.items()]
    }
    for rank, row in enumerate(rows, start=1):
        target, anchor = row.find("a").attrs["href"].split("#")
        assert target == ("" if rank <= 300 else f"big-pairs-{(rank - 1) // 300 + 1}.html")
        assert anchor in sections[target], (rank, target, anchor)
    assert sum(len(ids) for ids in sections.values()) == 1250
    last = pages["big-pairs-5.html"]
    assert len(last.find_all("section", cls="pair")) == 50
    assert last.find("h1").text().startswith("Pairs 1201–1250 of 1250")
    assert any(a.attrs.get("href") == "big.html#overview" for a in last.find_all("a"))


def test_a_shorter_report_removes_the_further_pages_of_an_earlier_one(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    mine = tmp_path / "r-pairs-9.html"
    mine.write_text("not a report of ours", encoding="utf-8")
    write_html(synthetic_result(pairs=40), out, inline_pairs=10)
    assert (tmp_path / "r-pairs-4.html").exists()
    write_html(synthetic_result(pairs=15), out, inline_pairs=10)
    assert (tmp_path / "r-pairs-2.html").exists()
    assert not (tmp_path / "r-pairs-3.html").exists()
    assert not (tmp_path / "r-pairs-4.html").exists()
    assert mine.read_text(encoding="utf-8") == "not a report of ours"


def test_no_pairs_still_renders_the_honesty_section(tmp_path: Path) -> None:
    result = replace(hostile_result(), pairs=(), renames=(), file_pairs=(), finding=False)
    out = tmp_path / "r.html"
    assert write_html(result, out) == [out]
    doc = parse(out)
    assert (
        "No pair of units reached the pair threshold (0.6)"
        in doc.find("section", id="pairs").text()
    )
    assert doc.find("section", id="compared").find_all("td", cls="hash")


def test_an_unwritable_path_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(PlagiarismError, match=r"^cannot write .*no-such-folder"):
        write_html(hostile_result(), tmp_path / "no-such-folder" / "r.html")


def test_inline_pairs_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        write_html(hostile_result(), tmp_path / "r.html", inline_pairs=0)


# --- the shipped example, through the real pipeline -------------------------------------------


@pytest.fixture(scope="module")
def vlm_result() -> Result:
    from plagiarism import Settings, compare

    corpus = REPO / "corpora" / "vlm"
    if not (corpus / "original").is_dir():
        pytest.fail("the shipped example corpora/vlm is missing")
    return compare(corpus / "original", corpus / "disguised", Settings().with_overrides(jobs=1))


def test_the_shipped_example_renders_every_pair_with_its_evidence(
    vlm_result: Result, tmp_path: Path
) -> None:
    result = vlm_result
    assert result.pairs, "the disguised copy must produce pairs"
    out = tmp_path / "vlm.html"
    assert write_html(result, out) == [out]
    doc = parse(out)
    for id_, pair in enumerate(result.pairs, start=1):
        section = doc.find("section", id=f"pair-{id_}")
        heading = section.find("h3").text()
        assert pair.a.name in heading and pair.b.name in heading
        tinted = {c.attrs["data-r"] for c in section.find_all("code") if "data-r" in c.attrs}
        assert tinted == {str(i) for i in range(1, len(pair.regions) + 1)}
        marked_b = {s.text() for s in section.find_all("span", cls="rn")}
        renamed = {r.b for r in pair.renames if r.a != r.b} | {
            r.a for r in pair.renames if r.a != r.b
        }
        assert marked_b <= renamed
    top = max(result.renames, key=lambda r: r.count)
    first = doc.find("section", id="renames").find("tbody").find("tr").find_all("td")
    assert int(first[2].text()) == top.count
    hashes = {td.text() for td in doc.find("section", id="compared").find_all("td", cls="hash")}
    assert {f.sha256 for f in (*result.files_a, *result.files_b)} <= hashes
    assert result.summary.verdict in doc.find("span", cls="verdict").text()


def test_a_saved_result_renders_the_same_page_again(vlm_result: Result, tmp_path: Path) -> None:
    json_format.write(vlm_result, tmp_path / "r.json")
    (tmp_path / "direct").mkdir()
    (tmp_path / "again").mkdir()
    write_html(vlm_result, tmp_path / "direct" / "report.html")
    write_html(json_format.read(tmp_path / "r.json"), tmp_path / "again" / "report.html")
    direct = (tmp_path / "direct" / "report.html").read_text(encoding="utf-8")
    again = (tmp_path / "again" / "report.html").read_text(encoding="utf-8")

    # Scores are rounded in the JSON, so compare the page without its score figures.
    def strip(html: str) -> str:
        return re.sub(r"\d+\.\d%", "", html)

    assert strip(direct) == strip(again)


def test_code_is_painted_from_its_parse_and_kept_character_for_character() -> None:
    from plagiarism.report.html import _Highlighter

    # An indented method (as the report shows a unit: from its first line), with a
    # decorator, a docstring, builtins, an exception, an f-string holding a name, a comment
    # and non-ASCII text.
    text = (
        "    @property\n"
        "    def größe(self, x=ValueError):\n"
        '        """Doc."""\n'
        "        y = 1\n"
        "        return print(x.size, f'{x} é', 3.5) and None  # note\n"
    )
    lines = _Highlighter._lex(text)
    assert ["".join(part for _, part, _ in line) for line in lines] == text.split("\n")
    painted = {part: css for line in lines for css, part, _ in line if part.strip()}
    assert painted["@"] == painted["property"] == "de"
    assert painted["def"] == painted["return"] == painted["and"] == painted["None"] == "kw"
    assert painted["größe"] == "fn"
    assert painted["self"] == painted["print"] == "bi"
    assert painted["ValueError"] == "cl"
    assert painted['"""Doc."""'] == painted["# note"] == "cm"
    assert painted["f'{x} é'"] == "st"  # the name inside is part of the string
    assert painted["3.5"] == "nu"
    assert painted["size"] == ""  # an attribute, not the builtin
    names = {part for line in lines for _, part, is_name in line if is_name}
    assert {"größe", "self", "x", "size", "y", "property", "print"} <= names
    assert "@" not in names and "def" not in names
    # Code that does not parse is painted where it can, and kept as it is.
    broken = "def f(:\n    y = = (\n\tzz \u202e'\n"
    lexed = _Highlighter._lex(broken)
    assert ["".join(part for _, part, _ in line) for line in lexed] == broken.split("\n")


def test_writing_counts_the_pairs_shown(tmp_path: Path) -> None:
    # A transformers-sized report takes a minute and more: the CLI draws this count.
    from plagiarism.progress import Progress

    class Recording:
        def __init__(self) -> None:
            self.events: list[tuple[str, object]] = []

        def stage(self, name: str, total: int | None = None) -> None:
            self.events.append(("stage", (name, total)))

        def advance(self, n: int = 1) -> None:
            self.events.append(("advance", n))

        def done(self) -> None:
            self.events.append(("done", None))

    result = synthetic_result(7)
    progress = Recording()
    shown: Progress = progress
    write_html(result, tmp_path / "r.html", inline_pairs=3, progress=shown)
    assert progress.events[0] == ("stage", ("report", 7))
    assert [n for kind, n in progress.events if kind == "advance"] == [3, 3, 1]
    assert progress.events[-1] == ("done", None)


def test_further_pages_written_by_workers_are_the_same(tmp_path: Path) -> None:
    # The CLI writes the further pages on every core (a transformers-sized report has 134).
    from plagiarism.executor import LocalProcesses

    result = synthetic_result(900)
    (tmp_path / "serial").mkdir()
    (tmp_path / "pool").mkdir()
    here = write_html(result, tmp_path / "serial" / "r.html", inline_pairs=100)
    pool = LocalProcesses(2)
    try:
        there = write_html(result, tmp_path / "pool" / "r.html", inline_pairs=100, executor=pool)
    finally:
        pool.close()
    assert [p.name for p in here] == [p.name for p in there] and len(here) == 9
    for a, b in zip(here, there, strict=True):
        assert a.read_bytes() == b.read_bytes()


def test_a_unit_said_to_end_past_its_text_draws_only_the_text(tmp_path: Path) -> None:
    # A result read back from a file may claim a unit ends at line 100,000,000: as many rows
    # would never finish. The rows end with the stored text, and the page says so.
    result = hostile_result()
    pair = result.pairs[0]
    result = replace(result, pairs=(replace(pair, b=replace(pair.b, end_line=10**8)),))
    out = tmp_path / "r.html"
    write_html(result, out)
    section = parse(out).find("section", id="pair-1")
    notes = [p.text() for p in section.find_all("p", cls="warn")]
    assert any("ends at line 100000000" in n and "left out" in n for n in notes), notes
    assert len(section.find_all("div", cls="row")) < 100


def test_control_characters_are_shown_as_marks(tmp_path: Path) -> None:
    # A browser draws an escape or a form feed as nothing; the terminal summary writes them as
    # escapes, the page as marks, in file names and in code.
    result = hostile_result()
    pair = result.pairs[0]
    text = SUSPECT.replace("        banner = ", "        banner = '\x0c' or ")
    b = replace(pair.b, file_sha256=sha(text), path="pkg/sus\x1b]0;x\x07.py")
    result = replace(result, pairs=(replace(pair, b=b),), blobs={**result.blobs, sha(text): text})
    out = tmp_path / "r.html"
    write_html(result, out)
    marks = [s.text() for s in parse(out).find_all("span", cls="ctl")]
    assert {"U+001B", "U+0007", "U+000C"} <= set(marks)
    assert "\x1b" not in out.read_text(encoding="utf-8")


KEPT = "def mean(xs):\n    total = sum(xs)\n    return total / len(xs)\n"


def unchanged_pair() -> Pair:
    """`mean` of lib/stats.py, the same on both sides, as a run flags it."""
    return Pair(
        a=unit("lib/stats.py", "mean", 1, 3, KEPT, tokens=60),
        b=unit("lib/stats.py", "mean", 1, 3, KEPT, tokens=60),
        score=1.0,
        matched_tokens=60,
        regions=(Region(LineRange(1, 3), LineRange(1, 3), 60),),
        renames=(),
        unchanged=True,
    )


def test_code_a_fork_holds_unchanged_is_said_once_and_ranked_after_what_it_changed(
    tmp_path: Path,
) -> None:
    # Between a fork and its upstream most pairs are units of files B holds unchanged: the
    # same text twice side by side says nothing, and thousands of them at 1.0 would fill the
    # first pages before the renamed copy.
    kept = KEPT
    unchanged = unchanged_pair()
    renamed = replace(
        hostile_result().pairs[1], score=1.0, matched_tokens=40
    )  # fewer tokens, same score
    result = replace(
        hostile_result(),
        pairs=(unchanged, renamed),
        file_pairs=(
            FilePair("lib/stats.py", "lib/stats.py", 1.0, 1),
            FilePair(PATH_A, PATH_B, 0.66, 1),
        ),
        files_a=(*hostile_result().files_a, FileInfo("lib/stats.py", sha(kept), 3, "python", 1)),
        files_b=(*hostile_result().files_b, FileInfo("lib/stats.py", sha(kept), 3, "python", 1)),
        blobs={**hostile_result().blobs, sha(kept): kept},
    )
    out = tmp_path / "report.html"
    write_html(result, out)
    doc = parse(out)
    rows = doc.find("section", id="pairs").find("tbody").find_all("tr")
    assert [row.find("a").attrs["href"] for row in rows] == ["#pair-2", "#pair-1"]
    assert "unchanged" in rows[1].text() and "unchanged" not in rows[0].text()
    same, drawn = doc.find("section", id="pair-1"), doc.find("section", id="pair-2")
    assert not [n for n in same.iter() if "sbs" in n.classes]
    assert "same byte for byte" in same.text() and sha(kept)[:12] in same.text()
    assert [n for n in drawn.iter() if "sbs" in n.classes]
    files = {
        tuple(td.text() for td in row.find_all("td")[:3])
        for row in doc.find("section", id="files").find("tbody").find_all("tr")
    }
    assert ("lib/stats.py", "lib/stats.py", "100.0% · same bytes") in files
    assert (PATH_A, PATH_B, "66.0%") in files


def test_unchanged_code_past_the_first_page_is_left_to_its_pages(tmp_path: Path) -> None:
    # A fork's overview listed a row for every unchanged unit (35 MB for transformers): past
    # the first page they are counted and linked, and listed on their own pages.
    kept = "".join(f"def f{i}(xs):\n    return sum(xs) * {i}\n" for i in range(6))
    unchanged = tuple(
        Pair(
            a=unit("lib/k.py", f"f{i}", 2 * i + 1, 2 * i + 2, kept, tokens=30),
            b=unit("lib/k.py", f"f{i}", 2 * i + 1, 2 * i + 2, kept, tokens=30),
            score=1.0,
            matched_tokens=30,
            regions=(Region(LineRange(2 * i + 1, 2 * i + 2), LineRange(2 * i + 1, 2 * i + 2), 30),),
            renames=(),
            unchanged=True,
        )
        for i in range(6)
    )
    changed = tuple(replace(hostile_result().pairs[1], score=0.9 - i / 100) for i in range(5))
    result = replace(
        hostile_result(),
        pairs=unchanged + changed,
        files_a=(*hostile_result().files_a, FileInfo("lib/k.py", sha(kept), 12, "python", 6)),
        files_b=(*hostile_result().files_b, FileInfo("lib/k.py", sha(kept), 12, "python", 6)),
        blobs={**hostile_result().blobs, sha(kept): kept},
    )
    out = tmp_path / "report.html"
    written = write_html(result, out, inline_pairs=4)
    assert len(written) == 3  # ranks 1-4, 5-8, 9-11
    doc = parse(out)
    pairs = doc.find("section", id="pairs")
    listed = [row.find("a").attrs["href"] for row in pairs.find("tbody").find_all("tr")]
    listed += [
        row.find("a").attrs["href"]
        for table in pairs.find_all("table")[1:]
        for row in table.find("tbody").find_all("tr")
    ]
    # The five changed pairs first (ids 7-11), and no unchanged one: all are past page one.
    assert [h.split("#")[1] for h in listed] == [f"pair-{i}" for i in range(7, 12)]
    text = " ".join(pairs.text().split())
    assert "The last 6 pairs, ranked 6 to 11, are code B holds unchanged" in text
    links = [a.attrs["href"] for a in pairs.find_all("a") if "unchanged" in a.parent.text()]
    assert links == ["#files", page_path(out, 2).name, page_path(out, 3).name]
    page3 = parse(written[2])
    assert len(page3.find("tbody").find_all("tr")) == 3


def test_unchanged_means_the_same_text_at_the_same_path() -> None:
    # A unit of a file changed elsewhere (lines shifted) is unchanged code too; the same text
    # moved to another path is a verbatim copy, and is drawn; one line changed is a change.
    body = "def mean(xs):\n    total = sum(xs)\n    return total / len(xs)\n"
    old, new = body, "import math\n\n" + body
    edited = new.replace("total / len", "total / max(1, len")
    same = Unchanged({sha(t): t for t in (old, new, edited)})
    a = unit("lib/stats.py", "mean", 1, 3, old, tokens=30)
    assert same(a, a)
    assert same(a, unit("lib/stats.py", "mean", 3, 5, new, tokens=30))
    assert not same(a, unit("vendor/stats.py", "mean", 1, 3, old, tokens=30))
    assert not same(a, unit("lib/stats.py", "mean", 3, 5, edited, tokens=30))
    assert not same(a, unit("lib/stats.py", "mean", 2, 4, new, tokens=30))  # other lines
    # A text the result does not carry is never taken for the same.
    assert not Unchanged({})(a, unit("lib/stats.py", "mean", 3, 5, new, tokens=30))


def test_a_result_written_before_the_flag_is_read_with_it(tmp_path: Path) -> None:
    # Older results have no "unchanged" field: reading one tells it from the texts it
    # carries, so its report still ranks and folds the fork's untouched code.
    kept = KEPT
    unchanged = unchanged_pair()
    result = replace(
        hostile_result(),
        pairs=(unchanged, hostile_result().pairs[1]),
        blobs={**hostile_result().blobs, sha(kept): kept},
    )
    data = json.loads(json_format.dumps(result))
    assert [p["unchanged"] for p in data["pairs"]] == [True, False]
    for p in data["pairs"]:
        del p["unchanged"]
    older = tmp_path / "older.json"
    older.write_text(json.dumps(data), encoding="utf-8")
    assert [p.unchanged for p in json_format.read(older).pairs] == [True, False]


def test_a_page_holds_a_bounded_amount_of_code_as_well_as_of_pairs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A fork's changed pairs are often whole modules: 300 of them made a 29 MB first page.
    # A page also ends at a number of lines drawn; a longer pair is a page of its own.
    from plagiarism.report import html

    monkeypatch.setattr(html, "PAGE_LINES", 100)
    base = hostile_result().pairs[1]  # 5 lines a side: 10 drawn

    def sized(lines: int, score: float) -> Pair:
        return replace(
            base,
            a=replace(base.a, end_line=base.a.start_line + lines - 1),
            b=replace(base.b, end_line=base.b.start_line + lines - 1),
            score=score,
        )

    pairs = (sized(20, 0.99), sized(20, 0.98), sized(80, 0.97), sized(5, 0.96), sized(5, 0.95))
    out = tmp_path / "report.html"
    written = write_html(replace(hostile_result(), pairs=pairs), out, inline_pairs=300)
    # 40 + 40 lines; then 160 alone (past the budget); then 10 + 10.
    assert [p.name for p in written] == [
        "report.html",
        "report-pairs-2.html",
        "report-pairs-3.html",
    ]
    doc = parse(out)
    text = " ".join(doc.find("section", id="pairs").text().split())
    assert "The first 2 pairs are shown on this page" in text
    assert "pairs 3–3" in text and "pairs 4–5" in text
    assert len(parse(written[2]).find("tbody").find_all("tr")) == 2


def test_findings_rank_before_context_pairs_of_any_score(tmp_path: Path) -> None:
    forward, init = hostile_result().pairs
    header = replace(init, score=1.0, backed_only=True)  # a class header, shown as context
    out = tmp_path / "report.html"
    write_html(replace(hostile_result(), pairs=(forward, header)), out)
    rows = parse(out).find("section", id="pairs").find("tbody").find_all("tr")
    assert [row.find("a").attrs["href"] for row in rows] == ["#pair-1", "#pair-2"]
