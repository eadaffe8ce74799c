"""Autoencoders on the hand-written nn engine: models, the training loop, figures, checkpoints.

    python -m autoencoders train            # the deep MNIST autoencoder, figures into runs/latest
"""
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .convolutional import ConvAutoencoder
from .models import (Autoencoder, Deep2006Autoencoder, DeepAutoencoder, DenoisingAutoencoder, L1CodePenalty, OvercompleteAutoencoder,
                     SimpleAutoencoder)
from .pca import PCA, principal_angles
from .noise import GaussianNoise, MaskingNoise, SaltAndPepperNoise
from .sparse import KLSparsityPenalty, SparseAutoencoder
from .training import History, TrainingDiverged, evaluate, fit
from .vae import VariationalAutoencoder, elbo_terms, negative_elbo

__all__ = [
    "Autoencoder", "SimpleAutoencoder", "DeepAutoencoder", "Deep2006Autoencoder", "PCA", "principal_angles", "OvercompleteAutoencoder", "DenoisingAutoencoder",
    "ConvAutoencoder", "VariationalAutoencoder", "SparseAutoencoder",
    "L1CodePenalty", "KLSparsityPenalty", "GaussianNoise", "MaskingNoise", "SaltAndPepperNoise",
    "fit", "evaluate", "negative_elbo", "elbo_terms", "History", "TrainingDiverged",
    "save_checkpoint", "load_checkpoint", "CheckpointError",
]
