"""Patch and position embeddings (visionkit seed package)."""

import numpy as np
import torch
from torch import nn


def sincos_1d(embed_dim, positions):
    if embed_dim % 2 != 0:
        raise ValueError("embed_dim must be even")
    omega = np.arange(embed_dim // 2, dtype=np.float64)
    omega /= embed_dim / 2.0
    omega = 1.0 / 10000 ** omega
    positions = positions.reshape(-1)
    angles = np.einsum("m,d->md", positions, omega)
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)


def sincos_2d(embed_dim, grid_size, cls_token=False):
    grid_h = np.arange(grid_size, dtype=np.float32)
    grid_w = np.arange(grid_size, dtype=np.float32)
    grid = np.meshgrid(grid_w, grid_h)
    grid = np.stack(grid, axis=0).reshape([2, 1, grid_size, grid_size])
    emb_h = sincos_1d(embed_dim // 2, grid[0])
    emb_w = sincos_1d(embed_dim // 2, grid[1])
    emb = np.concatenate([emb_h, emb_w], axis=1)
    if cls_token:
        emb = np.concatenate([np.zeros([1, embed_dim]), emb], axis=0)
    return emb


class PatchEmbed(nn.Module):
    """Image to patch tokens with one strided convolution."""

    def __init__(self, img_size=224, patch_size=16, in_chans=3, embed_dim=768, flatten=True):
        super().__init__()
        self.img_size = (img_size, img_size)
        self.patch_size = (patch_size, patch_size)
        self.grid_size = (img_size // patch_size, img_size // patch_size)
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.flatten = flatten
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)
        self.norm = nn.LayerNorm(embed_dim)

    def forward(self, x):
        batch, channels, height, width = x.shape
        if height != self.img_size[0] or width != self.img_size[1]:
            raise ValueError(f"input size {height}x{width} does not match {self.img_size}")
        x = self.proj(x)
        if self.flatten:
            x = x.flatten(2).transpose(1, 2)
        return self.norm(x)


def slice_image(image, tile, overlap=0):
    """Cut an image tensor into overlapping square tiles, row by row."""
    height, width = image.shape[-2:]
    stride = tile - overlap
    tiles = []
    for top in range(0, max(height - overlap, 1), stride):
        for left in range(0, max(width - overlap, 1), stride):
            bottom = min(top + tile, height)
            right = min(left + tile, width)
            tiles.append(image[..., top:bottom, left:right])
    return tiles


def interpolate_positions(pos_embed, new_grid, num_prefix=1):
    prefix = pos_embed[:, :num_prefix]
    grid = pos_embed[:, num_prefix:]
    old = int(grid.shape[1] ** 0.5)
    grid = grid.reshape(1, old, old, -1).permute(0, 3, 1, 2)
    grid = torch.nn.functional.interpolate(grid, size=new_grid, mode="bicubic", align_corners=False)
    grid = grid.permute(0, 2, 3, 1).reshape(1, new_grid[0] * new_grid[1], -1)
    return torch.cat([prefix, grid], dim=1)
