"""The fully connected GAN of the first papers, and its conditional version, on the nn engine.

A generator G maps noise z ~ N(0, I) to an image; a discriminator D maps an image to one logit, the
log-odds that the image is real. Images are scaled to [-1, 1] (G ends in Tanh).

    G: z (N, 100) -> 256 -> 512 -> 1024 -> 784, LeakyReLU(0.2) between, Tanh out
    D: x (N, 784) -> 1024 -> 512 -> 256 -> 1, LeakyReLU(0.2) and Dropout(0.3) between, a logit out

The conditional versions (Mirza and Osindero, 2014) join a one-hot label to each network's input:
G sees [z, onehot(y)] (N, 110) and D sees [x, onehot(y)] (N, 794), so G learns to draw the digit it
is asked for and D to judge an image *as* that digit.

Each model keeps its layers in ``self.model`` (an nn.Sequential), so the state-dict keys are
``model.0.weight`` ... as in the same torch module with a ``self.model = nn.Sequential(...)``.
"""
import nn
from nn import backend

LATENT_DIM = 100
IMAGE_DIM = 784
CLASSES = 10


def _stack(sizes, activation, dropout=0.0):
    layers = []
    for index, (size_in, size_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(size_in, size_out))
        if index < len(sizes) - 2:
            layers.append(activation())
            if dropout:
                layers.append(nn.Dropout(dropout))
    return layers


def one_hot(labels, classes, like):
    """(N, classes) array of ``like``'s dtype and array module with a 1 in each row's label column."""
    xp = backend.get_array_module(like)
    labels = xp.asarray(labels)
    codes = xp.zeros((labels.shape[0], classes), dtype=like.dtype)
    codes[xp.arange(labels.shape[0]), labels] = 1
    return codes


class Generator(nn.Module):
    """G(z) = tanh(... LeakyReLU(z W1^T + b1) ...): noise (N, latent_dim) to images (N, image_dim) in [-1, 1]."""

    def __init__(self, latent_dim=LATENT_DIM, image_dim=IMAGE_DIM, hidden=(256, 512, 1024), classes=0):
        self.latent_dim, self.image_dim, self.classes = latent_dim, image_dim, classes
        layers = _stack([latent_dim + classes, *hidden, image_dim], lambda: nn.LeakyReLU(0.2))
        self.model = nn.Sequential(*layers, nn.Tanh())
        # z is drawn noise, never a thing to differentiate: the first layer skips dL/dz.
        self.model[0].needs_input_grad = False

    def forward(self, noise, labels=None):
        return self.model(_joined(self, noise, labels))

    def backward(self, grad_output):
        """Adds dL/dtheta_G into the parameters' .grad. Returns None, since z needs no gradient
        (or, with ``model[0].needs_input_grad = True``, dL/dz without the label columns)."""
        grad_input = self.model.backward(grad_output)
        return grad_input[:, :self.latent_dim] if self.classes and grad_input is not None else grad_input


class Discriminator(nn.Module):
    """D(x) = the logit that x is real: images (N, image_dim) to logits (N, 1)."""

    def __init__(self, image_dim=IMAGE_DIM, hidden=(1024, 512, 256), dropout=0.3, classes=0):
        self.image_dim, self.classes = image_dim, classes
        self.model = nn.Sequential(*_stack([image_dim + classes, *hidden, 1], lambda: nn.LeakyReLU(0.2), dropout))

    def forward(self, images, labels=None):
        return self.model(_joined(self, images, labels))

    def backward(self, grad_output):
        """Adds dL/dtheta_D into .grad (unless frozen: ``requires_grad_(False)``) and returns dL/dx
        (N, image_dim): the label columns of the joined input get a gradient too, which is dropped,
        since a label is not learned."""
        grad_input = self.model.backward(grad_output)
        return grad_input[:, :self.image_dim] if self.classes else grad_input


def _joined(model, inputs, labels):
    """inputs, or [inputs, onehot(labels)] for a conditional model; checks that labels come exactly
    when the model is conditional."""
    if not model.classes:
        if labels is not None:
            raise ValueError(f"{type(model).__name__}: labels given to an unconditional model; build it with classes=10")
        return inputs
    if labels is None:
        raise ValueError(f"{type(model).__name__}: a conditional model needs labels (N,) of ints in 0..{model.classes - 1}")
    xp = backend.get_array_module(inputs)
    return xp.concatenate([inputs, one_hot(labels, model.classes, inputs)], axis=1)
