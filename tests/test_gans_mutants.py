"""What mutation testing found unchecked in gans/ (target gans): the default architectures, held to
the same networks written with torch's modules from the papers' descriptions (gans/models.py and
gans/dcgan.py docstrings), the labels checks' whole lines, the quality numbers' edge cases, and the
training loop's callbacks, divergence report and fresh history."""
import math

import numpy
import pytest
import torch

import nn
from gans.dcgan import DCGANDiscriminator, DCGANGenerator
from gans.models import Discriminator, Generator
from gans.quality import DigitClassifier, class_entropy, score
from gans.training import GANHistory, NoiseSource, fit_gan
from runfolder.record import TrainingDiverged

T = torch.nn


def test_the_default_networks_are_the_papers_as_torch_writes_them():
    expected = {
        "gan generator": T.Sequential(T.Linear(100, 256), T.LeakyReLU(0.2), T.Linear(256, 512), T.LeakyReLU(0.2),
                                      T.Linear(512, 1024), T.LeakyReLU(0.2), T.Linear(1024, 784), T.Tanh()),
        "gan discriminator": T.Sequential(T.Linear(784, 1024), T.LeakyReLU(0.2), T.Dropout(0.3), T.Linear(1024, 512),
                                          T.LeakyReLU(0.2), T.Dropout(0.3), T.Linear(512, 256), T.LeakyReLU(0.2),
                                          T.Dropout(0.3), T.Linear(256, 1)),
        "dcgan generator": T.Sequential(T.Linear(100, 6272, bias=False), T.BatchNorm1d(6272), T.ReLU(),
                                        T.Unflatten(1, (128, 7, 7)), T.ConvTranspose2d(128, 64, 4, 2, 1, bias=False),
                                        T.BatchNorm2d(64), T.ReLU(), T.ConvTranspose2d(64, 1, 4, 2, 1), T.Tanh(),
                                        T.Flatten()),
        "dcgan discriminator": T.Sequential(T.Unflatten(1, (1, 28, 28)), T.Conv2d(1, 64, 4, 2, 1), T.LeakyReLU(0.2),
                                            T.Conv2d(64, 128, 4, 2, 1, bias=False), T.BatchNorm2d(128),
                                            T.LeakyReLU(0.2), T.Flatten(), T.Linear(6272, 1)),
        "classifier": T.Sequential(T.Linear(784, 256), T.ReLU(), T.Linear(256, 128), T.ReLU()),
    }
    ours = {"gan generator": Generator().model, "gan discriminator": Discriminator().model,
            "dcgan generator": DCGANGenerator().model, "dcgan discriminator": DCGANDiscriminator().model,
            "classifier": DigitClassifier().body}
    for name, model in ours.items():
        assert repr(model) == repr(expected[name]), name
    for model in (Generator(), DCGANGenerator(), Discriminator(), DCGANDiscriminator()):
        assert (model.image_dim, model.classes) == (784, 0)
    assert Generator().latent_dim == DCGANGenerator().latent_dim == 100
    assert DigitClassifier()(numpy.zeros((2, 784), dtype="float32")).shape == (2, 10)
    # z is drawn noise: the generators' first layer skips dL/dz, every other layer computes its input gradient
    for generator in (Generator(), DCGANGenerator()):
        assert [getattr(layer, "needs_input_grad", True) for layer in generator.model][:2] == [False, True]


@pytest.mark.parametrize("make", [Generator, Discriminator, DCGANGenerator, DCGANDiscriminator])
def test_labels_for_an_unconditional_model_are_one_line(make):
    model = make()
    inputs = numpy.zeros((2, 100 if "Generator" in make.__name__ else 784), dtype="float32")
    with pytest.raises(ValueError) as refused:
        model(inputs, numpy.array([1, 2]))
    assert str(refused.value) == f"{make.__name__}: labels given to an unconditional model; build it with classes=10"


def test_a_conditional_model_without_labels_is_one_line():
    with pytest.raises(ValueError) as refused:
        Generator(classes=10)(numpy.zeros((2, 100), dtype="float32"))
    assert str(refused.value) == "Generator: a conditional model needs labels (N,) of ints in 0..9"


def test_class_entropy_counts_every_predicted_class_and_is_never_minus_zero():
    assert class_entropy(numpy.array([0, 1, 1])) == pytest.approx(-(1 / 3 * math.log(1 / 3) + 2 / 3 * math.log(2 / 3)))
    one_class = class_entropy(numpy.array([3, 3, 3]))
    assert one_class == 0.0 and math.copysign(1.0, one_class) == 1.0


def test_features_and_predictions_cover_more_images_than_one_batch():
    nn.manual_seed(0)
    classifier = DigitClassifier()
    images = numpy.random.default_rng(0).random((1500, 784)).astype(classifier.dtype)
    assert classifier.features(images).shape[0] == 1500 and classifier.predict(images).shape == (1500,)
    numpy.testing.assert_array_equal(classifier.predict(images)[1000:], classifier.predict(images[1000:]))


def test_the_accuracy_is_the_share_of_samples_predicted_as_asked():
    nn.manual_seed(0)
    classifier = DigitClassifier()
    rng = numpy.random.default_rng(1)
    real, samples = rng.random((40, 784)).astype(classifier.dtype), rng.random((30, 784)).astype(classifier.dtype)
    predicted = classifier.predict(samples)
    asked = predicted.copy()
    asked[:10] = (asked[:10] + 1) % 10
    assert score(classifier, real, samples, asked)["accuracy"] == pytest.approx(20 / 30)


def small_gan():
    nn.manual_seed(2)
    generator, discriminator = Generator(latent_dim=4, image_dim=6, hidden=(5,)), Discriminator(image_dim=6, hidden=(5,))
    optimizers = nn.Adam(generator.parameters(), lr=1e-3), nn.Adam(discriminator.parameters(), lr=1e-3)
    return generator, discriminator, optimizers


def test_fit_gan_numbers_epochs_and_iterations_from_one_and_hands_callbacks_the_history():
    generator, discriminator, (g_optimizer, d_optimizer) = small_gan()
    loader = [numpy.random.default_rng(seed).random((4, 6)).astype("float32") * 2 - 1 for seed in range(3)]
    calls = []
    history = fit_gan(generator, discriminator, loader, g_optimizer, d_optimizer, 2, NoiseSource(4),
                      on_epoch_end=lambda epoch, h: calls.append(("end", epoch, h)),
                      progress=lambda epoch, iteration, h: calls.append(("step", epoch, iteration, h)))
    assert isinstance(history, GANHistory) and history.epochs == 2 and len(history.d_loss) == 6
    assert [call[:3] for call in calls if call[0] == "step"] == [("step", e, i) for e in (1, 2) for i in (1, 2, 3)]
    assert [call[:2] for call in calls if call[0] == "end"] == [("end", 1), ("end", 2)]
    assert all(call[-1] is history for call in calls)
    assert all(0 <= seconds < 60 for seconds in history.epoch_seconds)


def test_a_diverging_step_names_its_epoch_iteration_and_value():
    generator, discriminator, (g_optimizer, d_optimizer) = small_gan()
    good = numpy.zeros((4, 6), dtype="float32")
    bad = numpy.full((4, 6), numpy.nan, dtype="float32")
    with pytest.raises(TrainingDiverged) as diverged:
        fit_gan(generator, discriminator, [good, bad], g_optimizer, d_optimizer, 1, NoiseSource(4))
    assert (diverged.value.epoch, diverged.value.iteration) == (1, 2) and math.isnan(diverged.value.value)


def test_noise_labels_cover_every_class_from_zero():
    labels = NoiseSource(4, classes=10).labels(2000, numpy.zeros((1, 4), dtype="float32"))
    assert sorted(set(labels.tolist())) == list(range(10))
    assert NoiseSource(4).labels(3, numpy.zeros((1, 4))) is None


def test_the_real_floor_scores_a_seeded_half_against_the_other_half():
    from types import SimpleNamespace
    from gans.quality import real_floor
    nn.manual_seed(0)
    classifier = DigitClassifier()
    rng = numpy.random.default_rng(3)
    test = SimpleNamespace(images=rng.random((30, 784)).astype(classifier.dtype), labels=rng.integers(0, 10, 30))
    order = numpy.random.default_rng(7).permutation(30)
    expected = score(classifier, test.images[order[:15]], test.images[order[15:]][:12], test.labels[order[15:]][:12])
    assert real_floor(classifier, test, 12, seed=7) == expected and "accuracy" in expected


def test_an_unconditional_gan_ignores_the_labels_a_loader_yields():
    generator, discriminator, (g_optimizer, d_optimizer) = small_gan()
    loader = [(numpy.zeros((4, 6), dtype="float32"), numpy.arange(4)) for _ in range(2)]
    history = fit_gan(generator, discriminator, loader, g_optimizer, d_optimizer, 1, NoiseSource(4))
    assert len(history.d_loss) == 2


def test_fit_gan_draws_one_noise_vector_per_real_image():
    generator, discriminator, (g_optimizer, d_optimizer) = small_gan()
    counts = []

    class Counted(NoiseSource):
        def noise(self, count, like):
            counts.append(count)
            return super().noise(count, like)

    loader = [numpy.zeros((rows, 6), dtype="float32") for rows in (4, 3)]  # 6 pixels a row, batches of 4 and 3
    fit_gan(generator, discriminator, loader, g_optimizer, d_optimizer, 1, Counted(4))
    assert counts == [4, 3]
