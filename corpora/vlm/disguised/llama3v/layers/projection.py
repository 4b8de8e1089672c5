"""Projection from vision features to language-model tokens."""

import functools

import torch
import torch.nn as nn

from .waves import build_plane_waves


class PointwiseMLP(nn.Module):
    def __init__(self, width, inner, p=0.0):
        super().__init__()
        self.up, self.nonlin = nn.Linear(width, inner), nn.GELU(approximate="tanh")
        self.down, self.drop = nn.Linear(inner, width), nn.Dropout(p)

    def forward(self, h):
        return self.drop(self.down(self.nonlin(self.up(h))))


class Projection(nn.Module):
    """Maps a variable number of vision features to a fixed number of LM tokens."""

    def __init__(
        self,
        n_latents,
        width,
        n_heads,
        media_width=None,
        norm=functools.partial(nn.LayerNorm, eps=1e-6),
        table_extent=(70, 70),
        with_mlp=False,
    ):
        super().__init__()
        self.width, self.n_latents, self.n_heads = width, n_latents, n_heads
        self.table_extent = tuple(table_extent)

        self.latents = nn.Parameter(torch.zeros(n_latents, width))
        if media_width is not None and media_width != width:
            self.media_in = nn.Linear(media_width, width, bias=False)
        else:
            self.media_in = nn.Identity()

        self.cross = nn.MultiheadAttention(width, n_heads, batch_first=True)
        self.norm_latents, self.norm_media, self.norm_out = norm(width), norm(width), norm(width)
        self.out = nn.Linear(width, width, bias=False)
        self.mlp = PointwiseMLP(width, width * 4) if with_mlp else None

        self._rebuild_wave_table(self.table_extent)
        self.apply(self._reset_params)

    def _reset_params(self, m):
        if isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)

    def _rebuild_wave_table(self, extent, on="cpu"):
        waves = torch.from_numpy(build_plane_waves(self.width, extent, flat=False)).float().to(on)
        self.register_buffer("wave_table", waves, persistent=False)

    def _grow_wave_table(self, sizes, on):
        tallest, widest = int(sizes[:, 0].max()), int(sizes[:, 1].max())
        if tallest > self.table_extent[0] or widest > self.table_extent[1]:
            self.table_extent = (max(tallest, self.table_extent[0]), max(widest, self.table_extent[1]))
            self._rebuild_wave_table(self.table_extent, on)

    def _positions_and_mask(self, sizes, length, dt, dev):
        count = sizes.shape[0]
        n_valid = sizes[:, 0] * sizes[:, 1]
        pos = torch.zeros((count, length, self.width), dtype=dt, device=dev)
        mask = torch.zeros((count, length), dtype=torch.bool, device=dev)
        for b in range(count):
            h, w = (int(d) for d in sizes[b])
            pos[b, : h * w] = self.wave_table[:h, :w, :].reshape(h * w, -1).to(dt)
            mask[b, n_valid[b] :] = True
        return pos, mask

    def forward(self, feats, sizes):
        if feats.shape[0] != sizes.shape[0]:
            raise ValueError("one target size per image is required")
        bsz, length, _ = feats.shape
        self._grow_wave_table(sizes, feats.device)
        pos, mask = self._positions_and_mask(sizes, length, feats.dtype, feats.device)

        feats = self.norm_media(self.media_in(feats))
        lat = self.norm_latents(self.latents).unsqueeze(0).expand(bsz, -1, -1)
        h, _ = self.cross(lat, feats + pos, feats, key_padding_mask=mask)
        if self.mlp is not None:
            h = h + self.mlp(h)
        return self.out(self.norm_out(h))
