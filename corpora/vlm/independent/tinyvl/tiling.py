"""Tiling large images into fixed-size squares.

Strategy: enumerate every (cols, rows) arrangement with at most ``max_tiles`` tiles, scale the
image to fit inside that canvas without distortion, and keep the arrangement that wastes the
fewest padded pixels while losing the least resolution. The image is then padded (not
stretched) to the canvas and cut with ``Tensor.unfold``. A thumbnail of the whole image can
be prepended so the model sees the global layout.
"""

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

MEAN = torch.tensor([0.481, 0.458, 0.408]).view(3, 1, 1)
STD = torch.tensor([0.269, 0.261, 0.276]).view(3, 1, 1)


@dataclass
class Plan:
    cols: int
    rows: int
    scale: float
    waste: float

    @property
    def count(self):
        return self.cols * self.rows


def arrangements(max_tiles):
    for cols in range(1, max_tiles + 1):
        for rows in range(1, max_tiles // cols + 1):
            yield cols, rows


def plan_tiles(width, height, tile, max_tiles):
    """Pick the arrangement; ties prefer fewer tiles (cheaper)."""
    best = None
    for cols, rows in arrangements(max_tiles):
        scale = min(cols * tile / width, rows * tile / height)
        used = (width * scale) * (height * scale)
        waste = 1.0 - used / (cols * rows * tile * tile)
        # an upscaled image gains nothing, so cap the resolution credit at 1
        lost = max(0.0, 1.0 - scale)
        plan = Plan(cols, rows, scale, waste)
        score = (round(lost, 3), round(waste, 3), plan.count)
        if best is None or score < best[0]:
            best = (score, plan)
    return best[1]


def pil_to_tensor(image):
    arr = np.array(image.convert("RGB"), dtype=np.uint8, copy=True)
    return torch.from_numpy(arr).permute(2, 0, 1).float().div_(255.0)


def normalize(pixels):
    return (pixels - MEAN.to(pixels.device)) / STD.to(pixels.device)


def fit_and_pad(pixels, plan, tile):
    """Resize by plan.scale and pad bottom/right to the tile canvas with the mean colour."""
    _, h, w = pixels.shape
    new_h = max(1, min(plan.rows * tile, round(h * plan.scale)))
    new_w = max(1, min(plan.cols * tile, round(w * plan.scale)))
    resized = F.interpolate(pixels[None], size=(new_h, new_w), mode="bilinear", antialias=True, align_corners=False)[0]
    canvas = MEAN.to(pixels.device).expand(3, plan.rows * tile, plan.cols * tile).clone()
    canvas[:, :new_h, :new_w] = resized
    return canvas


def cut(canvas, tile):
    """(3, R*t, C*t) -> (R*C, 3, t, t), row-major."""
    tiles = canvas.unfold(1, tile, tile).unfold(2, tile, tile)
    return tiles.permute(1, 2, 0, 3, 4).reshape(-1, 3, tile, tile)


def thumbnail(pixels, tile):
    return F.interpolate(pixels[None], size=(tile, tile), mode="bilinear", antialias=True, align_corners=False)[0]


def image_to_tiles(image, tile=448, max_tiles=6, add_thumbnail=True):
    """PIL image -> (N, 3, tile, tile) normalised tensor and the plan used."""
    pixels = pil_to_tensor(image)
    plan = plan_tiles(pixels.shape[2], pixels.shape[1], tile, max_tiles)
    stack = cut(fit_and_pad(pixels, plan, tile), tile)
    if add_thumbnail and plan.count > 1:
        stack = torch.cat([thumbnail(pixels, tile)[None], stack], dim=0)
    return normalize(stack), plan
