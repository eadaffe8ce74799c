"""A convolutional autoencoder for square one-channel images given flat, as (N, side * side).

Two stride-2 convolutions halve the image twice (28 -> 14 -> 7), a Linear layer maps the feature
maps to the code; the decoder mirrors it with stride-2 transposed convolutions (7 -> 14 -> 28).
"""
import nn

from .models import Autoencoder


class ConvAutoencoder(Autoencoder):
    """encoder: Unflatten to (N, 1, S, S), Conv2d 1->16 k3 s2 p1 (S/2), ReLU, Conv2d 16->32 k3 s2 p1 (S/4),
                ReLU, Flatten, Linear(32 * (S/4)^2, latent_dim)
    decoder: Linear(latent_dim, 32 * (S/4)^2), ReLU, Unflatten to (N, 32, S/4, S/4),
             ConvTranspose2d 32->16 k3 s2 p1 output_padding 1 (S/2), ReLU,
             ConvTranspose2d 16->1 k3 s2 p1 output_padding 1 (S), Sigmoid, Flatten

    Input and output are (N, S*S) like the other models, so MSE and the figures work unchanged. The
    state-dict keys (encoder.1.weight, encoder.3.*, encoder.6.*, decoder.0.*, decoder.3.*, decoder.5.*) are
    those of the same torch.nn.Sequential pair. ``channels`` sets the two convolutions' widths; the
    image side S (``image_size``, 28) must be a multiple of 4.

    The encoder starts with Unflatten, so ``backward(..., need_input_grad=False)`` cannot skip the
    first convolution's input gradient (it costs little: one channel) and returns dL/dx anyway.
    """

    def __init__(self, latent_dim=32, channels=(16, 32), image_size=28, dtype=None):
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size <= 0 or image_size % 4:
            raise ValueError(f"ConvAutoencoder: image_size must be a positive multiple of 4 (two stride-2 halvings), "
                             f"got {image_size!r}")
        first, second = channels
        side = image_size // 4
        features = second * side * side
        encoder = nn.Sequential(
            nn.Unflatten(1, (1, image_size, image_size)),
            nn.Conv2d(1, first, 3, stride=2, padding=1, dtype=dtype), nn.ReLU(inplace=True),
            nn.Conv2d(first, second, 3, stride=2, padding=1, dtype=dtype), nn.ReLU(inplace=True),
            nn.Flatten(), nn.Linear(features, latent_dim, dtype=dtype))
        decoder = nn.Sequential(
            nn.Linear(latent_dim, features, dtype=dtype), nn.ReLU(inplace=True), nn.Unflatten(1, (second, side, side)),
            nn.ConvTranspose2d(second, first, 3, stride=2, padding=1, output_padding=1, dtype=dtype),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(first, 1, 3, stride=2, padding=1, output_padding=1, dtype=dtype), nn.Sigmoid(),
            nn.Flatten())
        super().__init__(encoder, decoder)
        self.image_size = image_size
