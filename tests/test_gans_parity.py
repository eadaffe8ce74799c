"""The GANs' training against PyTorch in float64: both optimizers, both losses, the same noise and
the same dropout masks, 20 alternating discriminator and generator steps, every parameter to 1e-8;
and nn.gradcheck on the generator-through-discriminator backward."""
import numpy
import pytest

import nn
from gans import Discriminator, Generator, gan_step, generator_step

torch = pytest.importorskip("torch")

BATCH, STEPS, LATENT, PIXELS = 16, 20, 8, 12


class ReplayDropout(nn.Module):
    """Dropout whose masks come from a seeded NumPy stream and are recorded, so that the torch twin
    uses the very same masks in the same order."""

    def __init__(self, p, rng, record):
        self.p, self.rng, self.record = p, rng, record

    def forward(self, x):
        self._scaled_mask = (self.rng.random(x.shape) >= self.p) / (1 - self.p)
        self.record.append(self._scaled_mask)
        return x * self._scaled_mask

    def backward(self, grad_output):
        return grad_output * self._scaled_mask


class TorchReplayDropout(torch.nn.Module):
    def __init__(self, record):
        super().__init__()
        self.record = record

    def forward(self, x):
        return x * torch.from_numpy(self.record.pop(0))


def small_models(classes, seed):
    """Our G and D with the full structure (three hidden layers, LeakyReLU(0.2), Tanh, dropout 0.3)
    at small widths, in float64, D's dropout replaced by ReplayDropout; and the mask record."""
    nn.manual_seed(seed)
    generator = Generator(latent_dim=LATENT, image_dim=PIXELS, hidden=(16, 20, 24), classes=classes)
    discriminator = Discriminator(image_dim=PIXELS, hidden=(24, 20, 16), classes=classes)
    record, rng = [], numpy.random.default_rng(seed + 100)
    discriminator.model = nn.Sequential(*[ReplayDropout(layer.p, rng, record) if isinstance(layer, nn.Dropout) else layer
                                          for layer in discriminator.model])
    return generator.to(dtype="float64"), discriminator.to(dtype="float64"), record


class TorchWrapper(torch.nn.Module):
    """A torch module keeping its layers in ``self.model``, as ours do (same state-dict keys)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)


def torch_twin(ours, record):
    layers = []
    for layer in ours.model:
        if isinstance(layer, nn.Linear):
            layers.append(torch.nn.Linear(layer.in_features, layer.out_features, dtype=torch.float64))
        elif isinstance(layer, nn.LeakyReLU):
            assert layer.negative_slope == 0.2
            layers.append(torch.nn.LeakyReLU(0.2))
        elif isinstance(layer, nn.Tanh):
            layers.append(torch.nn.Tanh())
        elif isinstance(layer, ReplayDropout):
            assert layer.p == 0.3
            layers.append(TorchReplayDropout(record))
        else:
            raise TypeError(f"no torch twin for {layer!r}")
    module = TorchWrapper(torch.nn.Sequential(*layers))
    module.load_state_dict({name: torch.from_numpy(value.copy()) for name, value in ours.state_dict().items()})
    return module


def torch_input(x, labels, classes):
    x = torch.from_numpy(x)
    if not classes:
        return x
    return torch.cat([x, torch.nn.functional.one_hot(torch.from_numpy(labels), classes).to(torch.float64)], dim=1)


def assert_same_parameters(ours, theirs, what):
    reference = {name: value.detach().numpy() for name, value in theirs.state_dict().items()}
    for name, value in ours.state_dict().items():
        scale = max(numpy.abs(reference[name]).max(), 1e-3)
        error = numpy.abs(value - reference[name]).max() / scale
        assert error <= 1e-8, f"{what}: {name} differs from torch by {error:.2e} (relative to its largest entry)"


@pytest.mark.parametrize("classes", [0, 10], ids=["gan", "cgan"])
def test_twenty_alternating_steps_equal_torch(classes):
    generator, discriminator, record = small_models(classes, seed=3)
    torch_record = []
    g_twin, d_twin = torch_twin(generator, torch_record), torch_twin(discriminator, torch_record)
    settings = dict(lr=2e-4 * 50, betas=(0.5, 0.999))        # a larger step so that 20 steps move the weights
    g_optimizer, d_optimizer = nn.Adam(generator.parameters(), **settings), nn.Adam(discriminator.parameters(), **settings)
    g_torch, d_torch = (torch.optim.Adam(g_twin.parameters(), **settings),
                        torch.optim.Adam(d_twin.parameters(), **settings))
    bce = torch.nn.BCEWithLogitsLoss()
    initial = {name: value.copy() for name, value in generator.state_dict().items()}
    rng = numpy.random.default_rng(7)
    for step in range(STEPS):
        real = rng.uniform(-1, 1, (BATCH, PIXELS))
        noise = rng.standard_normal((BATCH, LATENT))
        labels, fake_labels = (rng.integers(0, 10, BATCH) if classes else None for _ in range(2))

        result = gan_step(generator, discriminator, g_optimizer, d_optimizer, real, noise, labels, fake_labels)

        torch_record.extend(record)
        record.clear()
        fake = g_twin(torch_input(noise, fake_labels, classes))     # one fake batch for both halves
        d_torch.zero_grad()
        real_logits = d_twin(torch_input(real, labels, classes))
        fake_logits = d_twin(torch_input(fake.detach().numpy(), fake_labels, classes))
        d_reference = (bce(real_logits, torch.ones_like(real_logits)) + bce(fake_logits, torch.zeros_like(fake_logits)))
        d_reference.backward()
        d_torch.step()
        g_torch.zero_grad()
        d_twin.requires_grad_(False)                                # torch's idiom: only dL/dfake through D
        if classes:
            fake = torch.cat([fake, torch.nn.functional.one_hot(torch.from_numpy(fake_labels), 10).to(torch.float64)], 1)
        logits = d_twin.model(fake)
        g_reference = bce(logits, torch.ones_like(logits))
        g_reference.backward()
        d_twin.requires_grad_(True)
        g_torch.step()

        assert not torch_record, "every recorded dropout mask was used once"
        assert result.d_loss == pytest.approx(d_reference.item(), rel=1e-10)
        assert result.g_loss == pytest.approx(g_reference.item(), rel=1e-10)
        assert result.d_real == pytest.approx(torch.sigmoid(real_logits).mean().item(), rel=1e-10)
        assert result.d_fake == pytest.approx(torch.sigmoid(fake_logits).mean().item(), rel=1e-10)
        assert_same_parameters(discriminator, d_twin, f"step {step}, discriminator")
        assert_same_parameters(generator, g_twin, f"step {step}, generator")
    moved = max(numpy.abs(value - initial[name]).max() for name, value in generator.state_dict().items())
    assert moved > 1e-3                                      # the comparison is not of untouched weights


class GeneratorThroughDiscriminator(nn.Module):
    """z -> D(G(z)): the composite whose backward the generator step runs."""

    def __init__(self, generator, discriminator, labels=None):
        self.generator, self.discriminator, self.labels = generator, discriminator, labels
        self.generator.model[0].needs_input_grad = True    # so that dL/dz is returned and checked too

    def forward(self, noise):
        return self.discriminator(self.generator(noise, self.labels), self.labels)

    def backward(self, grad_output):
        return self.generator.backward(self.discriminator.backward(grad_output))


@pytest.mark.parametrize("frozen", [False, True], ids=["d-trainable", "d-frozen"])
@pytest.mark.parametrize("classes", [0, 10], ids=["gan", "cgan"])
def test_gradcheck_generator_through_discriminator(classes, frozen):
    """The composite's gradients by finite differences; with D frozen (as the generator step runs
    it) only z and G's parameters are checked, and D's .grad must stay as it was."""
    nn.manual_seed(0)
    generator = Generator(latent_dim=LATENT, image_dim=PIXELS, hidden=(6, 7, 8), classes=classes)
    discriminator = Discriminator(image_dim=PIXELS, hidden=(8, 7, 6), classes=classes).eval()  # dropout off
    discriminator.requires_grad_(not frozen)
    for parameter in discriminator.parameters():
        parameter.grad = parameter.data * 0 + 0.25  # a frozen D's backward must not touch these
    labels = numpy.arange(5) % 10 if classes else None
    composite = GeneratorThroughDiscriminator(generator, discriminator, labels)
    report = nn.gradcheck(composite, numpy.random.default_rng(1).standard_normal((5, LATENT)))
    names = {check.name for check in report.checks}
    assert "input 0" in names and any("generator" in name for name in names)
    assert any("discriminator" in name for name in names) != frozen
    if frozen:
        assert all((parameter.grad == 0.25).all() for parameter in discriminator.parameters())


def test_generator_step_moves_only_the_generator_and_leaves_d_gradients():
    generator, discriminator, _ = small_models(0, seed=4)
    before = {name: value.copy() for name, value in discriminator.state_dict().items()}
    discriminator.parameters()[0].requires_grad_(False)      # a user's own frozen layer stays frozen after
    for parameter in discriminator.parameters():
        parameter.grad = parameter.data * 0 + 0.5
    optimizer = nn.Adam(generator.parameters(), lr=1e-2)
    fake = generator(numpy.random.default_rng(0).standard_normal((4, LATENT)))
    generator_step(generator, discriminator, optimizer, fake)
    for name, value in discriminator.state_dict().items():
        numpy.testing.assert_array_equal(value, before[name])
    assert all((parameter.grad == 0.5).all() for parameter in discriminator.parameters())
    assert [parameter.requires_grad for parameter in discriminator.parameters()] == [False] + [True] * 7
    assert all(numpy.abs(parameter.grad).max() > 0 for parameter in generator.parameters())


def torch_layer(layer):
    """The torch layer equal to one of ours, for the layers the DCGAN uses."""
    float64 = torch.float64
    if isinstance(layer, nn.Linear):
        return torch.nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None, dtype=float64)
    if isinstance(layer, nn.ConvTranspose2d):
        return torch.nn.ConvTranspose2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
                                        layer.padding, bias=layer.bias is not None, dtype=float64)
    if isinstance(layer, nn.Conv2d):
        return torch.nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.padding,
                               bias=layer.bias is not None, dtype=float64)
    if isinstance(layer, nn.BatchNorm1d):
        return torch.nn.BatchNorm1d(layer.num_features, dtype=float64)
    if isinstance(layer, nn.BatchNorm2d):
        return torch.nn.BatchNorm2d(layer.num_features, dtype=float64)
    if isinstance(layer, nn.Unflatten):
        return torch.nn.Unflatten(layer.dim, layer.unflattened_size)
    simple = {nn.ReLU: torch.nn.ReLU, nn.Tanh: torch.nn.Tanh, nn.Flatten: torch.nn.Flatten}
    if isinstance(layer, nn.LeakyReLU):
        return torch.nn.LeakyReLU(layer.negative_slope)
    return simple[type(layer)]()


def test_dcgan_twenty_alternating_steps_equal_torch():
    """The DCGAN (BatchNorm in training mode in both networks, real and fake batches normalized
    apart) against torch in float64, at small widths."""
    from gans import DCGANDiscriminator, DCGANGenerator
    nn.manual_seed(2)
    generator = DCGANGenerator(latent_dim=LATENT, width=3).to(dtype="float64")
    discriminator = DCGANDiscriminator(width=3).to(dtype="float64")
    twins = []
    for ours in (generator, discriminator):
        twin = TorchWrapper(torch.nn.Sequential(*[torch_layer(layer) for layer in ours.model]))
        twin.load_state_dict({name: torch.from_numpy(numpy.array(value)) for name, value in ours.state_dict().items()})
        twins.append(twin)
    g_twin, d_twin = twins
    settings = dict(lr=1e-2, betas=(0.5, 0.999))
    g_optimizer, d_optimizer = nn.Adam(generator.parameters(), **settings), nn.Adam(discriminator.parameters(), **settings)
    g_torch, d_torch = torch.optim.Adam(g_twin.parameters(), **settings), torch.optim.Adam(d_twin.parameters(), **settings)
    bce = torch.nn.BCEWithLogitsLoss()
    rng = numpy.random.default_rng(11)
    for step in range(STEPS):
        real = rng.uniform(-1, 1, (6, 784))
        noise = rng.standard_normal((6, LATENT))
        gan_step(generator, discriminator, g_optimizer, d_optimizer, real, noise)

        fake = g_twin(torch.from_numpy(noise))                      # G's BatchNorm sees one batch a step
        d_torch.zero_grad()
        real_logits = d_twin(torch.from_numpy(real))
        fake_logits = d_twin(fake.detach())
        (bce(real_logits, torch.ones_like(real_logits)) + bce(fake_logits, torch.zeros_like(fake_logits))).backward()
        d_torch.step()
        g_torch.zero_grad()
        d_twin.requires_grad_(False)
        logits = d_twin(fake)
        bce(logits, torch.ones_like(logits)).backward()
        d_twin.requires_grad_(True)
        g_torch.step()
        assert_same_parameters(discriminator, d_twin, f"step {step}, discriminator")
        assert_same_parameters(generator, g_twin, f"step {step}, generator")
