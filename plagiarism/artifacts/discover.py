"""Find tokenizer, config and weight files under one side's root, without trusting the tree.

The walk never follows a symlinked directory, keeps a symlinked file only when it resolves
inside the root, skips VCS and environment folders, and stops after a bounded number of
entries. Repositories often hold several model folders (checkpoints, examples); we pick the
one folder that looks most like "the model" and say which in the result.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from plagiarism.artifacts import LfsPointerError, read_json
from plagiarism.errors import ArtifactError
from plagiarism.model import Side, Warning

log = logging.getLogger(__name__)

TOKENIZER_FILES = frozenset(
    {
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "added_tokens.json",
        "vocab.txt",
        "vocab.json",
        "merges.txt",
    }
)
SENTENCEPIECE_SUFFIX = ".model"  # tokenizer.model, spiece.model, sentencepiece.bpe.model
# A model's config.json is a few kilobytes; past this it is some other tool's file.
MAX_CONFIG_BYTES = 1_000_000
CONFIG_FILES = frozenset({"config.json", "generation_config.json", "preprocessor_config.json"})
INDEX_FILE = "model.safetensors.index.json"
UNREAD_WEIGHTS = (".bin", ".pt", ".pth", ".ckpt", ".gguf", ".h5", ".msgpack", ".onnx")

_SKIP_DIRS = frozenset(
    {".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv", ".tox", ".mypy_cache"}
)
MAX_ENTRIES = 200_000  # files and folders visited per side; a repo larger than this is truncated
MAX_DEPTH = 12
MAX_JSON_BYTES = 64_000_000  # the largest tokenizer.json in common use (Gemma) is ~35 MB


@dataclass(slots=True)
class _Folder:
    weights: list[Path] = field(default_factory=list)
    weight_bytes: int = 0
    index: Path | None = None
    tokenizer: dict[str, Path] = field(default_factory=dict)
    configs: dict[str, Path] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Found:
    """The artifact files of one side, each kind taken from one folder."""

    side: Side
    root: Path
    weights: tuple[Path, ...] = ()  # the safetensors files of one checkpoint
    index: Path | None = None
    weights_dir: str | None = None  # relative to root, "." for the root itself
    tokenizer: dict[str, Path] = field(default_factory=dict)  # file name -> path
    tokenizer_dir: str | None = None
    configs: dict[str, Path] = field(default_factory=dict)
    configs_dir: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.weights or self.tokenizer or self.configs)

    def relative(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.name


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root)
    except (ValueError, OSError):
        return False
    return True


def _walk(root: Path, side: Side, warnings: list[Warning]) -> dict[Path, _Folder]:
    folders: dict[Path, _Folder] = {}
    seen = 0
    real_root = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        depth = len(here.relative_to(root).parts)
        dirnames[:] = sorted(
            d for d in dirnames if d not in _SKIP_DIRS and not (here / d).is_symlink()
        )
        if depth >= MAX_DEPTH:
            dirnames[:] = []
        seen += len(dirnames) + len(filenames)
        if seen > MAX_ENTRIES:
            warnings.append(
                Warning(side, None, f"more than {MAX_ENTRIES} entries: artifact search stopped")
            )
            break
        for name in sorted(filenames):
            path = here / name
            lower = name.lower()
            interesting = (
                lower.endswith(".safetensors")
                or name in TOKENIZER_FILES
                or name in CONFIG_FILES
                or name == INDEX_FILE
                or lower.endswith(SENTENCEPIECE_SUFFIX)
            )
            if not interesting:
                if lower.endswith(UNREAD_WEIGHTS) and depth <= 3:
                    warnings.append(
                        Warning(
                            side,
                            path.relative_to(root).as_posix(),
                            "weights in a format that is not read (only safetensors is: "
                            "pickled formats can run code)",
                            skipped=True,
                        )
                    )
                continue
            if path.is_symlink() and not _inside(path, real_root):
                warnings.append(
                    Warning(
                        side,
                        path.relative_to(root).as_posix(),
                        "symlink pointing outside the tree: not read",
                        skipped=True,
                    )
                )
                continue
            if not path.is_file():
                continue
            folder = folders.setdefault(here, _Folder())
            if lower.endswith(".safetensors"):
                folder.weights.append(path)
                folder.weight_bytes += path.stat().st_size
            elif name == INDEX_FILE:
                folder.index = path
            elif name in CONFIG_FILES:
                folder.configs[name] = path
            else:
                folder.tokenizer[name] = path
    return folders


def _looks_like_model_config(
    path: Path, side: Side, rel: Callable[[Path], str], warnings: list[Warning], beside_model: bool
) -> bool:
    """config.json is a common name; only count it when it reads like a model config. One
    that cannot be read is an editor's or a tool's as often as a model's: said only when it
    sits `beside_model` (weights, a tokenizer or another model config in its folder), where
    it is the model's config lost. One that is a Git LFS pointer is a model's, not fetched."""
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ValueError(f"larger than {MAX_CONFIG_BYTES} bytes")
        data = read_json(path.read_text(encoding="utf-8", errors="replace"))
    except LfsPointerError as exc:
        warnings.append(Warning(side, rel(path), f"config.json: {exc}", skipped=True))
        return False
    except (OSError, ValueError) as exc:
        if beside_model:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            warnings.append(
                Warning(
                    side,
                    rel(path),
                    f"config.json beside the model's files cannot be read ({reason}); not compared",
                    skipped=True,
                )
            )
        return False
    keys = {"model_type", "architectures", "hidden_size", "d_model", "n_embd", "vocab_size"}
    return isinstance(data, dict) and bool(keys & set(data))


def _beside_model(folder: _Folder) -> bool:
    return bool(folder.weights or folder.tokenizer or set(folder.configs) - {"config.json"})


def _index_files(index: Path, folder: Path) -> list[Path] | None:
    """The shard files an index names, kept to plain names inside its folder."""
    try:
        if index.stat().st_size > MAX_JSON_BYTES:
            return None
        data = read_json(index.read_text(encoding="utf-8"))
        weight_map = data["weight_map"]
        names = sorted({str(v) for v in weight_map.values()})
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    out = []
    for name in names:
        if "/" in name or "\\" in name or name in ("", ".", ".."):
            continue  # an index must not point outside its folder
        out.append(folder / name)
    return out


def discover(root: Path, side: Side) -> tuple[Found, list[Warning]]:
    """Find one side's artifacts. Raises ArtifactError when `root` is not a folder."""
    if not root.is_dir():
        raise ArtifactError(f"model folder not found: {root}")
    warnings: list[Warning] = []
    folders = _walk(root, side, warnings)

    def rel(p: Path) -> str:
        r = p.relative_to(root).as_posix()
        return r if r else "."

    def depth(p: Path) -> int:
        return len(p.relative_to(root).parts)

    # Weights: the folder with the most safetensors bytes is the checkpoint; others are noted.
    weights: tuple[Path, ...] = ()
    index: Path | None = None
    weights_dir: Path | None = None
    with_weights = sorted(
        (f for f in folders.items() if f[1].weights),
        key=lambda kv: (-kv[1].weight_bytes, depth(kv[0]), str(kv[0])),
    )
    if with_weights:
        weights_dir, chosen = with_weights[0]
        files = sorted(chosen.weights)
        if chosen.index is not None:
            listed = _index_files(chosen.index, weights_dir)
            if listed is None:
                warnings.append(
                    Warning(
                        side,
                        rel(chosen.index),
                        "unreadable shard index: every "
                        "safetensors file of the folder is read instead",
                    )
                )
            else:
                index = chosen.index
                missing = [p for p in listed if p not in files]
                for p in missing:
                    warnings.append(
                        Warning(side, rel(p), "shard named in the index is missing", skipped=True)
                    )
                files = [p for p in listed if p in files]
        weights = tuple(files)
        for other, folder in with_weights[1:]:
            warnings.append(
                Warning(
                    side,
                    rel(other),
                    f"another checkpoint ({len(folder.weights)} safetensors file(s)) not "
                    f"compared; the largest one, in {rel(weights_dir)}, was",
                    skipped=True,
                )
            )

    def pick(kind: str) -> tuple[Path | None, dict[str, Path]]:
        candidates = []
        for path, folder in folders.items():
            found = folder.tokenizer if kind == "tokenizer" else folder.configs
            if kind == "config":
                found = {
                    n: p
                    for n, p in found.items()
                    if n != "config.json"
                    or _looks_like_model_config(p, side, rel, warnings, _beside_model(folder))
                }
            if found:
                # A folder with the JSON/text files beats one with only a stray *.model file.
                weak = kind == "tokenizer" and not (set(found) & TOKENIZER_FILES)
                candidates.append((path != weights_dir, weak, depth(path), str(path), path, found))
        if not candidates:
            return None, {}
        candidates.sort(key=lambda c: c[:4])
        return candidates[0][4], candidates[0][5]

    tok_dir, tokenizer = pick("tokenizer")
    cfg_dir, configs = pick("config")
    for kind_files in (tokenizer, configs):
        for name, path in list(kind_files.items()):
            if not name.endswith(SENTENCEPIECE_SUFFIX) and path.stat().st_size > MAX_JSON_BYTES:
                warnings.append(
                    Warning(
                        side,
                        rel(path),
                        f"larger than {MAX_JSON_BYTES} bytes: not read",
                        skipped=True,
                    )
                )
                del kind_files[name]
    found = Found(
        side=side,
        root=root,
        weights=weights,
        index=index,
        weights_dir=rel(weights_dir) if weights_dir is not None else None,
        tokenizer=tokenizer,
        tokenizer_dir=rel(tok_dir) if tok_dir is not None and tokenizer else None,
        configs=configs,
        configs_dir=rel(cfg_dir) if cfg_dir is not None and configs else None,
    )
    return found, warnings
