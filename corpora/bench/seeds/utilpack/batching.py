"""Batching and argument helpers (utilpack seed package)."""

import argparse
import random


def chunked(items, size, drop_last=False):
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch and not drop_last:
        yield batch


def bucket_by_length(samples, key, boundaries):
    buckets = [[] for _ in range(len(boundaries) + 1)]
    for sample in samples:
        length = key(sample)
        index = 0
        while index < len(boundaries) and length > boundaries[index]:
            index += 1
        buckets[index].append(sample)
    return buckets


def build_parser():
    parser = argparse.ArgumentParser(description="train a model")
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs")
    return parser


def split_dataset(items, ratios=(0.8, 0.1, 0.1), seed=0):
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    cuts = []
    total = 0.0
    for ratio in ratios[:-1]:
        total += ratio
        cuts.append(int(total * len(items)))
    parts = []
    start = 0
    for cut in cuts + [len(items)]:
        parts.append([items[i] for i in order[start:cut]])
        start = cut
    return parts
