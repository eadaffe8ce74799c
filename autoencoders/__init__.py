"""Autoencoders on the hand-written nn engine: models, the training loop, figures, checkpoints.

    python -m autoencoders train            # the deep MNIST autoencoder, figures into runs/latest
"""
from .aae import AdversarialAutoencoder, adversarial_step
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .convolutional import ConvAutoencoder
from .models import (Autoencoder, DeepAutoencoder, DenoisingAutoencoder, L1CodePenalty, OvercompleteAutoencoder,
                     SimpleAutoencoder)
from .noise import GaussianNoise, MaskingNoise, SaltAndPepperNoise
from .sparse import KLSparsityPenalty, SparseAutoencoder
from .training import History, TrainingDiverged, evaluate, fit
from .vae import VariationalAutoencoder, elbo_terms, negative_elbo

__all__ = [
    "Autoencoder", "SimpleAutoencoder", "AdversarialAutoencoder", "adversarial_step", "DeepAutoencoder", "OvercompleteAutoencoder", "DenoisingAutoencoder",
    "ConvAutoencoder", "VariationalAutoencoder", "SparseAutoencoder",
    "L1CodePenalty", "KLSparsityPenalty", "GaussianNoise", "MaskingNoise", "SaltAndPepperNoise",
    "fit", "evaluate", "negative_elbo", "elbo_terms", "History", "TrainingDiverged",
    "save_checkpoint", "load_checkpoint", "CheckpointError",
]
