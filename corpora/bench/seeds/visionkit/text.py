"""Caption tokenization helpers (visionkit seed package)."""

import re
import unicodedata


def clean_caption(text, lower=True):
    text = unicodedata.normalize("NFKC", text)
    text = re.sub(r"https?://\S+", " ", text)
    text = re.sub(r"<[^>]+>", " ", text)
    text = re.sub(r"\s+", " ", text).strip()
    if lower:
        text = text.lower()
    return text


def symbol_pairs(word):
    pairs = set()
    prev = word[0]
    for char in word[1:]:
        pairs.add((prev, char))
        prev = char
    return pairs


def merge_bpe(token, ranks, cache):
    if token in cache:
        return cache[token]
    word = tuple(token[:-1]) + (token[-1] + "</w>",)
    pairs = symbol_pairs(word)
    while pairs:
        best = min(pairs, key=lambda pair: ranks.get(pair, float("inf")))
        if best not in ranks:
            break
        first, second = best
        merged = []
        i = 0
        while i < len(word):
            if i < len(word) - 1 and word[i] == first and word[i + 1] == second:
                merged.append(first + second)
                i += 2
            else:
                merged.append(word[i])
                i += 1
        word = tuple(merged)
        if len(word) == 1:
            break
        pairs = symbol_pairs(word)
    result = " ".join(word)
    cache[token] = result
    return result


def pad_batch(sequences, pad_id=0, max_len=None):
    longest = max(len(s) for s in sequences)
    if max_len is not None:
        longest = min(longest, max_len)
    ids = []
    mask = []
    for seq in sequences:
        seq = seq[:longest]
        ids.append(seq + [pad_id] * (longest - len(seq)))
        mask.append([1] * len(seq) + [0] * (longest - len(seq)))
    return ids, mask
