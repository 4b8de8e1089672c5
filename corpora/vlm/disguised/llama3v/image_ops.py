"""Adaptive tiling of large pictures."""

from math import ceil, log, sqrt

from PIL import Image


def snap_to_multiple(n, step):
    return max(round(n / step) * step, step)


def fit_within_budget(
    size: tuple[int, int], side: int, patch: int, upscale: bool = False
) -> tuple[int, int]:
    w, h = size
    if upscale or w * h > side * side:
        r = w / h
        h = int(side / sqrt(r))
        w = int(h * r)
    return snap_to_multiple(w, patch), snap_to_multiple(h, patch)


def upscaled_canvas_size(
    size: tuple[int, int], layout: tuple[int, int], side: int, patch: int, upscale: bool = False
) -> tuple[int, int]:
    (w, h), (cols, rows) = size, layout
    canvas_w, canvas_h = snap_to_multiple(w, cols), snap_to_multiple(h, rows)
    tile_w, tile_h = fit_within_budget((canvas_w / cols, canvas_h / rows), side, patch, upscale=upscale)
    return tile_w * cols, tile_h * rows


def cut_into_tiles(img: Image.Image, layout: tuple[int, int]) -> list[list[Image.Image]]:
    w, h = img.size
    dx, dy = w // layout[0], h // layout[1]
    tiles = []
    for y in range(0, h, dy):
        strip = []
        for x in range(0, w, dx):
            strip.append(img.crop((x, y, x + dx, y + dy)))
        tiles.append(strip)
    return tiles


def factor_pairs(n: int) -> list[tuple[int, int]]:
    return [(k, n // k) for k in range(1, n + 1) if n % k == 0]


def closest_aspect_layout(size, layouts):
    w, h = size
    target = log(w / h)
    chosen, gap = layouts[0], float("inf")
    for lay in layouts:
        d = abs(target - log(lay[0] / lay[1]))
        if d < gap:
            chosen, gap = lay, d
    return chosen


def choose_layout(size, max_tiles, side, keep_whole=False):
    w, h = size
    wanted = min(ceil(w * h / (side * side)), max_tiles)
    if keep_whole or wanted <= 1:
        return None
    options = []
    for n in [m for m in (wanted - 1, wanted, wanted + 1) if 1 < m <= max_tiles]:
        options.extend(factor_pairs(n))
    if not options:
        return None
    return closest_aspect_layout(size, options)


def _render_tiles(img, size, layout, side, patch):
    target = upscaled_canvas_size(size, layout, side, patch, upscale=True)
    return cut_into_tiles(img.resize(target, resample=Image.Resampling.BICUBIC), layout)


def tile_picture(img, max_tiles=7, side=476, patch=14, keep_whole=False):
    size = img.size
    layout = choose_layout(size, max_tiles, side, keep_whole)
    if layout is None:
        small = fit_within_budget(size, side, patch, upscale=True)
        return img.resize(small, resample=Image.Resampling.BICUBIC), [], None
    overview = img.copy().resize(fit_within_budget(size, side, patch), resample=Image.Resampling.BICUBIC)
    return overview, _render_tiles(img, size, layout, side, patch), layout


def pad_to_square(img, fill=(127, 127, 127)):
    """Letterbox a picture onto a square canvas so that nothing is cropped."""
    w, h = img.size
    if w == h:
        return img
    edge = max(w, h)
    canvas = Image.new(img.mode, (edge, edge), fill)
    canvas.paste(img, ((edge - w) // 2, (edge - h) // 2))
    return canvas
