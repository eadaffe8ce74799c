"""What a finished run's numbers mean: has the model collapsed to the mean image?

A model that outputs the same image whatever its input (the training set's mean: the best constant
under MSE) has reconstructions that do not vary across images. Their spread, the per-pixel variance
across the test images averaged over pixels, is compared with the test images' own:

    ratio = mean_p var_n(reconstruction[n, p]) / mean_p var_n(image[n, p])

A ratio under COLLAPSE_RATIO (1%) is called a collapse. The usual cause is a learning rate too high
for Adam (``--preset seed`` uses the tutorial's lr 0.1): the ReLU units die in the first steps and only
the output layer's bias learns, which is the mean image.
"""
import numpy

COLLAPSE_RATIO = 0.01


def spread_ratio(reconstructions, images):
    """The ratio above, or None with fewer than two images or constant images."""
    reconstructions = numpy.asarray(reconstructions, dtype=numpy.float64)
    images = numpy.asarray(images, dtype=numpy.float64)
    if len(images) < 2:
        return None
    image_spread = float(images.var(axis=0).mean())
    if image_spread == 0:
        return None
    return float(reconstructions.var(axis=0).mean()) / image_spread


def collapse_note(reconstructions, images, lr):
    """One line saying the model collapsed to the mean image and why, or None."""
    ratio = spread_ratio(reconstructions, images)
    if ratio is None or ratio >= COLLAPSE_RATIO:
        return None
    return (f"note: the reconstructions are all (nearly) the same image, the training set's mean (they vary "
            f"{ratio:.1%} as much as the test images): the model collapsed, usually because the learning rate "
            f"(--lr {lr:g}) is too high for Adam and the ReLU units died; try --lr 1e-3 (--preset default)")
