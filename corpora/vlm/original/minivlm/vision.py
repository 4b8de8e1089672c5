"""The vision tower: a plain ViT whose learned position table is resized to each image.

Slices of one image have different patch grids, so images are fed as a padded batch of
flattened patches together with their (rows, columns) sizes.
"""

from __future__ import annotations

import torch
from torch import nn

from .configuration import VisionConfig
from .pos_embed import interpolate_pos_embed


class PatchEmbedding(nn.Module):
    """Conv patchifier plus a learned position table sized for ``image_size``."""

    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        self.patch_size = config.patch_size
        self.proj = nn.Conv2d(
            3, config.hidden_size, kernel_size=config.patch_size, stride=config.patch_size
        )
        self.position_embedding = nn.Parameter(torch.zeros(config.num_positions, config.hidden_size))
        nn.init.normal_(self.position_embedding, std=0.02)

    def forward(self, pixel_values: torch.Tensor, tgt_size: tuple[int, int]) -> torch.Tensor:
        """pixel_values: (3, H, W) for one image -> (h * w, hidden) patch embeddings."""
        patches = self.proj(pixel_values.unsqueeze(0))
        patches = patches.flatten(2).transpose(1, 2).squeeze(0)
        pos = interpolate_pos_embed(self.position_embedding, tgt_size)
        return patches + pos.to(patches.dtype)


class VisionEncoder(nn.Module):
    """ViT encoder over a batch of differently sized images."""

    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        self.config = config
        self.embeddings = PatchEmbedding(config)
        layer = nn.TransformerEncoderLayer(
            d_model=config.hidden_size,
            nhead=config.num_heads,
            dim_feedforward=int(config.hidden_size * config.mlp_ratio),
            dropout=config.dropout,
            activation="gelu",
            layer_norm_eps=config.layer_norm_eps,
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers=config.num_layers)
        self.post_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    @property
    def hidden_size(self) -> int:
        return self.config.hidden_size

    def get_patch_grid(self, pixel_values: torch.Tensor) -> tuple[int, int]:
        """Patch rows and columns of one (3, H, W) image."""
        _, height, width = pixel_values.shape
        return height // self.config.patch_size, width // self.config.patch_size

    def forward(self, pixel_values: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode each image; returns (B, L_max, hidden) features and (B, 2) grid sizes."""
        embeds, sizes = [], []
        for image in pixel_values:
            grid = self.get_patch_grid(image)
            embeds.append(self.embeddings(image, grid))
            sizes.append(grid)
        tgt_sizes = torch.tensor(sizes, dtype=torch.int32, device=embeds[0].device)
        lengths = [e.shape[0] for e in embeds]
        max_len = max(lengths)
        batch = embeds[0].new_zeros((len(embeds), max_len, self.hidden_size))
        padding_mask = torch.ones((len(embeds), max_len), dtype=torch.bool, device=batch.device)
        for i, e in enumerate(embeds):
            batch[i, : lengths[i]] = e
            padding_mask[i, : lengths[i]] = False
        hidden = self.encoder(batch, src_key_padding_mask=padding_mask)
        return self.post_layernorm(hidden), tgt_sizes

