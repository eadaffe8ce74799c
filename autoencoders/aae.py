"""The adversarial autoencoder (Makhzani et al., 2015): the bridge from autoencoders to GANs.

An autoencoder's code has whatever distribution training happens to give it, so decoding a random
code gives nothing in particular. The adversarial autoencoder also trains a discriminator D on codes,
telling codes drawn from a prior p(z) = N(0, I) ("real") from the encoder's codes z = E(x) ("fake"),
and the encoder, like a GAN's generator, learns to fool it. The codes of the data then fill the prior,
and the decoder becomes a generator: decode(z ~ N(0, I)) draws new images.

Each batch is one step of both players at the same weights (simultaneous gradient descent, one
optimizer over all parameters): D moves down the gradient of

    L_D  = -log sigma(D(z_prior)) - log(1 - sigma(D(E(x))))          E(x) a constant for D

and the encoder and decoder down the gradient of

    L_AE = (1 - w) MSE(decode(E(x)), x) + w * (-log sigma(D(E(x))))

The autoencoder's backward meets two gradients at the code,

    dL_AE/dz = (1 - w) decoder.backward(dMSE/dx_hat)  +  w D.backward(dBCE/ds)

before the encoder's backward. That second D.backward runs with D frozen (``requires_grad_(False)``):
dL_AE/dtheta_D is no gradient of L_D, so D's layers skip it and return only the input gradient, as
in a GAN's generator step. The critic and the freezing are this module's own, built from nn's public
API: autoencoders import nothing from gans (tests/test_runfolder_layering.py).
"""
from contextlib import contextmanager

import nn
from nn import backend

from .models import Autoencoder, DeepAutoencoder


class CodeDiscriminator(nn.Module):
    """D(z) = the logit that the code z came from the prior: codes (N, latent_dim) to logits (N, 1),
    through ``hidden`` layers with LeakyReLU(0.2) between (no dropout). State-dict keys model.*."""

    def __init__(self, latent_dim, hidden=(64, 64)):
        sizes = [latent_dim, *hidden, 1]
        layers = []
        for index, (size_in, size_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(size_in, size_out))
            if index < len(sizes) - 2:
                layers.append(nn.LeakyReLU(0.2))
        self.latent_dim = latent_dim
        self.model = nn.Sequential(*layers)

    def forward(self, codes):
        return self.model(codes)

    def backward(self, grad_output):
        """Adds dL/dtheta_D into .grad (unless frozen) and returns dL/dcodes."""
        return self.model.backward(grad_output)


@contextmanager
def frozen(module):
    """Inside, every parameter of ``module`` has requires_grad False (its backward computes the input
    gradient only); after, each parameter's own flag is back."""
    parameters = module.parameters()
    flags = [parameter.requires_grad for parameter in parameters]
    module.requires_grad_(False)
    try:
        yield module
    finally:
        for parameter, flag in zip(parameters, flags):
            parameter.requires_grad = flag


class AdversarialAutoencoder(Autoencoder):
    """The deep autoencoder (784-128-64-36-18-latent_dim and back) with a code discriminator
    latent_dim -> 64 -> 64 -> 1 (LeakyReLU(0.2) between). ``adversarial_weight`` is w above; the
    prior codes come from this model's own generator, seeded ``seed``.

    State-dict keys: the deep autoencoder's encoder.* and decoder.*, and discriminator.model.*.
    One optimizer over ``parameters()`` (all three parts) serves ``training_step``.
    """

    def __init__(self, input_dim=784, hidden=(128, 64, 36, 18), latent_dim=9, adversarial_weight=0.01, dtype=None,
                 seed=None):
        if not 0 <= adversarial_weight <= 1:
            raise ValueError(f"AdversarialAutoencoder: adversarial_weight must be in [0, 1], got {adversarial_weight!r}")
        base = DeepAutoencoder(input_dim=input_dim, hidden=hidden, latent_dim=latent_dim, dtype=dtype)
        super().__init__(base.encoder, base.decoder)
        self.adversarial_weight = float(adversarial_weight)
        self.discriminator = CodeDiscriminator(latent_dim, hidden=(64, 64))
        if dtype is not None:
            self.discriminator.to(dtype=dtype)
        self.prior = backend.SeededGenerators(seed)
        self.last_losses = None

    def prior_codes(self, count, like):
        """``count`` codes drawn from the prior N(0, I), of ``like``'s dtype and device."""
        generator = self.prior.on(backend.device_of(like))
        codes = generator.standard_normal((count, self.latent_dim), dtype=like.dtype)
        return backend.get_array_module(like).asarray(codes)

    def training_step(self, x, loss, optimizer):
        """One step of both players at once (simultaneous gradient descent): the discriminator's
        gradient of L_D and the autoencoder's gradient of L_AE, both at the current weights, then
        one optimizer step over all parameters. Returns the reconstruction loss; ``last_losses``
        holds (reconstruction, L_D, L_G, mean D(z_prior), mean D(E(x)))."""
        bce = nn.BCEWithLogitsLoss()
        xp = backend.get_array_module(x)
        critic, weight = self.discriminator, self.adversarial_weight
        optimizer.zero_grad()

        # The discriminator's gradient: prior codes are "real" (1), the encoder's codes "fake" (0).
        real_logits = critic(self.prior_codes(x.shape[0], x))
        real_loss = float(bce(real_logits, xp.ones_like(real_logits)))
        critic.backward(bce.backward())
        codes = self.encode(x)
        fake_logits = critic(codes)
        fake_loss = float(bce(fake_logits, xp.zeros_like(fake_logits)))
        # its input gradient is not used: E(x) is a constant here; the cache is kept for the fooling loss's backward
        critic.backward(bce.backward(), retain_graph=True)

        # The autoencoder's gradient: reconstruct, and make the codes look like the prior.
        reconstruction = self.decode(codes)
        mse = float(loss(reconstruction, x))
        grad_codes = self.decoder.backward(loss.backward() * (1 - weight))
        # D(E(x)) again at the same weights is fake_logits, and the critic still caches E(x) (retain_graph=True
        # above): no second forward.
        fooling = float(bce(fake_logits, xp.ones_like(fake_logits)))
        with frozen(critic):                            # dL_AE/dcodes only: D's .grad keeps L_D's gradient
            grad_codes = grad_codes + critic.backward(bce.backward() * weight)
        if self._input_layer is not None:
            self._input_layer.needs_input_grad = False  # x is data: its gradient is never needed
        self.encoder.backward(grad_codes)
        optimizer.step()
        self.last_losses = (mse, real_loss + fake_loss, fooling, float(nn.sigmoid(real_logits).mean()),
                            float(nn.sigmoid(fake_logits).mean()))
        return mse

    def sample(self, count, generator):
        """``count`` new images: the decoder applied to codes drawn from the prior N(0, I)."""
        xp = backend.array_module(self.device)
        codes = xp.asarray(generator.standard_normal((count, self.latent_dim), dtype=self.dtype))
        self.eval()
        return self.decode(codes)

    def generator_state(self):
        return self.prior.state()

    def set_generator_state(self, text):
        self.prior.set_state(text)
