"""Cut a high-resolution image into a grid of slices the vision tower can digest.

The whole image is always encoded once at low resolution (the "source"); when it is much
larger than ``scale_resolution`` squared it is also cut into up to ``max_slice_nums``
slices whose grid best matches the image's aspect ratio.
"""

from __future__ import annotations

import math

from PIL import Image


def ensure_divide(length: float, patch_size: int) -> int:
    """Round ``length`` to a multiple of ``patch_size``, never below one patch."""
    return max(round(length / patch_size) * patch_size, patch_size)


def find_best_resize(
    original_size: tuple[int, int],
    scale_resolution: int,
    patch_size: int,
    allow_upscale: bool = False,
) -> tuple[int, int]:
    """Keep the aspect ratio, fit the area into scale_resolution**2, snap to patches."""
    width, height = original_size
    if width * height > scale_resolution * scale_resolution or allow_upscale:
        aspect = width / height
        height = int(scale_resolution / math.sqrt(aspect))
        width = int(height * aspect)
    return ensure_divide(width, patch_size), ensure_divide(height, patch_size)


def get_refine_size(
    original_size: tuple[int, int],
    grid: tuple[int, int],
    scale_resolution: int,
    patch_size: int,
    allow_upscale: bool = False,
) -> tuple[int, int]:
    """Size to resize the full image to so that each grid cell is a valid slice."""
    width, height = original_size
    grid_x, grid_y = grid
    refine_width = ensure_divide(width, grid_x)
    refine_height = ensure_divide(height, grid_y)
    cell_width = refine_width / grid_x
    cell_height = refine_height / grid_y
    best_w, best_h = find_best_resize(
        (cell_width, cell_height), scale_resolution, patch_size, allow_upscale=allow_upscale
    )
    return best_w * grid_x, best_h * grid_y


def split_to_patches(image: Image.Image, grid: tuple[int, int]) -> list[list[Image.Image]]:
    """Crop ``image`` into grid[1] rows of grid[0] slices each."""
    width, height = image.size
    step_x = width // grid[0]
    step_y = height // grid[1]
    rows = []
    for top in range(0, height, step_y):
        row = []
        for left in range(0, width, step_x):
            row.append(image.crop((left, top, left + step_x, top + step_y)))
        rows.append(row)
    return rows


def candidate_grids(num_slices: int) -> list[tuple[int, int]]:
    """All (columns, rows) factorizations of ``num_slices``."""
    return [(m, num_slices // m) for m in range(1, num_slices + 1) if num_slices % m == 0]


def best_ratio_grid(image_size: tuple[int, int], grids: list[tuple[int, int]]) -> tuple[int, int]:
    """The grid whose aspect ratio is closest to the image's, in log space."""
    width, height = image_size
    log_ratio = math.log(width / height)
    best, best_err = grids[0], float("inf")
    for grid in grids:
        err = abs(log_ratio - math.log(grid[0] / grid[1]))
        if err < best_err:
            best, best_err = grid, err
    return best


def get_sliced_grid(
    image_size: tuple[int, int],
    max_slice_nums: int,
    scale_resolution: int,
    never_split: bool = False,
) -> tuple[int, int] | None:
    """How to cut an image, or None when it is small enough to keep whole."""
    width, height = image_size
    ratio = width * height / (scale_resolution * scale_resolution)
    multiple = min(math.ceil(ratio), max_slice_nums)
    if multiple <= 1 or never_split:
        return None

    counts = [n for n in (multiple - 1, multiple, multiple + 1) if 1 < n <= max_slice_nums]
    grids: list[tuple[int, int]] = []
    for n in counts:
        grids.extend(candidate_grids(n))
    if not grids:
        return None
    return best_ratio_grid(image_size, grids)


def slice_image(
    image: Image.Image,
    max_slice_nums: int = 7,
    scale_resolution: int = 476,
    patch_size: int = 14,
    never_split: bool = False,
) -> tuple[Image.Image, list[list[Image.Image]], tuple[int, int] | None]:
    """Return the low-resolution source image, the slices (rows of images) and the grid."""
    original_size = image.size
    grid = get_sliced_grid(original_size, max_slice_nums, scale_resolution, never_split)

    if grid is None:
        best_size = find_best_resize(original_size, scale_resolution, patch_size, allow_upscale=True)
        return image.resize(best_size, resample=Image.Resampling.BICUBIC), [], None

    best_size = find_best_resize(original_size, scale_resolution, patch_size)
    source_image = image.copy().resize(best_size, resample=Image.Resampling.BICUBIC)
    refine_size = get_refine_size(original_size, grid, scale_resolution, patch_size, allow_upscale=True)
    refine_image = image.resize(refine_size, resample=Image.Resampling.BICUBIC)
    patches = split_to_patches(refine_image, grid)
    return source_image, patches, grid
