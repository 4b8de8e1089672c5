"""Sin-cos position codes computed with torch, on the device that needs them.

Channels are interleaved (sin, cos, sin, cos, ...) and the two axes share the frequency
ladder, which keeps the code rotation-friendly if we ever switch to RoPE-style mixing.
"""

import math

import torch
from torch import nn


def frequency_ladder(n, max_period=10_000.0, device=None):
    # exp(-log(T) * i / n) is the same ladder as T ** (-i / n) but stays in float32
    i = torch.arange(n, device=device, dtype=torch.float32)
    return torch.exp(-math.log(max_period) * i / n)


def encode_axis(coords, channels, device=None):
    """coords (N,) -> (N, channels) with sin and cos interleaved."""
    assert channels % 2 == 0, "channels must be even"
    angle = coords.float()[:, None] * frequency_ladder(channels // 2, device=device)[None, :]
    return torch.stack((angle.sin(), angle.cos()), dim=-1).flatten(1)


def grid_code(rows, cols, channels, device=None):
    """(rows * cols, channels): first half encodes y, second half x, row-major order."""
    assert channels % 4 == 0, "2D codes need channels divisible by 4"
    ys, xs = torch.meshgrid(
        torch.arange(rows, device=device), torch.arange(cols, device=device), indexing="ij"
    )
    half = channels // 2
    return torch.cat((encode_axis(ys.reshape(-1), half, device), encode_axis(xs.reshape(-1), half, device)), dim=1)


class GridCode(nn.Module):
    """Memoises grid codes per (rows, cols, device): tiles of one batch share shapes."""

    def __init__(self, channels):
        super().__init__()
        self.channels = channels
        self._memo = {}

    def forward(self, rows, cols, device):
        key = (rows, cols, str(device))
        if key not in self._memo:
            self._memo[key] = grid_code(rows, cols, self.channels, device)
        return self._memo[key]
