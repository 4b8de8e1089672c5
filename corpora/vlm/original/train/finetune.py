"""Supervised fine-tuning of MiniVLM on image-conversation pairs.

The data file is JSON lines: {"image": "relative/path.jpg", "conversations": [{"role": ..., "content": ...}]}.
Only assistant tokens contribute to the loss.

    python train/finetune.py --data data/train.jsonl --images data/images --llm ./llm --epochs 2
"""

from __future__ import annotations

import argparse
import json
import math
import os

import torch
from torch.utils.data import DataLoader, Dataset

from minivlm import MiniVLM, MiniVLMConfig, MiniVLMProcessor
from minivlm.modeling import build_chat_prompt
from minivlm.utils import count_parameters, get_logger, human_readable, load_image, set_seed

logger = get_logger("finetune")
IGNORE_INDEX = -100


class ConversationDataset(Dataset):
    """One sample per line of a JSON-lines file; images are loaded lazily."""

    def __init__(self, path: str, image_root: str, processor: MiniVLMProcessor, max_length: int = 2048) -> None:
        with open(path, encoding="utf-8") as fh:
            self.records = [json.loads(line) for line in fh if line.strip()]
        self.image_root = image_root
        self.processor = processor
        self.max_length = max_length

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict:
        record = self.records[index]
        image = load_image(os.path.join(self.image_root, record["image"]))
        msgs = record["conversations"]
        prompt = build_chat_prompt(msgs[:-1])
        full = prompt + msgs[-1]["content"] + "<|end|>"
        inputs = self.processor([full], [image])
        input_ids = inputs["input_ids"][0][: self.max_length]
        prompt_len = len(self.processor.tokenizer.encode(prompt))
        labels = input_ids.clone()
        labels[:prompt_len] = IGNORE_INDEX
        return {
            "input_ids": input_ids,
            "labels": labels,
            "pixel_values": inputs["pixel_values"][0],
            "image_bound": inputs["image_bound"][0],
        }


def collate_batch(samples: list[dict], pad_token_id: int = 0) -> dict:
    """Right-pad ids and labels; keep images as ragged lists."""
    pad = torch.nn.utils.rnn.pad_sequence
    input_ids = pad([s["input_ids"] for s in samples], batch_first=True, padding_value=pad_token_id)
    labels = pad([s["labels"] for s in samples], batch_first=True, padding_value=IGNORE_INDEX)
    attention_mask = input_ids.ne(pad_token_id)
    return {
        "input_ids": input_ids,
        "labels": labels,
        "attention_mask": attention_mask,
        "pixel_values": [s["pixel_values"] for s in samples],
        "image_bound": [s["image_bound"] for s in samples],
    }


def build_optimizer(model: MiniVLM, lr: float, weight_decay: float, tune_vision: bool) -> torch.optim.Optimizer:
    """AdamW without decay on norms and biases; the vision tower is frozen unless asked."""
    if not tune_vision:
        for p in model.vpm.parameters():
            p.requires_grad_(False)
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim < 2 or "norm" in name else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95))


def build_scheduler(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int):
    """Linear warm-up, then cosine decay to 10% of the peak rate."""

    def lr_lambda(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)


def train_one_epoch(model, loader, optimizer, scheduler, device, grad_accum: int = 1, max_grad_norm: float = 1.0) -> float:
    model.train()
    total, steps = 0.0, 0
    optimizer.zero_grad(set_to_none=True)
    for step, batch in enumerate(loader):
        batch["input_ids"] = batch["input_ids"].to(device)
        batch["attention_mask"] = batch["attention_mask"].to(device)
        labels = batch.pop("labels").to(device)
        out = model(batch, labels=labels)
        loss = out.loss / grad_accum
        loss.backward()
        if (step + 1) % grad_accum == 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
        total += loss.item() * grad_accum
        steps += 1
        if step % 50 == 0:
            logger.info("step %d loss %.4f lr %.2e", step, loss.item() * grad_accum, scheduler.get_last_lr()[0])
    return total / max(1, steps)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--images", required=True)
    parser.add_argument("--llm", required=True, help="path of a causal LM loadable with from_pretrained")
    parser.add_argument("--output", default="checkpoints/minivlm-sft")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--grad-accum", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--warmup-ratio", type=float, default=0.03)
    parser.add_argument("--tune-vision", action="store_true")
    parser.add_argument("--seed", type=int, default=17)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    set_seed(args.seed)
    from transformers import AutoModelForCausalLM, AutoTokenizer  # heavy; only when training

    tokenizer = AutoTokenizer.from_pretrained(args.llm)
    config = MiniVLMConfig()
    tokenizer.add_special_tokens({"additional_special_tokens": config.special_tokens()})
    llm = AutoModelForCausalLM.from_pretrained(args.llm, torch_dtype=torch.bfloat16)
    llm.resize_token_embeddings(len(tokenizer))
    model = MiniVLM(config, llm)
    processor = MiniVLMProcessor(config, tokenizer)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)

    train_set = ConversationDataset(args.data, args.images, processor)
    loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, collate_fn=collate_batch, num_workers=2)

    optimizer = build_optimizer(model, args.lr, args.weight_decay, args.tune_vision)
    total_steps = math.ceil(len(loader) / args.grad_accum) * args.epochs
    scheduler = build_scheduler(optimizer, int(total_steps * args.warmup_ratio), total_steps)
    logger.info("trainable parameters: %s", human_readable(count_parameters(model, trainable_only=True)))

    os.makedirs(args.output, exist_ok=True)
    for epoch in range(args.epochs):
        train_loss = train_one_epoch(model, loader, optimizer, scheduler, device, args.grad_accum)
        logger.info("epoch %d train loss %.4f", epoch, train_loss)
        torch.save(model.state_dict(), os.path.join(args.output, f"epoch{epoch}.pt"))
    config.save(os.path.join(args.output, "config.json"))


if __name__ == "__main__":
    main()
