"""What a finished run's numbers mean: has the model collapsed to the mean image?

A model that outputs the same image whatever its input (the training set's mean: the best constant
under MSE) has reconstructions that do not vary across images. Their spread, the per-pixel variance
across the test images averaged over pixels, is compared with the test images' own:

    ratio = mean_p var_n(reconstruction[n, p]) / mean_p var_n(image[n, p])

A ratio under COLLAPSE_RATIO (1%) is called a collapse. It has two usual causes, told apart by the
learning rate:

- above Adam's usual 1e-3 (``--preset seed`` uses the tutorial's 0.1): the ReLU units die in the first
  steps and only the output layer's bias learns, which is the mean image; a lower rate is the fix.
- at or below it: too few steps. A network learns the average image before it learns what tells
  images apart (``train --epochs 1 --limit 300`` is ten steps); more epochs are the fix, and a lower
  rate would only make it worse.
"""
import numpy

COLLAPSE_RATIO = 0.01
USUAL_LR = 1e-3  # Adam's usual rate, the default preset's


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


def collapse_note(reconstructions, images, lr, epochs):
    """One line saying the model collapsed to one image and the likely cause for this ``lr`` after
    ``epochs`` epochs, or None."""
    ratio = spread_ratio(reconstructions, images)
    if ratio is None or ratio >= COLLAPSE_RATIO:
        return None
    said = (f"note: the reconstructions are all (nearly) the same image, at best the training set's mean (they "
            f"vary {ratio:.1%} as much as the test images): the model collapsed, ")
    if lr > USUAL_LR:
        return said + (f"usually because the learning rate (--lr {lr:g}) is too high for Adam and the ReLU units "
                       f"died; try --lr {USUAL_LR:g} (--preset default)")
    trained = f"{epochs} epoch{'' if epochs == 1 else 's'}"
    return said + (f"most likely because it trained too few steps ({trained} at --lr {lr:g}, not above Adam's "
                   f"usual {USUAL_LR:g}): a network learns the mean image first; train longer with more --epochs")
