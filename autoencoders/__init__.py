"""Autoencoders on the hand-written nn engine: models, the training loop, figures, checkpoints.

    python -m autoencoders train            # the deep MNIST autoencoder, figures into runs/latest
"""
import sys as _sys

if _sys.argv[:1] == ["-m"]:  # being imported for ``python -m autoencoders``: see startup.py
    from common.startup import check_for_command_line
    check_for_command_line()
    try:
        from . import models  # noqa: F401  (the slow imports, under a one-line Ctrl-C)
    except KeyboardInterrupt:
        print("\nautoencoders: interrupted while starting; nothing was written", file=_sys.stderr)
        raise SystemExit(130) from None

from .aae import AdversarialAutoencoder
from common.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
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
    "save_checkpoint", "load_checkpoint", "CheckpointError",
]
