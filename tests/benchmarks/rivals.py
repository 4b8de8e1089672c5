"""Shared by the benchmark scripts: install the rival tools they run beside ours, once.

Python tools (copydetect, pycode_similar) go into their own venv under the work folder, at
pinned versions; Dolos is the npm packages plus our Node runner (tools/dolos_runner.mjs).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

TOOLS = Path(__file__).resolve().parent / "tools"


def ensure_python_tools(work: Path, pinned: Mapping[str, str]) -> Path:
    """The python of a venv holding every `pinned` package at its version."""
    venv = work / "tools-venv"
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    have = subprocess.run(
        [str(py), "-m", "pip", "list", "--format=json"], check=True, capture_output=True, text=True
    ).stdout
    installed = {p["name"].lower().replace("-", "_"): p["version"] for p in json.loads(have)}
    want = [f"{n}=={v}" for n, v in pinned.items() if installed.get(n) != v]
    if want:
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", *want], check=True)
    return py


def ensure_dolos(work: Path) -> Path:
    """A folder with @dodona/dolos-lib and -parsers installed and our runner beside them."""
    folder = work / "dolos"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(TOOLS / "package.json", folder / "package.json")
    shutil.copy(TOOLS / "dolos_runner.mjs", folder / "dolos_runner.mjs")
    if not (folder / "node_modules" / "@dodona" / "dolos-lib").exists():
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=folder,
            check=True,
        )
    return folder
