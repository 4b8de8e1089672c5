"""Turn (prompt, image) pairs into model inputs.

Each image becomes a placeholder string of ``query_num`` unk tokens between image tags, one
for the source image and one per slice, so that the tokenizer reserves exactly the
positions the resampler output is written into.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .configuration import MiniVLMConfig
from .slicing import get_sliced_grid, slice_image


class MiniVLMProcessor:
    """Image normalisation, slicing, placeholder expansion and tokenisation."""

    def __init__(self, config: MiniVLMConfig, tokenizer) -> None:
        self.config = config
        self.tokenizer = tokenizer
        self.mean = np.asarray(config.image_mean, dtype=np.float32).reshape(3, 1, 1)
        self.std = np.asarray(config.image_std, dtype=np.float32).reshape(3, 1, 1)
        self.patch_size = config.patch_size

    def image_placeholder(self) -> str:
        cfg = self.config
        return cfg.im_start_token + cfg.unk_token * cfg.query_num + cfg.im_end_token

    def slice_placeholder(self) -> str:
        cfg = self.config
        return cfg.slice_start_token + cfg.unk_token * cfg.query_num + cfg.slice_end_token

    def get_slice_image_placeholder(self, image_size: tuple[int, int]) -> str:
        """The text that stands for one image: source placeholder, then one line per row."""
        grid = get_sliced_grid(
            image_size,
            self.config.max_slice_nums,
            self.config.scale_resolution,
            never_split=not self.config.slice_mode,
        )
        placeholder = self.image_placeholder()
        if grid is not None:
            columns, rows = grid
            lines = [self.slice_placeholder() * columns for _ in range(rows)]
            placeholder += "\n" + "\n".join(lines)
        return placeholder

    def to_array(self, image: Image.Image) -> np.ndarray:
        """PIL RGB -> normalised float32 (3, H, W)."""
        array = np.asarray(image, dtype=np.float32) / 255.0
        array = array.transpose(2, 0, 1)
        return (array - self.mean) / self.std

    def reshape_by_patch(self, image: torch.Tensor) -> torch.Tensor:
        """(3, H, W) -> (3, patch, H * W / patch), the layout the tower's conv expects."""
        p = self.patch_size
        patches = F.unfold(image.unsqueeze(0), (p, p), stride=(p, p))
        patches = patches.reshape(image.size(0), p, p, -1)
        return patches.permute(0, 1, 3, 2).reshape(image.size(0), p, -1)

    def preprocess_image(self, image: Image.Image) -> tuple[list[torch.Tensor], list[tuple[int, int]]]:
        """Slice one image; return its tensors (source first) and their patch grids."""
        source, patches, _ = slice_image(
            image,
            self.config.max_slice_nums,
            self.config.scale_resolution,
            self.patch_size,
            never_split=not self.config.slice_mode,
        )
        images = [source] + [cell for row in patches for cell in row]
        tensors, sizes = [], []
        for im in images:
            tensors.append(torch.from_numpy(self.to_array(im)))
            sizes.append((im.size[1] // self.patch_size, im.size[0] // self.patch_size))
        return tensors, sizes

    def compute_image_bound(self, input_ids: torch.Tensor) -> torch.Tensor:
        """(start, end) index pairs of every placeholder run in one sequence."""
        start_ids = {
            self.tokenizer.convert_tokens_to_ids(self.config.im_start_token),
            self.tokenizer.convert_tokens_to_ids(self.config.slice_start_token),
        }
        end_ids = {
            self.tokenizer.convert_tokens_to_ids(self.config.im_end_token),
            self.tokenizer.convert_tokens_to_ids(self.config.slice_end_token),
        }
        ids = input_ids.tolist()
        starts = [i + 1 for i, t in enumerate(ids) if t in start_ids]
        ends = [i for i, t in enumerate(ids) if t in end_ids]
        valid = min(len(starts), len(ends))
        if valid == 0:
            return torch.zeros((0, 2), dtype=torch.long)
        return torch.tensor(list(zip(starts[:valid], ends[:valid])), dtype=torch.long)

    def __call__(self, prompts: list[str], images: list[Image.Image | None]) -> dict:
        """Expand ``<image>`` markers in each prompt and tokenise; returns lists per sample."""
        input_ids, image_bound, pixel_values, tgt_sizes = [], [], [], []
        for prompt, image in zip(prompts, images):
            pixels, sizes = [], []
            if image is not None:
                pixels, sizes = self.preprocess_image(image)
                marker = self.config.im_start_token
                prompt = prompt.replace(marker, self.get_slice_image_placeholder(image.size), 1)
            ids = torch.tensor(self.tokenizer.encode(prompt), dtype=torch.long)
            input_ids.append(ids)
            image_bound.append(self.compute_image_bound(ids))
            pixel_values.append(pixels)
            tgt_sizes.append(torch.tensor(sizes, dtype=torch.int32).reshape(-1, 2))
        return {
            "input_ids": input_ids,
            "image_bound": image_bound,
            "pixel_values": pixel_values,
            "tgt_sizes": tgt_sizes,
        }
