"""More layer, activation and argument checks that mutation testing found unreached (tests/mutation/mutants.py,
target nn.layers): the sign of a zero output against torch, Dropout's keep rule at its boundary and its
seed, and a loss weight that the caller edits in place after building the loss, as torch sees it."""
import numpy
import pytest
import torch

import nn
from conftest import assert_close

ZEROS = numpy.array([0.0, -0.0, 2.0, -2.0])


@pytest.mark.parametrize("alpha", [1.0, 2.0, -1.0, -0.5])
def test_elu_keeps_the_sign_of_a_zero_input_as_torch(alpha):
    """torch's ELU gives x itself at +0 and at -0; (e^0 - 1) alpha would be +0 (or -0 for a negative alpha)."""
    x = ZEROS.copy()
    expected = torch.nn.ELU(alpha=alpha)(torch.from_numpy(x)).numpy()
    y = nn.ELU(alpha=alpha)(x)
    assert_close(y, expected, 1e-15)
    assert numpy.signbit(y).tolist() == numpy.signbit(expected).tolist()


@pytest.mark.parametrize("slope", [0.01, 0.5, -0.5, -2.0])
def test_leaky_relu_keeps_the_sign_of_a_zero_input_as_torch(slope):
    """torch's LeakyReLU takes the sloped branch at 0: +0 * slope is -0 for a negative slope."""
    x = ZEROS.copy()
    expected = torch.nn.LeakyReLU(slope)(torch.from_numpy(x)).numpy()
    y = nn.LeakyReLU(slope)(x)
    assert_close(y, expected, 1e-15)
    assert numpy.signbit(y).tolist() == numpy.signbit(expected).tolist()


@pytest.mark.parametrize("name, options", [("ELU", {"alpha": -1.0}), ("LeakyReLU", {"negative_slope": -0.5})])
def test_the_gradient_at_zero_is_torchs(name, options):
    x = ZEROS.copy()
    tx = torch.from_numpy(x).requires_grad_()
    getattr(torch.nn, name)(**options)(tx).backward(torch.ones(4, dtype=torch.float64))
    layer = getattr(nn, name)(**options)
    layer(x)
    assert_close(layer.backward(numpy.ones(4)), tx.grad.numpy(), 1e-15)


class _Uniforms:
    """A generator whose uniform draws are given: Dropout's rule can then be read at its boundary."""

    def __init__(self, values):
        self.values = values

    def random(self, shape, dtype=numpy.float64):
        return numpy.asarray(self.values, dtype=dtype).reshape(shape)


def test_dropout_keeps_an_element_whose_draw_equals_p():
    """keep = u >= p: with u uniform on [0, 1) that keeps each element with probability exactly 1 - p (on
    float32's grid of draws u = k 2^-24, u == p has probability 2^-24 per element, not zero)."""
    p = 0.375  # on the grid of float32 and float64 draws
    layer = nn.Dropout(p)
    layer._generator = lambda device: _Uniforms([p, numpy.nextafter(numpy.float32(p), numpy.float32(0)), 0.0, 0.9])
    x = numpy.ones(4, dtype=numpy.float32)
    y = layer(x)
    scale = numpy.float32(1 / (1 - p))
    assert y.tolist() == [scale, 0.0, 0.0, scale]
    assert layer.backward(numpy.ones(4, dtype=numpy.float32)).tolist() == [scale, 0.0, 0.0, scale]


def test_dropout_keeps_its_seed():
    """The seed is kept as given, as p and inplace are (copies and reports read it there)."""
    layer = nn.Dropout(0.25, seed=11)
    assert (layer.p, layer.inplace, layer.seed) == (0.25, False, 11)
    assert nn.Dropout(0.25).seed is None


def test_a_seeded_dropout_draws_the_same_masks_as_another_with_that_seed():
    x = numpy.ones((64, 8), dtype=numpy.float32)
    first, second = nn.Dropout(0.5, seed=3), nn.Dropout(0.5, seed=3)
    for _ in range(2):
        assert numpy.array_equal(first(x), second(x))
    assert not numpy.array_equal(nn.Dropout(0.5, seed=4)(x), nn.Dropout(0.5, seed=3)(x))


def _edited_in_place(weight):
    weight *= 3
    weight[0] = 1


@pytest.mark.parametrize("dtype", ["float32", "int64"])
def test_a_class_weight_edited_in_place_after_building_the_loss_counts_as_in_torch(dtype):
    """torch keeps the weight tensor it was given (a buffer, not a copy): an in-place edit of it afterwards
    changes the loss. The engine keeps the caller's array too, whatever its real dtype."""
    rng = numpy.random.default_rng(0)
    logits = rng.standard_normal((5, 3)).astype(numpy.float32)
    labels = numpy.array([0, 1, 2, 1, 0])
    weight = numpy.array([1, 2, 3], dtype=dtype)
    loss = nn.CrossEntropyLoss(weight=weight)
    torch_weight = torch.tensor(weight, dtype=torch.float32)
    reference = torch.nn.CrossEntropyLoss(weight=torch_weight)
    _edited_in_place(weight)
    _edited_in_place(torch_weight)
    expected = reference(torch.from_numpy(logits), torch.from_numpy(labels)).item()
    assert_close(loss(logits, labels), expected, 1e-6)


def test_bce_weights_edited_in_place_after_building_the_loss_count_as_in_torch():
    rng = numpy.random.default_rng(1)
    logits = rng.standard_normal((4, 3)).astype(numpy.float32)
    target = rng.random((4, 3)).astype(numpy.float32)
    weight = numpy.array([1.0, 2.0, 0.5], dtype=numpy.float32)
    pos_weight = numpy.array([0.5, 1.0, 4.0], dtype=numpy.float32)
    losses = [nn.BCEWithLogitsLoss(weight=weight, pos_weight=pos_weight), nn.BCELoss(weight=weight)]
    torch_weight, torch_pos_weight = torch.from_numpy(weight.copy()), torch.from_numpy(pos_weight.copy())
    references = [torch.nn.BCEWithLogitsLoss(weight=torch_weight, pos_weight=torch_pos_weight),
                  torch.nn.BCELoss(weight=torch_weight)]
    for array in (weight, pos_weight, torch_weight, torch_pos_weight):
        _edited_in_place(array)
    probabilities = 1 / (1 + numpy.exp(-logits))
    for loss, reference, x in zip(losses, references, (logits, probabilities)):
        expected = reference(torch.from_numpy(x), torch.from_numpy(target)).item()
        assert_close(loss(x, target), expected, 1e-6)


def _raises(error, message, function, *args, **kwargs):
    with pytest.raises(error) as caught:
        function(*args, **kwargs)
    assert str(caught.value) == message


def test_a_torch_parameter_as_a_loss_weight_is_named_as_a_tensor():
    """A torch model's weight is a torch.nn.Parameter, whose type lives in torch.nn.parameter, not in torch."""
    weight = torch.nn.Parameter(torch.ones(3))
    for loss in (nn.CrossEntropyLoss, nn.NLLLoss, nn.BCELoss):
        _raises(TypeError, f"{loss.__name__}: weight is a torch.Tensor; pass an array: weight.detach().cpu().numpy()",
                loss, weight=weight)
    _raises(TypeError, "BCEWithLogitsLoss: pos_weight is a torch.Tensor; pass an array: "
            "pos_weight.detach().cpu().numpy()", nn.BCEWithLogitsLoss, pos_weight=weight)


def test_a_torch_parameter_given_to_a_losss_forward_is_named_as_a_tensor():
    """forward, called directly, skips the gate's check of its inputs: the loss names a torch Parameter itself."""
    x = numpy.ones(3, dtype=numpy.float32)
    parameter = torch.nn.Parameter(torch.ones(3))
    _raises(TypeError, "MSELoss: the target is a torch.Tensor, not an array; convert it with .detach().cpu().numpy()",
            nn.MSELoss().forward, x, parameter)
    _raises(TypeError, "L1Loss: the prediction is a torch.Tensor, not an array; convert it with "
            ".detach().cpu().numpy()", nn.L1Loss().forward, parameter, x)
