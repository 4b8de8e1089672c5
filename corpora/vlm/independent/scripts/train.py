"""Two-stage training for tinyvl.

stage 1 (align): only the bridge learns, on caption-style data.
stage 2 (instruct): bridge + LM learn, the ViT stays frozen.

    python scripts/train.py --stage align --manifest data/captions.json --lm ./lm --out runs/align
"""

import argparse
import itertools
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from tinyvl import TinyVL, TinyVLConfig
from tinyvl.data import ChatImageSet, Collator


class Trainer:
    def __init__(self, model, loader, lr, total_steps, accumulate=1, out_dir="runs/tinyvl", log_every=20):
        self.model = model
        self.loader = loader
        self.accumulate = accumulate
        self.total_steps = total_steps
        self.out_dir = Path(out_dir)
        self.log_every = log_every
        params = [p for p in model.parameters() if p.requires_grad]
        self.opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0, fused=torch.cuda.is_available())
        self.sched = torch.optim.lr_scheduler.OneCycleLR(
            self.opt, max_lr=lr, total_steps=total_steps, pct_start=0.05, anneal_strategy="linear"
        )
        self.step_no = 0
        self.ema_loss = None

    def _loss(self, batch):
        dev = next(p for p in self.model.parameters() if p.requires_grad).device
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            out = self.model(
                batch["input_ids"].to(dev),
                images=batch["images"],
                attention_mask=batch["attention_mask"].to(dev),
                labels=batch["labels"].to(dev),
            )
        return out.loss

    def step(self, micro_batches):
        self.model.train()
        for mb in micro_batches:
            (self._loss(mb) / len(micro_batches)).backward()
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), 2.0)
        self.opt.step()
        self.opt.zero_grad()
        self.sched.step()
        self.step_no += 1
        return float(norm)

    def fit(self):
        batches = itertools.cycle(self.loader)
        t0 = time.time()
        while self.step_no < self.total_steps:
            micro = [next(batches) for _ in range(self.accumulate)]
            norm = self.step(micro)
            if self.step_no % self.log_every == 0:
                with torch.no_grad():
                    loss = float(self._loss(micro[0]))
                self.ema_loss = loss if self.ema_loss is None else 0.95 * self.ema_loss + 0.05 * loss
                rate = self.step_no / (time.time() - t0)
                print(f"step {self.step_no:>6} loss {self.ema_loss:.3f} |g| {norm:.2f} {rate:.2f} it/s")
        self.save()

    def save(self):
        self.out_dir.mkdir(parents=True, exist_ok=True)
        trainable = {k: v for k, v in self.model.state_dict().items() if not k.startswith("lm.") or self.model.lm.training}
        torch.save(trainable, self.out_dir / "weights.pt")
        self.model.cfg.to_json(self.out_dir / "config.json")


def build(args):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(args.lm)
    tok.add_tokens(["<img>"], special_tokens=True)
    lm = AutoModelForCausalLM.from_pretrained(args.lm)
    lm.resize_token_embeddings(len(tok))
    cfg = TinyVLConfig(
        image_token_id=tok.convert_tokens_to_ids("<img>"),
        text_dim=lm.config.hidden_size,
        bridge=args.bridge,
        eos_id=tok.eos_token_id,
    )
    model = TinyVL(cfg, lm, tok)
    if args.stage == "align":
        model.freeze(vit=True, lm=True)
    else:
        model.freeze(vit=True, lm=False)
    return model, tok


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--stage", choices=["align", "instruct"], default="align")
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--lm", required=True)
    ap.add_argument("--bridge", choices=["qformer", "mlp"], default="qformer")
    ap.add_argument("--out", default="runs/tinyvl")
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--micro-batch", type=int, default=2)
    ap.add_argument("--accumulate", type=int, default=16)
    args = ap.parse_args()

    torch.manual_seed(1234)
    model, tok = build(args)
    if torch.cuda.is_available():
        model.cuda()
    data = ChatImageSet(args.manifest, tok, model.cfg)
    loader = DataLoader(data, batch_size=args.micro_batch, shuffle=True, collate_fn=Collator(model, tok.pad_token_id or 0))
    Trainer(model, loader, args.lr, args.steps, args.accumulate, args.out).fit()
