"""GANs on the hand-written nn engine: the seed tutorial's next step after autoencoders.

    from gans import Generator, Discriminator, gan_step, discriminator_step, generator_step
"""
import sys as _sys

if _sys.argv[:1] == ["-m"]:  # being imported for ``python -m gans``: see runfolder/startup.py
    try:
        from runfolder.startup import start_command_line
    except ImportError as _error:  # another project's ``runfolder`` (a runfolder.py in this folder?) comes first
        print(f"gans: error: {_error}: another project's 'runfolder' comes before this one's on sys.path; "
              "run from this project's folder, or rename the other", file=_sys.stderr)
        raise SystemExit(2) from None
    start_command_line("gans", "gans.models")

from .dcgan import DCGANDiscriminator, DCGANGenerator
from .models import Discriminator, Generator, one_hot
from .training import GANHistory, NoiseSource, StepResult, discriminator_step, fit_gan, frozen, gan_step, generator_step

__all__ = ["Generator", "Discriminator", "DCGANGenerator", "DCGANDiscriminator", "one_hot", "gan_step", "StepResult",
           "discriminator_step", "generator_step", "frozen", "fit_gan", "GANHistory", "NoiseSource"]
