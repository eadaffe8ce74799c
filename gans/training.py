"""One GAN training step, both halves by hand.

With D's logit s = D(x) and sigma the logistic function, the losses (BCE with logits) are

    discriminator:  L_D = -log sigma(D(x)) - log(1 - sigma(D(G(z))))     real labelled 1, fake 0
    generator:      L_G = -log sigma(D(G(z)))                              the non-saturating loss

(each a mean over the batch). Goodfellow et al.'s minimax generator loss log(1 - sigma(D(G(z))))
has gradient -sigma(s) dL/ds, which vanishes while D confidently rejects the fakes (sigma(s) ~ 0),
exactly when G most needs to learn; -log sigma(s) has gradient -(1 - sigma(s)), largest then.

The generator's gradient crosses the discriminator. By the chain rule, with x_fake = G(z):

    dL_G/dtheta_G = (dL_G/dx_fake) (dx_fake/dtheta_G),   dL_G/dx_fake = D.backward(dL_G/ds)

so D's backward is run only for its *input* gradient dL_G/dx_fake, which is then fed to G's
backward. dL_G/dtheta_D is no gradient of anything D minimizes, so it is not computed at all: the
generator step freezes D (``requires_grad_(False)``, torch's idiom): a frozen layer's backward skips
its parameter gradients and still returns its input gradient (for a Linear layer, dL/dW = g^T x
costs as much as dL/dx = g W, so D's backward does half the work).

One step draws z once and makes one fake batch x_fake = G(z) (``gan_step``):

    1. D step: L_D on the real batch and on x_fake, with x_fake a constant input (torch's
       ``fake.detach()``: nothing flows back into G); D moves.
    2. G step: L_G on the same x_fake, through the *updated* D (D's forward is run again, since its
       weights changed); the gradient flows through frozen D into G's backward, which differentiates
       the forward that made x_fake; G moves.

G runs forward once per step, not twice (with fresh noise for each half, as some tutorials do).
"""
import math
import time
from dataclasses import dataclass, field

import nn
from autoencoders.aae import frozen  # requires_grad off inside a block: written once, for the AAE's critic and here
from runfolder.record import Record, TrainingDiverged
from nn import backend


def _targets(logits, value):
    return backend.get_array_module(logits).full(logits.shape, value, dtype=logits.dtype)


def _mean_probability(logits):
    return float(nn.sigmoid(logits).mean())


def discriminator_step(discriminator, optimizer, real, fake, labels=None, fake_labels=None, loss=None):
    """One step of D on a batch of real images and a batch of generated ones, ``fake`` an input
    like any other: returns (L_D, mean D(x), mean D(G(z))), the mean probabilities D gave each."""
    loss = loss or nn.BCEWithLogitsLoss()
    optimizer.zero_grad()
    real_logits = discriminator(real, labels)
    real_loss = float(loss(real_logits, _targets(real_logits, 1.0)))
    discriminator.backward(loss.backward())              # D caches one input at a time: backward before next forward
    fake_logits = discriminator(fake, fake_labels)
    fake_loss = float(loss(fake_logits, _targets(fake_logits, 0.0)))
    discriminator.backward(loss.backward())
    optimizer.step()
    return real_loss + fake_loss, _mean_probability(real_logits), _mean_probability(fake_logits)


def generator_step(generator, discriminator, optimizer, fake, labels=None, loss=None):
    """One step of G with the non-saturating loss: returns (L_G, mean D(G(z)) before G's step).

    ``fake`` must be G's most recent output (G's backward differentiates the forward it cached),
    ``labels`` the labels it was drawn with; D's forward is run on it here, with D's current weights."""
    loss = loss or nn.BCEWithLogitsLoss()
    optimizer.zero_grad()
    with frozen(discriminator):
        logits = discriminator(fake, labels)
        value = float(loss(logits, _targets(logits, 1.0)))
        grad_fake = discriminator.backward(loss.backward())  # dL_G/dx_fake only: D's .grad is left as it was
    generator.backward(grad_fake)
    optimizer.step()
    return value, _mean_probability(logits)


@dataclass
class StepResult:
    """What one GAN step measured: both losses, and D's mean probabilities for the real batch and for
    the fake batch (before D's step)."""
    d_loss: float
    g_loss: float
    d_real: float
    d_fake: float


def gan_step(generator, discriminator, g_optimizer, d_optimizer, real, noise, labels=None, fake_labels=None,
             loss=None):
    """One D step then one G step on the one fake batch G(noise) (labels: the real batch's, and
    fake_labels: those G draws with, for a conditional GAN). Returns a StepResult."""
    fake = generator(noise, fake_labels)
    d_loss, d_real, d_fake = discriminator_step(discriminator, d_optimizer, real, fake, labels, fake_labels, loss)
    g_loss, _ = generator_step(generator, discriminator, g_optimizer, fake, fake_labels, loss)
    return StepResult(d_loss, g_loss, d_real, d_fake)


@dataclass
class GANHistory(Record):
    """Per iteration: both losses and D's mean probabilities for real and generated images; per
    epoch: wall seconds."""
    d_loss: list = field(default_factory=list)
    g_loss: list = field(default_factory=list)
    d_real: list = field(default_factory=list)
    d_fake: list = field(default_factory=list)
    epoch_seconds: list = field(default_factory=list)

    @property
    def epochs(self):
        return len(self.epoch_seconds)


class NoiseSource:
    """z ~ N(0, I) and, for a conditional GAN, uniformly drawn labels, from one seeded stream per
    device (CPU state saved in checkpoints, so a resumed run draws the same numbers)."""

    def __init__(self, latent_dim, classes=0, seed=0):
        self.latent_dim, self.classes = latent_dim, classes
        self.generators = backend.SeededGenerators(seed)

    def noise(self, count, like):
        generator = self.generators.on(backend.device_of(like))
        xp = backend.get_array_module(like)
        return xp.asarray(generator.standard_normal((count, self.latent_dim), dtype=like.dtype))

    def labels(self, count, like):
        if not self.classes:
            return None
        generator = self.generators.on(backend.device_of(like))
        return backend.get_array_module(like).asarray(generator.integers(0, self.classes, count))


def fit_gan(generator, discriminator, loader, g_optimizer, d_optimizer, epochs, noise_source, history=None,
            on_epoch_end=None, progress=None):
    """Train for ``epochs`` more epochs: per batch of real images (and labels, for a conditional
    GAN), one gan_step (a discriminator step then a generator step). Returns the GANHistory. Raises
    TrainingDiverged when a loss stops being finite. ``on_epoch_end(epoch, history)`` runs after
    each epoch; ``progress(epoch, iteration, history)`` after each step."""
    history = history if history is not None else GANHistory()
    generator.train()
    discriminator.train()
    conditional = bool(noise_source.classes)
    for epoch in range(history.epochs + 1, history.epochs + epochs + 1):
        started = time.perf_counter()
        for iteration, batch in enumerate(loader, start=1):
            real, labels = batch if isinstance(batch, tuple) else (batch, None)
            labels = labels if conditional else None
            count = real.shape[0]
            step = gan_step(generator, discriminator, g_optimizer, d_optimizer, real, noise_source.noise(count, real),
                            labels, noise_source.labels(count, real))
            for value in (step.d_loss, step.g_loss):
                if not math.isfinite(value):
                    raise TrainingDiverged(epoch, iteration, value)
            history.d_loss.append(step.d_loss)
            history.g_loss.append(step.g_loss)
            history.d_real.append(step.d_real)
            history.d_fake.append(step.d_fake)
            if progress is not None:
                progress(epoch, iteration, history)
        history.epoch_seconds.append(time.perf_counter() - started)
        if on_epoch_end is not None:
            on_epoch_end(epoch, history)
    return history
