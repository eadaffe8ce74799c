"""Every autoencoder trains on the strict array type (CuPy's rule on the CPU: no mixing with plain
NumPy arrays) exactly as on NumPy: the models, penalties, noises, the VAE's eps and its test loss
never reach for NumPy behind the array module's back. On a GPU the same runs use CuPy; there the
models' own random draws (input noise, the VAE's eps) are made on the CPU and copied over, since a
GPU generator gives other numbers for the same seed, and the rest must agree to rounding."""
import numpy
import pytest

import nn
from nn.backend import new_generator
from autoencoders import (ConvAutoencoder, DeepAutoencoder, DenoisingAutoencoder, GaussianNoise, MaskingNoise,
                          OvercompleteAutoencoder, SaltAndPepperNoise, SimpleAutoencoder, SparseAutoencoder,
                          VariationalAutoencoder, fit, negative_elbo)
from helpers_autoencoders import single_threaded_blas  # noqa: F401  (autouse fixture)
from helpers_autoencoders import mnist_images
from helpers_nn import BACKENDS, GPU

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


class CpuDrawn:
    """A GPU generator's stand-in that draws with the CPU generator of the same seed and copies
    the numbers to the GPU: the same noise as the NumPy run, on CuPy arrays."""

    def __init__(self, seed):
        self.generator = new_generator(seed, "cpu")

    def random(self, shape, dtype):
        return nn.to_device(self.generator.random(shape, dtype=dtype), "gpu")

    def standard_normal(self, shape, dtype):
        return nn.to_device(self.generator.standard_normal(shape, dtype=dtype), "gpu")


def draw_on_the_cpu(model):
    """Give every module of ``model`` that draws random numbers (a noise, the VAE) a CpuDrawn GPU generator."""
    for owner in [model, getattr(model, "noise", None)]:
        generators = getattr(owner, "_generators", None)
        if generators is not None:
            generators._by_device["gpu"] = CpuDrawn(generators.seed)


class Batches:
    """A fixed list of batches (a DataLoader's stand-in that any array type can fill)."""

    def __init__(self, batches):
        self.batches = batches

    def __len__(self):
        return len(self.batches)

    def __iter__(self):
        return iter(self.batches)


def train(name, backend, images, cpu_draws=True):
    nn.manual_seed(0)
    model = backend.module(MODELS[name]().to(dtype="float64"))
    draw_on_cpu = backend.name == "cupy" and cpu_draws
    if draw_on_cpu:
        draw_on_the_cpu(model)
    vae = name == "vae"
    loss = nn.BCELoss(reduction="sum") if vae else nn.MSELoss()
    batches = Batches([backend.array(images[start:start + 16]) for start in range(0, 48, 16)])
    test = backend.array(images[48:])
    def vae_test_loss(model, images):  # negative_elbo's eps, from the same CPU numbers on every backend
        return negative_elbo(model, images, generator=CpuDrawn(0) if draw_on_cpu else None)

    history = fit(model, batches, loss, nn.Adam(model.parameters(), lr=1e-3), 2, test_data=test, progress=False,
                  **({"test_loss": vae_test_loss} if vae else {}))
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


RANDOM_MODELS = ["denoising-gaussian", "denoising-masking", "denoising-salt-pepper", "vae"]


@pytest.mark.skipif(not GPU, reason="CuPy with a GPU not available")
@pytest.mark.parametrize("name", RANDOM_MODELS)
def test_training_with_the_gpu_generators_is_reproducible(name):
    """With their own GPU generators (no CpuDrawn): two runs from one seed agree bit for bit."""
    images = mnist_images(64, "float64")
    cupy_backend = next(param.values[0] for param in BACKENDS if param.id == "cupy")
    first, second = (train(name, cupy_backend, images, cpu_draws=False) for _ in range(2))
    assert first[1].iteration_loss == second[1].iteration_loss
    assert all(numpy.isfinite(first[1].iteration_loss))
    numpy.testing.assert_array_equal(nn.to_numpy(first[2]), nn.to_numpy(second[2]))


@pytest.mark.skipif(not GPU, reason="CuPy with a GPU not available")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_noises_draw_on_the_gpu_with_the_stated_statistics(dtype):
    """Each noise on a GPU array: a GPU result of x's dtype whose corruption has the stated rate or spread
    (bounds of 6 standard errors over 400,000 values)."""
    x = nn.to_device(numpy.full((500, 800), 0.5, dtype=dtype), "gpu")
    count = x.size
    gaussian = nn.to_numpy(GaussianNoise(0.1, seed=3)(x))
    masked = nn.to_numpy(MaskingNoise(0.3, seed=3)(x))
    salted = nn.to_numpy(SaltAndPepperNoise(0.2, seed=3)(x))
    for result in (gaussian, masked, salted):
        assert result.dtype == numpy.dtype(dtype) and result.shape == x.shape
    assert abs((gaussian - 0.5).std() - 0.1) < 6 * 0.1 / numpy.sqrt(2 * count)
    assert abs((gaussian - 0.5).mean()) < 6 * 0.1 / numpy.sqrt(count)
    def within(fraction, rate):
        return abs(fraction - rate) < 6 * numpy.sqrt(rate * (1 - rate) / count)
    assert within((masked == 0).mean(), 0.3) and numpy.all((masked == 0) | (masked == 0.5))
    assert within((salted == 0).mean(), 0.1) and within((salted == 1).mean(), 0.1)
    assert numpy.all((salted == 0) | (salted == 1) | (salted == 0.5))
