"""The figures a GAN run draws: the fixed noise batch's samples after every epoch (a PNG strip and
an animated GIF), both losses and D's outputs against iterations, an interpolation in noise space,
and for a conditional GAN one row per digit.

Images are drawn from [-1, 1] (the generator's Tanh) mapped back to [0, 1]; files are written
atomically.
"""
import numpy

from runfolder.figures import mosaic, plt, save_figure, show_mosaic
from runfolder.folder import atomic_write_named
from nn import backend


def to_unit_range(images):
    """Generator output in [-1, 1] as a NumPy array in [0, 1]."""
    return (backend.to_numpy(images).astype(numpy.float64) + 1) / 2


def frame(images):
    """Generated images in [-1, 1] as uint8 in 0..255, the compact form kept per epoch."""
    return numpy.clip(numpy.rint(to_unit_range(images) * 255), 0, 255).astype(numpy.uint8)


def plot_progress(frames, path, columns=10):
    """One row per epoch: the first ``columns`` images of the fixed noise batch after that epoch."""
    rows = [epoch_frame[:columns] / 255.0 for epoch_frame in frames]
    return show_mosaic(mosaic(numpy.concatenate(rows), columns), path,
                       f"The same {columns} noise vectors after epochs 1 to {len(frames)} (top to bottom)")


def write_progress_gif(frames, path, columns=8, seconds_per_frame=0.5):
    """An animated GIF, one frame per epoch: the fixed noise batch as a grid."""
    from matplotlib import animation

    mosaics = [mosaic(epoch_frame[:columns * columns] / 255.0, columns) for epoch_frame in frames]
    figure, axes = plt.subplots(figsize=(4, 4.3))
    image = axes.imshow(mosaics[0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    axes.set_xticks([])
    axes.set_yticks([])
    title = axes.set_title("epoch 1", fontsize=10)

    def show(index):
        image.set_data(mosaics[index])
        title.set_text(f"epoch {index + 1}")
        return image, title

    movie = animation.FuncAnimation(figure, show, frames=len(mosaics), blit=False)
    writer = animation.PillowWriter(fps=1 / seconds_per_frame)
    try:
        atomic_write_named(path, lambda temporary: movie.save(temporary, writer=writer))
    finally:
        plt.close(figure)
    return path


def _smoothed(values, window):
    values = numpy.asarray(values, dtype=numpy.float64)
    if len(values) < window:
        return numpy.arange(1, len(values) + 1), values
    kernel = numpy.ones(window) / window
    return numpy.arange(window, len(values) + 1), numpy.convolve(values, kernel, mode="valid")


def plot_gan_losses(history, path, title="GAN training"):
    """Left: L_D and L_G per iteration (light) and smoothed. Right: D(x) and D(G(z)), the mean
    probabilities D gives real and generated images; at the game's equilibrium both are 1/2."""
    figure, (losses, outputs) = plt.subplots(1, 2, figsize=(11, 4))
    window = max(1, len(history.d_loss) // 50)
    for axes, series in ((losses, (("d_loss", "L_D, discriminator", "tab:red"), ("g_loss", "L_G, generator", "tab:blue"))),
                         (outputs, (("d_real", "D(x), real images", "tab:green"), ("d_fake", "D(G(z)), generated", "tab:purple")))):
        for name, label, colour in series:
            values = getattr(history, name)
            axes.plot(numpy.arange(1, len(values) + 1), values, color=colour, alpha=0.25, linewidth=0.6)
            axes.plot(*_smoothed(values, window), color=colour, label=label)
        axes.set_xlabel("iteration")
        axes.grid(alpha=0.3)
        axes.legend()
    losses.set_ylabel("loss")
    outputs.set_ylabel("mean probability")
    outputs.axhline(0.5, color="gray", linestyle=":", linewidth=1)
    outputs.set_ylim(0, 1)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return save_figure(figure, path)


def plot_noise_interpolation(generator, noise, path, steps=10, labels=None):
    """Each row: G along the straight line between two noise vectors (rows of ``noise`` taken in
    pairs); for a conditional GAN each row keeps one label."""
    xp = backend.get_array_module(noise)
    pairs = noise.shape[0] // 2
    start, end = noise[0:2 * pairs:2], noise[1:2 * pairs:2]
    t = xp.linspace(0, 1, steps, dtype=noise.dtype)[None, :, None]
    points = ((1 - t) * start[:, None, :] + t * end[:, None, :]).reshape(pairs * steps, -1)
    row_labels = None if labels is None else xp.repeat(xp.asarray(labels)[:pairs], steps)
    generator.eval()
    images = to_unit_range(generator(points, row_labels))
    return show_mosaic(mosaic(images, steps), path,
                       f"G along straight lines between {pairs} pairs of noise vectors")


def plot_digit_rows(generator, noise, path):
    """A conditional GAN's digits: row d is G(z_j, d) for the same noise vectors z_j in every row."""
    xp = backend.get_array_module(noise)
    columns = noise.shape[0]
    digits = generator.classes
    labels = xp.repeat(xp.arange(digits), columns)
    generator.eval()
    images = to_unit_range(generator(xp.tile(noise, (digits, 1)), labels))
    return show_mosaic(mosaic(images, columns), path,
                       f"One row per digit 0..{digits - 1}; the same {columns} noise vectors in every row")
