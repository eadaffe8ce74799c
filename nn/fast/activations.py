"""Fast forms of the Sigmoid's formulas: the same numbers, in fewer passes and in place.

The plain forms, as the formulas read, are ``Sigmoid.forward`` and ``Sigmoid.backward`` in
nn/activations.py; tests/test_nn_activations_fast.py holds each fast form bit-identical to them in
float32 and float64. A compiled step (nn/fast/step.py) runs these because the training step of the
seed's deep model spends a large share of its time here: a temporary array of a batch's
activations costs more to allocate and page in than the arithmetic on it.

On the GPU, where each pass is a kernel launch, each is one fused kernel instead (nn/fast/kernels.py).
"""
from .. import backend
from . import kernels as fused_gpu


def sigmoid_in_place_passes(x):
    """``Sigmoid.forward(x)`` = 1 / (1 + e^-x), in four passes over one new array."""
    xp = backend.get_array_module(x)
    y = xp.negative(x, out=xp.empty_like(x))  # out=: on a 0-d input a ufunc would return a scalar
    with backend.expected_infinities(x):
        xp.exp(y, out=y)
    y += 1
    # divide(1, y), not reciprocal(y): the same correctly rounded result, and NumPy's divide loop is
    # vectorized where its reciprocal loop is not (measured 2x faster on float32).
    return xp.divide(1, y, out=y)


def sigmoid_backward_in_place_passes(y, grad_output):
    """``Sigmoid.backward(grad_output)`` = g * (y (1 - y)), in three passes over one new array."""
    xp = backend.get_array_module(y)
    grad_input = xp.subtract(1, y, out=xp.empty_like(y))
    grad_input *= y
    grad_input *= grad_output
    return grad_input


def sigmoid_fast(x):
    """``Sigmoid.forward(x)``: one fused kernel on the GPU, ``sigmoid_in_place_passes`` elsewhere."""
    if fused_gpu.on_gpu(x):
        return fused_gpu.fused("sigmoid_forward", x)
    return sigmoid_in_place_passes(x)


def sigmoid_backward_fast(y, grad_output):
    """``Sigmoid.backward(grad_output)``: one fused kernel on the GPU, three passes elsewhere."""
    if fused_gpu.on_gpu(y) and grad_output.dtype == y.dtype:  # the kernel's T is one type
        return fused_gpu.fused("sigmoid_backward", y, grad_output)
    return sigmoid_backward_in_place_passes(y, grad_output)


def mse_sigmoid_backward_reusing(y, difference, scale):
    """kernels.mse_sigmoid_backward(y, target, scale) = (1 - y) y ((y - target) scale), from the
    difference y - target that MSELoss's forward already made (and no longer needs): the same
    operations in the same order, so the same numbers, in four passes and one new array instead of
    five passes and five. ``difference`` is scaled in place."""
    xp = backend.get_array_module(y)
    grad_input = xp.subtract(1, y, out=xp.empty_like(y))
    grad_input *= y
    difference *= scale
    grad_input *= difference
    return grad_input
