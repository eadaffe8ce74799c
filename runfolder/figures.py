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


def plot_gradient_stats(columns, path, title):
    """gradients.png: for each network, a column of three panels over training (the x axis in epochs):
    the norm of the gradient reaching each layer, each weight's update-to-weight ratio per step with
    the ~1e-3 guide line, and the share of each ReLU's units dead for a whole epoch.

    ``columns``: [(heading, stats)], ``stats`` a GradientStats.to_dict() (metrics.json's
    "gradient_stats"). A network without ReLUs says so in its third panel."""
    figure, grid = plt.subplots(3, len(columns), figsize=(7.5 * len(columns), 11), squeeze=False)
    for column, (heading, stats) in enumerate(columns):
        _gradient_column(grid[:, column], heading, stats)
    figure.suptitle(title)
    figure.tight_layout()
    return save_figure(figure, path)


def _steps(count):
    return "step" if count == 1 else f"{count} steps"


def _epochs_of(steps, stats):
    per_epoch = stats.get("steps_per_epoch") or 1
    return (stats.get("first_epoch", 1) - 1) + numpy.asarray(steps, dtype=numpy.float64) / per_epoch


def _series(axes, x, named, labels, colors, **style):
    drawn = False
    for name, color in zip(named, colors):
        values = numpy.array([numpy.nan if value is None else value for value in named[name]], dtype=numpy.float64)
        if numpy.isfinite(values).any():
            axes.plot(x, values, color=color, label=labels.get(name, name), **style)
            drawn = True
    return drawn


def _gradient_column(panels, heading, stats):
    norms, ratios, dead = panels
    windows, epochs = stats["windows"], stats["epochs"]
    x = _epochs_of(windows["step"], stats)
    layers = [layer["name"] for layer in stats["layers"]]
    depth = plt.get_cmap("viridis")
    colors = [depth(value) for value in numpy.linspace(0, 0.9, max(len(layers), 1))]
    shapes = {layer["name"]: f"{layer['name'] or 'model'} ({layer['shape']})" for layer in stats["layers"]}
    if _series(norms, x, windows["grad_norm"], shapes, colors, linewidth=1.2):
        norms.set_yscale("log")
    norms.set_title(f"{heading}: ||dL/dy|| reaching each layer (one step in {stats['sample_every']} measured; "
                    f"means per {_steps(stats['every'])})", fontsize=9)
    norms.set_ylabel("gradient norm")
    weights = [name for name in stats["parameters"] if name.endswith(".weight")]
    by_layer = {layer: color for layer, color in zip(layers, colors)}
    weight_colors = [by_layer.get(name.rsplit(".", 1)[0], "gray") for name in weights]
    if _series(ratios, x, {name: windows["update_ratio"][name] for name in weights}, {}, weight_colors,
               linewidth=1.2, marker=".", markersize=3):
        ratios.set_yscale("log")
    ratios.axhline(stats.get("update_guide", 1e-3), color="black", linestyle="--", linewidth=1,
                   label=f"guide {stats.get('update_guide', 1e-3):g}")
    ratios.set_title(f"||update|| / ||weight|| per step (one step in {stats.get('update_every', stats['sample_every'])} "
                     "measured)", fontsize=9)
    ratios.set_ylabel("update / weight")
    relus = stats["relus"]
    if relus:
        x_epochs = numpy.asarray(epochs["epoch"], dtype=numpy.float64)
        relu_colors = [plt.get_cmap("plasma")(value) for value in numpy.linspace(0, 0.85, len(relus))]
        labels = {relu["name"]: f"{relu['name']} ({relu['units']} units)" for relu in relus}
        _series(dead, x_epochs, {relu["name"]: epochs["dead_fraction"][relu["name"]] for relu in relus}, labels,
                relu_colors, linewidth=1.2, marker="o", markersize=4)
        dead.set_ylim(-0.03, 1.03)
        dead.set_xlim(left=min(x_epochs.min(), 1) - 0.5 if len(x_epochs) else 0)
        dead.set_title("dead ReLU units: share that was 0 for every training image of the epoch", fontsize=9)
        dead.set_ylabel("dead fraction")
    else:
        dead.text(0.5, 0.5, "no ReLU units in this network", ha="center", va="center", transform=dead.transAxes)
        dead.set_xticks([])
        dead.set_yticks([])
    for axes in panels:
        axes.set_xlabel("epoch")
        axes.grid(True, which="both", alpha=0.3)
        if axes.get_legend_handles_labels()[0]:
            axes.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
