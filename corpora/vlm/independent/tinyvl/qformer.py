"""Bridges from ViT tokens to the language model.

``QFormerBridge``: a few layers in which a bank of latent queries first talk to each other
(self-attention) and then read the image (cross-attention), BLIP-2 style but without the
text branch. Attention is spelled out with einsum so the maps can be inspected.
``MLPBridge``: the LLaVA-1.5 alternative, one token per patch.
"""

import torch
from torch import nn


class Attention(nn.Module):
    """Multi-head attention from ``x`` to ``ctx``; keeps the last map for inspection."""

    def __init__(self, dim, ctx_dim, heads, keep_map=False):
        super().__init__()
        assert dim % heads == 0
        self.h = heads
        self.scale = (dim // heads) ** -0.5
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_kv = nn.Linear(ctx_dim, 2 * dim, bias=False)
        self.to_out = nn.Linear(dim, dim)
        self.keep_map = keep_map
        self.last_map = None

    def split_heads(self, t):
        b, n, _ = t.shape
        return t.reshape(b, n, self.h, -1).permute(0, 2, 1, 3)

    def forward(self, x, ctx, ctx_mask=None):
        q = self.split_heads(self.to_q(x))
        k, v = map(self.split_heads, self.to_kv(ctx).chunk(2, dim=-1))
        logits = torch.einsum("bhqd,bhkd->bhqk", q, k) * self.scale
        if ctx_mask is not None:
            # ctx_mask is True where the context token is real
            logits = logits.masked_fill(~ctx_mask[:, None, None, :], torch.finfo(logits.dtype).min)
        weights = logits.softmax(dim=-1)
        if self.keep_map:
            self.last_map = weights.detach()
        mixed = torch.einsum("bhqk,bhkd->bhqd", weights, v)
        b, _, n, _ = mixed.shape
        return self.to_out(mixed.permute(0, 2, 1, 3).reshape(b, n, -1))


class BridgeLayer(nn.Module):
    def __init__(self, dim, ctx_dim, heads):
        super().__init__()
        self.norm_self = nn.LayerNorm(dim)
        self.self_attn = Attention(dim, dim, heads)
        self.norm_cross = nn.LayerNorm(dim)
        self.norm_ctx = nn.LayerNorm(ctx_dim)
        self.cross_attn = Attention(dim, ctx_dim, heads, keep_map=True)
        self.norm_ff = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 4 * dim), nn.SiLU(), nn.Linear(4 * dim, dim))

    def forward(self, latents, ctx, ctx_mask=None):
        h = self.norm_self(latents)
        latents = latents + self.self_attn(h, h)
        latents = latents + self.cross_attn(self.norm_cross(latents), self.norm_ctx(ctx), ctx_mask)
        return latents + self.ff(self.norm_ff(latents))


class QFormerBridge(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        width = cfg.vit_dim
        self.latents = nn.Parameter(torch.randn(1, cfg.num_latents, width) * width**-0.5)
        self.layers = nn.ModuleList(BridgeLayer(width, cfg.vit_dim, cfg.bridge_heads) for _ in range(cfg.bridge_layers))
        self.to_text = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, cfg.text_dim))

    def forward(self, patch_tokens, mask=None):
        z = self.latents.expand(patch_tokens.shape[0], -1, -1)
        for layer in self.layers:
            z = layer(z, patch_tokens, mask)
        return self.to_text(z)

    def attention_maps(self):
        """Cross-attention maps of the last forward pass, one per layer."""
        return [layer.cross_attn.last_map for layer in self.layers]


class MLPBridge(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(cfg.vit_dim, cfg.text_dim), nn.GELU(), nn.Linear(cfg.text_dim, cfg.text_dim)
        )

    def forward(self, patch_tokens, mask=None):
        return self.net(patch_tokens)


def make_bridge(cfg):
    return {"qformer": QFormerBridge, "mlp": MLPBridge}[cfg.bridge](cfg)
