"""Pairing of units that are the same code at the same place on both sides."""

from __future__ import annotations

from pathlib import Path

from plagiarism import Settings, compare

BRANCHES = """\
import torch

if torch.cuda.is_available():
    def fused(x, weight, bias, eps):
        mean = x.mean(-1, keepdim=True)
        var = (x - mean).pow(2).mean(-1, keepdim=True)
        return (x - mean) * torch.rsqrt(var + eps) * weight + bias
else:
    def fused(x, weight, bias, eps):
        mean = x.mean(-1, keepdim=True)
        var = (x - mean).pow(2).mean(-1, keepdim=True)
        return (x - mean) * torch.rsqrt(var + eps) * weight + bias
"""


def _side(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def test_a_name_defined_twice_in_one_file_pairs_each_definition(tmp_path: Path) -> None:
    a = _side(tmp_path / "a", {"m.py": BRANCHES})
    b = _side(tmp_path / "b", {"m.py": BRANCHES})
    r = compare(a, b, Settings(jobs=1, use_cache=False))
    fused = sorted((p.a.start_line, p.b.start_line) for p in r.pairs if p.b.name == "fused")
    assert fused == [(4, 4), (9, 9)]


def test_a_twin_at_the_same_place_wins_over_look_alikes_elsewhere(tmp_path: Path) -> None:
    # The same function in many files of A (as transformers repeats its methods): the copy
    # in B pairs with the one at its own path, however many others come first.
    body = BRANCHES.split("else:")[0].replace("if torch.cuda.is_available():\n", "")
    body = "\n".join(line[4:] if line.startswith("    ") else line for line in body.splitlines())
    files = {f"pkg/m{i:02d}.py": body for i in range(60)}
    a = _side(tmp_path / "a", files)
    b = _side(tmp_path / "b", {"pkg/m59.py": body})
    r = compare(a, b, Settings(jobs=1, use_cache=False))
    (pair,) = [p for p in r.pairs if p.b.name == "fused"]
    assert pair.a.path == "pkg/m59.py"
