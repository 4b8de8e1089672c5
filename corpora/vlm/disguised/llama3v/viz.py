"""Plot helpers used by the quickstart notebook."""

import matplotlib.pyplot as plt
from PIL import Image, ImageDraw


def synthetic_checkerboard(w: int, h: int, cell: int = 64) -> Image.Image:
    canvas = Image.new("RGB", (w, h), "white")
    pen = ImageDraw.Draw(canvas)
    for y in range(0, h, cell):
        for x in range(0, w, cell):
            if (y // cell + x // cell) % 2 == 0:
                pen.rectangle([x, y, x + cell - 1, y + cell - 1], fill=(40, 90, 160))
            pen.text((x + 4, y + 4), str(x // cell), fill=(230, 120, 30))
    return canvas


def draw_tiles(overview, tiles, layout, size=(10, 5)):
    n_cols, n_rows = layout
    figure = plt.figure(figsize=size)
    left = figure.add_subplot(1, 2, 1)
    left.imshow(overview)
    left.set_title(f"source {overview.size[0]}x{overview.size[1]}")
    left.axis("off")
    for i, strip in enumerate(tiles):
        for j, tile in enumerate(strip):
            cell_ax = figure.add_subplot(n_rows, 2 * n_cols, i * 2 * n_cols + n_cols + j + 1)
            cell_ax.imshow(tile)
            cell_ax.axis("off")
    figure.tight_layout()
    return figure
