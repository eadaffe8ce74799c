"""The figures a run draws: loss curves, reconstructions, the latent space, denoising; for a VAE also
new samples, interpolations in latent space and (2-D latent space) the decoded manifold.

Every figure is drawn on NumPy copies of the data and written atomically as a PNG.
"""
import numpy

from runfolder.figures import mosaic, plt, save_figure, show_mosaic, square_side
from nn import backend

from .training import encode, predict


def plot_loss(history, path, title="Training loss"):
    """Per-iteration training loss (light) with its per-epoch mean and the test loss per epoch."""
    figure, axes = plt.subplots(figsize=(8, 4.5))
    iterations = numpy.arange(1, len(history.iteration_loss) + 1)
    axes.plot(iterations, history.iteration_loss, color="tab:blue", alpha=0.35, linewidth=0.6,
              label="training loss per iteration")
    if history.epochs:
        per_epoch = len(history.iteration_loss) / history.epochs
        epoch_ends = per_epoch * numpy.arange(1, history.epochs + 1)
        axes.plot(epoch_ends, history.train_loss, "o-", color="tab:blue", label="training loss, epoch mean")
        tests = [(x, y) for x, y in zip(epoch_ends, history.test_loss) if y is not None]
        if tests:
            axes.plot(*zip(*tests), "s-", color="tab:red", label="test loss after each epoch")
    axes.set_yscale("log")
    axes.set_xlabel("iteration")
    axes.set_ylabel("loss")
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    return save_figure(figure, path)


def _image_rows(rows, labels, path, title):
    count = rows[0].shape[0]
    side = square_side(rows[0])
    figure, grid = plt.subplots(len(rows), count, figsize=(1.1 * count, 1.2 * len(rows) + 0.4), squeeze=False)
    for row, (images, label) in enumerate(zip(rows, labels)):
        for column in range(count):
            axes = grid[row][column]
            axes.imshow(images[column].reshape(side, side), cmap="gray", vmin=0, vmax=1)
            axes.set_xticks([])
            axes.set_yticks([])
        grid[row][0].set_ylabel(label, fontsize=9)
    figure.suptitle(title)
    return save_figure(figure, path)


def plot_reconstructions(model, images, path, count=10, pca=None):
    """Test originals (top row) above the model's reconstructions; with a fitted ``pca``, a third
    row of PCA's reconstructions with the same code size, the linear baseline."""
    originals = images[:count]
    rows = [backend.to_numpy(originals), backend.to_numpy(predict(model, originals))]
    labels = ["original", "reconstruction"]
    if pca is not None:
        rows.append(numpy.clip(pca.reconstruct(rows[0]), 0, 1))
        labels.append(f"PCA, {pca.n_components} comp.")
    title = "Test images and their reconstructions" + (" (and PCA's with the same code size)" if pca is not None else "")
    return _image_rows(rows, labels, path, title)


def plot_denoising(model, images, path, count=10):
    """Noisy inputs, the model's outputs, and the clean images, one row each."""
    clean = images[:count]
    noisy = model.noise(clean)
    denoised = predict(model, noisy)
    return _image_rows([backend.to_numpy(noisy), backend.to_numpy(denoised), backend.to_numpy(clean)],
                       ["noisy", "denoised", "clean"], path, f"Denoising ({model.noise!r})")


def project_2d(codes):
    """The codes themselves when 2-D, else their projection on the first two principal components."""
    codes = numpy.asarray(codes, dtype=numpy.float64)
    if codes.shape[1] <= 2:
        return codes if codes.shape[1] == 2 else numpy.column_stack([codes[:, 0], numpy.zeros(len(codes))])
    centred = codes - codes.mean(axis=0)
    _, _, components = numpy.linalg.svd(centred, full_matrices=False)
    points = centred @ components[:2].T
    # One image (or codes in a line) has fewer than two components: the missing ones are zero.
    return numpy.column_stack([points, numpy.zeros((len(points), 2 - points.shape[1]))])


def codes_collapsed(codes, relative_spread=1e-4):
    """Whether every code is (nearly) the same point, each unit's standard deviation across images under
    ``relative_spread`` of the codes' size (a dead encoder's float32 codes still differ by rounding, ~1e-6):
    then no projection shows any structure."""
    codes = numpy.asarray(codes, dtype=numpy.float64)
    return len(codes) > 1 and float(codes.std(axis=0).max()) <= relative_spread * (1.0 + float(numpy.abs(codes).max()))


def plot_latent(model, images, labels, path, limit=5000, label_name="digit"):
    """The test set's codes in 2-D (PCA when wider), coloured by label (digit, or class), with a colour bar;
    one colour and no bar when `labels` is None (one's own images)."""
    codes = backend.to_numpy(encode(model, images[:limit]))
    points = project_2d(codes)
    figure, axes = plt.subplots(figsize=(7, 6))
    if labels is None:
        axes.scatter(points[:, 0], points[:, 1], s=4, alpha=0.7)
    else:
        scatter = axes.scatter(points[:, 0], points[:, 1], c=backend.to_numpy(labels[:limit]), cmap="tab10",
                               vmin=-0.5, vmax=9.5, s=4, alpha=0.7)
        bar = figure.colorbar(scatter, ax=axes, ticks=range(10))
        bar.set_label(label_name)
    how = "the code itself" if codes.shape[1] == 2 else f"first two principal components of the {codes.shape[1]}-D code"
    axes.set_title(f"Latent space of {len(points)} test images ({how})")
    if codes_collapsed(codes):  # a single dot would look like a broken figure: say what it means
        axes.text(0.5, 0.92, "every image has (nearly) the same code: the encoder collapsed\n"
                  "(see the run's summary; usually a learning rate too high)", transform=axes.transAxes,
                  ha="center", va="top", fontsize=10, color="tab:red")
    axes.set_xlabel("component 1")
    axes.set_ylabel("component 2")
    return save_figure(figure, path)


# --- the VAE's generative figures -------------------------------------------------------------------
def plot_samples(model, path, count=64, seed=0):
    """``count`` new images decoded from the prior N(0, I) (eps from a generator seeded ``seed``, so
    the figure is the same each time it is drawn), in a square-ish grid."""
    images = backend.to_numpy(model.sample(count, backend.new_generator(seed, model.device)))
    columns = int(numpy.ceil(numpy.sqrt(count)))
    return show_mosaic(mosaic(images, columns), path,
                       f"{count} new images decoded from the prior N(0, I) of the {model.latent_dim}-D latent space")


def plot_interpolation(model, images, path, pairs=6, steps=10):
    """Straight lines in latent space: each row is a test image, the decodings of ``steps`` evenly
    spaced points from its mean code mu to the next image's, and that image."""
    xp = backend.get_array_module(images)
    ends = images[:2 * pairs]
    if ends.shape[0] < 2:  # one test image (--limit 1): its line to itself
        ends = xp.concatenate([ends, ends])
    pairs = ends.shape[0] // 2
    codes = encode(model, ends)
    start, end = codes[0:2 * pairs:2], codes[1:2 * pairs:2]
    t = xp.linspace(0, 1, steps, dtype=codes.dtype)[None, :, None]
    path_codes = (1 - t) * start[:, None, :] + t * end[:, None, :]
    decoded = backend.to_numpy(model.decode(path_codes.reshape(pairs * steps, -1))).reshape(pairs, steps, -1)
    ends = backend.to_numpy(ends)
    rows = [numpy.concatenate([ends[2 * row][None], decoded[row], ends[2 * row + 1][None]]) for row in range(pairs)]
    return show_mosaic(mosaic(numpy.concatenate(rows), steps + 2), path,
                       f"Interpolation between the codes (mu) of {pairs} pairs of test images (ends: the originals)")


def plot_manifold(model, path, size=20):
    """A 2-D latent space decoded over a size x size grid of the prior's quantiles 5% ... 95% (so each
    cell covers equal prior probability): z1 grows to the right, z2 upwards."""
    from scipy.stats import norm
    if model.latent_dim != 2:
        raise ValueError(f"plot_manifold needs a 2-D latent space, the model's has {model.latent_dim} dimensions")
    quantiles = norm.ppf(numpy.linspace(0.05, 0.95, size))
    z1, z2 = numpy.meshgrid(quantiles, quantiles[::-1])
    grid = numpy.column_stack([z1.ravel(), z2.ravel()])
    xp = backend.array_module(model.device)
    decoded = backend.to_numpy(model.decode(xp.asarray(grid, dtype=model.dtype)))
    return show_mosaic(mosaic(decoded, size), path,
                       f"The decoded 2-D latent space over the N(0, 1) quantiles 5%..95% ({size} x {size})")


def plot_codes_against_prior(model, images, labels, path, limit=5000):
    """The adversarial autoencoder's codes of test images (coloured by label) over draws from the
    prior N(0, I), in the code's first two dimensions: if the discriminator did its job the codes
    fill the prior's disc instead of sitting wherever the reconstruction put them."""
    codes = backend.to_numpy(encode(model, images[:limit])).astype(numpy.float64)
    prior = numpy.random.default_rng(0).standard_normal(codes.shape)
    figure, axes = plt.subplots(figsize=(6, 5.5))
    axes.scatter(prior[:, 0], prior[:, 1], s=3, color="lightgray", label="prior N(0, I)")
    colours = None if labels is None else backend.to_numpy(labels)[:limit]
    points = axes.scatter(codes[:, 0], codes[:, 1], s=3, c=colours, cmap="tab10" if colours is not None else None,
                          label="codes of test images")
    if colours is not None:
        figure.colorbar(points, ax=axes, label="digit")
    axes.set_xlabel("code dimension 1")
    axes.set_ylabel("code dimension 2")
    axes.set_title("Adversarial autoencoder: codes against the prior (first two dimensions)", fontsize=10)
    axes.legend(loc="upper right", markerscale=4)
    return save_figure(figure, path)
