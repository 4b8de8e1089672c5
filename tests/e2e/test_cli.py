"""The CLI end to end: git URLs with pinned revisions, folders, notebooks, bad input."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CORPORA, git, make_repo, write_tree

ORIGINAL = '''
import torch
from torch import nn


class Resampler(nn.Module):
    """Learned queries attend to image features."""

    def __init__(self, dim, heads=8, num_queries=64):
        super().__init__()
        self.query = nn.Parameter(torch.zeros(num_queries, dim))
        self.attn = nn.MultiheadAttention(dim, heads)
        self.ln_q = nn.LayerNorm(dim)
        self.ln_kv = nn.LayerNorm(dim)
        self.proj = nn.Parameter((dim ** -0.5) * torch.randn(dim, dim))

    def forward(self, x, mask=None):
        q = self.ln_q(self.query)
        x = self.ln_kv(x).permute(1, 0, 2)
        n = x.shape[1]
        out = self.attn(q.unsqueeze(1).repeat(1, n, 1), x, x, key_padding_mask=mask)[0]
        out = out.permute(1, 0, 2)
        return out @ self.proj


def get_1d_sincos(embed_dim, pos):
    omega = torch.arange(embed_dim // 2, dtype=torch.float32) / (embed_dim / 2.0)
    omega = 1.0 / 10000 ** omega
    out = torch.einsum("m,d->md", pos.reshape(-1).float(), omega)
    return torch.cat([torch.sin(out), torch.cos(out)], dim=1)
'''

DISGUISED = """
import torch.nn as nn
import torch


def plane_wave(width, where):
    freq = torch.arange(width // 2, dtype=torch.float32) / (width / 2.0)
    freq = 1.0 / 10000 ** freq
    res = torch.einsum("m,d->md", where.reshape(-1).float(), freq)
    return torch.cat([torch.sin(res), torch.cos(res)], dim=1)


class Projection(nn.Module):
    def __init__(self, width, n_head=8, n_latent=64):
        super().__init__()
        self.latents = nn.Parameter(torch.zeros(n_latent, width))
        self.cross = nn.MultiheadAttention(width, n_head)
        self.norm_a, self.norm_b = nn.LayerNorm(width), nn.LayerNorm(width)
        self.out_mat = nn.Parameter((width ** -0.5) * torch.randn(width, width))

    def forward(self, feats, pad=None):
        lat = self.norm_a(self.latents)
        feats = self.norm_b(feats).permute(1, 0, 2)
        bs = feats.shape[1]
        res = self.cross(lat.unsqueeze(1).repeat(1, bs, 1), feats, feats, key_padding_mask=pad)[0]
        res = res.permute(1, 0, 2)
        return res @ self.out_mat
"""

UNRELATED = """
import json


def load_rows(path):
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def summarize(rows):
    totals = {}
    for row in rows:
        for key, value in row.items():
            if isinstance(value, (int, float)):
                totals[key] = totals.get(key, 0) + value
    return sorted(totals.items(), key=lambda kv: -kv[1])
"""


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [sys.executable, "-m", "plagiarism.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )


@pytest.fixture
def repos(tmp_path: Path) -> dict[str, Path]:
    orig = make_repo(tmp_path / "orig", {"pkg/resampler.py": ORIGINAL})
    git(orig, "tag", "v1")
    # A later commit rewrites the file into something unrelated: only v1 holds the code.
    (orig / "pkg" / "resampler.py").write_text(UNRELATED, encoding="utf-8")
    git(orig, "commit", "-qam", "rewrite")
    suspect = make_repo(tmp_path / "suspect", {"llama/layers/proj.py": DISGUISED})
    return {"orig": orig, "suspect": suspect}


def test_git_urls_with_pinned_revision_find_the_disguised_copy(
    repos: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "r.json"
    url = f"file://{repos['orig']}"
    res = run(
        "compare", f"{url}@v1", f"file://{repos['suspect']}",
        "--cache-dir", str(tmp_path / "cache"), "--json", str(out), "--jobs", "1",
    )  # fmt: skip
    assert res.returncode == 1, res.stderr
    data = json.loads(out.read_text())
    assert data["schema"] == 1
    assert data["sources"]["a"]["rev"] == "v1"
    assert data["sources"]["a"]["commit"] == git(repos["orig"], "rev-parse", "v1")
    assert data["sources"]["b"]["commit"] == git(repos["suspect"], "rev-parse", "HEAD")
    names = {(p["a"]["name"], p["b"]["name"]) for p in data["pairs"]}
    assert ("Resampler.forward", "Projection.forward") in names
    assert ("Resampler.__init__", "Projection.__init__") in names
    assert ("get_1d_sincos", "plane_wave") in names
    for p in data["pairs"]:
        assert 0.0 <= p["score"] <= 1.0
        assert {"path", "name", "start_line", "end_line"} <= set(p["a"]) and p["regions"]
    renames = {(r["a"], r["b"]) for r in data["renames"]}
    assert {("query", "latents"), ("attn", "cross"), ("mask", "pad")} <= renames
    assert 0.5 < data["summary"]["similarity"] <= 1.0
    assert "Verdict" in res.stdout and "Projection.forward" in res.stdout


def test_the_head_revision_holds_no_copy_and_exits_zero(
    repos: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "r.json"
    res = run(
        "compare", str(repos["orig"]), str(repos["suspect"]), "--rev-a", "main",
        "--cache-dir", str(tmp_path / "cache"), "--json", str(out),
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    data = json.loads(out.read_text())
    assert data["pairs"] == [] and data["summary"]["similarity"] < 0.05


def test_a_second_run_reuses_the_clone(repos: dict[str, Path], tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    args = (
        "compare",
        f"file://{repos['orig']}@v1",
        str(repos["suspect"]),
        "--cache-dir",
        str(cache),
    )
    assert run(*args).returncode == 1
    clones = sorted(p.name for p in (cache / "clones").iterdir())
    assert len(clones) == 1
    assert run(*args).returncode == 1
    assert sorted(p.name for p in (cache / "clones").iterdir()) == clones


def test_plain_folders_and_notebooks(tmp_path: Path) -> None:
    cell = {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": 1}
    nb = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# Demo\n"]},
            {**cell, "source": ["%matplotlib inline\n", "import torch\n"]},
            {**cell, "source": DISGUISED.split("class Projection")[0].splitlines(True)},
        ],
    }
    write_tree(tmp_path / "a", {"lib/emb.py": ORIGINAL})
    write_tree(tmp_path / "b", {"explore.ipynb": json.dumps(nb)})
    out, page = tmp_path / "r.json", tmp_path / "r.html"
    res = run(
        "compare", str(tmp_path / "a"), str(tmp_path / "b"), "--json", str(out),
        "--html", str(page),
    )  # fmt: skip
    assert res.returncode == 1, res.stderr
    data = json.loads(out.read_text())
    assert data["sources"]["a"]["kind"] == "folder" and data["sources"]["a"]["commit"] is None
    pair = next(p for p in data["pairs"] if p["b"]["path"] == "explore.ipynb")
    assert pair["a"]["name"] == "get_1d_sincos" and pair["b"]["name"] == "plane_wave"
    nb_file = next(f for f in data["files"]["b"] if f["path"] == "explore.ipynb")
    assert nb_file["kind"] == "notebook"
    # The joined code cells start at lines 1 and 4; they are the notebook's cells 2 and 3.
    assert nb_file["cell_starts"] == [1, 4] and nb_file["cell_numbers"] == [2, 3]
    assert (pair["b"]["start_line"], pair["b"]["end_line"]) == (9, 13)
    # Every report names the notebook's lines by cell, as a reader finds them.
    assert "plane_wave explore.ipynb, cell 3, lines 6-10" in res.stdout
    html = page.read_text()
    assert "explore.ipynb, cell 3, lines 6–10" in html
    assert re.search(r'<span class="ln[^"]*"[^>]*>(<b class="rb">R1</b>)?3:6</span>', html)
    assert "lib/emb.py:" in html  # a Python file keeps its line numbers


def test_file_names_cannot_drive_the_terminal(tmp_path: Path) -> None:
    # Git and plain folders allow any byte but "/" in a name: a title-setting escape, a
    # screen clear, a newline that would forge a line of the summary.
    evil_a, evil_b = "orig\x1b[2J.py", "sus\x1b]0;pwned\x07pect\nx.py"
    write_tree(tmp_path / "a", {evil_a: ORIGINAL})
    write_tree(tmp_path / "b", {evil_b: DISGUISED, "bad\x1b[31m.py": "def f(:\n    pass\n"})
    res = run("-v", "compare", str(tmp_path / "a"), str(tmp_path / "b"))
    assert res.returncode == 1, res.stderr
    for stream in (res.stdout, res.stderr):
        assert "\x1b" not in stream and "\x07" not in stream
    assert "orig\\x1b[2J.py" in res.stdout and "pect\\nx.py" in res.stdout
    assert "bad\\x1b[31m.py" in res.stdout  # the warning names it too
    pair_lines = [line for line in res.stdout.splitlines() if "orig\\x1b" in line]
    assert pair_lines and all("sus\\x1b]0;pwned\\x07pect\\nx.py" in line for line in pair_lines)


def test_log_lines_are_written_on_one_line() -> None:
    from plagiarism.cli import _OneLineFormatter

    record = logging.LogRecord(
        "x", logging.WARNING, "f", 1, "recomputing %s", ("a\x1b[2J\nb",), None
    )
    assert _OneLineFormatter("%(message)s").format(record) == "recomputing a\\x1b[2J\\nb"


def test_unrelated_code_is_clean(tmp_path: Path) -> None:
    write_tree(tmp_path / "a", {"m.py": ORIGINAL})
    write_tree(tmp_path / "b", {"m.py": UNRELATED})
    res = run("compare", str(tmp_path / "a"), str(tmp_path / "b"))
    assert res.returncode == 0
    assert "Verdict: independent" in res.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["compare", "{t}/missing", "{t}/b"], "no such file or directory"),
        (["compare", "file:///nonexistent/repo.git", "{t}/b"], "cannot clone"),
        (["compare", "{t}/b", "{t}/b", "--rev-a", "v9"], "plain folder"),
        (["compare", "{t}/b", "{t}/b", "--threshold", "3"], "between 0 and 1"),
        (["compare", "{t}/b/m.py", "{t}/b"], "is a file"),
        (["report", "{t}/b/m.py"], "not JSON"),
        (["report", "{t}/missing.json"], "no such file"),
        # An output under a file cannot be written: said before any work, not a minute later.
        (["compare", "{t}/b", "{t}/b", "--html", "{t}/b/m.py/r.html"], "cannot write"),
        (["report", "{t}/missing.json", "--html", "{t}/b/m.py/r.html"], "cannot write"),
    ],
)
def test_bad_input_is_one_line_and_exit_two(tmp_path: Path, args: list[str], message: str) -> None:
    write_tree(tmp_path / "b", {"m.py": UNRELATED})
    argv = [a.format(t=tmp_path) for a in args]
    if argv[0] == "compare":
        argv += ["--cache-dir", str(tmp_path / "c")]
    res = run(*argv)
    assert res.returncode == 2, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], res.stderr
    if message == "cannot write" and argv[0] == "compare":
        assert not (tmp_path / "c").exists()  # failed before reading either side


def test_results_go_into_folders_made_for_them(tmp_path: Path) -> None:
    write_tree(tmp_path / "a", {"m.py": ORIGINAL})
    write_tree(tmp_path / "b", {"m.py": DISGUISED})
    out = tmp_path / "out" / "run1"
    res = run(
        "compare", str(tmp_path / "a"), str(tmp_path / "b"), "-q",
        "--json", str(out / "result.json"), "--html", str(out / "html" / "report.html"),
        "--cache-dir", str(tmp_path / "c"),
    )  # fmt: skip
    assert res.returncode == 1, res.stderr
    assert json.loads((out / "result.json").read_text())["finding"] is True
    assert (out / "html" / "report.html").stat().st_size > 0


def test_unknown_revision_is_an_input_error(repos: dict[str, Path], tmp_path: Path) -> None:
    res = run(
        "compare", f"file://{repos['orig']}@nope", str(repos["suspect"]),
        "--cache-dir", str(tmp_path / "c"),
    )  # fmt: skip
    assert res.returncode == 2
    assert "cannot find revision nope" in res.stderr and "Traceback" not in res.stderr


def test_bad_files_become_warnings_not_crashes(tmp_path: Path) -> None:
    outside = tmp_path / "secret.py"
    outside.write_text(ORIGINAL, encoding="utf-8")
    write_tree(
        tmp_path / "b",
        {
            "good.py": DISGUISED,
            "broken.py": "def f(:\n    return 1\n\ndef g(x):\n    return x * 2 + 1\n",
            "blob.py": b"\x00\x01\x02binary",
            "latin.py": "# -*- coding: latin-1 -*-\nname = 'caf\xe9'\n".encode("latin-1"),
            "nb.ipynb": "{not json",
            "huge.py": "x = 1\n" * 400_000,
            "deep.py": f"def deep(x):\n    return {'(' * 3000}x{')' * 3000}\n",
        },
    )
    (tmp_path / "b" / "leak.py").symlink_to(outside)
    write_tree(tmp_path / "a", {"m.py": ORIGINAL})
    out = tmp_path / "r.json"
    res = run(
        "compare", str(tmp_path / "a"), str(tmp_path / "b"), "--json", str(out),
        "--max-file-size", "1000000",
    )  # fmt: skip
    assert res.returncode == 1, res.stderr
    data = json.loads(out.read_text())
    reasons = {w["path"]: w for w in data["warnings"]}
    assert reasons["blob.py"]["skipped"] and "binary" in reasons["blob.py"]["reason"]
    assert reasons["nb.ipynb"]["skipped"] and "not valid JSON" in reasons["nb.ipynb"]["reason"]
    assert reasons["huge.py"]["skipped"] and "larger than" in reasons["huge.py"]["reason"]
    assert reasons["leak.py"]["skipped"] and "outside" in reasons["leak.py"]["reason"]
    assert not reasons["broken.py"]["skipped"] and "parse" in reasons["broken.py"]["reason"]
    assert not reasons["deep.py"]["skipped"] and "nest deeper" in reasons["deep.py"]["reason"]
    read = {f["path"] for f in data["files"]["b"]}
    assert {"good.py", "broken.py", "latin.py", "deep.py"} <= read and "leak.py" not in read
    assert "Warnings:" in res.stdout


def test_report_renders_a_saved_result_again(repos: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    run("compare", str(repos["orig"]) + "@v1", str(repos["suspect"]), "--json", str(out),
        "--cache-dir", str(tmp_path / "c"))  # fmt: skip
    res = run("report", str(out))
    assert res.returncode == 1
    assert "Projection.forward" in res.stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="git is needed")
def test_config_file_keys_are_the_flag_names(tmp_path: Path) -> None:
    write_tree(tmp_path / "a", {"m.py": ORIGINAL})
    write_tree(tmp_path / "b", {"m.py": DISGUISED})
    (tmp_path / "pyproject.toml").write_text("[tool.plagiarism]\nthreshold = 1.0\n")
    res = run("compare", "a", "b", "--json", "r.json", cwd=tmp_path)
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["settings"]["pair_threshold"] == 1.0
    assert all(p["score"] == 1.0 or p["backed_only"] for p in data["pairs"]), res.stdout
    assert "settings from ./pyproject.toml [tool.plagiarism]: threshold=1.0" in res.stderr
    assert "inside" not in res.stderr
    # Run from inside the suspect, its own pyproject.toml would choose the threshold: said.
    (tmp_path / "b" / "pyproject.toml").write_text("[tool.plagiarism]\nthreshold = 0.99\n")
    res = run("compare", str(tmp_path / "a"), ".", cwd=tmp_path / "b")
    assert "this folder is inside SOURCE_B (the suspect)" in res.stderr, res.stderr
    (tmp_path / "pyproject.toml").write_text("[tool.plagiarism]\nthreshhold = 1.0\n")
    res = run("compare", "a", "b", cwd=tmp_path)
    assert res.returncode == 2 and "unknown key 'threshhold'" in res.stderr


def test_shipped_example_runs_from_the_readme_command(tmp_path: Path) -> None:
    res = run(
        "compare", str(CORPORA / "vlm" / "original"), str(CORPORA / "vlm" / "disguised"),
        "--json", str(tmp_path / "r.json"),
    )  # fmt: skip
    assert res.returncode == 1
    assert "Verdict: copied" in res.stdout


def test_results_do_not_depend_on_the_process_hash_seed(tmp_path: Path) -> None:
    outs = []
    for seed in ("1", "2"):
        out = tmp_path / f"r{seed}.json"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run(
            [sys.executable, "-m", "plagiarism.cli", "compare", str(CORPORA / "vlm" / "original"),
             str(CORPORA / "vlm" / "disguised"), "--json", str(out), "-q", "--jobs", "1"],
            env=env, check=False, stdin=subprocess.DEVNULL, timeout=300,
        )  # fmt: skip
        data = json.loads(out.read_text())
        outs.append([data["pairs"], data["renames"], data["summary"]])
    assert outs[0] == outs[1]


def test_no_cache_writes_no_analysis_and_gives_the_same_result(tmp_path: Path) -> None:
    write_tree(tmp_path / "a", {"m.py": ORIGINAL})
    write_tree(tmp_path / "b", {"m.py": DISGUISED})
    results = []
    for flags in (["--no-cache"], []):
        cache = tmp_path / ("c-off" if flags else "c-on")
        out = tmp_path / f"{cache.name}.json"
        res = run(
            "compare", str(tmp_path / "a"), str(tmp_path / "b"), "--json", str(out),
            "--cache-dir", str(cache), *flags,
        )  # fmt: skip
        assert res.returncode == 1, res.stderr
        results.append(json.loads(out.read_text())["pairs"])
        assert (cache / "analyses.sqlite").exists() == (not flags)
    assert results[0] == results[1]
    res = run("compare", str(tmp_path / "a"), str(tmp_path / "b"), "--cache-max-bytes", "0")
    assert res.returncode == 2 and "--cache-max-bytes must be positive" in res.stderr


def _crash() -> None:
    raise RuntimeError("something broke")


def _interrupted(*args: object, **kwargs: object) -> None:
    raise KeyboardInterrupt


def test_a_bug_is_one_line_and_never_reads_as_a_finding(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from plagiarism.cli import EXIT_INTERNAL, EXIT_INTERRUPTED, exit_code

    assert exit_code(_crash) == EXIT_INTERNAL != 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "internal error: RuntimeError: something broke (a bug: please report it; -v shows "
        "where it happened)"
    ]
    assert exit_code(_interrupted) == EXIT_INTERRUPTED
    assert capsys.readouterr().err.strip() == "interrupted"


def test_ctrl_c_is_an_interruption_never_a_finding(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # click's own handling says "Aborted!" and exits 1, the exit code of a finding.
    from functools import partial

    import plagiarism.pipeline
    from plagiarism.cli import EXIT_ERROR, EXIT_INTERRUPTED, exit_code, invoke

    monkeypatch.setattr(plagiarism.pipeline, "compare", _interrupted)
    vlm = CORPORA / "vlm"
    args = ["compare", str(vlm / "original"), str(vlm / "disguised"), "-q"]
    assert exit_code(partial(invoke, args)) == EXIT_INTERRUPTED
    err = capsys.readouterr().err
    assert err.strip() == "interrupted" and "Aborted" not in err
    # Usage errors and --version still end as click ends them.
    assert exit_code(partial(invoke, ["compare"])) == EXIT_ERROR
    assert "Missing argument" in capsys.readouterr().err
    assert exit_code(partial(invoke, ["--version"])) == 0
    assert "plagiarism" in capsys.readouterr().out


def _long_project(root: Path, files: int) -> None:
    for f in range(files):
        body = []
        for g in range(60):
            body.append(
                f"def f{f}_{g}(x, y):\n"
                f"    total = x * {g} + y\n"
                f"    for k in range({f % 7 + 2}):\n"
                f"        total = total + k * {f} - y // (k + {g + 1})\n"
                f"    return [total, x - {g}, {{'n': {f}, 'm': y}}]\n"
            )
        (root / f"mod{f}.py").write_text("\n\n".join(body), encoding="utf-8")


def test_ctrl_c_in_a_real_run_ends_it_at_once_with_130(tmp_path: Path) -> None:
    # A terminal's Ctrl-C: SIGINT to the whole process group, workers included, while the
    # workers parse. One line and exit 130; no worker traceback; no process left behind.
    import signal
    import time

    for side in ("a", "b"):
        (tmp_path / side).mkdir()
        _long_project(tmp_path / side, 240)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "plagiarism.cli",
            "-v",
            "compare",
            str(tmp_path / "a"),
            str(tmp_path / "b"),
            "-q",
            "--no-cache",
        ],  # fmt: skip
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        # Python leaves SIGINT ignored in a child whose parent ignored it (a background job).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:  # stage lines come as each stage ends
        seen.append(line)
        if line.startswith("stage reading B"):
            break
    time.sleep(0.5)  # the workers are parsing
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    err = "".join(seen) + err
    assert proc.returncode == 130, err
    assert err.rstrip().endswith("interrupted") and "Traceback" not in err
    assert "Aborted" not in err and "stage matching" not in err
    time.sleep(0.2)
    with pytest.raises(ProcessLookupError):  # the whole group is gone, workers too
        os.killpg(proc.pid, 0)


def test_with_verbose_a_bug_shows_its_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    from plagiarism.cli import EXIT_INTERNAL, exit_code

    logger = logging.getLogger("plagiarism")
    old = logger.level
    logger.setLevel(logging.INFO)
    try:
        assert exit_code(_crash) == EXIT_INTERNAL
    finally:
        logger.setLevel(old)
    err = capsys.readouterr().err
    assert "Traceback" in err and "_crash" in err and "internal error:" in err
