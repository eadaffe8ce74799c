"""How good generated digits are, as numbers, judged by a small digit classifier trained on the engine.

- Frechet distance (the idea of Heusel et al.'s FID, with this classifier's features instead of
  an Inception network's): fit a Gaussian to the classifier's penultimate features of real test
  digits (mean m_r, covariance S_r) and one to the features of generated digits (m_g, S_g);

      d^2 = |m_r - m_g|^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2))

  0 for identical distributions. Tr((S_r S_g)^(1/2)) is the sum of the square roots of the
  eigenvalues of S_r^(1/2) S_g S_r^(1/2), a symmetric positive semi-definite matrix with the same
  eigenvalues as S_r S_g.
- Class entropy: the entropy (nats) of the histogram of predicted classes of the samples; ln 10 =
  2.303 when all ten digits are drawn equally often, lower when modes are missing (mode collapse).
- For a conditional GAN, the accuracy: how often the classifier reads the digit that was asked for.

The numbers depend on this classifier, so they compare models with each other, not with published
FIDs.
"""
import numpy

import nn
from nn import backend


class DigitClassifier(nn.Module):
    """784 -> 256 -> 128 -> 10 with ReLU between; ``features(x)`` is the 128-d penultimate layer."""

    def __init__(self, image_dim=784, classes=10):
        self.body = nn.Sequential(nn.Linear(image_dim, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU())
        self.head = nn.Linear(128, classes)

    def forward(self, x):
        return self.head(self.body(x))

    def backward(self, grad_output):
        return self.body.backward(self.head.backward(grad_output))

    def features(self, x, batch_size=1000):
        self.eval()
        x = x.astype(self.dtype, copy=False)        # samples may come in another precision than the classifier's
        return numpy.concatenate([backend.to_numpy(self.body(x[start:start + batch_size])).astype(numpy.float64)
                                  for start in range(0, x.shape[0], batch_size)])

    def predict(self, x, batch_size=1000):
        self.eval()
        x = x.astype(self.dtype, copy=False)
        return numpy.concatenate([backend.to_numpy(self(x[start:start + batch_size])).argmax(axis=1)
                                  for start in range(0, x.shape[0], batch_size)])


def train_classifier(images, labels, epochs=5, batch_size=64, lr=1e-3, seed=0):
    """A DigitClassifier trained with cross-entropy and Adam on images in [0, 1]."""
    import datasets

    nn.manual_seed(seed)
    classifier = DigitClassifier(image_dim=images.shape[1])
    optimizer = nn.Adam(classifier.parameters(), lr=lr)
    loss = nn.CrossEntropyLoss()
    classifier.train()
    for _ in range(epochs):
        for x, y in datasets.DataLoader(images, labels=labels, batch_size=batch_size, seed=seed):
            loss(classifier(x), y)
            optimizer.zero_grad()
            classifier.backward(loss.backward())
            optimizer.step()
    return classifier


def frechet_distance(features_a, features_b):
    """d^2 between Gaussians fitted to two (N, F) feature sets, in float64."""
    mean_a, mean_b = features_a.mean(axis=0), features_b.mean(axis=0)
    cov_a, cov_b = numpy.cov(features_a, rowvar=False), numpy.cov(features_b, rowvar=False)
    values, vectors = numpy.linalg.eigh(cov_a)
    root_a = (vectors * numpy.sqrt(numpy.clip(values, 0, None))) @ vectors.T
    cross = numpy.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace_root = numpy.sqrt(numpy.clip(cross, 0, None)).sum()
    return float(((mean_a - mean_b) ** 2).sum() + numpy.trace(cov_a) + numpy.trace(cov_b) - 2 * trace_root)


def class_entropy(predictions, classes=10):
    """Entropy in nats of the histogram of predicted classes."""
    counts = numpy.bincount(numpy.asarray(predictions), minlength=classes).astype(numpy.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * numpy.log(p)).sum()) + 0.0          # + 0.0: one class gives 0.0, not -0.0


def score(classifier, real_images, samples, asked_labels=None):
    """{'frechet_distance', 'class_entropy', and with asked_labels 'accuracy'} of ``samples`` (in [0, 1])
    against ``real_images`` (in [0, 1])."""
    result = {"frechet_distance": frechet_distance(classifier.features(real_images), classifier.features(samples)),
              "class_entropy": class_entropy(classifier.predict(samples))}
    if asked_labels is not None:
        result["accuracy"] = float((classifier.predict(samples) == backend.to_numpy(asked_labels)).mean())
    return result


def real_floor(classifier, test, samples, seed):
    """The score of real test images against other real test images: two halves of a seeded shuffle.
    Not the test set's own halves or alternate images: MNIST's halves hold different writers, and
    the offline sample lists its digits 0, 1, ..., 9, 0, 1, ... (alternate images: even digits
    against odd ones)."""
    order = numpy.random.default_rng(seed).permutation(len(test.images))
    first, second = order[:len(order) // 2], order[len(order) // 2:][:samples]
    return score(classifier, test.images[first], test.images[second], test.labels[second])
