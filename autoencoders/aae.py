"""The adversarial autoencoder (Makhzani et al., 2015): the bridge from autoencoders to GANs.

An autoencoder's code has whatever distribution training happens to give it, so decoding a random
code gives nothing in particular. The adversarial autoencoder also trains a discriminator D on codes,
telling codes drawn from a prior p(z) = N(0, I) ("real") from the encoder's codes z = E(x) ("fake"),
and the encoder, like a GAN's generator, learns to fool it. The codes of the data then fill the prior,
and the decoder becomes a generator: decode(z ~ N(0, I)) draws new images.

Each batch is two steps (the single-objective form in which both phases share one encoder step):

    discriminator:  L_D = -log sigma(D(z_prior)) - log(1 - sigma(D(E(x))))         E(x) a constant here
    autoencoder:    L_AE = (1 - w) MSE(decode(E(x)), x) + w * (-log sigma(D(E(x))))

and the autoencoder's backward meets two gradients at the code,

    dL_AE/dz = (1 - w) decoder.backward(dMSE/dx_hat)  +  w D.backward(dBCE/ds)

before the encoder's backward; the discriminator's .grad from the second pass is discarded, as in
the generator step of a GAN (see gans/training.py).
"""
import nn
from nn import backend

from .models import Autoencoder, DeepAutoencoder


class AdversarialAutoencoder(Autoencoder):
    """The deep autoencoder (784-128-64-36-18-latent_dim and back) with a code discriminator
    latent_dim -> 64 -> 64 -> 1 (LeakyReLU(0.2) between). ``adversarial_weight`` is w above.

    State-dict keys: the deep autoencoder's encoder.* and decoder.*, and discriminator.model.*.
    Build the two optimizers from ``autoencoder_parameters()`` and ``discriminator.parameters()``.
    """

    def __init__(self, input_dim=784, hidden=(128, 64, 36, 18), latent_dim=9, adversarial_weight=0.01, dtype=None):
        from gans.models import Discriminator   # the GAN's discriminator, on codes instead of images

        base = DeepAutoencoder(input_dim=input_dim, hidden=hidden, latent_dim=latent_dim, dtype=dtype)
        super().__init__(base.encoder, base.decoder)
        if not 0 <= adversarial_weight <= 1:
            raise ValueError(f"AdversarialAutoencoder: adversarial_weight must be in [0, 1], got {adversarial_weight!r}")
        self.adversarial_weight = float(adversarial_weight)
        self.discriminator = Discriminator(image_dim=latent_dim, hidden=(64, 64), dropout=0.0)
        if dtype is not None:
            self.discriminator.to(dtype=dtype)

    def autoencoder_parameters(self):
        return list(self.encoder.parameters()) + list(self.decoder.parameters())

    def sample(self, count, generator):
        """``count`` new images: the decoder applied to codes drawn from the prior N(0, I)."""
        xp = backend.array_module(self.device)
        codes = xp.asarray(generator.standard_normal((count, self.latent_dim), dtype=self.dtype))
        self.eval()
        return self.decode(codes)


def adversarial_step(model, autoencoder_optimizer, discriminator_optimizer, x, prior_codes, loss=None):
    """One batch: the discriminator step on prior codes against E(x), then the autoencoder step.
    Returns (reconstruction MSE, L_D, L_G = -mean log sigma(D(E(x))), mean D(z_prior), mean D(E(x)))."""
    loss = loss or nn.MSELoss()
    bce = nn.BCEWithLogitsLoss()
    xp = backend.get_array_module(x)
    critic = model.discriminator
    weight = model.adversarial_weight

    # The discriminator: prior codes are "real" (1), the encoder's codes "fake" (0).
    discriminator_optimizer.zero_grad()
    real_logits = critic(prior_codes)
    real_loss = float(bce(real_logits, xp.ones_like(real_logits)))
    critic.backward(bce.backward())
    codes = model.encode(x)
    fake_logits = critic(codes)
    fake_loss = float(bce(fake_logits, xp.zeros_like(fake_logits)))
    critic.backward(bce.backward())
    discriminator_optimizer.step()

    # The autoencoder: reconstruct, and make the codes look like the prior to the updated critic.
    autoencoder_optimizer.zero_grad()
    codes = model.encode(x)
    reconstruction = model.decode(codes)
    mse = float(loss(reconstruction, x))
    grad_codes = model.decoder.backward(loss.backward() * (1 - weight))
    logits = critic(codes)
    fooling = float(bce(logits, xp.ones_like(logits)))
    grad_codes = grad_codes + critic.backward(bce.backward() * weight)   # critic's .grad here is discarded
    if model._input_layer is not None:
        model._input_layer.needs_input_grad = False      # x is data: its gradient is never needed
    model.encoder.backward(grad_codes)
    autoencoder_optimizer.step()
    return mse, real_loss + fake_loss, fooling, float(nn.sigmoid(real_logits).mean()), float(nn.sigmoid(fake_logits).mean())
