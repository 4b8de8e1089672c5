"""A compact ViT: patches are cut with unfold and embedded by a linear layer, positions are
fixed sin-cos codes, and attention goes through scaled_dot_product_attention."""

import torch
import torch.nn.functional as F
from torch import nn

from tinyvl.positional import GridCode


class SelfAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.o = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).unbind(2)
        y = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return self.o(y.transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp_mult=4):
        super().__init__()
        self.n1, self.n2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads)
        self.mlp = nn.Sequential(nn.Linear(dim, dim * mlp_mult), nn.GELU(), nn.Linear(dim * mlp_mult, dim))

    def forward(self, x):
        x = x + self.attn(self.n1(x))
        return x + self.mlp(self.n2(x))


class ViT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.patch = cfg.patch
        self.to_tokens = nn.Linear(3 * cfg.patch * cfg.patch, cfg.vit_dim)
        self.pos = GridCode(cfg.vit_dim)
        self.blocks = nn.ModuleList(Block(cfg.vit_dim, cfg.vit_heads) for _ in range(cfg.vit_depth))
        self.norm = nn.LayerNorm(cfg.vit_dim)

    def patchify(self, tiles):
        """(N, 3, H, W) -> (N, H/p * W/p, 3*p*p), row-major patches."""
        p = self.patch
        n, c, h, w = tiles.shape
        x = tiles.unfold(2, p, p).unfold(3, p, p)  # N, C, H/p, W/p, p, p
        return x.permute(0, 2, 3, 1, 4, 5).reshape(n, (h // p) * (w // p), c * p * p), h // p, w // p

    def forward(self, tiles, return_all_layers=False):
        x, gh, gw = self.patchify(tiles)
        x = self.to_tokens(x) + self.pos(gh, gw, x.device).to(x.dtype)
        seen = []
        for blk in self.blocks:
            x = blk(x)
            if return_all_layers:
                seen.append(x)
        x = self.norm(x)
        return (x, seen) if return_all_layers else x
