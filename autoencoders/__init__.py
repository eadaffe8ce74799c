"""Autoencoders on the hand-written nn engine: models, the training loop, figures, the command line
(checkpoint files and run folders: see runfolder/).

    python -m autoencoders train            # the deep MNIST autoencoder, figures into runs/latest
"""
import sys as _sys

if _sys.argv[:1] == ["-m"]:  # being imported for ``python -m autoencoders``: see runfolder/startup.py
    try:
        from runfolder.startup import start_command_line
    except ImportError as _error:  # another project's ``runfolder`` (a runfolder.py in this folder?) comes first
        print(f"autoencoders: error: {_error}: another project's 'runfolder' comes before this one's on sys.path; "
              "run from this project's folder, or rename the other", file=_sys.stderr)
        raise SystemExit(2) from None
    start_command_line("autoencoders", "autoencoders.models")

from .aae import AdversarialAutoencoder
from .convolutional import ConvAutoencoder
from .models import (Autoencoder, Deep2006Autoencoder, DeepAutoencoder, DenoisingAutoencoder, L1CodePenalty,
                     OvercompleteAutoencoder, SimpleAutoencoder)
from .noise import GaussianNoise, MaskingNoise, SaltAndPepperNoise
from .pca import PCA, principal_angles
from .sparse import KLSparsityPenalty, SparseAutoencoder
from .training import History, TrainingDiverged, evaluate, fit
from .vae import VariationalAutoencoder, elbo_terms, negative_elbo

__all__ = [
    "Autoencoder", "SimpleAutoencoder", "DeepAutoencoder", "Deep2006Autoencoder", "OvercompleteAutoencoder",
    "DenoisingAutoencoder", "AdversarialAutoencoder", "PCA", "principal_angles",
    "ConvAutoencoder", "VariationalAutoencoder", "SparseAutoencoder",
    "L1CodePenalty", "KLSparsityPenalty", "GaussianNoise", "MaskingNoise", "SaltAndPepperNoise",
    "fit", "evaluate", "negative_elbo", "elbo_terms", "History", "TrainingDiverged",
]
