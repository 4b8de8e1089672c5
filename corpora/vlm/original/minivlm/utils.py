"""Small helpers shared by the model, the processor and the scripts."""

from __future__ import annotations

import logging
import os
import random

import numpy as np
import torch
from PIL import Image


def get_logger(name: str, level: int = logging.INFO) -> logging.Logger:
    logger = logging.getLogger(name)
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(level)
    return logger


def set_seed(seed: int) -> None:
    """Seed python, numpy and torch so that runs can be repeated."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)


def load_image(path_or_image: str | Image.Image) -> Image.Image:
    """Open an image file (or take a PIL image) and make sure it is RGB."""
    image = path_or_image if isinstance(path_or_image, Image.Image) else Image.open(path_or_image)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return image


def count_parameters(model: torch.nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def human_readable(num: float) -> str:
    """1234567 -> '1.23M'."""
    for unit in ("", "K", "M", "B"):
        if abs(num) < 1000:
            return f"{num:.2f}{unit}" if unit else str(int(num))
        num /= 1000.0
    return f"{num:.2f}T"
