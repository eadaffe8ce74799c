"""Every autoencoder trains on the strict array type (CuPy's rule on the CPU: no mixing with plain
NumPy arrays) exactly as on NumPy: the models, penalties, noises, the VAE's eps and its test loss
never reach for NumPy behind the array module's back. On a GPU the same runs use CuPy."""
import numpy
import pytest

import nn
from autoencoders import (ConvAutoencoder, DeepAutoencoder, DenoisingAutoencoder, GaussianNoise, MaskingNoise,
                          OvercompleteAutoencoder, SaltAndPepperNoise, SimpleAutoencoder, SparseAutoencoder,
                          VariationalAutoencoder, fit, negative_elbo)
from helpers_autoencoders import single_threaded_blas  # noqa: F401  (autouse fixture)
from helpers_autoencoders import mnist_images
from helpers_nn import BACKENDS

MODELS = {
    "simple": lambda: SimpleAutoencoder(latent_dim=16),
    "deep": lambda: DeepAutoencoder(),
    "overcomplete": lambda: OvercompleteAutoencoder(latent_dim=64),
    "denoising-gaussian": lambda: DenoisingAutoencoder(DeepAutoencoder(), GaussianNoise(0.3, seed=1)),
    "denoising-masking": lambda: DenoisingAutoencoder(DeepAutoencoder(), MaskingNoise(0.3, seed=1)),
    "denoising-salt-pepper": lambda: DenoisingAutoencoder(DeepAutoencoder(), SaltAndPepperNoise(0.2, seed=1)),
    "conv": lambda: ConvAutoencoder(latent_dim=8),
    "sparse-kl": lambda: SparseAutoencoder(latent_dim=16, sparsity="kl"),
    "sparse-l1": lambda: SparseAutoencoder(latent_dim=16, sparsity="l1"),
    "vae": lambda: VariationalAutoencoder(hidden=32, latent_dim=4, seed=1),
}


class Batches:
    """A fixed list of batches (a DataLoader's stand-in that any array type can fill)."""

    def __init__(self, batches):
        self.batches = batches

    def __len__(self):
        return len(self.batches)

    def __iter__(self):
        return iter(self.batches)


def train(name, backend, images):
    nn.manual_seed(0)
    model = backend.module(MODELS[name]().to(dtype="float64"))
    vae = name == "vae"
    loss = nn.BCELoss(reduction="sum") if vae else nn.MSELoss()
    batches = Batches([backend.array(images[start:start + 16]) for start in range(0, 48, 16)])
    test = backend.array(images[48:])
    history = fit(model, batches, loss, nn.Adam(model.parameters(), lr=1e-3), 2, test_data=test, progress=False,
                  **({"test_loss": negative_elbo} if vae else {}))
    output = model(test) if not vae else model.decode(model.encode(test))
    return model, history, output


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b.id != "numpy"])
@pytest.mark.parametrize("name", MODELS)
def test_training_on_another_array_type_equals_numpy(name, backend):
    images = mnist_images(64, "float64")
    reference_model, reference_history, reference_output = train(name, BACKENDS[0].values[0], images)
    array_backend = backend
    model, history, output = train(name, array_backend, images)
    assert array_backend.owns(output)
    for parameter in model.parameters():
        assert array_backend.owns(parameter.data) and array_backend.owns(parameter.grad)
    # The same numbers: on the strict type bit for bit, on a GPU to rounding.
    tolerance = 0.0 if array_backend.name == "strict" else 1e-9
    assert numpy.allclose(history.iteration_loss, reference_history.iteration_loss, rtol=tolerance, atol=0)
    assert numpy.allclose(history.test_loss, reference_history.test_loss, rtol=tolerance, atol=0)
    for (key, ours), reference in zip(model.named_parameters(), reference_model.parameters()):
        assert numpy.allclose(nn.to_numpy(ours.data), reference.data, rtol=tolerance, atol=0), key
