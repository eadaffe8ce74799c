"""PCA: the linear baseline every autoencoder has to beat at the same code size.

With k code dimensions, the best *linear* encoder-decoder pair under squared error is principal
component analysis (Eckart-Young; for autoencoders, Baldi and Hornik 1989): centre the training
images, take the k directions of largest variance, and reconstruct each image from its coordinates
along them.

    mean  = (1/N) sum_n x_n                            (D,)
    C     = (1/N) sum_n (x_n - mean)(x_n - mean)^T     (D, D)   the covariance of the training images
    C     = V diag(lambda) V^T,  lambda sorted down    V: (D, D), columns orthonormal
    P     = V[:, :k]^T                                  (k, D)   the principal directions, as rows
    code  z = (x - mean) P^T                            (N, k)
    x_hat = z P + mean                                  (N, D)

A linear autoencoder trained to its optimum reaches the same error, and its decoder's columns span
the same subspace as P's rows (though not with the same basis): `principal_angles` measures how close
a trained decoder has come to it.

Everything is computed in float64 whatever the images' dtype, on NumPy or CuPy (the images' array
module).
"""
import math
import os

import numpy

from nn import backend


class PCA:
    """Principal component analysis with ``n_components`` directions, fitted by ``fit(images)``.

    After fitting: ``mean`` (D,), ``components`` (k, D) with orthonormal rows, largest variance first,
    and ``explained_variance`` (k,), the variance of the training images along each direction.
    """

    def __init__(self, n_components):
        if isinstance(n_components, bool) or not isinstance(n_components, int) or n_components < 1:
            raise ValueError(f"PCA: n_components must be a positive int, got {n_components!r}")
        self.n_components = n_components
        self.mean = None
        self.components = None
        self.explained_variance = None

    def fit(self, images):
        """Fit to ``images`` (N, D) by an eigendecomposition of their covariance; returns self."""
        xp = backend.get_array_module(images)
        if images.ndim != 2 or images.shape[0] < 1:
            raise ValueError(f"PCA.fit: images must be (N, D) with N >= 1, got shape {tuple(images.shape)}")
        n, dimensions = images.shape
        if self.n_components > dimensions:
            raise ValueError(f"PCA: n_components={self.n_components} exceeds the {dimensions} pixels of an image; "
                             f"use at most {dimensions}")
        x = images.astype(xp.float64)
        self.mean = x.mean(axis=0)
        centred = x - self.mean
        del x
        if n >= dimensions:  # the D x D covariance is no larger than the data
            covariance = centred.T @ centred / n
            eigenvalues, eigenvectors = xp.linalg.eigh(covariance)           # ascending order
            order = xp.argsort(eigenvalues)[::-1][:self.n_components]
            self.explained_variance = xp.maximum(eigenvalues[order], 0.0)
            self.components = eigenvectors[:, order].T
            return self
        # Fewer images than pixels: the economy SVD of the N x D centred data, O(N^2 D) time and O(N D)
        # memory, never the D x D covariance (16,384 pixels would make it 2 GiB, 65,536 pixels 32 GiB).
        # C = V diag(s^2 / N) V^T: the right singular vectors are the covariance's eigenvectors.
        _, singular, vt = xp.linalg.svd(centred, full_matrices=False)   # descending; vt (N, D), rows orthonormal
        del centred
        kept = min(self.n_components, n)
        self.explained_variance = singular[:kept] ** 2 / n
        components = vt[:kept]
        if self.n_components > n:  # beyond the data's span every direction has variance 0: complete the basis
            components = _completed(components, self.n_components, xp)
            self.explained_variance = xp.concatenate([self.explained_variance,
                                                      xp.zeros(self.n_components - n, xp.float64)])
        self.components = xp.ascontiguousarray(components)
        return self

    def encode(self, images):
        """z = (x - mean) P^T, the coordinates along the principal directions (N, k), float64."""
        self._check_fitted()
        return (images.astype(self.mean.dtype) - self.mean) @ self.components.T

    def decode(self, codes):
        """x_hat = z P + mean (N, D), float64."""
        self._check_fitted()
        return codes @ self.components + self.mean

    def reconstruct(self, images):
        return self.decode(self.encode(images))

    def per_image_mse(self, images):
        """Mean squared error of each image's reconstruction, a NumPy float64 array (N,)."""
        errors = ((self.reconstruct(images) - images.astype(self.mean.dtype)) ** 2).mean(axis=1)
        return backend.to_numpy(errors)

    def _check_fitted(self):
        if self.components is None:
            raise RuntimeError("PCA: call fit(train_images) before encoding or decoding")

    def __repr__(self):
        return f"PCA(n_components={self.n_components})"


def _completed(rows, count, xp):
    """``rows`` (m, D), orthonormal, completed to ``count`` orthonormal rows (directions of zero variance,
    any of which is as good as another; drawn from a fixed seed, so a fit is reproducible)."""
    extra = numpy.random.default_rng(0).standard_normal((count - rows.shape[0], rows.shape[1]))
    extra = xp.asarray(extra)
    for _ in range(2):  # twice: one Gram-Schmidt pass against rows loses orthogonality to rounding
        extra -= (extra @ rows.T) @ rows
    basis, _ = xp.linalg.qr(extra.T)
    return xp.concatenate([rows, basis.T], axis=0)


def fit_bytes(n_train, n_test, dimensions, n_components):
    """About how many bytes fitting PCA to ``n_train`` images of ``dimensions`` pixels and scoring
    ``n_test`` images takes at its peak (float64 arrays and LAPACK's work space), with a margin."""
    n, d, k = n_train, dimensions, min(n_components, dimensions)
    fitting = 2 * n * d + (3 * d * d if n >= d else 2 * n * d + 3 * n * n)  # copy and centred; covariance or SVD
    scoring = 4 * n_test * d + n_test * k                                    # test images, codes, reconstructions
    return int(8 * (fitting + k * d + scoring) * 1.25)


def available_bytes():
    """Memory this process may still allocate: the system's available memory, or what an address-space
    limit (ulimit -v) leaves; None where neither can be read."""
    found = []
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            pass
    try:
        import resource
        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
        if limit != resource.RLIM_INFINITY:
            with open("/proc/self/statm") as handle:
                used = int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
            found.append(max(limit - used, 0))
    except (ImportError, OSError, ValueError, IndexError):
        pass
    return min(found) if found else None


def too_big_note(n_train, n_test, dimensions, n_components):
    """None when the PCA baseline at this size fits in memory; else the note saying why it is skipped."""
    needed, free = fit_bytes(n_train, n_test, dimensions, n_components), available_bytes()
    if free is None or needed <= free:
        return None
    return (f"the PCA baseline ({n_train:,} images of {dimensions:,} pixels, {n_components} components) needs about "
            f"{needed / 2**30:.1f} GiB, more than the {free / 2**30:.1f} GiB free; it is skipped")


def principal_angles(basis_a, basis_b):
    """The principal angles, in degrees and ascending, between the column spaces of ``basis_a``
    (D, k) and ``basis_b`` (D, m): 0 where the spaces share a direction, 90 where orthogonal.

    With Q_a, Q_b orthonormal bases of the two spaces (QR), the cosines of the angles are the
    singular values of Q_a^T Q_b.
    """
    xp = backend.get_array_module(basis_a)
    q_a, _ = xp.linalg.qr(basis_a.astype(xp.float64))
    q_b, _ = xp.linalg.qr(basis_b.astype(xp.float64))
    cosines = xp.linalg.svd(q_a.T @ q_b, compute_uv=False)
    angles = numpy.degrees(numpy.arccos(numpy.clip(backend.to_numpy(cosines), -1.0, 1.0)))
    return numpy.sort(angles)


def psnr(errors):
    """Peak signal-to-noise ratio 10 log10(1 / MSE) per image, averaged (perfect images excluded)."""
    errors = numpy.asarray(errors)
    positive = errors[errors > 0]
    return float(numpy.mean(10 * numpy.log10(1.0 / positive))) if positive.size else math.inf


def baseline(train_images, test_images, n_components):
    """PCA with the model's code size, fitted on the training images and scored on the test images:
    {'code_size', 'test_mse', 'test_psnr_db', 'squared_error_per_image'} (MSE per pixel; the
    squared error summed over an image's pixels, as Hinton and Salakhutdinov (2006) report it)."""
    pca = PCA(n_components).fit(train_images)
    errors = pca.per_image_mse(test_images)
    return {"code_size": n_components, "test_mse": float(errors.mean()), "test_psnr_db": psnr(errors),
            "squared_error_per_image": float(errors.mean() * test_images.shape[1])}


def compare(model, train_images, test_images, model_errors):
    """PCA at the model's code size beside the model, for summaries and metrics.json.

    ``model_errors``: the model's per-image test MSE. Returns baseline()'s entries plus the model's
    squared error per image and, for a linear autoencoder (one Linear each way), the principal
    angles (degrees) between its decoder's column space and PCA's subspace. PCA is fitted on the
    CPU in float64; a code wider than an image is compared with all of the image's dimensions."""
    train_images, test_images = backend.to_numpy(train_images), backend.to_numpy(test_images)
    code_size = min(model.latent_dim, train_images.shape[1])
    pca = PCA(code_size).fit(train_images)
    errors = pca.per_image_mse(test_images)
    pixels = test_images.shape[1]
    result = {"code_size": code_size, "test_mse": float(errors.mean()), "test_psnr_db": psnr(errors),
              "squared_error_per_image": float(errors.mean() * pixels),
              "model_squared_error_per_image": float(numpy.mean(model_errors) * pixels)}
    decoder = getattr(model, "decoder", None)
    if hasattr(decoder, "weight") and getattr(model.encoder, "weight", None) is not None:  # linear: one Linear each way
        angles = principal_angles(backend.to_numpy(decoder.weight.data), pca.components.T)
        result["principal_angles_deg"] = {"max": float(angles.max()), "median": float(numpy.median(angles))}
    return result, pca


def summary_line(result, model_mse):
    """One line: the model against PCA with the same code size."""
    ratio = model_mse / result["test_mse"] if result["test_mse"] > 0 else math.inf
    verdict = (f"the autoencoder's error is {1 - ratio:.0%} lower" if ratio < 1
               else f"PCA's error is {1 - 1 / ratio:.0%} lower: the autoencoder does not beat the linear baseline")
    line = (f"PCA with the same {result['code_size']}-dimensional code: test MSE {result['test_mse']:.6f} "
            f"({result['squared_error_per_image']:.2f} summed over an image's pixels, against the model's "
            f"{result['model_squared_error_per_image']:.2f}); {verdict}")
    if "principal_angles_deg" in result:
        angles = result["principal_angles_deg"]
        line += (f"; the decoder's columns span PCA's subspace to within {angles['max']:.1f} degrees "
                 f"(median principal angle {angles['median']:.1f})")
    return line
