"""A perceiver resampler: a fixed set of learned queries cross-attends to the patch
features of one image (or slice) and returns ``num_queries`` tokens in the LM width.

Images of different shapes arrive padded to the longest one in the batch; each carries its
patch grid in ``tgt_sizes`` so the keys get the right 2D positions and padding is masked.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from .pos_embed import get_2d_sincos_pos_embed


class FeedForward(nn.Module):
    """Two-layer MLP applied to the queries after attention (optional)."""

    def __init__(self, dim: int, hidden_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.fc_in = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU(approximate="tanh")
        self.fc_out = nn.Linear(hidden_dim, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.fc_out(self.act(self.fc_in(x))))


class Resampler(nn.Module):
    """Learned queries x cross-attention over 2D-positioned image features."""

    def __init__(
        self,
        num_queries: int,
        embed_dim: int,
        num_heads: int,
        kv_dim: int | None = None,
        norm_layer=partial(nn.LayerNorm, eps=1e-6),
        max_size: tuple[int, int] = (70, 70),
        use_ffn: bool = False,
    ) -> None:
        super().__init__()
        self.num_queries = num_queries
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.max_size = tuple(max_size)

        self.query = nn.Parameter(torch.zeros(num_queries, embed_dim))
        if kv_dim is not None and kv_dim != embed_dim:
            self.kv_proj = nn.Linear(kv_dim, embed_dim, bias=False)
        else:
            self.kv_proj = nn.Identity()

        self.attn = nn.MultiheadAttention(embed_dim, num_heads, batch_first=True)
        self.ln_q = norm_layer(embed_dim)
        self.ln_kv = norm_layer(embed_dim)
        self.ln_post = norm_layer(embed_dim)
        self.ffn = FeedForward(embed_dim, embed_dim * 4) if use_ffn else None
        self.proj = nn.Linear(embed_dim, embed_dim, bias=False)

        self._set_2d_pos_cache(self.max_size)
        self.apply(self._init_weights)

    def _set_2d_pos_cache(self, max_size: tuple[int, int], device: str | torch.device = "cpu") -> None:
        table = get_2d_sincos_pos_embed(self.embed_dim, max_size, flatten=False)
        pos_embed = torch.from_numpy(table).float().to(device)
        # not persistent: it is a pure function of the grid and must not bloat checkpoints
        self.register_buffer("pos_embed", pos_embed, persistent=False)

    def _adjust_pos_cache(self, tgt_sizes: torch.Tensor, device: torch.device) -> None:
        max_h = int(tgt_sizes[:, 0].max())
        max_w = int(tgt_sizes[:, 1].max())
        if max_h > self.max_size[0] or max_w > self.max_size[1]:
            self.max_size = (max(max_h, self.max_size[0]), max(max_w, self.max_size[1]))
            self._set_2d_pos_cache(self.max_size, device)

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.trunc_normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor, tgt_sizes: torch.Tensor) -> torch.Tensor:
        """x: (B, L, kv_dim) padded patch features; tgt_sizes: (B, 2) rows and columns."""
        if x.shape[0] != tgt_sizes.shape[0]:
            raise ValueError("one target size per image is required")
        batch_size, seq_len, _ = x.shape
        device, dtype = x.device, x.dtype

        patch_len = tgt_sizes[:, 0] * tgt_sizes[:, 1]
        self._adjust_pos_cache(tgt_sizes, device)

        key_padding_mask = torch.zeros((batch_size, seq_len), dtype=torch.bool, device=device)
        pos_embed = torch.zeros((batch_size, seq_len, self.embed_dim), dtype=dtype, device=device)
        for i in range(batch_size):
            tgt_h, tgt_w = (int(v) for v in tgt_sizes[i])
            n = tgt_h * tgt_w
            pos_embed[i, :n] = self.pos_embed[:tgt_h, :tgt_w, :].reshape(n, -1).to(dtype)
            key_padding_mask[i, patch_len[i] :] = True

        x = self.ln_kv(self.kv_proj(x))
        q = self.ln_q(self.query).unsqueeze(0).expand(batch_size, -1, -1)
        out, _ = self.attn(q, x + pos_embed, x, key_padding_mask=key_padding_mask)
        if self.ffn is not None:
            out = out + self.ffn(out)
        return self.proj(self.ln_post(out))

