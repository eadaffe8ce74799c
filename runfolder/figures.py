"""Image grids drawn with matplotlib and saved as PNG files, whole or not at all: the pieces every
figure of both command lines is built from.

Images arrive flat, (count, side*side), with values in [0, 1]; ``mosaic`` tiles them into one array,
``show_mosaic`` draws it under a title, ``save_figure`` writes any figure atomically and closes it.
"""
import math

import matplotlib

matplotlib.use("Agg")  # files only: no window, no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy  # noqa: E402

from .folder import atomic_write  # noqa: E402


def save_figure(figure, path):
    """Write ``figure`` as a PNG to ``path`` (atomically) and close it; returns ``path``."""
    atomic_write(path, lambda handle: figure.savefig(handle, format="png", dpi=100, bbox_inches="tight"))
    plt.close(figure)
    return path


def square_side(images):
    """The side of square images stored flat, (count, side*side)."""
    return math.isqrt(images[0].size)


def mosaic(images, columns, gap=2):
    """(count, side*side) images tiled row by row into one array, white lines between them: one
    imshow instead of a subplot per image (hundreds of subplots take seconds to draw)."""
    side = square_side(images)
    images = numpy.asarray(images, dtype=numpy.float64).reshape(-1, side, side)
    rows = -(-len(images) // columns)
    tiled = numpy.ones((rows * (side + gap) - gap, columns * (side + gap) - gap))
    for index, image in enumerate(images):
        top, left = (index // columns) * (side + gap), (index % columns) * (side + gap)
        tiled[top:top + side, left:left + side] = image
    return tiled


def show_mosaic(tiled, path, title, scale=0.3):
    """A ``mosaic`` drawn in gray (0 black, 1 white) under ``title``, saved to ``path``."""
    height, width = tiled.shape
    figure, axes = plt.subplots(figsize=(max(width * scale / 10, 4), height * scale / 10 + 0.6))
    axes.imshow(tiled, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    axes.set_xticks([])
    axes.set_yticks([])
    axes.set_title(title, fontsize=10)
    return save_figure(figure, path)
