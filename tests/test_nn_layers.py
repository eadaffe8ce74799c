"""Linear, Flatten, Unflatten, Dropout as a torch user calls them: torch's positional arguments mean
torch's things, the engine's extras are keyword-only, every wrong argument is one clear line, inputs
of any batch shape, gradients of the wrong shape refused, torch's initial distribution, and the
caller's arrays left alone. (Parity with torch on values lives in test_nn_parity.py's catalogue.)"""
import math

import numpy
import pytest
import scipy.stats
import torch

import nn
from conftest import assert_close
from helpers_nn import MODULE_CASES, module_input


# --- torch's positional arguments ------------------------------------------------------------------------
def test_positional_arguments_mean_what_they_mean_in_torch():
    layer = nn.Linear(3, 2, False, "cpu", "float64")
    assert layer.bias is None and layer.weight.dtype == numpy.float64
    dropout = nn.Dropout(0.5, True)
    assert dropout.inplace is True and dropout.seed is None
    flatten = nn.Flatten(0, 1)
    assert (flatten.start_dim, flatten.end_dim) == (0, 1)


def test_torch_dtypes_and_devices_are_taken_by_name():
    layer = nn.Linear(3, 2, device=torch.device("cpu"), dtype=torch.float64)
    assert layer.weight.dtype == numpy.float64 and nn.device_of(layer.weight.data) == "cpu"
    assert nn.Linear(3, 2, dtype=numpy.float64).weight.dtype == numpy.float64
    assert nn.Linear(3, 2).weight.dtype == numpy.float32  # torch's default


@pytest.mark.parametrize("build, error, message", [
    (lambda: nn.Linear(3, 2, "float64"), TypeError, "Linear: bias must be True or False, got 'float64'"),
    (lambda: nn.Linear(3, 2, True, 1), ValueError, "Linear: device must be None, 'cpu' or 'gpu' \\('cuda'\\), got 1"),
    (lambda: nn.Linear(3, 2, True, "float64"), ValueError, "Linear: device must be .* got 'float64'"),
    (lambda: nn.Linear(3, 2, True, None, 1), ValueError, "Linear: unsupported dtype 1: use None, 'float32' or"),
    (lambda: nn.Linear(3, 2, dtype=torch.float16), ValueError, "Linear: unsupported dtype torch.float16"),
    (lambda: nn.Linear(3, 2, rng=(1, 2)), TypeError, "Linear: rng must be a numpy.random.Generator, got tuple"),
    (lambda: nn.Linear(3, 2, True, None, None, numpy.random.default_rng()), TypeError, "positional argument"),
    (lambda: nn.Dropout(0.5, 7), TypeError, "Dropout: inplace must be True or False, got 7"),
    (lambda: nn.Dropout("0.5"), ValueError, "Dropout: p must be in \\[0, 1\\]"),
    (lambda: nn.Dropout(0.5, seed=1.5), TypeError, "Dropout: seed must be None or an integer, got 1.5"),
    (lambda: nn.Flatten(1.0), TypeError, "Flatten: start_dim must be an integer, got 1.0"),
    (lambda: nn.Flatten(2, 1), ValueError, "Flatten: start_dim=2 comes after end_dim=1"),
    (lambda: nn.Flatten(-1, -2), ValueError, "Flatten: start_dim=-1 comes after end_dim=-2"),
    (lambda: nn.Unflatten(1, 4), ValueError, "Unflatten: unflattened_size must be a tuple .* got 4"),
    (lambda: nn.Unflatten(1, (2, -1, -1)), ValueError, "one may be -1"),
    (lambda: nn.Unflatten(1, (2, 0)), ValueError, "unflattened_size must be"),
    (lambda: nn.Unflatten("1", (2, 2)), TypeError, "Unflatten: dim must be an integer"),
], ids=lambda value: None if callable(value) else str(value)[:40])
def test_bad_arguments_are_one_clear_line(build, error, message):
    with pytest.raises(error, match=message) as caught:
        build()
    assert "\n" not in str(caught.value)


# --- shapes --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(5,), (2, 5), (2, 3, 5), (1, 2, 1, 5)], ids=str)
def test_linear_takes_any_leading_dimensions(shape, nn_rng):
    reference = torch.nn.Linear(5, 3, dtype=torch.float64)
    layer = nn.Linear(5, 3, dtype="float64")
    layer.load_state_dict({name: value.detach().numpy() for name, value in reference.state_dict().items()})
    x, grad_output = nn_rng.standard_normal(shape), nn_rng.standard_normal(shape[:-1] + (3,))
    x_torch = torch.from_numpy(x.copy()).requires_grad_()
    y_torch = reference(x_torch)
    y_torch.backward(torch.from_numpy(grad_output))
    assert_close(layer(x), y_torch, 1e-12, "output")
    assert_close(layer.backward(grad_output), x_torch.grad, 1e-12, "input gradient")
    assert_close(layer.weight.grad, reference.weight.grad, 1e-12, "weight gradient")
    assert_close(layer.bias.grad, reference.bias.grad, 1e-12, "bias gradient")


def test_linear_refuses_a_scalar_and_the_wrong_width():
    with pytest.raises(ValueError, match=r"expected input of shape \(\*, 5\), got \(\)"):
        nn.Linear(5, 3)(numpy.float32(1.0) * numpy.ones((), dtype="float32"))
    with pytest.raises(ValueError, match=r"expected input of shape \(\*, 5\), got \(2, 3, 4\)"):
        nn.Linear(5, 3)(numpy.ones((2, 3, 4), dtype="float32"))


@pytest.mark.parametrize("module, shape", [(nn.Flatten(5), (2, 3, 4)), (nn.Flatten(0, -4), (2, 3, 4)),
                                           (nn.Unflatten(3, (1, 2)), (2, 3, 2))], ids=repr)
def test_a_dimension_out_of_range_is_refused_not_wrapped(module, shape):
    with pytest.raises(IndexError, match=r"out of range for an input of shape"):
        module(numpy.zeros(shape))


def test_flatten_refuses_start_after_end_once_the_dimensions_are_known():
    layer = nn.Flatten(2, -2)  # fine for 4-D inputs, start after end for 3-D ones
    assert layer(numpy.zeros((2, 3, 4, 5))).shape == (2, 3, 4, 5)
    with pytest.raises(ValueError, match="start_dim comes after end_dim for an input of shape \\(2, 3, 4\\)"):
        layer(numpy.zeros((2, 3, 4)))
    with torch.no_grad(), pytest.raises(RuntimeError, match="start_dim cannot come after end_dim"):
        torch.nn.Flatten(2, -2)(torch.zeros(2, 3, 4))  # torch refuses the same


def test_unflatten_infers_one_size_as_torch(nn_rng):
    x = nn_rng.standard_normal((3, 12, 2))
    y = nn.Unflatten(1, (2, -1, 3))(x)
    assert y.shape == tuple(torch.nn.Unflatten(1, (2, -1, 3))(torch.from_numpy(x)).shape) == (3, 2, 2, 3, 2)
    with pytest.raises(ValueError, match="has 12 elements, which unflattened_size \\(5, -1\\) does not split"):
        nn.Unflatten(1, (5, -1))(x)


@pytest.mark.parametrize("shape", [(), (7,), (2, 3, 4, 5, 2)], ids=str)
def test_dropout_takes_any_shape(shape, nn_rng):
    dropout = nn.Dropout(0.5, seed=3)
    x = nn_rng.uniform(1, 2, shape)
    y = dropout(x)
    grad_input = dropout.backward(numpy.ones(shape) * 3)
    assert y.shape == grad_input.shape == shape
    numpy.testing.assert_allclose(grad_input, 3 * y / x, rtol=1e-15)


@pytest.mark.parametrize("module, shape, bad", [
    (nn.Linear(4, 3), (5, 4), (1, 3)), (nn.Linear(4, 3), (4,), (1, 3)), (nn.Linear(4, 3), (2, 5, 4), (5, 3)),
    (nn.Flatten(), (2, 3, 2), (1, 6)), (nn.Unflatten(1, (2, 3)), (4, 6), (1, 2, 3)),
    (nn.Dropout(0.5), (4, 6), (1, 6)), (nn.Dropout(0.5).eval(), (4, 6), (4, 1)),
], ids=lambda value: repr(value) if isinstance(value, nn.Module) else str(value))
def test_a_gradient_of_another_shape_is_refused_not_broadcast(module, shape, bad):
    y = module(numpy.ones(shape, dtype="float32"))
    with pytest.raises(ValueError, match=rf"grad_output has shape {bad} but the output has {tuple(y.shape)}".replace("(", r"\(")
                       .replace(")", r"\)")):
        module.backward(numpy.ones(bad, dtype="float32"))


# --- initialization -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("in_features, out_features", [(40, 500), (500, 40)])
def test_linear_initialization_has_torchs_distribution(in_features, out_features):
    """Weights and biases uniform on (-1/sqrt(in), 1/sqrt(in)) like torch's (two-sample KS test on
    thousands of draws; in != out, so a bound of 1/sqrt(out) fails it)."""
    torch.manual_seed(0)
    reference = torch.nn.Linear(in_features, out_features, dtype=torch.float64)
    ours = nn.Linear(in_features, out_features, dtype="float64", rng=numpy.random.default_rng(0))
    bound = 1 / math.sqrt(in_features)
    for name, torch_value in reference.state_dict().items():
        value = ours.state_dict()[name]
        assert value.shape == tuple(torch_value.shape)
        assert numpy.abs(value).max() <= bound
        if value.size >= 500:
            assert numpy.abs(value).max() > 0.95 * bound
            assert scipy.stats.ks_2samp(value.ravel(), torch_value.numpy().ravel()).pvalue > 1e-4, name
    wrong_bound = ours.weight.data * math.sqrt(in_features / out_features)  # what a fan-out bound would give
    assert scipy.stats.ks_2samp(wrong_bound.ravel(), reference.weight.detach().numpy().ravel()).pvalue < 1e-6


def test_linear_initialization_uses_the_seedable_generator():
    nn.manual_seed(4)
    first = nn.Linear(6, 5).state_dict()
    nn.manual_seed(4)
    again = nn.Linear(6, 5).state_dict()
    assert all(numpy.array_equal(first[name], again[name]) for name in first)
    assert not numpy.array_equal(first["weight"], nn.Linear(6, 5).weight.data)


# --- the caller's arrays ------------------------------------------------------------------------------------
NOT_INPLACE = [case for case in MODULE_CASES if "inplace" not in case.name]


@pytest.mark.parametrize("case", NOT_INPLACE, ids=str)
def test_a_module_never_writes_into_the_callers_arrays(case, nn_rng):
    module, _, shape = case.build(nn_rng, "float64", "medium")
    x = module_input(case, nn_rng, shape, "float64")
    x_before = x.copy()
    y = module(x)
    grad_output = nn_rng.standard_normal(y.shape)
    grad_before = grad_output.copy()
    module.backward(grad_output)
    module(x)  # a second call reads the same x
    numpy.testing.assert_array_equal(x, x_before)
    numpy.testing.assert_array_equal(grad_output, grad_before)


@pytest.mark.parametrize("inplace", [False, True])
def test_dropout_in_training_writes_into_x_only_when_inplace(inplace, nn_rng):
    x = nn_rng.uniform(1, 2, (20, 30))
    original = x.copy()
    dropout = nn.Dropout(0.5, inplace, seed=2)
    y = dropout(x)
    assert (y is x) == inplace
    numpy.testing.assert_array_equal(x, y if inplace else original)
    grad_input = dropout.backward(numpy.ones_like(y))
    numpy.testing.assert_allclose(grad_input, y / original, rtol=1e-15)  # the same mask, whichever array holds y
