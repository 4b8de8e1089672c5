"""Compare two tokenizers: vocabulary, merges, and the special tokens they share beyond a base.

A model that reuses another's tokenizer usually keeps its vocabulary (which by itself only says
"same base", e.g. both are Llama 3) but also its added special tokens, and those are chosen by
the original's authors. The tokens both sides add, minus those of a well-known base, are the
fingerprint. Files are parsed as plain JSON/text (nothing in them is executed); the
`tokenizers` library, when installed, adds a behavioural check on a probe text.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plagiarism.artifacts import read_json
from plagiarism.artifacts.discover import SENTENCEPIECE_SUFFIX, Found, discover
from plagiarism.model import Side, Warning

log = logging.getLogger(__name__)

ROLE_KEYS = (
    "bos_token",
    "eos_token",
    "unk_token",
    "sep_token",
    "pad_token",
    "cls_token",
    "mask_token",
)
MAX_LISTED = 1000  # tokens listed in the JSON; the counts cover them all
MAX_SENTENCEPIECE_BYTES = 64_000_000

# A probe text of our own: prose, code, digits, whitespace runs and non-Latin scripts, so that
# two tokenizers that merely share a vocabulary but split differently are told apart.
PROBE_TEXT = (
    "The quick brown fox jumps over the lazy dog. 12345 + 678 = 13023\n"
    "def forward(self, x):\n    return self.proj(x) * 0.5  # residual\n"
    "Größenordnung, naïve café; 机器学习模型; Привет мир; ¿Qué tal? \t\t  end"
)


@dataclass(frozen=True, slots=True)
class Base:
    """A widely used tokenizer, described by the special tokens it defines (our data)."""

    name: str
    signature: frozenset[str]  # all present -> this base is recognised
    special: frozenset[str]  # removed from the shared special tokens
    vocab_sizes: tuple[int, ...]


def _llama3_special() -> frozenset[str]:
    named = {
        "<|begin_of_text|>",
        "<|end_of_text|>",
        "<|start_header_id|>",
        "<|end_header_id|>",
        "<|eot_id|>",
        "<|eom_id|>",
        "<|python_tag|>",
        "<|finetune_right_pad_id|>",
        "<|image|>",
    }
    # Llama 3 reserves 251 numbered tokens; 3.1 renamed a few of them, so the union is kept.
    reserved = {f"<|reserved_special_token_{i}|>" for i in range(251)}
    return frozenset(named | reserved)


BUILTIN_BASES: tuple[Base, ...] = (
    Base(
        "bert",
        frozenset({"[CLS]", "[SEP]", "[MASK]"}),
        frozenset({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}),
        (30522, 28996, 119547, 21128),
    ),
    Base("gpt2", frozenset({"<|endoftext|>"}), frozenset({"<|endoftext|>"}), (50257,)),
    Base(
        "t5",
        frozenset({"<extra_id_0>", "</s>"}),
        frozenset({"</s>", "<unk>", "<pad>"} | {f"<extra_id_{i}>" for i in range(100)}),
        (32100,),
    ),
    Base(
        "llama2",
        frozenset({"<s>", "</s>", "<unk>"}),
        frozenset({"<s>", "</s>", "<unk>"}),
        (32000,),
    ),
    Base(
        "llama3",
        frozenset({"<|begin_of_text|>", "<|end_of_text|>"}),
        _llama3_special(),
        (128256,),
    ),
)


@dataclass(frozen=True, slots=True)
class TokenizerData:
    side: Side | None
    folder: str | None
    files: tuple[str, ...]
    model_type: str | None  # BPE, WordPiece, Unigram, WordLevel, sentencepiece
    tokenizer_class: str | None
    vocab: dict[str, int]
    merges: tuple[str, ...]  # "left right", in file order (the order is the training trace)
    added: dict[str, int | None]  # added/special token content -> id (None when unknown)
    roles: dict[str, str]  # bos_token -> "<s>", ...
    tokenizer_json: Path | None = None
    not_read: tuple[str, ...] = field(default=())

    @property
    def universe(self) -> set[str]:
        return set(self.vocab) | set(self.added)


def _read_json(path: Path) -> Any:
    return read_json(path.read_text(encoding="utf-8"))


def _content(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return str(value["content"])
    return None


def _merge_text(entry: object) -> str | None:
    if isinstance(entry, str):
        return entry
    if isinstance(entry, list) and len(entry) == 2 and all(isinstance(p, str) for p in entry):
        return f"{entry[0]} {entry[1]}"
    return None


def load_tokenizer(found: Found) -> tuple[TokenizerData | None, list[Warning]]:
    """Read whatever tokenizer files one side has into one TokenizerData."""
    files = found.tokenizer
    if not files:
        return None, []
    warnings: list[Warning] = []
    vocab: dict[str, int] = {}
    merges: list[str] = []
    added: dict[str, int | None] = {}
    roles: dict[str, str] = {}
    model_type: str | None = None
    tokenizer_class: str | None = None
    read: list[str] = []
    not_read: list[str] = []

    def warn(name: str, reason: str) -> None:
        warnings.append(Warning(found.side, found.relative(files[name]), reason, skipped=True))

    def add(content: str | None, token_id: object = None) -> None:
        if content is None or not content:
            return
        tid = token_id if isinstance(token_id, int) and not isinstance(token_id, bool) else None
        if added.get(content) is None:
            added[content] = tid

    def roles_from(data: dict[str, Any]) -> None:
        for key in ROLE_KEYS:
            content = _content(data.get(key))
            if content:
                roles.setdefault(key, content)
                add(content)
        extra = data.get("additional_special_tokens")
        if isinstance(extra, list):
            for item in extra:
                add(_content(item))

    if "tokenizer.json" in files:
        try:
            data = _read_json(files["tokenizer.json"])
            model = data.get("model") if isinstance(data, dict) else None
            if not isinstance(model, dict):
                raise ValueError("no model section")
            model_type = str(model.get("type") or "") or None
            raw_vocab = model.get("vocab")
            if isinstance(raw_vocab, dict):
                vocab = {str(k): int(v) for k, v in raw_vocab.items() if isinstance(v, int)}
            elif isinstance(raw_vocab, list):  # Unigram: [[piece, score], ...], id = position
                vocab = {str(e[0]): i for i, e in enumerate(raw_vocab) if isinstance(e, list) and e}
            for entry in model.get("merges") or []:
                text = _merge_text(entry)
                if text is not None:
                    merges.append(text)
            for tok in data.get("added_tokens") or []:
                if isinstance(tok, dict):
                    add(_content(tok), tok.get("id"))
            read.append("tokenizer.json")
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            warn("tokenizer.json", f"unreadable tokenizer.json: {exc}"[:300])

    def json_part(name: str, use: Callable[[dict[str, Any]], None]) -> None:
        """One JSON file of the folder into `use`, when it holds an object: a file that
        cannot be read (or used) is a warning naming it, never an error."""
        if name not in files:
            return
        try:
            data = _read_json(files[name])
            if isinstance(data, dict):
                use(data)
                read.append(name)
        except (OSError, ValueError) as exc:
            warn(name, f"unreadable {name}: {exc}"[:300])

    def use_vocab(data: dict[str, Any]) -> None:
        nonlocal vocab
        vocab = {str(k): int(v) for k, v in data.items() if isinstance(v, int)}

    def use_config(data: dict[str, Any]) -> None:
        nonlocal tokenizer_class
        decoder = data.get("added_tokens_decoder")
        if isinstance(decoder, dict):
            for key, tok in decoder.items():
                add(_content(tok), int(key) if str(key).isdigit() else None)
        roles_from(data)
        if isinstance(data.get("tokenizer_class"), str):
            tokenizer_class = data["tokenizer_class"]

    def use_added(data: dict[str, Any]) -> None:
        for content, tid in data.items():
            add(str(content), tid)

    if not vocab:
        json_part("vocab.json", use_vocab)
    if not vocab and "vocab.txt" in files:
        try:
            lines = files["vocab.txt"].read_text(encoding="utf-8").split("\n")
            if lines and lines[-1] == "":
                lines.pop()
            vocab = {}
            for i, line in enumerate(lines):
                vocab.setdefault(line.rstrip("\r"), i)
            model_type = model_type or "WordPiece"
            read.append("vocab.txt")
        except (OSError, UnicodeDecodeError) as exc:
            warn("vocab.txt", f"unreadable vocab.txt: {exc}"[:300])
    if not merges and "merges.txt" in files:
        try:
            for line in files["merges.txt"].read_text(encoding="utf-8").splitlines():
                if line.startswith("#version") or not line.strip():
                    continue
                merges.append(line)
            model_type = model_type or "BPE"
            read.append("merges.txt")
        except (OSError, UnicodeDecodeError) as exc:
            warn("merges.txt", f"unreadable merges.txt: {exc}"[:300])
    json_part("tokenizer_config.json", use_config)
    json_part("special_tokens_map.json", roles_from)
    json_part("added_tokens.json", use_added)
    for name in sorted(n for n in files if n.endswith(SENTENCEPIECE_SUFFIX)):
        if vocab:
            continue  # the JSON files already gave the vocabulary
        pieces = _sentencepiece_vocab(files[name])
        if pieces is None:
            not_read.append(name)
            warn(name, "sentencepiece model not read (install `sentencepiece` to compare it)")
            continue
        vocab = {p: i for i, p in reversed(list(enumerate(pieces)))}
        model_type = model_type or "sentencepiece"
        read.append(name)

    # Ids of role tokens defined only by name come from the vocabulary.
    for content, tid in list(added.items()):
        if tid is None and content in vocab:
            added[content] = vocab[content]
    if not read:
        return None, warnings
    return (
        TokenizerData(
            side=found.side,
            folder=found.tokenizer_dir,
            files=tuple(read),
            model_type=model_type,
            tokenizer_class=tokenizer_class,
            vocab=vocab,
            merges=tuple(merges),
            added=added,
            roles=roles,
            tokenizer_json=files.get("tokenizer.json") if "tokenizer.json" in read else None,
            not_read=tuple(not_read),
        ),
        warnings,
    )


def _sentencepiece_vocab(path: Path) -> list[str] | None:
    """Pieces of a sentencepiece model, through the library when it is installed."""
    try:
        import sentencepiece
    except ImportError:
        return None
    try:
        if path.stat().st_size > MAX_SENTENCEPIECE_BYTES:
            return None
        proc = sentencepiece.SentencePieceProcessor()
        proc.LoadFromSerializedProto(path.read_bytes())
        return [proc.IdToPiece(i) for i in range(proc.GetPieceSize())]
    except Exception:  # noqa: BLE001 - a third-party parser on untrusted bytes: any failure = skip
        log.debug("sentencepiece could not read %s", path, exc_info=True)
        return None


def load_base(path: Path) -> tuple[TokenizerData | None, list[Warning]]:
    """The tokenizer given with --base-tokenizer: a folder, or one of its files."""
    folder = path if path.is_dir() else path.parent
    found, warnings = discover(folder, "a")
    if path.is_file():
        # Only the named file and its siblings in the same folder.
        own = {n: p for n, p in found.tokenizer.items() if p.parent == folder}
        found = Found(side="a", root=folder, tokenizer=own, tokenizer_dir=".")
    data, more = load_tokenizer(found)
    out = [Warning(None, w.path, f"base tokenizer: {w.reason}", w.skipped) for w in warnings + more]
    if data is None:
        return None, out
    return TokenizerData(
        None, str(path), data.files, data.model_type, data.tokenizer_class, data.vocab,
        data.merges, data.added, data.roles, data.tokenizer_json, data.not_read,
    ), out  # fmt: skip


def recognise_bases(tok: TokenizerData) -> list[Base]:
    universe = tok.universe
    return [b for b in BUILTIN_BASES if b.signature <= universe]


def _probe(a: TokenizerData, b: TokenizerData) -> dict[str, object] | None:
    """Encode our probe text with both tokenizers (needs the `tokenizers` library)."""
    if a.tokenizer_json is None or b.tokenizer_json is None:
        return None
    try:
        from tokenizers import Tokenizer
    except ImportError:
        return None
    try:
        ids_a = Tokenizer.from_file(str(a.tokenizer_json)).encode(PROBE_TEXT).ids
        ids_b = Tokenizer.from_file(str(b.tokenizer_json)).encode(PROBE_TEXT).ids
    except Exception:  # noqa: BLE001 - the library rejects formats it does not know; not fatal
        log.debug("tokenizers could not load a tokenizer.json", exc_info=True)
        return None
    return {"same_ids": ids_a == ids_b, "tokens_a": len(ids_a), "tokens_b": len(ids_b)}


def _common_prefix(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _listed(tokens: Iterable[str]) -> list[str]:
    return sorted(tokens)[:MAX_LISTED]


def _side(t: TokenizerData, bases: list[Base]) -> dict[str, object]:
    return {
        "folder": t.folder,
        "files": list(t.files),
        "model_type": t.model_type,
        "tokenizer_class": t.tokenizer_class,
        "vocab_size": len(t.vocab),
        "merges": len(t.merges),
        "added_tokens": len(t.added),
        "recognised_bases": [b.name for b in bases],
        "roles": dict(sorted(t.roles.items())),
    }


def compare_tokenizers(
    a: TokenizerData, b: TokenizerData, base: TokenizerData | None = None
) -> dict[str, object]:
    bases_a = recognise_bases(a)
    bases_b = recognise_bases(b)
    excluded: set[str] = set()
    for known in {*bases_a, *bases_b}:
        excluded |= known.special
    if base is not None:
        excluded |= base.universe

    shared_vocab = set(a.vocab) & set(b.vocab)
    union_vocab = set(a.vocab) | set(b.vocab)
    same_id = sum(1 for t in shared_vocab if a.vocab[t] == b.vocab[t])
    shared_added = set(a.added) & set(b.added)
    beyond_base = shared_added - excluded
    same_id_added = sorted(
        t for t in beyond_base if a.added[t] is not None and a.added[t] == b.added[t]
    )
    merges_a, merges_b = set(a.merges), set(b.merges)

    vocab_section: dict[str, object] = {
        "shared": len(shared_vocab),
        "jaccard": round(len(shared_vocab) / len(union_vocab), 6) if union_vocab else None,
        "same_id": same_id,
        "same_id_share": round(same_id / len(shared_vocab), 6) if shared_vocab else None,
        "identical": bool(a.vocab) and a.vocab == b.vocab,
    }
    if base is not None and base.vocab:
        beyond = shared_vocab - set(base.vocab)
        only_a = set(a.vocab) - set(base.vocab)
        only_b = set(b.vocab) - set(base.vocab)
        vocab_section["shared_beyond_base"] = len(beyond)
        vocab_section["shared_beyond_base_tokens"] = _listed(beyond)[:50]
        vocab_section["beyond_base_a"] = len(only_a)
        vocab_section["beyond_base_b"] = len(only_b)
    merges_section: dict[str, object] = {
        "shared": len(merges_a & merges_b),
        "identical": bool(a.merges) and a.merges == b.merges,
        "common_prefix": _common_prefix(a.merges, b.merges),
    }
    if a.merges and b.merges:
        merges_section["jaccard"] = round(len(merges_a & merges_b) / len(merges_a | merges_b), 6)

    identical = (
        vocab_section["identical"] is True and a.merges == b.merges and set(a.added) == set(b.added)
    )
    jaccard = vocab_section["jaccard"]
    if identical:
        verdict = "identical"
    elif beyond_base:
        verdict = "shared-extensions"
    elif isinstance(jaccard, float) and jaccard >= 0.99:
        verdict = "same-vocabulary"
    else:
        verdict = "different"
    return {
        "verdict": verdict,
        "shared_special_tokens": _listed(beyond_base),
        "shared_special_tokens_count": len(beyond_base),
        "shared_special_tokens_same_id": same_id_added[:MAX_LISTED],
        "shared_added_tokens": len(shared_added),
        "base": {
            "given": base.folder if base is not None else None,
            "recognised": sorted({x.name for x in (*bases_a, *bases_b)}),
            "tokens_removed": len(shared_added & excluded),
        },
        "vocab": vocab_section,
        "merges": merges_section,
        "probe": _probe(a, b),
        "a": _side(a, bases_a),
        "b": _side(b, bases_b),
    }
