"""The convolutional autoencoder against the same torch.nn.Sequential pair in float64: keys, forward,
every gradient and 20 Adam steps through fit (max|a-b|/max|b| <= 1e-8); finite differences on a small
one; the command line."""
import json
import os

import matplotlib.image
import numpy
import pytest

try:
    import torch  # noqa: F401  (imported before the module fixture, which then gives it one thread)
except ImportError:
    torch = None

import nn
from autoencoders import ConvAutoencoder, DeepAutoencoder, fit
from datasets import DataLoader
from helpers_autoencoders import single_threaded_blas  # noqa: F401  (autouse fixture)
from helpers_autoencoders import (assert_close, cli_sandbox, copy_torch_weights, load_npz, mnist_images, run_cli,
                                  torch_state_as_numpy, write_data_dir)

RTOL = 1e-8
KEYS = [f"{half}.{index}.{kind}" for half, indices in (("encoder", (1, 3, 6)), ("decoder", (0, 3, 5)))
        for index in indices for kind in ("weight", "bias")]


def torch_conv_autoencoder(latent_dim=32, channels=(16, 32), image_size=28):
    torch = pytest.importorskip("torch")
    t = torch.nn
    first, second = channels
    side = image_size // 4
    f64 = {"dtype": torch.float64}

    class TorchConvAutoencoder(t.Module):
        def __init__(self):
            super().__init__()
            self.encoder = t.Sequential(
                t.Unflatten(1, (1, image_size, image_size)),
                t.Conv2d(1, first, 3, stride=2, padding=1, **f64), t.ReLU(),
                t.Conv2d(first, second, 3, stride=2, padding=1, **f64), t.ReLU(),
                t.Flatten(), t.Linear(second * side * side, latent_dim, **f64))
            self.decoder = t.Sequential(
                t.Linear(latent_dim, second * side * side, **f64), t.ReLU(), t.Unflatten(1, (second, side, side)),
                t.ConvTranspose2d(second, first, 3, stride=2, padding=1, output_padding=1, **f64), t.ReLU(),
                t.ConvTranspose2d(first, 1, 3, stride=2, padding=1, output_padding=1, **f64), t.Sigmoid(),
                t.Flatten())

        def forward(self, x):
            return self.decoder(self.encoder(x))

    return TorchConvAutoencoder()


def make_pair(seed, **kwargs):
    torch.manual_seed(seed)
    reference = torch_conv_autoencoder(**kwargs)
    nn.manual_seed(seed + 1)
    ours = ConvAutoencoder(**kwargs).to(dtype="float64")
    copy_torch_weights(reference, ours)
    return ours, reference


def test_layers_keys_and_shapes():
    model = ConvAutoencoder()
    shapes = {name: tuple(value.shape) for name, value in model.state_dict().items()}
    assert list(shapes) == KEYS
    assert shapes == {"encoder.1.weight": (16, 1, 3, 3), "encoder.1.bias": (16,),
                      "encoder.3.weight": (32, 16, 3, 3), "encoder.3.bias": (32,),
                      "encoder.6.weight": (32, 1568), "encoder.6.bias": (32,),
                      "decoder.0.weight": (1568, 32), "decoder.0.bias": (1568,),
                      "decoder.3.weight": (32, 16, 3, 3), "decoder.3.bias": (16,),
                      "decoder.5.weight": (16, 1, 3, 3), "decoder.5.bias": (1,)}
    assert model.latent_dim == 32 and ConvAutoencoder(latent_dim=9).latent_dim == 9
    x = mnist_images(3, "float32")
    assert model.encode(x).shape == (3, 32) and model(x).shape == (3, 784)
    if torch is not None:
        assert list(torch_state_as_numpy(torch_conv_autoencoder())) == KEYS


def test_image_size_must_be_a_multiple_of_four():
    for size in (30, 0, 27.0):
        with pytest.raises(ValueError, match="multiple of 4"):
            ConvAutoencoder(image_size=size)


def test_forward_and_every_gradient_match_torch():
    """backward(g) with a random upstream gradient is torch's for L = <g, y>."""
    pytest.importorskip("torch")
    ours, reference = make_pair(seed=1)
    x = mnist_images(8)
    upstream = numpy.random.default_rng(2).standard_normal((8, 784))
    y = ours(x)
    ours.zero_grad()
    grad_input = ours.backward(upstream.copy())
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    ty = reference(tx)
    (ty * torch.from_numpy(upstream)).sum().backward()
    assert_close(y, ty, RTOL, "forward")
    assert_close(ours.encode(x), reference.encoder(torch.from_numpy(x)), RTOL, "code")
    assert_close(grad_input, tx.grad, RTOL, "dL/dx")
    theirs = {name: parameter.grad.numpy() for name, parameter in reference.named_parameters()}
    for name, parameter in ours.named_parameters():
        assert_close(parameter.grad, theirs[name], RTOL, f"gradient of {name}")


def test_need_input_grad_false_keeps_every_parameter_gradient():
    """The encoder starts with Unflatten, so no layer may skip its input gradient (that would cut off
    the convolutions before the first Linear); a model starting with a Linear still skips it."""
    model = ConvAutoencoder(dtype="float64")
    x = mnist_images(4)
    upstream = numpy.random.default_rng(3).standard_normal((4, 784))
    model(x)
    full = model.backward(upstream.copy())
    expected = {name: parameter.grad.copy() for name, parameter in model.named_parameters()}
    model.zero_grad()
    model(x)
    skipped = model.backward(upstream.copy(), need_input_grad=False)
    assert numpy.array_equal(skipped, full)
    for name, parameter in model.named_parameters():
        assert numpy.array_equal(parameter.grad, expected[name]), name
    deep = DeepAutoencoder(dtype="float64")
    deep(x)
    assert deep.backward(upstream, need_input_grad=False) is None


def test_twenty_adam_steps_through_fit_match_torch():
    pytest.importorskip("torch")
    steps, batch = 20, 16
    ours, reference = make_pair(seed=4)
    images = mnist_images(steps * batch)
    history = fit(ours, DataLoader(images, batch_size=batch, shuffle=False), nn.MSELoss(),
                  nn.Adam(ours.parameters(), lr=1e-3), epochs=1, progress=False)
    optimizer = torch.optim.Adam(reference.parameters(), lr=1e-3)
    expected = []
    for step in range(steps):
        x = torch.from_numpy(images[step * batch:(step + 1) * batch])
        value = torch.nn.functional.mse_loss(reference(x), x)
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        expected.append(value.item())
    assert_close(history.iteration_loss, expected, RTOL, "per-iteration loss")
    assert expected[-1] < 0.9 * expected[0]
    theirs = torch_state_as_numpy(reference)
    for name, value in ours.state_dict().items():
        assert_close(value, theirs[name], RTOL, f"parameter {name} after {steps} Adam steps")


def test_gradcheck_small_conv_autoencoder():
    nn.manual_seed(5)
    model = ConvAutoencoder(latent_dim=4, channels=(2, 3), image_size=8, dtype="float64")
    x = numpy.random.default_rng(6).uniform(0, 1, (3, 64))
    report = nn.gradcheck(model, x, mode="directional", directions=6)
    assert {check.name for check in report.checks} == {"input 0", *model.state_dict()}


# --- the command line ----------------------------------------------------------------------------------
def test_train_conv_from_the_command_line_and_evaluate(tmp_path):
    data = tmp_path / "data"
    write_data_dir(data, train_count=96, test_count=64)
    out = tmp_path / "run"
    with cli_sandbox(data, tmp_path) as downloads:
        code, stdout, stderr = run_cli(["train", "--quiet", "--model", "conv", "--limit", 64, "--epochs", 2,
                                        "--out", out])
        assert code == 0, stderr
        files = {"loss.png", "reconstructions.png", "latent.png", "gradients.png", "metrics.json", "checkpoint.npz"}
        assert set(os.listdir(out)) == files
        assert matplotlib.image.imread(out / "reconstructions.png").std() > 0
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["config"]["model"] == "conv" and metrics["config"]["latent_dim"] == 32
        assert 0 < metrics["final_test_mse"] < 0.5
        assert metrics["final_test_mse"] == pytest.approx(metrics["epochs"][-1]["test_loss"], rel=1e-4)
        checkpoint = load_npz(out / "checkpoint.npz")
        assert {key for key in checkpoint if key.startswith("model/")} == {f"model/{key}" for key in KEYS}
        code, stdout, stderr = run_cli(["evaluate", out / "checkpoint.npz", "--limit", 64])
        assert code == 0, stderr
        assert f"test MSE:  {metrics['final_test_mse']:.6f}" in stdout
        # Any model can be made denoising: here the convolutional one.
        code, _, stderr = run_cli(["train", "--quiet", "--model", "conv", "--noise", "masking", "--limit", 32,
                                   "--epochs", 1, "--out", tmp_path / "denoising"])
        assert code == 0, stderr
        assert "denoising.png" in os.listdir(tmp_path / "denoising")
    assert downloads == []
