"""Transformer blocks for the tinylm seed package: an independent take on the same jobs."""

import torch
import torch.nn as nn
from torch.nn import functional as F


class RMSNorm(nn.Module):
    def __init__(self, size, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(size))

    def forward(self, hidden):
        dtype = hidden.dtype
        hidden = hidden.float()
        variance = hidden.pow(2).mean(-1, keepdim=True)
        hidden = hidden * torch.rsqrt(variance + self.eps)
        return self.weight * hidden.to(dtype)


class CausalAttention(nn.Module):
    """Attention with separate projections and a causal mask, via SDPA."""

    def __init__(self, width, heads, dropout=0.0):
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(width, width, bias=False)
        self.k_proj = nn.Linear(width, width, bias=False)
        self.v_proj = nn.Linear(width, width, bias=False)
        self.o_proj = nn.Linear(width, width, bias=False)
        self.dropout = dropout

    def _split(self, t):
        b, n, _ = t.shape
        return t.view(b, n, self.heads, -1).transpose(1, 2)

    def forward(self, hidden, mask=None):
        query = self._split(self.q_proj(hidden))
        key = self._split(self.k_proj(hidden))
        value = self._split(self.v_proj(hidden))
        drop = self.dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=drop,
                                             is_causal=mask is None)
        b, h, n, d = out.shape
        out = out.transpose(1, 2).reshape(b, n, h * d)
        return self.o_proj(out)


class GatedMLP(nn.Module):
    def __init__(self, width, expansion=8 / 3):
        super().__init__()
        inner = int(width * expansion)
        self.gate = nn.Linear(width, inner, bias=False)
        self.up = nn.Linear(width, inner, bias=False)
        self.down = nn.Linear(inner, width, bias=False)

    def forward(self, hidden):
        gated = F.silu(self.gate(hidden)) * self.up(hidden)
        return self.down(gated)


def rotary_tables(seq_len, head_dim, base=10000.0, device=None):
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, device=device).float() / head_dim))
    positions = torch.arange(seq_len, device=device).float()
    freqs = torch.outer(positions, inv_freq)
    emb = torch.cat([freqs, freqs], dim=-1)
    return emb.cos()[None, None], emb.sin()[None, None]


def drop_branch(x, drop_prob=0.0, training=False):
    """Randomly drop whole residual branches per sample.

    Adapted from the public stochastic depth recipe; credited in both seed packages.
    """
    if drop_prob == 0.0 or not training:
        return x
    keep_prob = 1.0 - drop_prob
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    random_tensor = x.new_empty(shape).bernoulli_(keep_prob)
    if keep_prob > 0.0:
        random_tensor.div_(keep_prob)
    return x * random_tensor
