import logging
import os
import random

import numpy
import torch
from PIL import Image


def seed_everything(value):
    os.environ["PYTHONHASHSEED"] = str(value)
    random.seed(value)
    torch.manual_seed(value)
    numpy.random.seed(value)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(value)


def make_logger(channel, verbosity=logging.INFO):
    lg = logging.getLogger(channel)
    if not lg.handlers:
        h = logging.StreamHandler()
        h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        lg.addHandler(h)
    lg.setLevel(verbosity)
    return lg


def read_rgb(src):
    img = src if isinstance(src, Image.Image) else Image.open(src)
    if img.mode != "RGB":
        img = img.convert("RGB")
    return img


def param_count(module, trainable=False):
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable)


def pretty_count(x):
    for suffix in ("", "K", "M", "B"):
        if abs(x) < 1000:
            return f"{x:.2f}{suffix}" if suffix else str(int(x))
        x /= 1000.0
    return f"{x:.2f}T"


def summarize_modules(model, trainable=False):
    """(name, parameters, share of the total) for each direct child, biggest first."""
    counts = [(name, param_count(child, trainable)) for name, child in model.named_children()]
    total = sum(n for _, n in counts) or 1
    rows = [(name, n, n / total) for name, n in counts]
    rows.sort(key=lambda row: row[1], reverse=True)
    return rows
