"""The convolutional GAN of Radford et al. (2015), sized for 28 x 28 digits.

    G: z (N, 100) -> Linear -> (N, 2w*7*7) -> BatchNorm1d -> ReLU -> (N, 2w, 7, 7)
       -> ConvTranspose2d(2w, w, 4, stride 2, padding 1) -> (N, w, 14, 14) -> BatchNorm2d -> ReLU
       -> ConvTranspose2d(w, 1, 4, stride 2, padding 1) -> (N, 1, 28, 28) -> Tanh -> (N, 784)
    D: x (N, 784) -> (N, 1, 28, 28) -> Conv2d(1, w, 4, stride 2, padding 1) -> (N, w, 14, 14) -> LeakyReLU(0.2)
       -> Conv2d(w, 2w, 4, stride 2, padding 1) -> (N, 2w, 7, 7) -> BatchNorm2d -> LeakyReLU(0.2)
       -> (N, 2w*7*7) -> Linear -> (N, 1) a logit

with the paper's choices: strided (transposed) convolutions instead of pooling, batch normalization
in both networks except G's output and D's input layers, ReLU in G and LeakyReLU(0.2) in D, Tanh
out, layers before a BatchNorm without a bias (the normalization removes it). Images go in and out
flat, (N, 784), like the fully connected GAN's, so the training loop and figures are shared.
"""
import nn

from .models import _joined


class DCGANGenerator(nn.Module):
    """Noise (N, latent_dim) to images (N, 784) in [-1, 1]; ``width`` w sets the channels (2w, then w)."""

    def __init__(self, latent_dim=100, width=64):
        self.latent_dim, self.classes, self.image_dim = latent_dim, 0, 28 * 28
        self.model = nn.Sequential(
            nn.Linear(latent_dim, 2 * width * 7 * 7, bias=False), nn.BatchNorm1d(2 * width * 7 * 7), nn.ReLU(),
            nn.Unflatten(1, (2 * width, 7, 7)),
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.ConvTranspose2d(width, 1, 4, 2, 1), nn.Tanh(), nn.Flatten())
        self.model[0].needs_input_grad = False          # z is drawn noise: no gradient needed

    def forward(self, noise, labels=None):
        return self.model(_joined(self, noise, labels))

    def backward(self, grad_output):
        return self.model.backward(grad_output)


class DCGANDiscriminator(nn.Module):
    """Images (N, 784) to logits (N, 1)."""

    def __init__(self, width=64):
        self.classes, self.image_dim = 0, 28 * 28
        self.model = nn.Sequential(
            nn.Unflatten(1, (1, 28, 28)),
            nn.Conv2d(1, width, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(2 * width * 7 * 7, 1))

    def forward(self, images, labels=None):
        return self.model(_joined(self, images, labels))

    def backward(self, grad_output):
        return self.model.backward(grad_output)
