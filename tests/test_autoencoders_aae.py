"""The adversarial autoencoder against PyTorch in float64: 20 training steps (the discriminator's
gradient of L_D and the autoencoder's of L_AE at the same weights, one Adam over all), every weight
to 1e-8; gradcheck of the code discriminator; training from the command line."""
import json

import numpy
import pytest

import nn
from autoencoders.aae import AdversarialAutoencoder

torch = pytest.importorskip("torch")


class FixedPrior:
    """Stands in for the model's prior generator: hands out the codes the test drew."""

    def __init__(self):
        self.codes = None

    def on(self, device):
        return self

    def standard_normal(self, shape, dtype):
        assert shape == self.codes.shape
        return self.codes.astype(dtype)


def torch_twin(model):
    from helpers_autoencoders import torch_mlp

    class Twin(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = torch_mlp([12, 10, 8, 6, 5, 3])
            self.decoder = torch_mlp([3, 5, 6, 8, 10, 12], torch.nn.Sigmoid())
            critic = torch.nn.Module()
            critic.model = torch.nn.Sequential(torch.nn.Linear(3, 64), torch.nn.LeakyReLU(0.2), torch.nn.Linear(64, 64),
                                               torch.nn.LeakyReLU(0.2), torch.nn.Linear(64, 1))
            self.discriminator = critic

    twin = Twin().double()
    twin.load_state_dict({name: torch.from_numpy(value.copy()) for name, value in model.state_dict().items()})
    return twin


def small_model(seed=0):
    """The structure at small widths: 12-10-8-6-5-3 and back, the 3 -> 64 -> 64 -> 1 critic."""
    nn.manual_seed(seed)
    return AdversarialAutoencoder(input_dim=12, hidden=(10, 8, 6, 5), latent_dim=3, adversarial_weight=0.3,
                                  dtype="float64")


def test_twenty_steps_equal_torch():
    model = small_model()
    model.prior = FixedPrior()
    twin = torch_twin(model)
    optimizer = nn.Adam(model.parameters(), lr=1e-2, betas=(0.5, 0.999))
    reference = torch.optim.Adam(twin.parameters(), lr=1e-2, betas=(0.5, 0.999))
    critic = list(twin.discriminator.parameters())
    bce, mse = torch.nn.BCEWithLogitsLoss(), torch.nn.MSELoss()
    rng = numpy.random.default_rng(5)
    initial = {name: value.copy() for name, value in model.state_dict().items()}
    for step in range(20):
        x, prior = rng.random((16, 12)), rng.standard_normal((16, 3))
        model.prior.codes = prior
        ours = model.training_step(x, nn.MSELoss(), optimizer)

        xt = torch.from_numpy(x)
        reference.zero_grad()
        codes = twin.encoder(xt)
        real = twin.discriminator.model(torch.from_numpy(prior))
        fake = twin.discriminator.model(codes.detach())
        d_loss = bce(real, torch.ones_like(real)) + bce(fake, torch.zeros_like(fake))
        critic_grads = torch.autograd.grad(d_loss, critic)
        reconstruction_loss = mse(twin.decoder(codes), xt)
        logits = twin.discriminator.model(codes)
        fooling = bce(logits, torch.ones_like(logits))
        (0.7 * reconstruction_loss + 0.3 * fooling).backward()
        for parameter, grad in zip(critic, critic_grads):
            parameter.grad = grad                       # D moves by its own loss only
        reference.step()

        assert ours == pytest.approx(float(reconstruction_loss.detach()), rel=1e-10)
        expected = [float(value.detach()) for value in (reconstruction_loss, d_loss, fooling, torch.sigmoid(real).mean(),
                                                         torch.sigmoid(fake).mean())]
        numpy.testing.assert_allclose(model.last_losses, expected, rtol=1e-10)
        state = {name: value.detach().numpy() for name, value in twin.state_dict().items()}
        for name, value in model.state_dict().items():
            error = numpy.abs(value - state[name]).max() / max(numpy.abs(state[name]).max(), 1e-3)
            assert error <= 1e-8, f"step {step}: {name} differs from torch by {error:.2e}"
    assert max(numpy.abs(value - initial[name]).max() for name, value in model.state_dict().items()) > 1e-3


def test_code_discriminator_gradcheck_and_sampling():
    model = small_model(seed=1)
    nn.gradcheck(model.discriminator, numpy.random.default_rng(0).standard_normal((4, 3)))
    images = model.sample(5, numpy.random.default_rng(0))
    assert images.shape == (5, 12) and ((images > 0) & (images < 1)).all()


@pytest.mark.parametrize("weight", [-0.1, 1.5, float("nan")])
def test_adversarial_weight_out_of_range_is_refused(weight):
    with pytest.raises(ValueError, match="adversarial_weight"):
        AdversarialAutoencoder(adversarial_weight=weight)


def test_command_line_trains_samples_and_resumes_the_aae(tmp_path):
    from helpers_autoencoders import cli_sandbox, run_cli, write_data_dir
    data = tmp_path / "data"
    write_data_dir(data, train_count=96, test_count=64)
    with cli_sandbox(data, tmp_path):
        code, stdout, stderr = run_cli(["train", "--model", "aae", "--epochs", "1", "--out", tmp_path / "a", "--quiet"])
        assert code == 0, stderr
        assert {"codes.png", "samples.png", "checkpoint.npz"} <= {path.name for path in (tmp_path / "a").iterdir()}
        code, _, stderr = run_cli(["train", "--resume", tmp_path / "a" / "checkpoint.npz", "--epochs", "1",
                                   "--out", tmp_path / "b", "--quiet"])
        assert code == 0, stderr
        assert len(json.loads((tmp_path / "b" / "metrics.json").read_text())["epochs"]) == 2
        code, _, stderr = run_cli(["sample", tmp_path / "b" / "checkpoint.npz", "--n", "4", "--out", tmp_path / "s.png"])
        assert code == 0, stderr


def test_a_step_runs_the_discriminator_once_on_the_codes():
    """The fooling loss reads the same D(E(x)) as the discriminator's: one forward on the prior codes,
    one on the encoder's, never a third (the hot path's cost)."""
    model = AdversarialAutoencoder(input_dim=12, hidden=(10, 8, 6, 5), latent_dim=3, dtype="float64", seed=0)
    inputs = []
    forward = model.discriminator.forward
    model.discriminator.forward = lambda codes: inputs.append(codes) or forward(codes)
    x = numpy.random.default_rng(0).random((4, 12))
    model.training_step(x, nn.MSELoss(), nn.Adam(model.parameters(), lr=1e-3))
    assert len(inputs) == 2
