"""Check truth.json against the three projects of this corpus.

Reads the sources with `ast` (nothing is imported or run) and verifies that:
  - every unit named in truth.json exists at the path and qualified name given;
  - every unit of disguised/ is accounted for (paired with an original, or listed as new);
  - every unit of original/ was used by at least one pair;
  - each rename's original name occurs in original/ and its disguised name in disguised/,
    and no definition in disguised/ still carries a renamed function or class name;
  - every file parses (notebooks: JSON, nbformat 4, code cells with magics blanked).

    python corpora/vlm/check_truth.py        # exit status 1 and a list of problems if any
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECTS = ("original", "disguised", "independent")
DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def notebook_source(path: Path) -> str:
    nb = json.loads(path.read_text(encoding="utf-8"))
    if nb.get("nbformat") != 4:
        raise ValueError(f"{path}: not nbformat 4")
    cells = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        text = "".join(cell["source"])
        # IPython magics and shell escapes are not Python: blank them, keep line numbers
        lines = ["" if ln.lstrip().startswith(("%", "!")) else ln for ln in text.split("\n")]
        cells.append("\n".join(lines))
    return "\n".join(cells)


def parse_project(root: Path) -> dict[str, ast.Module]:
    trees = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.suffix == ".py":
            trees[rel] = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
        elif path.suffix == ".ipynb":
            trees[rel] = ast.parse(notebook_source(path), filename=rel)
    return trees


def units(trees: dict[str, ast.Module]) -> set[str]:
    """path::qualname of every function, method and class, nested ones as outer.inner."""
    found: set[str] = set()

    def walk(node: ast.AST, rel: str, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, DEFS):
                qual = prefix + child.name
                found.add(f"{rel}::{qual}")
                walk(child, rel, qual + ".")
            else:
                walk(child, rel, prefix)

    for rel, tree in trees.items():
        walk(tree, rel, "")
    return found


def identifiers(trees: dict[str, ast.Module]) -> tuple[set[str], set[str]]:
    """(every identifier a project uses, the names it defines with def/class)."""
    names: set[str] = set()
    defined: set[str] = set()
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, DEFS):
                names.add(node.name)
                defined.add(node.name)
            elif isinstance(node, ast.Name):
                names.add(node.id)
            elif isinstance(node, ast.Attribute):
                names.add(node.attr)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
    return names, defined


def main() -> int:
    truth = json.loads((HERE / "truth.json").read_text(encoding="utf-8"))
    trees = {name: parse_project(HERE / name) for name in PROJECTS}
    unit_sets = {name: units(t) for name, t in trees.items()}
    problems: list[str] = []

    for pair in truth["units"]:
        for side, project in (("original", "original"), ("disguised", "disguised")):
            if pair[side] not in unit_sets[project]:
                problems.append(f"{side} unit not found: {pair[side]}")
        if pair["how"] not in truth["how_vocabulary"]:
            problems.append(f"unknown how {pair['how']!r} for {pair['disguised']}")
        for tech in pair.get("techniques", []):
            if tech not in truth["technique_vocabulary"]:
                problems.append(f"unknown technique {tech!r} for {pair['disguised']}")

    paired_b = {p["disguised"] for p in truth["units"]}
    paired_a = {p["original"] for p in truth["units"]}
    new = set(truth["new_in_disguised"])
    for key in sorted(new):
        if key not in unit_sets["disguised"]:
            problems.append(f"new unit not found: {key}")
        if key in paired_b:
            problems.append(f"unit listed both as new and as copied: {key}")
    for key in sorted(unit_sets["disguised"] - paired_b - new):
        problems.append(f"disguised unit missing from truth.json: {key}")
    for key in sorted(unit_sets["original"] - paired_a):
        problems.append(f"original unit never paired: {key}")

    # how=split needs both halves, how=merged needs both originals
    for how, field, other in (("split", "original", "disguised"), ("merged", "disguised", "original")):
        groups: dict[str, set[str]] = {}
        for p in truth["units"]:
            if p["how"] == how:
                groups.setdefault(p[field], set()).add(p[other])
        for key, members in groups.items():
            if len(members) < 2:
                problems.append(f"{how} unit {key} has only one counterpart")

    names_a, _ = identifiers(trees["original"])
    names_b, defined_b = identifiers(trees["disguised"])
    for r in truth["renames"]:
        if r["original"] not in names_a:
            problems.append(f"rename source {r['original']!r} does not occur in original/")
        if r["disguised"] not in names_b:
            problems.append(f"rename target {r['disguised']!r} does not occur in disguised/")
        if r.get("kind") in ("class", "function", "method") and r["original"] in defined_b:
            problems.append(f"{r['original']!r} is still defined in disguised/")
    if len(truth["renames"]) < 25:
        problems.append("fewer than 25 renames listed")

    for name in PROJECTS:
        print(f"{name}: {len(trees[name])} files, {len(unit_sets[name])} units")
    print(f"truth: {len(truth['units'])} pairs, {len(new)} new units, {len(truth['renames'])} renames")
    for p in problems:
        print("PROBLEM:", p)
    print("ok" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
