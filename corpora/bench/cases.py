"""Repo pairs with ground truth: disguised copies (L0-L4) and honest negatives.

A case is a folder `<id>/a` (the original), `<id>/b` (the suspect) and `<id>/truth.json`:

  pairs      suspect function <- original function, with the disguises that touched it
  negatives  designated pairs that must NOT be flagged (same job, different authors; unrelated)
  shared     pairs of real shared upstream code (credited boilerplate): copied, so a detector is
             right to find them, but not plagiarism; excluded from both recall and false alarms
  judged_b   every function of b big enough to judge: the strict view looks at all of them
"""

from __future__ import annotations

import ast
import copy
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from . import disguise as d
from .pool import (
    MIN_UNIT_TOKENS,
    SourceFile,
    Unit,
    judged_functions,
    strip_docstrings,
    unit_tokens,
    units_of,
)


@dataclass
class Case:
    id: str
    kind: str  # positive | negative | copied_from
    level: str  # L0..L4, NEG-samejob, NEG-unrelated, NEG-shared, COPIED
    files_a: dict[str, str]
    files_b: dict[str, str]
    pairs: list[dict[str, object]] = field(default_factory=list)
    negatives: list[dict[str, object]] = field(default_factory=list)
    shared: list[dict[str, object]] = field(default_factory=list)
    judged_b: list[dict[str, str]] = field(default_factory=list)
    info: dict[str, object] = field(default_factory=dict)

    def write(self, root: Path) -> None:
        base = root / self.id
        for side, files in (("a", self.files_a), ("b", self.files_b)):
            for rel, text in files.items():
                p = base / side / rel
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_text(text)
        truth = {
            "id": self.id, "kind": self.kind, "level": self.level, "pairs": self.pairs,
            "negatives": self.negatives, "shared": self.shared, "judged_b": self.judged_b,
            "info": self.info,
        }
        (base / "truth.json").write_text(json.dumps(truth, indent=1) + "\n")


def judged_in_text(path: str, text: str) -> list[dict[str, str]]:
    """Functions and methods of a file with at least MIN_UNIT_TOKENS lexical tokens."""
    tree = ast.parse(text)
    out = []
    for cls, fn in d.functions_of(tree.body):
        if unit_tokens(fn) >= MIN_UNIT_TOKENS:
            out.append({"path": path, "qualname": f"{cls.name}.{fn.name}" if cls else fn.name})
    return out


def _shape(fn: ast.AST) -> str:
    """A function with its local names erased (attributes, literals and calls kept)."""
    clone = strip_docstrings(fn)
    for sub in ast.walk(clone):
        if isinstance(sub, ast.Name):
            sub.id = "_"
        elif isinstance(sub, ast.arg):
            sub.arg = "_"
            sub.annotation = None
        elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)):
            sub.name = "_"
            sub.returns = None
    return ast.dump(clone)


def clones_in(text: str) -> dict[str, list[str]]:
    """qualname -> the other functions of the file with the same shape. Original modules hold
    twins (transformers' TFBertOutput.call and TFBertSelfOutput.call): a copy of one is a copy of
    the other, and a tool that pairs it with the twin is not wrong."""
    tree = ast.parse(text)
    by_shape: dict[str, list[str]] = {}
    for cls, fn in d.functions_of(tree.body):
        q = f"{cls.name}.{fn.name}" if cls else fn.name
        by_shape.setdefault(_shape(fn), []).append(q)
    return {q: [x for x in group if x != q] for group in by_shape.values() if len(group) > 1
            for q in group}


def add_twins(case: Case) -> Case:
    for rel, text in case.files_a.items():
        twins = clones_in(text)
        for p in case.pairs:
            a = p["a"]
            if isinstance(a, dict) and a["path"] == rel and a["qualname"] in twins:
                p["a_twins"] = twins[a["qualname"]]
    return case


def _segment(sf: SourceFile, node: ast.stmt) -> str:
    lines = sf.text.splitlines()
    start = min([node.lineno] + [x.lineno for x in getattr(node, "decorator_list", [])])
    return "\n".join(lines[start - 1:node.end_lineno])


def _only_imports(stmts: list[ast.stmt]) -> bool:
    return all(isinstance(s, (ast.Import, ast.ImportFrom, ast.Pass)) or (
        isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)) for s in stmts)


def _imports(sf: SourceFile) -> list[ast.stmt]:
    """Module imports, guarded ones included (`if is_x_available(): import x`, `try: import x
    except ImportError: ...`): a copier takes them along, or the copy would not run."""
    out: list[ast.stmt] = []
    for s in sf.tree.body:
        if isinstance(s, (ast.Import, ast.ImportFrom)):
            out.append(s)
        elif isinstance(s, ast.If) and _only_imports(s.body) and _only_imports(s.orelse):
            out.append(s)
        elif isinstance(s, ast.Try) and _only_imports(s.body) and all(
                _only_imports(h.body) for h in s.handlers):
            out.append(s)
    return out


def verbatim_file(sf: SourceFile, nodes: list[ast.stmt]) -> str:
    """Imports and units cut from the original text, byte for byte (L0 and honest code)."""
    head = "\n".join(_segment(sf, s) for s in _imports(sf))
    return head + "\n\n\n" + "\n\n\n".join(_segment(sf, n) for n in nodes) + "\n"


def _callee_to_inline(sf: SourceFile, chosen: list[Unit]) -> ast.FunctionDef | None:
    """A top-level function of the same file that a chosen unit calls, simple enough to inline."""
    tops = {n.name: n for n in sf.tree.body if isinstance(n, ast.FunctionDef)}
    names = {u.qualname for u in chosen}
    for u in chosen:
        for sub in ast.walk(u.node):
            if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) \
                    and sub.func.id in tops and sub.func.id not in names:
                g = tops[sub.func.id]
                body = [s for s in g.body if not d._is_docstring(s)]
                if body and isinstance(body[-1], ast.Return) and not g.args.vararg \
                        and not g.args.kwarg and not g.args.kwonlyargs and len(body) <= 8:
                    return g
    return None


L4_DISGUISES = ("dead_code", "loop_comp", "for_while", "hints_defaults", "split", "inline",
                "move_files")


def make_positive(case_id: str, level: int, sf: SourceFile, chosen: list[Unit],
                  filler: list[tuple[SourceFile, Unit]], rng: random.Random,
                  only: str | None = None) -> Case:
    """A disguised copy at `level`; with `only`, an ablation case: L2 plus that one L4 disguise
    (so a miss can be blamed on one disguise)."""
    on = set(L4_DISGUISES) if only is None else {only}
    a_path = sf.path
    files_a = {a_path: sf.text}
    if level == 0:
        text = verbatim_file(sf, [u.node for u in chosen])
        for fsf, fu in filler:
            text += "\n\n" + _segment(fsf, fu.node) + "\n"
        files_b = {a_path: text}
        pairs = [{"a": {"path": a_path, "qualname": q}, "b": {"path": a_path, "qualname": q},
                  "tags": ["verbatim"], "role": "copy"}
                 for u in chosen for q, _ in judged_functions(u)]
        return Case(case_id, "positive", "L0", files_a, files_b, pairs=pairs,
                    judged_b=judged_in_text(a_path, text), info={"source": sf.path})

    nodes: list[ast.stmt] = []
    for u in chosen:
        node = copy.deepcopy(u.node)
        judged = dict(judged_functions(u))
        for cls, fn in d.functions_of([node]):
            q = f"{cls.name}.{fn.name}" if cls else fn.name
            if q in judged:
                fn._bench_origin = q  # type: ignore[union-attr]
                fn._bench_tags = []  # type: ignore[union-attr]
        nodes.append(node)
    callee = None
    if level >= 4 and "inline" in on and (only == "inline" or rng.random() < 0.7):
        g = _callee_to_inline(sf, chosen)
        if g is not None:
            callee = copy.deepcopy(g)
            nodes.append(callee)
    imports = [copy.deepcopy(s) for s in _imports(sf)]
    names = d.Names(rng, d.identifiers(nodes + imports) | d.identifiers([sf.tree]))
    case_tags: list[str] = ["reformat"]
    d.change_docstrings(nodes, rng)
    if level >= 2:
        d.rename_all(nodes, names)
        case_tags.append("rename_files")
    if level >= 3 and only is None:
        for _, fn in list(d.functions_of(nodes)):
            d.reorder_statements(fn, rng)
            d.fold_tuples(fn, rng)
        imports = d.change_import_styles(imports, nodes, rng)
        d.reorder_definitions(nodes, rng)
        case_tags += ["import_style", "reorder_defs"]
    helpers: list[ast.stmt] = []
    if level >= 4:
        if callee is not None:
            users = [fn for _, fn in d.functions_of(nodes) if fn is not callee
                     and d.calls_name(fn, callee.name)]
            inlined = [fn for fn in users if d.inline_helper(fn, callee, names)]
            if inlined and not any(d.calls_name(n, callee.name) for n in nodes
                                   if n is not callee):
                nodes.remove(callee)
        has_torch = any("torch" in ast.unparse(i) for i in imports)
        for _, fn in list(d.functions_of(nodes)):
            if not hasattr(fn, "_bench_origin"):
                continue
            if "dead_code" in on:
                d.insert_dead_code(fn, rng, names)
            if "loop_comp" in on:
                d.loops_and_comprehensions(fn, rng)
            if "for_while" in on:
                d.for_and_while(fn, rng)
            if "hints_defaults" in on:
                d.hints_and_defaults(fn, rng, has_torch)
            if "split" in on and (only == "split" or rng.random() < 0.5):
                h = d.split_helper(fn, rng, names)
                if h is not None:
                    helpers.append(h)
        nodes.extend(helpers)
    # Filler: the suspect's own, unrelated code (never judged).
    for fsf, fu in filler:
        nodes.insert(rng.randint(0, len(nodes)), copy.deepcopy(fu.node))
        imports.extend(copy.deepcopy(s) for s in _imports(fsf))

    pkg = names.var() if level >= 2 else a_path.split("/")[0]
    if level >= 2:
        stems = [names.var() for _ in range(3)]
    else:
        stems = [Path(a_path).stem]
    n_files = rng.choice((2, 3)) if level >= 4 and "move_files" in on and len(nodes) >= 2 else 1
    buckets: list[list[ast.stmt]] = [[] for _ in range(n_files)]
    for i, node in enumerate(nodes):
        buckets[i % n_files if i < n_files else rng.randrange(n_files)].append(node)
    if n_files > 1:
        case_tags.append("moved_files")
    defined = [{n.name for n in b if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                    ast.ClassDef))} for b in buckets]
    for node in nodes + imports:
        ast.fix_missing_locations(node)
    files_b: dict[str, str] = {}
    truth_pairs: list[dict[str, object]] = []
    for k, bucket in enumerate(buckets):
        rel = f"{pkg}/{stems[k]}.py" if level >= 2 else a_path
        used = {s.id for n in bucket for s in ast.walk(n) if isinstance(s, ast.Name)}
        cross = [ast.ImportFrom(module=stems[j], names=[ast.alias(x) for x in sorted(
            defined[j] & used)], level=1) for j in range(n_files) if j != k and defined[j] & used]
        for x in cross:
            ast.fix_missing_locations(x)
        head = "\n".join(ast.unparse(i) for i in imports + cross)
        body = "\n\n\n".join(ast.unparse(n) for n in bucket)
        text = head + "\n\n\n" + body + "\n"
        text = d.add_comments(text, rng)
        ast.parse(text)  # a disguise that breaks the syntax is a bug in the generator
        files_b[rel] = text
        for cls, fn in d.functions_of(bucket):
            origin = getattr(fn, "_bench_origin", None)
            if origin is None or unit_tokens(fn) < MIN_UNIT_TOKENS:
                continue
            truth_pairs.append({
                "a": {"path": a_path, "qualname": origin},
                "b": {"path": rel, "qualname": f"{cls.name}.{fn.name}" if cls else fn.name},
                "tags": list(getattr(fn, "_bench_tags", [])),
                "role": getattr(fn, "_bench_role", "copy"),
            })
    judged_b = [j for rel, text in files_b.items() for j in judged_in_text(rel, text)]
    return Case(case_id, "positive", f"A-{only}" if only else f"L{level}", files_a, files_b,
                pairs=truth_pairs, judged_b=judged_b,
                info={"source": sf.path, "case_tags": case_tags})


def _find_unit(files: dict[tuple[str, str], SourceFile], spec: dict[str, str]
               ) -> tuple[SourceFile, Unit] | None:
    sf = files.get((spec["package"], spec["path"]))
    if sf is None:
        return None
    for u in units_of(sf):
        if u.qualname == spec["qualname"]:
            return sf, u
    return None


def _designated(ua: Unit, ub: Unit, a_path: str, b_path: str,
                methods: dict[str, str] | None) -> list[tuple[str, str]]:
    fa = dict(judged_functions(ua))
    fb = dict(judged_functions(ub))
    out = []
    if methods:
        for ma, mb in methods.items():
            qa = f"{ua.qualname}.{ma}" if ua.kind == "class" else ua.qualname
            qb = f"{ub.qualname}.{mb}" if ub.kind == "class" else ub.qualname
            if qa in fa and qb in fb:
                out.append((qa, qb))
    if not out:
        same = [(qa, qb) for qa in fa for qb in fb if qa.split(".")[-1] == qb.split(".")[-1]]
        out = same or [(qa, qb) for qa in fa for qb in fb]
    return out


def make_pair_case(case_id: str, level: str, sa: SourceFile, ua: Unit, sb: SourceFile,
                   ub: Unit, job: str, methods: dict[str, str] | None, shared: bool,
                   rng: random.Random, avoid: frozenset[tuple[str, str]] = frozenset()) -> Case:
    """An honest suspect (or one holding credited shared code): b's unit and a neighbour of it,
    verbatim, against the whole file a's unit lives in. `avoid` names (path, qualname) units
    known to be shared code: they never come along as neighbours of an honest unit."""
    # Shared-code files hold more shared code: their neighbours would be copies too.
    neighbours = [] if shared else [u for u in units_of(sb) if u.qualname != ub.qualname
                                    and (sb.path, u.qualname) not in avoid]
    extra = rng.sample(neighbours, min(len(neighbours), rng.choice((0, 1, 1, 2))))
    b_nodes = sorted([ub.node] + [u.node for u in extra], key=lambda n: n.lineno)
    b_rel = sb.path if sb.path != sa.path else "other/" + sb.path
    text = verbatim_file(sb, b_nodes)
    rows = [{"a": {"path": sa.path, "qualname": qa}, "b": {"path": b_rel, "qualname": qb},
             "job": job} for qa, qb in _designated(ua, ub, sa.path, b_rel, methods)]
    return Case(case_id, "negative", level, {sa.path: sa.text}, {b_rel: text},
                negatives=[] if shared else rows, shared=rows if shared else [],
                judged_b=judged_in_text(b_rel, text),
                info={"a": f"{sa.package}:{sa.path}::{ua.qualname}",
                      "b": f"{sb.package}:{sb.path}::{ub.qualname}", "job": job})


def make_unrelated(case_id: str, sa: SourceFile, sb: SourceFile, rng: random.Random) -> Case:
    ub = units_of(sb)
    chosen = sorted(rng.sample(ub, min(len(ub), rng.randint(1, 3))), key=lambda u: u.node.lineno)
    text = verbatim_file(sb, [u.node for u in chosen])
    b_rel = sb.path if sb.path != sa.path else "other/" + sb.path
    a_funcs = [q for u in units_of(sa) for q, _ in judged_functions(u)]
    rows = []
    for u in chosen:
        for qb, _ in judged_functions(u):
            if a_funcs:
                rows.append({"a": {"path": sa.path, "qualname": rng.choice(a_funcs)},
                             "b": {"path": b_rel, "qualname": qb}, "job": "unrelated"})
    return Case(case_id, "negative", "NEG-unrelated", {sa.path: sa.text}, {b_rel: text},
                negatives=rows, judged_b=judged_in_text(b_rel, text),
                info={"a": f"{sa.package}:{sa.path}", "b": f"{sb.package}:{sb.path}"})
