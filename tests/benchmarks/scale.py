"""Scale benchmark: `plagiarism compare` on transformers 4.46.3 vs 4.47.0, beside Dolos and copydetect.

    python tests/benchmarks/scale.py                # everything, writes docs/benchmarks.md ## Scale
    python tests/benchmarks/scale.py --sizes 100,300 --tools ours --no-write

The two transformers wheels are fetched with `pip download --no-deps` into a scratch folder
(default $TMPDIR/plagiarism-scale, never the repository) and every .py file is extracted. For
each size (files per side: the same relative paths on both sides, spread evenly over the
tree) each tool runs as its own process group; wall time and the peak of the summed RSS of
the whole tree (workers included; shared pages are counted once per process, so this is an
upper bound) are sampled with psutil. Ours runs cold (empty cache) then warm (same cache).
A run under a minute is repeated and the median of five kept, for every tool.
A run that passes the cap (15 minutes by default) is stopped and reported as such.
The fitted exponent is the least-squares slope of log(time) against log(lines, both sides).
"""

from __future__ import annotations

import argparse
import compileall
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import psutil
from docs_block import write_block  # noqa: E402
from rivals import ensure_dolos, ensure_python_tools  # noqa: E402
from wheels import fetch_tree, work_dir  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TOOLS = Path(__file__).resolve().parent / "tools"
VERSIONS = ("4.46.3", "4.47.0")
SIZES = ("100", "300", "1000", "all")
CAP_S = 15 * 60
# A run that takes under REPEAT_UNDER_S is repeated and its median kept, for every tool alike:
# on this 2-core VM one run's time drifts by 10-20 % from minute to minute, and a one-second
# run's by as much from one run to the next (three runs of ours at 100 files: 1.32, 1.22,
# 1.13 s), so five rather than three.
REPEATS = 5
REPEAT_UNDER_S = 60.0
COPYDETECT = "0.5.0"
BEGIN, END = "<!-- scale:begin (written by tests/benchmarks/scale.py) -->", "<!-- scale:end -->"


@dataclass(frozen=True, slots=True)
class Run:
    seconds: float | None  # None: did not finish
    peak_mib: float
    note: str = ""
    measured: str = ""  # date and engine commit of the run, kept with stored figures

    def cell(self) -> str:
        if self.seconds is None:
            return f"— ({self.note})"
        return f"{self.seconds:.1f}"


# ------------------------------------------------------------------------------ inputs
def fetch_trees(work: Path) -> dict[str, Path]:
    return {version: fetch_tree("transformers", version, work) for version in VERSIONS}


def py_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.py") if p.is_file())


def subset(trees: dict[str, Path], size: str, work: Path) -> tuple[Path, Path, int, int, int]:
    """(a, b, files a, files b, lines a+b) for `size` files per side."""
    a_root, b_root = trees[VERSIONS[0]], trees[VERSIONS[1]]
    if size == "all":
        a, b = a_root, b_root
    else:
        paths = py_files(a_root)
        n = min(int(size), len(paths))
        picked = [paths[i * len(paths) // n] for i in range(n)]
        a = work / f"subset-{size}" / "a"
        b = work / f"subset-{size}" / "b"
        if not a.exists():
            for rel in picked:
                for src, dst in ((a_root, a), (b_root, b)):
                    if (src / rel).is_file():
                        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
                        shutil.copyfile(src / rel, dst / rel)
    files_a, files_b = py_files(a), py_files(b)
    lines = sum(
        (root / rel).read_bytes().count(b"\n") for root, rels in ((a, files_a), (b, files_b))
        for rel in rels
    )  # fmt: skip
    return a, b, len(files_a), len(files_b), lines


# ------------------------------------------------------------------------------ measuring
def measure(
    cmd: list[str], cap: float, cwd: Path | None = None, env: dict[str, str] | None = None
) -> Run:
    """Wall time and peak RSS of the process tree; stopped at `cap` seconds.

    The time is the process's own, to the wait's wake-up: polling it (every 50 ms, as the
    memory sampler does) added 25 ms on average to every run, 2-3 % of a one-second one and
    nothing of a ten-second one. The sampler runs beside the wait, in a thread."""
    with tempfile.TemporaryFile() as err_file:
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=err_file,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        sampler = _RssSampler(proc.pid)
        sampler.start()
        try:
            proc.wait(timeout=cap)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the group we started, nothing else
            proc.wait()
            timed_out = True
        seconds = time.perf_counter() - start
        peak = sampler.stop()
        err_file.seek(0)
        err = err_file.read().decode("utf-8", "replace")
    if timed_out:
        return Run(None, peak / 2**20, f">{cap / 60:.0f} min")
    if proc.returncode not in (0, 1):
        last = err.strip().splitlines()[-1:] or ["?"]
        return Run(None, peak / 2**20, f"failed: {last[0][:80]}")
    return Run(seconds, peak / 2**20)


class _RssSampler(threading.Thread):
    """The peak of the summed RSS of a process and its descendants, sampled every 50 ms.

    From /proc directly where Linux keeps each task's children: psutil finds descendants by
    reading every process's status (~70 files a sample here), 2-3 % of a core that a tool
    using both cores loses and a single-threaded one does not."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self._done = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._proc = Path(f"/proc/{pid}/task/{pid}/children").exists()

    def run(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, self._tree_rss())
            self._done.wait(0.05)

    def _tree_rss(self) -> int:
        if not self._proc:
            return _psutil_tree_rss(self.pid)
        total, stack = 0, [self.pid]
        while stack:
            pid = stack.pop()
            try:
                with open(f"/proc/{pid}/statm", "rb") as fh:
                    total += int(fh.read().split()[1]) * self._page
                with open(f"/proc/{pid}/task/{pid}/children", "rb") as fh:
                    stack.extend(int(c) for c in fh.read().split())
            except (OSError, ValueError, IndexError):
                continue  # gone between two reads
        return total

    def stop(self) -> int:
        self._done.set()
        self.join()
        return self.peak


def _psutil_tree_rss(pid: int) -> int:
    total = 0
    try:
        root = psutil.Process(pid)
        for p in [root, *root.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
    except psutil.Error:
        pass
    return total


def interleaved(onces: dict[str, Callable[[], Run]]) -> dict[str, Run]:
    """Each tool once in turn, then REPEATS - 1 more rounds of the tools whose first run took
    under REPEAT_UNDER_S, and the median of each (`_median`). Rounds rather than one tool's
    repeats after another's: this VM's speed drifts over minutes, and a drift then moves
    every tool of a size alike instead of one tool's runs only, which is what a ratio
    measured in the same run needs. A key's runs follow the one before it in each round
    (ours warm after ours cold, which made its cache)."""
    runs = {key: [once()] for key, once in onces.items()}
    again = [
        key
        for key, first in runs.items()
        if first[0].seconds is not None and first[0].seconds < REPEAT_UNDER_S
    ]
    for _ in range(REPEATS - 1):
        for key in again:
            runs[key].append(onces[key]())
    return {key: _median(found) for key, found in runs.items()}


def _median(runs: list[Run]) -> Run:
    failed = [r for r in runs if r.seconds is None]
    if failed:
        return failed[0]
    # Every run's time, kept in results.json and printed: a median near a threshold means
    # little without the spread around it. In the order run, so that two tools' times of one
    # round (run back to back, see `interleaved`) can be paired.
    spread = ", ".join(f"{r.seconds or 0.0:.3f}" for r in runs)
    mid = sorted(runs, key=lambda r: r.seconds or 0.0)[len(runs) // 2]
    note = f"median of {len(runs)} (in round order: {spread} s)" if len(runs) > 1 else ""
    return Run(mid.seconds, max(r.peak_mib for r in runs), note)


def compile_ours() -> None:
    """Byte-compile the package, as pip does when it installs a wheel: a checkout installed
    with `pip install -e .` under PYTHONDONTWRITEBYTECODE=1 would otherwise recompile every
    module on every run (~70 ms), which no installed copy does."""
    import plagiarism

    compileall.compile_dir(str(Path(plagiarism.__file__).parent), quiet=1)


def run_ours(a: Path, b: Path, cache: Path, out: Path, cap: float, fresh: bool = False) -> Run:
    if fresh:
        shutil.rmtree(cache, ignore_errors=True)  # a cold run: nothing cached
    cmd = [sys.executable, "-m", "plagiarism.cli", "compare", str(a), str(b), "-q",
           "--cache-dir", str(cache), "--json", str(out)]  # fmt: skip
    return measure(cmd, cap)


def ours_cold_and_warm(
    a: Path, b: Path, cache: Path, outs: tuple[Path, Path], cap: float
) -> tuple[Callable[[], Run], Callable[[], Run]]:
    """A cold run (empty cache) and a warm one (the cache the last cold run made)."""
    colds: list[Run] = []

    def cold() -> Run:
        colds.append(run_ours(a, b, cache, outs[0], cap, fresh=True))
        return colds[-1]

    def warm() -> Run:
        if not colds or colds[-1].seconds is None:
            return Run(None, 0.0, "cold run did not finish")
        return run_ours(a, b, cache, outs[1], cap)

    return cold, warm


def case_file(a: Path, b: Path, work: Path, size: str) -> Path:
    case = [{"id": f"transformers-{size}", "a_root": str(a), "b_root": str(b),
             "a_files": py_files(a), "b_files": py_files(b), "judged_b": []}]  # fmt: skip
    path = work / f"case-{size}.json"
    path.write_text(json.dumps(case))
    return path


def run_dolos(folder: Path, case: Path, work: Path, cap: float) -> Run:
    # Dolos keeps everything on the V8 heap; give it the machine's memory, not Node's default.
    env = {**os.environ, "NODE_OPTIONS": "--max-old-space-size=16384"}
    cmd = ["node", str(folder / "dolos_runner.mjs"), str(case), str(work / "dolos-out.json")]
    return measure(cmd, cap, cwd=folder, env=env)


def run_copydetect(py: Path, case: Path, work: Path, cap: float) -> Run:
    cmd = [str(py), str(TOOLS / "pytools_runner.py"), "copydetect", str(case),
           str(work / "copydetect-out.json")]  # fmt: skip
    return measure(cmd, cap)


# ------------------------------------------------------------------------------ report
def exponent(points: list[tuple[int, float | None]]) -> str:
    pts = [(math.log(x), math.log(y)) for x, y in points if y]
    if len(pts) < 2:
        return "—"
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    return f"{sum((x - mx) * (y - my) for x, y in pts) / sxx:.2f}" if sxx else "—"


def machine() -> str:
    cpu = platform.processor()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = psutil.virtual_memory().total / 2**30
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{platform.system()} {platform.release()}, {os.cpu_count()} cores ({cpu}), "
        f"{mem:.0f} GiB, Python {platform.python_version()}, load average {load:.1f} at start"
    )


def engine_commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "?"
    if git("status", "--porcelain", "--", "plagiarism"):
        commit += " + uncommitted changes in plagiarism/"
    return commit


def versions(tools: set[str], work: Path) -> str:
    from plagiarism import __version__

    commit = engine_commit()
    parts = [f"plagiarism {__version__} (commit {commit or '?'})"]
    if "dolos" in tools or (work / "dolos" / "node_modules").exists():
        pkg = work / "dolos" / "node_modules" / "@dodona"
        for name in ("dolos-lib", "dolos-parsers"):
            meta = pkg / name / "package.json"
            if meta.exists():
                parts.append(f"@dodona/{name} {json.loads(meta.read_text())['version']}")
        node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
        parts.append(f"node {node}")
    if "copydetect" in tools or (work / "tools-venv").exists():
        parts.append(f"copydetect {COPYDETECT}")
    return ", ".join(parts)


TOOL_KEYS = ("ours_cold", "ours_warm", "dolos", "copydetect")
INPUT_KEYS = ("files_a", "files_b", "lines")


def load_store(work: Path) -> dict:
    path = work / "results.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_store(work: Path, store: dict) -> None:
    (work / "results.json").write_text(json.dumps(store, indent=1))


def remember(store: dict, row: dict) -> dict:
    """Merge this run's figures into the stored ones for the same size and return the row to
    show: a tool not run this time keeps its last figures (a 15-minute baseline need not be
    re-run to re-measure our engine), and the table says when each was measured."""
    kept = store.setdefault(row["size"], {})
    for key in TOOL_KEYS:
        if isinstance(row.get(key), Run):
            kept[key] = {f: getattr(row[key], f) for f in Run.__slots__}
    for key in INPUT_KEYS:
        kept[key] = row[key]
    merged = dict(row)
    for key in TOOL_KEYS:
        if key not in merged and key in kept:
            merged[key] = Run(**kept[key])
    return merged


def with_stored_sizes(rows: list[dict], store: dict) -> list[dict]:
    """This run's rows plus the stored ones of the sizes it did not run, in size order: a
    run of the small sizes with every tool still shows the large ones (their "Measured"
    stamps say when)."""
    by_size = {row["size"]: row for row in rows}
    for size in SIZES:
        kept = store.get(size, {})
        if size not in by_size and all(k in kept for k in INPUT_KEYS):
            row = {"size": size, **{k: kept[k] for k in INPUT_KEYS}}
            row.update({k: Run(**kept[k]) for k in TOOL_KEYS if k in kept})
            by_size[size] = row
    order = {size: i for i, size in enumerate(SIZES)}
    return sorted(by_size.values(), key=lambda r: order.get(r["size"], len(order)))


def render(rows: list[dict], meta: dict) -> str:
    head = (
        "| files per side (A / B) | lines A+B | ours cold s | ours warm s | ours peak MiB "
        "| Dolos s | Dolos peak MiB | copydetect s | copydetect peak MiB | ours cold vs Dolos "
        "| vs copydetect | ours warm vs Dolos | vs copydetect |"
    )
    lines = [head, "|" + "---|" * 13]
    for r in rows:
        cold, warm = r["ours_cold"], r["ours_warm"]
        peak = max(cold.peak_mib, warm.peak_mib)
        cells = [f"{r['files_a']} / {r['files_b']}", f"{r['lines']:,}", cold.cell(), warm.cell(),
                 f"{peak:.0f}"]  # fmt: skip
        # Cold against the rivals is the fair first run (they keep no cache); warm is what a
        # reviewer re-running a comparison, or checking a new version, sees.
        ratios: dict[str, list[str]] = {"cold": [], "warm": []}
        for tool in ("dolos", "copydetect"):
            other = r.get(tool)
            if other is None:
                cells += ["not run", ""]
                ratios["cold"].append("")
                ratios["warm"].append("")
                continue
            cells += [other.cell(), f"{other.peak_mib:.0f}" if other.peak_mib else "—"]
            for mode, ours in (("cold", cold), ("warm", warm)):
                if other.seconds and ours.seconds:
                    ratios[mode].append(f"{other.seconds / ours.seconds:.1f}×")
                elif other.seconds is None and ours.seconds:
                    ratios[mode].append("only ours finishes")
                else:
                    ratios[mode].append("")
        lines.append("| " + " | ".join(cells + ratios["cold"] + ratios["warm"]) + " |")
    fits = [
        f"{name}: {exponent([(r['lines'], r[key].seconds) for r in rows if r.get(key)])}"
        for name, key in (("ours cold", "ours_cold"), ("ours warm", "ours_warm"),
                          ("Dolos", "dolos"), ("copydetect", "copydetect"))
    ]  # fmt: skip
    measured = []
    for name, key in (("ours", "ours_cold"), ("Dolos", "dolos"), ("copydetect", "copydetect")):
        stamps = sorted({r[key].measured for r in rows if r.get(key) and r[key].measured})
        if stamps:
            measured.append(f"{name}: {'; '.join(stamps)}")
    return "\n".join(
        [
            f"Command: `{meta['command']}`",
            "",
            f"Inputs: every .py file of the transformers {VERSIONS[0]} and {VERSIONS[1]} wheels "
            "(`pip download --no-deps`); smaller sizes take the same relative paths on both "
            "sides, spread evenly over the tree. Every tool alike: a run under "
            f"{REPEAT_UNDER_S:.0f} s is repeated and the median of {REPEATS} kept, the tools "
            "taking turns round by round (this VM's timings drift by 10-20 % from minute to "
            "minute); ours is byte-compiled first, as a pip install does.",
            "",
            f"Versions: {meta['versions']}. Machine: {meta['machine']}. Cap: "
            f"{meta['cap'] / 60:.0f} min per run. Date: {meta['date']}.",
            "",
            *lines,
            "",
            "Fitted exponent of time against lines (least squares on log-log): "
            + "; ".join(fits)
            + ".",
            "",
            "Measured (a tool not re-run keeps its last figures): " + " | ".join(measured) + ".",
            "",
        ]
    )


def write_docs(text: str) -> None:
    """Replace the generated block of `## Scale`; everything else stays as it is."""
    write_block("Scale", BEGIN, END, text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "plagiarism-scale")
    ap.add_argument("--sizes", default=",".join(SIZES))
    ap.add_argument("--tools", default="ours,dolos,copydetect")
    ap.add_argument("--cap", type=float, default=CAP_S, help="seconds per run")
    ap.add_argument(
        "--no-write",
        action="store_true",
        help="print only; leave docs/ and the stored figures alone",
    )
    args = ap.parse_args(argv)
    work = work_dir(args.work, ROOT)
    tools = set(args.tools.split(","))
    trees = fetch_trees(work)
    if "ours" in tools:
        compile_ours()
    dolos = ensure_dolos(work) if "dolos" in tools else None
    copydetect = (
        ensure_python_tools(work, {"copydetect": COPYDETECT}) if "copydetect" in tools else None
    )
    meta = {
        "command": "python tests/benchmarks/scale.py"
        + "".join(f" {a}" for a in (argv or sys.argv[1:])),
        "machine": machine(),
        "versions": versions(tools, work),
        "cap": args.cap,
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "commit": engine_commit(),
    }
    store = load_store(work)
    stamp = f"{meta['date']}, commit {meta['commit']}"
    rows: list[dict] = []
    gave_up: set[str] = set()  # a tool that passed the cap at one size is not run on larger ones
    for size in args.sizes.split(","):
        a, b, files_a, files_b, lines = subset(trees, size, work)
        row: dict = {"size": size, "files_a": files_a, "files_b": files_b, "lines": lines}
        skipped = Run(None, 0.0, "passed the cap at a smaller size")
        case = case_file(a, b, work, size)
        onces: dict[str, Callable[[], Run]] = {}
        if "ours" in tools:
            cache = work / f"cache-{size}"
            cold_out, warm_out = work / f"ours-{size}-cold.json", work / f"ours-{size}-warm.json"
            onces["ours_cold"], onces["ours_warm"] = ours_cold_and_warm(
                a, b, cache, (cold_out, warm_out), args.cap
            )
        if dolos is not None:
            onces["dolos"] = partial(run_dolos, dolos, case, work, args.cap)
        if copydetect is not None:
            onces["copydetect"] = partial(run_copydetect, copydetect, case, work, args.cap)
        for key in [k for k in onces if k in gave_up]:
            del onces[key]
            row[key] = skipped
        if "ours_cold" in gave_up:
            onces.pop("ours_warm", None)
            row["ours_warm"] = Run(None, 0.0, "cold run did not finish")
        row.update(interleaved(onces))
        for key, value in row.items():
            if isinstance(value, Run) and value.seconds is None and value.note.startswith(">"):
                gave_up.add(key)
        for key, value in list(row.items()):
            if isinstance(value, Run):
                row[key] = Run(value.seconds, value.peak_mib, value.note, stamp)
        rows.append(remember(store, row))
        if not args.no_write:
            # A dry run leaves the stored figures too: later tables show stored rows.
            save_store(work, store)
        print(
            f"{size:>5} files: "
            + ", ".join(f"{k} {v.cell()} s / {v.peak_mib:.0f} MiB"
                        + (f" [{v.note}]" if v.seconds is not None and v.note else "")
                        for k, v in row.items() if isinstance(v, Run)),
            flush=True,
        )  # fmt: skip
        if "ours" in tools and not args.no_write:
            # After each size, so a long run leaves its figures.
            write_docs(render(with_stored_sizes(rows, store), meta))
    if "ours" not in tools:
        print("(the table needs ours; pass --tools ours,...)")
        return 0
    print(render(with_stored_sizes(rows, store), meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
