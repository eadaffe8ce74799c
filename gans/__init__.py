"""GANs on the hand-written nn engine: the seed tutorial's next step after autoencoders.

    from gans import Generator, Discriminator, gan_step, discriminator_step, generator_step
"""
from .dcgan import DCGANDiscriminator, DCGANGenerator
from .models import Discriminator, Generator, one_hot
from .training import GANHistory, NoiseSource, StepResult, discriminator_step, fit_gan, frozen, gan_step, generator_step

__all__ = ["Generator", "Discriminator", "DCGANGenerator", "DCGANDiscriminator", "one_hot", "gan_step", "StepResult",
           "discriminator_step", "generator_step", "frozen", "fit_gan", "GANHistory", "NoiseSource"]
