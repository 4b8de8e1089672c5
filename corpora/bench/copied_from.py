"""Real renamed copies: the `# Copied from transformers.X.Y with A->B` markers of transformers.

Each marker sits above a def/class (or its decorators) and names the object it was copied from,
with the renames applied. A case is one (original file, copying file) pair with every marked
pair between them; the markers are stripped from both files before any tool sees them.
"""

from __future__ import annotations

import ast
import random
import re
from collections import defaultdict
from pathlib import Path

from . import disguise as d
from .cases import Case, judged_in_text
from .pool import MIN_UNIT_TOKENS, unit_tokens

MARKER = re.compile(r"^\s*#\s*Copied from transformers\.([\w.]+)(?:\s+with\s+(.*))?\s*$")
ANY_MARKER = re.compile(r"^\s*#\s*Copied from\b.*$")


def strip_markers(text: str) -> str:
    """Blank the marker lines (blank, not delete, so line numbers stay those of the wheel)."""
    return "\n".join("" if ANY_MARKER.match(line) else line for line in text.splitlines()) + "\n"


def _resolve(root: Path, dotted: str) -> tuple[str, str] | None:
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        rel = "transformers/" + "/".join(parts[:cut]) + ".py"
        if (root / rel).is_file():
            return rel, ".".join(parts[cut:])
    return None


def _renames(spec: str | None) -> list[tuple[str, str]]:
    out = []
    for part in re.split(r",", spec or ""):
        if "->" in part:
            a, b = part.split("->", 1)
            out.append((a.strip(), b.strip().split(" ")[0]))
    return out


def _defs(tree: ast.Module) -> dict[str, ast.AST]:
    out: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out[node.name] = node
            if isinstance(node, ast.ClassDef):
                for m in node.body:
                    if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        out[f"{node.name}.{m.name}"] = m
    return out


def _marked(tree: ast.Module, lines: list[str]) -> list[tuple[str, ast.AST, re.Match[str]]]:
    """(qualname, node, marker) for every def/class/method preceded by a marker line."""
    out = []
    for q, node in _defs(tree).items():
        first = min([node.lineno] + [x.lineno for x in getattr(node, "decorator_list", [])])  # type: ignore[attr-defined]
        if first >= 2:
            m = MARKER.match(lines[first - 2])
            if m:
                out.append((q, node, m))
    return out


def collect(root: Path) -> dict[tuple[str, str], list[tuple[str, str, str]]]:
    """(orig file, copy file) -> [(orig qualname, copy qualname, renames)] for judged functions."""
    groups: dict[tuple[str, str], list[tuple[str, str, str]]] = defaultdict(list)
    trees: dict[str, ast.Module] = {}

    def tree_of(rel: str) -> ast.Module | None:
        if rel not in trees:
            try:
                trees[rel] = ast.parse((root / rel).read_text())
            except (SyntaxError, OSError, UnicodeDecodeError):
                return None
        return trees[rel]

    for path in sorted((root / "transformers" / "models").rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        text = path.read_text()
        if "Copied from transformers." not in text:
            continue
        tree = tree_of(rel)
        if tree is None:
            continue
        for q, node, m in _marked(tree, text.splitlines()):
            target = _resolve(root, m.group(1))
            if target is None or target[0] == rel:
                continue
            orig_rel, orig_q = target
            otree = tree_of(orig_rel)
            if otree is None:
                continue
            odefs = _defs(otree)
            onode = odefs.get(orig_q)
            if onode is None:
                continue
            renames = _renames(m.group(2))
            if isinstance(node, ast.ClassDef) and isinstance(onode, ast.ClassDef):
                omethods = {mm.name: mm for mm in onode.body
                            if isinstance(mm, (ast.FunctionDef, ast.AsyncFunctionDef))}
                for mm in node.body:
                    if not isinstance(mm, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        continue
                    cands = [on for on in omethods if _apply(on, renames) == mm.name]
                    if cands and unit_tokens(mm) >= MIN_UNIT_TOKENS:
                        groups[(orig_rel, rel)].append(
                            (f"{orig_q}.{cands[0]}", f"{q}.{mm.name}", m.group(2) or ""))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                    and isinstance(onode, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if unit_tokens(node) >= MIN_UNIT_TOKENS:
                    groups[(orig_rel, rel)].append((orig_q, q, m.group(2) or ""))
    return groups


def _apply(name: str, renames: list[tuple[str, str]]) -> str:
    for a, b in renames:
        name = name.replace(a, b)
    return name


def make_cases(root: Path, n_cases: int, rng: random.Random) -> list[Case]:
    groups = collect(root)
    keys = sorted(groups)
    rng.shuffle(keys)
    out = []
    for i, (orig_rel, copy_rel) in enumerate(sorted(keys[:n_cases])):
        a_text = strip_markers((root / orig_rel).read_text())
        b_text = strip_markers((root / copy_rel).read_text())
        pairs: list[dict[str, object]] = [
            {"a": {"path": orig_rel, "qualname": oq}, "b": {"path": copy_rel, "qualname": cq},
             "tags": ["copied_from"] + (["renamed"] if ren else []), "role": "copy",
             "renames": ren}
            for oq, cq, ren in groups[(orig_rel, copy_rel)]
        ]
        # Only the marked functions are judged: unmarked ones may be copies nobody marked.
        judged = {p["b"]["qualname"] for p in pairs}  # type: ignore[index]
        judged_b = [j for j in judged_in_text(copy_rel, b_text) if j["qualname"] in judged]
        out.append(Case(f"COPIED-{i:04d}", "copied_from", "COPIED", {orig_rel: a_text},
                        {copy_rel: b_text}, pairs=pairs, judged_b=judged_b,
                        info={"a": orig_rel, "b": copy_rel}))
    return out


def count_pairs(root: Path) -> int:
    return sum(len(v) for v in collect(root).values())


__all__ = ["make_cases", "strip_markers", "count_pairs", "d"]
