"""The sample-quality numbers: the Frechet distance against a direct computation with a matrix
square root, its zero and its symmetry; the class entropy; the classifier's gradients."""
import numpy
import pytest

import nn
from gans.quality import DigitClassifier, class_entropy, frechet_distance


def direct_frechet(a, b):
    from scipy.linalg import sqrtm
    mean_a, mean_b = a.mean(0), b.mean(0)
    cov_a, cov_b = numpy.cov(a, rowvar=False), numpy.cov(b, rowvar=False)
    return float(((mean_a - mean_b) ** 2).sum() + numpy.trace(cov_a + cov_b - 2 * sqrtm(cov_a @ cov_b).real))


def test_frechet_distance_equals_the_matrix_square_root_form():
    rng = numpy.random.default_rng(0)
    a = rng.standard_normal((500, 6)) @ rng.standard_normal((6, 6))
    b = rng.standard_normal((400, 6)) @ rng.standard_normal((6, 6)) + 0.5
    assert frechet_distance(a, b) == pytest.approx(direct_frechet(a, b), rel=1e-8)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-8)
    assert abs(frechet_distance(a, a)) < 1e-8


def test_frechet_distance_of_shifted_gaussians_is_the_squared_shift():
    rng = numpy.random.default_rng(1)
    a = rng.standard_normal((2000, 3))
    assert frechet_distance(a, a + [3.0, 0.0, 4.0]) == pytest.approx(25.0, rel=1e-9)


def test_class_entropy():
    assert class_entropy(numpy.arange(1000) % 10) == pytest.approx(numpy.log(10))
    assert class_entropy(numpy.full(50, 7)) == 0.0
    assert class_entropy([0, 0, 1, 1]) == pytest.approx(numpy.log(2))


def test_classifier_backward_gradcheck():
    nn.manual_seed(0)
    classifier = DigitClassifier(image_dim=12)
    nn.gradcheck(classifier, numpy.random.default_rng(0).random((3, 12)))
    assert classifier.features(numpy.zeros((5, 12), numpy.float32)).shape == (5, 128)


def test_the_quality_classifier_is_trained_the_same_from_the_same_seed():
    # Its weights decide every quality number of a run: one seed, one classifier (the data's order included).
    from gans.quality import train_classifier
    rng = numpy.random.default_rng(0)
    images, labels = rng.random((40, 16)).astype(numpy.float32), rng.integers(0, 10, 40)

    def weights(seed):
        classifier = train_classifier(images, labels, epochs=1, batch_size=8, seed=seed)
        return numpy.concatenate([parameter.data.ravel() for parameter in classifier.parameters()])

    numpy.testing.assert_array_equal(weights(3), weights(3))
    assert not numpy.array_equal(weights(3), weights(4))
