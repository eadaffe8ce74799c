"""Training parity with PyTorch: the same model, weights, batches and Adam settings in float64 give
the same loss at every iteration and the same final parameters (relative error max|a-b|/max|b| <= 1e-8).

The batches are the first 1,600 real MNIST test images when /work/shared/data/mnist holds them,
else generated digit-like images in [0, 1].
"""
import numpy
import pytest

import nn
from autoencoders import (DeepAutoencoder, DenoisingAutoencoder, GaussianNoise, MaskingNoise, OvercompleteAutoencoder,
                          SaltAndPepperNoise, SimpleAutoencoder, fit)
from datasets import DataLoader
from helpers_autoencoders import single_threaded_blas  # noqa: F401  (autouse fixture)
from helpers_autoencoders import (assert_close, copy_torch_weights, mnist_images, relative_error, torch_autoencoder,
                                  torch_state_as_numpy)

torch = pytest.importorskip("torch")

STEPS, BATCH = 50, 32
RTOL = 1e-8


@pytest.fixture(scope="module")
def images():
    return mnist_images(STEPS * BATCH, "float64")


def batches(images):
    return [images[index * BATCH:(index + 1) * BATCH] for index in range(STEPS)]


def make_pair(kind, seed, **kwargs):
    """(ours in float64, the torch twin) with identical weights."""
    torch.manual_seed(seed)
    reference = torch_autoencoder(kind, **kwargs)
    nn.manual_seed(seed + 1)  # our own initialization differs, so the copy is what makes them equal
    ours = {"simple": SimpleAutoencoder, "deep": DeepAutoencoder, "overcomplete": OvercompleteAutoencoder}[kind]
    ours = ours(**kwargs).to(dtype="float64")
    copy_torch_weights(reference, ours)
    return ours, reference


def torch_training(reference, inputs, targets, lr, weight_decay, l1_weight=0.0):
    """Adam steps on torch; returns the loss of each step (before its update)."""
    optimizer = torch.optim.Adam(reference.parameters(), lr=lr, weight_decay=weight_decay)
    losses = []
    for x, target in zip(inputs, targets):
        x, target = torch.from_numpy(x), torch.from_numpy(target)
        code = reference.encoder(x)
        value = torch.nn.functional.mse_loss(reference.decoder(code), target)
        if l1_weight:
            value = value + l1_weight * code.abs().sum() / x.shape[0]
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        losses.append(value.item())
    return losses


def assert_same_parameters(ours, reference):
    theirs = torch_state_as_numpy(reference)
    mine = ours.state_dict()
    assert list(mine) == list(theirs)
    for name in theirs:
        assert_close(mine[name], theirs[name], RTOL, f"parameter {name} after {STEPS} steps")


def test_deep_through_fit_matches_torch(images):
    ours, reference = make_pair("deep", seed=1)
    optimizer = nn.Adam(ours.parameters(), lr=1e-3)
    loader = DataLoader(images, batch_size=BATCH, shuffle=False)
    history = fit(ours, loader, nn.MSELoss(), optimizer, epochs=1, progress=False)
    expected = torch_training(reference, batches(images), batches(images), lr=1e-3, weight_decay=0.0)
    assert len(history.iteration_loss) == STEPS
    assert_close(history.iteration_loss, expected, RTOL, "per-iteration loss")
    assert_same_parameters(ours, reference)
    # The losses moved: a model that did not train would match a torch model that did not either.
    assert expected[-1] < 0.9 * expected[0]


@pytest.mark.parametrize("kind", ["deep", "simple"])
def test_seed_preset_hand_loop_matches_torch(images, kind):
    """The seed tutorial's Adam lr 0.1, weight decay 1e-8, step by step without fit."""
    ours, reference = make_pair(kind, seed=2)
    optimizer = nn.Adam(ours.parameters(), lr=0.1, weight_decay=1e-8)
    loss = nn.MSELoss()
    losses = []
    for x in batches(images):
        losses.append(float(loss(ours(x), x)))
        optimizer.zero_grad()
        ours.backward(loss.backward(), need_input_grad=False)
        optimizer.step()
    expected = torch_training(reference, batches(images), batches(images), lr=0.1, weight_decay=1e-8)
    for step, (mine, theirs) in enumerate(zip(losses, expected)):
        assert relative_error(mine, theirs) <= RTOL, f"step {step}: loss {mine!r} vs torch {theirs!r}"
    assert_same_parameters(ours, reference)


def test_simple_through_fit_matches_torch(images):
    ours, reference = make_pair("simple", seed=3)
    optimizer = nn.Adam(ours.parameters(), lr=1e-3)
    history = fit(ours, DataLoader(images, batch_size=BATCH, shuffle=False), nn.MSELoss(), optimizer, epochs=1,
                  progress=False)
    expected = torch_training(reference, batches(images), batches(images), lr=1e-3, weight_decay=0.0)
    assert_close(history.iteration_loss, expected, RTOL, "per-iteration loss")
    assert_same_parameters(ours, reference)


@pytest.mark.parametrize("noise_class,level", [(GaussianNoise, 0.3), (MaskingNoise, 0.3), (SaltAndPepperNoise, 0.2)])
def test_denoising_through_fit_matches_torch_on_the_same_noisy_inputs(images, noise_class, level):
    """fit corrupts the input only; torch gets the same noisy inputs (from a twin noise with the
    same seed, called on the same batches in the same order) and the clean images as targets."""
    base, reference = make_pair("deep", seed=4)
    model = DenoisingAutoencoder(base, noise_class(level, seed=123))
    optimizer = nn.Adam(model.parameters(), lr=1e-3)
    history = fit(model, DataLoader(images, batch_size=BATCH, shuffle=False), nn.MSELoss(), optimizer, epochs=1,
                  progress=False)
    twin = noise_class(level, seed=123)
    noisy = [twin(x) for x in batches(images)]
    assert not numpy.array_equal(noisy[0], batches(images)[0])
    expected = torch_training(reference, noisy, batches(images), lr=1e-3, weight_decay=0.0)
    assert_close(history.iteration_loss, expected, RTOL, "per-iteration loss")
    assert_same_parameters(model, reference)


def test_overcomplete_l1_penalty_value_and_gradients_match_torch_autograd(images):
    weight = 0.01  # large enough that the penalty's share of the gradient is far above the tolerance
    ours, reference = make_pair("overcomplete", seed=5, latent_dim=1024)
    ours.code_penalty.weight = weight
    x = images[:BATCH]
    loss = nn.MSELoss()
    value = float(loss(ours(x), x)) + ours.penalty
    ours.zero_grad()
    input_grad = ours.backward(loss.backward())

    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    code = reference.encoder(tx)
    mse = torch.nn.functional.mse_loss(reference.decoder(code), torch.from_numpy(x))
    penalty = weight * code.abs().sum() / x.shape[0]
    (mse + penalty).backward()

    assert relative_error(ours.penalty, penalty.item()) <= RTOL
    assert relative_error(value, (mse + penalty).item()) <= RTOL
    assert penalty.item() > 0.1 * mse.item()
    # The target is a separate tensor without requires_grad: a constant, as in our loss.
    assert_close(input_grad, tx.grad, RTOL, "dL/dx")
    theirs = {name: parameter.grad.numpy() for name, parameter in reference.named_parameters()}
    for name, parameter in ours.named_parameters():
        assert_close(parameter.grad, theirs[name], RTOL, f"gradient of {name}")


def test_overcomplete_with_penalty_through_fit_matches_torch(images):
    ours, reference = make_pair("overcomplete", seed=6, latent_dim=256)
    ours.code_penalty.weight = 1e-3
    optimizer = nn.Adam(ours.parameters(), lr=1e-3)
    subset = images[:20 * BATCH]
    history = fit(ours, DataLoader(subset, batch_size=BATCH, shuffle=False), nn.MSELoss(), optimizer, epochs=1,
                  progress=False)
    steps = [subset[index * BATCH:(index + 1) * BATCH] for index in range(20)]
    expected = torch_training(reference, steps, steps, lr=1e-3, weight_decay=0.0, l1_weight=1e-3)
    assert_close(history.iteration_loss, expected, RTOL, "per-iteration loss with the L1 penalty")
    theirs = torch_state_as_numpy(reference)
    for name, value in ours.state_dict().items():
        assert_close(value, theirs[name], RTOL, f"parameter {name}")
