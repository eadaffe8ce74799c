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
backward. That same backward also adds dL_G/dtheta_D into D's .grad: those numbers are no
gradient of D's loss and are discarded (the discriminator step zeroes D's gradients first, and the
generator step only moves G's parameters). In the discriminator step, the fake images are inputs
to D and nothing flows back into G (torch's ``fake.detach()``).
"""
import nn
from nn import backend


def _targets(logits, value):
    return backend.get_array_module(logits).full(logits.shape, value, dtype=logits.dtype)


def _mean_probability(logits):
    return float(nn.sigmoid(logits).mean())


def discriminator_step(generator, discriminator, optimizer, real, noise, labels=None, fake_labels=None,
                       loss=None):
    """One step of D on a batch of real images and G(noise): returns (L_D, mean D(x), mean D(G(z))),
    the mean probabilities D gave the real and the fake images."""
    loss = loss or nn.BCEWithLogitsLoss()
    optimizer.zero_grad()
    real_logits = discriminator(real, labels)
    real_loss = float(loss(real_logits, _targets(real_logits, 1.0)))
    discriminator.backward(loss.backward())              # D caches one input at a time: backward before next forward
    fake = generator(noise, fake_labels)
    fake_logits = discriminator(fake, fake_labels)
    fake_loss = float(loss(fake_logits, _targets(fake_logits, 0.0)))
    discriminator.backward(loss.backward())
    optimizer.step()
    return real_loss + fake_loss, _mean_probability(real_logits), _mean_probability(fake_logits)


def generator_step(generator, discriminator, optimizer, noise, labels=None, loss=None):
    """One step of G with the non-saturating loss: returns (L_G, mean D(G(z)) before the step)."""
    loss = loss or nn.BCEWithLogitsLoss()
    optimizer.zero_grad()
    fake = generator(noise, labels)
    logits = discriminator(fake, labels)
    value = float(loss(logits, _targets(logits, 1.0)))
    grad_fake = discriminator.backward(loss.backward())  # dL_G/dx_fake; D's .grad from this pass is discarded
    generator.backward(grad_fake)
    optimizer.step()
    return value, _mean_probability(logits)
