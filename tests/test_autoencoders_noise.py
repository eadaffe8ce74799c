"""Input corruptions: values stay in [0, 1], the same seed gives the same noise, the corruption has
the requested size, the generator state round-trips, bad levels are refused; and a denoising model
corrupts only its input, only in training mode."""
import json

import numpy
import pytest

import nn
from autoencoders import DeepAutoencoder, DenoisingAutoencoder, GaussianNoise, MaskingNoise, SaltAndPepperNoise, fit
from autoencoders.noise import NOISES
from datasets import DataLoader
from helpers_autoencoders import single_threaded_blas  # noqa: F401  (autouse fixture)
from helpers_autoencoders import mnist_images

ALL = [(GaussianNoise, 0.3), (MaskingNoise, 0.3), (SaltAndPepperNoise, 0.2)]
IDS = ["gaussian", "masking", "salt-pepper"]


def grey(count=200, dtype="float64"):
    """Mid-grey images: no value sits at 0 or 1, so every kind of corruption is visible."""
    return numpy.full((count, 784), 0.5, dtype=dtype)


@pytest.mark.parametrize("noise_class,level", ALL, ids=IDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_values_stay_in_unit_interval_with_the_input_dtype_and_shape(noise_class, level, dtype):
    x = mnist_images(64, dtype)
    noisy = noise_class(level, seed=0)(x)
    assert noisy.shape == x.shape and noisy.dtype == numpy.dtype(dtype)
    assert noisy.min() >= 0 and noisy.max() <= 1
    assert not numpy.array_equal(noisy, x)
    strong = noise_class(1.0 if noise_class is not GaussianNoise else 5.0, seed=0)(x)
    assert strong.min() >= 0 and strong.max() <= 1


@pytest.mark.parametrize("noise_class,level", ALL, ids=IDS)
def test_same_seed_same_noise_other_seed_other_noise(noise_class, level):
    x = mnist_images(32)
    first, second = noise_class(level, seed=11), noise_class(level, seed=11)
    a1, a2 = first(x), first(x)
    assert numpy.array_equal(a1, second(x)) and numpy.array_equal(a2, second(x))
    assert not numpy.array_equal(a1, a2)  # a stream: each call draws fresh noise
    assert not numpy.array_equal(a1, noise_class(level, seed=12)(x))


@pytest.mark.parametrize("noise_class,level", ALL, ids=IDS)
def test_the_input_is_not_modified(noise_class, level):
    x = mnist_images(16)
    kept = x.copy()
    noise_class(level, seed=0)(x)
    assert numpy.array_equal(x, kept)


def test_gaussian_noise_has_the_requested_standard_deviation():
    x = grey()
    for std in (0.05, 0.1):  # small enough that clipping at 0 and 1 (5 sigma away) never matters
        difference = GaussianNoise(std, seed=1)(x) - x
        assert abs(difference.std() / std - 1) < 0.02
        assert abs(difference.mean()) < 0.02 * std
    assert numpy.array_equal(GaussianNoise(0.0, seed=1)(x), x)


@pytest.mark.parametrize("p", [0.1, 0.3, 0.7])
def test_masking_zeroes_the_requested_fraction_and_keeps_the_rest(p):
    x = grey()
    noisy = MaskingNoise(p, seed=2)(x)
    zeroed = noisy == 0
    assert abs(zeroed.mean() - p) < 0.01  # 156,800 draws: the standard error is about 0.001
    assert numpy.array_equal(noisy[~zeroed], x[~zeroed])
    assert numpy.array_equal(MaskingNoise(0.0, seed=2)(x), x)
    assert not MaskingNoise(1.0, seed=2)(x).any()


@pytest.mark.parametrize("p", [0.1, 0.2, 0.6])
def test_salt_and_pepper_changes_the_requested_fraction_half_to_each_extreme(p):
    x = grey()
    noisy = SaltAndPepperNoise(p, seed=3)(x)
    pepper, salt = noisy == 0, noisy == 1
    assert abs((pepper | salt).mean() - p) < 0.01
    assert abs(pepper.mean() - p / 2) < 0.01 and abs(salt.mean() - p / 2) < 0.01
    kept = ~(pepper | salt)
    assert numpy.array_equal(noisy[kept], x[kept])
    assert set(numpy.unique(noisy)) <= {0.0, 0.5, 1.0}


@pytest.mark.parametrize("noise_class,level", ALL, ids=IDS)
def test_state_round_trip_reproduces_the_stream(noise_class, level):
    x = mnist_images(16)
    noise = noise_class(level, seed=5)
    assert json.loads(noise.state()) is None  # nothing drawn yet
    noise(x)
    saved = noise.state()
    expected = [noise(x) for _ in range(3)]
    noise.set_state(saved)
    assert all(numpy.array_equal(noise(x), batch) for batch in expected)
    # Another object, even with another seed, continues the same stream from the saved state.
    other = noise_class(level, seed=999)
    other.set_state(saved)
    assert all(numpy.array_equal(other(x), batch) for batch in expected)
    # The saved state is plain JSON text (it goes into a checkpoint as a string).
    assert isinstance(saved, str) and json.loads(saved)["bit_generator"]


def test_set_state_of_an_unused_noise_keeps_the_seeded_stream():
    x = mnist_images(8)
    fresh = GaussianNoise(0.3, seed=4)
    fresh.set_state(GaussianNoise(0.3, seed=4).state())  # "null": nothing to restore
    assert numpy.array_equal(fresh(x), GaussianNoise(0.3, seed=4)(x))


@pytest.mark.parametrize("noise_class,level", [(GaussianNoise, -0.1), (GaussianNoise, float("nan")),
                                               (MaskingNoise, -0.1), (MaskingNoise, 1.5), (MaskingNoise, float("nan")),
                                               (SaltAndPepperNoise, -0.01), (SaltAndPepperNoise, 1.01),
                                               (SaltAndPepperNoise, float("nan"))])
def test_bad_levels_raise_value_error_naming_the_value(noise_class, level):
    with pytest.raises(ValueError, match=noise_class.__name__):
        noise_class(level)


def test_noise_names_of_the_command_line():
    assert NOISES == {"gaussian": GaussianNoise, "masking": MaskingNoise, "salt-pepper": SaltAndPepperNoise}
    assert repr(MaskingNoise(0.25)) == "MaskingNoise(0.25)"


# --- the denoising model ----------------------------------------------------------------------------
def denoiser(seed=21):
    nn.manual_seed(0)
    base = DeepAutoencoder().to(dtype="float64")
    return base, DenoisingAutoencoder(base, GaussianNoise(0.3, seed=seed))


def test_noise_only_in_training_mode():
    base, model = denoiser()
    x = mnist_images(8)
    model.eval()
    assert numpy.array_equal(model(x), base(x))
    assert json.loads(model.noise.state()) is None  # eval mode drew nothing
    model.train()
    noisy_output = model(x)
    assert numpy.array_equal(noisy_output, base(GaussianNoise(0.3, seed=21)(x)))
    assert not numpy.array_equal(noisy_output, base(x))


def test_fit_corrupts_the_input_only_and_compares_with_the_clean_image():
    """Record what the loss is given: the prediction comes from noisy inputs, the target is the clean batch."""
    x = mnist_images(64)
    _, model = denoiser()

    class RecordingMSE(nn.MSELoss):
        targets, predictions = [], []

        def forward(self, pred, target):
            self.targets.append(target.copy())
            self.predictions.append(pred.copy())
            return super().forward(pred, target)

    loss = RecordingMSE()
    fit(model, DataLoader(x, batch_size=16, shuffle=False), loss, nn.Adam(model.parameters(), lr=0.0), epochs=1,
        progress=False)
    assert len(loss.targets) == 4
    twin = GaussianNoise(0.3, seed=21)
    base = denoiser()[0]  # lr 0: the weights did not move, so the same base replays every step
    for index, (target, prediction) in enumerate(zip(loss.targets, loss.predictions)):
        clean = x[index * 16:(index + 1) * 16]
        assert numpy.array_equal(target, clean)
        assert numpy.array_equal(prediction, base(twin(clean)))


def test_backward_of_the_denoiser_is_the_base_models_backward_at_the_noisy_input():
    base, model = denoiser()
    x = mnist_images(4)
    upstream = numpy.random.default_rng(0).standard_normal((4, 784))
    model.train()
    model(x)
    grad = model.backward(upstream.copy())
    twin_base = denoiser()[0]
    twin_base(GaussianNoise(0.3, seed=21)(x))
    assert numpy.array_equal(grad, twin_base.backward(upstream.copy()))
