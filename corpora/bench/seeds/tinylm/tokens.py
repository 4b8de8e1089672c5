"""Byte-level tokenizer helpers for tinylm."""

import unicodedata


def byte_alphabet():
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(161, 173)) + list(range(174, 256))
    codes = printable[:]
    extra = 0
    for value in range(256):
        if value not in printable:
            printable.append(value)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, [chr(c) for c in codes]))


def bpe_encode(word, merges):
    parts = list(word)
    while len(parts) > 1:
        ranked = [(merges.get((parts[i], parts[i + 1])), i) for i in range(len(parts) - 1)]
        ranked = [r for r in ranked if r[0] is not None]
        if not ranked:
            break
        _, at = min(ranked)
        parts = parts[:at] + [parts[at] + parts[at + 1]] + parts[at + 2:]
    return parts


def normalize_text(text):
    text = unicodedata.normalize("NFD", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    out = []
    for ch in text:
        if ch.isspace():
            out.append(" ")
        elif unicodedata.category(ch).startswith("C"):
            continue
        else:
            out.append(ch)
    return "".join(out).strip()
