"""A sparse autoencoder: sigmoid code units kept mostly silent by a penalty on their activations.

Two penalties: the KL divergence of each unit's mean activation from a small target rate rho (the
classic sparse autoencoder of Ng's lecture notes), or the L1 norm of the code (models.L1CodePenalty).
"""
import nn
from nn import backend

from .models import Autoencoder, L1CodePenalty

SPARSITIES = ("kl", "l1")


class KLSparsityPenalty:
    """weight * sum_j KL(rho || rho_hat_j): each code unit's mean activation over the batch,
    rho_hat_j = mean_n z_nj in (0, 1), pulled towards the target rate rho.

        KL(rho || r) = rho log(rho / r) + (1 - rho) log((1 - rho) / (1 - r))
        d penalty / dz_nj = weight * (-rho / rho_hat_j + (1 - rho) / (1 - rho_hat_j)) / N

    rho_hat is clipped to [e, 1 - e] (e the dtype's machine epsilon) so that a saturated unit gives a
    large but finite penalty; inside that range the value and its gradient are exact.
    """

    def __init__(self, target=0.05, weight=1e-3):
        if not 0 < target < 1:
            raise ValueError(f"KLSparsityPenalty: target must be in (0, 1), got {target!r}")
        if not weight >= 0:
            raise ValueError(f"KLSparsityPenalty: weight must be >= 0, got {weight!r}")
        self.target = float(target)
        self.weight = float(weight)

    def mean_activation(self, code):
        """rho_hat (latent_dim,): each unit's mean over the batch, clipped into (0, 1)."""
        xp = backend.get_array_module(code)
        tiny = float(xp.finfo(code.dtype).eps)
        return xp.clip(code.mean(axis=0), tiny, 1 - tiny)

    def value(self, code):
        xp = backend.get_array_module(code)
        rho, rho_hat = self.target, self.mean_activation(code)
        kl = rho * xp.log(rho / rho_hat) + (1 - rho) * xp.log((1 - rho) / (1 - rho_hat))
        return self.weight * float(kl.sum())

    def grad(self, code):
        rho, rho_hat = self.target, self.mean_activation(code)
        per_unit = (-rho / rho_hat + (1 - rho) / (1 - rho_hat)) * (self.weight / code.shape[0])
        return backend.get_array_module(code).broadcast_to(per_unit, code.shape)

    def __repr__(self):
        return f"KLSparsityPenalty(target={self.target}, weight={self.weight})"


class SparseAutoencoder(Autoencoder):
    """encoder = Linear(input_dim, latent_dim), Sigmoid      decoder = Linear(latent_dim, input_dim), Sigmoid

    with a sparsity penalty on the code (activations in (0, 1), read as firing rates):
      sparsity="kl": KLSparsityPenalty(target, weight)  (default weight 1e-3, target rate 0.05)
      sparsity="l1": L1CodePenalty(weight)              (default weight 1e-3)
    weight=0 trains without a penalty. Keys encoder.0.weight, encoder.0.bias, decoder.0.weight, decoder.0.bias.
    """

    def __init__(self, input_dim=784, latent_dim=64, sparsity="kl", weight=1e-3, target=0.05, dtype=None):
        if sparsity not in SPARSITIES:
            raise ValueError(f"SparseAutoencoder: sparsity must be one of {SPARSITIES}, got {sparsity!r}")
        encoder = nn.Sequential(nn.Linear(input_dim, latent_dim, dtype=dtype), nn.Sigmoid())
        decoder = nn.Sequential(nn.Linear(latent_dim, input_dim, dtype=dtype), nn.Sigmoid())
        penalty = KLSparsityPenalty(target, weight) if sparsity == "kl" else L1CodePenalty(weight)
        super().__init__(encoder, decoder, penalty if weight else None)
        self.sparsity = sparsity
