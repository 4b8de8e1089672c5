"""Run copydetect or pycode_similar on benchmark cases; runs inside the tools' own venv.

    python pytools_runner.py {copydetect|pycode_similar} CASES.json OUT.json

CASES.json: [{"id", "a_root", "b_root", "a_files": [...], "b_files": [...],
              "judged_b": [{"path", "qualname"}]}]
OUT.json:   {case id: {"seconds": float, "scores": [{"a": .., "b": .., "score": float}]}}
copydetect is file level (a, b are file paths); pycode_similar is function level (a, b are
[path, qualname]), scored as the tool scores a function: the share of the suspect function's
normalized AST dump lines that the best diff against the original function leaves unchanged.
Only the tool's own public building blocks are used, with its default parameters.
"""

from __future__ import annotations

import ast
import json
import sys
import time
from pathlib import Path


def run_copydetect(case: dict) -> list[dict]:
    import copydetect

    # CopyDetector's defaults: noise threshold 25 tokens, guarantee threshold 25 -> window 1.
    k, win = 25, 1
    a_fps = {}
    for rel in case["a_files"]:
        try:
            a_fps[rel] = copydetect.CodeFingerprint(str(Path(case["a_root"]) / rel), k, win)
        except Exception:  # a file the tool cannot read scores 0, as in its own report
            continue
    out = []
    for rel_b in case["b_files"]:
        try:
            fb = copydetect.CodeFingerprint(str(Path(case["b_root"]) / rel_b), k, win)
        except Exception:
            continue
        for rel_a, fa in a_fps.items():
            _, sims, _ = copydetect.compare_files(fb, fa)
            out.append({"a": rel_a, "b": rel_b, "score": float(sims[0])})
    return out


def _functions(path: Path) -> list[tuple[str, object]]:
    """pycode_similar's normalized functions of a file, named like our qualnames."""
    import pycode_similar as ps

    code = path.read_text()
    tree = ast.parse(code)
    lines = code.splitlines(True)
    # Top-level functions and methods of top-level classes: the units we judge.
    wanted: dict[int, str] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            wanted[node.lineno] = node.name
        elif isinstance(node, ast.ClassDef):
            for m in node.body:
                if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    wanted[m.lineno] = f"{node.name}.{m.name}"
    # The collector renames nodes in place, so our names are read before it runs.
    collector = ps.FuncNodeCollector(keep_prints=False)
    collector.visit(tree)
    out = []
    for fn in collector.get_function_nodes():
        info = ps.FuncInfo(fn, lines)
        out.append((wanted.get(fn.lineno, info.func_name), info))
    return out


def run_pycode_similar(case: dict) -> list[dict]:
    import pycode_similar as ps

    a_funcs = []
    for rel in case["a_files"]:
        try:
            a_funcs += [(rel, q, f) for q, f in _functions(Path(case["a_root"]) / rel)]
        except (SyntaxError, ValueError, RecursionError):
            continue
    judged = {(j["path"], j["qualname"]) for j in case["judged_b"]}
    out = []
    for rel_b in case["b_files"]:
        try:
            b_funcs = _functions(Path(case["b_root"]) / rel_b)
        except (SyntaxError, ValueError, RecursionError):
            continue
        for qb, fb in b_funcs:
            if (rel_b, qb) not in judged:
                continue
            total = ps.UnifiedDiff.total(fb, None)
            for rel_a, qa, fa in a_funcs:
                diff = ps.UnifiedDiff.diff(fb, fa)
                score = 0.0 if total == 0 else max(0.0, (total - diff) / total)
                out.append({"a": [rel_a, qa], "b": [rel_b, qb], "score": score})
    return out


def main() -> int:
    tool, cases_path, out_path = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    run = {"copydetect": run_copydetect, "pycode_similar": run_pycode_similar}[tool]
    sys.setrecursionlimit(10000)
    results = {}
    for case in json.loads(cases_path.read_text()):
        t0 = time.perf_counter()
        scores = run(case)
        results[case["id"]] = {"seconds": time.perf_counter() - t0, "scores": scores}
    out_path.write_text(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
