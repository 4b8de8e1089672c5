import torch
import torch.nn as nn

from ..settings import TowerSettings
from .waves import resize_position_table


class PatchStem(nn.Module):
    def __init__(self, cfg: TowerSettings):
        super().__init__()
        self.stride_px = cfg.patch_px
        self.pos_table = nn.Parameter(torch.zeros(cfg.position_count, cfg.width))
        self.conv = nn.Conv2d(3, cfg.width, kernel_size=cfg.patch_px, stride=cfg.patch_px)
        nn.init.normal_(self.pos_table, std=0.02)

    def forward(self, img, hw):
        tokens = self.conv(img.unsqueeze(0)).flatten(2).transpose(1, 2).squeeze(0)
        return tokens + resize_position_table(self.pos_table, hw).to(tokens.dtype)


class PixelEncoder(nn.Module):
    """Vision transformer over a list of pictures of different sizes."""

    def __init__(self, cfg: TowerSettings):
        super().__init__()
        self.cfg = cfg
        self.stem = PatchStem(cfg)
        block = nn.TransformerEncoderLayer(
            d_model=cfg.width,
            nhead=cfg.heads,
            dim_feedforward=int(cfg.width * cfg.ffn_ratio),
            dropout=cfg.drop_rate,
            activation="gelu",
            layer_norm_eps=cfg.norm_eps,
            batch_first=True,
            norm_first=True,
        )
        self.blocks = nn.TransformerEncoder(block, num_layers=cfg.depth)
        self.final_norm = nn.LayerNorm(cfg.width, eps=cfg.norm_eps)

    @property
    def width(self):
        return self.cfg.width

    def grid_of(self, img):
        _, rows_px, cols_px = img.shape
        return rows_px // self.cfg.patch_px, cols_px // self.cfg.patch_px

    def forward(self, images):
        pieces, grids = [], []
        for img in images:
            hw = self.grid_of(img)
            grids.append(hw)
            pieces.append(self.stem(img, hw))
        lens = [p.shape[0] for p in pieces]
        longest = max(lens)
        padded = pieces[0].new_zeros((len(pieces), longest, self.width))
        pad_mask = torch.ones((len(pieces), longest), dtype=torch.bool, device=padded.device)
        for i, p in enumerate(pieces):
            padded[i, : lens[i]], pad_mask[i, : lens[i]] = p, False
        sizes = torch.tensor(grids, dtype=torch.int32, device=pieces[0].device)
        return self.final_norm(self.blocks(padded, src_key_padding_mask=pad_mask)), sizes
