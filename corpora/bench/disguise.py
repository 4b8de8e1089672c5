"""The disguises, one small `ast` transformation each, applied level by level.

L1 reformat + comments/docstrings, L2 + consistent renaming, L3 + reordering, tuple folding
and import styles, L4 + dead code, loop <-> comprehension, for <-> while, helper split/inline,
type hints and defaults, code moved across files. Each function node carries where it came
from (`_bench_origin`) and which disguises touched it (`_bench_tags`), so the ground truth and
the per-disguise breakdown survive every rewrite.
"""

from __future__ import annotations

import ast
import builtins
import copy
import keyword
import random
from collections.abc import Iterator

FuncNode = ast.FunctionDef | ast.AsyncFunctionDef

# Methods whose names the base class (torch.nn.Module, a scheduler) calls: a copier who renames
# them breaks the copy, so they keep their names. Dunders likewise.
FRAMEWORK_METHODS = frozenset({
    "forward", "extra_repr", "reset_parameters", "step", "get_lr", "state_dict",
    "load_state_dict", "setup", "train", "eval",
})

WORDS = (
    "feat buf acc proj hid emb tok seq blk out res tmp val key qry ctx cur nxt prev lyr head dim "
    "grid patch scale norm gate mix fuse pool span idx cnt num sz shp mask wt bias rate step lr "
    "phase state cache item elem part chunk slot node unit core base aux extra alt main src dst "
    "data info meta spec conf opts args kw ret pair map lut tab mem reg sig act score logit prob "
    "z h q k v w u x0 x1 y0 y1 m n"
).split()

RESERVED = frozenset(dir(builtins)) | frozenset(keyword.kwlist) | {"self", "cls", "torch", "np",
                                                                   "nn", "F", "math", "os"}


def _is_docstring(stmt: ast.stmt) -> bool:
    return (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
            and isinstance(stmt.value.value, str))


def tag(fn: ast.AST, name: str) -> None:
    tags = getattr(fn, "_bench_tags", None)
    if tags is None:
        tags = []
        fn._bench_tags = tags  # type: ignore[attr-defined]
    if name not in tags:
        tags.append(name)


class Names:
    """Fresh, plausible, collision-free identifiers drawn from a seeded generator."""

    def __init__(self, rng: random.Random, taken: set[str]) -> None:
        self.rng = rng
        self.taken = set(taken) | set(RESERVED)

    def _fresh(self, make: str) -> str:
        for _ in range(1000):
            parts = [self.rng.choice(WORDS) for _ in range(self.rng.choice((1, 2, 2, 3)))]
            if make == "class":
                name = "".join(p.capitalize() for p in parts)
            else:
                name = "_".join(parts)
                if make == "private":
                    name = "_" + name
            if name not in self.taken and name.isidentifier():
                self.taken.add(name)
                return name
        raise RuntimeError("name space exhausted")

    def var(self) -> str:
        return self._fresh("var")

    def cls(self) -> str:
        return self._fresh("class")

    def helper(self) -> str:
        return self._fresh("private")


def identifiers(nodes: list[ast.AST]) -> set[str]:
    out: set[str] = set()
    for node in nodes:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name):
                out.add(sub.id)
            elif isinstance(sub, ast.Attribute):
                out.add(sub.attr)
            elif isinstance(sub, ast.arg):
                out.add(sub.arg)
            elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                out.add(sub.name)
            elif isinstance(sub, ast.alias):
                out.add((sub.asname or sub.name).split(".")[0])
    return out


def functions_of(nodes: list[ast.stmt]) -> Iterator[tuple[ast.ClassDef | None, FuncNode]]:
    """Top-level functions and the methods of top-level classes (the judged units)."""
    for node in nodes:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield None, node
        elif isinstance(node, ast.ClassDef):
            for m in node.body:
                if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    yield node, m


# ----------------------------------------------------------------------------------- L1
def change_docstrings(nodes: list[ast.stmt], rng: random.Random) -> None:
    """Docstrings removed or replaced: text that says nothing about the code's shape."""
    notes = ["Compute the result.", "Helper used by the model.", "See the paper for details.",
             "Forward computation.", "Internal utility."]
    for node in nodes:
        for sub in ast.walk(node):
            if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if sub.body and _is_docstring(sub.body[0]):
                    if rng.random() < 0.6:
                        sub.body = sub.body[1:] or [ast.Pass()]
                    else:
                        sub.body[0] = ast.Expr(ast.Constant(rng.choice(notes)))
                    if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        tag(sub, "docstring")


def add_comments(text: str, rng: random.Random, rate: float = 0.08) -> str:
    """Comment lines sprinkled over unparsed code (ast.unparse emits no multi-line literals
    except docstrings, which we made one-liners, so every line start is a safe place)."""
    notes = ["# keep shapes aligned", "# NOTE: see above", "# TODO: vectorize",
             "# small tweak", "# compute intermediate", "# fix later"]
    out = []
    for line in text.splitlines():
        stripped = line.lstrip()
        if stripped and not stripped.startswith(("@", ")", "]", "}")) and rng.random() < rate:
            indent = line[: len(line) - len(stripped)]
            out.append(indent + rng.choice(notes))
        out.append(line)
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------------- L2
def _locals_of(fn: FuncNode) -> set[str]:
    names: set[str] = set()
    for sub in ast.walk(fn):
        if isinstance(sub, ast.arg):
            names.add(sub.arg)
        elif isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store, ast.Del)):
            names.add(sub.id)
        elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)) and sub is not fn:
            names.add(sub.name)
        elif isinstance(sub, ast.ExceptHandler) and sub.name:
            names.add(sub.name)
        elif isinstance(sub, (ast.Global, ast.Nonlocal)):
            names.difference_update(sub.names)
    return names - {"self", "cls"}


def _params_of(fn: FuncNode) -> list[str]:
    a = fn.args
    return [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs]


class _Rename(ast.NodeTransformer):
    def __init__(self, local: dict[str, str], glob: dict[str, str], attrs: dict[str, str],
                 call_params: dict[str, dict[str, str]], self_params: dict[str, dict[str, str]]):
        self.local = local
        self.glob = glob
        self.attrs = attrs
        self.call_params = call_params
        self.self_params = self_params

    def visit_Name(self, node: ast.Name) -> ast.Name:
        node.id = self.local.get(node.id, self.glob.get(node.id, node.id))
        return node

    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.arg = self.local.get(node.arg, node.arg)
        if node.annotation is not None:
            self.visit(node.annotation)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.Attribute:
        self.generic_visit(node)
        node.attr = self.attrs.get(node.attr, node.attr)
        return node

    def visit_Call(self, node: ast.Call) -> ast.Call:
        params: dict[str, str] = {}
        f = node.func
        if isinstance(f, ast.Name):
            params = self.call_params.get(f.id, {})
        elif isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) \
                and f.value.id in ("self", "cls"):
            params = self.self_params.get(f.attr, {})
        for kw in node.keywords:
            if kw.arg is not None:
                kw.arg = params.get(kw.arg, kw.arg)
        self.generic_visit(node)
        return node

    def visit_FunctionDef(self, node: FuncNode) -> FuncNode:  # nested functions
        node.name = self.local.get(node.name, node.name)
        self.generic_visit(node)
        return node

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]


def rename_all(nodes: list[ast.stmt], names: Names) -> dict[str, str]:
    """Consistent renaming of every user-defined name: functions, classes, methods, parameters,
    locals and `self.` attributes (per-function scopes for locals; keyword arguments of calls
    to renamed functions follow their parameters). Returns the top-level rename map."""
    glob: dict[str, str] = {}
    attrs: dict[str, str] = {}
    for node in nodes:
        if isinstance(node, ast.ClassDef):
            glob[node.name] = names.cls()
            for m in node.body:
                if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                        and not m.name.startswith("__") and m.name not in FRAMEWORK_METHODS:
                    attrs.setdefault(m.name, names.var())
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            glob[node.name] = names.var()
        for sub in ast.walk(node):
            if isinstance(sub, ast.Attribute) and isinstance(sub.ctx, ast.Store) \
                    and isinstance(sub.value, ast.Name) and sub.value.id == "self" \
                    and not sub.attr.startswith("__"):
                attrs.setdefault(sub.attr, names.var())
    local_maps: dict[int, dict[str, str]] = {}
    call_params: dict[str, dict[str, str]] = {}
    self_params: dict[str, dict[str, str]] = {}
    for cls, fn in functions_of(nodes):
        local = {n: names.var() for n in sorted(_locals_of(fn))}
        local_maps[id(fn)] = local
        pmap = {p: local[p] for p in _params_of(fn) if p in local}
        if cls is None:
            call_params[fn.name] = pmap
        else:
            self_params[fn.name] = pmap
            if fn.name == "__init__":
                call_params[cls.name] = pmap
    for node in nodes:
        if isinstance(node, ast.ClassDef):
            for i, m in enumerate(node.body):
                if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    r = _Rename(local_maps[id(m)], glob, attrs, call_params, self_params)
                    for part in m.body + [m.args] + m.decorator_list + (
                            [m.returns] if m.returns else []):
                        r.visit(part)
                    m.name = attrs.get(m.name, m.name)
                    if m.name != getattr(m, "_bench_name0", m.name):
                        pass
                    tag(m, "rename")
                else:
                    node.body[i] = _Rename({}, glob, attrs, call_params, self_params).visit(m)
            for i, b in enumerate(node.bases):
                node.bases[i] = _Rename({}, glob, {}, {}, {}).visit(b)
            node.name = glob[node.name]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            r = _Rename(local_maps[id(node)], glob, attrs, call_params, self_params)
            for part in node.body + [node.args] + node.decorator_list + (
                    [node.returns] if node.returns else []):
                r.visit(part)
            node.name = glob[node.name]
            tag(node, "rename")
    return glob


# ----------------------------------------------------------------------------------- L3
def _rw(stmt: ast.AST) -> tuple[set[str], set[str]]:
    """Names (and `base.attr` paths) a statement reads and writes."""
    reads: set[str] = set()
    writes: set[str] = set()
    for sub in ast.walk(stmt):
        if isinstance(sub, ast.Name):
            (writes if isinstance(sub.ctx, (ast.Store, ast.Del)) else reads).add(sub.id)
        elif isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name):
            key = f"{sub.value.id}.{sub.attr}"
            (writes if isinstance(sub.ctx, (ast.Store, ast.Del)) else reads).add(key)
        elif isinstance(sub, ast.Subscript) and isinstance(sub.ctx, ast.Store) \
                and isinstance(sub.value, ast.Name):
            writes.add(sub.value.id)
    if isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name):
        reads.add(stmt.target.id)
    return reads, writes


def _simple_assign(stmt: ast.stmt) -> bool:
    return isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign))


def _independent(s1: ast.stmt, s2: ast.stmt) -> bool:
    r1, w1 = _rw(s1)
    r2, w2 = _rw(s2)
    return not (w1 & (r2 | w2)) and not (w2 & r1)


def stmt_lists(node: ast.AST) -> Iterator[list[ast.stmt]]:
    """Every statement list inside a function (bodies of if/for/while/with/try too)."""
    for sub in ast.walk(node):
        for fld in ("body", "orelse", "finalbody"):
            lst = getattr(sub, fld, None)
            if isinstance(lst, list) and lst and isinstance(lst[0], ast.stmt):
                yield lst
        if isinstance(sub, ast.Try):
            for h in sub.handlers:
                yield h.body


def reorder_statements(fn: FuncNode, rng: random.Random) -> bool:
    """Independent neighbouring assignments swapped: defeats order-sensitive matching."""
    done = False
    for lst in list(stmt_lists(fn)):
        for i in range(len(lst) - 1):
            a, b = lst[i], lst[i + 1]
            if _simple_assign(a) and _simple_assign(b) and _independent(a, b) \
                    and rng.random() < 0.6:
                lst[i], lst[i + 1] = b, a
                done = True
    if done:
        tag(fn, "reorder")
    return done


def _single_target(stmt: ast.stmt) -> ast.expr | None:
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 \
            and isinstance(stmt.targets[0], (ast.Name, ast.Attribute)):
        return stmt.targets[0]
    return None


def fold_tuples(fn: FuncNode, rng: random.Random) -> bool:
    """`a = x; b = y` -> `a, b = x, y`, and `a, b = x, y` -> two statements."""
    done = False
    for lst in list(stmt_lists(fn)):
        i = 0
        while i < len(lst):
            s = lst[i]
            if isinstance(s, ast.Assign) and len(s.targets) == 1 \
                    and isinstance(s.targets[0], ast.Tuple) and isinstance(s.value, ast.Tuple) \
                    and len(s.targets[0].elts) == len(s.value.elts) \
                    and all(isinstance(e, (ast.Name, ast.Attribute)) for e in s.targets[0].elts) \
                    and not any(isinstance(e, ast.Starred) for e in s.value.elts):
                _, writes = _rw(s.targets[0])
                reads, _ = _rw(s.value)
                if not writes & reads and rng.random() < 0.8:
                    new = [ast.Assign(targets=[t], value=v)
                           for t, v in zip(s.targets[0].elts, s.value.elts, strict=True)]
                    for t in new[0].targets:
                        t.ctx = ast.Store()
                    lst[i:i + 1] = new
                    i += len(new)
                    done = True
                    tag(fn, "tuple_unfold")
                    continue
            if i + 1 < len(lst):
                t1, t2 = _single_target(s), _single_target(lst[i + 1])
                if t1 is not None and t2 is not None and _independent(s, lst[i + 1]) \
                        and rng.random() < 0.5:
                    s2 = lst[i + 1]
                    assert isinstance(s, ast.Assign) and isinstance(s2, ast.Assign)
                    lst[i:i + 2] = [ast.Assign(
                        targets=[ast.Tuple(elts=[t1, t2], ctx=ast.Store())],
                        value=ast.Tuple(elts=[s.value, s2.value], ctx=ast.Load()))]
                    done = True
                    tag(fn, "tuple_fold")
            i += 1
    return done


def _expr(text: str) -> ast.expr:
    value = ast.parse(text, mode="eval").body
    return value


class _Qualify(ast.NodeTransformer):
    def __init__(self, name: str, dotted: str) -> None:
        self.name = name
        self.dotted = dotted

    def visit_Name(self, node: ast.Name) -> ast.expr:
        if node.id == self.name and isinstance(node.ctx, ast.Load):
            return ast.copy_location(_expr(self.dotted), node)
        return node


def change_import_styles(imports: list[ast.stmt], nodes: list[ast.stmt],
                         rng: random.Random) -> list[ast.stmt]:
    """`import a.b as c` <-> `from a import b as c`; `from a import b` -> `import a` with the
    uses spelled `a.b`; `from a import b, c` split. Copiers change these to look different."""
    out: list[ast.stmt] = []
    user_names = identifiers(nodes)
    for imp in imports:
        if isinstance(imp, ast.Import):
            for al in imp.names:
                if al.asname and "." in al.name and rng.random() < 0.6:
                    mod, _, last = al.name.rpartition(".")
                    out.append(ast.ImportFrom(module=mod, names=[
                        ast.alias(name=last, asname=None if al.asname == last else al.asname)],
                        level=0))
                else:
                    out.append(ast.Import(names=[al]))
        elif isinstance(imp, ast.ImportFrom) and imp.level == 0 and imp.module \
                and not imp.module.startswith("__"):
            for al in imp.names:
                local = al.asname or al.name
                root = imp.module.split(".")[0]
                if al.name != "*" and rng.random() < 0.35 and root not in user_names - {local}:
                    out.append(ast.Import(names=[ast.alias(name=imp.module)]))
                    q = _Qualify(local, f"{imp.module}.{al.name}")
                    for n in nodes:
                        q.visit(n)
                elif al.name != "*" and not al.asname and "." not in imp.module \
                        and rng.random() < 0.2:
                    out.append(ast.Import(names=[ast.alias(name=f"{imp.module}.{al.name}",
                                                           asname=al.name)]))
                else:
                    out.append(ast.ImportFrom(module=imp.module, names=[al], level=0))
        else:
            out.append(imp)
    rng.shuffle(out)
    seen: set[str] = set()
    unique = []
    for imp in out:
        key = ast.unparse(ast.fix_missing_locations(imp))
        if key not in seen:
            seen.add(key)
            unique.append(imp)
    return unique


def reorder_definitions(nodes: list[ast.stmt], rng: random.Random) -> None:
    rng.shuffle(nodes)
    for node in nodes:
        if isinstance(node, ast.ClassDef):
            head = [m for m in node.body if not isinstance(m, (ast.FunctionDef,
                                                               ast.AsyncFunctionDef))]
            methods = [m for m in node.body if isinstance(m, (ast.FunctionDef,
                                                              ast.AsyncFunctionDef))]
            rng.shuffle(methods)
            node.body = head + methods


# ----------------------------------------------------------------------------------- L4
def insert_dead_code(fn: FuncNode, rng: random.Random, names: Names) -> bool:
    """Statements that never run or whose results are never used."""
    body = fn.body
    start = 1 if body and _is_docstring(body[0]) else 0
    params = [p for p in _params_of(fn) if p not in ("self", "cls")]
    simple = [s for s in ast.walk(fn) if isinstance(s, (ast.Assign, ast.AugAssign))]
    for _ in range(rng.choice((1, 2, 2, 3))):
        v = names.var()
        choices = [
            f"{v} = None",
            f"for {v} in range(0):\n    pass",
            f"{v} = []\n{v}.clear()",
        ]
        if params:
            p = rng.choice(params)
            choices.append(f"{v} = {p} is None")
            choices.append(f"if {p} is None and {p} is not None:\n    raise RuntimeError('unreachable')")
        stmts = ast.parse(rng.choice(choices)).body
        if simple and rng.random() < 0.4:
            stmts = [ast.If(test=ast.Constant(False), body=[copy.deepcopy(rng.choice(simple))],
                            orelse=[])]
        limit = len(body) - (1 if isinstance(body[-1], ast.Return) else 0)
        pos = rng.randint(start, max(start, limit))
        body[pos:pos] = stmts
    tag(fn, "dead_code")
    return True


def _append_loop(stmt: ast.stmt) -> tuple[str, ast.comprehension, ast.expr] | None:
    """`for t in it: [if c:] x.append(e)` -> (x, comprehension, e)."""
    if not isinstance(stmt, ast.For) or stmt.orelse or len(stmt.body) != 1:
        return None
    inner = stmt.body[0]
    ifs: list[ast.expr] = []
    if isinstance(inner, ast.If) and not inner.orelse and len(inner.body) == 1:
        ifs = [inner.test]
        inner = inner.body[0]
    if isinstance(inner, ast.Expr) and isinstance(inner.value, ast.Call) \
            and isinstance(inner.value.func, ast.Attribute) and inner.value.func.attr == "append" \
            and isinstance(inner.value.func.value, ast.Name) and len(inner.value.args) == 1 \
            and not inner.value.keywords:
        comp = ast.comprehension(target=stmt.target, iter=stmt.iter, ifs=ifs, is_async=0)
        return inner.value.func.value.id, comp, inner.value.args[0]
    return None


def loops_and_comprehensions(fn: FuncNode, rng: random.Random) -> bool:
    """`x = []; for ...: x.append(e)` <-> `x = [e for ...]`."""
    done = False
    for lst in list(stmt_lists(fn)):
        i = 0
        while i < len(lst):
            s = lst[i]
            if i + 1 < len(lst) and isinstance(s, ast.Assign) and len(s.targets) == 1 \
                    and isinstance(s.targets[0], ast.Name) and isinstance(s.value, ast.List) \
                    and not s.value.elts:
                found = _append_loop(lst[i + 1])
                if found and found[0] == s.targets[0].id:
                    name, comp, elt = found
                    lst[i:i + 2] = [ast.Assign(targets=[ast.Name(name, ast.Store())],
                                               value=ast.ListComp(elt=elt, generators=[comp]))]
                    tag(fn, "loop_to_comp")
                    done = True
            elif isinstance(s, ast.Assign) and len(s.targets) == 1 \
                    and isinstance(s.targets[0], ast.Name) and isinstance(s.value, ast.ListComp) \
                    and len(s.value.generators) == 1 and not s.value.generators[0].is_async:
                name = s.targets[0].id
                gen = s.value.generators[0]
                call: ast.stmt = ast.Expr(ast.Call(
                    func=ast.Attribute(ast.Name(name, ast.Load()), "append", ast.Load()),
                    args=[s.value.elt], keywords=[]))
                for cond in reversed(gen.ifs):
                    call = ast.If(test=cond, body=[call], orelse=[])
                lst[i:i + 1] = [ast.Assign(targets=[ast.Name(name, ast.Store())],
                                           value=ast.List(elts=[], ctx=ast.Load())),
                                ast.For(target=gen.target, iter=gen.iter, body=[call], orelse=[])]
                tag(fn, "comp_to_loop")
                done = True
                i += 1
            i += 1
    return done


def _has(node: ast.AST, kinds: tuple[type, ...]) -> bool:
    return any(isinstance(s, kinds) for s in ast.walk(node))


def for_and_while(fn: FuncNode, rng: random.Random) -> bool:
    """`for i in range(a, b)` <-> `i = a; while i < b: ...; i += 1`."""
    done = False
    for lst in list(stmt_lists(fn)):
        i = 0
        while i < len(lst):
            s = lst[i]
            if isinstance(s, ast.For) and not s.orelse and isinstance(s.target, ast.Name) \
                    and isinstance(s.iter, ast.Call) and isinstance(s.iter.func, ast.Name) \
                    and s.iter.func.id == "range" and 1 <= len(s.iter.args) <= 2 \
                    and not s.iter.keywords and not any(_has(b, (ast.Continue,)) for b in s.body):
                var = s.target.id
                start = s.iter.args[0] if len(s.iter.args) == 2 else ast.Constant(0)
                stop = s.iter.args[-1]
                lst[i:i + 1] = [
                    ast.Assign(targets=[ast.Name(var, ast.Store())], value=start),
                    ast.While(test=ast.Compare(left=ast.Name(var, ast.Load()), ops=[ast.Lt()],
                                               comparators=[stop]),
                              body=s.body + [ast.AugAssign(target=ast.Name(var, ast.Store()),
                                                           op=ast.Add(), value=ast.Constant(1))],
                              orelse=[])]
                tag(fn, "for_to_while")
                done = True
                i += 2
                continue
            if i + 1 < len(lst) and isinstance(s, ast.Assign) and len(s.targets) == 1 \
                    and isinstance(s.targets[0], ast.Name) and isinstance(lst[i + 1], ast.While):
                w = lst[i + 1]
                assert isinstance(w, ast.While)
                var = s.targets[0].id
                last = w.body[-1]
                if isinstance(w.test, ast.Compare) and isinstance(w.test.left, ast.Name) \
                        and w.test.left.id == var and len(w.test.ops) == 1 \
                        and isinstance(w.test.ops[0], ast.Lt) and not w.orelse \
                        and isinstance(last, ast.AugAssign) and isinstance(last.op, ast.Add) \
                        and isinstance(last.target, ast.Name) and last.target.id == var \
                        and isinstance(last.value, ast.Constant) and last.value.value == 1 \
                        and not any(_has(b, (ast.Continue,)) for b in w.body) \
                        and var not in set().union(*(_rw(b)[1] for b in w.body[:-1])):
                    lst[i:i + 2] = [ast.For(
                        target=ast.Name(var, ast.Store()),
                        iter=ast.Call(ast.Name("range", ast.Load()),
                                      [s.value, w.test.comparators[0]], []),
                        body=w.body[:-1] or [ast.Pass()], orelse=[])]
                    tag(fn, "while_to_for")
                    done = True
            i += 1
    return done


def hints_and_defaults(fn: FuncNode, rng: random.Random, has_torch: bool) -> bool:
    """Type hints removed or added; a default value removed or added."""
    a = fn.args
    every = a.posonlyargs + a.args + a.kwonlyargs
    annotated = any(x.annotation is not None for x in every) or fn.returns is not None
    if annotated:
        for x in every + ([a.vararg] if a.vararg else []) + ([a.kwarg] if a.kwarg else []):
            x.annotation = None
        fn.returns = None
        for lst in list(stmt_lists(fn)):
            for i, s in enumerate(lst):
                if isinstance(s, ast.AnnAssign) and s.value is not None and s.simple:
                    lst[i] = ast.Assign(targets=[s.target], value=s.value)
        tag(fn, "hints_removed")
    else:
        kinds = ["int", "float", "bool"] + (["torch.Tensor"] * 3 if has_torch else [])
        for x in every:
            if x.arg not in ("self", "cls") and rng.random() < 0.7:
                x.annotation = _expr(rng.choice(kinds))
        tag(fn, "hints_added")
    positional = [x for x in a.posonlyargs + a.args if x.arg not in ("self", "cls")]
    n_plain = len(positional) - len(a.defaults)
    if a.defaults and rng.random() < 0.5:
        a.defaults.pop(0)
        tag(fn, "defaults_removed")
    elif n_plain > 0:
        a.defaults.insert(0, ast.Constant(None))
        tag(fn, "defaults_added")
    return True


def _names_in(nodes: list[ast.stmt], ctx: type) -> set[str]:
    out: set[str] = set()
    for n in nodes:
        for sub in ast.walk(n):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ctx):
                out.add(sub.id)
            if ctx is ast.Load and isinstance(sub, ast.AugAssign) \
                    and isinstance(sub.target, ast.Name):
                out.add(sub.target.id)
    return out


def split_helper(fn: FuncNode, rng: random.Random, names: Names) -> ast.FunctionDef | None:
    """Move a run of statements out into a new module-level helper and call it."""
    body = fn.body
    start = 1 if body and _is_docstring(body[0]) else 0
    n = len(body) - start
    if n < 5:
        return None
    blocked = (ast.Return, ast.Yield, ast.YieldFrom, ast.Await, ast.Break, ast.Continue,
               ast.Global, ast.Nonlocal)
    for _ in range(10):
        length = rng.randint(2, max(2, n // 2))
        i = rng.randint(start, len(body) - length - 1) if len(body) - length - 1 > start \
            else start
        chunk = body[i:i + length]
        if any(_has(s, blocked) or isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                  ast.ClassDef)) for s in chunk):
            continue
        before = set(_params_of(fn)) | {x.arg for x in [fn.args.vararg, fn.args.kwarg] if x}
        before |= _names_in(body[:i], ast.Store)
        params = sorted(_names_in(chunk, ast.Load) & before, key=lambda x: (x != "self", x))
        after = _names_in(body[i + length:], ast.Load)
        outs = sorted(_names_in(chunk, ast.Store) & after)
        hname = names.helper()
        hbody = copy.deepcopy(chunk)
        if outs:
            ret: ast.expr = ast.Name(outs[0], ast.Load()) if len(outs) == 1 else ast.Tuple(
                [ast.Name(o, ast.Load()) for o in outs], ast.Load())
            hbody.append(ast.Return(ret))
        helper = ast.FunctionDef(
            name=hname,
            args=ast.arguments(posonlyargs=[], args=[ast.arg(p) for p in params], vararg=None,
                               kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[]),
            body=hbody, decorator_list=[], returns=None, type_params=[])
        call = ast.Call(ast.Name(hname, ast.Load()), [ast.Name(p, ast.Load()) for p in params], [])
        if not outs:
            stmt: ast.stmt = ast.Expr(call)
        elif len(outs) == 1:
            stmt = ast.Assign(targets=[ast.Name(outs[0], ast.Store())], value=call)
        else:
            stmt = ast.Assign(targets=[ast.Tuple([ast.Name(o, ast.Store()) for o in outs],
                                                 ast.Store())], value=call)
        body[i:i + length] = [stmt]
        helper._bench_origin = fn._bench_origin  # type: ignore[attr-defined]
        helper._bench_role = "helper"  # type: ignore[attr-defined]
        helper._bench_tags = list(getattr(fn, "_bench_tags", [])) + ["split"]  # type: ignore
        tag(fn, "split")
        return helper
    return None


def inline_helper(caller: FuncNode, callee: ast.FunctionDef, names: Names) -> bool:
    """Replace `x = g(args)` / `return g(args)` by the body of g (g's locals renamed)."""
    body = [s for s in callee.body if not _is_docstring(s)]
    if not body or not isinstance(body[-1], ast.Return) or body[-1].value is None:
        return False
    a = callee.args
    if a.vararg or a.kwarg or a.posonlyargs or a.kwonlyargs:
        return False
    if any(_has(s, (ast.Return, ast.Yield, ast.YieldFrom)) for s in body[:-1]):
        return False
    for lst in list(stmt_lists(caller)):
        for i, s in enumerate(lst):
            value = s.value if isinstance(s, (ast.Assign, ast.Return)) else None
            if not (isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
                    and value.func.id == callee.name):
                continue
            if isinstance(s, ast.Assign) and not (len(s.targets) == 1):
                continue
            params = [x.arg for x in a.args]
            bound: dict[str, ast.expr] = {}
            for p, arg in zip(params, value.args, strict=False):
                bound[p] = arg
            for kw in value.keywords:
                if kw.arg is None:
                    return False
                bound[kw.arg] = kw.value
            defaults = dict(zip(params[len(params) - len(a.defaults):], a.defaults, strict=True))
            local = {n: names.var() for n in sorted(_locals_of(callee))}
            r = _Rename(local, {}, {}, {}, {})
            new: list[ast.stmt] = []
            for p in params:
                v = bound.get(p, defaults.get(p))
                if v is None:
                    return False
                new.append(ast.Assign(targets=[ast.Name(local[p], ast.Store())],
                                      value=copy.deepcopy(v)))
            stmts = [r.visit(copy.deepcopy(x)) for x in body]
            ret = stmts[-1]
            assert isinstance(ret, ast.Return) and ret.value is not None
            new.extend(stmts[:-1])
            if isinstance(s, ast.Assign):
                new.append(ast.Assign(targets=s.targets, value=ret.value))
            else:
                new.append(ast.Return(ret.value))
            lst[i:i + 1] = new
            tag(caller, "inline")
            return True
    return False


def calls_name(node: ast.AST, name: str) -> bool:
    return any(isinstance(s, ast.Name) and s.id == name for s in ast.walk(node))
