from numpy import arange, concatenate, cos, float32, float64, meshgrid, outer, sin, stack, zeros
import torch
from torch.nn import functional as F


def line_waves(dim, coords, base=10000.0):
    if dim % 2:
        raise ValueError(f"dim must be even, got {dim}")
    n_freq = dim // 2
    rates = 1.0 / (base ** (arange(n_freq, dtype=float64) / n_freq))
    phase = outer(coords.reshape(-1).astype(float64), rates)
    return concatenate([sin(phase), cos(phase)], axis=1)


def build_plane_waves(dim, extent, n_prefix=0, flat=True):
    """Sine/cosine table for a rows x cols grid of patches."""
    rows_n, cols_n = (extent, extent) if isinstance(extent, int) else extent
    if dim % 2:
        raise ValueError(f"dim must be even, got {dim}")
    mesh = stack(meshgrid(arange(cols_n, dtype=float32), arange(rows_n, dtype=float32)), axis=0)
    table = concatenate([line_waves(dim // 2, mesh[1]), line_waves(dim // 2, mesh[0])], axis=1)
    if not flat:
        if n_prefix:
            raise ValueError("prefix tokens need a flat table")
        return table.reshape(rows_n, cols_n, dim)
    if n_prefix > 0:
        table = concatenate([zeros((n_prefix, dim)), table], axis=0)
    return table


def resize_position_table(table: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    n, d = table.shape
    edge = int(n**0.5)
    if edge * edge != n:
        raise ValueError(f"position table of {n} entries is not square")
    if tuple(hw) == (edge, edge):
        return table
    grid = table.reshape(1, edge, edge, d).permute(0, 3, 1, 2)
    grid = F.interpolate(grid.float(), size=hw, mode="bicubic", align_corners=False)
    return grid.permute(0, 2, 3, 1).reshape(-1, d).to(table.dtype)
