"""Where the corpus takes its code from: pinned wheels read as text, or our own seed files.

Nothing here imports the packages it reads. Wheels are `pip download --no-deps`ed into a
scratch folder outside the repository and their `.py` members are extracted there as text;
`ast` and `tokenize` are the only things that look at them.
"""

from __future__ import annotations

import ast
import io
import logging
import subprocess
import sys
import tokenize
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

# Pinned so that two runs of the benchmark read the same code. transformers 4.46.3 is the
# version the `Copied from` set is taken from.
WHEELS: dict[str, str] = {
    "transformers": "4.46.3",
    "diffusers": "0.31.0",
    "peft": "0.13.2",
    "accelerate": "1.1.1",
    "timm": "1.0.11",
}

MAX_FILE_BYTES = 400_000  # generated tables and dummy-object files are not code anyone copies
MIN_UNIT_TOKENS = 40  # Python lexical tokens (no comments, docstrings or layout)
MAX_UNIT_LINES = 150


@dataclass
class SourceFile:
    package: str
    path: str  # posix path inside the package root, e.g. transformers/models/vit/modeling_vit.py
    text: str
    tree: ast.Module


@dataclass
class Unit:
    """A top-level function or class of a source file (classes carry their methods)."""

    package: str
    path: str
    qualname: str
    kind: str  # "function" | "class"
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
    tokens: int
    methods: list[str] = field(default_factory=list)


def ensure_wheels(work: Path) -> dict[str, Path]:
    """Download (once) and extract the pinned wheels; return package -> extracted root."""
    wheels = work / "wheels"
    src = work / "src"
    wheels.mkdir(parents=True, exist_ok=True)
    roots: dict[str, Path] = {}
    for name, version in WHEELS.items():
        pattern = f"{name}-{version}-*.whl"
        found = sorted(wheels.glob(pattern))
        if not found:
            log.info("downloading %s==%s", name, version)
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                 "--only-binary=:all:", f"{name}=={version}", "-d", str(wheels)],
                check=True,
            )
            found = sorted(wheels.glob(pattern))
        root = src / f"{name}-{version}"
        if not (root / ".done").exists():
            root.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(found[0]) as zf:
                for member in zf.namelist():
                    # Only source text, and never a path that climbs out of the folder.
                    if member.endswith(".py") and ".." not in Path(member).parts:
                        zf.extract(member, root)
            (root / ".done").write_text("ok\n")
        roots[name] = root
    return roots


def read_file(package: str, root: Path, rel: str) -> SourceFile | None:
    path = root / rel
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    if len(raw) > MAX_FILE_BYTES:
        return None
    try:
        text = raw.decode("utf-8")
        tree = ast.parse(text)
    except (UnicodeDecodeError, SyntaxError, ValueError):
        return None
    return SourceFile(package, rel, text, tree)


def iter_files(package: str, root: Path) -> list[SourceFile]:
    out = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if "/dummy_" in rel or "/tests/" in rel or rel.endswith("__init__.py"):
            continue
        sf = read_file(package, root, rel)
        if sf is not None:
            out.append(sf)
    return out


def count_tokens(text: str) -> int:
    """Lexical tokens without comments, layout or string-only statements (docstrings)."""
    n = 0
    try:
        toks = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return 0
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
            tokenize.DEDENT, tokenize.ENDMARKER}
    for tok in toks:
        if tok.type not in skip:
            n += 1
    return n


def unit_tokens(node: ast.AST) -> int:
    clone = strip_docstrings(node)
    return count_tokens(ast.unparse(clone))


def strip_docstrings(node: ast.AST) -> ast.AST:
    import copy

    clone = copy.deepcopy(node)
    for sub in ast.walk(clone):
        if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)):
            body = sub.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                sub.body = body[1:] or [ast.Pass()]
    return clone


def function_units(node: ast.ClassDef) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [m for m in node.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))]


def units_of(sf: SourceFile, limit: bool = True) -> list[Unit]:
    """Top-level functions and classes big enough to be worth copying (and to be judged);
    with `limit`, not so big that one case is one giant class."""
    out = []
    for node in sf.tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        lines = (node.end_lineno or node.lineno) - node.lineno + 1
        if limit and lines > MAX_UNIT_LINES * (3 if isinstance(node, ast.ClassDef) else 1):
            continue
        if isinstance(node, ast.ClassDef):
            methods = [m for m in function_units(node) if unit_tokens(m) >= MIN_UNIT_TOKENS]
            if not methods:
                continue
            out.append(Unit(sf.package, sf.path, node.name, "class", node,
                            sum(unit_tokens(m) for m in methods), [m.name for m in methods]))
        else:
            n = unit_tokens(node)
            if n >= MIN_UNIT_TOKENS:
                out.append(Unit(sf.package, sf.path, node.name, "function", node, n))
    return out


def judged_functions(unit: Unit) -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """The functions of a unit the ground truth speaks about: (qualname, node)."""
    if isinstance(unit.node, ast.ClassDef):
        return [(f"{unit.node.name}.{m.name}", m) for m in function_units(unit.node)
                if unit_tokens(m) >= MIN_UNIT_TOKENS]
    return [(unit.node.name, unit.node)]  # type: ignore[list-item]
