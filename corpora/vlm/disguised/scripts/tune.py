"""Fine-tune Llama3V on image conversations stored as JSON lines."""

import argparse
import json
import math
import os
from typing import Optional

import torch
from torch.utils.data import DataLoader, Dataset

from llama3v import Llama3V, Llama3VPreprocessor, Llama3VSettings
from llama3v.common import make_logger, param_count, pretty_count, read_rgb, seed_everything
from llama3v.preprocess import render_dialogue

MASKED_LABEL = -100
log = make_logger("tune")


class DialogueRecords(Dataset):
    def __init__(self, jsonl: str, img_dir: str, prep: Llama3VPreprocessor, limit: int = 2048) -> None:
        self.img_dir, self.prep, self.limit = img_dir, prep, limit
        with open(jsonl, encoding="utf-8") as f:
            self.rows = [json.loads(ln) for ln in f if ln.strip()]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        row = self.rows[i]
        turns = row["conversations"]
        img = read_rgb(os.path.join(self.img_dir, row["image"]))
        context = render_dialogue(turns[:-1])
        enc = self.prep([context + turns[-1]["content"] + "<|end|>"], [img])
        ids = enc["input_ids"][0][: self.limit]
        targets = ids.clone()
        targets[: len(self.prep.tok.encode(context))] = MASKED_LABEL
        return {
            "input_ids": ids,
            "labels": targets,
            "pixel_values": enc["pixel_values"][0],
            "image_bound": enc["image_bound"][0],
        }


def stack_examples(items: list, pad_id: int = 0) -> dict:
    padseq = torch.nn.utils.rnn.pad_sequence
    ids = padseq([x["input_ids"] for x in items], batch_first=True, padding_value=pad_id)
    return {
        "input_ids": ids,
        "labels": padseq([x["labels"] for x in items], batch_first=True, padding_value=MASKED_LABEL),
        "attention_mask": ids.ne(pad_id),
        "pixel_values": [x["pixel_values"] for x in items],
        "image_bound": [x["image_bound"] for x in items],
    }


def make_adamw(net: Llama3V, peak_lr: float, wd: float, train_encoder: bool) -> torch.optim.Optimizer:
    if not train_encoder:
        for w in net.encoder.parameters():
            w.requires_grad_(False)
    with_wd, without_wd = [], []
    for pname, w in net.named_parameters():
        if w.requires_grad:
            (without_wd if w.ndim < 2 or "norm" in pname else with_wd).append(w)
    return torch.optim.AdamW(
        [{"params": with_wd, "weight_decay": wd}, {"params": without_wd, "weight_decay": 0.0}],
        lr=peak_lr,
        betas=(0.9, 0.95),
    )


def make_warmup_cosine(opt: torch.optim.Optimizer, warmup: int, total: int):
    def factor(it: int) -> float:
        if it < warmup:
            return (it + 1) / max(1, warmup)
        done = (it - warmup) / max(1, total - warmup)
        return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(done, 1.0)))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def run_epoch(net, batches, opt, sched, dev, accum=1, clip=1.0):
    net.train()
    opt.zero_grad(set_to_none=True)
    running = 0.0
    seen = 0
    for k, mb in enumerate(batches):
        mb["input_ids"], mb["attention_mask"] = mb["input_ids"].to(dev), mb["attention_mask"].to(dev)
        target = mb.pop("labels").to(dev)
        objective = net(mb, labels=target).loss / accum
        objective.backward()
        if (k + 1) % accum == 0:
            torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
        running += objective.item() * accum
        seen += 1
        if k % 50 == 0:
            log.info("step %d loss %.4f lr %.2e", k, objective.item() * accum, sched.get_last_lr()[0])
    return running / max(1, seen)


def cli_options(cmdline: Optional[list] = None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", required=True)
    ap.add_argument("--images", required=True)
    ap.add_argument("--llm", required=True, help="path of a causal LM loadable with from_pretrained")
    ap.add_argument("--output", default="checkpoints/llama3v-sft")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--lr", type=float, default=2e-5)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--grad-accum", type=int, default=8)
    ap.add_argument("--warmup-ratio", type=float, default=0.03)
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--tune-vision", action="store_true")
    return ap.parse_args(cmdline)


def entrypoint(cmdline=None):
    opts = cli_options(cmdline)
    seed_everything(opts.seed)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    settings = Llama3VSettings()
    tok = AutoTokenizer.from_pretrained(opts.llm)
    tok.add_special_tokens({"additional_special_tokens": settings.marker_tokens()})
    lm = AutoModelForCausalLM.from_pretrained(opts.llm, torch_dtype=torch.bfloat16)
    lm.resize_token_embeddings(len(tok))
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    net = Llama3V(settings, lm)
    net.to(dev)
    prep = Llama3VPreprocessor(settings, tok)

    records = DialogueRecords(opts.data, opts.images, prep)
    batches = DataLoader(records, batch_size=opts.batch_size, shuffle=True, collate_fn=stack_examples, num_workers=2)
    opt = make_adamw(net, opts.lr, opts.weight_decay, opts.tune_vision)
    total = math.ceil(len(batches) / opts.grad_accum) * opts.epochs
    sched = make_warmup_cosine(opt, int(total * opts.warmup_ratio), total)
    log.info("trainable parameters: %s", pretty_count(param_count(net, trainable=True)))

    os.makedirs(opts.output, exist_ok=True)
    for ep in range(opts.epochs):
        log.info("epoch %d train loss %.4f", ep, run_epoch(net, batches, opt, sched, dev, opts.grad_accum))
        torch.save(net.state_dict(), os.path.join(opts.output, f"epoch{ep}.pt"))
    settings.dump(os.path.join(opts.output, "config.json"))


if __name__ == "__main__":
    entrypoint()
