"""The adversarial autoencoder against PyTorch in float64: 20 batches of the discriminator step and
the autoencoder step, every weight to 1e-8; gradcheck of the code discriminator's input gradient."""
import numpy
import pytest

import nn
from autoencoders.aae import AdversarialAutoencoder, adversarial_step

torch = pytest.importorskip("torch")


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


def test_twenty_batches_equal_torch():
    model = small_model()
    twin = torch_twin(model)
    settings = dict(lr=1e-2, betas=(0.5, 0.999))
    ae_optimizer = nn.Adam(model.autoencoder_parameters(), **settings)
    d_optimizer = nn.Adam(model.discriminator.parameters(), **settings)
    ae_torch = torch.optim.Adam(list(twin.encoder.parameters()) + list(twin.decoder.parameters()), **settings)
    d_torch = torch.optim.Adam(twin.discriminator.parameters(), **settings)
    bce, mse = torch.nn.BCEWithLogitsLoss(), torch.nn.MSELoss()
    rng = numpy.random.default_rng(5)
    initial = {name: value.copy() for name, value in model.state_dict().items()}
    for step in range(20):
        x, prior = rng.random((16, 12)), rng.standard_normal((16, 3))
        ours = adversarial_step(model, ae_optimizer, d_optimizer, x, prior)

        xt, priort = torch.from_numpy(x), torch.from_numpy(prior)
        d_torch.zero_grad()
        real = twin.discriminator.model(priort)
        fake = twin.discriminator.model(twin.encoder(xt).detach())
        d_loss = bce(real, torch.ones_like(real)) + bce(fake, torch.zeros_like(fake))
        d_loss.backward()
        d_torch.step()
        ae_torch.zero_grad()
        codes = twin.encoder(xt)
        reconstruction_loss = mse(twin.decoder(codes), xt)
        logits = twin.discriminator.model(codes)
        fooling = bce(logits, torch.ones_like(logits))
        (0.7 * reconstruction_loss + 0.3 * fooling).backward()
        ae_torch.step()

        expected = [float(value.detach()) for value in (reconstruction_loss, d_loss, fooling, torch.sigmoid(real).mean(),
                                                         torch.sigmoid(fake).mean())]
        numpy.testing.assert_allclose(ours, expected, rtol=1e-10)
        reference = {name: value.detach().numpy() for name, value in twin.state_dict().items()}
        for name, value in model.state_dict().items():
            error = numpy.abs(value - reference[name]).max() / max(numpy.abs(reference[name]).max(), 1e-3)
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
