"""Fast forms of the Sigmoid and ReLU formulas: the same numbers, fewer and in-place passes.

The plain forms, as the formulas read, are ``sigmoid``, ``sigmoid_backward``, ``relu`` and
``relu_backward`` in nn/activations.py; tests/test_nn_activations_fast.py holds each fast form
bit-identical to its plain form in float32 and float64. The classes call these because the
training step of the seed's deep model spends a large share of its time here: a temporary array
of a batch's activations costs more to allocate and page in than the arithmetic on it.

On the GPU, where each pass is a kernel launch, the Sigmoid's chains are one fused kernel each
instead (``sigmoid_fast``, ``sigmoid_backward_fast``; the kernels are in nn/fused_gpu.py).
"""
from . import backend, fused_gpu


def sigmoid_in_place_passes(x):
    """``activations.sigmoid(x)`` = 1 / (1 + e^-x), in four passes over one new array."""
    xp = backend.get_array_module(x)
    y = xp.negative(x, out=xp.empty_like(x))  # out=: on a 0-d input a ufunc would return a scalar
    with backend.expected_infinities(x):
        xp.exp(y, out=y)
    y += 1
    # divide(1, y), not reciprocal(y): the same correctly rounded result, and NumPy's divide loop is
    # vectorized where its reciprocal loop is not (measured 2x faster on float32).
    return xp.divide(1, y, out=y)


def sigmoid_backward_in_place_passes(y, grad_output):
    """``activations.sigmoid_backward(y, grad_output)`` = g * (y (1 - y)), in three passes over one new array."""
    xp = backend.get_array_module(y)
    grad_input = xp.subtract(1, y, out=xp.empty_like(y))
    grad_input *= y
    grad_input *= grad_output
    return grad_input


def sigmoid_fast(x):
    """``activations.sigmoid(x)``: one fused kernel on the GPU, ``sigmoid_in_place_passes`` elsewhere."""
    if fused_gpu.on_gpu(x):
        return fused_gpu.fused("sigmoid_forward", x)
    return sigmoid_in_place_passes(x)


def sigmoid_backward_fast(y, grad_output):
    """``activations.sigmoid_backward(y, grad_output)``: one fused kernel on the GPU, three passes elsewhere."""
    if fused_gpu.on_gpu(y) and grad_output.dtype == y.dtype:  # the kernel's T is one type
        return fused_gpu.fused("sigmoid_backward", y, grad_output)
    return sigmoid_backward_in_place_passes(y, grad_output)


def relu_in_place(x):
    """``activations.relu(x)`` = max(x, 0), written into x (torch's ``inplace=True``)."""
    return backend.get_array_module(x).maximum(x, 0, out=x)


def relu_backward_in_place(y, grad_output):
    """``activations.relu_backward(y, grad_output)`` = g * [y > 0], written into grad_output."""
    grad_output *= y > 0
    return grad_output
