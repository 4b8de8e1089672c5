"""Disguise benchmark: our engine beside copydetect, pycode_similar and Dolos on the same cases.

    python tests/benchmarks/disguise.py                # full corpus from pinned wheels
    python tests/benchmarks/disguise.py --seeds        # the small corpus from corpora/bench/seeds
    python tests/benchmarks/disguise.py --write-docs   # and rewrite docs/benchmarks.md, ## Disguise

Everything third-party (wheels, the tools' venv, Dolos' node_modules, the corpus) goes into
--work (default ~/.cache/plagiarism-bench), never into the repository. Prints, per level:
recall where at most 1% of the designated negative pairs are flagged ("pairs" view), recall
where at most 1% of ALL judged suspect functions of the negative cases are flagged against any
original function ("strict" view), ROC-AUC (positives vs designated negatives) and wall time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_block import write_block  # noqa: E402
from rivals import ensure_dolos, ensure_python_tools  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TOOLS = Path(__file__).resolve().parent / "tools"
sys.path.insert(0, str(ROOT))

PINNED_PY_TOOLS = {"copydetect": "0.5.0", "pycode_similar": "1.4"}
FUNCTION_LEVEL = ("ours", "ours@min10", "pycode_similar")
FILE_LEVEL = ("copydetect", "dolos")
MAIN_LEVELS = ("L0", "L1", "L2", "L3", "L4", "COPIED")
ABLATIONS = tuple(
    f"A-{x}"
    for x in (
        "dead_code",
        "loop_comp",
        "for_while",
        "hints_defaults",
        "split",
        "inline",
        "move_files",
    )
)
POSITIVE_LEVELS = MAIN_LEVELS + ABLATIONS
NEGATIVE_LEVELS = ("NEG-samejob", "NEG-unrelated")
FPR = 0.01

Key = tuple[str, str]  # (path, qualname) for function-level tools, (path, "") for files


@dataclass
class ToolRun:
    name: str
    granularity: str  # "function" | "file"
    scores: dict[str, dict[Key, dict[Key, float]]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    version: str = ""


# ------------------------------------------------------------------------------ setup
def sh(cmd: list[str], **kw: object) -> None:
    subprocess.run(cmd, check=True, **kw)  # type: ignore[call-overload]


def ensure_corpus(
    work: Path,
    seeds: bool,
    per_level: int,
    unrelated: int,
    copied: int,
    seed: int,
    regenerate: bool,
) -> Path:
    name = f"corpus-{'seeds' if seeds else 'wheels'}-{seed}-{per_level}-{unrelated}-{copied}"
    out = work / name
    if regenerate or not (out / "manifest.json").exists():
        from corpora.bench import generate

        argv = [
            "--out",
            str(out),
            "--work",
            str(work),
            "--per-level",
            str(per_level),
            "--unrelated",
            str(unrelated),
            "--copied",
            str(copied),
            "--seed",
            str(seed),
        ]
        generate.main(argv + (["--seeds"] if seeds else []))
    return out


# ------------------------------------------------------------------------------ corpus
def load_cases(corpus: Path) -> list[dict]:
    manifest = json.loads((corpus / "manifest.json").read_text())
    cases = []
    for cid in manifest["cases"]:
        truth = json.loads((corpus / cid / "truth.json").read_text())
        for side in ("a", "b"):
            root = corpus / cid / side
            truth[f"{side}_root"] = str(root)
            truth[f"{side}_files"] = sorted(
                p.relative_to(root).as_posix() for p in root.rglob("*.py")
            )
        cases.append(truth)
    return cases


def tool_input(cases: list[dict]) -> list[dict]:
    return [
        {k: c[k] for k in ("id", "a_root", "b_root", "a_files", "b_files", "judged_b")}
        for c in cases
    ]


# ------------------------------------------------------------------------------ runners
def run_ours(cases: list[dict], min_unit_tokens: int | None, name: str, work: Path) -> ToolRun:
    import logging

    import plagiarism
    from plagiarism import Settings, compare

    logging.getLogger("plagiarism").setLevel(logging.ERROR)
    # A fresh analysis cache per run: the timing must include the work, as for the other tools.
    cache = work / f"engine-cache-{name}"
    shutil.rmtree(cache, ignore_errors=True)
    overrides: dict[str, object] = {"pair_threshold": 0.0, "jobs": 1, "cache_dir": str(cache)}
    if min_unit_tokens is not None:
        overrides["min_unit_tokens"] = min_unit_tokens
    settings = Settings().with_overrides(**overrides)
    run = ToolRun(name, "function", version=plagiarism.__version__)
    for c in cases:
        t0 = time.perf_counter()
        result = compare(c["a_root"], c["b_root"], settings)
        run.seconds[c["id"]] = time.perf_counter() - t0
        table: dict[Key, dict[Key, float]] = defaultdict(dict)
        for p in result.pairs:
            a, b = (p.a.path, p.a.name), (p.b.path, p.b.name)
            table[b][a] = max(table[b].get(a, 0.0), p.score)
        run.scores[c["id"]] = table
    return run


def run_external(
    name: str, cmd: list[str], cases: list[dict], work: Path, granularity: str, version: str
) -> ToolRun:
    inp = work / f"{name}-cases.json"
    out = work / f"{name}-out.json"
    inp.write_text(json.dumps(tool_input(cases)))
    t0 = time.perf_counter()
    sh(cmd + [str(inp), str(out)])
    elapsed = time.perf_counter() - t0
    raw = json.loads(out.read_text())
    run = ToolRun(name, granularity, version=version)
    for cid, res in raw.items():
        run.seconds[cid] = res["seconds"]
        table: dict[Key, dict[Key, float]] = defaultdict(dict)
        for row in res["scores"]:
            if "error" in row:
                continue
            if granularity == "file":
                a, b = (row["a"], ""), (row["b"], "")
            else:
                a, b = tuple(row["a"]), tuple(row["b"])
            table[b][a] = max(table[b].get(a, 0.0), float(row["score"]))
        run.scores[cid] = table
    # Process start-up and corpus reading are part of the tool's cost too.
    overhead = max(0.0, elapsed - sum(run.seconds.values()))
    if run.seconds:
        for cid in run.seconds:
            run.seconds[cid] += overhead / len(run.seconds)
    return run


# ------------------------------------------------------------------------------ metrics
def cut_at(negatives: list[float], fpr: float = FPR) -> float:
    """The lowest cut (flag when score > cut) that flags at most `fpr` of the negatives."""
    if not negatives:
        return 0.0
    desc = sorted(negatives, reverse=True)
    allowed = math.floor(fpr * len(desc))
    return max(desc[allowed], 0.0) if allowed < len(desc) else 0.0


def auc(pos: list[float], neg: list[float]) -> float:
    if not pos or not neg:
        return float("nan")
    ranked = sorted([(s, 1) for s in pos] + [(s, 0) for s in neg])
    rank_sum = 0.0
    i = 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        avg = (i + j + 1) / 2  # 1-based average rank of a tie block
        rank_sum += avg * sum(1 for k in range(i, j) if ranked[k][1] == 1)
        i = j
    n_pos, n_neg = len(pos), len(neg)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def _ref(run: ToolRun, x: dict) -> Key:
    return (x["path"], x["qualname"]) if run.granularity == "function" else (x["path"], "")


@dataclass
class Items:
    positives: dict[str, list[tuple[str, Key, Key, float, list[str]]]]  # level -> items
    helpers: list[tuple[str, Key, Key, float, list[str]]]
    negatives: list[tuple[str, Key, Key, float]]
    strict: list[tuple[str, Key, Key | None, float]]
    shared: list[tuple[str, Key, Key, float]]


def collect(run: ToolRun, cases: list[dict]) -> Items:
    pos: dict[str, list] = defaultdict(list)
    helpers: list = []
    neg: list = []
    strict: list = []
    shared: list = []
    for c in cases:
        table = run.scores.get(c["id"], {})

        def score(a: Key, b: Key, table: dict = table) -> float:
            return table.get(b, {}).get(a, 0.0)

        if c["kind"] in ("positive", "copied_from"):
            seen = set()
            for p in c["pairs"]:
                a, b = _ref(run, p["a"]), _ref(run, p["b"])
                if (a, b) in seen:
                    continue
                seen.add((a, b))
                # A twin of the original (same code in the same module) is as good an answer.
                twins = [
                    _ref(run, {"path": p["a"]["path"], "qualname": q}) for q in p.get("a_twins", [])
                ]
                best = max([score(a, b)] + [score(t, b) for t in twins])
                item = (c["id"], a, b, best, p.get("tags", []))
                (helpers if p.get("role") == "helper" else pos[c["level"]]).append(item)
        elif c["level"] in NEGATIVE_LEVELS:
            seen = set()
            for p in c["negatives"]:
                a, b = _ref(run, p["a"]), _ref(run, p["b"])
                if (a, b) not in seen:
                    seen.add((a, b))
                    neg.append((c["id"], a, b, score(a, b)))
            judged = {_ref(run, j) for j in c["judged_b"]}
            for b in sorted(judged):
                row = table.get(b, {})
                best = max(row.items(), key=lambda kv: kv[1]) if row else (None, 0.0)
                strict.append((c["id"], b, best[0], best[1]))
        elif c["level"] == "NEG-shared":
            for p in c["shared"]:
                a, b = _ref(run, p["a"]), _ref(run, p["b"])
                shared.append((c["id"], a, b, score(a, b)))
    return Items(pos, helpers, neg, strict, shared)


def evaluate(run: ToolRun, cases: list[dict]) -> dict:
    items = collect(run, cases)
    neg_scores = [x[3] for x in items.negatives]
    strict_scores = [x[3] for x in items.strict]
    cut_pairs, cut_strict = cut_at(neg_scores), cut_at(strict_scores)
    level_of = {c["id"]: c["level"] for c in cases}
    out: dict = {
        "tool": run.name,
        "granularity": run.granularity,
        "version": run.version,
        "cut_pairs": cut_pairs,
        "cut_strict": cut_strict,
        "n_negatives": len(neg_scores),
        "n_strict": len(strict_scores),
        "levels": {},
    }
    for level in POSITIVE_LEVELS:
        ps = [x[3] for x in items.positives.get(level, [])]
        secs = sum(s for cid, s in run.seconds.items() if level_of.get(cid) == level)
        out["levels"][level] = {
            "n": len(ps),
            "recall_pairs": sum(s > cut_pairs for s in ps) / len(ps) if ps else float("nan"),
            "recall_strict": sum(s > cut_strict for s in ps) / len(ps) if ps else float("nan"),
            "auc": auc(ps, neg_scores),
            "seconds": secs,
        }
    out["seconds_total"] = sum(run.seconds.values())
    out["shared_found"] = (sum(x[3] > cut_strict for x in items.shared), len(items.shared))
    tags: dict[str, list[float]] = defaultdict(list)
    for level in ("L1", "L2", "L3", "L4"):
        for x in items.positives.get(level, []):
            for t in x[4]:
                tags[f"{level}:{t}"].append(x[3])
    for x in items.helpers:
        tags["helper (split-off part)"].append(x[3])
    out["by_tag"] = {t: (sum(s > cut_pairs for s in v), len(v)) for t, v in sorted(tags.items())}
    out["misses"] = sorted(
        [
            {"case": x[0], "a": x[1], "b": x[2], "score": round(x[3], 3), "tags": x[4]}
            for lv in POSITIVE_LEVELS
            for x in items.positives.get(lv, [])
            if x[3] <= cut_pairs
        ],
        key=lambda m: m["case"],
    )
    out["false_alarms"] = sorted(
        [
            {"case": x[0], "b": x[1], "a": x[2], "score": round(x[3], 3)}
            for x in items.strict
            if x[3] > 0
        ],
        key=lambda m: -m["score"],
    )[:25]
    out["top_negatives"] = sorted(
        [
            {"case": x[0], "a": x[1], "b": x[2], "score": round(x[3], 3)}
            for x in items.negatives
            if x[3] > 0
        ],
        key=lambda m: -m["score"],
    )[:15]
    return out


# ------------------------------------------------------------------------------ report
TOOL_TITLES = {
    "ours": "ours",
    "ours@min10": "ours (min_unit_tokens=10)",
    "pycode_similar": "pycode_similar",
    "copydetect": "copydetect (file)",
    "dolos": "Dolos (file)",
}


def fmt(x: float) -> str:
    return "–" if isinstance(x, float) and math.isnan(x) else f"{x:.2f}"


def table(evals: list[dict], metric: str, title: str, levels: tuple[str, ...] = MAIN_LEVELS) -> str:
    head = "| level | n (functions / files) | " + " | ".join(
        TOOL_TITLES.get(e["tool"], e["tool"]) for e in evals
    )
    lines = [f"**{title}**", "", head + " |", "|---|---|" + "---|" * len(evals)]
    for level in levels:
        if not any(e["levels"][level]["n"] for e in evals):
            continue
        ns = " / ".join(dict.fromkeys(str(e["levels"][level]["n"]) for e in evals))
        cells = []
        for e in evals:
            v = e["levels"][level][metric]
            cells.append(f"{v:.1f}s" if metric == "seconds" else fmt(v))
        lines.append(f"| {level} | {ns} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine() -> str:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(
            line.split()[1]
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        mem_s = f"{int(mem) / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration):
        mem_s = "?"
    return (
        f"{platform.system()} {platform.release()}, {os.cpu_count()} cores ({cpu}), "
        f"{mem_s}, Python {platform.python_version()}"
    )


def render(evals: list[dict], meta: dict) -> str:
    parts = [
        "Command: `" + meta["command"] + "`",
        "",
        f"Corpus: {meta['corpus']}; tools: {meta['tools']}; machine: {meta['machine']}; "
        f"plagiarism at commit {meta['commit']}.",
        "",
        "Function level for ours and pycode_similar, file level for copydetect and Dolos "
        "(share of the suspect file covered). One operating point per tool and view: the "
        "lowest threshold that flags at most 1% of the negatives (pairs view: designated "
        "same-job and unrelated pairs; strict view: every judged suspect function of the "
        "negative cases against any original function). Helper functions split off a copy "
        "are not counted in the recall (see the per-disguise breakdown).",
        "",
        table(evals, "recall_pairs", "Recall at ≤1% flagged negative pairs"),
        "",
        table(evals, "recall_strict", "Recall at ≤1% flagged suspect functions (strict view)"),
        "",
        table(evals, "auc", "ROC-AUC (positives vs designated negatives)"),
        "",
        table(evals, "seconds", "Wall time (sum over the level's cases)"),
        "",
        "Ablations: L2 (renamed) plus one L4 disguise, to tell which disguise defeats a tool.",
        "",
        table(evals, "recall_pairs", "Ablation recall at ≤1% flagged negative pairs", ABLATIONS),
        "",
        table(evals, "recall_strict", "Ablation recall, strict view", ABLATIONS),
        "",
        "Negatives: "
        + ", ".join(
            f"{TOOL_TITLES.get(e['tool'], e['tool'])}: {e['n_negatives']} pairs / "
            f"{e['n_strict']} suspect units, cuts {e['cut_pairs']:.2f} / {e['cut_strict']:.2f}, "
            f"shared upstream found {e['shared_found'][0]}/{e['shared_found'][1]}"
            for e in evals
        )
        + ".",
    ]
    return "\n".join(parts) + "\n"


BEGIN, END = (
    "<!-- disguise:begin (written by tests/benchmarks/disguise.py) -->",
    "<!-- disguise:end -->",
)


def write_docs(text: str) -> None:
    """Replace the generated block of `## Disguise`; everything else stays as it is."""
    write_block("Disguise", BEGIN, END, text)


def explain(corpus: Path, spec: str) -> None:
    """Why was CASE:SUSPECT_QUALNAME missed? The truth, every pair our engine reports for it,
    and both normalized token streams (the engine's alphabet)."""
    import hashlib

    from plagiarism import Settings, compare
    from plagiarism import normalize as n
    from plagiarism.model import SourceFile

    cid, qb = spec.split(":", 1)
    base = corpus / cid
    truth = json.loads((base / "truth.json").read_text())
    rows = [
        p for p in truth["pairs"] + truth["negatives"] + truth["shared"] if p["b"]["qualname"] == qb
    ]
    result = compare(base / "a", base / "b", Settings().with_overrides(pair_threshold=0.0, jobs=1))
    print(f"{cid} {truth['level']}: {qb}")
    for p in rows:
        print(
            f"  truth: {p['a']['path']}::{p['a']['qualname']}  tags={p.get('tags', p.get('job'))}"
        )
    for p in result.pairs:
        if p.b.name == qb:
            print(f"  engine: {p.a.name}  score={p.score:.3f}  one_to_one={p.one_to_one}")

    def analyses(root: Path, side: str) -> list:
        out = []
        for path in sorted(root.rglob("*.py")):
            text = path.read_text()
            sf = SourceFile(
                path=path.relative_to(root).as_posix(),
                sha256=hashlib.sha256(text.encode()).hexdigest(),
                text=text,
            )
            out.append(n.analyze_file(sf, side)[0])  # type: ignore[arg-type]
        return out

    try:
        aa, ab = analyses(base / "a", "a"), analyses(base / "b", "b")
        ctx = n.joint_context([n.side_context(aa), n.side_context(ab)])
        ua = {u.qualname: u for u in n.resolve_units_of(aa, ctx, "a")}
        ub = {u.qualname: u for u in n.resolve_units_of(ab, ctx, "b")}
    except (AttributeError, TypeError) as err:  # the engine's internals moved on
        print(f"  (token streams unavailable: {err})")
        return
    wanted = [(p["a"]["qualname"], ua) for p in rows[:1]] + [(qb, ub)]
    for q, units in wanted:
        u = units.get(q)
        text = n.token_text(u.tokens) if u else "(not a unit)"
        print(f"  {q} [{len(u.tokens) if u else 0} tokens]: {text}")


def breakdown(e: dict) -> str:
    rows = [f"  {t:40s} {k}/{n}" for t, (k, n) in e["by_tag"].items()]
    return "\n".join(rows)


def engine_commit() -> str:
    """HEAD, and whether the engine's files differ from it (the engine measured is the work
    tree, which may hold uncommitted changes)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "plagiarism"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return head + (" + uncommitted changes in plagiarism/" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Disguise benchmark (see module docstring).")
    ap.add_argument("--work", type=Path, default=Path.home() / ".cache" / "plagiarism-bench")
    ap.add_argument("--seeds", action="store_true", help="the small corpus from our seed files")
    ap.add_argument("--per-level", type=int, default=None)
    ap.add_argument("--unrelated", type=int, default=None)
    ap.add_argument("--copied", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--regenerate", action="store_true")
    ap.add_argument("--tools", default="ours,ours@min10,pycode_similar,copydetect,dolos")
    ap.add_argument("--write-docs", action="store_true")
    ap.add_argument(
        "--explain",
        action="append",
        default=[],
        metavar="CASE:QUALNAME",
        help="print why a suspect function was (not) paired, then exit",
    )
    ap.add_argument(
        "--details",
        type=Path,
        default=None,
        help="write misses and false alarms per tool to this JSON file",
    )
    args = ap.parse_args(argv)
    per_level = args.per_level or (4 if args.seeds else 60)
    unrelated = args.unrelated or (6 if args.seeds else 80)
    copied = args.copied if args.copied is not None else (0 if args.seeds else 100)
    work = args.work.expanduser()
    work.mkdir(parents=True, exist_ok=True)
    corpus = ensure_corpus(
        work, args.seeds, per_level, unrelated, copied, args.seed, args.regenerate
    )
    if args.explain:
        for spec in args.explain:
            explain(corpus, spec)
        return 0
    cases = load_cases(corpus)
    commit = engine_commit()  # before the run: the engine is imported once, now
    wanted = [t.strip() for t in args.tools.split(",") if t.strip()]
    runs: list[ToolRun] = []
    tool_versions = []
    for name in wanted:
        print(f"running {name} on {len(cases)} cases ...", file=sys.stderr, flush=True)
        if name == "ours":
            runs.append(run_ours(cases, None, name, work))
        elif name.startswith("ours@min"):
            runs.append(run_ours(cases, int(name.removeprefix("ours@min")), name, work))
        elif name in PINNED_PY_TOOLS:
            py = ensure_python_tools(work, PINNED_PY_TOOLS)
            gran = "function" if name == "pycode_similar" else "file"
            runs.append(
                run_external(
                    name,
                    [str(py), str(TOOLS / "pytools_runner.py"), name],
                    cases,
                    work,
                    gran,
                    PINNED_PY_TOOLS[name],
                )
            )
            tool_versions.append(f"{name} {PINNED_PY_TOOLS[name]}")
        elif name == "dolos":
            folder = ensure_dolos(work)
            pkg = json.loads((TOOLS / "package.json").read_text())["dependencies"]
            ver = ", ".join(f"{k} {v}" for k, v in pkg.items())
            runs.append(
                run_external(
                    name, ["node", str(folder / "dolos_runner.mjs")], cases, work, "file", ver
                )
            )
            tool_versions.append(ver)
        else:
            ap.error(f"unknown tool {name}")
    evals = [evaluate(r, cases) for r in runs]
    manifest = json.loads((corpus / "manifest.json").read_text())
    counts: dict[str, int] = defaultdict(int)
    for c in cases:
        counts[c["level"]] += 1
    flags = " ".join(a for a in (argv if argv is not None else sys.argv[1:]) if a != "--write-docs")
    meta = {
        "command": f"python tests/benchmarks/disguise.py {flags}".strip(),
        "corpus": f"{manifest['source']} {manifest['versions']}, seed {manifest['seed']}, "
        + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        + " cases",
        "tools": "; ".join(["plagiarism " + (runs[0].version if runs else "")] + tool_versions),
        "machine": machine(),
        "commit": commit,
    }
    text = render(evals, meta)
    print(text)
    for e in evals:
        if e["granularity"] == "function":
            print(f"{e['tool']}: recall by disguise at the pairs cut ({e['cut_pairs']:.2f})")
            print(breakdown(e))
    details = args.details or work / "disguise-details.json"
    details.write_text(json.dumps(evals, indent=1, default=list))
    print(f"misses and false alarms: {details}", file=sys.stderr)
    if args.write_docs:
        write_docs(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
