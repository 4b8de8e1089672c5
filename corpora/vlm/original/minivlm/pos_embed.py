"""Fixed 2D sin-cos position embeddings.

Half of the channels encode the row, the other half the column; each half is the usual
1D sin/cos code of the position at geometrically spaced frequencies.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def get_1d_sincos_pos_embed_from_grid(
    embed_dim: int, positions: np.ndarray, temperature: float = 10000.0
) -> np.ndarray:
    """Encode a flat array of positions: (M,) -> (M, embed_dim)."""
    if embed_dim % 2:
        raise ValueError(f"embed_dim must be even, got {embed_dim}")
    half = embed_dim // 2
    exponents = np.arange(half, dtype=np.float64) / half
    inv_freq = 1.0 / (temperature**exponents)
    angles = np.outer(positions.reshape(-1).astype(np.float64), inv_freq)
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)


def get_2d_sincos_pos_embed_from_grid(embed_dim: int, grid: np.ndarray) -> np.ndarray:
    """Encode a (2, H, W) grid of (column, row) coordinates: -> (H * W, embed_dim)."""
    if embed_dim % 2:
        raise ValueError(f"embed_dim must be even, got {embed_dim}")
    # rows first, then columns: the resampler slices the cache as [:h, :w]
    emb_rows = get_1d_sincos_pos_embed_from_grid(embed_dim // 2, grid[1])
    emb_cols = get_1d_sincos_pos_embed_from_grid(embed_dim // 2, grid[0])
    return np.concatenate([emb_rows, emb_cols], axis=1)


def get_2d_sincos_pos_embed(
    embed_dim: int,
    grid_size: int | tuple[int, int],
    extra_tokens: int = 0,
    flatten: bool = True,
) -> np.ndarray:
    """Position embeddings for an H x W patch grid.

    Returns (H * W + extra_tokens, embed_dim) when ``flatten``, else (H, W, embed_dim);
    extra tokens (a CLS token, registers) get zeros and come first.
    """
    if isinstance(grid_size, int):
        grid_h, grid_w = grid_size, grid_size
    else:
        grid_h, grid_w = grid_size
    cols = np.arange(grid_w, dtype=np.float32)
    rows = np.arange(grid_h, dtype=np.float32)
    grid = np.stack(np.meshgrid(cols, rows), axis=0)
    pos_embed = get_2d_sincos_pos_embed_from_grid(embed_dim, grid)
    if not flatten:
        if extra_tokens:
            raise ValueError("extra tokens need a flat embedding")
        return pos_embed.reshape(grid_h, grid_w, embed_dim)
    if extra_tokens > 0:
        pos_embed = np.concatenate([np.zeros((extra_tokens, embed_dim)), pos_embed], axis=0)
    return pos_embed


def interpolate_pos_embed(pos_embed: torch.Tensor, new_hw: tuple[int, int]) -> torch.Tensor:
    """Resize a learned (N, D) square position table to an (h * w, D) one, bicubically."""
    num_pos, dim = pos_embed.shape
    side = int(num_pos**0.5)
    if side * side != num_pos:
        raise ValueError(f"position table of {num_pos} entries is not square")
    if (side, side) == tuple(new_hw):
        return pos_embed
    table = pos_embed.reshape(1, side, side, dim).permute(0, 3, 1, 2)
    table = F.interpolate(table.float(), size=new_hw, mode="bicubic", align_corners=False)
    return table.permute(0, 2, 3, 1).reshape(-1, dim).to(pos_embed.dtype)
