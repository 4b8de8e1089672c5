"""Image tokens for tinylm: patches by unfolding, learned positions."""

import math

import torch
import torch.nn as nn


class ImageTokens(nn.Module):
    def __init__(self, patch, channels, width, max_patches=1024):
        super().__init__()
        self.patch = patch
        self.linear = nn.Linear(channels * patch * patch, width)
        self.positions = nn.Embedding(max_patches, width)

    def forward(self, pixels):
        patches = pixels.unfold(2, self.patch, self.patch).unfold(3, self.patch, self.patch)
        b, c, gh, gw, ph, pw = patches.shape
        patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(b, gh * gw, c * ph * pw)
        tokens = self.linear(patches)
        index = torch.arange(gh * gw, device=pixels.device)
        return tokens + self.positions(index)[None]


def position_table(length, width):
    table = torch.zeros(length, width)
    position = torch.arange(length).unsqueeze(1).float()
    div = torch.exp(torch.arange(0, width, 2).float() * (-math.log(10000.0) / width))
    table[:, 0::2] = torch.sin(position * div)
    table[:, 1::2] = torch.cos(position * div)
    return table


def tile_grid(width, height, max_tiles=6):
    best = (1, 1)
    best_waste = None
    for rows in range(1, max_tiles + 1):
        for cols in range(1, max_tiles // rows + 1):
            aspect = cols / rows
            waste = abs(aspect - width / height)
            if best_waste is None or waste < best_waste:
                best_waste = waste
                best = (rows, cols)
    return best
