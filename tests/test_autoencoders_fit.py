"""The training loop: what History records, bit-for-bit reproducibility on the CPU, silence without
a progress bar, continuing a history, and TrainingDiverged on a NaN or infinite loss."""
import math

import numpy
import pytest

import nn
from autoencoders import DeepAutoencoder, History, SimpleAutoencoder, TrainingDiverged, evaluate, fit
from autoencoders.training import per_image_mse, predict
from datasets import DataLoader
from helpers_autoencoders import single_threaded_blas  # noqa: F401  (autouse fixture)
from helpers_autoencoders import mnist_images

TRAIN, TEST = 100, 40  # 100 images in batches of 32: three full batches and one of 4


@pytest.fixture(scope="module")
def data():
    images = mnist_images(TRAIN + TEST, "float32")
    return images[:TRAIN], images[TRAIN:]


def run(data, seed=0, epochs=3, model_class=DeepAutoencoder, **fit_options):
    train, test = data
    nn.manual_seed(seed)
    model = model_class()
    optimizer = nn.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(train, batch_size=32, shuffle=True, seed=seed)
    history = fit(model, loader, nn.MSELoss(), optimizer, epochs, progress=False, **fit_options)
    return model, history


def test_history_records_every_iteration_and_every_epoch(data):
    model, history = run(data, test_data=data[1])
    assert isinstance(history, History)
    assert len(history.iteration_loss) == 3 * 4 and history.epochs == 3
    for name in ("train_loss", "test_loss", "epoch_seconds", "samples_per_second"):
        assert len(getattr(history, name)) == 3, name
    assert all(isinstance(value, float) and math.isfinite(value) for value in history.iteration_loss)
    assert all(seconds > 0 for seconds in history.epoch_seconds)
    for seconds, rate in zip(history.epoch_seconds, history.samples_per_second):
        assert rate == pytest.approx(TRAIN / seconds, rel=1e-9)
    # The epoch's training loss is the mean over images of its iterations' losses (the last batch has 4).
    sizes = numpy.array([32, 32, 32, 4])
    for epoch in range(3):
        losses = numpy.array(history.iteration_loss[4 * epoch:4 * epoch + 4])
        assert history.train_loss[epoch] == pytest.approx(float((losses * sizes).sum() / TRAIN), rel=1e-12)
    # The test loss is measured after the epoch: the last equals evaluating the final model.
    assert history.test_loss[-1] == evaluate(model, data[1], nn.MSELoss())
    assert history.test_loss[-1] < history.test_loss[0]
    assert history.iteration_loss[-1] < history.iteration_loss[0]


def test_history_without_test_data_and_its_dict_round_trip(data):
    _, history = run(data, epochs=2)
    assert history.test_loss == [None, None]
    as_dict = history.to_dict()
    assert set(as_dict) == {"iteration_loss", "train_loss", "test_loss", "epoch_seconds", "samples_per_second"}
    again = History.from_dict(as_dict)
    assert again == history and again.epochs == 2
    assert History.from_dict({}).epochs == 0


def test_same_seed_same_numbers_bit_for_bit(data):
    model_a, history_a = run(data, seed=3, test_data=data[1])
    model_b, history_b = run(data, seed=3, test_data=data[1])
    assert history_a.iteration_loss == history_b.iteration_loss
    assert history_a.train_loss == history_b.train_loss
    assert history_a.test_loss == history_b.test_loss
    for (name, a), b in zip(model_a.state_dict().items(), model_b.state_dict().values()):
        assert numpy.array_equal(a, b), name
    _, history_c = run(data, seed=4, test_data=data[1])
    assert history_c.iteration_loss != history_a.iteration_loss


def test_silent_without_progress_and_a_bar_on_stderr_with_it(data, capsys):
    run(data, epochs=1, test_data=data[1])
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    train, _ = data
    model = DeepAutoencoder()
    fit(model, DataLoader(train, batch_size=32, seed=0), nn.MSELoss(), nn.Adam(model.parameters()), 1, progress=True)
    captured = capsys.readouterr()
    assert captured.out == "" and "4/4" in captured.err


def test_on_epoch_end_and_a_continued_history_number_epochs_on(data):
    seen = []
    _, history = run(data, epochs=2, on_epoch_end=lambda epoch, history: seen.append((epoch, history.epochs)))
    assert seen == [(1, 1), (2, 2)]
    _, continued = run(data, epochs=2, history=history,
                       on_epoch_end=lambda epoch, history: seen.append((epoch, history.epochs)))
    assert continued is history
    assert seen[2:] == [(3, 3), (4, 4)]
    assert len(continued.iteration_loss) == 16 and continued.epochs == 4


def test_nan_in_the_data_raises_training_diverged_with_epoch_and_iteration(data):
    train = data[0].copy()
    train[70, 5] = numpy.nan  # in the third batch without shuffling
    model = DeepAutoencoder()
    history = History()
    with pytest.raises(TrainingDiverged) as caught:
        fit(model, DataLoader(train, batch_size=32, shuffle=False), nn.MSELoss(), nn.Adam(model.parameters()), 3,
            progress=False, history=history)
    error = caught.value
    assert (error.epoch, error.iteration) == (1, 3) and math.isnan(error.value)
    assert "epoch 1, iteration 3" in str(error) and "lower the learning rate" in str(error)
    assert len(history.iteration_loss) == 2 and history.epochs == 0  # nothing non-finite was recorded
    assert all(numpy.isfinite(p.data).all() for p in model.parameters())  # no step was taken with it


def test_divergence_in_a_later_epoch_names_that_epoch(data):
    train = data[0].copy()

    def poison(epoch, history):
        train[40, 0] = numpy.nan  # the loader holds this very array: epoch 2's second batch sees it

    model = DeepAutoencoder()
    with pytest.raises(TrainingDiverged, match="epoch 2, iteration 2") as caught:
        fit(model, DataLoader(train, batch_size=32, shuffle=False), nn.MSELoss(), nn.Adam(model.parameters()), 3,
            progress=False, on_epoch_end=poison)
    assert (caught.value.epoch, caught.value.iteration) == (2, 2)


def test_a_huge_learning_rate_in_float32_diverges(data):
    nn.manual_seed(0)
    model = DeepAutoencoder()
    with numpy.errstate(all="ignore"), pytest.raises(TrainingDiverged) as caught:
        fit(model, DataLoader(data[0], batch_size=32, seed=0), nn.MSELoss(), nn.Adam(model.parameters(), lr=1e6), 5,
            progress=False)
    assert not math.isfinite(caught.value.value)
    assert caught.value.epoch >= 1 and caught.value.iteration >= 1


def test_training_with_labels_in_the_batches(data):
    """A loader of (images, labels) pairs trains on the images alone."""
    train, _ = data
    labels = numpy.arange(TRAIN) % 10
    nn.manual_seed(0)
    with_labels = DeepAutoencoder()
    history_with = fit(with_labels, DataLoader(train, labels=labels, batch_size=32, seed=1), nn.MSELoss(),
                       nn.Adam(with_labels.parameters()), 1, progress=False)
    nn.manual_seed(0)
    without = DeepAutoencoder()
    history_without = fit(without, DataLoader(train, batch_size=32, seed=1), nn.MSELoss(),
                          nn.Adam(without.parameters()), 1, progress=False)
    assert history_with.iteration_loss == history_without.iteration_loss


def test_evaluate_and_per_image_mse_average_over_images_whatever_the_batch_size(data):
    _, test = data
    nn.manual_seed(0)
    model = SimpleAutoencoder().to(dtype="float64")
    images = test.astype("float64")
    expected = float(((predict(model, images) - images) ** 2).mean())
    assert evaluate(model, images, nn.MSELoss(), batch_size=7) == pytest.approx(expected, rel=1e-12)
    assert evaluate(model, images, nn.MSELoss()) == pytest.approx(expected, rel=1e-12)
    errors = per_image_mse(model, images)
    assert errors.shape == (TEST,)
    assert errors.mean() == pytest.approx(expected, rel=1e-12)
    assert errors[3] == pytest.approx(float(((model(images[3:4]) - images[3:4]) ** 2).mean()), rel=1e-12)


class _PoisoningAdam(nn.Adam):
    """Adam whose ``poison_at``-th step leaves NaN in the weights, after a finite loss."""

    def __init__(self, params, poison_at):
        super().__init__(params, lr=1e-3)
        self.poison_at = poison_at

    def step(self):
        super().step()
        if self.step_count == self.poison_at:
            self.param_groups[0]["params"][0].data.flat[0] = numpy.nan


def test_nan_weights_after_the_last_step_of_an_epoch_stop_before_the_epoch_is_saved(data):
    train, test = data
    model = DeepAutoencoder()
    optimizer = _PoisoningAdam(model.parameters(), poison_at=4)  # the last step of epoch 1 (4 batches)
    saved = []
    with pytest.raises(TrainingDiverged) as raised:
        fit(model, DataLoader(train, batch_size=32, seed=0), nn.MSELoss(), optimizer, 3, test_data=test,
            progress=False, on_epoch_end=lambda epoch, history: saved.append(epoch))
    assert raised.value.epoch == 1 and raised.value.iteration == 4
    assert saved == []  # no checkpoint of NaN weights is ever offered as "the last good one"


class _InterruptedLoader:
    """A loader whose second epoch is cut short by Ctrl-C after two batches."""

    def __init__(self, images):
        self.loader, self.epochs = DataLoader(images, batch_size=32, seed=0), 0

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        self.epochs += 1
        for index, batch in enumerate(self.loader):
            if self.epochs == 2 and index == 2:
                raise KeyboardInterrupt
            yield batch


def test_an_interrupted_epoch_leaves_only_whole_epochs_in_the_history(data):
    model = DeepAutoencoder()
    history = History()
    with pytest.raises(KeyboardInterrupt):
        fit(model, _InterruptedLoader(data[0]), nn.MSELoss(), nn.Adam(model.parameters()), 3, progress=False,
            history=history)
    assert history.epochs == 1 and len(history.iteration_loss) == 4
