"""Activations and Softmax/LogSoftmax: torch's signatures, 0-d and unbatched inputs, gradients of
the wrong shape refused, softmax parity on every dim, and the plain Sigmoid/ReLU formulas held equal to
their fast forms (nn/fast/activations.py)."""
import inspect

import numpy
import pytest
import torch

import nn
from conftest import assert_close
from helpers_nn import BACKENDS, DTYPES, RTOL, TORCH_DTYPES, assert_backend
from nn import activations
from nn.fast import activations as activations_fast

ACTIVATIONS = ["Identity", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "ELU", "Softplus", "GELU", "Softmax",
               "LogSoftmax"]
LOSSES = ["MSELoss", "L1Loss", "BCELoss", "BCEWithLogitsLoss", "NLLLoss", "CrossEntropyLoss"]


def parameters(cls):
    """(name, kind, default) of every constructor parameter; torch's Module.__init__(*args, **kwargs) that
    Sigmoid and Tanh inherit means "no parameters" (it refuses any)."""
    signature = inspect.signature(cls)
    found = [(p.name, p.kind, p.default) for p in signature.parameters.values()]
    if cls.__init__ is torch.nn.Module.__init__:
        return []
    return found


@pytest.mark.parametrize("name", ACTIVATIONS + LOSSES)
def test_signature_is_torchs(name):
    ours = parameters(getattr(nn, name))
    theirs = parameters(getattr(torch.nn, name))
    positional = [entry for entry in ours if entry[1] is not inspect.Parameter.KEYWORD_ONLY]
    assert [entry[0] for entry in positional] == [entry[0] for entry in theirs], name
    for (our_name, _, our_default), (_, _, their_default) in zip(positional, theirs):
        assert our_default == their_default, (name, our_name)


@pytest.mark.parametrize("make, message", [
    (lambda: nn.LeakyReLU(0.2, True), r"LeakyReLU: inplace=True is not supported"),
    (lambda: nn.ELU(1.0, True), r"ELU: inplace=True is not supported"),
    (lambda: nn.GELU("erf"), r"GELU: approximate must be 'none' or 'tanh', got 'erf'"),
])
def test_unsupported_options_are_refused_by_name(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_identity_ignores_its_arguments_as_torch():
    x = numpy.arange(3.0)
    assert nn.Identity(54, unused=0.1)(x) is x


# --- 0-d and unbatched inputs ---------------------------------------------------------------------------
ELEMENTWISE = [("Identity", {}), ("ReLU", {}), ("ReLU", {"inplace": True}), ("LeakyReLU", {}), ("Sigmoid", {}),
               ("Tanh", {}), ("ELU", {}), ("Softplus", {}), ("Softplus", {"beta": 2, "threshold": 0.5}),
               ("GELU", {}), ("GELU", {"approximate": "tanh"}), ("Softmax", {"dim": 0}),
               ("LogSoftmax", {"dim": -1})]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("make", ["numpy-scalar", "0-d-array"])
@pytest.mark.parametrize("name, options", ELEMENTWISE, ids=lambda value: str(value))
def test_zero_dimensional_inputs_match_torch(name, options, make, dtype):
    value = numpy.dtype(dtype).type(0.3)
    x = value if make == "numpy-scalar" else numpy.array(value)
    x_torch = torch.tensor(0.3, dtype=TORCH_DTYPES[dtype], requires_grad=True)
    y_torch = getattr(torch.nn, name)(**options)(x_torch.clone())  # clone: in-place ReLU on a leaf
    y_torch.backward(torch.tensor(-1.7, dtype=TORCH_DTYPES[dtype]))
    module = getattr(nn, name)(**options)
    y = module(x)
    grad = module.backward(numpy.array(-1.7, dtype=dtype))
    for result in (y, grad):
        assert isinstance(result, numpy.ndarray) and result.shape == () and result.dtype == dtype
    assert_close(y, y_torch, RTOL[dtype], "output")
    assert_close(grad, x_torch.grad, RTOL[dtype], "gradient")


@pytest.mark.parametrize("name, options", ELEMENTWISE, ids=lambda value: str(value))
def test_gradient_of_another_shape_is_refused_never_broadcast(name, options, nn_rng):
    module = getattr(nn, name)(**options)
    module(nn_rng.standard_normal((4, 10)))
    for wrong in (numpy.ones((1, 10)), numpy.ones((10,)), numpy.ones((4, 10, 1)), 1.0):
        with pytest.raises(ValueError, match=rf"{name}.backward: grad_output has shape .* but the output has "
                                             r"\(4, 10\); pass dL/dy with exactly the output's shape"):
            module.backward(wrong)


def test_gradient_shape_is_checked_through_sequential(nn_rng):
    model = nn.Sequential(nn.Linear(10, 3, dtype="float64"), nn.Sigmoid())
    model(nn_rng.standard_normal((4, 10)))
    with pytest.raises(ValueError, match=r"^Sequential.backward: grad_output has shape \(1, 3\) but the output has "
                                         r"\(4, 3\)"):  # the gate of the outermost call checks it first
        model.backward(numpy.ones((1, 3)))


# --- Softmax and LogSoftmax -------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, dim", [((7, 5), 1), ((7, 5), 0), ((3, 5, 4), 1), ((3, 5, 4), -1), ((2, 3, 4, 5), 2),
                                        ((6,), 0), ((1, 1), 1)], ids=str)
@pytest.mark.parametrize("name", ["Softmax", "LogSoftmax"])
def test_softmax_matches_torch(name, shape, dim, dtype, backend, nn_rng):
    x = (nn_rng.standard_normal(shape) * 4).astype(dtype)
    grad_output = nn_rng.standard_normal(shape).astype(dtype)
    x_torch = torch.from_numpy(x.copy()).requires_grad_()
    y_torch = getattr(torch.nn, name)(dim)(x_torch)
    y_torch.backward(torch.from_numpy(grad_output))
    module = getattr(nn, name)(dim)
    y = module(backend.array(x))
    grad = module.backward(backend.array(grad_output))
    assert_backend(backend, dtype, output=y, input_gradient=grad)
    assert_close(y, y_torch, RTOL[dtype], "output")
    assert_close(grad, x_torch.grad, RTOL[dtype], "input gradient")


@pytest.mark.parametrize("name", ["Softmax", "LogSoftmax"])
def test_softmax_of_huge_logits_is_finite(name):
    x = numpy.array([[1000.0, -1000.0, 999.0]])
    y = getattr(nn, name)(1)(x)
    expected = torch.nn.functional.softmax(torch.from_numpy(x), 1) if name == "Softmax" else \
        torch.nn.functional.log_softmax(torch.from_numpy(x), 1)
    assert numpy.isfinite(y).all()
    assert_close(y, expected, 1e-12, "output")


@pytest.mark.parametrize("shape, implied", [((5,), 0), ((4, 5), 1), ((2, 3, 4), 0), ((2, 3, 4, 5), 1)])
def test_softmax_without_dim_takes_torchs_implicit_dim_and_warns(shape, implied, nn_rng):
    x = nn_rng.standard_normal(shape)
    with pytest.warns(UserWarning, match="implicit dimension choice is deprecated"):
        y = nn.Softmax()(x)
    numpy.testing.assert_allclose(y, nn.Softmax(implied)(x), rtol=0, atol=0)


def test_softmax_refuses_a_dim_out_of_range():
    with pytest.raises(ValueError, match=r"Softmax: dim=2 is out of range for an input with 2 dimensions"):
        nn.Softmax(2)(numpy.zeros((3, 4)))


@pytest.mark.parametrize("name", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("shape, dim", [((3, 4), 1), ((2, 3, 2), 1), ((5,), 0)], ids=str)
def test_softmax_gradcheck(name, shape, dim, nn_rng):
    assert nn.gradcheck(getattr(nn, name)(dim), nn_rng.standard_normal(shape)).passed


# --- plain and fast forms ---------------------------------------------------------------------------------------
def extreme_inputs(rng, dtype):
    """Normal values, saturation on both sides and exact zeros, in an odd shape."""
    x = rng.standard_normal((37, 29)) * 8
    x.ravel()[:6] = [-1000.0, -100.0, 0.0, -0.0, 100.0, 1000.0]
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fast_sigmoid_is_the_modules_formula_bit_for_bit(dtype, nn_rng):
    x = extreme_inputs(nn_rng, dtype)
    grad_output = nn_rng.standard_normal(x.shape).astype(dtype)
    layer = nn.Sigmoid()  # the plain form: the module's own forward and backward
    y = layer(x.copy())
    grad_input = layer.backward(grad_output.copy())
    numpy.testing.assert_array_equal(activations_fast.sigmoid_in_place_passes(x.copy()), y)
    numpy.testing.assert_array_equal(activations_fast.sigmoid_backward_in_place_passes(y, grad_output.copy()),
                                     grad_input)
    numpy.testing.assert_array_equal(activations_fast.sigmoid_fast(x.copy()), y)
    numpy.testing.assert_array_equal(activations_fast.sigmoid_backward_fast(y, grad_output.copy()), grad_input)


def test_inplace_relu_writes_its_output_into_the_input_as_torch(nn_rng):
    x, grad_output = nn_rng.standard_normal((2, 7, 5))
    expected = numpy.maximum(x, 0)
    relu = nn.ReLU(inplace=True)
    assert relu(x) is x and (x >= 0).all()
    numpy.testing.assert_array_equal(x, expected)
    numpy.testing.assert_array_equal(relu.backward(grad_output), grad_output * (expected > 0))


@pytest.mark.parametrize("name", ["ReLU", "Sigmoid", "LeakyReLU", "Tanh", "ELU", "Softplus", "GELU"])
def test_activations_never_write_into_the_callers_arrays(name, nn_rng):
    x, grad_output = nn_rng.standard_normal((2, 9, 11))
    x_before, grad_before = x.copy(), grad_output.copy()
    module = getattr(nn, name)()
    y = module(x)
    grad = module.backward(grad_output)
    numpy.testing.assert_array_equal(x, x_before)
    numpy.testing.assert_array_equal(grad_output, grad_before)
    assert not numpy.shares_memory(y, x) and not numpy.shares_memory(grad, grad_output)
