"""One Settings object: defaults here, `[tool.plagiarism]` and CLI flags merged over them once.

Every threshold a user may set lives here, with where its number came from. Constants of one
rule that are not meant to be tuned on their own (the finding rules' secondary counts in
match.py, the weight-forensics cut-offs in artifacts/weights.py, the readers' size caps)
stay beside the rule they serve, with their reasoning there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from plagiarism.errors import UsageError


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "plagiarism"


@dataclass(frozen=True, slots=True)
class Settings:
    """Every knob of a comparison, with its default (the CLI flags map onto these fields)."""

    # --- what is read -------------------------------------------------------------------
    include: tuple[str, ...] = ()  # globs; empty means every *.py and *.ipynb
    exclude: tuple[str, ...] = ()
    max_file_bytes: int = (
        2_000_000  # larger files are skipped with a warning (generated code, data)
    )
    max_notebook_bytes: int = 20_000_000  # notebooks carry outputs; only code cells are kept
    # Plain folders and checkouts: what a .gitignore in the tree leaves out is not read (a
    # virtualenv, build output), and is counted in a warning: the compared tree wrote those
    # rules. False reads everything (a committed tree never applies them).
    use_gitignore: bool = True
    cache_dir: Path = field(default_factory=default_cache_dir)
    # Per-file analyses are cached by content; about 49 bytes per line of source, so 4 GiB
    # holds ~80 M lines (docs/scale.md). Clones are cached regardless of these two.
    use_cache: bool = True
    cache_max_bytes: int = 4 << 30
    # A clone is stopped past this size on disk (full history: transformers is ~1.5 GB).
    max_clone_bytes: int = 20 << 30
    rev_a: str | None = None
    rev_b: str | None = None

    # --- fingerprints and candidates ---------------------------------------------------------
    # k=5 tokens: shorter grams collide on idioms (`self.$a = $v`), longer ones miss copies
    # whose statements were reordered; measured on the shipped corpus and the benchmark.
    kgram: int = 5
    num_perm: int = (
        128  # MinHash permutations: 128 keeps the Jaccard estimate within ~0.09 (1/sqrt(128))
    )
    # LSH threshold on estimated Jaccard of k-gram sets. Low on purpose: the index only proposes,
    # the exact alignment decides. Reordered or split copies keep ~0.3 of their k-grams.
    lsh_threshold: float = 0.2
    max_candidates_per_unit: int = 50  # bound the alignment work per unit of B

    # --- alignment and scores ------------------------------------------------------------------
    # Minimum match length of the greedy string tiling, in tokens. Runs shorter than this are
    # what two honest implementations share by calling the same APIs (`nn.Linear($v, $v)`).
    min_match: int = 12
    # Second pass: runs down to this length count when the renaming that the long runs
    # established confirms them (a statement moved within a copied function). 5 tokens is
    # one short statement (`$v = torch.cat ( $v )`); 0 turns the pass off.
    short_match: int = 5
    # Units with fewer tokens than this are not reported on their own: a two-line forward()
    # matches everything. They still count towards file and repo similarity.
    min_unit_tokens: int = 30
    # ... unless the unit is the same code as its partner, names aside, at least two
    # `min_match` runs long, and carries at least this many distinct anchors (library calls,
    # operators, constants; decorators do not count): a whole copied 29-token model factory
    # (`dict(norm_layer=nn.BatchNorm2d, **kw)`, timm's vgg11_bn) is evidence, a whole
    # `return self.fc(x)` or a property multiplying two attributes is not. 3: on the disguise
    # benchmark no honest suspect function of the negative cases reaches it, and the shipped
    # example's honest re-implementation keeps no finding (docs/benchmarks.md).
    small_unit_anchors: int = 3
    # A finding's matched tokens must carry at least this many distinct *content* symbols:
    # library names, external attributes, builtins, constants, operators, string literals.
    # Control keywords, punctuation and container brackets do not count. A chain of
    # `x = self.layer(x)` calls under `if self.layer is not None:` is what every torch
    # module's forward looks like: on timm vs diffusers 12 of 26 findings were such chains,
    # with none. 1, not 2: a verbatim 3-line constructor whose one library call is its
    # evidence (transformers' CompressedTensorsHfQuantizer.__init__) must stay a finding,
    # and 2 lost such copies on the disguise benchmark (docs/benchmarks.md). Such pairs are
    # still shown inside files that other findings link.
    min_content_anchors: int = 1
    # ... and, when it repeats itself (fewer distinct `kgram`-grams than half its matched
    # tokens), at least this many distinct grams: what a `min_unit_tokens` stretch without
    # repetition holds (30 - 5 + 1). Two config dataclasses of forty
    # `field(default=..., metadata={"help": ...})` lines match token for token with ~20
    # distinct grams between them (peft vs accelerate: 20 such findings; 0 disables).
    min_distinct_grams: int = 26
    # A pair is reported when its score (share of B's unit covered) reaches this.
    pair_threshold: float = 0.6
    # Inside two files already linked by reported pairs, a weaker pair (reordered
    # constructor, merged helper) is shown from this score, as context, not as a finding:
    # once a file is shown copied, its remaining look-alikes are credible.
    context_threshold: float = 0.3
    # Repo similarity (share of all B tokens explained) bands for the verdict.
    verdict_bands: tuple[tuple[float, str], ...] = (
        (0.5, "copied"),
        (0.2, "substantial overlap"),
        (0.05, "some shared code"),
        (0.0, "independent"),
    )
    # A run is a finding (exit code 1) when any pair is reported.
    jobs: int = 0  # 0 means all cores
    quiet: bool = False

    def with_overrides(self, **values: Any) -> Settings:
        known = {f.name for f in fields(self)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UsageError(f"unknown setting(s): {', '.join(unknown)}")
        clean = {k: v for k, v in values.items() if v is not None}
        if "cache_dir" in clean:
            clean["cache_dir"] = Path(clean["cache_dir"]).expanduser()
        for key in ("include", "exclude"):
            if key in clean:
                clean[key] = tuple(clean[key])
        out = replace(self, **clean)
        out.validate()
        return out

    def validate(self) -> None:
        if not 0.0 <= self.pair_threshold <= 1.0:
            raise UsageError("--threshold must be between 0 and 1")
        if not 0.0 <= self.context_threshold <= 1.0:
            raise UsageError("context_threshold must be between 0 and 1")
        if self.kgram < 2:
            raise UsageError("kgram must be at least 2")
        if self.short_match and not 2 <= self.short_match <= self.min_match:
            raise UsageError("short_match must be 0 or between 2 and min_match")
        if self.min_match < self.kgram:
            raise UsageError("min_match must be at least kgram")
        if self.small_unit_anchors < 1:
            raise UsageError("small_unit_anchors must be at least 1")
        if self.min_content_anchors < 0:
            raise UsageError("min_content_anchors must not be negative")
        if self.max_file_bytes <= 0:
            raise UsageError("--max-file-size must be positive")
        if self.cache_max_bytes <= 0:
            raise UsageError("--cache-max-bytes must be positive")
        if self.max_clone_bytes <= 0:
            raise UsageError("--max-clone-size must be positive")
        if self.jobs < 0:
            raise UsageError("--jobs must be 0 (all cores) or more")

    def verdict(self, similarity: float) -> str:
        for bound, name in self.verdict_bands:
            if similarity >= bound:
                return name
        return self.verdict_bands[-1][1]

    def public(self) -> dict[str, object]:
        """The settings a reviewer needs to reproduce a run (written into every result)."""
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in (
                "cache_dir",
                "quiet",
                "jobs",
                "use_cache",
                "cache_max_bytes",
                "max_clone_bytes",
            ):
                continue
            if isinstance(value, tuple):
                value = [list(v) if isinstance(v, tuple) else v for v in value]
            out[f.name] = value
        return out
