"""Shared by the benchmark scripts: the .py files of a pinned wheel, fetched at run time.

Third-party source never enters the repository: wheels are downloaded with
`pip download --no-deps` into the script's work folder and only their .py files extracted.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path


def fetch_tree(name: str, version: str, work: Path) -> Path:
    """`work/<name>-<version>/`: every .py file of that wheel (made once, then reused)."""
    tree = work / f"{name}-{version}"
    if tree.exists():
        return tree
    wheels = work / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
         f"{name}=={version}", "-d", str(wheels)],
        check=True,
    )  # fmt: skip
    wheel = next(wheels.glob(f"{name.replace('-', '_')}-{version}-*.whl"))
    tmp = Path(tempfile.mkdtemp(dir=work))
    with zipfile.ZipFile(wheel) as zf:
        for member in zf.namelist():
            if member.endswith(".py") and not member.startswith("/") and ".." not in member:
                zf.extract(member, tmp)
    tmp.rename(tree)  # whole or not at all: an interrupted run leaves no half tree behind
    return tree


def work_dir(path: Path, repo: Path) -> Path:
    """The scratch folder a benchmark downloads and writes into: never inside the repository."""
    work = path.resolve()
    if work == repo or repo in work.parents:
        raise SystemExit("--work must be outside the repository")
    work.mkdir(parents=True, exist_ok=True)
    return work
