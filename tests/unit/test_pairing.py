"""Pairing of units that are the same code at the same place on both sides."""

from __future__ import annotations

from pathlib import Path

from plagiarism import Settings, compare
from plagiarism.model import Pair

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


CHAIN_A = """\
class Head:
    def __init__(self, layers):
        self.stem, self.fc1, self.act, self.norm, self.drop, self.fc2 = layers

    def forward(self, x):
        if self.stem is not None:
            x = self.stem(x)
        x = self.fc1(x)
        x = self.act(x)
        x = self.norm(x)
        x = self.drop(x)
        x = self.fc2(x)
        return x
"""

CHAIN_B = """\
class Block:
    def __init__(self, parts):
        self.downsample, self.in_conv, self.resnets, self.mid, self.post, self.out_conv = parts

    def forward(self, hidden):
        if self.downsample is not None:
            hidden = self.downsample(hidden)
        hidden = self.in_conv(hidden)
        hidden = self.resnets(hidden)
        hidden = self.mid(hidden)
        hidden = self.post(hidden)
        hidden = self.out_conv(hidden)
        return hidden
"""

COMPUTES_A = """\
import math
import torch

def init_(tensor, mean, std, a, b):
    def cdf(x):
        return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0
    lo = cdf((a - mean) / std)
    hi = cdf((b - mean) / std)
    tensor.uniform_(2 * lo - 1, 2 * hi - 1)
    tensor.erfinv_()
    tensor.mul_(std * math.sqrt(2.0))
    tensor.add_(mean)
    tensor.clamp_(min=a, max=b)
    return tensor
"""


def test_a_chain_of_layer_calls_is_not_a_finding(tmp_path: Path) -> None:
    # Two honest modules whose forward is glue between their own layers: the same tokens,
    # nothing computed. Not a finding on its own.
    a = _side(tmp_path / "a", {"head.py": CHAIN_A})
    b = _side(tmp_path / "b", {"block.py": CHAIN_B})
    r = compare(a, b, Settings(jobs=1, use_cache=False))
    assert not r.finding
    assert all(p.backed_only for p in r.pairs)


def test_a_renamed_computation_is_a_finding(tmp_path: Path) -> None:
    renamed = (
        COMPUTES_A.replace("init_", "fill_truncated")
        .replace("tensor", "w")
        .replace("cdf", "phi")
        .replace("lo", "low")
        .replace("hi", "high")
    )
    a = _side(tmp_path / "a", {"init.py": COMPUTES_A})
    b = _side(tmp_path / "b", {"weights.py": renamed})
    r = compare(a, b, Settings(jobs=1, use_cache=False))
    assert r.finding
    assert any(p.b.name == "fill_truncated" and not p.backed_only for p in r.pairs)


def _config_module(cls: str, fields: list[tuple[str, str]]) -> str:
    lines = ["from dataclasses import dataclass, field", "", "", "@dataclass", f"class {cls}:"]
    for name, default in fields:
        lines.append(
            f'    {name}: int = field(default={default}, metadata={{"help": "{name} knob"}})'
        )
    return "\n".join(lines) + "\n"


def test_two_config_dataclasses_in_house_style_are_not_a_finding(tmp_path: Path) -> None:
    # Hugging Face house style: each option a `field(default=..., metadata={"help": ...})`.
    # Two projects' option classes match token for token, names aside, and say nothing.
    a = _side(
        tmp_path / "a",
        {
            "pkg/dataclasses.py": _config_module(
                "LaunchPlugin", [(f"opt_{i}", "None") for i in range(12)]
            )
        },
    )
    b = _side(
        tmp_path / "b",
        {
            "tuner/config.py": _config_module(
                "AdapterConfig", [(f"knob{i}", "None") for i in range(9)]
            )
        },
    )
    r = compare(a, b, Settings(jobs=1, use_cache=False))
    assert [p for p in r.pairs if not p.backed_only] == []
    assert not r.finding


def test_a_short_copy_with_few_distinct_grams_is_still_a_finding(tmp_path: Path) -> None:
    # Short code has few k-grams because it is short, not because it repeats itself.
    src = (
        "import torch\n\n\n"
        "def fold(x, w):\n"
        "    y = torch.tanh(x @ w)\n"
        "    return torch.clamp(y * 2.5 - 1.0, min=-0.75, max=0.75).sum(dim=-1)\n"
    )
    renamed = src.replace("fold", "squash").replace("x", "inp").replace("w", "mat")
    a = _side(tmp_path / "a", {"m.py": src})
    b = _side(tmp_path / "b", {"n.py": renamed})
    r = compare(a, b, Settings(jobs=1, use_cache=False))
    assert any(p.b.name == "squash" and not p.backed_only for p in r.pairs)


def _options(cls: str, fields: list[tuple[str, str]]) -> str:
    # Typed options with their own defaults: code that is not repetitive, so only the
    # help texts can tell a copy from a look-alike.
    kinds = [("int", "8"), ("float", "16.0"), ("float", "0.1"), ("bool", "False")]
    lines = ["from dataclasses import dataclass, field", "", "", "@dataclass", f"class {cls}:"]
    for (name, help_text), (kind, default) in zip(fields, kinds, strict=False):
        lines.append(
            f"    {name}: {kind} = field(default={default}, metadata={{'help': '{help_text}'}})"
        )
    return "\n".join(lines) + "\n"


ORIGINAL_OPTIONS = [
    ("rank", "Rank of the low-rank update."),
    ("alpha", "Scaling applied to the update."),
    ("dropout", "Dropout on the adapter input."),
    ("merge", "Merge the weights after training."),
]


def test_short_option_classes_with_other_help_texts_are_not_a_finding(tmp_path: Path) -> None:
    honest = [
        ("steps", "How many micro-batches to accumulate."),
        ("scale", "Loss scale at the start."),
        ("clip", "Gradient norm clipping threshold."),
        ("sync", "Synchronise gradients at every step."),
    ]
    a = _side(tmp_path / "a", {"opts.py": _options("AdapterOptions", ORIGINAL_OPTIONS)})
    b = _side(tmp_path / "b", {"plugin.py": _options("AccumulationPlugin", honest)})
    r = compare(a, b, Settings(jobs=1, use_cache=False))
    assert not r.finding


def test_an_option_class_copied_with_its_help_texts_is_a_finding(tmp_path: Path) -> None:
    renamed = [(f"knob_{i}", text) for i, (_, text) in enumerate(ORIGINAL_OPTIONS)]
    a = _side(tmp_path / "a", {"opts.py": _options("AdapterOptions", ORIGINAL_OPTIONS)})
    b = _side(tmp_path / "b", {"cfg.py": _options("Knobs", renamed)})
    r = compare(a, b, Settings(jobs=1, use_cache=False))
    assert any(p.b.name == "Knobs" and not p.backed_only for p in r.pairs)


def test_shared_code_with_one_reworded_message_is_still_a_finding(tmp_path: Path) -> None:
    src = (
        "import numpy as np\n\n\n"
        "def grid_embed(dim, grid):\n"
        "    if dim % 2 != 0:\n"
        "        raise ValueError('dim must be even')\n"
        "    h = np.sin(grid[0] / 10000 ** (np.arange(dim // 2) / dim))\n"
        "    w = np.cos(grid[1] / 10000 ** (np.arange(dim // 2) / dim))\n"
        "    return np.concatenate([h, w], axis=1)\n"
    )
    reworded = src.replace("dim must be even", "dim must be divisible by 2")
    a = _side(tmp_path / "a", {"m.py": src})
    b = _side(tmp_path / "b", {"n.py": reworded})
    r = compare(a, b, Settings(jobs=1, use_cache=False))
    assert any(p.b.name == "grid_embed" and not p.backed_only for p in r.pairs)


def test_repetitive_code_copied_with_its_names_is_a_finding(tmp_path: Path) -> None:
    # An option class of alike fields with no prose to compare: repetitive, so it needs
    # more than its tokens; the same field names in the same order make it a copy (the
    # house-style test above, with other names, stays quiet).
    fields = ["lr", "warmup", "decay", "epochs", "batch", "accum", "seed", "workers"]
    lines = ["from dataclasses import dataclass, field", "", "", "@dataclass", "class Train:"]
    lines += [f"    {n}: int = field(default=None, metadata={{'group': 'train'}})" for n in fields]
    body = "\n".join(lines) + "\n"
    a = _side(tmp_path / "a", {"pkg/options.py": body})
    b = _side(tmp_path / "b", {"lib/knobs.py": body.replace("Train", "Knobs")})
    r = compare(a, b, Settings(jobs=1, use_cache=False))
    assert any(p.b.name == "Knobs" and not p.backed_only for p in r.pairs)


def _renamed_fused() -> tuple[str, str]:
    body = BRANCHES.split("else:")[0].replace("if torch.cuda.is_available():\n", "")
    body = "\n".join(line[4:] if line.startswith("    ") else line for line in body.splitlines())
    renamed = (
        body.replace("fused", "norm_affine").replace("weight", "gamma").replace("bias", "beta")
    )
    return body, renamed


def test_among_identical_origins_the_one_at_the_same_path_is_shown(tmp_path: Path) -> None:
    # Sixty identical origins explain the renamed copy equally well; the report must name one
    # the same way every time, and for a reason a reviewer can check: B's own path, even
    # past the candidate cap (50) and the structural tie-break's first eight.
    body, renamed = _renamed_fused()
    a = _side(tmp_path / "a", {f"pkg/m{i:02d}.py": body for i in range(60)})
    for at in ("pkg/m03.py", "pkg/m08.py", "pkg/m57.py"):
        b = _side(tmp_path / f"b-{at[-5:-3]}", {at: renamed})
        r = compare(a, b, Settings(jobs=1, use_cache=False))
        (pair,) = [p for p in r.pairs if p.b.name == "norm_affine"]
        assert pair.a.path == at


def test_among_identical_origins_elsewhere_the_first_in_a_is_shown(tmp_path: Path) -> None:
    body, renamed = _renamed_fused()
    a = _side(tmp_path / "a", {f"pkg/m{i:02d}.py": body for i in (4, 2, 7, 5)})
    b = _side(tmp_path / "b", {"vendor/ops.py": renamed})
    r = compare(a, b, Settings(jobs=1, use_cache=False))
    (pair,) = [p for p in r.pairs if p.b.name == "norm_affine"]
    assert pair.a.path == "pkg/m02.py"


TEMPLATE = """\
import torch


def setup_{name}(config, device):
    table = {{key: torch.tensor(value) for key, value in config.items()}}
    weights = torch.stack([table[k] for k in sorted(table)]).to(device)
    scale = weights.abs().amax(dim=0, keepdim=True).clamp(min=1e-6)
    return weights / scale, torch.log1p(scale).sum()
"""


def _template_findings(tmp_path: Path, copies: int) -> list[Pair]:
    """Findings when B holds `copies` files that each follow one function of A."""
    a = _side(tmp_path / "a", {"core/setup.py": TEMPLATE.format(name="core")})
    b = _side(
        tmp_path / "b",
        {f"pipes/p{i}/setup.py": TEMPLATE.format(name=f"pipe{i}") for i in range(copies)},
    )
    r = compare(a, b, Settings(jobs=1, use_cache=False))
    return [p for p in r.pairs if not p.backed_only]


def test_an_original_many_files_of_b_follow_is_a_template_not_a_source(tmp_path: Path) -> None:
    # The same setup function in six files of B, each following one function of A (as
    # diffusers' pipeline __init__ files all follow one lazy-import __init__ of
    # transformers): its one-to-one partner is judged, the other five are context.
    findings = _template_findings(tmp_path, 6)
    assert len(findings) == 1 and findings[0].one_to_one


def test_a_copy_pasted_into_two_files_is_still_two_findings(tmp_path: Path) -> None:
    findings = _template_findings(tmp_path, 2)
    assert len(findings) == 2 and sorted(p.one_to_one for p in findings) == [False, True]


def _guarded(check: str, lines: list[str]) -> str:
    """A Hugging Face availability check that fills the import table when it passes."""
    body = "\n".join(f"    {line}" for line in lines)
    return (
        f"try:\n    if not {check}():\n        raise OptionalDependencyNotAvailable()\n"
        f"except OptionalDependencyNotAvailable:\n    pass\nelse:\n{body}\n"
    )


DISTINCT = """\
import torch


def rescale_{name}(hidden, gamma, beta, steps=12, floor=1e-5):
    mean = hidden.mean(dim=-1, keepdim=True)
    spread = hidden.var(dim=-1, keepdim=True, unbiased=False).clamp(min=floor)
    hidden = (hidden - mean) * torch.rsqrt(spread) * gamma + beta
    for _ in range(steps):
        hidden = torch.nn.functional.gelu(hidden) * 0.5 + hidden.roll(1, dims=-1) * 0.25
    return hidden.flatten(1).softmax(dim=-1)
"""


def _house(name: str, entries: int) -> str:
    """One package's lazy-import module: the same template, its own table of `entries`."""
    lines = [f'_structure["part{k}_{name}"] = ["{name.title()}Part{k}"]' for k in range(entries)]
    return (
        "import torch\n"
        "from ...utils import OptionalDependencyNotAvailable, is_torch_available, lazy_module\n\n"
        f'_structure = {{"config_{name}": ["{name.title()}Config"]}}\n'
        + _guarded("is_torch_available", lines)
        + 'module = lazy_module(__name__, _structure, torch.device("cpu"))\n'
    )


def test_house_style_both_projects_repeat_is_not_a_finding(tmp_path: Path) -> None:
    # Both write the same lazy-import module in many packages (as every Hugging Face library
    # does), each with its own table: house style, not a copy. The distinctive function B
    # took stays a finding.
    a = _side(
        tmp_path / "a",
        {**{f"models/m{i}/__init__.py": _house(f"m{i}", i + 1) for i in range(8)},
         "ops/norm.py": DISTINCT.format(name="a")},
    )  # fmt: skip
    b = _side(
        tmp_path / "b",
        {**{f"pipes/p{i}/__init__.py": _house(f"p{i}", i + 9) for i in range(8)},
         "layers/scale.py": DISTINCT.format(name="b")},
    )  # fmt: skip
    r = compare(a, b, Settings(jobs=1, use_cache=False))
    findings = [p for p in r.pairs if not p.backed_only]
    assert [p.b.path for p in findings] == ["layers/scale.py"]


def _lazy(name: str) -> str:
    """A package `__init__` in the Hugging Face lazy-import template: wiring only."""
    title = name.title()
    return (
        "from typing import TYPE_CHECKING\n\n"
        "from ...utils import (\n    OptionalDependencyNotAvailable,\n    _LazyModule,\n"
        "    is_torch_available,\n    is_vision_available,\n)\n\n"
        f'_import_structure = {{"configuration_{name}": ["{title}Config"]}}\n\n'
        + _guarded(
            "is_torch_available",
            [f'_import_structure["modeling_{name}"] = ["{title}Model", "{title}PreTrainedModel"]'],
        )
        + "\n"
        + _guarded(
            "is_vision_available",
            [f'_import_structure["image_processing_{name}"] = ["{title}ImageProcessor"]'],
        )
        + f"\nif TYPE_CHECKING:\n    from .configuration_{name} import {title}Config\n"
        "else:\n    import sys\n\n    sys.modules[__name__] = _LazyModule(\n"
        '        __name__, globals()["__file__"], _import_structure, module_spec=__spec__\n    )\n'
    )


def test_a_lazy_import_module_elsewhere_is_wiring_not_a_finding(tmp_path: Path) -> None:
    # One package's __init__ follows another project's lazy-import template (as diffusers'
    # pipelines follow transformers' models): tables of its own names in the family's
    # wiring. Not a finding, however alike; at its own path it is a fork's own file, judged.
    a = _side(tmp_path / "a", {"models/alpha/__init__.py": _lazy("alpha")})
    elsewhere = _side(tmp_path / "b", {"pipelines/beta/__init__.py": _lazy("beta")})
    same_place = _side(tmp_path / "c", {"models/alpha/__init__.py": _lazy("beta")})
    settings = Settings(jobs=1, use_cache=False)
    moved = compare(a, elsewhere, settings)
    assert [p.b.name for p in moved.pairs if not p.backed_only] == []
    kept = compare(a, same_place, settings)
    assert [(p.b.name, p.backed_only) for p in kept.pairs] == [("<module>", False)]
    # The rule is the wiring's alone: the same module with one line of logic is judged.
    logic = _lazy("beta") + "\nDEFAULT_SIZE = max(224, len(_import_structure))\n"
    judged = compare(a, _side(tmp_path / "d", {"pipelines/beta/__init__.py": logic}), settings)
    assert [p.b.name for p in judged.pairs if not p.backed_only] == ["<module>"]


def test_a_pair_that_is_context_links_no_files(tmp_path: Path) -> None:
    # House style is no finding: it must not vouch for the rest of its files either, where
    # the small helper every package repeats would then be shown as evidence.
    helper = "\n\ndef scale_{name}(x):\n    return x.float().clamp(min=1e-6).log()\n"

    def package(name: str, entries: int) -> str:
        return _house(name, entries) + helper.format(name=name)

    a = _side(
        tmp_path / "a", {f"models/m{i}/__init__.py": package(f"m{i}", i + 1) for i in range(8)}
    )
    b = _side(
        tmp_path / "b", {f"pipes/p{i}/__init__.py": package(f"p{i}", i + 9) for i in range(8)}
    )
    assert compare(a, b, Settings(jobs=1, use_cache=False)).pairs == ()
