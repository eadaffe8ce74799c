"""The fused GPU kernels of nn/fast/kernels.py, checked without a GPU.

Each kernel body is compiled as C (float and double) and run over edge values (+-1000, 0, NaN and
the ordinary range); it must equal the plain form of the same name to a few units in the last place,
NaN where the plain form gives NaN. The plain forms are held to the engine's own modules (Sigmoid,
MSELoss then Sigmoid, Linear then ReLU), and a wrong body is shown to fail.
"""
import dataclasses

import numpy
import pytest

import nn
from nn.fast import kernels as fused_gpu

from helpers_c_kernels import COMPILER, c_elementwise

needs_compiler = pytest.mark.skipif(COMPILER is None, reason="no C compiler to build the kernel bodies")
DTYPES = ["float32", "float64"]
EDGES = numpy.array([-1000.0, -100.0, -88.5, -30.0, -1.0, -1e-30, 0.0, 1e-30, 0.5, 1.0, 30.0, 100.0, 1000.0,
                     numpy.nan])


def compiled(name, dtype, tmp_path, kernel=None):
    kernel = kernel or fused_gpu.KERNELS[name]
    return c_elementwise(kernel.inputs, kernel.outputs, kernel.body, dtype, kernel.scalars,
                         tmp_path / f"{name}-{dtype}")


def values(dtype, seed=0, count=200):
    """The edge values and random values over a wide and a narrow range, of ``dtype``."""
    rng = numpy.random.default_rng(seed)
    mixed = numpy.concatenate([EDGES, rng.uniform(-20, 20, count), rng.standard_normal(count)])
    return mixed.astype(dtype)


def assert_close_ulps(ours, plain, dtype, ulps=4):
    """Equal to within ``ulps`` units of the last place of the plain value (NaN exactly where plain is NaN)."""
    numpy.testing.assert_array_equal(numpy.isnan(ours), numpy.isnan(plain))
    finite = ~numpy.isnan(plain)
    spacing = numpy.spacing(numpy.abs(plain[finite]).astype(dtype))
    tolerance = ulps * numpy.maximum(spacing, numpy.finfo(dtype).smallest_normal)
    assert numpy.all(numpy.abs(ours[finite] - plain[finite]) <= tolerance), \
        numpy.max(numpy.abs(ours[finite] - plain[finite]) / tolerance * ulps)


def arguments(name, dtype):
    """Inputs of kernel ``name`` (arrays, and the scalars as numbers)."""
    x = values(dtype, seed=1)
    rng = numpy.random.default_rng(2)
    y = fused_gpu.sigmoid_forward(x)
    if name == "sigmoid_forward":
        return (x,)
    if name == "sigmoid_backward":
        return y, rng.standard_normal(x.shape).astype(dtype)
    if name == "mse_sigmoid_backward":
        return y, rng.random(x.shape).astype(dtype), 2.0 / x.size
    bias = values(dtype, seed=3, count=7)[:, None].T  # (1, out): broadcast over the rows as a Linear's bias
    return rng.uniform(-5, 5, (6, bias.shape[1])).astype(dtype), bias[0]


@needs_compiler
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(fused_gpu.KERNELS))
def test_kernel_body_equals_the_plain_form(name, dtype, tmp_path):
    inputs = arguments(name, dtype)
    with numpy.errstate(over="ignore", invalid="ignore"):
        plain = getattr(fused_gpu, name)(*inputs)
    assert plain.dtype == dtype
    ours = compiled(name, dtype, tmp_path)(*inputs, numpy.empty_like(plain))
    assert_close_ulps(ours, plain, dtype)


@needs_compiler
@pytest.mark.parametrize("dtype", DTYPES)
def test_edge_values_give_the_limits(dtype, tmp_path):
    x = numpy.array([-1000.0, 0.0, 1000.0, numpy.nan], dtype=dtype)
    y = compiled("sigmoid_forward", dtype, tmp_path)(x, numpy.empty_like(x))
    numpy.testing.assert_array_equal(y, numpy.array([0.0, 0.5, 1.0, numpy.nan], dtype=dtype))
    relu = compiled("bias_relu", dtype, tmp_path)(x, numpy.zeros(4, dtype), numpy.empty_like(x))
    numpy.testing.assert_array_equal(relu, numpy.array([0.0, 0.0, 1000.0, numpy.nan], dtype=dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_plain_forms_equal_the_engine_modules(dtype):
    rng = numpy.random.default_rng(4)
    z = values(dtype, seed=5, count=199).reshape(4, -1)  # NaN included: both give NaN in the same places
    target = rng.random(z.shape).astype(dtype)
    sigmoid, loss = nn.Sigmoid(), nn.MSELoss()
    y = sigmoid(z)
    numpy.testing.assert_array_equal(fused_gpu.sigmoid_forward(z), y)
    grad_output = rng.standard_normal(z.shape).astype(dtype)
    numpy.testing.assert_array_equal(fused_gpu.sigmoid_backward(y, grad_output), sigmoid.backward(grad_output))
    y = sigmoid(z)  # a second forward: each backward uses up its forward's cache (as torch's graph)
    loss(y, target)
    chained = sigmoid.backward(loss.backward())
    numpy.testing.assert_array_equal(fused_gpu.mse_sigmoid_backward(y, target, 2.0 / z.size), chained)
    linear = nn.Linear(z.shape[1], 5, dtype=dtype)
    x = rng.standard_normal((4, z.shape[1])).astype(dtype)
    product = x @ linear.weight.data.T
    expected = nn.ReLU()(linear(x))
    numpy.testing.assert_array_equal(fused_gpu.bias_relu(product, linear.bias.data), expected)
    in_place = fused_gpu.bias_relu_in_place(product, linear.bias.data)
    assert in_place is product  # written into the product's own array
    numpy.testing.assert_array_equal(in_place, expected)


@needs_compiler
def test_a_wrong_body_is_caught(tmp_path):
    """The check bites: a Sigmoid backward that forgets the (1 - y) factor fails."""
    wrong = dataclasses.replace(fused_gpu.KERNELS["sigmoid_backward"], body="grad_input = y * grad_output;")
    inputs = arguments("sigmoid_backward", "float64")
    ours = compiled("sigmoid_backward", "float64", tmp_path, kernel=wrong)(*inputs, numpy.empty_like(inputs[0]))
    with pytest.raises(AssertionError):
        assert_close_ulps(ours, fused_gpu.sigmoid_backward(*inputs), "float64")
