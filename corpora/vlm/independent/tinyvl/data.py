"""Training samples: a conversation with image markers, tokenised with a loss mask that keeps
only the assistant's characters (mapped to tokens through the offsets mapping)."""

import json
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import Dataset

from tinyvl.template import Conversation, expand_image_slots


class ChatImageSet(Dataset):
    def __init__(self, manifest, tokenizer, cfg, image_dir=None, max_len=3072):
        self.items = json.loads(Path(manifest).read_text())
        self.tok = tokenizer
        self.cfg = cfg
        self.image_dir = Path(image_dir or Path(manifest).parent)
        self.max_len = max_len

    def __len__(self):
        return len(self.items)

    def conversation(self, item):
        conv = Conversation()
        for k, msg in enumerate(item["messages"]):
            if msg["from"] == "human":
                conv.user(msg["value"], n_images=len(item.get("images", [])) if k == 0 else 0)
            else:
                conv.assistant(msg["value"])
        return conv

    def __getitem__(self, idx):
        item = self.items[idx]
        conv = self.conversation(item)
        text = conv.render(open_assistant=False)
        enc = self.tok(text, return_offsets_mapping=True, add_special_tokens=False)
        keep = [False] * len(enc["input_ids"])
        for lo, hi in conv.assistant_char_spans():
            for t, (a, b) in enumerate(enc["offset_mapping"]):
                if a >= lo and b <= hi and b > a:
                    keep[t] = True
        images = [Image.open(self.image_dir / name).convert("RGB") for name in item.get("images", [])]
        return {"ids": enc["input_ids"], "keep": keep, "images": images}


class Collator:
    """Expands image markers once the number of tiles per image is known, then pads left."""

    def __init__(self, model, pad_id):
        self.model = model
        self.pad_id = pad_id

    def __call__(self, samples):
        rows, images = [], []
        for s in samples:
            _, counts = self.model.tiles_for(s["images"]) if s["images"] else ([], [])
            per_image = [c * self.model.cfg.tokens_per_tile for c in counts]
            ids = expand_image_slots(s["ids"], self.model.cfg.image_token_id, per_image)
            keep = self._grow_mask(s["ids"], s["keep"], per_image)
            rows.append((ids, keep))
            images.extend(s["images"])
        width = max(len(ids) for ids, _ in rows)
        input_ids = torch.full((len(rows), width), self.pad_id)
        labels = torch.full((len(rows), width), -100)
        attn = torch.zeros((len(rows), width), dtype=torch.long)
        for r, (ids, keep) in enumerate(rows):
            t = torch.tensor(ids)
            input_ids[r, width - len(ids):] = t
            attn[r, width - len(ids):] = 1
            labels[r, width - len(ids):] = torch.where(torch.tensor(keep), t, torch.tensor(-100))
        return {"input_ids": input_ids, "attention_mask": attn, "labels": labels, "images": images}

    def _grow_mask(self, ids, keep, per_image):
        out, k = [], 0
        for tid, flag in zip(ids, keep):
            if tid == self.model.cfg.image_token_id:
                out.extend([False] * per_image[k])
                k += 1
            else:
                out.append(flag)
        return out
