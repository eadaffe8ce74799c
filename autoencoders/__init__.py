"""Autoencoders on the hand-written nn engine: models, the training loop, figures, checkpoints.

    python -m autoencoders train            # the deep MNIST autoencoder, figures into runs/latest
"""
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .models import (Autoencoder, DeepAutoencoder, DenoisingAutoencoder, L1CodePenalty, OvercompleteAutoencoder,
                     SimpleAutoencoder)
from .noise import GaussianNoise, MaskingNoise, SaltAndPepperNoise
from .training import History, TrainingDiverged, evaluate, fit

__all__ = [
    "Autoencoder", "SimpleAutoencoder", "DeepAutoencoder", "OvercompleteAutoencoder", "DenoisingAutoencoder",
    "L1CodePenalty", "GaussianNoise", "MaskingNoise", "SaltAndPepperNoise",
    "fit", "evaluate", "History", "TrainingDiverged",
    "save_checkpoint", "load_checkpoint", "CheckpointError",
]
