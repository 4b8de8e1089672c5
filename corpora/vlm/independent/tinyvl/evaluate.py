"""VQA-style evaluation: soft accuracy against several human answers, per question type.

    python -m tinyvl.evaluate --questions val.json --images val2014/ --weights runs/instruct
"""

import argparse
import json
import re
from collections import defaultdict
from pathlib import Path

from PIL import Image

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = re.compile(r"[^\w\s]")
_NUMBERS = {"zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
            "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10"}


def canonical(answer):
    """Lower-case, drop punctuation and articles, spell numbers as digits."""
    text = _PUNCT.sub(" ", answer.lower())
    text = _ARTICLES.sub(" ", text)
    words = [_NUMBERS.get(w, w) for w in text.split()]
    return " ".join(words)


def soft_score(prediction, references):
    """min(1, matches / 3): an answer given by three annotators counts fully."""
    pred = canonical(prediction)
    hits = sum(canonical(r) == pred for r in references)
    return min(1.0, hits / 3.0)


def question_type(question):
    first = question.lower().split()[:2]
    if not first:
        return "other"
    if first[0] in ("is", "are", "does", "do", "can", "was"):
        return "yes/no"
    if first[0] == "how" and len(first) > 1 and first[1] in ("many", "much"):
        return "number"
    return "other"


def evaluate(model, records, image_dir, limit=None, prompt_suffix=" Answer in one word."):
    per_type = defaultdict(list)
    outputs = []
    for rec in records[:limit]:
        image = Image.open(Path(image_dir) / rec["image"]).convert("RGB")
        answer, _ = model.reply(rec["question"] + prompt_suffix, images=[image], max_tokens=10)
        score = soft_score(answer, rec["answers"])
        per_type[question_type(rec["question"])].append(score)
        outputs.append({"id": rec["id"], "answer": answer, "score": score})
    summary = {kind: sum(v) / len(v) for kind, v in per_type.items()}
    every = [s for v in per_type.values() for s in v]
    summary["overall"] = sum(every) / max(len(every), 1)
    return summary, outputs


def _cli():
    ap = argparse.ArgumentParser(description="VQA soft accuracy for a trained tinyvl model")
    ap.add_argument("--questions", required=True)
    ap.add_argument("--images", required=True)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--lm", required=True)
    ap.add_argument("--limit", type=int)
    args = ap.parse_args()

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tinyvl import TinyVL, TinyVLConfig

    cfg = TinyVLConfig.from_json(Path(args.weights) / "config.json")
    tok = AutoTokenizer.from_pretrained(args.lm)
    tok.add_tokens(["<img>"], special_tokens=True)
    lm = AutoModelForCausalLM.from_pretrained(args.lm)
    lm.resize_token_embeddings(len(tok))
    model = TinyVL(cfg, lm, tok)
    model.load_state_dict(torch.load(Path(args.weights) / "weights.pt", map_location="cpu"), strict=False)
    model.eval()
    summary, _ = evaluate(model, json.loads(Path(args.questions).read_text()), args.images, args.limit)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    _cli()
