"""GANs on the hand-written nn engine: the seed tutorial's next step after autoencoders.

    from gans import Generator, Discriminator, discriminator_step, generator_step
"""
from .dcgan import DCGANDiscriminator, DCGANGenerator
from .models import Discriminator, Generator, one_hot
from .training import GANHistory, NoiseSource, discriminator_step, fit_gan, generator_step

__all__ = ["Generator", "Discriminator", "DCGANGenerator", "DCGANDiscriminator", "one_hot", "discriminator_step", "generator_step",
           "fit_gan", "GANHistory", "NoiseSource"]
