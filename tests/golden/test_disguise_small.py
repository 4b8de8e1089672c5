"""The small disguise corpus through the engine, at the settings a user gets by default.

The corpus is generated at test time from our own seed code (corpora/bench/seeds/: no network,
no third-party source), with a fixed seed, so the cases and the expectations are stable:
every level must keep its recall floor, honest code must stay unreported, and credited shared
code (copied, after all) must be found. Expectations live in disguise_small/expected.json.
"""

from __future__ import annotations

import ast
import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from corpora.bench import generate  # noqa: E402
from plagiarism import Settings, compare  # noqa: E402

EXPECTED = json.loads((HERE / "disguise_small" / "expected.json").read_text())


@dataclass
class Outcome:
    found: dict[str, list[bool]] = field(default_factory=dict)
    misses: list[str] = field(default_factory=list)
    false_alarms: list[str] = field(default_factory=list)
    shared_found: list[bool] = field(default_factory=list)


def make_corpus(out: Path) -> Path:
    assert generate.main(["--out", str(out), *EXPECTED["generator_args"]]) == 0
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("disguise") / "corpus")


@pytest.fixture(scope="module")
def outcome(corpus: Path) -> Outcome:
    manifest = json.loads((corpus / "manifest.json").read_text())
    settings = Settings().with_overrides(jobs=1)
    res = Outcome()
    for cid in manifest["cases"]:
        truth = json.loads((corpus / cid / "truth.json").read_text())
        result = compare(corpus / cid / "a", corpus / cid / "b", settings)
        reported = {(p.a.path, p.a.name, p.b.path, p.b.name) for p in result.pairs}
        if truth["kind"] == "positive":
            for p in truth["pairs"]:
                if p["role"] != "copy":
                    continue
                key = (p["a"]["path"], p["a"]["qualname"], p["b"]["path"], p["b"]["qualname"])
                hit = key in reported
                res.found.setdefault(truth["level"], []).append(hit)
                if not hit:
                    res.misses.append(f"{cid}: {key[1]} -> {key[3]} ({', '.join(p['tags'])})")
        elif truth["level"] == "NEG-shared":
            for p in truth["shared"]:
                key = (p["a"]["path"], p["a"]["qualname"], p["b"]["path"], p["b"]["qualname"])
                res.shared_found.append(key in reported)
        else:
            res.false_alarms += [f"{k[1]} ~ {k[3]}" for k in sorted(reported)]
    return res


def test_every_level_is_covered(outcome: Outcome) -> None:
    assert set(EXPECTED["recall_floor"]) <= set(outcome.found)


@pytest.mark.parametrize("level", sorted(EXPECTED["recall_floor"]))
def test_recall_per_level(outcome: Outcome, level: str) -> None:
    hits = outcome.found[level]
    recall = sum(hits) / len(hits)
    misses = [m for m in outcome.misses if m.startswith(level + "-")]
    assert recall >= EXPECTED["recall_floor"][level], "\n".join(misses)


def test_no_new_false_alarm_on_honest_code(outcome: Outcome) -> None:
    known = set(EXPECTED["known_false_alarms"]["pairs"])
    assert sorted(set(outcome.false_alarms) - known) == []


def test_no_false_alarm_at_all(outcome: Outcome) -> None:
    assert outcome.false_alarms == []


def test_credited_shared_code_is_found(outcome: Outcome) -> None:
    # Shared upstream code is a real copy: reporting it is right; discounting a credited copy
    # is the reviewer's call, not the detector's.
    assert outcome.shared_found and all(outcome.shared_found)


def test_ground_truth_points_at_real_functions(corpus: Path) -> None:
    manifest = json.loads((corpus / "manifest.json").read_text())
    for cid in manifest["cases"]:
        truth = json.loads((corpus / cid / "truth.json").read_text())
        names: dict[tuple[str, str], set[str]] = {}
        for side in ("a", "b"):
            for path in (corpus / cid / side).rglob("*.py"):
                tree = ast.parse(path.read_text())  # every written file must parse
                rel = path.relative_to(corpus / cid / side).as_posix()
                quals = set()
                for node in tree.body:
                    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        quals.add(node.name)
                    elif isinstance(node, ast.ClassDef):
                        quals |= {
                            f"{node.name}.{m.name}"
                            for m in node.body
                            if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))
                        }
                names[(side, rel)] = quals
        for p in truth["pairs"] + truth["negatives"] + truth["shared"]:
            for side in ("a", "b"):
                assert p[side]["qualname"] in names[(side, p[side]["path"])], (cid, p)


def test_generator_is_deterministic(corpus: Path, tmp_path: Path) -> None:
    again = make_corpus(tmp_path / "again")
    first = sorted(p.relative_to(corpus).as_posix() for p in corpus.rglob("*") if p.is_file())
    second = sorted(p.relative_to(again).as_posix() for p in again.rglob("*") if p.is_file())
    assert first == second
    for rel in first:
        assert (corpus / rel).read_bytes() == (again / rel).read_bytes(), rel


def test_disguises_really_disguise(corpus: Path) -> None:
    # A renamed level that left the original names in place would measure nothing.
    manifest = json.loads((corpus / "manifest.json").read_text())
    renamed = 0
    for cid in manifest["cases"]:
        truth = json.loads((corpus / cid / "truth.json").read_text())
        if truth["level"] in ("L2", "L3", "L4"):
            for p in truth["pairs"]:
                assert p["a"]["qualname"] != p["b"]["qualname"], (cid, p)
                renamed += 1
    assert renamed > 0


HONEST_HEAD = """
from torch import nn


class TextHead(nn.Module):
    def __init__(self, cfg):
        super().__init__(cfg)
        self.n_words = cfg.vocab_size
        self.encoder = Encoder(cfg)
        self.head = nn.Linear(cfg.d_model, self.n_words)
        self.post_init()
"""


def test_a_copy_with_one_literal_flipped_scores_like_the_verbatim_copy(tmp_path: Path) -> None:
    # Transformers' PhiForCausalLM.__init__ is LlamaForCausalLM.__init__ with bias=True. The
    # verbatim constructor is reported whole; flipping one literal near its end must not make
    # the copy vanish (a one-token disguise), while an honest head built from the same parts
    # (super().__init__, a backbone, one nn.Linear, post_init) stays quiet.
    case = HERE / "disguise_small" / "one_literal"
    settings = Settings().with_overrides(jobs=1, min_unit_tokens=10)
    flipped = compare(case / "a", case / "b", settings)
    by_name = {(p.a.name, p.b.name): p for p in flipped.pairs}
    pair = by_name[("CausalHead.__init__", "TextHead.__init__")]
    assert flipped.finding and not pair.backed_only and pair.score > 0.9

    shutil.copytree(case / "a", tmp_path / "verbatim")
    verbatim = compare(case / "a", tmp_path / "verbatim", settings)
    assert max(p.score for p in verbatim.pairs if p.b.name == "CausalHead.__init__") == 1.0

    (tmp_path / "honest").mkdir()
    (tmp_path / "honest" / "head.py").write_text(HONEST_HEAD)
    honest = compare(case / "a", tmp_path / "honest", settings.with_overrides(pair_threshold=0.0))
    assert not honest.finding and honest.pairs == ()
