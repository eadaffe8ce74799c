"""A torch user's habits on the engine (docs/from-pytorch.md): the seed tutorial's PyTorch program ported line by
line reaches torch's loss on the same weights and data; a loss's value is an array whose ``.backward()``
says in one line what to write instead; ``.to``, ``.double()``, ``.float()`` take torch's forms."""
import pickle

import numpy
import pytest
import torch

import nn
from datasets import DataLoader
from nn.losses import LossValue

STEPS, BATCH = 3, 32


# --- the seed's program, line by line ------------------------------------------------------------------
def seed_layers(library):
    """The seed's deep autoencoder (784-128-64-36-18-9 and back) in either library: the constructors are
    the same calls, so one function writes both."""
    encoder = library.Sequential(
        library.Linear(784, 128), library.ReLU(),
        library.Linear(128, 64), library.ReLU(),
        library.Linear(64, 36), library.ReLU(),
        library.Linear(36, 18), library.ReLU(),
        library.Linear(18, 9),
    )
    decoder = library.Sequential(
        library.Linear(9, 18), library.ReLU(),
        library.Linear(18, 36), library.ReLU(),
        library.Linear(36, 64), library.ReLU(),
        library.Linear(64, 128), library.ReLU(),
        library.Linear(128, 784), library.Sigmoid(),
    )
    return encoder, decoder


def synthetic_digits(count, seed=0):
    """Digit-like (1, 28, 28) images in [0, 1] (a bright blob on a dark ground) and labels 0-9."""
    rng = numpy.random.default_rng(seed)
    rows, cols = numpy.mgrid[0:28, 0:28]
    centres = rng.uniform(8, 20, (count, 2))
    blobs = numpy.exp(-((rows - centres[:, :1, None]) ** 2 + (cols - centres[:, 1:, None]) ** 2) / 18.0)
    images = numpy.clip(blobs + 0.05 * rng.random((count, 28, 28)), 0, 1)[:, None]
    return images.astype(numpy.float64), rng.integers(0, 10, count)


class TorchDigits(torch.utils.data.Dataset):
    """torchvision's MNIST(transform=ToTensor()) stand-in: (image tensor (1, 28, 28), int label)."""

    def __init__(self, images, labels):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        return torch.from_numpy(self.images[index]), int(self.labels[index])


class Digits:
    """The same dataset for the engine: a plain class with __len__ and __getitem__, NumPy items."""

    def __init__(self, images, labels):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        return self.images[index], int(self.labels[index])


def torch_program(images, labels, initial):
    """The seed's PyTorch loop (float64, no shuffle), from the given weights; the loss of each step and
    the loss of the trained model on the first batch."""
    encoder, decoder = seed_layers(torch.nn)
    model = torch.nn.Sequential(encoder, decoder).double()
    model.load_state_dict({name: torch.from_numpy(array) for name, array in initial.items()})
    criterion = torch.nn.MSELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-1, weight_decay=1e-8)
    loader = torch.utils.data.DataLoader(TorchDigits(images, labels), batch_size=BATCH, shuffle=False)
    losses = []
    for image, _ in loader:
        image = image.reshape(-1, 28 * 28)
        reconstructed = model(image)
        loss = criterion(reconstructed, image)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    with torch.no_grad():
        first = torch.from_numpy(images[:BATCH].reshape(-1, 28 * 28))
        final = criterion(model(first), first).item()
    return losses, final


def engine_program(images, labels):
    """The same program on the engine, each line the torch line's port; returns the initial weights too."""
    nn.manual_seed(0)
    encoder, decoder = seed_layers(nn)
    model = nn.Sequential(encoder, decoder).to(dtype=torch.float64)   # torch's dtype object is taken
    initial = model.state_dict()                                      # torch's keys: encoder.0.weight ...
    criterion = nn.MSELoss()
    optimizer = nn.Adam(model.parameters(), lr=1e-1, weight_decay=1e-8)
    loader = DataLoader(Digits(images, labels), batch_size=BATCH, shuffle=False)
    losses = []
    for image, _ in loader:
        image = image.reshape(-1, 28 * 28)
        reconstructed = model(image)
        loss = criterion(reconstructed, image)
        optimizer.zero_grad()
        model.backward(criterion.backward())                          # loss.backward(), written out
        optimizer.step()
        losses.append(loss.item())
    first = images[:BATCH].reshape(-1, 28 * 28)
    final = criterion(model(first), first).item()
    return losses, final, initial


def test_the_seed_program_ported_line_by_line_reaches_torchs_loss():
    images, labels = synthetic_digits(STEPS * BATCH)
    losses, final, initial = engine_program(images, labels)
    torch_losses, torch_final = torch_program(images, labels, initial)
    assert len(losses) == len(torch_losses) == STEPS
    assert final != losses[0]  # the three steps moved the weights
    numpy.testing.assert_allclose(losses, torch_losses, rtol=1e-12, atol=0)
    numpy.testing.assert_allclose(final, torch_final, rtol=1e-12, atol=0)


# --- value.backward(): torch's habit, refused with what to write -------------------------------------
CASES = [
    (nn.MSELoss, lambda rng: (rng.random((4, 3)), rng.random((4, 3)))),
    (nn.L1Loss, lambda rng: (rng.random((4, 3)), rng.random((4, 3)))),
    (nn.BCELoss, lambda rng: (rng.uniform(0.1, 0.9, (4, 3)), rng.random((4, 3)))),
    (nn.BCEWithLogitsLoss, lambda rng: (rng.standard_normal((4, 3)), rng.random((4, 3)))),
    (nn.NLLLoss, lambda rng: (numpy.log(rng.dirichlet(numpy.ones(3), 4)), rng.integers(0, 3, 4))),
    (nn.CrossEntropyLoss, lambda rng: (rng.standard_normal((4, 3)), rng.integers(0, 3, 4))),
]
IDS = [make.__name__ for make, _ in CASES]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("make, data", CASES, ids=IDS)
def test_value_backward_says_the_backward_is_explicit(make, data, reduction):
    loss = make(reduction=reduction)
    value = loss(*data(numpy.random.default_rng(0)))
    assert type(value) is LossValue and isinstance(value, numpy.ndarray)
    with pytest.raises(RuntimeError) as caught:
        value.backward()
    message = str(caught.value)
    assert "\n" not in message
    assert "backward is explicit" in message and f"with loss the {make.__name__} module, not the value" in message
    if reduction == "none":
        assert "model.backward(loss.backward(g))" in message and str(value.shape) in message
    else:
        assert "model.backward(loss.backward())" in message
    # the explicit form works right after the refused habit: nothing was consumed
    gradient = loss.backward(numpy.ones(value.shape) if reduction == "none" else 1.0)
    assert type(gradient) is numpy.ndarray and gradient.shape == data(numpy.random.default_rng(0))[0].shape


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("make, data", CASES, ids=IDS)
def test_a_loss_value_is_a_0d_float_array_otherwise(make, data, reduction):
    loss = make(reduction=reduction)
    value = loss(*data(numpy.random.default_rng(1)))
    plain = numpy.asarray(value)
    assert type(plain) is numpy.ndarray and plain.shape == () and plain.dtype == numpy.float64
    number = float(plain)
    assert float(value) == number and value.item() == number and type(value.item()) is float
    assert f"{value:.6f}" == f"{number:.6f}" and str(value) == str(plain)
    for result, expected in ((value * 2, plain * 2), (1 - value, 1 - plain), (value + value, plain + plain),
                             (numpy.log(value), numpy.log(plain)), (value.sum(), plain.sum()),
                             (value > 0, plain > 0), (numpy.stack([value, value]), numpy.stack([plain, plain]))):
        assert type(result) is type(expected), (type(result), type(expected))  # plain NumPy results
        numpy.testing.assert_array_equal(result, expected)
    assert type(value.copy()) is LossValue  # still the value itself
    assert float(pickle.loads(pickle.dumps(value))) == number


def test_float32_values_stay_float32_and_lists_of_values_sum_as_numbers():
    loss = nn.MSELoss()
    values = [loss(numpy.full(3, fill, dtype=numpy.float32), numpy.zeros(3, dtype=numpy.float32))
              for fill in (1.0, 2.0)]
    assert all(value.dtype == numpy.float32 for value in values)
    assert sum(values) == 5.0 and type(sum(values)) is numpy.float32
    assert numpy.mean(values) == 2.5 and type(numpy.mean(values)) is numpy.float32


def test_a_compiled_step_returns_the_same_refusing_value():
    nn.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 4, dtype="float64"), nn.ReLU(), nn.Linear(4, 5, dtype="float64"), nn.Sigmoid())
    x = numpy.random.default_rng(0).random((3, 5))
    step = nn.fast.compile(model, nn.MSELoss())
    value = step.forward(x, x)
    with pytest.raises(RuntimeError, match=r"after step = nn\.fast\.compile\(\.\.\.\): step\.backward\(\)"):
        value.backward()
    step.backward()
    assert all(parameter.grad is not None for parameter in model.parameters())


def test_the_gate_takes_a_plain_gradient_for_a_loss_value():
    loss = nn.MSELoss(reduction="none")
    value = loss(numpy.ones((2, 3)), numpy.zeros((2, 3)))
    assert loss._gate[2] is numpy.ndarray  # recorded as the plain array it is
    numpy.testing.assert_array_equal(loss.backward(numpy.ones((2, 3))), 2 * numpy.ones((2, 3)))
    loss(numpy.ones((2, 3)), numpy.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"grad_output has shape \(3,\) but the output has \(2, 3\)"):
        loss.backward(numpy.ones(3))
    assert type(value) is LossValue


# --- .to and its short forms, as torch's ----------------------------------------------------------------
@pytest.mark.parametrize("call, dtype", [
    (lambda model: model.to(torch.float64), "float64"),
    (lambda model: model.to(dtype=torch.float64), "float64"),
    (lambda model: model.to("float64"), "float64"),
    (lambda model: model.to(numpy.float64), "float64"),
    (lambda model: model.to(torch.device("cpu"), torch.float64), "float64"),
    (lambda model: model.double(), "float64"),
    (lambda model: model.double().float(), "float32"),
    (lambda model: model.cpu(), "float32"),
])
def test_to_takes_torchs_forms(call, dtype):
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU())
    assert call(model) is model
    assert model[0].weight.dtype == numpy.dtype(dtype) and model.device == "cpu"


def test_what_to_refuses_is_one_line_with_the_fix():
    model = nn.Linear(3, 2)
    with pytest.raises(TypeError, match=r"float16 is not supported; use \.float\(\) \(float32\) or \.double\(\)"):
        model.half()
    with pytest.raises(ValueError, match="unsupported dtype 'float16'"):
        model.to(torch.float16)
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        model.to("tpu")
    with pytest.raises(ValueError, match=r"the engine uses one GPU: call \.cuda\(\)"):
        model.cuda(1)
    assert model.weight.dtype == numpy.float32  # nothing moved
