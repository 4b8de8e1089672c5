"""Scoring rules that decide whether a pair is evidence: near-verbatim copies, whole small
copies, and twins told apart by the names a copy kept. Each test applies the disguise (or
the honest look-alike) the rule is about, through the library's front door."""

from __future__ import annotations

import re
from pathlib import Path

from plagiarism import Settings, compare
from plagiarism.model import Result
from plagiarism.report.text import render
from tests.unit.test_pairing import DISTINCT

SETTINGS = Settings().with_overrides(jobs=1, use_cache=False)


def run(tmp_path: Path, original: str, suspect: str, **overrides: object) -> Result:
    for side, text in (("a", original), ("b", suspect)):
        (tmp_path / side).mkdir(exist_ok=True)
        (tmp_path / side / "mod.py").write_text(text, encoding="utf-8")
    settings = SETTINGS.with_overrides(**overrides) if overrides else SETTINGS
    return compare(tmp_path / "a", tmp_path / "b", settings)


def pair_score(result: Result, a: str, b: str) -> float | None:
    for p in result.pairs:
        if p.a.name == a and p.b.name == b:
            return p.score
    return None


SETSTATE = """
import tokenizers


class Fast:
    def __setstate__(self, d):
        self.__dict__ = d
        vocab = self.__dict__["_tokenizer"].get_vocab()
        self.__dict__["_tokenizer"].pre_tokenizer = tokenizers.pre_tokenizers.PreTokenizer.custom(
            Splitter(vocab)
        )
"""


def test_a_default_added_to_a_parameter_keeps_a_copy_near_verbatim(tmp_path: Path) -> None:
    # Most of the body is `self.x[...]` stores and one library call: on its own, too few
    # anchors for a long run. The copy is the original with `d=None`, nothing else.
    suspect = SETSTATE.replace("Fast", "Slow").replace("(self, d)", "(self, d=None)")
    score = pair_score(run(tmp_path, SETSTATE, suspect), "Fast.__setstate__", "Slow.__setstate__")
    assert score is not None and score > 0.9


def test_an_edit_in_the_middle_of_a_short_run_is_not_bridged_into_a_copy(tmp_path: Path) -> None:
    # Same parts, different order and calls: not the same code with one token replaced.
    honest = """
import tokenizers


class Slow:
    def __setstate__(self, state):
        vocab = state["_tokenizer"].get_vocab()
        self.__dict__.update(state)
        self.__dict__["_tokenizer"].pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
"""
    result = run(tmp_path, SETSTATE, honest, pair_threshold=0.0)
    assert not result.finding


VGG = """
import torch.nn as nn


@register_model
def vgg11_bn(pretrained=False, **kwargs):
    model_args = dict(norm_layer=nn.BatchNorm2d, **kwargs)
    return _create_vgg("vgg11_bn", pretrained=pretrained, **model_args)
"""


def test_a_whole_small_copy_that_says_enough_is_a_finding(tmp_path: Path) -> None:
    suspect = VGG.replace("vgg11_bn", "net_a").replace("model_args", "opts")
    result = run(tmp_path, VGG, suspect)
    assert result.finding
    assert pair_score(result, "vgg11_bn", "net_a") == 1.0


def test_a_whole_small_idiom_is_not(tmp_path: Path) -> None:
    idiom = """
class Config:
    @property
    def num_positions(self):
        return self.grid_size * self.grid_size

    def scaled(self, x):
        return self.proj(x) * self.scale
"""
    suspect = idiom.replace("Config", "Plan").replace("grid_size", "cols")
    result = run(tmp_path, idiom, suspect, pair_threshold=0.0)
    assert not result.finding


TWINS = """
class RobertaFast(Base):
    def _batch_encode_plus(self, *args, **kwargs):
        is_split = kwargs.get("is_split_into_words", False)
        assert self.add_prefix_space or not is_split, "needs add_prefix_space"
        return super()._batch_encode_plus(*args, **kwargs)

    def _encode_plus(self, *args, **kwargs):
        is_split = kwargs.get("is_split_into_words", False)
        assert self.add_prefix_space or not is_split, "needs add_prefix_space"
        return super()._encode_plus(*args, **kwargs)
"""


def test_twin_methods_pair_by_the_names_the_copy_kept(tmp_path: Path) -> None:
    # Names aside, the two methods are the same code; a copy that kept the method names
    # must not be paired crosswise.
    result = run(tmp_path, TWINS, TWINS.replace("RobertaFast", "BlenderbotFast"))
    partner = {p.b.name: p.a.name for p in result.pairs if p.one_to_one}
    assert partner["BlenderbotFast._encode_plus"] == "RobertaFast._encode_plus"
    assert partner["BlenderbotFast._batch_encode_plus"] == "RobertaFast._batch_encode_plus"


ORIGINAL = (
    DISTINCT.format(name="core")
    + """

def pool_tokens(tokens, mask, temperature=0.07):
    weights = (tokens @ tokens.mean(dim=1, keepdim=True).transpose(1, 2)) / temperature
    weights = weights.masked_fill(~mask.unsqueeze(-1), float("-inf")).softmax(dim=1)
    pooled = (weights * tokens).sum(dim=1)
    return torch.nn.functional.normalize(pooled, dim=-1), weights.squeeze(-1)
"""
)


def _own_code(i: int) -> str:
    """A module of the suspect's own: text handling, nothing like the original."""
    return f"""
import re


def clean_{i}(text, limit={40 + i}):
    words = [w.strip(".,;") for w in re.split(r"\\s+", text) if w]
    seen = set()
    out = []
    for word in words:
        key = word.lower()
        if key in seen or len(out) >= limit:
            continue
        seen.add(key)
        out.append(word.title() if len(word) > {3 + i % 4} else word)
    return " ".join(out)


def count_{i}(lines):
    totals = {{}}
    for line in lines:
        for char in line:
            totals[char] = totals.get(char, 0) + {1 + i % 3}
    return sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[: {5 + i}]
"""


def test_an_original_held_whole_in_a_larger_suspect_is_a_copy(tmp_path: Path) -> None:
    # A fork that keeps all of a small original among much code of its own: little of B is
    # A's, but A is all there. The verdict reads both shares.
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "ops.py").write_text(ORIGINAL, encoding="utf-8")
    own = tmp_path / "b" / "text"
    own.mkdir(parents=True)
    (tmp_path / "b" / "vendor_ops.py").write_text(ORIGINAL.replace("rescale_core", "renorm"))
    for i in range(30):
        (own / f"m{i}.py").write_text(_own_code(i), encoding="utf-8")
    result = compare(tmp_path / "a", tmp_path / "b", SETTINGS)
    s = result.summary
    assert s.similarity < 0.1 and s.similarity_a > 0.9
    assert s.matched_tokens_a <= s.tokens_a
    assert s.verdict == "copied"
    # The other way round the suspect is all the original's, which is little of it.
    back = compare(tmp_path / "b", tmp_path / "a", SETTINGS).summary
    assert back.similarity > 0.9 and back.similarity_a < 0.1 and back.verdict == "copied"


def test_the_summary_marks_context_pairs(tmp_path: Path) -> None:
    # A class header is a few tokens: matched whole beside a copied method, it is context,
    # and the terminal summary must not list its 1.00 as if it were a finding.
    method = DISTINCT.format(name="x").split("\n\n\n", 1)[1]
    body = "import torch\n\n\nclass Net(torch.nn.Module):\n" + "".join(
        f"    {line}\n" if line else "\n" for line in method.splitlines()
    ).replace("rescale_x(hidden", "rescale_x(self, hidden")
    result = run(tmp_path, body, body.replace("Net", "Model").replace("rescale_x", "renorm"))
    kinds = {p.b.name: p.backed_only for p in result.pairs}
    assert kinds == {"Model.renorm": False, "Model": True}
    lines = render(result).splitlines()
    (header,) = [line for line in lines if " Model mod.py" in line]
    (method,) = [line for line in lines if "Model.renorm" in line]
    assert header.endswith("(context)") and not method.endswith(")")
    assert any(line.strip().startswith("(context: too small or weak") for line in lines)


def test_class_headers_that_look_alike_add_no_renames(tmp_path: Path) -> None:
    # Every `class X(torch.nn.Module):` header is the same few tokens: beside a copied class,
    # the suspect's other classes match the original's header too, as context. Those are no
    # renames (`Norm -> Rotary`); the copied class's own are.
    method = DISTINCT.format(name="x").split("\n\n\n", 1)[1]
    body = "".join(f"    {line}\n" if line else "\n" for line in method.splitlines())
    body = body.replace("rescale_x(hidden", "rescale_x(self, hidden")
    original = f"import torch\n\n\nclass Norm(torch.nn.Module):\n{body}"
    suspect = original.replace("Norm", "Scale").replace("rescale_x", "renorm") + "".join(
        f"\n\nclass {name}(torch.nn.Module):\n    pass\n" for name in ("Rotary", "Gate")
    )
    result = run(tmp_path, original, suspect)
    assert {(p.b.name, p.one_to_one) for p in result.pairs if p.backed_only} >= {
        ("Rotary", False),
        ("Gate", False),
    }
    assert {(r.a, r.b) for r in result.renames} == {("Norm", "Scale"), ("rescale_x", "renorm")}


# Small helpers of the kind ML repositories keep in a utils module: each under
# `min_unit_tokens`, each too plain to count alone.
HELPERS = """
import math

import torch


def exists(val):
    return val is not None


def default(val, d):
    return val if exists(val) else d


def divisible_by(numer, denom):
    return (numer % denom) == 0


def l2norm(t):
    return torch.nn.functional.normalize(t, dim=-1)


def log(t, eps=1e-20):
    return torch.log(t.clamp(min=eps))


def round_down_pow2(n):
    return 2 ** int(math.floor(math.log2(n)))
"""
HELPER_NAMES = ("exists", "default", "divisible_by", "l2norm", "log", "round_down_pow2")


def _renamed(text: str, names: tuple[str, ...]) -> str:
    for name in names:
        text = re.sub(rf"(?<![.\w]){name}\(", f"my_{name}_fn(", text)
    return re.sub(r"\bval\b", "value", re.sub(r"\bt\b", "x", text))


def test_small_helpers_renamed_together_are_a_copy(tmp_path: Path) -> None:
    result = run(tmp_path, HELPERS, _renamed(HELPERS, HELPER_NAMES))
    assert result.finding
    found = {p.b.name for p in result.pairs if not p.backed_only}
    assert found == {f"my_{name}_fn" for name in HELPER_NAMES}
    # Alone, one of them says too little: the same copy of three is no finding.
    kept = "\n\n\n".join(HELPERS.split("\n\n\n")[:4])
    assert not run(tmp_path, kept, _renamed(kept, HELPER_NAMES)).finding


def test_small_units_that_say_nothing_or_repeat_are_no_bulk_copy(tmp_path: Path) -> None:
    # Three helpers copied are too few. Beside them, every Hugging Face model's accessors
    # (the same code in any two projects of the ecosystem) and decorators written from one
    # template (its twins pair with each other by chance) must not make up the number.
    accessors = "".join(
        f"""
    def get_{name}(self):
        return self.{name}

    def set_{name}(self, value):
        self.{name} = value
"""
        for name in ("embed_tokens", "lm_head")
    )
    decorators = "".join(
        f"""

def require_{name}(test_case):
    return unittest.skipUnless(is_{name}_available(), "test requires {name}")(test_case)
"""
        for name in ("torch", "vision", "audio")
    )

    def module(helpers: int) -> str:
        kept = "\n\n\n".join(HELPERS.split("\n\n\n")[-helpers:])
        return (
            "import unittest\n\nfrom .utils import is_audio_available, is_torch_available, "
            f"is_vision_available\n{kept}{decorators}\n\nclass Model(Base):\n{accessors}"
        )

    three = module(3)
    assert not run(tmp_path, three, _renamed(three, HELPER_NAMES).replace("Model", "Net")).finding
    # A fourth helper makes a copy of them, and only of them.
    four = module(4)
    result = run(tmp_path, four, _renamed(four, HELPER_NAMES).replace("Model", "Net"))
    assert {p.b.name for p in result.pairs if not p.backed_only} == {
        f"my_{name}_fn" for name in HELPER_NAMES[-4:]
    }
    assert {"Net.get_lm_head", "require_vision"} <= {p.b.name for p in result.pairs}


def test_the_terminal_lists_what_a_fork_changed_before_what_it_kept(tmp_path: Path) -> None:
    # A fork holds most of its upstream unchanged: those 1.00 pairs must not fill the top of
    # the list ahead of the function it renamed.
    original = DISTINCT.format(name="a") + "\n\n" + _own_code(1) + "\n\n" + _own_code(2)
    fork = original.replace("rescale_a", "renorm").replace("hidden", "h")
    result = run(tmp_path, original, fork)
    lines = render(result).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Top pairs"))
    assert lines[start].endswith("4 of them code B holds unchanged, listed last):")
    top = lines[start + 1 : start + 6]
    assert "rescale_a mod.py" in top[0] and "renorm mod.py" in top[0]
    assert not top[0].endswith("(unchanged)")
    assert all(line.endswith("(unchanged)") for line in top[1:])


PREPARE = """
import torch


def prepare(x, eps=1e-6):
    x = x.float().clamp(min=eps).log()
    return x.softmax(dim=-1).cumsum(dim=-1)
"""
CLEAN = """
import torch


def clean(t, floor=1e-6):
    t = t.float().clamp(min=floor).log()
    return torch.sigmoid(t).mean(dim=0)
"""


def test_one_shared_idiom_in_a_small_function_is_no_finding_alone(tmp_path: Path) -> None:
    # 69 % of `clean` is one run shared with `prepare` (the header and a clamp-and-log line),
    # what two independent helpers can share. Beside a real copy of the same files it counts.
    (tmp_path / "alone").mkdir()
    alone = run(tmp_path / "alone", PREPARE, CLEAN)
    assert not alone.finding and alone.pairs == ()
    (tmp_path / "beside").mkdir()
    copied = DISTINCT.format(name="x")
    beside = run(tmp_path / "beside", PREPARE + copied, CLEAN + copied.replace("rescale_x", "f"))
    assert {p.b.name for p in beside.pairs if not p.backed_only} == {"clean", "f"}


def test_a_small_copy_with_one_statement_changed_is_still_a_finding(tmp_path: Path) -> None:
    original = """
import torch


def build_head(dim, classes, drop=0.1):
    norm = torch.nn.LayerNorm(dim, eps=1e-6)
    proj = torch.nn.Linear(dim, classes)
    torch.nn.init.zeros_(proj.bias)
    return torch.nn.Sequential(norm, torch.nn.Dropout(drop), proj, torch.nn.Softmax(dim=-1))
"""
    # Renamed throughout, and the one init statement replaced by another.
    copy = original.replace("zeros_(proj.bias)", "trunc_normal_(fc.weight)")
    for old, new in {
        "build_head": "make_classifier",
        "norm": "ln",
        "proj": "fc",
        "dim": "width",
    }.items():
        copy = re.sub(rf"\b{old}\b(?!=)", new, copy)  # `dim=-1` is a keyword of torch
    copy = re.sub(r"\bclasses\b", "n_out", re.sub(r"\bdrop\b", "p", copy))
    result = run(tmp_path, original, copy)
    assert [(p.b.name, p.backed_only) for p in result.pairs] == [("make_classifier", False)]


def test_a_run_flags_the_pairs_whose_code_b_holds_unchanged(tmp_path: Path) -> None:
    # The fork renamed one function and added an import above the rest (their lines
    # shifted): the rest is unchanged code, the renamed one is not.
    original = DISTINCT.format(name="a") + "\n\n" + _own_code(1) + "\n\n" + _own_code(2)
    fork = "import math\n" + original.replace("rescale_a", "renorm").replace("hidden", "h")
    result = run(tmp_path, original, fork)
    flags = {p.b.name: p.unchanged for p in result.pairs}
    assert flags.pop("renorm") is False
    assert flags and all(flags.values())
    assert all(p.a.start_line != p.b.start_line for p in result.pairs if p.unchanged)
